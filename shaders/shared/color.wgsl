// Shared piece: colour helpers for the draw shaders (arcs.wgsl, heatmap.wgsl; joined in
// src/render/arcs.rs and src/render/heatmap.rs).

// sRGB-encoded values to linear light (the inverse of the sRGB transfer curve: a linear segment
// near black, a 2.4 power above). Colours are chosen in sRGB; a *Srgb target encodes what the
// shader writes, so the shader must write linear values there or every colour comes out too light.
fn srgb_to_linear(c: vec3<f32>) -> vec3<f32> {
    let low = c / 12.92;
    let high = pow((c + 0.055) / 1.055, vec3<f32>(2.4));
    return select(high, low, c <= vec3<f32>(0.04045));
}
