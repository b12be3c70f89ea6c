// SwiGLU: h = silu(gate) ⊙ up, silu(z) = z / (1 + e^−z), over the fused [gate | up] rows the
// feed-forward GEMM wrote. One invocation per value.
//
// CPU twin: `model::llm::forward::swiglu`.

// Keep in sync with `LlmParams` in src/gpu/llm.rs.
struct LlmParams {
    d_model: u32,
    q_width: u32,
    kv_width: u32,
    ffn: u32,
    heads: u32,
    kv_heads: u32,
    d_head: u32,
    group: u32,
    rope_dim: u32,
    vocab: u32,
    n_tokens: u32,
    past: u32,
    context: u32,
    focus: u32,
    capture: u32,
    row_bins: u32,
    col_bins: u32,
    total_rows: u32,
    rows_start: u32,
    top_k: u32,
    rms_eps: f32,
    log2_rope_base: f32,
    scale: f32,
    temperature: f32,
}

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
