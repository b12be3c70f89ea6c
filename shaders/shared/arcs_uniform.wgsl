// Shared piece: the uniform the arc easing pass and the arc draw both bind as `arcs`
// (arcs_ease.wgsl, arcs.wgsl; joined in src/render/arcs.rs).

// Keep in sync with `ArcsUniform` in src/render/arcs.rs.
struct Arcs {
    n_tokens: u32,
    rows: u32,          // query rows per head in the weights buffer
    focus_row: u32,     // the focus token's row within the weights buffer
    snap: u32,          // 1 = jump straight to the targets (exports, reduced motion)
    dt: f32,            // seconds since the last step
    tau: f32,
    particle_speed: f32,
    heads: u32,
    viewport: vec2<f32>,   // the arc strip, in pixels
    max_thickness: f32,    // pixels, for weight 1
    focus: u32,            // the focus token's index
}
