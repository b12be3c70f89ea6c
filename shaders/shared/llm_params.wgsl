// Shared piece: the per-pass uniform every LLM kernel binds as `params` (shaders/llm_*.wgsl,
// joined in src/gpu/llm.rs).

// The model's widths, this pass's tokens and captures, and the sampling settings.
// Keep in sync with `LlmParams` in src/gpu/llm.rs (tests/shaders.rs compares them).
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
