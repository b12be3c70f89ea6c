//! Step 4 end to end on the GPU (`gpu::long_context`) against its CPU reference
//! (`model::context::compute`): the focus row, the chunk masses and the overview map, on the
//! contexts the lesson builds — ~1k tokens of examples, and a 16k-token RAG context within
//! WebGPU's default limits.

mod common;

use std::sync::OnceLock;

use gaze::gpu::long_context::LongContext;
use gaze::gpu::overview::OverviewKernels;
use gaze::model::context::{
    self, compute, generate_examples, in_context_input, rag_input, ContextInput, KnowledgeBase,
    ARCHIVE_NAME, DEFAULT_QUESTION, MAX_CONTEXT_TOKENS, OVERVIEW_BINS, SAMPLE_DOCUMENTS,
};
use gaze::model::lesson::LessonModel;

fn overview_kernels() -> &'static OverviewKernels {
    static KERNELS: OnceLock<OverviewKernels> = OnceLock::new();
    KERNELS.get_or_init(|| {
        OverviewKernels::new(&common::gpu().0)
            .unwrap_or_else(|e| panic!("overview kernels failed to build: {e}"))
    })
}

/// Runs `input` through the GPU pipeline; returns it with the focus row, the masses and (when
/// `bins > 0`) the overview map read back.
fn run_gpu(input: &ContextInput, bins: u32) -> (LongContext, Vec<f32>, Vec<f32>, Vec<f32>) {
    let (ctx, attention) = common::gpu();
    let packed = input.packed().expect("valid context");
    let gpu = LongContext::prepare(
        ctx,
        attention,
        overview_kernels(),
        &packed,
        &input.span_bounds(),
        bins,
    )
    .unwrap_or_else(|e| panic!("the context was refused: {e}"));
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    gpu.encode(&mut encoder, attention, overview_kernels());
    let (weights, masses) = gpu
        .start_read_back(ctx, encoder)
        .and_then(|p| p.wait(ctx))
        .unwrap_or_else(|e| panic!("readback failed: {e}"));
    let map = match &gpu.overview {
        Some(overview) => {
            let encoder = ctx.device.create_command_encoder(&Default::default());
            overview
                .start_read_back(ctx, encoder)
                .and_then(|p| p.wait(ctx))
                .unwrap_or_else(|e| panic!("readback failed: {e}"))
                .1
        }
        None => Vec::new(),
    };
    (gpu, weights, masses, map)
}

fn max_error(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// `count` generated examples (seeded) and `review`, with the overview's bins for them.
fn examples_context(count: usize, seed: u64, review: &str) -> (ContextInput, u32) {
    let model = LessonModel::builtin().unwrap();
    let input = in_context_input(
        &model,
        &generate_examples(count, seed),
        review,
        context::DEFAULT_BUDGET,
    )
    .unwrap();
    let bins = context::overview_bins(input.tokens.len(), OVERVIEW_BINS);
    (input, bins)
}

#[test]
fn icl_context_on_the_gpu_matches_the_cpu_reference() {
    let (input, bins) = examples_context(120, 3, "loved it");
    let cpu = compute(&input, bins).unwrap();
    let (_, weights, masses, map) = run_gpu(&input, bins);
    assert!(max_error(&weights, &cpu.weights) < 1e-6);
    assert!(max_error(&masses, &cpu.masses) < 1e-5);
    assert!(max_error(&map, &cpu.overview) < 1e-5);
    // The prediction read off the GPU's masses is the CPU's.
    let labels = |masses: &[f32]| context::label_scores(&input.spans, masses);
    let best = |masses: &[f32]| {
        let scores = labels(masses);
        let values: Vec<f32> = scores.iter().map(|s| s.1).collect();
        scores[context::argmax(&values).unwrap()].0.clone()
    };
    assert_eq!(best(&masses), best(&cpu.masses));
    assert_eq!(best(&masses), "positive");
}

#[test]
fn rag_at_sixteen_thousand_tokens_fits_webgpu_default_limits_and_matches() {
    let model = LessonModel::builtin().unwrap();
    let archive = context::ticket_archive(450);
    let kb = KnowledgeBase::new(
        SAMPLE_DOCUMENTS
            .iter()
            .copied()
            .chain([(ARCHIVE_NAME, archive.as_str())]),
    );
    let (input, _) = rag_input(&model, &kb, DEFAULT_QUESTION, MAX_CONTEXT_TOKENS).unwrap();
    let n = input.tokens.len();
    assert!(n > 16_000, "{n} tokens");
    let packed = input.packed().unwrap();
    // Every buffer and dispatch within WebGPU's defaults (128 MiB per binding, 65,535 groups).
    let defaults = wgpu::Limits::default();
    let plan = gaze::gpu::attention::plan(packed.params(), &defaults)
        .unwrap_or_else(|e| panic!("over WebGPU's default limits: {e}"));
    assert!(plan.total_bytes() < 8 << 20, "{} bytes", plan.total_bytes());
    let (gpu, weights, masses, _) = run_gpu(&input, 0);
    let binding = defaults.max_storage_buffer_binding_size;
    assert!(gpu.largest_buffer() < binding);
    assert!(gpu.gpu_bytes() < 8 << 20, "{} bytes", gpu.gpu_bytes());
    let cpu = compute(&input, 0).unwrap();
    assert!(max_error(&weights, &cpu.weights) < 1e-6);
    assert!(max_error(&masses, &cpu.masses) < 1e-5);
    let total: f32 = masses.iter().sum();
    assert!((total - 1.0).abs() < 1e-3, "{total}");
}

/// The overview run a slice per submission — as the app runs it, so a software GPU never holds
/// a frame for the whole `O(N²)` pass — lands on the same map as one submission and the CPU.
#[test]
fn sliced_overview_equals_the_one_submission_overview() {
    let (ctx, attention) = common::gpu();
    let (input, bins) = examples_context(90, 11, "terrible, broken");
    let (_, _, _, whole) = run_gpu(&input, bins);
    let packed = input.packed().unwrap();
    let gpu = LongContext::prepare(
        ctx,
        attention,
        overview_kernels(),
        &packed,
        &input.span_bounds(),
        bins,
    )
    .unwrap();
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    gpu.encode_focus(&mut encoder, attention, overview_kernels());
    let (weights, _) = gpu
        .start_read_back(ctx, encoder)
        .and_then(|p| p.wait(ctx))
        .unwrap();
    // A first slice of a few rows' worth of scores: the budget then adapts to the timing.
    let mut progress = gpu.start_overview(4 * input.tokens.len() as u64);
    let sliced = gpu
        .finish_overview(ctx, overview_kernels(), &mut progress)
        .unwrap()
        .expect("the map is read back");
    assert!(progress.slices() > 2, "{} slices", progress.slices());
    assert!(progress.finished());
    assert_eq!(
        sliced, whole,
        "slices compute exactly what one submission does"
    );
    let cpu = compute(&input, bins).unwrap();
    assert!(max_error(&sliced, &cpu.overview) < 1e-5);
    assert!(max_error(&weights, &cpu.weights) < 1e-6);
}
