//! The GGUF reader on files that are wrong in every way the issue names: each is refused with an
//! error naming the problem, never a panic or an allocation the file asked for unchecked.

use std::io::Write;

use gaze::model::llm::gguf::{GgufError, GgufFile, GgufOpenError, GgufWriter, TensorType};
use gaze::model::llm::synthetic::{synthetic_gguf, SyntheticSpec};
use gaze::model::llm::{LlamaModel, LlmError};

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gaze-llm-gguf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir.join(name)
}

fn load(bytes: Vec<u8>) -> Result<LlamaModel, LlmError> {
    let file = GgufFile::parse(bytes)?;
    LlamaModel::from_gguf(&file)
}

#[test]
fn version_2_files_load_and_versions_1_and_4_are_refused_by_number() {
    let mut bytes = synthetic_gguf(&SyntheticSpec::default());
    bytes[4..8].copy_from_slice(&2u32.to_le_bytes());
    load(bytes.clone()).expect("a v2 file loads the same way");
    for version in [1u32, 4] {
        bytes[4..8].copy_from_slice(&version.to_le_bytes());
        let err = GgufFile::parse(bytes.clone()).expect_err("refused");
        assert_eq!(err, GgufError::UnsupportedVersion(version));
        assert!(err.to_string().contains(&format!("version {version}")));
    }
}

#[test]
fn every_truncation_is_an_error_never_a_panic() {
    let bytes = synthetic_gguf(&SyntheticSpec::default());
    let cuts = (0..bytes.len())
        .step_by(997)
        .chain(bytes.len() - 64..bytes.len());
    for cut in cuts {
        assert!(
            load(bytes[..cut].to_vec()).is_err(),
            "a file cut at {cut} loaded"
        );
    }
}

#[test]
fn a_tensor_of_two_to_the_forty_values_is_refused_before_anything_is_allocated() {
    let mut w = GgufWriter::new();
    w.tensor("huge", &[1 << 20, 1 << 20], TensorType::F32, Vec::new());
    let err = GgufFile::parse(w.to_bytes()).expect_err("refused");
    assert!(
        err.to_string().contains("huge") && err.to_string().contains("2^36"),
        "{err}"
    );
}

#[test]
fn metadata_claiming_more_strings_than_the_file_holds_is_refused() {
    let mut w = GgufWriter::new();
    w.strings("tokenizer.ggml.tokens", &["a".to_owned()]);
    let mut bytes = w.to_bytes();
    // The array's count sits after its key, value type and item type: claim 2^60 strings.
    let count_at = 24 + 8 + "tokenizer.ggml.tokens".len() + 4 + 4;
    bytes[count_at..count_at + 8].copy_from_slice(&(1u64 << 60).to_le_bytes());
    let err = GgufFile::parse(bytes).expect_err("refused");
    assert!(matches!(err, GgufError::TooMany { .. }), "{err}");
    assert!(err.to_string().contains("tokenizer.ggml.tokens"), "{err}");
}

#[test]
fn a_tensor_past_the_end_of_the_file_is_named() {
    let mut w = GgufWriter::new();
    w.tensor(
        "blk.0.attn_q.weight",
        &[32, 4],
        TensorType::Q8_0,
        vec![0; 34],
    );
    let err = GgufFile::parse(w.to_bytes()).expect_err("refused");
    assert!(matches!(err, GgufError::TensorOutOfBounds { .. }), "{err}");
    assert!(err.to_string().contains("blk.0.attn_q.weight"), "{err}");
}

#[test]
fn an_unsupported_architecture_or_tensor_type_is_refused_by_name() {
    let mut w = GgufWriter::new();
    w.string("general.architecture", "gpt2");
    let err = load(w.to_bytes()).expect_err("refused");
    assert!(err.to_string().contains("`gpt2`"), "{err}");

    let spec = SyntheticSpec::default();
    let file = GgufFile::parse(synthetic_gguf(&spec)).expect("parses");
    let q = file.tensor("blk.0.attn_q.weight").expect("attn_q").clone();
    let mut bytes = synthetic_gguf(&spec);
    // The type id is the u32 before the tensor's u64 offset in its table entry; find the entry
    // by its name and rewrite the type as 13 (Q5_K).
    let name = b"blk.0.attn_q.weight";
    let at = bytes
        .windows(name.len())
        .position(|w| w == name)
        .expect("entry")
        + name.len();
    let type_at = at + 4 + 8 * q.dims.len();
    bytes[type_at..type_at + 4].copy_from_slice(&13u32.to_le_bytes());
    let err = GgufFile::parse(bytes).expect_err("refused");
    assert_eq!(
        err.to_string(),
        "this file's tensor blk.0.attn_q.weight is Q5_K, which Gaze does not read yet (it reads F32, F16, Q8_0, Q4_0 and Q4_1)"
    );
}

#[test]
fn a_wrong_shape_or_a_missing_tensor_is_named() {
    let spec = SyntheticSpec::default();
    let mut bytes = synthetic_gguf(&spec);
    let name = b"output_norm.weight";
    let at = bytes
        .windows(name.len())
        .position(|w| w == name)
        .expect("entry");
    bytes[at..at + 6].copy_from_slice(b"OUTPUT");
    let err = load(bytes).expect_err("refused");
    assert!(
        err.to_string().contains("no tensor `output_norm.weight`"),
        "{err}"
    );
}

#[test]
fn two_gigabytes_of_random_bytes_are_refused_without_reading_them() {
    let path = temp("random.gguf");
    let mut file = std::fs::File::create(&path).expect("create");
    let noise: Vec<u8> = (0..1u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    file.write_all(&noise).expect("write");
    file.set_len(2 << 30).expect("a sparse 2 GB file");
    drop(file);
    let err = GgufFile::open(&path).expect_err("refused");
    assert!(
        matches!(err, GgufOpenError::Format(GgufError::BadMagic { .. })),
        "{err}"
    );
    std::fs::remove_file(&path).ok();
}

#[test]
fn a_prompt_longer_than_the_context_is_refused() {
    let spec = SyntheticSpec {
        context: 64,
        ..SyntheticSpec::default()
    };
    let model = load(synthetic_gguf(&spec)).expect("loads");
    let err = model.check_tokens(&[1; 65], 0, 0).expect_err("too long");
    assert!(
        matches!(
            err,
            LlmError::ContextTooLong {
                tokens: 65,
                context: 64
            }
        ),
        "{err}"
    );
    let err = model
        .check_tokens(&[100_000], 0, 0)
        .expect_err("past the vocabulary");
    assert!(matches!(err, LlmError::TokenOutOfRange { .. }), "{err}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    #[test]
    fn random_byte_flips_never_panic_the_reader(flips in proptest::collection::vec((0usize..1_000_000, proptest::prelude::any::<u8>()), 1..8)) {
        let mut bytes = synthetic_gguf(&SyntheticSpec::default());
        let len = bytes.len();
        for (at, value) in flips {
            bytes[at % len] = value;
        }
        let _ = load(bytes);
    }
}
