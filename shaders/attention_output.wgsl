// Output: O_ic = Σ_j P_ij V_jc, the attention-weighted mix of the values.
//
// One workgroup per (head, query row). For each component c, lane t sums the keys t, t+256, …
// and a tree reduction in workgroup memory combines the 256 partial sums. An invocation loops at
// most d_k · (⌈N/256⌉ + 8) times — bounded, unlike a one-invocation-per-row loop over all N keys,
// which Mesa's lavapipe would silently cut off after 65,535 iterations.
//
// CPU twin: `model::attention::weighted_values` — keep the two in step.

// Keep in sync with `AttentionParams` in src/model/attention.rs.
struct AttentionParams {
    n_tokens: u32,
    d_model: u32,
    d_k: u32,
    n_heads: u32,
    query_start: u32,
    query_count: u32,
    causal: u32,
    positions: u32,
    use_key_mask: u32,
    scale: f32,
    pad0: u32,
    pad1: u32,
}

// Keep in sync with `model::attention::LANES`.
const LANES: u32 = 256u;

@group(0) @binding(0) var<uniform> params: AttentionParams;
@group(0) @binding(1) var<storage, read> weights: array<f32>;        // [head][rows][N]
@group(0) @binding(2) var<storage, read> v: array<f32>;              // [head][N][d_k]
@group(0) @binding(3) var<storage, read_write> output: array<f32>;   // [head][rows][d_k]

var<workgroup> lanes: array<f32, LANES>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let n = params.n_tokens;
    let d_k = params.d_k;
    let row = wid.x;
    let head = wid.y;
    let p_base = (head * params.query_count + row) * n;
    let v_base = head * n * d_k;

    for (var c = 0u; c < d_k; c += 1u) {
        var acc = 0.0;
        for (var j = t; j < n; j += LANES) {
            acc += weights[p_base + j] * v[v_base + j * d_k + c];
        }
        lanes[t] = acc;
        workgroupBarrier();
        for (var stride = LANES / 2u; stride > 0u; stride = stride / 2u) {
            if (t < stride) {
                lanes[t] = lanes[t] + lanes[t + stride];
            }
            workgroupBarrier();
        }
        if (t == 0u) {
            output[(head * params.query_count + row) * d_k + c] = lanes[0];
        }
        // Everyone must have read lanes[0] before the next component overwrites it.
        workgroupBarrier();
    }
}
