//! Attention compute, CPU reference vs GPU: the full matrix at N ∈ {16, 256, 1024, 4096} and the
//! focus-row mode at N ∈ {1k, 4k, 16k}, d_model = d_k = 64, one head.
//!
//! Throughput is reported as elements per second where one element is one floating-point
//! operation (`AttentionParams::flop_count`), so "Gelem/s" reads as GFLOP/s. The GPU figure times
//! the four dispatches and the wait for them, with inputs already uploaded and no readback — what
//! a frame pays after an edit. On a machine without a GPU the adapter is Mesa's lavapipe, which
//! runs the shaders on the CPU: its figures are not GPU figures.

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};

use gaze::gpu::{AttentionKernels, GpuContext};
use gaze::model::attention::{self, AttentionOptions, PackedAttention, QueryRows};
use gaze::model::sample::{random_input, SampleShape};

const D: usize = 64;

fn bench_group(c: &mut Criterion, name: &str, sizes: &[usize], rows: impl Fn(usize) -> QueryRows) {
    let ctx = GpuContext::headless()
        .unwrap_or_else(|e| panic!("the GPU benchmarks need an adapter: {e}"));
    let kernels =
        AttentionKernels::new(&ctx).unwrap_or_else(|e| panic!("kernels failed to build: {e}"));
    eprintln!("{name}: adapter {}", ctx.summary());
    let mut group = c.benchmark_group(name);
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    for &n in sizes {
        let input = random_input(
            n as u64,
            SampleShape::new(n, D, D, 1),
            AttentionOptions::default(),
            1.0,
        );
        let packed = PackedAttention::new(&input, rows(n)).unwrap_or_else(|e| panic!("{e}"));
        group.throughput(Throughput::Elements(packed.params().flop_count()));
        group.bench_with_input(BenchmarkId::new("cpu", n), &packed, |b, packed| {
            b.iter(|| attention::run(packed));
        });
        let buffers = kernels
            .prepare(&ctx, &packed)
            .unwrap_or_else(|e| panic!("{e}"));
        group.bench_with_input(BenchmarkId::new("gpu", n), &buffers, |b, buffers| {
            b.iter(|| {
                kernels
                    .run_and_wait(&ctx, buffers)
                    .unwrap_or_else(|e| panic!("{e}"))
            });
        });
    }
    group.finish();
}

fn full_matrix(c: &mut Criterion) {
    bench_group(c, "attention_full", &[16, 256, 1024, 4096], |_| {
        QueryRows::All
    });
}

fn focus_row(c: &mut Criterion) {
    bench_group(c, "attention_focus_row", &[1024, 4096, 16_384], |n| {
        QueryRows::Focus(n - 1)
    });
}

criterion_group!(benches, full_matrix, focus_row);
criterion_main!(benches);
