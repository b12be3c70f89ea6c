// Joined with shared/{attention_params, attention_mask, lowest_finite, reduce}.wgsl in src/gpu/attention.rs.
// Softmax over each query row: P_ij = exp(S_ij − m_i) / Σ_j' exp(S_ij' − m_i), m_i = max_j S_ij
// over the attendable keys.
//
// Why subtract the maximum: it cancels in the ratio, and it keeps every exp argument ≤ 0, so
// logits in the thousands cannot overflow. A row with no attendable key has total 0 and is
// written as zeros, never NaN.
//
// Why a workgroup per row: lane t visits keys t, t+256, t+512, … and the 256 partial results are
// combined by a tree reduction in workgroup memory. No invocation loops more than ⌈N/256⌉ times
// per pass, which matters: Mesa's lavapipe silently stops an invocation after 65,535 loop
// iterations, and a one-invocation-per-row softmax gives wrong rows from N ≈ 512.
//
// CPU twin: `model::attention::softmax_rows` — keep the two in step.

// Keep in sync with `model::attention::LANES`.
const LANES: u32 = 256u;

@group(0) @binding(0) var<uniform> params: AttentionParams;
@group(0) @binding(1) var<storage, read> scores: array<f32>;          // [head][rows][N]
@group(0) @binding(2) var<storage, read> key_mask: array<u32>;        // [N], 1 = padding
@group(0) @binding(3) var<storage, read_write> weights: array<f32>;   // [head][rows][N]

var<workgroup> lanes: array<f32, LANES>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let n = params.n_tokens;
    let row = wid.x;
    let head = wid.y;
    // The dispatch is exactly query_count × n_heads workgroups, so every workgroup has a row and
    // all of its invocations reach every barrier.
    let i = params.query_start + row;
    let base = (head * params.query_count + row) * n;

    // Pass 1: the row maximum.
    var local_max = LOWEST_FINITE;
    for (var j = t; j < n; j += LANES) {
        if (is_attendable(i, j)) {
            local_max = max(local_max, scores[base + j]);
        }
    }
    lanes[t] = local_max;
    workgroupBarrier();
    reduce_max(t);
    let row_max = lanes[0];
    workgroupBarrier();

    // Pass 2: the normaliser Σ exp(S_ij − max).
    var local_sum = 0.0;
    for (var j = t; j < n; j += LANES) {
        if (is_attendable(i, j)) {
            local_sum += exp(scores[base + j] - row_max);
        }
    }
    lanes[t] = local_sum;
    workgroupBarrier();
    reduce_sum(t);
    let total = lanes[0];

    // Pass 3: normalise.
    for (var j = t; j < n; j += LANES) {
        var p = 0.0;
        if (is_attendable(i, j) && total > 0.0) {
            p = exp(scores[base + j] - row_max) / total;
        }
        weights[base + j] = p;
    }
}
