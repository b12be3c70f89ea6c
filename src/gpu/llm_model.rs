//! The real model's GPU engine behind the model seam: [`GpuLlama`] is a [`TransformerModel`]
//! whose maps and next-token odds come from the WGSL kernels ([`LlmGpu`]), so a view that asks
//! "layer l, head h of model M" through `&dyn TransformerModel` gets the GPU's numbers without
//! knowing a GPU is there (DESIGN.md §3: views never depend on where Q, K, V come from).
//!
//! The CPU reference ([`LlamaModel`]) implements the same trait; the two are interchangeable, and
//! `tests/llm_gpu.rs` holds them to the same maps through the trait alone.
//!
//! Two things make the GPU engine fit a trait that takes `&self`:
//! - **Its state.** [`LlmGpu::forward`] takes `&mut self`: it writes the KV cache and remembers
//!   which head its last pass captured. The engine therefore sits behind a [`Mutex`]; each call
//!   holds the lock for its whole pass and readback, so two callers never interleave one
//!   cache. Every call resets the cache first: an answer is a function of its text alone, as
//!   the CPU reference's is (it starts from a fresh [`crate::model::llm::KvCache`] each time).
//! - **Its waiting.** The trait answers synchronously, so each call blocks until the GPU's
//!   results are read back. That is what the command line and the tests want; a frame never
//!   calls this (it polls [`crate::gpu::llm::PendingForward`] instead). The browser cannot block
//!   on a readback at all — its WebGPU maps a buffer only once the page's event loop turns — so
//!   this module is native-only (`gpu/mod.rs`).

use std::sync::{Arc, Mutex, MutexGuard};

use super::context::GpuContext;
use super::error::GpuError;
use super::llm::{GpuForward, LlmGpu, Readback, MAX_TOP_K};
use crate::model::llm::forward::{check_capture, top_k};
use crate::model::llm::{Capture, LlamaModel};
use crate::model::transformer::{HeadMap, HeadRef, ModelError, Token, TransformerModel};

/// A Llama-family model running on the GPU, seen through the model seam.
///
/// It keeps the [`LlamaModel`] it was built from for what the GPU does not do — turning text
/// into token ids and ids back into text, and the hyper-parameters — and shares it by [`Arc`]
/// rather than copying it: a caller that also keeps the CPU reference (to compare, or to fall
/// back on) holds the same weights once.
#[derive(Debug)]
pub struct GpuLlama {
    ctx: GpuContext,
    model: Arc<LlamaModel>,
    engine: Mutex<LlmGpu>,
}

impl GpuLlama {
    /// Uploads `model`'s weights to `ctx`'s device and builds the engine's pipelines (once: every
    /// later call only refills buffers).
    pub fn new(ctx: GpuContext, model: Arc<LlamaModel>) -> Result<Self, GpuError> {
        let engine = LlmGpu::new(&ctx, &model)?;
        Ok(Self {
            ctx,
            model,
            engine: Mutex::new(engine),
        })
    }

    /// The model the engine was built from (its tokenizer, its config, the CPU reference).
    pub fn model(&self) -> &Arc<LlamaModel> {
        &self.model
    }

    /// `text` as token ids, refused here with the CPU reference's own typed errors (an empty
    /// prompt, one past the context) before any GPU work.
    fn prompt_ids(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let ids = self.model.tokenizer.encode(text);
        self.model.check_tokens(&ids, 0, 0)?;
        Ok(ids)
    }

    /// The engine, for one call. A poisoned lock means an earlier call panicked mid-pass, with
    /// the cache and the capture record in an unknown state: that is reported, not unwrapped.
    fn engine(&self) -> Result<MutexGuard<'_, LlmGpu>, ModelError> {
        self.engine.lock().map_err(|_| {
            ModelError::Engine(
                "the GPU engine is unusable: an earlier call stopped while it was running \
                 (load the model again)"
                    .into(),
            )
        })
    }

    /// One pass of `ids` from an empty cache, waited for, then `read` over the engine and the
    /// pass's results — still under the lock, so a captured map is read before anyone else
    /// runs a pass over it.
    fn run_from_empty_cache<T>(
        &self,
        ids: &[u32],
        capture: &Capture,
        readback: Readback,
        read: impl FnOnce(&LlmGpu, GpuForward) -> Result<T, GpuError>,
    ) -> Result<T, ModelError> {
        let mut engine = self.engine()?;
        engine.reset();
        let out = engine
            .forward(&self.ctx, ids, capture, readback)?
            .wait(&self.ctx)?;
        Ok(read(&engine, out)?)
    }
}

impl TransformerModel for GpuLlama {
    fn name(&self) -> String {
        TransformerModel::name(&*self.model)
    }

    fn layers(&self) -> usize {
        self.model.config.layers
    }

    fn heads(&self) -> usize {
        self.model.config.heads
    }

    fn tokenize(&self, text: &str) -> Result<Vec<Token>, ModelError> {
        TransformerModel::tokenize(&*self.model, text)
    }

    /// `head`'s full map as the GPU computes it, the way `gaze inspect --model` does: a pass that
    /// captures the head's queries (the cache then holds every key), then the map kernel,
    /// band by band, `softmax(q·kᵀ/√d)` for every row — causal, as the model reads.
    fn attention(&self, text: &str, head: HeadRef) -> Result<HeadMap, ModelError> {
        self.check_head(head)?;
        let ids = self.prompt_ids(text)?;
        let capture = Capture {
            map: Some((head.layer, head.head)),
            ..Capture::default()
        };
        check_capture(&self.model.config, &capture, ids.len())?;
        // Only the map is wanted; the pass still ranks one candidate (the kernel's minimum).
        let readback = Readback {
            top_k: 1,
            ..Readback::default()
        };
        let weights = self.run_from_empty_cache(&ids, &capture, readback, |engine, _| {
            engine.read_map(&self.ctx)
        })?;
        Ok(HeadMap {
            head,
            tokens: self.model.tokens_of(&ids),
            weights,
            causal: true,
        })
    }

    /// The GPU's own softmax and top-k of its logits, as the app shows them. The kernel ranks at
    /// most [`MAX_TOP_K`] candidates; for more, the whole logit vector comes back and is ranked
    /// by the kernel's CPU twin — the same order and sums, over the GPU's numbers.
    fn next_tokens(&self, text: &str, top: usize) -> Result<Option<Vec<(Token, f32)>>, ModelError> {
        let ids = self.prompt_ids(text)?;
        if top == 0 {
            return Ok(Some(Vec::new()));
        }
        let readback = Readback {
            logits: top > MAX_TOP_K,
            top_k: top.min(MAX_TOP_K),
            temperature: 1.0,
        };
        let ranked = self.run_from_empty_cache(&ids, &Capture::default(), readback, |_, out| {
            Ok(match out.logits {
                Some(logits) => top_k(&logits, top, 1.0),
                None => out.top,
            })
        })?;
        Ok(Some(
            ranked
                .into_iter()
                .map(|(id, p)| (self.model.token_of(id), p))
                .collect(),
        ))
    }
}
