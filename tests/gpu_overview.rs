//! Step 4's long-context kernels against their CPU twins: the overview map (row statistics, then
//! bins) and the chunk masses, over small random shapes and at N = 10,000 in the focus-row mode —
//! where the full map (400 MB) is never allocated.

mod common;

use std::sync::OnceLock;

use common::gpu;
use gaze::gpu::overview::OverviewKernels;
use gaze::model::attention::{self, AttentionOptions, PackedAttention, QueryRows};
use gaze::model::overview::{self, OverviewParams};
use gaze::model::sample::{random_input, SampleShape};

fn overview_kernels() -> &'static OverviewKernels {
    static KERNELS: OnceLock<OverviewKernels> = OnceLock::new();
    KERNELS.get_or_init(|| {
        OverviewKernels::new(&gpu().0)
            .unwrap_or_else(|e| panic!("overview kernels failed to build: {e}"))
    })
}

/// Runs attention and the overview on the GPU and the CPU twins over the CPU projections; returns
/// the largest relative error of the row statistics, the largest error of the map, and the GPU's
/// map.
fn compare(packed: &PackedAttention, bins: u32) -> (f32, f32, Vec<f32>) {
    let (ctx, kernels) = gpu();
    let buffers = kernels.prepare(ctx, packed).expect("attention fits");
    let overview = overview_kernels()
        .prepare(ctx, &buffers, bins)
        .unwrap_or_else(|e| panic!("overview refused: {e}"));
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    kernels.encode(&mut encoder, &buffers);
    overview_kernels().encode(&mut encoder, &overview);
    let (stats_gpu, map_gpu) = overview
        .start_read_back(ctx, encoder)
        .and_then(|pending| pending.wait(ctx))
        .unwrap_or_else(|e| panic!("readback failed: {e}"));

    let p = packed.params();
    let projections = attention::project(packed);
    let stats = overview::row_stats(p, &projections.q, &projections.k, packed.key_mask());
    let params = OverviewParams::new(overview.bins());
    let map = overview::bins(
        p,
        &params,
        &projections.q,
        &projections.k,
        packed.key_mask(),
        &stats,
    );
    let stats_error = stats
        .chunks(2)
        .zip(stats_gpu.chunks(2))
        .map(|(c, g)| {
            let max = (c[0] - g[0]).abs() / c[0].abs().max(1.0);
            let sum = (c[1] - g[1]).abs() / c[1].abs().max(1.0);
            max.max(sum)
        })
        .fold(0.0, f32::max);
    assert_eq!(map.len(), map_gpu.len());
    let map_error = map
        .iter()
        .zip(&map_gpu)
        .map(|(c, g)| (c - g).abs())
        .fold(0.0, f32::max);
    (stats_error, map_error, map_gpu)
}

#[test]
fn gpu_overview_matches_cpu_twin_on_random_shapes() {
    // (N, d_k, heads, bins): bins that divide N and bins that do not, one token, bins > N.
    for (seed, &(n, d_k, heads, bins)) in [
        (1, 1, 1, 4),
        (37, 5, 2, 6),
        (300, 16, 1, 64),
        (257, 4, 4, 7),
        (600, 32, 1, 128),
    ]
    .iter()
    .enumerate()
    {
        for causal in [false, true] {
            let options = AttentionOptions {
                causal,
                ..AttentionOptions::default()
            };
            let input = random_input(
                seed as u64,
                SampleShape::new(n, 16, d_k, heads),
                options,
                3.0,
            );
            let packed = PackedAttention::new(&input, QueryRows::Focus(n - 1)).unwrap();
            let (stats, map, _) = compare(&packed, bins);
            let what = format!("N={n} d_k={d_k} heads={heads} bins={bins} causal={causal}");
            assert!(stats < 1e-5, "{what}: row statistics off by {stats}");
            assert!(map < 1e-5, "{what}: overview off by {map}");
        }
    }
}

#[test]
fn overview_at_ten_thousand_tokens_matches_and_rows_sum_to_one() {
    // The lesson model's shape: d_model = 10, d_k = 5; the focus row only, as step 4 runs it.
    let n = 10_000;
    let input = random_input(
        77,
        SampleShape::new(n, 10, 5, 1),
        AttentionOptions::default(),
        2.0,
    );
    let packed = PackedAttention::new(&input, QueryRows::Focus(n - 1)).unwrap();
    let (stats, map_error, map) = compare(&packed, 256);
    assert_eq!(map.len(), 256 * 256);
    for row in map.chunks(256) {
        let total: f32 = row.iter().sum();
        assert!(
            (total - 1.0).abs() < 1e-4,
            "an overview row sums to {total}"
        );
    }
    assert!(stats < 1e-5, "row statistics off by {stats}");
    assert!(map_error < 1e-5, "overview off by {map_error}");
}

#[test]
fn chunk_masses_at_ten_thousand_tokens_match_the_cpu_twin() {
    let n = 10_000;
    let input = random_input(
        78,
        SampleShape::new(n, 10, 5, 1),
        AttentionOptions::default(),
        2.0,
    );
    let packed = PackedAttention::new(&input, QueryRows::Focus(n - 1)).unwrap();
    let (ctx, kernels) = gpu();
    let buffers = kernels.prepare(ctx, &packed).unwrap();
    // 37 chunks of uneven length covering every token, and one empty span.
    let mut spans = Vec::new();
    let mut start = 0u32;
    for c in 0..37u32 {
        let end = if c == 36 {
            n as u32
        } else {
            start + 50 + c * 11
        };
        spans.push([start, end]);
        start = end;
    }
    spans.push([start, start]);
    let masses = overview_kernels()
        .prepare_chunk_masses(ctx, buffers.weights_buffer(), &spans)
        .unwrap();
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    kernels.encode(&mut encoder, &buffers);
    overview_kernels().encode_chunk_masses(&mut encoder, &masses);
    let gpu_masses = masses
        .start_read_back(ctx, encoder)
        .and_then(|pending| pending.wait(ctx))
        .unwrap();
    // The CPU twin over the same focus row, as the kernels computed it.
    let weights = kernels.run_blocking(ctx, &packed).unwrap().weights;
    let cpu_masses = overview::chunk_masses(&weights[..n], &spans);
    for (g, c) in gpu_masses.iter().zip(&cpu_masses) {
        assert!((g - c).abs() < 1e-6, "{g} vs {c}");
    }
    let total: f32 = gpu_masses.iter().sum();
    assert!(
        (total - 1.0).abs() < 1e-4,
        "the chunks cover the row: {total}"
    );
    assert_eq!(gpu_masses[37], 0.0, "an empty span has no mass");
}
