//! Errors from the GPU layer, each saying what to do about it.

use thiserror::Error;

use crate::model::attention::AttentionError;

/// Everything that can go wrong between a request and a GPU result.
#[derive(Debug, Error)]
pub enum GpuError {
    /// No adapter at all: no GPU driver and no software fallback.
    #[error(
        "no GPU adapter found ({0}). Install a Vulkan driver — on Debian/Ubuntu without a GPU, \
         `apt-get install mesa-vulkan-drivers libvulkan1` gives the lavapipe software adapter"
    )]
    NoAdapter(String),
    /// The adapter refused to open a device.
    #[error("the GPU adapter refused to open a device: {0}")]
    RequestDevice(#[from] wgpu::RequestDeviceError),
    /// A request needs more than the device allows. Names the limit so the fix is clear.
    #[error(
        "{what} needs {requested} but this device's `{limit}` is {allowed}; \
         use fewer tokens or heads, or the focus-row mode"
    )]
    LimitExceeded {
        /// The wgpu limit, e.g. `max_storage_buffer_binding_size`.
        limit: &'static str,
        /// What needed it, e.g. "the attention weights buffer (heads × rows × N f32)".
        what: String,
        /// How much was asked for.
        requested: u64,
        /// The device's limit.
        allowed: u64,
    },
    /// A kernel would loop more often per invocation than every driver runs faithfully.
    #[error(
        "kernel `{kernel}` would loop {iterations} times in one invocation; the bound is {bound} \
         (Mesa's lavapipe silently stops an invocation after 65,535 iterations)"
    )]
    LoopBound {
        /// Kernel name.
        kernel: &'static str,
        /// Worst-case iterations per invocation for this request.
        iterations: u64,
        /// The bound.
        bound: u64,
    },
    /// The input itself is malformed.
    #[error(transparent)]
    Attention(#[from] AttentionError),
    /// wgpu reported a validation error (a bug in Gaze if it ever appears).
    #[error("the GPU rejected a command: {0}")]
    Validation(String),
    /// The device ran out of memory.
    #[error("the GPU ran out of memory: {0}")]
    OutOfMemory(String),
    /// A real model or a request of it that the engine cannot run (named in the message).
    #[error("{0}")]
    Model(String),
    /// Reading results back failed (device lost or mapping refused).
    #[error("reading results back from the GPU failed: {0}")]
    Readback(String),
}

/// A GPU failure as the model seam reports it ([`crate::model::transformer::ModelError`]). The
/// conversion lives here, in the layer above, because `model` may not know the GPU exists
/// (DESIGN.md §4); the message, which names the fix, is kept whole.
impl From<GpuError> for crate::model::transformer::ModelError {
    fn from(error: GpuError) -> Self {
        Self::Engine(error.to_string())
    }
}
