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

// Keep in sync with `AttentionParams` in src/model/attention.rs.
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

// Keep in sync with `model::overview::LANES`.
const LANES: u32 = 256u;
// Exactly f32::MIN (see attention_softmax.wgsl for why every digit is written).
const LOWEST_FINITE: f32 = -3.4028234663852886e38;

// Keep in sync with `OverviewParams` in src/model/overview.rs.
struct OverviewParams {
    bins: u32,
    row_offset: u32,    // the first token row of this dispatch (a slice, on slow adapters)
    pad1: u32,
    pad2: u32,
}

@group(0) @binding(0) var<uniform> params: AttentionParams;
@group(0) @binding(1) var<uniform> overview: OverviewParams;
@group(0) @binding(2) var<storage, read> q: array<f32>;                 // [head][N][d_k]
@group(0) @binding(3) var<storage, read> k: array<f32>;                 // [head][N][d_k]
@group(0) @binding(4) var<storage, read> key_mask: array<u32>;          // [N], 1 = padding
@group(0) @binding(5) var<storage, read_write> stats: array<f32>;       // [head][N][2]: m, l

var<workgroup> lane_max: array<f32, LANES>;
var<workgroup> lane_sum: array<f32, LANES>;

// Mirrors `model::attention::is_attendable`.
fn is_attendable(i: u32, j: u32) -> bool {
    let future = params.causal != 0u && j > i;
    let padding = params.use_key_mask != 0u && key_mask[j] != 0u;
    return !(future || padding);
}

fn score(head: u32, i: u32, j: u32) -> f32 {
    let n = params.n_tokens;
    let qi = (head * n + i) * params.d_k;
    let kj = (head * n + j) * params.d_k;
    var dot = 0.0;
    for (var c = 0u; c < params.d_k; c += 1u) {
        dot += q[qi + c] * k[kj + c];
    }
    return dot * params.scale;
}

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
            let s = score(head, i, j);
            if (s > m) {
                l = l * exp(m - s) + 1.0;
                m = s;
            } else {
                l += exp(s - m);
            }
        }
    }
    lane_max[t] = m;
    lane_sum[t] = l;
    workgroupBarrier();
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
    if (t == 0u) {
        stats[(head * n + i) * 2u] = lane_max[0];
        stats[(head * n + i) * 2u + 1u] = lane_sum[0];
    }
}
