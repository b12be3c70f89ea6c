// Joined with shared/attention_params.wgsl in src/gpu/attention.rs.
// Output: O_ic = Σ_j P_ij V_jc, the attention-weighted mix of the values.
//
// One workgroup of 256 invocations per (head, query row), laid out as a tile of `width`
// components × `groups` key groups (width = d_k rounded up to a power of two, at most 64;
// groups = 256 / width). Invocation t = g · width + c sums P_ij V_jc over the keys j ≡ g
// (mod groups); a tree reduction in workgroup memory then adds the groups. Wider heads take
// ⌈d_k / width⌉ such passes.
//
// Why this shape: an invocation loops at most ⌈d_k/width⌉ · (⌈N/groups⌉ + log2 groups) times —
// bounded, unlike a loop over all N keys, which Mesa's lavapipe silently cuts off after 65,535
// iterations — neighbouring invocations read neighbouring values of V, and a pass needs only
// log2(groups) + 2 barriers (barriers are what software adapters pay most for).
//
// CPU twin: `model::attention::weighted_values` — keep the two in step.

// Keep in sync with `model::attention::LANES`.
const LANES: u32 = 256u;

@group(0) @binding(0) var<uniform> params: AttentionParams;
@group(0) @binding(1) var<storage, read> weights: array<f32>;        // [head][rows][N]
@group(0) @binding(2) var<storage, read> v: array<f32>;              // [head][N][d_k]
@group(0) @binding(3) var<storage, read_write> output: array<f32>;   // [head][rows][d_k]

var<workgroup> lanes: array<f32, LANES>;

// Components per pass: d_k rounded up to a power of two, at most 64. Mirrors
// `model::attention::output_tile_width`.
fn tile_width(d_k: u32) -> u32 {
    return min(64u, 1u << (32u - countLeadingZeros(d_k - 1u)));
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let n = params.n_tokens;
    let d_k = params.d_k;
    let row = wid.x;
    let head = wid.y;
    let p_base = (head * params.query_count + row) * n;
    let v_base = head * n * d_k;
    let width = tile_width(d_k);
    let groups = LANES / width;
    let lane_c = t % width;
    let group = t / width;

    for (var c0 = 0u; c0 < d_k; c0 += width) {
        let c = c0 + lane_c;
        var acc = 0.0;
        if (c < d_k) {
            for (var j = group; j < n; j += groups) {
                acc += weights[p_base + j] * v[v_base + j * d_k + c];
            }
        }
        lanes[t] = acc;
        workgroupBarrier();
        // Add the key groups: after this, lanes[c_local] holds component c0 + c_local.
        for (var stride = LANES / 2u; stride >= width; stride = stride / 2u) {
            if (t < stride) {
                lanes[t] = lanes[t] + lanes[t + stride];
            }
            workgroupBarrier();
        }
        if (t < width && c < d_k) {
            output[(head * params.query_count + row) * d_k + c] = lanes[t];
        }
        // Everyone must be done with lanes before the next pass overwrites it.
        workgroupBarrier();
    }
}
