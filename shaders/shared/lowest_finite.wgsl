// Shared piece: where a running maximum starts.

// The most negative finite f32: the start of a running maximum (no infinities in shaders: WGSL
// lets an implementation assume no float is ever infinite). Exactly f32::MIN
// (`model::attention::LOWEST_FINITE`). Written with every digit: Chrome's WGSL compiler (Tint)
// rejects the usual rounded `-3.40282347e38`, which as an abstract float lies just past the f32
// range.
const LOWEST_FINITE: f32 = -3.4028234663852886e38;
