//! Real language models: a Llama-family causal LM read from a GGUF file.
//!
//! This is the readable spec and the CPU reference of everything the GPU engine
//! (`crate::gpu::llm`, `shaders/llm_*.wgsl`) computes, one small file per concern:
//! - [`gguf`]: the file format (reader and writer), every size checked against the file;
//! - [`quant`]: blocks of quantised weights repacked into words, and the block reads the kernels
//!   do;
//! - [`llama`]: hyper-parameters from the metadata, weights with their shapes checked;
//! - [`tokenizer`]: the byte-level BPE the file describes (encode, decode);
//! - [`forward`]: the forward pass with a KV cache and attention capture (the CPU reference);
//! - [`lesson`]: the lesson on a real model: chain-rule odds of endings, the logit lens;
//! - [`sample`]: greedy and seeded top-k sampling;
//! - [`synthetic`]: small random-weight models written as GGUF, for tests and benchmarks.

pub mod forward;
pub mod gguf;
pub mod lesson;
pub mod llama;
pub mod quant;
pub mod sample;
pub mod synthetic;
pub mod tokenizer;

pub use forward::{AttentionMap, Capture, ForwardOutput, Keep, Kept, KvCache, Overview};
pub use gguf::{GgufError, GgufFile, TensorType};
pub use llama::{LlamaConfig, LlamaModel, LlmError};
pub use tokenizer::BpeTokenizer;
