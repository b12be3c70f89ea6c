//! The CPU reference and the GPU engine against an independent implementation: a float64 numpy
//! forward pass (`tools/llm_reference.py`) of a small random-weight GGUF written by the PyPI
//! `gguf` package's own writer (`tools/make_tiny_gguf.py`). Both files are committed
//! (`tests/fixtures/llm_tiny*.{gguf,json}`; `how_made` in the JSON says how), so this runs
//! everywhere with no download, and it checks the reader, the tokenizer, RoPE's pair layout and
//! every tensor type against code Gaze did not write.

mod common;

use gaze::gpu::llm::{LlmGpu, Readback};
use gaze::model::llm::gguf::GgufFile;
use gaze::model::llm::{Capture, KvCache, LlamaModel};
use serde_json::Value;

fn fixture() -> (LlamaModel, Value) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let file = GgufFile::open(&dir.join("llm_tiny.gguf")).expect("the tiny GGUF parses");
    let model = LlamaModel::from_gguf(&file).expect("the tiny model loads");
    let text = std::fs::read_to_string(dir.join("llm_tiny_reference.json")).expect("fixture");
    (model, serde_json::from_str(&text).expect("fixture is JSON"))
}

fn floats(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(items) => items.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().expect("a number") as f32],
        other => panic!("not a number array: {other}"),
    }
}

fn ids(v: &Value) -> Vec<u32> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|i| i.as_u64().expect("an id") as u32)
        .collect()
}

/// max |a − b| ≤ tolerance × max(1, max |b|).
fn assert_close(what: &str, a: &[f32], b: &[f32], tolerance: f32) {
    assert_eq!(a.len(), b.len(), "{what}: lengths differ");
    let scale = b.iter().fold(1.0f32, |m, v| m.max(v.abs()));
    let err = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max);
    assert!(
        err <= tolerance * scale,
        "{what}: max error {err} (scale {scale}, tolerance {tolerance})"
    );
}

#[test]
fn the_tiny_models_hyper_parameters_come_from_its_metadata() {
    let (model, reference) = fixture();
    let c = &model.config;
    let m = &reference["model"];
    assert_eq!(c.layers as u64, m["layers"].as_u64().unwrap_or(2));
    assert_eq!((c.heads, c.kv_heads, c.d_model, c.d_head), (4, 2, 64, 16));
    assert_eq!(c.vocab, model.tokenizer.vocab_size());
    assert!(model.output.is_none(), "the embedding is tied");
}

#[test]
fn the_tokenizer_reads_the_tiny_files_vocabulary_as_its_writer_meant() {
    let (model, reference) = fixture();
    let text = reference["text"].as_str().expect("text");
    assert_eq!(model.tokenizer.encode(text), ids(&reference["token_ids"]));
    assert_eq!(
        model
            .tokenizer
            .decode(&ids(&reference["token_ids"]))
            .expect("decodes"),
        text
    );
}

#[test]
fn cpu_reference_matches_the_numpy_float64_forward_pass() {
    let (model, reference) = fixture();
    let tokens = ids(&reference["token_ids"]);
    let n = tokens.len();
    for map in reference["attention_maps"].as_array().expect("maps") {
        let (layer, head) = (
            map["layer"].as_u64().expect("layer") as usize,
            map["head"].as_u64().expect("head") as usize,
        );
        let mut cache = KvCache::new(&model.config);
        let out = model
            .forward(
                &mut cache,
                &tokens,
                &Capture {
                    map: Some((layer, head)),
                    ..Capture::default()
                },
            )
            .expect("forward");
        let weights = out.map.expect("map").weights;
        assert_close(
            &format!("map {layer}.{head}"),
            &weights,
            &floats(&map["weights"]),
            1e-4,
        );
        assert_eq!(weights.len(), n * n);
    }
    let mut cache = KvCache::new(&model.config);
    let out = model
        .forward(&mut cache, &tokens, &Capture::default())
        .expect("forward");
    assert_close(
        "last logits",
        &out.logits,
        &floats(&reference["last_logits"]),
        1e-4,
    );
    assert_close(
        "focus rows",
        &out.focus_rows,
        &floats(&reference["focus_rows"]),
        1e-4,
    );
}

#[test]
fn gpu_engine_matches_the_numpy_float64_forward_pass() {
    let ctx = &common::gpu().0;
    let (model, reference) = fixture();
    let tokens = ids(&reference["token_ids"]);
    let mut gpu = LlmGpu::new(ctx, &model).expect("gpu model");
    let out = gpu
        .forward(
            ctx,
            &tokens,
            &Capture {
                map: Some((1, 1)),
                ..Capture::default()
            },
            Readback {
                logits: true,
                top_k: 5,
                temperature: 1.0,
            },
        )
        .expect("forward")
        .wait(ctx)
        .expect("readback");
    assert_close(
        "last logits",
        out.logits.as_deref().expect("logits"),
        &floats(&reference["last_logits"]),
        1e-4,
    );
    assert_close(
        "focus rows",
        &out.focus_rows,
        &floats(&reference["focus_rows"]),
        1e-4,
    );
    let expected = reference["attention_maps"]
        .as_array()
        .expect("maps")
        .iter()
        .find(|m| m["layer"] == 1 && m["head"] == 1)
        .expect("layer 1 head 1 in the fixture");
    assert_close(
        "map 1.1",
        &gpu.read_map(ctx).expect("map"),
        &floats(&expected["weights"]),
        1e-4,
    );
    let top: Vec<u32> = reference["top"]
        .as_array()
        .expect("top")
        .iter()
        .take(5)
        .map(|t| t["id"].as_u64().expect("id") as u32)
        .collect();
    assert_eq!(out.top.iter().map(|t| t.0).collect::<Vec<_>>(), top);
}
