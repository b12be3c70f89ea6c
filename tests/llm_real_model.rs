//! Facts about the real SmolLM2-135M-Instruct file (`tools/fetch-models.sh smollm2`), held by the
//! CPU reference, the GPU kernels and the independent float64 numpy reference
//! (`tests/fixtures/smollm2_reference.json`) and HF `tokenizers` (`smollm2_tokenization.json`).
//!
//! The file is never committed. Set `GAZE_MODEL` to its path to run these; without it each test
//! prints a loud notice and passes — unless `GAZE_REQUIRE_MODEL=1` (set by `.ci/run`, which
//! fetches the file first), where a missing file fails.

mod common;

use std::sync::{Mutex, OnceLock};

use gaze::app::llm::{generate, Engine};
use gaze::gpu::llm::{LlmGpu, Readback};
use gaze::model::llm::forward::top_k;
use gaze::model::llm::gguf::GgufFile;
use gaze::model::llm::sample::Sampler;
use gaze::model::llm::{Capture, KvCache, LlamaModel};
use serde_json::Value;

const SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

/// The model, loaded once per test binary; `None` (after a loud notice) when it is absent.
fn model() -> Option<&'static LlamaModel> {
    static MODEL: OnceLock<Option<LlamaModel>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let path = common::real_model_path()?;
            let file = GgufFile::open(&path)
                .unwrap_or_else(|e| panic!("GAZE_MODEL={}: {e}", path.display()));
            Some(LlamaModel::from_gguf(&file).expect("SmolLM2 loads"))
        })
        .as_ref()
}

/// One GPU copy of the model for the whole binary (uploading it takes seconds on lavapipe).
fn gpu(model: &LlamaModel) -> std::sync::MutexGuard<'static, LlmGpu> {
    static GPU: OnceLock<Mutex<LlmGpu>> = OnceLock::new();
    GPU.get_or_init(|| Mutex::new(LlmGpu::new(&common::gpu().0, model).expect("upload")))
        .lock()
        .unwrap_or_else(|p| p.into_inner())
}

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    serde_json::from_str(&std::fs::read_to_string(path).expect("fixture")).expect("JSON")
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|i| i.as_u64().expect("id") as u32)
        .collect()
}

fn floats(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(items) => items.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().expect("number") as f32],
        other => panic!("not a number array: {other}"),
    }
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len(), "lengths differ");
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn the_fixtures_were_made_from_this_very_file() {
    let Some(_) = model() else { return };
    assert_eq!(fixture("smollm2_reference.json")["file_sha256"], SHA256);
    assert_eq!(fixture("smollm2_tokenization.json")["file_sha256"], SHA256);
    assert_eq!(
        fixture("smollm2_lesson_reference.json")["file_sha256"],
        SHA256
    );
}

#[test]
fn hyper_parameters_are_read_from_the_file() {
    let Some(model) = model() else { return };
    let c = &model.config;
    assert_eq!(
        (c.layers, c.heads, c.kv_heads, c.d_model, c.d_head, c.ffn, c.vocab, c.context),
        (30, 9, 3, 576, 64, 1536, 49_152, 8192)
    );
    assert_eq!(c.rope_base, 100_000.0);
    assert!(
        model.output.is_none(),
        "SmolLM2 ties its output to the embedding"
    );
}

#[test]
fn the_capital_of_france_is_tokenized_as_the_model_was_trained() {
    let Some(model) = model() else { return };
    assert_eq!(
        model.tokenizer.encode("The capital of France is"),
        vec![504, 3575, 282, 4649, 314]
    );
}

#[test]
fn tokenizer_matches_hf_tokenizers_on_every_fixture_case() {
    let Some(model) = model() else { return };
    let cases = fixture("smollm2_tokenization.json");
    let cases = cases["cases"].as_array().expect("cases");
    assert!(cases.len() >= 40);
    for case in cases {
        let text = case["text"].as_str().expect("text");
        let expected = ids(&case["ids"]);
        assert_eq!(model.tokenizer.encode(text), expected, "{text:?}");
        assert_eq!(model.tokenizer.decode(&expected).expect("decodes"), text);
    }
}

#[test]
fn cpu_reference_agrees_with_the_float64_numpy_reference() {
    let Some(model) = model() else { return };
    let reference = fixture("smollm2_reference.json");
    for prompt in reference["prompts"].as_array().expect("prompts") {
        let tokens = ids(&prompt["token_ids"]);
        let mut cache = KvCache::new(&model.config);
        let out = model
            .forward(&mut cache, &tokens, &Capture::default())
            .expect("forward");
        // The top 50 logits (f32 over 30 layers against f64: a few thousandths of ~17).
        for entry in prompt["top"].as_array().expect("top") {
            let id = entry["id"].as_u64().expect("id") as usize;
            let (got, value) = (
                out.logits[id],
                entry["logit"].as_f64().expect("logit") as f32,
            );
            assert!(
                (got - value).abs() < 2e-2,
                "logit of {id}: {got} vs {value}"
            );
        }
        let err = max_abs_diff(&out.focus_rows, &floats(&prompt["focus_rows"]));
        assert!(err < 2e-3, "focus rows differ from numpy by {err}");
        let reference_top = prompt["top"][0]["id"].as_u64().expect("id") as u32;
        assert_eq!(top_k(&out.logits, 1, 1.0)[0].0, reference_top);
    }
}

#[test]
fn paris_is_the_most_likely_next_token_on_cpu_and_gpu_with_the_same_logits() {
    let Some(model) = model() else { return };
    let ctx = &common::gpu().0;
    let tokens = model.tokenizer.encode("The capital of France is");
    let mut cache = KvCache::new(&model.config);
    let cpu = model
        .forward(&mut cache, &tokens, &Capture::default())
        .expect("cpu");
    let mut gpu = gpu(model);
    gpu.reset();
    let out = gpu
        .forward(
            ctx,
            &tokens,
            &Capture {
                map: Some((15, 0)),
                ..Capture::default()
            },
            Readback {
                logits: true,
                top_k: 5,
                temperature: 1.0,
            },
        )
        .expect("gpu")
        .wait(ctx)
        .expect("readback");
    let paris = out.top[0];
    assert_eq!(model.tokenizer.token_text(paris.0), " Paris");
    assert!((paris.1 - 0.7725).abs() < 2e-3, "p(Paris) = {}", paris.1);
    assert_eq!(top_k(&cpu.logits, 1, 1.0)[0].0, paris.0);
    let err = max_abs_diff(out.logits.as_deref().expect("logits"), &cpu.logits);
    assert!(err < 2e-3 * 18.0, "GPU and CPU logits differ by {err}");
    // Every row of a real head's map sums to 1 with zeros above the diagonal.
    let n = tokens.len();
    let map = gpu.read_map(ctx).expect("map");
    for i in 0..n {
        let row = &map[i * n..(i + 1) * n];
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5, "row {i}");
        assert!(
            row[i + 1..].iter().all(|&w| w == 0.0),
            "row {i} sees the future"
        );
    }
    for (layer, head) in [(0, 0), (15, 0), (29, 8)] {
        let row = &out.focus_rows[(layer * 9 + head) * n..][..n];
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-5);
    }
}

#[test]
fn gpu_attention_of_a_64_token_prompt_matches_numpy_at_every_layer_and_head() {
    // RoPE's pair layout shows in the attention rows long before it shows in the argmax.
    let Some(model) = model() else { return };
    let ctx = &common::gpu().0;
    let reference = fixture("smollm2_reference.json");
    let prompt = &reference["prompts"][1];
    let tokens = ids(&prompt["token_ids"]);
    assert_eq!(tokens.len(), 64);
    let mut gpu = gpu(model);
    gpu.reset();
    let out = gpu
        .forward(ctx, &tokens, &Capture::default(), Readback::default())
        .expect("gpu")
        .wait(ctx)
        .expect("readback");
    let err = max_abs_diff(&out.focus_rows, &floats(&prompt["focus_rows"]));
    assert!(err < 2e-3, "GPU focus rows differ from numpy by {err}");
}

#[test]
fn greedy_generation_continues_with_paris_on_both_engines() {
    let Some(model) = model() else { return };
    let mut texts = Vec::new();
    for cpu in [false, true] {
        let mut engine = if cpu {
            Engine::Cpu
        } else {
            Engine::gpu(common::gpu().0.clone(), model).expect("gpu")
        };
        let mut out = Vec::new();
        let sampler = Sampler::new(0.0, 1, 0).expect("greedy");
        generate(
            model,
            "The capital of France is",
            6,
            sampler,
            &mut engine,
            &mut out,
        )
        .expect("generate");
        texts.push(String::from_utf8(out).expect("UTF-8"));
    }
    assert!(texts[0].starts_with(" Paris"), "{:?}", texts[0]);
    assert_eq!(
        texts[0], texts[1],
        "GPU and CPU greedy continuations differ"
    );
}

#[test]
fn a_seed_replays_the_same_sampled_continuation() {
    let Some(model) = model() else { return };
    let run = |seed| {
        let mut out = Vec::new();
        let sampler = Sampler::new(0.8, 40, seed).expect("sampler");
        generate(
            model,
            "Once upon a time",
            8,
            sampler,
            &mut Engine::Cpu,
            &mut out,
        )
        .expect("generate");
        String::from_utf8(out).expect("UTF-8")
    };
    assert_eq!(run(7), run(7));
}

#[test]
fn a_prompt_longer_than_the_context_is_refused_with_the_numbers() {
    let Some(model) = model() else { return };
    let prompt = "word ".repeat(9000);
    let err = gaze::app::llm::tokenize_prompt(model, &prompt, 0).expect_err("too long");
    let message = err.to_string();
    assert!(message.contains("8192"), "{message}");
}

/// Step 1 on the real model: the seed corpus's endings, token by token, and the prefix's own
/// top 10, against the float64 numpy reference tokenized by HF `tokenizers`
/// (`tests/fixtures/smollm2_lesson_reference.json`).
#[test]
fn real_odds_of_the_seed_corpus_match_the_numpy_reference() {
    let Some(model) = model() else { return };
    let reference = fixture("smollm2_lesson_reference.json");
    let endings: Vec<&str> = reference["endings"]
        .as_array()
        .expect("endings")
        .iter()
        .map(|e| e["ending"].as_str().expect("ending"))
        .collect();
    let prefix = reference["prefix"].as_str().expect("prefix");
    let odds = model.prefix_odds(prefix, &endings, 10).expect("odds");
    assert_eq!(
        model.tokenizer.encode(prefix),
        ids(&reference["prefix_ids"])
    );
    for (chain, want) in odds
        .endings
        .iter()
        .zip(reference["endings"].as_array().unwrap())
    {
        let got_ids: Vec<u32> = chain.tokens.iter().map(|t| t.id).collect();
        assert_eq!(got_ids, ids(&want["token_ids"]), "{}", chain.ending);
        for (token, step) in chain.tokens.iter().zip(want["steps"].as_array().unwrap()) {
            let want_lp = step["log_probability"].as_f64().unwrap();
            let got_lp = (token.probability as f64).ln();
            assert!(
                (got_lp - want_lp).abs() < 2e-3,
                "{}: {got_lp} vs {want_lp}",
                token.token
            );
        }
        let want_lp = want["log_probability"].as_f64().unwrap();
        assert!(
            (chain.log_probability - want_lp).abs() < 5e-3,
            "{}: {} vs {want_lp}",
            chain.ending,
            chain.log_probability
        );
    }
    // ` mongodb` is three tokens, and the web-trained model does not prefer the seed corpus's
    // winner: its likeliest database here is another.
    assert_eq!(odds.endings[0].tokens.len(), 3);
    let texts: Vec<&str> = odds.endings[0]
        .tokens
        .iter()
        .map(|t| t.token.as_str())
        .collect();
    assert_eq!(texts, [" m", "ong", "odb"]);
    assert_ne!(odds.prediction().expect("a prediction").ending, "mongodb");
    let want_top = reference["top"].as_array().unwrap();
    assert_eq!(odds.top.len(), 10);
    for (got, want) in odds.top.iter().zip(want_top) {
        assert_eq!(got.id as u64, want["id"].as_u64().unwrap());
        let p = want["probability"].as_f64().unwrap();
        assert!((got.probability as f64 - p).abs() < 1e-3, "{}", got.token);
    }
}

/// The logit lens at the prefix's last token, rung by rung, against the numpy reference: the
/// same top token per layer (unless the reference's top two are within 1e-3 of each other) and
/// the same probabilities by rank.
#[test]
fn the_real_logit_lens_matches_the_numpy_reference() {
    let Some(model) = model() else { return };
    let reference = fixture("smollm2_lesson_reference.json");
    let prefix_ids = ids(&reference["prefix_ids"]);
    let lens = model
        .logit_lens(&prefix_ids, prefix_ids.len() - 1, 3)
        .expect("lens");
    let want = reference["lens"].as_array().expect("lens");
    assert_eq!(lens.len(), 30);
    for (rung, want) in lens.iter().zip(want) {
        let top = want["top"].as_array().unwrap();
        for (rank, (got, want)) in rung.top.iter().zip(top).enumerate() {
            let p = want["probability"].as_f64().unwrap();
            assert!(
                (got.probability as f64 - p).abs() < 2e-3,
                "layer {} rank {rank}: {} vs {p}",
                rung.layer,
                got.probability
            );
        }
        let p = |r: usize| top[r]["probability"].as_f64().unwrap();
        if p(0) - p(1) > 1e-3 {
            assert_eq!(
                rung.top[0].id as u64,
                top[0]["id"].as_u64().unwrap(),
                "layer {}",
                rung.layer
            );
        }
    }
    // The last rung is the model's own guess after the prefix.
    assert_eq!(lens[29].top[0].token, " the");
}

/// The attention sink is real: in SmolLM2 most heads of the middle layers put most of the last
/// row on the first token (the reason step 3 offers "hide the first token").
#[test]
fn the_first_token_takes_most_of_the_last_row_in_most_middle_layer_heads() {
    let Some(model) = model() else { return };
    let reference = fixture("smollm2_lesson_reference.json");
    let prefix_ids = ids(&reference["prefix_ids"]);
    let mut cache = KvCache::new(&model.config);
    let out = model
        .forward(&mut cache, &prefix_ids, &Capture::default())
        .expect("forward");
    let want = reference["sink_last_row"].as_array().expect("sink");
    let heads = model.config.heads;
    let mut heavy = 0;
    let mut middle = 0;
    for (layer, want_layer) in want.iter().enumerate() {
        for (head, numpy) in want_layer.as_array().expect("heads").iter().enumerate() {
            let share = out.focus_row(heads, layer, head)[0];
            let numpy = numpy.as_f64().unwrap();
            assert!(
                (share as f64 - numpy).abs() < 1e-3,
                "layer {layer} head {head}"
            );
            if (3..=8).contains(&layer) || (17..=28).contains(&layer) {
                middle += 1;
                heavy += usize::from(share >= 0.6);
            }
        }
    }
    assert!(
        heavy * 4 >= middle * 3,
        "{heavy} of {middle} middle-layer heads"
    );
}
