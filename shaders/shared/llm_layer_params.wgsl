// Shared piece: the per-layer uniform the LLM's RoPE, attention and overview kernels bind as
// `layer` (joined in src/gpu/llm.rs).

// Keep in sync with `LayerParams` in src/gpu/llm.rs (tests/shaders.rs compares them).
struct LayerParams {
    layer: u32,
    map_layer: u32,     // 1 on the layer whose map is captured
    map_head: u32,
    pad0: u32,
}
