// Joined with shared/{attention_params, attention_mask, overview, lowest_finite, online_softmax}.wgsl in src/gpu/overview.rs.
// Pass 1 of the long-context overview: for every token i as a query row, the softmax's running
// statistics over all N keys, without storing the row:
//
//   m_i = max_j S_ij        l_i = Σ_j exp(S_ij − m_i)        S_ij = Q_i · K_j / √d_k (masked: skipped)
//
// One workgroup per (row, head): lane t visits keys t, t+256, …, recomputing each score from Q
// and K once, and keeps an *online* softmax — a running max m and a sum l rescaled whenever the
// max grows (l ← l·exp(m_old − m_new) + 1) — so each score is computed once, not once for the max
// and again for the sum. The lanes' (m, l) pairs meet in a tree reduction in workgroup memory,
// combined the same way: m = max(m₁, m₂), l = l₁·exp(m₁ − m) + l₂·exp(m₂ − m). No invocation
// loops more than ⌈N/256⌉ · (d_k + 1) times (Mesa's lavapipe silently stops one past 65,535).
// A row with no attendable key gets (LOWEST_FINITE, 0).
//
// CPU twin: `model::overview::row_stats` — keep the two in step.

// Keep in sync with `model::overview::LANES`.
const LANES: u32 = 256u;

@group(0) @binding(0) var<uniform> params: AttentionParams;
@group(0) @binding(1) var<uniform> overview: OverviewParams;
@group(0) @binding(2) var<storage, read> q: array<f32>;                 // [head][N][d_k]
@group(0) @binding(3) var<storage, read> k: array<f32>;                 // [head][N][d_k]
@group(0) @binding(4) var<storage, read> key_mask: array<u32>;          // [N], 1 = padding
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;       // [head][N][2]: m, l

var<workgroup> lane_max: array<f32, LANES>;
var<workgroup> lane_sum: array<f32, LANES>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let n = params.n_tokens;
    let i = wid.x + overview.row_offset;
    let head = wid.y;
    // The dispatch is exactly (a slice of the N rows) × heads workgroups: every invocation
    // reaches every barrier.

    var m = LOWEST_FINITE;
    var l = 0.0;
    for (var j = t; j < n; j += LANES) {
        if (is_attendable(i, j)) {
            online_add(&m, &l, qk_score(head, i, j));
        }
    }
    lane_max[t] = m;
    lane_sum[t] = l;
    workgroupBarrier();
    reduce_online_softmax(t);
    if (t == 0u) {
        stats[(head * n + i) * 2u] = lane_max[0];
        stats[(head * n + i) * 2u + 1u] = lane_sum[0];
    }
}
