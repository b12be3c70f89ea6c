// Joined with shared/{llm_params, llm_layer_params, lowest_finite, online_softmax}.wgsl in src/gpu/llm.rs.
// Causal grouped-query attention over the KV cache, one workgroup per (new token t, query head h):
//   s_j = q_t,h · k_j,g / √d_head   for every position j ≤ p = past + t   (g = h / group)
//   w_j = exp(s_j − max) / Σ exp(s − max)
//   out_t,h = Σ_j w_j · v_j,g
// Pass 1: lane l visits keys l, l+64, … keeping a running maximum m and sum l of exp(s − m)
// (online: a larger score rescales the sum by exp(m_old − m_new)); the 64 (m, l) pairs meet in
// a tree. Pass 2 walks the keys in chunks of 64: each lane recomputes one weight into workgroup
// memory, then every lane adds the chunk's weighted values for its own output dimensions
// (consecutive lanes read consecutive floats of a value row: coalesced).
// While the weights are at hand the views' captures are written: the focus token's row for every
// layer and head, and each row folded into `col_bins` column bins for the overview.
// Per invocation: pass 1 loops keys/64 · d_head times, pass 2 keys/64 · (d_head + d_head·dims/64
// + 64): about 4 × keys for d_head 64, under lavapipe's 65,535 at the model's 8,192 tokens (the
// engine checks the bound for each request).
//
// CPU twin: `model::llm::forward::attention_row` (and the capture loops of `forward`).

const LANES: u32 = 64u;
const MAX_D_HEAD: u32 = 256u;
const CAPTURE_FOCUS: u32 = 1u;
const CAPTURE_OVERVIEW: u32 = 2u;

@group(0) @binding(0) var<uniform> params: LlmParams;
@group(0) @binding(1) var<uniform> layer: LayerParams;
@group(0) @binding(2) var<storage, read> q: array<f32>;                 // [n_tokens][q_width]
@group(0) @binding(3) var<storage, read> k_cache: array<f32>;           // [position][kv_width]
@group(0) @binding(4) var<storage, read> v_cache: array<f32>;           // [position][kv_width]
@group(0) @binding(5) var<storage, read_write> attended: array<f32>;    // [n_tokens][q_width]
@group(0) @binding(6) var<storage, read_write> focus_rows: array<f32>;  // [layer][head][context]
@group(0) @binding(7) var<storage, read_write> row_bins: array<f32>;    // [head][n_tokens][col_bins]

var<workgroup> q_row: array<f32, MAX_D_HEAD>;
var<workgroup> lane_max: array<f32, LANES>;
var<workgroup> lane_sum: array<f32, LANES>;
var<workgroup> chunk: array<f32, LANES>;

fn score(j: u32, kv_offset: u32) -> f32 {
    let base = j * params.kv_width + kv_offset;
    var dot = 0.0;
    for (var d = 0u; d < params.d_head; d++) {
        dot += q_row[d] * k_cache[base + d];
    }
    return dot * params.scale;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let t = wg.x;
    let head = wg.y;
    let pos = params.past + t;
    let keys = pos + 1u;
    let kv_offset = (head / params.group) * params.d_head;
    let q_base = t * params.q_width + head * params.d_head;
    for (var d = lane; d < params.d_head; d += LANES) {
        q_row[d] = q[q_base + d];
    }
    workgroupBarrier();

    // Pass 1: the row's maximum and the sum of exp(s − max).
    var m = LOWEST_FINITE;
    var l = 0.0;
    for (var j = lane; j < keys; j += LANES) {
        online_add(&m, &l, score(j, kv_offset));
    }
    lane_max[lane] = m;
    lane_sum[lane] = l;
    workgroupBarrier();
    reduce_online_softmax(lane);
    let row_max = lane_max[0];
    let row_sum = lane_sum[0];

    // Pass 2: the weights, chunk by chunk, and the weighted sum of values.
    let is_focus = (params.capture & CAPTURE_FOCUS) != 0u && pos == params.focus;
    let binning = (params.capture & CAPTURE_OVERVIEW) != 0u;
    let focus_base = (layer.layer * params.heads + head) * params.context;
    var acc: array<f32, 4>;
    var bin_sum = 0.0;
    for (var start = 0u; start < keys; start += LANES) {
        let j = start + lane;
        var w = 0.0;
        if (j < keys) {
            w = exp(score(j, kv_offset) - row_max) / row_sum;
            if (is_focus) {
                focus_rows[focus_base + j] = w;
            }
        }
        chunk[lane] = w;
        workgroupBarrier();
        let count = min(LANES, keys - start);
        for (var c = 0u; c < count; c++) {
            let weight = chunk[c];
            let v_base = (start + c) * params.kv_width + kv_offset;
            for (var k = 0u; k < 4u; k++) {
                let d = lane + k * LANES;
                if (d < params.d_head) {
                    acc[k] += weight * v_cache[v_base + d];
                }
            }
        }
        if (binning && lane < params.col_bins) {
            for (var c = 0u; c < count; c++) {
                if ((start + c) * params.col_bins / params.context == lane) {
                    bin_sum += chunk[c];
                }
            }
        }
        workgroupBarrier();
    }
    for (var k = 0u; k < 4u; k++) {
        let d = lane + k * LANES;
        if (d < params.d_head) {
            attended[q_base + d] = acc[k];
        }
    }
    if (binning && lane < params.col_bins) {
        row_bins[(head * params.n_tokens + t) * params.col_bins + lane] = bin_sum;
    }
}
