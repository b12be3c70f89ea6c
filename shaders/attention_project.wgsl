// Joined with shared/attention_params.wgsl in src/gpu/attention.rs.
// Projections: Q = X W_Q, K = X W_K, V = X W_V for every head.
//
// Positional encodings, when on: sinusoidal vectors are added to X before the projection; RoPE
// rotates each pair (2m, 2m+1) of Q and K by the angle pos·θ_m after it. Both tables are computed
// on the host in f64 (src/model/positions.rs), so the shader never evaluates sin/cos.
//
// One invocation computes one (head, token, component). Its only loop runs d_model times.
// CPU twin: `model::attention::project` — keep the two in step.

const POSITIONS_SINUSOIDAL: u32 = 1u;
const POSITIONS_ROPE: u32 = 2u;

@group(0) @binding(0) var<uniform> params: AttentionParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;          // [N][d_model]
@group(0) @binding(2) var<storage, read> w_qkv: array<f32>;      // [head][3][d_model][d_k]
@group(0) @binding(3) var<storage, read> sinusoid: array<f32>;   // [N][d_model]
@group(0) @binding(4) var<storage, read> rope: array<f32>;       // [N][d_k/2][2] = (cos, sin)
@group(0) @binding(5) var<storage, read_write> q: array<f32>;    // [head][N][d_k]
@group(0) @binding(6) var<storage, read_write> k: array<f32>;
@group(0) @binding(7) var<storage, read_write> v: array<f32>;

const WORKGROUP: u32 = 64u;

@compute @workgroup_size(64)
fn main(
    @builtin(local_invocation_index) lane: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let n = params.n_tokens;
    let d_model = params.d_model;
    let d_k = params.d_k;
    // N · d_k invocations can need more than the 65,535 workgroups one dimension allows, so the
    // host folds them into a 2-D grid (x, y); z is the head.
    let index = (wid.y * groups.x + wid.x) * WORKGROUP + lane;  // token * d_k + c
    let head = wid.z;
    if (index >= n * d_k || head >= params.n_heads) {
        return;
    }
    let token = index / d_k;
    let c = index % d_k;

    // With RoPE, c is rotated together with its partner c ^ 1, so this invocation also projects
    // the partner component.
    let pairs = d_k / 2u;
    let rotated = params.positions == POSITIONS_ROPE && c < 2u * pairs;
    let partner = c ^ 1u;
    let w_base = head * 3u * d_model * d_k;
    let plane = d_model * d_k;

    var q_c = 0.0;
    var k_c = 0.0;
    var v_c = 0.0;
    var q_p = 0.0;
    var k_p = 0.0;
    for (var m = 0u; m < d_model; m += 1u) {
        var x_m = x[token * d_model + m];
        if (params.positions == POSITIONS_SINUSOIDAL) {
            x_m += sinusoid[token * d_model + m];
        }
        let row = w_base + m * d_k;
        q_c += x_m * w_qkv[row + c];
        k_c += x_m * w_qkv[row + plane + c];
        v_c += x_m * w_qkv[row + 2u * plane + c];
        if (rotated) {
            q_p += x_m * w_qkv[row + partner];
            k_p += x_m * w_qkv[row + plane + partner];
        }
    }
    if (rotated) {
        // x'_{2m} = x_{2m} cos − x_{2m+1} sin;  x'_{2m+1} = x_{2m} sin + x_{2m+1} cos
        let at = (token * pairs + c / 2u) * 2u;
        let cos_a = rope[at];
        let sin_a = rope[at + 1u];
        if (c % 2u == 0u) {
            q_c = q_c * cos_a - q_p * sin_a;
            k_c = k_c * cos_a - k_p * sin_a;
        } else {
            q_c = q_p * sin_a + q_c * cos_a;
            k_c = k_p * sin_a + k_c * cos_a;
        }
    }
    let out = (head * n + token) * d_k + c;
    q[out] = q_c;
    k[out] = k_c;
    v[out] = v_c;
}
