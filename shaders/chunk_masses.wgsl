// Joined with shared/reduce.wgsl in src/gpu/overview.rs.
// Each retrieved chunk's share of the focus row's attention: mass_c = Σ_{j ∈ span(c)} P[focus, j].
// "The answer's source" is the chunk with the largest mass.
//
// One workgroup per chunk: lane t adds weights t, t+256, … of the span, and the lanes meet in a
// tree reduction. Per invocation: ⌈span / 256⌉ iterations.
//
// CPU twin: `model::overview::chunk_masses` — keep the two in step.

// Keep in sync with `model::overview::LANES`.
const LANES: u32 = 256u;

@group(0) @binding(0) var<storage, read> weights: array<f32>;           // the focus row: [N]
@group(0) @binding(1) var<storage, read> spans: array<vec2<u32>>;        // [chunks]: start, end
@group(0) @binding(2) var<storage, read_write> masses: array<f32>;      // [chunks]

var<workgroup> lanes: array<f32, LANES>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let span = spans[wid.x];
    var sum = 0.0;
    for (var j = span.x + t; j < span.y; j += LANES) {
        sum += weights[j];
    }
    lanes[t] = sum;
    workgroupBarrier();
    reduce_sum(t);
    if (t == 0u) {
        masses[wid.x] = lanes[0];
    }
}
