//! The GPU engine (`gpu::llm`, `shaders/llm_*.wgsl`) against the CPU reference (`model::llm`) on
//! small random-weight models whose matrices cover every tensor type Gaze reads. No download.

mod common;

use std::sync::Arc;

use gaze::gpu::llm::{LlmGpu, Readback, CHUNK, MAX_TOP_K};
use gaze::gpu::llm_model::GpuLlama;
use gaze::model::llm::forward::top_k;
use gaze::model::llm::gguf::GgufFile;
use gaze::model::llm::synthetic::{synthetic_gguf, SyntheticSpec};
use gaze::model::llm::{Capture, KvCache, LlamaModel};
use gaze::model::transformer::{HeadRef, ModelError, TransformerModel};

fn model(spec: &SyntheticSpec) -> LlamaModel {
    let file = GgufFile::parse(synthetic_gguf(spec)).expect("synthetic file parses");
    LlamaModel::from_gguf(&file).expect("synthetic model loads")
}

fn prompt(n: usize, vocab: usize, seed: u32) -> Vec<u32> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) ^ seed) % vocab as u32)
        .collect()
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

/// Runs `tokens` through both engines with every capture on and compares everything.
fn compare(model: &LlamaModel, tokens: &[u32], capture: Capture) {
    let ctx = &common::gpu().0;
    let mut cache = KvCache::new(&model.config);
    let cpu = model
        .forward(&mut cache, tokens, &capture)
        .expect("cpu forward");
    let mut gpu = LlmGpu::new(ctx, model).expect("gpu model");
    let out = gpu
        .forward(
            ctx,
            tokens,
            &capture,
            Readback {
                logits: true,
                top_k: 10,
                temperature: 1.0,
            },
        )
        .expect("gpu forward")
        .wait(ctx)
        .expect("gpu readback");
    let logits = out.logits.as_ref().expect("logits");
    let scale = cpu.logits.iter().fold(1.0f32, |m, l| m.max(l.abs()));
    let err = max_abs_diff(logits, &cpu.logits);
    assert!(
        err <= 1e-4 * scale,
        "logits differ by {err} (scale {scale})"
    );
    let err = max_abs_diff(&out.focus_rows, &cpu.focus_rows);
    assert!(err < 1e-5, "focus rows differ by {err}");
    assert_eq!(
        out.top.iter().map(|t| t.0).collect::<Vec<_>>(),
        top_k(&cpu.logits, 10, 1.0)
            .iter()
            .map(|t| t.0)
            .collect::<Vec<_>>(),
        "top-10 ids"
    );
    if capture.map.is_some() {
        let map = gpu.read_map(ctx).expect("map");
        let cpu_map = cpu.map.as_ref().expect("cpu map");
        let err = max_abs_diff(&map, &cpu_map.weights);
        assert!(err < 1e-5, "maps differ by {err}");
    }
    if capture.overview {
        let (rows, cols, cells) = out.overview.as_ref().expect("overview");
        let cpu_overview = cpu.overview.as_ref().expect("cpu overview");
        assert_eq!(
            (*rows, *cols),
            (cpu_overview.row_bins, cpu_overview.col_bins)
        );
        let err = max_abs_diff(cells, &cpu_overview.cells);
        assert!(err < 1e-4, "overviews differ by {err}");
    }
}

#[test]
fn gpu_forward_matches_the_cpu_reference_with_every_tensor_type() {
    let model = model(&SyntheticSpec::default());
    for n in [1, 2, 33, 70] {
        let tokens = prompt(n, model.config.vocab, 5);
        compare(
            &model,
            &tokens,
            Capture {
                map: Some((1, 3)),
                focus: None,
                overview: true,
            },
        );
    }
}

#[test]
fn a_prompt_longer_than_a_chunk_runs_in_chunks_and_still_matches() {
    let model = model(&SyntheticSpec::default());
    let tokens = prompt(CHUNK + 89, model.config.vocab, 9);
    compare(
        &model,
        &tokens,
        Capture {
            map: Some((0, 1)),
            focus: Some(CHUNK + 3),
            overview: true,
        },
    );
}

#[test]
fn decoding_token_by_token_over_the_cache_matches_one_pass_over_everything() {
    let ctx = &common::gpu().0;
    let model = model(&SyntheticSpec::default());
    let tokens = prompt(12, model.config.vocab, 3);
    let mut cache = KvCache::new(&model.config);
    let whole = model
        .forward(&mut cache, &tokens, &Capture::default())
        .expect("cpu forward");
    let mut gpu = LlmGpu::new(ctx, &model).expect("gpu model");
    gpu.reserve(ctx, 12).expect("reserve");
    let readback = Readback {
        logits: true,
        ..Readback::default()
    };
    let mut last = None;
    gpu.forward(ctx, &tokens[..9], &Capture::default(), readback)
        .expect("prefill")
        .wait(ctx)
        .expect("prefill readback");
    for &t in &tokens[9..] {
        last = Some(
            gpu.forward(ctx, &[t], &Capture::default(), readback)
                .expect("decode")
                .wait(ctx)
                .expect("decode readback"),
        );
    }
    let last = last.expect("three decode steps");
    assert_eq!(gpu.cache_len(), 12);
    let err = max_abs_diff(last.logits.as_ref().expect("logits"), &whole.logits);
    assert!(err < 1e-3, "decode logits differ from one pass by {err}");
    let err = max_abs_diff(&last.focus_rows, &whole.focus_rows);
    assert!(
        err < 1e-5,
        "decode attention differs from one pass by {err}"
    );
}

/// A pass after cached positions that would outgrow the buffers is refused: growing them empties
/// the cache, and running on would give the logits of a prompt the model never saw.
#[test]
fn a_pass_that_would_outgrow_a_filled_cache_is_refused_not_run_over_an_empty_one() {
    let ctx = &common::gpu().0;
    let model = model(&SyntheticSpec::default());
    let tokens = prompt(12, model.config.vocab, 5);
    let mut gpu = LlmGpu::new(ctx, &model).expect("gpu model");
    // No reserve: the first pass sizes the buffers for its own 9 tokens.
    gpu.forward(ctx, &tokens[..9], &Capture::default(), Readback::default())
        .expect("prefill")
        .wait(ctx)
        .expect("prefill readback");
    let refused = gpu.forward(
        ctx,
        &tokens[9..10],
        &Capture::default(),
        Readback::default(),
    );
    let message = match refused {
        Ok(_) => panic!("a decode past the reserved capacity ran"),
        Err(error) => error.to_string(),
    };
    assert!(message.contains("reserve"), "{message}");
    assert_eq!(gpu.cache_len(), 9, "the refusal kept the cache");
    // After a reset the same tokens run from position 0 and grow the buffers.
    gpu.reset();
    gpu.forward(ctx, &tokens, &Capture::default(), Readback::default())
        .expect("a pass from position 0 may grow the buffers")
        .wait(ctx)
        .expect("readback");
    assert_eq!(gpu.cache_len(), 12);
}

#[test]
fn every_gpu_attention_row_sums_to_one_with_zeros_right_of_the_diagonal() {
    let ctx = &common::gpu().0;
    let model = model(&SyntheticSpec::default());
    let n = 40;
    let mut gpu = LlmGpu::new(ctx, &model).expect("gpu model");
    gpu.forward(
        ctx,
        &prompt(n, model.config.vocab, 1),
        &Capture {
            map: Some((1, 0)),
            ..Capture::default()
        },
        Readback::default(),
    )
    .expect("forward")
    .wait(ctx)
    .expect("readback");
    let map = gpu.read_map(ctx).expect("map");
    for i in 0..n {
        let row = &map[i * n..(i + 1) * n];
        let sum: f32 = row.iter().sum();
        assert!((sum - 1.0).abs() < 1e-5, "row {i} sums to {sum}");
        assert!(
            row[i + 1..].iter().all(|&w| w == 0.0),
            "row {i} attends to the future"
        );
    }
}

/// lavapipe stops an invocation after 65,535 loop iterations with no error: a kernel with one
/// invocation per row gave wrong rows from N ≈ 512. This context crosses that size.
#[test]
fn attention_over_two_thousand_positions_matches_the_cpu_reference() {
    let spec = SyntheticSpec {
        layers: 1,
        context: 4096,
        ..SyntheticSpec::default()
    };
    let model = model(&spec);
    let tokens = prompt(2_100, model.config.vocab, 11);
    compare(&model, &tokens, Capture::default());
}

/// The browser's WebGPU gives a page its default limits (128 MiB per storage binding, 256 MiB
/// per buffer, 16 KiB of workgroup memory, 8 storage buffers per stage): a model of SmolLM2's
/// shape must fit them at 2k tokens and more, pipelines included.
#[test]
fn a_smollm2_shaped_model_runs_within_webgpus_default_limits_at_its_full_context() {
    let ctx = gaze::gpu::GpuContext::headless_with_limits(|_| wgpu::Limits::default())
        .expect("a device with WebGPU's default limits");
    let spec = SyntheticSpec {
        layers: 30,
        heads: 9,
        kv_heads: 3,
        d_model: 576,
        ffn: 1536,
        context: 8192,
        ..SyntheticSpec::default()
    };
    let model = model(&spec);
    let mut gpu = LlmGpu::new(&ctx, &model).expect("uploads within the default limits");
    gpu.reserve(&ctx, 8192)
        .expect("an 8,192-token context fits the default limits");
    assert!(
        gpu.bytes_allocated() < 1 << 30,
        "{} bytes at 8,192 tokens",
        gpu.bytes_allocated()
    );
    let tokens = prompt(16, model.config.vocab, 2);
    let out = gpu
        .forward(
            &ctx,
            &tokens,
            &Capture {
                map: Some((29, 8)),
                focus: None,
                overview: true,
            },
            Readback::default(),
        )
        .expect("forward")
        .wait(&ctx)
        .expect("readback");
    let mut cache = KvCache::new(&model.config);
    let cpu = model
        .forward(&mut cache, &tokens, &Capture::default())
        .expect("cpu");
    // Thirty layers of random weights amplify f32 rounding far more than a trained model does
    // (SmolLM2's own rows agree to 3e-6); the kernels themselves are compared above, step by step.
    let err = max_abs_diff(&out.focus_rows, &cpu.focus_rows);
    assert!(err < 2e-3, "focus rows differ by {err}");
}

/// The CPU reference and the GPU engine of one synthetic model, both as the views see them.
fn both_behind_the_seam(spec: &SyntheticSpec) -> (Arc<LlamaModel>, GpuLlama) {
    let cpu = Arc::new(model(spec));
    let gpu = GpuLlama::new(common::gpu().0.clone(), Arc::clone(&cpu)).expect("gpu model");
    (cpu, gpu)
}

/// A text of a few dozen byte-level tokens (merges included).
const SEAM_TEXT: &str = "the heron stands in the water and the fish swim on";

/// A view driven through `&dyn TransformerModel` sees the same model whichever engine is behind
/// it: the same tokens and, head by head, the same map — the first layer, the last layer, and
/// two query heads sharing one key/value head (grouped-query attention), which must still give
/// their own maps.
#[test]
fn the_gpu_engine_behind_the_model_seam_gives_the_cpu_references_maps() {
    let (reference, engine) = both_behind_the_seam(&SyntheticSpec::default());
    let cpu: &dyn TransformerModel = &*reference;
    let gpu: &dyn TransformerModel = &engine;
    assert_eq!(gpu.name(), cpu.name());
    assert_eq!((gpu.layers(), gpu.heads()), (cpu.layers(), cpu.heads()));
    let tokens = gpu.tokenize(SEAM_TEXT).expect("gpu tokens");
    assert_eq!(tokens, cpu.tokenize(SEAM_TEXT).expect("cpu tokens"));
    let n = tokens.len();
    assert!(n > 30, "the text is {n} tokens");

    let group = reference.config.group();
    assert!(group > 1, "the model shares key/value heads");
    let last = cpu.layers() - 1;
    let heads = [
        HeadRef { layer: 0, head: 0 },
        HeadRef {
            layer: 0,
            head: cpu.heads() - 1,
        },
        HeadRef {
            layer: last,
            head: 0,
        },
        // Shares head 0's keys and values: only its queries differ.
        HeadRef {
            layer: last,
            head: group - 1,
        },
        HeadRef {
            layer: last,
            head: cpu.heads() - 1,
        },
    ];
    let mut maps = Vec::new();
    for head in heads {
        let on_gpu = gpu.attention(SEAM_TEXT, head).expect("gpu map");
        let on_cpu = cpu.attention(SEAM_TEXT, head).expect("cpu map");
        assert_eq!(on_gpu.head, head);
        assert_eq!(on_gpu.tokens, on_cpu.tokens, "{head}: tokens");
        assert_eq!(on_gpu.causal, on_cpu.causal, "{head}: causality");
        assert_eq!(on_gpu.weights.len(), n * n, "{head}: an n × n map");
        let err = max_abs_diff(&on_gpu.weights, &on_cpu.weights);
        assert!(err < 1e-5, "{head}: maps differ by {err}");
        maps.push(on_gpu.weights);
    }
    // The shared head is not a copy of its neighbour: the GPU kept their queries apart.
    let err = max_abs_diff(&maps[2], &maps[3]);
    assert!(
        err > 1e-3,
        "heads sharing keys and values gave one map ({err})"
    );
}

/// The GPU's next-token odds through the seam are the CPU reference's: the same top tokens in
/// the same order with the same probabilities — from the top-k kernel, and past its
/// `MAX_TOP_K` from the GPU's whole logit vector.
#[test]
fn the_gpu_engine_behind_the_model_seam_predicts_the_cpu_references_next_tokens() {
    let (reference, engine) = both_behind_the_seam(&SyntheticSpec::default());
    let cpu: &dyn TransformerModel = &*reference;
    let gpu: &dyn TransformerModel = &engine;
    for top in [1, 10, MAX_TOP_K + 5] {
        let on_gpu = gpu
            .next_tokens(SEAM_TEXT, top)
            .expect("gpu odds")
            .expect("a real model predicts words");
        let on_cpu = cpu
            .next_tokens(SEAM_TEXT, top)
            .expect("cpu odds")
            .expect("a real model predicts words");
        assert_eq!(on_gpu.len(), top, "top {top}");
        let ids = |ranked: &[(gaze::model::transformer::Token, f32)]| -> Vec<Option<u32>> {
            ranked.iter().map(|(t, _)| t.id).collect()
        };
        // Past the first ten, neighbours of nearly equal odds may trade places by a rounding.
        let agreed = top.min(10);
        assert_eq!(
            ids(&on_gpu)[..agreed],
            ids(&on_cpu)[..agreed],
            "top {top}: the likeliest tokens"
        );
        let probabilities = |ranked: &[(gaze::model::transformer::Token, f32)]| -> Vec<f32> {
            ranked.iter().take(agreed).map(|(_, p)| *p).collect()
        };
        let err = max_abs_diff(&probabilities(&on_gpu), &probabilities(&on_cpu));
        assert!(err < 1e-5, "top {top}: probabilities differ by {err}");
    }
    assert_eq!(
        gpu.next_tokens(SEAM_TEXT, 0).expect("none asked for"),
        Some(Vec::new())
    );
}

/// What the CPU reference refuses, the GPU engine refuses through the seam with the same typed
/// error — a head past either bound, an empty text — never a panic, and it still answers after.
#[test]
fn a_head_the_model_lacks_is_an_error_from_the_gpu_engine_not_a_panic() {
    let (reference, engine) = both_behind_the_seam(&SyntheticSpec::default());
    let gpu: &dyn TransformerModel = &engine;
    let outside = [
        HeadRef {
            layer: gpu.layers(),
            head: 0,
        },
        HeadRef {
            layer: 0,
            head: gpu.heads(),
        },
    ];
    for head in outside {
        match gpu.attention(SEAM_TEXT, head) {
            Err(ModelError::NoSuchHead { head: refused, .. }) => assert_eq!(refused, head),
            other => panic!("{head}: {other:?}"),
        }
        let message = reference
            .attention(SEAM_TEXT, head)
            .expect_err("the reference refuses it too")
            .to_string();
        assert!(message.contains("is not in"), "{message}");
    }
    assert!(matches!(
        gpu.attention("", HeadRef { layer: 0, head: 0 }),
        Err(ModelError::Llm(_))
    ));
    assert!(matches!(gpu.next_tokens("", 5), Err(ModelError::Llm(_))));
    let map = gpu
        .attention(SEAM_TEXT, HeadRef { layer: 0, head: 0 })
        .expect("the engine still answers after refusing");
    assert!(!map.weights.is_empty());
}
