//! Step 1's fit and step 2's fine-tune: each kernel against its CPU twin, step for step, over
//! random and edge shapes (one ending; endings across several lanes' strides; many prefixes).

mod common;

use std::sync::OnceLock;

use common::gpu;
use gaze::gpu::training::TrainingKernels;
use gaze::model::corpus::{Corpus, CorpusRow, DEFAULT_PREFIX};
use gaze::model::finetune::{fine_tune, FineTuneProblem, FINE_TUNE_STEPS};
use gaze::model::rlhf::Rewards;
use gaze::model::train::{kl_divergence, train, TrainingSet, TRAIN_STEPS};
use rand::{Rng, SeedableRng};

fn kernels() -> &'static TrainingKernels {
    static KERNELS: OnceLock<TrainingKernels> = OnceLock::new();
    KERNELS.get_or_init(|| {
        TrainingKernels::new(&gpu().0)
            .unwrap_or_else(|e| panic!("training kernels failed to build: {e}"))
    })
}

/// A corpus of `prefixes` sentence starts over `endings` endings with random counts (some 0),
/// and random hidden vectors of length `features`.
fn random_set(seed: u64, prefixes: usize, endings: usize, features: usize) -> TrainingSet {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut rows = Vec::new();
    for p in 0..prefixes {
        for e in 0..endings {
            let count = if rng.random_bool(0.25) {
                0
            } else {
                rng.random_range(1..50)
            };
            rows.push(CorpusRow {
                prefix: format!("prefix {p}"),
                ending: format!("ending {e}"),
                count,
            });
        }
    }
    // At least one count above 0.
    rows[0].count = rows[0].count.max(1);
    let hidden: Vec<Vec<f32>> = (0..prefixes)
        .map(|_| (0..features).map(|_| rng.random_range(-2.0..2.0)).collect())
        .collect();
    TrainingSet::new(&Corpus { rows }, &hidden).expect("a valid random set")
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Runs `steps` on the GPU in batches of `batch` (each batch its own submission).
fn fit_on_gpu(set: &TrainingSet, steps: u32, batch: u32) -> gaze::gpu::training::FitSnapshot {
    let ctx = &gpu().0;
    let mut run = kernels().prepare_fit(ctx, set).expect("the fit fits");
    while run.steps() < steps {
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        let next = batch.min(steps - run.steps());
        kernels().encode_fit(&mut encoder, &mut run, next);
        ctx.queue.submit([encoder.finish()]);
    }
    let encoder = ctx.device.create_command_encoder(&Default::default());
    run.start_read_back(ctx, encoder)
        .and_then(|pending| pending.wait(ctx))
        .unwrap_or_else(|e| panic!("fit readback failed: {e}"))
}

#[test]
fn gpu_fit_takes_the_same_steps_as_the_cpu_twin() {
    // (prefixes, endings, features): one ending; exactly one lane-stride; across strides; many.
    let shapes = [
        (1, 1, 1),
        (1, 4, 10),
        (2, 63, 5),
        (3, 64, 10),
        (2, 65, 7),
        (5, 130, 16),
        (32, 8, 3),
    ];
    for (seed, &(prefixes, endings, features)) in shapes.iter().enumerate() {
        let set = random_set(seed as u64, prefixes, endings, features);
        let cpu = train(&set, TRAIN_STEPS);
        let gpu = fit_on_gpu(&set, TRAIN_STEPS, 37);
        let shape = format!("P={prefixes} V={endings} d={features}");
        let weights = max_difference(&cpu.layer.weights, &gpu.layer.weights);
        assert!(weights < 1e-4, "{shape}: weights differ by {weights}");
        let probabilities = max_difference(&cpu.probabilities, &gpu.probabilities);
        assert!(
            probabilities < 1e-5,
            "{shape}: π differs by {probabilities}"
        );
        let losses = max_difference(&cpu.losses, &gpu.losses);
        assert!(losses < 1e-4, "{shape}: losses differ by {losses}");
        assert_eq!(gpu.losses.len(), TRAIN_STEPS as usize);
    }
}

#[test]
fn gpu_fit_of_the_default_corpus_lands_on_the_closed_form() {
    let model = gaze::model::lesson::LessonModel::builtin().unwrap();
    let set = TrainingSet::from_lesson(
        &Corpus::default(),
        &model,
        gaze::model::train::ForwardSwitches {
            heads: 1,
            positions: gaze::model::positions::Positions::None,
            causal: false,
            residual_norm: false,
            edits: &[],
        },
    )
    .unwrap();
    // All steps in one submission, as the window's last batch would be.
    let gpu = fit_on_gpu(&set, TRAIN_STEPS, TRAIN_STEPS);
    // The snapshot's probabilities are the forward pass of the last step; the layer after it is
    // one step further on.
    let after = gpu.layer.probabilities(&set);
    let kl = kl_divergence(&set.closed_form(0), &after);
    assert!(kl < 1e-3, "KL to the closed form {kl}");
    assert!(gpu.losses.first() > gpu.losses.last());
}

#[test]
fn gpu_fine_tune_takes_the_same_path_as_the_cpu_twin_and_lands_on_the_closed_form() {
    let ctx = &gpu().0;
    let mut corpora = vec![(Corpus::default(), "postgresql")];
    // A long vocabulary across several lane strides.
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let rows = (0..150)
        .map(|e| CorpusRow {
            prefix: DEFAULT_PREFIX.into(),
            ending: format!("ending {e}"),
            count: rng.random_range(1..100),
        })
        .collect();
    corpora.push((Corpus { rows }, "ending 97"));
    for (corpus, preferred) in &corpora {
        let distribution = corpus.distribution(DEFAULT_PREFIX);
        for strength in [0.0, 0.113, 0.5, 0.75, 1.0] {
            let problem =
                FineTuneProblem::new(&distribution, preferred, strength, Rewards::default())
                    .unwrap();
            let cpu = fine_tune(&problem, FINE_TUNE_STEPS);
            let mut run = kernels().prepare_fine_tune(ctx, &problem).unwrap();
            let mut encoder = ctx.device.create_command_encoder(&Default::default());
            kernels().encode_fine_tune(&mut encoder, &mut run, FINE_TUNE_STEPS);
            let gpu = run
                .start_read_back(ctx, encoder)
                .and_then(|pending| pending.wait(ctx))
                .unwrap();
            let what = format!("{} endings, s = {strength}", distribution.rows.len());
            let path = max_difference(&cpu.path, &gpu.path);
            assert!(path < 1e-4, "{what}: paths differ by {path}");
            let final_gpu = gaze::model::finetune::policy(&gpu.logits).0;
            let final_difference = max_difference(&cpu.final_policy(), &final_gpu);
            assert!(final_difference < 1e-4, "{what}: {final_difference}");
            if strength < 1.0 {
                let kl = kl_divergence(&problem.closed_form_probabilities(), &final_gpu);
                assert!(kl < 1e-4, "{what}: KL to the closed form {kl}");
            }
        }
    }
}
