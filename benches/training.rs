//! Steps 1 and 2's optimisers, CPU twin vs GPU kernel: a whole Train (300 steps) and a whole
//! "fine-tune for real" (200 steps), for the lesson's corpus and for the largest the kernels take
//! (32 sentence starts × 256 endings; 256 candidates). The GPU figure records every step into one
//! submission and waits for it, without the readback. On a machine without a GPU the adapter is
//! Mesa's lavapipe, which runs the shaders on the CPU: its figures are not GPU figures.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};
use rand::{Rng, SeedableRng};

use gaze::gpu::training::TrainingKernels;
use gaze::gpu::GpuContext;
use gaze::model::corpus::{Corpus, CorpusRow, DEFAULT_PREFIX};
use gaze::model::finetune::{fine_tune, FineTuneProblem, FINE_TUNE_STEPS};
use gaze::model::rlhf::Rewards;
use gaze::model::train::{train, TrainingSet, TRAIN_STEPS};

fn corpus(prefixes: usize, endings: usize) -> Corpus {
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let rows = (0..prefixes)
        .flat_map(|p| (0..endings).map(move |e| (p, e)))
        .map(|(p, e)| CorpusRow {
            prefix: if p == 0 {
                DEFAULT_PREFIX.into()
            } else {
                format!("prefix {p}")
            },
            ending: format!("ending {e}"),
            count: rng.random_range(1..100),
        })
        .collect();
    Corpus { rows }
}

fn wait(ctx: &GpuContext) {
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
        .unwrap_or_else(|e| panic!("{e}"));
}

fn training(c: &mut Criterion) {
    let ctx = GpuContext::headless()
        .unwrap_or_else(|e| panic!("the GPU benchmarks need an adapter: {e}"));
    let kernels = TrainingKernels::new(&ctx).unwrap_or_else(|e| panic!("{e}"));
    eprintln!("training: adapter {}", ctx.summary());
    let mut group = c.benchmark_group("train_300_steps");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    let mut rng = rand::rngs::StdRng::seed_from_u64(2);
    for (name, prefixes, endings) in [("lesson 1x4", 1, 4), ("largest 32x256", 32, 256)] {
        let hidden: Vec<Vec<f32>> = (0..prefixes)
            .map(|_| (0..10).map(|_| rng.random_range(-1.0..1.0)).collect())
            .collect();
        let set =
            TrainingSet::new(&corpus(prefixes, endings), &hidden).unwrap_or_else(|e| panic!("{e}"));
        group.bench_with_input(BenchmarkId::new("cpu", name), &set, |b, set| {
            b.iter(|| train(set, TRAIN_STEPS));
        });
        group.bench_with_input(BenchmarkId::new("gpu", name), &set, |b, set| {
            b.iter(|| {
                let mut run = kernels
                    .prepare_fit(&ctx, set)
                    .unwrap_or_else(|e| panic!("{e}"));
                let mut encoder = ctx.device.create_command_encoder(&Default::default());
                kernels.encode_fit(&mut encoder, &mut run, TRAIN_STEPS);
                ctx.queue.submit([encoder.finish()]);
                wait(&ctx);
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("fine_tune_200_steps");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    for (name, endings) in [("lesson 4", 4), ("largest 256", 256)] {
        let distribution = corpus(1, endings).distribution(DEFAULT_PREFIX);
        let problem = FineTuneProblem::new(&distribution, "ending 1", 0.5, Rewards::default())
            .unwrap_or_else(|e| panic!("{e}"));
        group.bench_with_input(BenchmarkId::new("cpu", name), &problem, |b, problem| {
            b.iter(|| fine_tune(problem, FINE_TUNE_STEPS));
        });
        group.bench_with_input(BenchmarkId::new("gpu", name), &problem, |b, problem| {
            b.iter(|| {
                let mut run = kernels
                    .prepare_fine_tune(&ctx, problem)
                    .unwrap_or_else(|e| panic!("{e}"));
                let mut encoder = ctx.device.create_command_encoder(&Default::default());
                kernels.encode_fine_tune(&mut encoder, &mut run, FINE_TUNE_STEPS);
                ctx.queue.submit([encoder.finish()]);
                wait(&ctx);
            });
        });
    }
    group.finish();
}

criterion_group!(benches, training);
criterion_main!(benches);
