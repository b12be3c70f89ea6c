//! The model layer: pure Rust, no GPU and no UI.
//!
//! This is the spec of everything Gaze computes and its CPU reference. The GPU layer (`crate::gpu`)
//! mirrors it kernel by kernel, and tests compare the two.
//!
//! # CPU twins
//! A module that is the CPU twin of a WGSL kernel (`attention`, `overview`, `animation`,
//! `train`, `finetune`, `llm::forward`, `llm::quant`) indexes its flat buffers exactly as the
//! kernel does, loop for loop, so a mismatch points at the same line in both; those modules
//! allow `clippy::indexing_slicing`, which the rest of the library denies. What makes that safe
//! is the same everywhere: every shape is checked once, before any loop runs, by the function
//! that builds the twin's input (`PackedAttention::new`, `TrainingSet::new`,
//! `FineTuneProblem::new`, `LlamaConfig::from_gguf` and the tensor-shape checks), and the edge-shape
//! tests run the loops with bounds checks on.

pub mod animation;
pub mod attention;
pub mod context;
pub mod corpus;
pub mod finetune;
pub mod lesson;
pub mod llm;
pub mod overview;
pub mod positions;
pub mod residual;
pub mod retrieval;
pub mod rlhf;
pub mod sample;
pub mod sink;
pub mod tokenizer;
pub mod train;
pub mod transformer;
