// Shared piece: what both long-context overview passes (overview_row_stats.wgsl,
// overview_bins.wgsl; joined in src/gpu/overview.rs) share besides AttentionParams: their second
// uniform, and the score recomputed from Q and K, since neither stores the N × N scores. The
// kernel it is joined with declares `params: AttentionParams` (shared/attention_params.wgsl) and
// `q`, `k`: array<f32>, both [head][N][d_k].

// Keep in sync with `OverviewParams` in src/model/overview.rs.
struct OverviewParams {
    bins: u32,
    // The first row of this dispatch (a slice, on slow adapters): a token row in pass 1 (row
    // statistics), a bin row in pass 2 (bins).
    row_offset: u32,
    pad1: u32,
    pad2: u32,
}

// S_ij = (Q_i · K_j) / √d_k for one head (params.scale is 1/√d_k). Mirrors
// `model::overview::score`.
fn qk_score(head: u32, i: u32, j: u32) -> f32 {
    let n = params.n_tokens;
    let qi = (head * n + i) * params.d_k;
    let kj = (head * n + j) * params.d_k;
    var dot = 0.0;
    for (var c = 0u; c < params.d_k; c += 1u) {
        dot += q[qi + c] * k[kj + c];
    }
    return dot * params.scale;
}
