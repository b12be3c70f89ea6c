//! The model layer: pure Rust, no GPU and no UI.
//!
//! This is the spec of everything Gaze computes and its CPU reference. The GPU layer (`crate::gpu`)
//! mirrors it kernel by kernel, and tests compare the two.

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
pub mod tokenizer;
pub mod train;
