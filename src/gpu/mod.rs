//! The GPU layer: a wgpu context and compute pipelines that mirror `crate::model`.
//!
//! Every kernel here has a CPU twin in `model` with the same loops and buffer layouts;
//! [`verify`] runs both on the same inputs and measures how far apart they are.

pub mod attention;
pub mod context;
pub mod error;
pub(crate) mod kernel;
pub mod llm;
// The model seam answers synchronously, and a browser cannot block on a GPU readback.
#[cfg(not(target_arch = "wasm32"))]
pub mod llm_model;
#[cfg(not(target_arch = "wasm32"))]
pub mod llm_verify;
pub mod long_context;
pub mod overview;
pub mod readback;
pub mod training;
pub mod verify;

pub use attention::{AttentionBuffers, AttentionKernels};
pub use context::{AdapterSummary, GpuContext};
pub use error::GpuError;
