// Joined with shared/{lowest_finite, online_softmax}.wgsl in src/gpu/llm.rs.
// One head's full attention map, a band of rows at a time, from the queries the RoPE kernel kept
// (`q_capture`) and that layer's key cache — the same weights `llm_attention.wgsl` used, written
// out whole: row i (position i), column j ≤ i holds softmax_j(q_i · k_j / √d_head), the rest 0.
// A band keeps the buffer under the device's binding limit (8,192² floats are 256 MiB).
// One workgroup per row, 64 lanes, passes as in llm_attention.wgsl.
//
// CPU twin: `model::llm::forward::attention_row` (the weights it writes).

// Keep in sync with `MapParams` in src/gpu/llm.rs.
struct MapParams {
    band_start: u32,    // first row of the band (a position)
    band_rows: u32,
    cols: u32,          // the context: every row has this many columns
    d_head: u32,
    kv_width: u32,
    kv_offset: u32,     // the chosen head's key/value head × d_head
    scale: f32,
    pad0: u32,
}

const LANES: u32 = 64u;
const MAX_D_HEAD: u32 = 256u;

@group(0) @binding(0) var<uniform> params: MapParams;
@group(0) @binding(1) var<storage, read> q_capture: array<f32>;     // [position][d_head]
@group(0) @binding(2) var<storage, read> k_cache: array<f32>;       // [position][kv_width]
@group(0) @binding(3) var<storage, read_write> band: array<f32>;    // [band_rows][cols]

var<workgroup> q_row: array<f32, MAX_D_HEAD>;
var<workgroup> lane_max: array<f32, LANES>;
var<workgroup> lane_sum: array<f32, LANES>;

fn score(j: u32) -> f32 {
    let base = j * params.kv_width + params.kv_offset;
    var dot = 0.0;
    for (var d = 0u; d < params.d_head; d++) {
        dot += q_row[d] * k_cache[base + d];
    }
    return dot * params.scale;
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let r = wg.x;
    let pos = params.band_start + r;
    let keys = pos + 1u;
    for (var d = lane; d < params.d_head; d += LANES) {
        q_row[d] = q_capture[pos * params.d_head + d];
    }
    workgroupBarrier();
    var m = LOWEST_FINITE;
    var l = 0.0;
    for (var j = lane; j < keys; j += LANES) {
        online_add(&m, &l, score(j));
    }
    lane_max[lane] = m;
    lane_sum[lane] = l;
    workgroupBarrier();
    reduce_online_softmax(lane);
    let row_max = lane_max[0];
    let row_sum = lane_sum[0];
    for (var j = lane; j < params.cols; j += LANES) {
        var w = 0.0;
        if (j < keys) {
            w = exp(score(j) - row_max) / row_sum;
        }
        band[r * params.cols + j] = w;
    }
}
