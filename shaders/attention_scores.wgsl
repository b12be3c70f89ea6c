// Joined with shared/{attention_params, attention_mask}.wgsl in src/gpu/attention.rs.
// Scores: S_ij = (Q_i · K_j) / √d_k, or −∞ where key j is masked (the future under the causal
// mask, or a padding key), for the window of query rows query_start .. query_start + query_count.
//
// The −∞ is written as its bit pattern through a u32 view of the buffer: WGSL lets an
// implementation assume no float is ever infinite, so the shader never holds one as a float. The
// softmax kernel re-derives the mask instead of reading these entries.
//
// One invocation computes one (head, query row, key). Its only loop runs d_k times.
// CPU twin: `model::attention::scores` — keep the two in step.

const NEG_INFINITY_BITS: u32 = 0xff800000u;

@group(0) @binding(0) var<uniform> params: AttentionParams;
@group(0) @binding(1) var<storage, read> q: array<f32>;              // [head][N][d_k]
@group(0) @binding(2) var<storage, read> k: array<f32>;              // [head][N][d_k]
@group(0) @binding(3) var<storage, read> key_mask: array<u32>;       // [N], 1 = padding
@group(0) @binding(4) var<storage, read_write> scores: array<u32>;   // [head][rows][N], f32 bits

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n = params.n_tokens;
    let d_k = params.d_k;
    let j = gid.x;
    let row = gid.y;
    let head = gid.z;
    if (j >= n || row >= params.query_count || head >= params.n_heads) {
        return;
    }
    let i = params.query_start + row;
    let out = (head * params.query_count + row) * n + j;
    if (!is_attendable(i, j)) {
        scores[out] = NEG_INFINITY_BITS;
        return;
    }
    let qi = (head * n + i) * d_k;
    let kj = (head * n + j) * d_k;
    var dot = 0.0;
    for (var c = 0u; c < d_k; c += 1u) {
        dot += q[qi + c] * k[kj + c];
    }
    scores[out] = bitcast<u32>(dot * params.scale);
}
