// Shared piece: the uniform every attention and overview kernel binds as `params`. The Rust
// consts join it after the kernel's own source (src/gpu/attention.rs, src/gpu/overview.rs); WGSL
// accepts declarations in any order, and each kernel keeps its own @group/@binding lines.

// The attention dispatch: N tokens, the embedding and head widths, the window of query rows
// (query_start .. query_start + query_count), the masks and the 1/√d_k scale.
// Keep in sync with `AttentionParams` in src/model/attention.rs (tests/shaders.rs compares them).
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
