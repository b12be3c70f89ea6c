// Shared piece: tree reductions in workgroup memory. The kernel it is joined with declares
// `const LANES: u32` (its workgroup size, a power of two) and `var<workgroup> lanes:
// array<f32, LANES>`, writes one value per lane into `lanes` and passes a workgroupBarrier()
// before calling, from every invocation (a barrier must be reached by the whole workgroup).
//
// Why a tree: at each step the lower half of the lanes combines its value with the upper half's,
// so LANES values meet in log2(LANES) barrier-separated steps (8 for 256 lanes) rather than one
// invocation reading all of them. Twins: `model::train::reduce_lanes`, `model::overview::tree_sum`.

// After this, lanes[0] holds the maximum of all LANES lanes (stride LANES/2, …, 2, 1).
fn reduce_max(t: u32) {
    for (var stride = LANES / 2u; stride > 0u; stride = stride / 2u) {
        if (t < stride) {
            lanes[t] = max(lanes[t], lanes[t + stride]);
        }
        workgroupBarrier();
    }
}

// After this, lanes[0] holds the sum of all LANES lanes.
fn reduce_sum(t: u32) {
    for (var stride = LANES / 2u; stride > 0u; stride = stride / 2u) {
        if (t < stride) {
            lanes[t] = lanes[t] + lanes[t + stride];
        }
        workgroupBarrier();
    }
}
