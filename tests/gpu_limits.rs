//! Requests beyond the device's limits are typed errors that name the limit — never a panic and
//! never a wgpu validation crash.

mod common;

use common::gpu;
use gaze::gpu::attention::{loop_iterations, plan, LOOP_BOUND};
use gaze::gpu::GpuError;
use gaze::model::attention::{AttentionOptions, AttentionParams, PackedAttention, QueryRows};
use gaze::model::sample::{random_input, SampleShape};

#[test]
fn full_matrix_beyond_storage_binding_limit_is_a_typed_error() {
    let (ctx, kernels) = gpu();
    let limit = ctx
        .limits()
        .max_storage_buffer_binding_size
        .min(ctx.limits().max_buffer_size);
    // The smallest N whose N × N f32 matrix no longer fits one binding (5793 on lavapipe).
    let n = ((limit / 4) as f64).sqrt() as usize + 1;
    let input = random_input(
        1,
        SampleShape::new(n, 4, 4, 1),
        AttentionOptions::default(),
        1.0,
    );
    let packed = PackedAttention::new(&input, QueryRows::All).unwrap();
    let error = kernels.prepare(ctx, &packed).unwrap_err();
    match &error {
        GpuError::LimitExceeded {
            limit: name,
            what,
            requested,
            allowed,
        } => {
            assert!(
                *name == "max_storage_buffer_binding_size" || *name == "max_buffer_size",
                "names the wgpu limit: {name}"
            );
            assert!(
                what.contains("attention scores"),
                "names the buffer: {what}"
            );
            assert_eq!(*requested, (n * n * 4) as u64);
            assert!(requested > allowed);
        }
        other => panic!("expected LimitExceeded, got {other:?}"),
    }
    let message = error.to_string();
    assert!(
        message.contains("focus-row"),
        "suggests the way out: {message}"
    );

    // The same N is fine in the focus-row mode: one row, not N × N.
    let packed = PackedAttention::new(&input, QueryRows::Focus(n - 1)).unwrap();
    assert!(kernels.prepare(ctx, &packed).is_ok());
}

/// The parameters of a request too large to build, for planning only: `n_tokens` keys,
/// `query_count` query rows, one head.
fn planned(n_tokens: u32, query_count: u32, d_model: u32, d_k: u32) -> AttentionParams {
    let small = random_input(
        0,
        SampleShape::new(1, 1, 1, 1),
        AttentionOptions::default(),
        1.0,
    );
    let packed = PackedAttention::new(&small, QueryRows::All).unwrap();
    AttentionParams {
        n_tokens,
        query_count,
        d_model,
        d_k,
        scale: 1.0 / (d_k as f32).sqrt(),
        ..*packed.params()
    }
}

fn generous_limits() -> wgpu::Limits {
    wgpu::Limits {
        max_storage_buffer_binding_size: 1 << 40,
        max_buffer_size: 1 << 40,
        ..wgpu::Limits::default()
    }
}

#[test]
fn dispatch_beyond_workgroup_limit_is_a_typed_error() {
    // 70,000 query rows: the softmax needs one workgroup per row, more than one dimension holds.
    let params = planned(60_000, 70_000, 4, 1);
    match plan(&params, &generous_limits()) {
        Err(GpuError::LimitExceeded {
            limit,
            what,
            requested,
            allowed,
        }) => {
            assert_eq!(limit, "max_compute_workgroups_per_dimension");
            assert!(what.contains("attention_scores"), "{what}");
            assert_eq!(requested, 70_000);
            assert_eq!(allowed, 65_535);
        }
        other => panic!("expected LimitExceeded, got {other:?}"),
    }
}

#[test]
fn projection_of_many_tokens_folds_into_two_dimensions() {
    let params = planned(16_384, 1, 4, 512);
    let plan = plan(&params, &generous_limits()).unwrap();
    let (kernel, [x, y, z]) = plan.dispatches[0];
    assert_eq!(kernel, "attention_project");
    assert!(
        u64::from(x) * u64::from(y) * 64 >= 16_384 * 512,
        "covers every (token, component)"
    );
    assert!(x <= 65_535 && y > 1 && z == 1);
}

#[test]
fn request_that_would_cross_the_loop_bound_is_refused() {
    // d_k = 1024 over 16,384 keys: the output kernel would take 1024/64 = 16 passes of
    // 16,384/4 keys plus a 2-step reduction: 16 × 4,098 = 65,568 iterations.
    let params = planned(16_384, 1, 4, 1024);
    match plan(&params, &generous_limits()) {
        Err(GpuError::LoopBound {
            kernel,
            iterations,
            bound,
        }) => {
            assert_eq!(kernel, "attention_output");
            assert_eq!(iterations, 65_568);
            assert_eq!(bound, LOOP_BOUND);
        }
        other => panic!("expected LoopBound, got {other:?}"),
    }
}

#[test]
fn every_kernel_loop_stays_bounded_at_16k_tokens() {
    let params = planned(16_384, 1, 64, 64);
    for (kernel, iterations) in loop_iterations(&params) {
        assert!(
            iterations <= 5_000,
            "{kernel}: {iterations} iterations per invocation"
        );
    }
}

#[test]
fn focus_row_allocates_no_n_by_n_buffer() {
    let (ctx, _) = gpu();
    let n = 16_384;
    let input = random_input(
        5,
        SampleShape::new(n, 64, 64, 4),
        AttentionOptions::default(),
        1.0,
    );
    let packed = PackedAttention::new(&input, QueryRows::Focus(7)).unwrap();
    let plan = plan(packed.params(), &ctx.limits()).unwrap();
    assert_eq!(
        plan.bytes("attention weights (heads × rows × N)"),
        (4 * n * 4) as u64
    );
    let largest = plan.buffers.iter().map(|(_, b)| *b).max().unwrap();
    assert_eq!(
        largest,
        (4 * n * 64 * 4) as u64,
        "the largest buffer is Q/K/V, O(N · d_k)"
    );
}

#[test]
fn no_adapter_error_names_the_fix() {
    let message = GpuError::NoAdapter("no backend".into()).to_string();
    assert!(message.contains("mesa-vulkan-drivers"), "{message}");
}

/// A sentence longer than this GPU's storage binding holds as a full N x N map (a 256 KiB
/// binding, standing in for a small GPU): step 3 does not fail, it shows the first tokens that fit —
/// computed exactly, equal to the CPU reference on those tokens — and says why, naming the limit.
#[test]
fn step_three_beyond_the_binding_limit_shows_the_tokens_that_fit_and_says_why() {
    use gaze::app::lesson::{AttentionLesson, Lesson};
    use gaze::model::attention::attend;
    use gaze::scene::AttentionScene;

    let small = gaze::gpu::GpuContext::headless_with_limits(|offered| wgpu::Limits {
        max_storage_buffer_binding_size: 1 << 18,
        ..offered
    })
    .unwrap_or_else(|e| panic!("GPU tests need an adapter: {e}"));
    let lesson = Lesson::new(&small).expect("the lesson builds");
    let words = ["the", "best", "database", "is", "postgres", "because"];
    let sentence: Vec<&str> = (0..400).map(|i| words[i % words.len()]).collect();
    let scene = AttentionScene {
        sentence: sentence.join(" "),
        heads: 1,
        ..AttentionScene::default()
    };
    let mut stage = AttentionLesson::default();
    lesson
        .update(&small, &scene, &mut stage)
        .expect("a smaller view, not an error");
    stage.wait(&small, &lesson).expect("the numbers land");
    let stage = stage.shown().expect("a stage");
    // 256 KiB holds 65,536 f32: a 256 x 256 map.
    assert_eq!(stage.tokens.len(), 256);
    let message = stage
        .shortened
        .as_deref()
        .expect("the view says it is smaller");
    assert!(
        message.contains("showing the first 256 of 400 tokens"),
        "{message}"
    );
    assert!(
        message.contains("max_storage_buffer_binding_size"),
        "{message}"
    );
    let first: Vec<&str> = sentence[..256].to_vec();
    let (_, input) = lesson
        .model
        .attention_input_with_edits(&first.join(" "), 1, Default::default(), &[])
        .unwrap();
    let reference = attend(&input, QueryRows::All).unwrap();
    let result = stage.result.as_ref().expect("read back");
    let worst = result
        .weights
        .iter()
        .zip(&reference.weights)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(
        worst < 1e-5,
        "GPU differs from the CPU reference by {worst}"
    );
}

/// Step 4 over the ~12k-token archive on a GPU whose storage bindings hold 256 KiB (standing in
/// for a small GPU): a smaller context — fewer retrieved chunks — computed and shown, with a
/// message naming the limit, instead of an error.
#[test]
fn step_four_beyond_the_binding_limit_shows_a_smaller_context_and_says_why() {
    use gaze::app::context_lesson::ContextLesson;
    use gaze::app::lesson::Lesson;
    use gaze::scene::Scene;

    let small = gaze::gpu::GpuContext::headless_with_limits(|offered| wgpu::Limits {
        max_storage_buffer_binding_size: 1 << 18,
        ..offered
    })
    .unwrap_or_else(|e| panic!("GPU tests need an adapter: {e}"));
    let lesson = Lesson::new(&small).expect("the lesson builds");
    let mut scene = Scene {
        step: 4,
        ..Scene::default()
    };
    scene.context.level = 3;
    scene.context.archive = true;
    let mut step4 = ContextLesson::default();
    assert!(step4
        .update(&small, &lesson, &scene)
        .expect("a smaller view, not an error"));
    step4.wait(&small, &lesson).expect("the numbers land");
    let stage = step4.shown().expect("a stage");
    let message = stage
        .shortened
        .as_deref()
        .expect("the view says it is smaller");
    assert!(message.contains("showing"), "{message}");
    assert!(
        message.contains("max_storage_buffer_binding_size"),
        "{message}"
    );
    let shown = stage.input.tokens.len();
    eprintln!("{message}");
    assert!(
        shown > 100 && shown < scene.context.budget_tokens,
        "{shown} tokens"
    );
    let masses = &stage.numbers.as_ref().expect("read back").masses;
    let total: f32 = masses.iter().sum();
    assert!((total - 1.0).abs() < 1e-3, "chunk masses sum to {total}");
}
