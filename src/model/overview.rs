//! Step 4's overview: the attention map of a long context (~10k tokens) reduced to screen
//! resolution without ever holding the `N × N` matrix — the CPU twins of
//! `shaders/overview_row_stats.wgsl`, `shaders/overview_bins.wgsl` and
//! `shaders/chunk_masses.wgsl`.
//!
//! At N = 10,000 the full map is 10⁸ weights (400 MB): more than WebGPU lets one buffer hold
//! (128 MiB). It is never needed whole. Two passes over the projections Q and K give the overview:
//!
//! ```text
//! pass 1, per row i:   m_i = max_j S_ij,   l_i = Σ_j exp(S_ij − m_i)       (S = QKᵀ/√d_k, masked)
//! pass 2, per bin:     O[a, b] = (1 / |rows(a)|) · Σ_{i ∈ rows(a)} Σ_{j ∈ cols(b)} exp(S_ij − m_i) / l_i
//! ```
//!
//! Bin `a` covers tokens `⌊a·N/R⌋ .. ⌊(a+1)·N/R⌋`. `O[a, b]` is the share of their attention the
//! rows of bin `a` spend, on average, on the keys of bin `b` — so each overview row sums to 1, like
//! a row of the full map. Memory: `2 · heads · N` floats of row statistics and `R²` per head of
//! overview; compute: every score once per pass, tiled so no invocation loops long.

#![allow(
    clippy::indexing_slicing,
    reason = "a CPU twin of a WGSL kernel: it indexes as the kernel does (the `model` module's docs, \"CPU twins\")"
)]

use std::ops::Range;

use bytemuck::{Pod, Zeroable};

use super::attention::{is_attendable, AttentionParams, LOWEST_FINITE};

/// The overview's own uniform block, field for field with the bins kernel.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct OverviewParams {
    /// R: bins per side (rows and columns).
    pub bins: u32,
    /// The first row this dispatch covers — a token for the row statistics, a bin for the bins —
    /// so a slow adapter can be given the overview a slice per frame (`gpu::long_context`).
    pub row_offset: u32,
    /// Padding to 16 bytes.
    pub pad: [u32; 2],
}

impl OverviewParams {
    /// `bins` per side, from row 0.
    pub fn new(bins: u32) -> Self {
        Self {
            bins,
            row_offset: 0,
            pad: [0; 2],
        }
    }
}

/// Threads per workgroup in the overview and chunk-mass kernels (`@workgroup_size`).
pub const LANES: usize = 256;
/// The bins kernel's lanes as a `GRID × GRID` square over each block.
pub const GRID: usize = 16;

/// The tokens bin `b` of `bins` covers, out of `n`.
pub fn bin_range(n: usize, bins: usize, b: usize) -> Range<usize> {
    let bins = bins.max(1);
    (b * n / bins)..((b + 1) * n / bins)
}

/// The most loop iterations one invocation of each overview kernel runs (Mesa's lavapipe cuts an
/// invocation off silently past 65,535): row statistics, then bins.
pub fn loop_iterations(params: &AttentionParams, bins: usize) -> [(&'static str, u64); 2] {
    let (n, d_k) = (params.n() as u64, params.dk() as u64);
    let lanes = LANES as u64;
    let halvings = LANES.trailing_zeros() as u64;
    let per_key = d_k + 1;
    let stats = n.div_ceil(lanes) * per_key + halvings;
    let side = n.div_ceil(bins.max(1) as u64);
    let grid = GRID as u64;
    let bins_pass = side.div_ceil(grid) * (1 + side.div_ceil(grid) * per_key) + halvings;
    [("overview_row_stats", stats), ("overview_bins", bins_pass)]
}

fn score(params: &AttentionParams, q: &[f32], k: &[f32], head: usize, i: usize, j: usize) -> f32 {
    let (n, d_k) = (params.n(), params.dk());
    let (qi, kj) = ((head * n + i) * d_k, (head * n + j) * d_k);
    let mut dot = 0.0f32;
    for c in 0..d_k {
        dot += q[qi + c] * k[kj + c];
    }
    dot * params.scale
}

/// Sums per lane as a workgroup does, then halves across the lanes.
fn lane_sum(count: usize, mut value: impl FnMut(usize) -> f32) -> f32 {
    let mut lanes = [0.0f32; LANES];
    for (lane, slot) in lanes.iter_mut().enumerate() {
        for t in (lane..count).step_by(LANES) {
            *slot += value(t);
        }
    }
    tree_sum(lanes)
}

/// The workgroup's tree reduction: halve across the lanes until one is left.
fn tree_sum(mut lanes: [f32; LANES]) -> f32 {
    let mut stride = LANES / 2;
    while stride > 0 {
        for lane in 0..stride {
            lanes[lane] += lanes[lane + stride];
        }
        stride /= 2;
    }
    lanes[0]
}

/// Twin of `overview_row_stats.wgsl`: `(m_i, l_i)` for every head and every token as a row,
/// `[head][N][2]`, by an online softmax per lane combined in a tree, as the kernel does. A row
/// with no attendable key gets `(LOWEST_FINITE, 0)`.
pub fn row_stats(params: &AttentionParams, q: &[f32], k: &[f32], key_mask: &[u32]) -> Vec<f32> {
    let n = params.n();
    let mut stats = vec![0.0f32; params.heads() * n * 2];
    for head in 0..params.heads() {
        for i in 0..n {
            let mut max = [LOWEST_FINITE; LANES];
            let mut sum = [0.0f32; LANES];
            for lane in 0..LANES {
                let (m, l) = (&mut max[lane], &mut sum[lane]);
                for j in (lane..n).step_by(LANES) {
                    if is_attendable(params, key_mask, i, j) {
                        let s = score(params, q, k, head, i, j);
                        if s > *m {
                            *l = *l * (*m - s).exp() + 1.0;
                            *m = s;
                        } else {
                            *l += (s - *m).exp();
                        }
                    }
                }
            }
            let mut stride = LANES / 2;
            while stride > 0 {
                for lane in 0..stride {
                    let (m1, m2) = (max[lane], max[lane + stride]);
                    let top = m1.max(m2);
                    sum[lane] =
                        sum[lane] * (m1 - top).exp() + sum[lane + stride] * (m2 - top).exp();
                    max[lane] = top;
                }
                stride /= 2;
            }
            stats[(head * n + i) * 2] = max[0];
            stats[(head * n + i) * 2 + 1] = sum[0];
        }
    }
    stats
}

/// Twin of `overview_bins.wgsl`: the `R × R` overview of every head, `[head][R][R]`, summed per
/// lane of a `GRID × GRID` square as the kernel does.
pub fn bins(
    params: &AttentionParams,
    overview: &OverviewParams,
    q: &[f32],
    k: &[f32],
    key_mask: &[u32],
    stats: &[f32],
) -> Vec<f32> {
    let (n, r) = (params.n(), overview.bins as usize);
    let mut out = vec![0.0f32; params.heads() * r * r];
    for head in 0..params.heads() {
        for a in 0..r {
            let rows = bin_range(n, r, a);
            for b in 0..r {
                let cols = bin_range(n, r, b);
                let mut lanes = [0.0f32; LANES];
                for (t, slot) in lanes.iter_mut().enumerate() {
                    let (u, v) = (t / GRID, t % GRID);
                    for i in (rows.start + u..rows.end).step_by(GRID) {
                        let (max, total) =
                            (stats[(head * n + i) * 2], stats[(head * n + i) * 2 + 1]);
                        if total > 0.0 {
                            let mut row = 0.0f32;
                            for j in (cols.start + v..cols.end).step_by(GRID) {
                                if is_attendable(params, key_mask, i, j) {
                                    row += (score(params, q, k, head, i, j) - max).exp();
                                }
                            }
                            *slot += row / total;
                        }
                    }
                }
                out[(head * r + a) * r + b] = tree_sum(lanes) / rows.len().max(1) as f32;
            }
        }
    }
    out
}

/// Twin of `chunk_masses.wgsl`: each span's share of a weights row, `Σ_{j ∈ span} w_j`.
/// `spans` are `[start, end)` pairs of token indices.
pub fn chunk_masses(weights: &[f32], spans: &[[u32; 2]]) -> Vec<f32> {
    spans
        .iter()
        .map(|&[start, end]| {
            let start = start as usize;
            let len = (end as usize).saturating_sub(start);
            lane_sum(len, |t| weights.get(start + t).copied().unwrap_or(0.0))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::attention::{self, AttentionOptions, PackedAttention, QueryRows};
    use crate::model::sample::{random_input, SampleShape};

    #[test]
    fn overview_equals_the_full_map_binned_and_its_rows_sum_to_one() {
        for causal in [false, true] {
            let options = AttentionOptions {
                causal,
                ..AttentionOptions::default()
            };
            let input = random_input(5, SampleShape::new(37, 8, 5, 2), options, 2.0);
            let packed = PackedAttention::new(&input, QueryRows::All).unwrap();
            let full = attention::run(&packed);
            let p = packed.params();
            let stats = row_stats(p, &full.q, &full.k, packed.key_mask());
            let r = 6;
            let overview = OverviewParams::new(r as u32);
            let got = bins(p, &overview, &full.q, &full.k, packed.key_mask(), &stats);
            let n = 37;
            for head in 0..2 {
                for a in 0..r {
                    let rows = bin_range(n, r, a);
                    let mut row_total = 0.0;
                    for b in 0..r {
                        let cols = bin_range(n, r, b);
                        let expected: f32 = rows
                            .clone()
                            .map(|i| {
                                cols.clone()
                                    .map(|j| full.weights[(head * n + i) * n + j])
                                    .sum::<f32>()
                            })
                            .sum::<f32>()
                            / rows.len() as f32;
                        let value = got[(head * r + a) * r + b];
                        assert!(
                            (value - expected).abs() < 1e-5,
                            "causal {causal} head {head} bin {a},{b}"
                        );
                        row_total += value;
                    }
                    assert!((row_total - 1.0).abs() < 1e-5);
                }
            }
        }
    }

    #[test]
    fn bins_cover_every_token_once() {
        for (n, r) in [(10, 3), (10_000, 256), (7, 7), (5, 8)] {
            let covered: usize = (0..r).map(|b| bin_range(n, r, b).len()).sum();
            assert_eq!(covered, n);
        }
    }

    #[test]
    fn chunk_masses_add_up_the_spans() {
        let weights = [0.1, 0.2, 0.3, 0.05, 0.05, 0.3];
        let masses = chunk_masses(&weights, &[[0, 2], [2, 5], [5, 6], [6, 6]]);
        for (m, e) in masses.iter().zip([0.3, 0.4, 0.3, 0.0]) {
            assert!((m - e).abs() < 1e-6, "{masses:?}");
        }
    }
}
