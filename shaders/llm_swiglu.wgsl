// Joined with shared/llm_params.wgsl in src/gpu/llm.rs.
// SwiGLU: h = silu(gate) ⊙ up, silu(z) = z / (1 + e^−z), over the fused [gate | up] rows the
// feed-forward GEMM wrote. One invocation per value.
//
// CPU twin: `model::llm::forward::swiglu`.

@group(0) @binding(0) var<uniform> params: LlmParams;
@group(0) @binding(1) var<storage, read> gate_up: array<f32>;   // [n_tokens][gate | up]
@group(0) @binding(2) var<storage, read_write> h: array<f32>;   // [n_tokens][ffn]

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let t = id.y;
    let c = id.x;
    if (t >= params.n_tokens || c >= params.ffn) {
        return;
    }
    let g = gate_up[t * 2u * params.ffn + c];
    let u = gate_up[t * 2u * params.ffn + params.ffn + c];
    h[t * params.ffn + c] = g / (1.0 + exp(-g)) * u;
}
