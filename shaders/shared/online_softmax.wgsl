// Shared piece: an online softmax's running statistics — a maximum m and a sum l = Σ exp(s − m)
// over the scores seen so far, kept in one pass — and their tree reduction across a workgroup.
// For `reduce_online_softmax`, the kernel it is joined with declares `const LANES: u32` (its
// workgroup size, a power of two) and `var<workgroup> lane_max, lane_sum: array<f32, LANES>`,
// in which each lane has left its (m, l), and passes a workgroupBarrier() before calling, from
// every invocation.

// Folds one score s into a lane's (m, l): a new maximum rescales the sum, l ← l·exp(m_old − s) + 1
// (the new score contributes exp(0) = 1); any other score adds exp(s − m). Every exp argument
// stays ≤ 0, so nothing overflows. Start from (LOWEST_FINITE, 0).
fn online_add(m: ptr<function, f32>, l: ptr<function, f32>, s: f32) {
    if (s > *m) {
        *l = *l * exp(*m - s) + 1.0;
        *m = s;
    } else {
        *l += exp(s - *m);
    }
}

// After this, lane_max[0] and lane_sum[0] hold the whole row's maximum and Σ exp(s − max). Two
// lanes' pairs combine the same way: m = max(m₁, m₂), l = l₁·exp(m₁ − m) + l₂·exp(m₂ − m), each
// sum rescaled to the common maximum.
fn reduce_online_softmax(t: u32) {
    for (var stride = LANES / 2u; stride > 0u; stride = stride / 2u) {
        if (t < stride) {
            let m1 = lane_max[t];
            let m2 = lane_max[t + stride];
            let top = max(m1, m2);
            lane_sum[t] = lane_sum[t] * exp(m1 - top) + lane_sum[t + stride] * exp(m2 - top);
            lane_max[t] = top;
        }
        workgroupBarrier();
    }
}
