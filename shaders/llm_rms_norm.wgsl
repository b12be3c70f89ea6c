// Joined with shared/{llm_params, reduce}.wgsl in src/gpu/llm.rs.
// RMSNorm of each token's row: y = x / √(mean(x²) + ε) · g.
//
// A workgroup per row: lane l sums x² over columns l, l+64, … and the 64 partial sums meet in a
// tree in workgroup memory. `last_only` normalises just the prompt's last token (the final norm
// before the logits, which only the next token needs).
//
// CPU twin: `model::llm::forward::rms_norm`.

// Keep in sync with `NormShape` in src/gpu/llm.rs.
struct NormShape {
    last_only: u32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

const LANES: u32 = 64u;

@group(0) @binding(0) var<uniform> shape: NormShape;
@group(0) @binding(1) var<uniform> params: LlmParams;
@group(0) @binding(2) var<storage, read> x: array<f32>;        // [n_tokens][d_model]
@group(0) @binding(3) var<storage, read> gain: array<f32>;     // [d_model]
@group(0) @binding(4) var<storage, read_write> y: array<f32>;  // [n_tokens or 1][d_model]

var<workgroup> lanes: array<f32, LANES>;

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let d = params.d_model;
    var row = wg.x;
    var out_row = wg.x;
    if (shape.last_only != 0u) {
        row = params.n_tokens - 1u;
        out_row = 0u;
    }
    var sum = 0.0;
    for (var c = lane; c < d; c += LANES) {
        let v = x[row * d + c];
        sum += v * v;
    }
    lanes[lane] = sum;
    workgroupBarrier();
    reduce_sum(lane);
    let scale = 1.0 / sqrt(lanes[0] / f32(d) + params.rms_eps);
    for (var c = lane; c < d; c += LANES) {
        y[out_row * d + c] = x[row * d + c] * scale * gain[c];
    }
}
