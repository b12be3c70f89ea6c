//! Any bytes as a GGUF model file: the reader and the model loader may refuse them, never panic
//! or allocate what the file claims without checking, and a refusal is one line (file text in
//! it quoted, control characters escaped). When a file parses, every tensor's bytes lie inside
//! it and match its type and dimensions, and writing it again with `GgufWriter` reads back as
//! the same metadata and tensors; when it also loads as a model, its tokenizer round-trips text
//! and its repacked matrices hold whole blocks.
#![no_main]

use gaze::model::llm::gguf::{GgufFile, GgufWriter, Value};
use gaze::model::llm::quant::{words_per_block, BLOCK};
use gaze::model::llm::LlamaModel;
use libfuzzer_sys::fuzz_target;

fn one_line(message: &str) {
    assert!(
        !message.is_empty() && !message.chars().any(char::is_control),
        "not one line: {message:?}"
    );
}

/// The GGUF type that holds every value of `items` exactly (one type per array, as in GGUF).
fn exact_kind<'a>(items: impl IntoIterator<Item = &'a Value>) -> Option<u32> {
    let mut kind = None;
    for item in items {
        let k = match item {
            Value::U64(v) if *v <= u64::from(u32::MAX) => 4,
            Value::U64(_) => 10,
            Value::I64(v) if i32::try_from(*v).is_ok() => 5,
            Value::I64(_) => 11,
            Value::F64(_) => 12,
            Value::Bool(_) => 7,
            Value::String(_) => 8,
            // Nested arrays take their element type from their first element: not exact.
            Value::Array(_) => return None,
        };
        kind = match (kind, k) {
            (None, k) => Some(k),
            (Some(4), 10) | (Some(10), 4) => Some(10),
            (Some(5), 11) | (Some(11), 5) => Some(11),
            (Some(a), b) if a == b => Some(a),
            // Unsigned and signed mixed: no one type holds both exactly.
            _ => return None,
        };
    }
    kind
}

/// `file` written again with `GgufWriter`, when its values can be written exactly.
fn rewritten(file: &GgufFile) -> Option<Vec<u8>> {
    let mut w = GgufWriter::new();
    w.version(file.version);
    for (key, value) in &file.metadata {
        match value {
            Value::Array(items) => {
                let kind = if items.is_empty() {
                    4
                } else {
                    exact_kind(items)?
                };
                w.array(key, kind, items.clone());
            }
            other => {
                w.value(key, exact_kind([other])?, other.clone());
            }
        }
    }
    for t in &file.tensors {
        w.tensor(&t.name, &t.dims, t.kind, file.tensor_bytes(t).to_vec());
    }
    Some(w.to_bytes())
}

fuzz_target!(|data: &[u8]| {
    let file = match GgufFile::parse(data.to_vec()) {
        Ok(file) => file,
        Err(err) => return one_line(&err.to_string()),
    };
    for tensor in &file.tensors {
        assert!(
            tensor.start + tensor.len <= file.len(),
            "{} past the end",
            tensor.name
        );
        assert_eq!(
            file.tensor_bytes(tensor).len(),
            tensor.len,
            "{}",
            tensor.name
        );
        assert_eq!(
            tensor.kind.bytes_for(tensor.elements()),
            Some(tensor.len as u64),
            "{}: size and dims disagree",
            tensor.name
        );
    }
    if let Some(bytes) = rewritten(&file) {
        let again = GgufFile::parse(bytes).expect("a file written again parses");
        // Debug, not ==: a NaN reads back as the same NaN, which == calls different.
        assert_eq!(
            format!("{:?}", again.metadata),
            format!("{:?}", file.metadata)
        );
        assert_eq!(again.tensors.len(), file.tensors.len());
        for (a, b) in again.tensors.iter().zip(&file.tensors) {
            assert_eq!((&a.name, &a.dims, a.kind), (&b.name, &b.dims, b.kind));
            assert_eq!(again.tensor_bytes(a), file.tensor_bytes(b), "{}", a.name);
        }
    }
    let model = match LlamaModel::from_gguf(&file) {
        Ok(model) => model,
        Err(err) => return one_line(&err.to_string()),
    };
    let m = &model.embedding;
    assert_eq!(
        m.words.len(),
        m.rows * m.cols / BLOCK * words_per_block(m.kind)
    );
    let text = "the cat sat on the mat, 42 times";
    let ids = model.tokenizer.encode(text);
    if ids
        .iter()
        .all(|&id| (id as usize) < model.tokenizer.vocab_size())
    {
        let _ = model.tokenizer.decode(&ids);
    }
});
