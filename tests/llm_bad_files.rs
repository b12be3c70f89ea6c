//! Bad model files, at the library level: every one is refused with the error kind that names
//! its problem and a one-line message saying what is wrong (the tensor, the key, the number),
//! never a panic, and never an allocation or a read the file asked for before it was checked.
//! The files are the synthetic model (`synthetic_gguf`) corrupted byte by byte, or rewritten
//! with `GgufWriter`; the large ones are sparse files in a temporary folder, and what opening
//! them reads is measured in bytes (`/proc/self/io`), not in seconds.
//!
//! `tests/llm_cli.rs` checks the same refusals through `gaze inspect/generate --model`;
//! `fuzz/fuzz_targets/gguf_file.rs` throws arbitrary bytes at the reader and loader.

use std::io::Write;
use std::path::{Path, PathBuf};

use gaze::model::llm::gguf::{
    GgufError, GgufFile, GgufOpenError, GgufWriter, Value, MAX_FILE_BYTES,
};
use gaze::model::llm::synthetic::{synthetic_gguf, SyntheticSpec};
use gaze::model::llm::{Capture, KvCache, LlamaModel, LlmError};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::{RngCore, SeedableRng};

// ---------------------------------------------------------------------------------------------
// Helpers

fn synthetic() -> Vec<u8> {
    synthetic_gguf(&SyntheticSpec::default())
}

/// Parses then loads, as `gaze --model` does.
fn load(bytes: Vec<u8>) -> Result<LlamaModel, LlmError> {
    let file = GgufFile::parse(bytes)?;
    LlamaModel::from_gguf(&file)
}

fn load_err(bytes: Vec<u8>) -> LlmError {
    load(bytes).expect_err("a bad file loaded")
}

fn parse_err(bytes: Vec<u8>) -> GgufError {
    GgufFile::parse(bytes).expect_err("a bad file parsed")
}

/// A message fit for one line of stderr: not empty, no line breaks or other control characters.
fn assert_one_line(message: &str) {
    assert!(!message.trim().is_empty(), "an empty message");
    assert!(
        !message.chars().any(char::is_control),
        "not one line: {message:?}"
    );
}

/// The offset just past `name` in the tensor table: the tensor's dimension count starts there,
/// then its dimensions (u64 each), its type (u32) and its offset (u64).
fn after_tensor_name(bytes: &[u8], name: &str) -> usize {
    let mut needle = (name.len() as u64).to_le_bytes().to_vec();
    needle.extend_from_slice(name.as_bytes());
    bytes
        .windows(needle.len())
        .rposition(|w| w == needle)
        .unwrap_or_else(|| panic!("no tensor entry {name}"))
        + needle.len()
}

/// Where the `index`-th (0-based) u64 dimension of tensor `name` sits in the file.
fn dim_at(bytes: &[u8], name: &str, index: usize) -> usize {
    after_tensor_name(bytes, name) + 4 + 8 * index
}

/// Where tensor `name`'s type id sits: after its dimensions.
fn type_at(bytes: &[u8], name: &str) -> usize {
    let at = after_tensor_name(bytes, name);
    let n_dims = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
    at + 4 + 8 * n_dims
}

fn put_u64(bytes: &mut [u8], at: usize, value: u64) {
    bytes[at..at + 8].copy_from_slice(&value.to_le_bytes());
}

/// A metadata value as the writer writes it back: integers as u32/i32, floats as f32 (what the
/// synthetic file holds).
fn kind_of(value: &Value) -> u32 {
    match value {
        Value::U64(_) => 4,
        Value::I64(_) => 5,
        Value::F64(_) => 6,
        Value::Bool(_) => 7,
        Value::String(_) => 8,
        Value::Array(_) => 9,
    }
}

/// One tensor as the writer takes it: name, dims, ggml type id, data.
type RawTensor = (String, Vec<u64>, u32, Vec<u8>);

/// The synthetic model written again through `GgufWriter`, its metadata and tensors edited
/// first.
fn rewritten(edit: impl FnOnce(&mut Vec<(String, Value)>, &mut Vec<RawTensor>)) -> Vec<u8> {
    let file = GgufFile::parse(synthetic()).expect("the synthetic model parses");
    let mut metadata: Vec<(String, Value)> = file
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut tensors: Vec<RawTensor> = file
        .tensors
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.dims.clone(),
                t.kind.ggml_id(),
                file.tensor_bytes(t).to_vec(),
            )
        })
        .collect();
    edit(&mut metadata, &mut tensors);
    let mut w = GgufWriter::new();
    for (key, value) in metadata {
        w.value(&key, kind_of(&value), value);
    }
    for (name, dims, kind, data) in tensors {
        w.raw_tensor(&name, &dims, kind, data);
    }
    w.to_bytes()
}

/// A fresh folder for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gaze-llm-bad-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// `head` then zeros to `len` bytes, as a sparse file: no disk is spent on the zeros.
fn sparse_file(path: &Path, head: &[u8], len: u64) {
    let mut file = std::fs::File::create(path).unwrap();
    file.write_all(head).unwrap();
    file.set_len(len).unwrap();
}

fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

/// Bytes this process has read through `read` calls so far (`rchar`), where Linux says.
fn bytes_read() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("rchar: "))
        .and_then(|n| n.trim().parse().ok())
}

/// Opens `path`, asserting the whole process read less than 1 GiB meanwhile: the 2 GiB files
/// below must not be read whole (other tests, in parallel, read a few megabytes at most).
fn open_reading_little(path: &Path) -> Result<GgufFile, GgufOpenError> {
    let before = bytes_read();
    let result = GgufFile::open(path);
    if let (Some(before), Some(after)) = (before, bytes_read()) {
        assert!(
            after - before < 1 << 30,
            "opening {} read {} bytes",
            path.display(),
            after - before
        );
    }
    result
}

// ---------------------------------------------------------------------------------------------
// Cut short, or not GGUF at all

#[test]
fn a_file_cut_anywhere_is_refused_the_same_by_parse_and_open() {
    let bytes = synthetic();
    let dir = scratch("cuts");
    let cuts = (0..bytes.len())
        .step_by(997)
        .chain(bytes.len() - 64..bytes.len());
    for cut in cuts {
        let prefix = bytes[..cut].to_vec();
        let parsed = GgufFile::parse(prefix.clone());
        let err = match parsed {
            Ok(file) => match LlamaModel::from_gguf(&file) {
                Ok(_) => panic!("a file cut at {cut} of {} loaded", bytes.len()),
                Err(err) => err.to_string(),
            },
            Err(err) => {
                // The streaming reader behind `open` must refuse a file exactly as `parse` does.
                let path = dir.join(format!("cut{cut}.gguf"));
                std::fs::write(&path, &prefix).unwrap();
                assert_eq!(
                    GgufFile::open(&path).err(),
                    Some(GgufOpenError::Format(err.clone())),
                    "cut at {cut}"
                );
                std::fs::remove_file(&path).unwrap();
                err.to_string()
            }
        };
        assert_one_line(&err);
    }
    // Cut inside the tensor data, the last tensor is named as past the end.
    let err = parse_err(bytes[..bytes.len() - 1].to_vec());
    assert!(
        matches!(&err, GgufError::TensorOutOfBounds { name, .. } if name == "output_norm.weight"),
        "{err:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_wrong_magic_is_refused_as_bad_magic_naming_the_bytes() {
    let mut bytes = synthetic();
    bytes[..4].copy_from_slice(b"GGML");
    let first = bytes[..16].to_vec();
    let err = parse_err(bytes);
    assert_eq!(err, GgufError::BadMagic { found: first });
    let message = err.to_string();
    assert_one_line(&message);
    assert!(
        message.starts_with("this is not a GGUF file: it starts with \"GGML\", not \"GGUF\""),
        "{message}"
    );
}

#[test]
fn an_empty_file_is_named_empty() {
    let dir = scratch("empty");
    let path = dir.join("empty.gguf");
    std::fs::write(&path, b"").unwrap();
    assert_eq!(
        GgufFile::open(&path).err(),
        Some(GgufOpenError::Format(GgufError::Empty))
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------------
// The tensor table

#[test]
fn a_tensor_past_the_end_of_the_file_is_refused_by_name() {
    let mut bytes = synthetic();
    let len = bytes.len() as u64;
    let at = type_at(&bytes, "blk.0.attn_q.weight") + 4;
    put_u64(&mut bytes, at, 1 << 30);
    let err = parse_err(bytes);
    assert!(
        matches!(&err, GgufError::TensorOutOfBounds { name, end, len: l, .. }
            if name == "blk.0.attn_q.weight" && *end > 1 << 30 && *l == len),
        "{err:?}"
    );
    let message = err.to_string();
    assert_one_line(&message);
    assert!(
        message.contains("tensor blk.0.attn_q.weight claims bytes")
            && message.contains("past the file's end"),
        "{message}"
    );
}

#[test]
fn a_tensor_of_two_to_the_forty_values_is_refused_from_its_dimensions_alone() {
    // The file's bytes are unchanged: only the table claims 2^40 values. Were anything sized
    // by the claim (4 TiB of f32), this test would abort, not fail.
    let mut bytes = synthetic();
    for index in 0..2 {
        let at = dim_at(&bytes, "blk.0.attn_q.weight", index);
        put_u64(&mut bytes, at, 1 << 20);
    }
    let err = parse_err(bytes);
    assert!(
        matches!(&err, GgufError::BadDimensions { name, dims, .. }
            if name == "blk.0.attn_q.weight" && dims == &[1 << 20, 1 << 20]),
        "{err:?}"
    );
    let message = err.to_string();
    assert_one_line(&message);
    assert!(
        message.contains("1099511627776 values, more than the 2^36"),
        "{message}"
    );
}

#[test]
fn an_unsupported_quant_type_names_the_tensor_and_the_type() {
    for (id, kind) in [
        (13, "Q5_K"),
        (12, "Q4_K"),
        (14, "Q6_K"),
        (30, "BF16"),
        (99, "ggml type 99"),
    ] {
        let bytes = rewritten(|_, tensors| {
            let q = tensors
                .iter_mut()
                .find(|t| t.0 == "blk.0.attn_q.weight")
                .unwrap();
            q.2 = id;
        });
        let err = load_err(bytes);
        assert!(
            matches!(&err, LlmError::Gguf(GgufError::UnsupportedTensorType { name, kind: k })
                if name == "blk.0.attn_q.weight" && k == kind),
            "{err:?}"
        );
        let message = err.to_string();
        assert_one_line(&message);
        assert!(
            message.contains(&format!(
                "blk.0.attn_q.weight is {kind}, which Gaze does not read yet"
            )),
            "{message}"
        );
    }
}

#[test]
fn a_missing_tensor_is_refused_by_name() {
    let bytes = rewritten(|_, tensors| tensors.retain(|t| t.0 != "blk.1.ffn_down.weight"));
    let err = load_err(bytes);
    assert!(
        matches!(&err, LlmError::Gguf(GgufError::MissingTensor(name)) if name == "blk.1.ffn_down.weight"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the GGUF file has no tensor `blk.1.ffn_down.weight`"
    );
}

#[test]
fn a_tensor_of_the_wrong_shape_is_refused_with_both_shapes() {
    // attn_k is [d_model, kv_width] = [64, 32]; written [32, 64] it has the same bytes.
    let bytes = rewritten(|_, tensors| {
        let k = tensors
            .iter_mut()
            .find(|t| t.0 == "blk.0.attn_k.weight")
            .unwrap();
        k.1.reverse();
    });
    let err = load_err(bytes);
    assert!(
        matches!(&err, LlmError::Shape { name, expected, found }
            if name == "blk.0.attn_k.weight" && expected == &[64, 32] && found == &[32, 64]),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "tensor blk.0.attn_k.weight has dims [32, 64], but the file's hyper-parameters ask for [64, 32]"
    );
}

#[test]
fn a_tensor_named_twice_is_refused_by_name() {
    let bytes = rewritten(|_, tensors| {
        let norm = tensors
            .iter()
            .find(|t| t.0 == "output_norm.weight")
            .unwrap()
            .clone();
        tensors.push(norm);
    });
    let err = load_err(bytes);
    assert!(
        matches!(&err, LlmError::Gguf(GgufError::Duplicate { what: "tensor", name }) if name == "output_norm.weight"),
        "{err:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Metadata

#[test]
fn an_unsupported_architecture_is_refused_by_name() {
    let bytes = rewritten(|metadata, _| {
        for (key, value) in metadata.iter_mut() {
            if key == "general.architecture" {
                *value = Value::String("gpt2".into());
            }
        }
    });
    let err = load_err(bytes);
    assert!(
        matches!(&err, LlmError::UnsupportedArchitecture(arch) if arch == "gpt2"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "this file's architecture is `gpt2`; Gaze runs Llama-family models (`llama`) only"
    );
}

#[test]
fn a_key_given_twice_is_refused_by_name() {
    let bytes = rewritten(|metadata, _| {
        metadata.push(("llama.block_count".into(), Value::U64(3)));
    });
    let err = load_err(bytes);
    assert!(
        matches!(&err, LlmError::Gguf(GgufError::Duplicate { what: "metadata key", name }) if name == "llama.block_count"),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "the GGUF file has two metadata keys named `llama.block_count`"
    );
}

#[test]
fn metadata_claiming_two_to_the_sixty_strings_is_refused_before_reserving_them() {
    let mut bytes = synthetic();
    let key = b"tokenizer.ggml.tokens";
    let mut needle = (key.len() as u64).to_le_bytes().to_vec();
    needle.extend_from_slice(key);
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap()
        + needle.len();
    // The value type (9, an array), the element type (8, strings), then the count.
    assert_eq!(bytes[at..at + 8], [9, 0, 0, 0, 8, 0, 0, 0]);
    put_u64(&mut bytes, at + 8, 1 << 60);
    let err = parse_err(bytes);
    assert!(
        matches!(&err, GgufError::TooMany { what, count, items, .. }
            if what == "metadata `tokenizer.ggml.tokens`" && *count == 1 << 60 && items == "strings"),
        "{err:?}"
    );
    let message = err.to_string();
    assert_one_line(&message);
    assert!(
        message.starts_with(
            "the GGUF file's metadata `tokenizer.ggml.tokens` claims 1152921504606846976 strings, but the "
        ),
        "{message}"
    );
}

#[test]
fn a_key_with_a_line_break_is_quoted_on_one_line() {
    let bytes = rewritten(|metadata, _| {
        for (key, value) in metadata.iter_mut() {
            if key == "general.architecture" {
                *value = Value::String("gpt2\nERROR: fake second line".into());
            }
        }
    });
    let message = load_err(bytes).to_string();
    assert_one_line(&message);
    assert!(
        message.contains(r"`gpt2\nERROR: fake second line`"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------------------------
// Large files, on disk

#[test]
fn a_sparse_two_gib_file_of_random_bytes_is_refused_from_its_first_bytes() {
    let dir = scratch("random");
    let path = dir.join("random.gguf");
    let mut head = noise(1 << 20, 7);
    head[0] = 0; // not "GGUF" by chance
    sparse_file(&path, &head, 2 << 30);
    let err = open_reading_little(&path).expect_err("2 GiB of noise opened");
    assert!(
        matches!(
            &err,
            GgufOpenError::Format(GgufError::BadMagic { found }) if found[..] == head[..16]
        ),
        "{err:?}"
    );
    assert_one_line(&err.to_string());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_sparse_two_gib_file_with_a_valid_header_and_noise_after_it_is_refused_from_its_table() {
    let dir = scratch("header");
    for seed in 0..8 {
        let path = dir.join(format!("header{seed}.gguf"));
        let mut head = b"GGUF\x03\x00\x00\x00".to_vec();
        head.extend_from_slice(&300u64.to_le_bytes()); // tensors
        head.extend_from_slice(&20u64.to_le_bytes()); // metadata entries
        head.extend_from_slice(&noise(1 << 20, seed));
        sparse_file(&path, &head, 2 << 30);
        let err = open_reading_little(&path).expect_err("a header and noise opened");
        assert!(matches!(err, GgufOpenError::Format(_)), "{err:?}");
        assert_one_line(&err.to_string());
    }
    // Noise whose first key is short: the value after it is noise too, and still refused.
    let path = dir.join("short_key.gguf");
    let mut head = b"GGUF\x03\x00\x00\x00".to_vec();
    head.extend_from_slice(&1u64.to_le_bytes());
    head.extend_from_slice(&1u64.to_le_bytes());
    head.extend_from_slice(&3u64.to_le_bytes());
    head.extend_from_slice(b"key");
    head.extend_from_slice(&9u32.to_le_bytes()); // an array ...
    head.extend_from_slice(&8u32.to_le_bytes()); // ... of strings ...
    head.extend_from_slice(&u64::MAX.to_le_bytes()); // ... without end
    head.extend_from_slice(&noise(1 << 20, 99));
    sparse_file(&path, &head, 2 << 30);
    let err = open_reading_little(&path).expect_err("refused");
    assert!(
        matches!(&err, GgufOpenError::Format(GgufError::TooMany { items, .. }) if items == "strings"),
        "{err:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_valid_model_followed_by_two_gib_of_zeros_loads_reading_only_what_its_tensors_use() {
    let dir = scratch("trailing");
    let path = dir.join("trailing.gguf");
    let bytes = synthetic();
    sparse_file(&path, &bytes, 2 << 30);
    let file = open_reading_little(&path).expect("a valid file with bytes after its tensors");
    assert_eq!(file.len(), bytes.len());
    LlamaModel::from_gguf(&file).expect("it loads");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_file_past_max_file_bytes_is_refused_by_its_size_before_any_read() {
    let dir = scratch("huge");
    let path = dir.join("huge.gguf");
    let mut file = std::fs::File::create(&path).unwrap();
    file.write_all(&synthetic()[..24]).unwrap();
    if let Err(e) = file.set_len(MAX_FILE_BYTES + 1) {
        eprintln!("skipped: this file system makes no 16 GiB sparse file ({e})");
        return;
    }
    drop(file);
    let err = open_reading_little(&path).expect_err("a 16 GiB file opened");
    assert!(
        matches!(&err, GgufOpenError::TooLarge { len, .. } if *len == MAX_FILE_BYTES + 1),
        "{err:?}"
    );
    let message = err.to_string();
    assert_one_line(&message);
    assert!(
        message.contains(
            "is 17179869185 bytes, more than the 17179869184 bytes (16 GiB, MAX_FILE_BYTES)"
        ),
        "{message}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

// ---------------------------------------------------------------------------------------------
// Requests a good file cannot serve

fn small_context_model() -> LlamaModel {
    load(synthetic_gguf(&SyntheticSpec {
        context: 16,
        ..SyntheticSpec::default()
    }))
    .expect("the synthetic model loads")
}

#[test]
fn a_prompt_longer_than_the_context_is_refused_by_check_tokens_and_forward() {
    let model = small_context_model();
    let too_long = |err: LlmError, tokens: usize| {
        assert!(
            matches!(err, LlmError::ContextTooLong { tokens: t, context: 16 } if t == tokens),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "the prompt and continuation need {tokens} tokens, but this model's context is 16"
            )
        );
    };
    model.check_tokens(&[1; 16], 0, 0).expect("16 tokens fit");
    too_long(model.check_tokens(&[1; 17], 0, 0).unwrap_err(), 17);
    too_long(model.check_tokens(&[1; 10], 0, 7).unwrap_err(), 17);
    too_long(model.check_tokens(&[1; 10], 4, 3).unwrap_err(), 17);
    // "As many as fit" must not overflow the sum.
    too_long(
        model
            .check_tokens(&[1], usize::MAX, usize::MAX)
            .unwrap_err(),
        usize::MAX,
    );

    let mut cache = KvCache::new(&model.config);
    too_long(
        model
            .forward(&mut cache, &[1; 17], &Capture::default())
            .unwrap_err(),
        17,
    );
    assert_eq!(cache.len, 0, "a refused prompt leaves the cache as it was");
    model
        .forward(&mut cache, &[1; 10], &Capture::default())
        .expect("10 tokens run");
    too_long(
        model
            .forward(&mut cache, &[1; 7], &Capture::default())
            .unwrap_err(),
        17,
    );
    assert!(matches!(
        model.forward(&mut cache, &[], &Capture::default()),
        Err(LlmError::EmptyPrompt)
    ));
}

#[test]
fn token_ids_past_the_vocabulary_are_refused_by_check_tokens_and_forward() {
    let model = small_context_model();
    let vocab = model.config.vocab;
    for id in [vocab as u32, vocab as u32 + 1, u32::MAX] {
        let err = model.check_tokens(&[0, id], 0, 0).unwrap_err();
        assert!(
            matches!(err, LlmError::TokenOutOfRange { id: i, vocab: v } if i == id && v == vocab),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            format!("token id {id} is past the vocabulary ({vocab} tokens)")
        );
        let mut cache = KvCache::new(&model.config);
        assert!(matches!(
            model.forward(&mut cache, &[id], &Capture::default()),
            Err(LlmError::TokenOutOfRange { .. })
        ));
    }
    model
        .check_tokens(&[vocab as u32 - 1], 0, 0)
        .expect("the last id is in the vocabulary");
}

// ---------------------------------------------------------------------------------------------
// Any corruption

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Bytes flipped anywhere (half the flips in the first 8 KiB, where the header, metadata and
    /// tensor table are) never panic the reader, the loader or a forward pass of what loads, and
    /// every refusal is one line.
    #[test]
    fn random_byte_flips_never_panic_and_every_refusal_is_one_line(
        flips in prop::collection::vec(
            (prop_oneof![0usize..8192, 0usize..1 << 20], any::<u8>()),
            1..8,
        )
    ) {
        let mut bytes = synthetic();
        let len = bytes.len();
        for (at, value) in flips {
            bytes[at % len] = value;
        }
        match load(bytes) {
            Err(err) => assert_one_line(&err.to_string()),
            Ok(model) => {
                let mut cache = KvCache::new(&model.config);
                let _ = model.forward(&mut cache, &[0], &Capture::default());
            }
        }
    }
}
