//! The lesson's derived state: the scene's sentence embedded by the lesson model and its attention
//! computed by the GPU kernels, recomputed only when what it depends on changes.

use crate::gpu::attention::{start_read_back, PendingReadback};
use crate::gpu::{AttentionBuffers, AttentionKernels, GpuContext, GpuError};
use crate::model::attention::{AttentionOptions, AttentionResult, PackedAttention, QueryRows};
use crate::model::lesson::{LessonError, LessonModel, LessonToken};
use crate::scene::AttentionScene;

/// Why step 3 could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    /// The sentence or model was refused.
    #[error(transparent)]
    Lesson(#[from] LessonError),
    /// The attention input was refused.
    #[error(transparent)]
    Attention(#[from] crate::model::attention::AttentionError),
    /// The GPU refused or failed.
    #[error(transparent)]
    Gpu(#[from] GpuError),
}

/// What step 3's attention depends on; a change here means recompute.
#[derive(Clone, Debug, PartialEq)]
struct StageKey {
    sentence: String,
    heads: usize,
    options: AttentionOptions,
    edits: Vec<crate::model::lesson::WeightEdit>,
}

impl StageKey {
    fn matches(&self, scene: &AttentionScene) -> bool {
        self.sentence == scene.sentence
            && self.heads == scene.heads
            && self.options.causal == scene.causal
            && self.options.positions == scene.positions
            && self.edits == scene.weight_edits
    }
}

/// Step 3 computed: tokens, the GPU buffers the renderers draw from, and a readback of the
/// numbers the panels print.
#[derive(Debug)]
pub struct AttentionStage {
    key: StageKey,
    /// The sentence's tokens.
    pub tokens: Vec<LessonToken>,
    /// Names of the heads shown.
    pub head_names: Vec<String>,
    /// Each token's vector in the residual stream (`N × d_model`): its embedding, plus the
    /// sinusoidal position when those are on.
    pub stream: crate::model::attention::Matrix,
    /// The weights in use, one per head shown (the lesson model's, with the user's edits).
    pub weights: Vec<crate::model::attention::HeadWeights>,
    /// The kernels' buffers; `weights_buffer()` feeds the heatmap and arcs.
    pub buffers: AttentionBuffers,
    /// The computed values, read back for text; `None` while the readback is in flight (the
    /// panel then prints no numbers rather than stale ones).
    pub result: Option<AttentionResult>,
    pending: Option<PendingReadback>,
    /// Bumped whenever `buffers` are new GPU objects (not rewritten in place), so whatever
    /// binds them (the renderers) knows to rebuild.
    pub generation: u64,
}

impl AttentionStage {
    /// Collects the readback if it has arrived, without waiting. Returns whether it did.
    pub fn poll_readback(&mut self, ctx: &GpuContext) -> Result<bool, GpuError> {
        let _ = ctx.device.poll(wgpu::PollType::Poll);
        match self.pending.take() {
            Some(pending) if pending.is_ready() => {
                self.result = Some(pending.take()?);
                Ok(true)
            }
            other => {
                self.pending = other;
                Ok(false)
            }
        }
    }

    /// Waits for the readback (headless rendering and tests).
    pub fn wait_readback(&mut self, ctx: &GpuContext) -> Result<(), GpuError> {
        if let Some(pending) = self.pending.take() {
            self.result = Some(pending.wait(ctx)?);
        }
        Ok(())
    }
}

/// The lesson model and the attention kernels on one device.
#[derive(Debug)]
pub struct Lesson {
    /// The lesson model.
    pub model: LessonModel,
    /// The attention pipelines.
    pub kernels: AttentionKernels,
}

impl Lesson {
    /// Loads the built-in model and builds the kernels on `ctx`.
    pub fn new(ctx: &GpuContext) -> Result<Self, StageError> {
        Ok(Self {
            model: LessonModel::builtin()?,
            kernels: AttentionKernels::new(ctx)?,
        })
    }

    /// Brings `stage` up to date with `scene`: nothing happens when nothing it depends on
    /// changed; same-shape edits reuse the buffers. The kernels run and a readback of their
    /// numbers starts, without waiting. Returns whether anything was recomputed.
    pub fn update(
        &self,
        ctx: &GpuContext,
        scene: &AttentionScene,
        stage: &mut Option<AttentionStage>,
    ) -> Result<bool, StageError> {
        // Compared field by field: building a key every frame would allocate every frame.
        if stage.as_ref().is_some_and(|s| s.key.matches(scene)) {
            return Ok(false);
        }
        let key = StageKey {
            sentence: scene.sentence.clone(),
            heads: scene.heads,
            options: AttentionOptions {
                causal: scene.causal,
                positions: scene.positions,
                key_padding_mask: None,
            },
            edits: scene.weight_edits.clone(),
        };
        let (tokens, input) = self.model.attention_input_with_edits(
            &key.sentence,
            key.heads,
            key.options.clone(),
            &key.edits,
        )?;
        let packed = PackedAttention::new(&input, QueryRows::All)?;
        let previous = stage.take();
        let last_generation = previous.as_ref().map_or(0, |s| s.generation);
        let reused = previous.and_then(|mut old| {
            old.buffers
                .write_inputs(&ctx.queue, &packed)
                .then_some((old.buffers, old.generation))
        });
        let (buffers, generation) = match reused {
            Some(reused) => reused,
            None => (self.kernels.prepare(ctx, &packed)?, last_generation + 1),
        };
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        self.kernels.encode(&mut encoder, &buffers);
        let pending = start_read_back(ctx, encoder, &buffers)?;
        *stage = Some(AttentionStage {
            key,
            tokens,
            head_names: self
                .model
                .heads()
                .iter()
                .take(scene.heads)
                .map(|h| h.name.clone())
                .collect(),
            stream: residual_stream(&input),
            weights: input.heads.clone(),
            buffers,
            result: None,
            pending: Some(pending),
            generation,
        });
        Ok(true)
    }
}

/// The residual stream of `input`: X, plus the sinusoidal table when sinusoidal positions are on.
fn residual_stream(
    input: &crate::model::attention::AttentionInput,
) -> crate::model::attention::Matrix {
    let mut stream = input.x.clone();
    if input.options.positions == crate::model::positions::Positions::Sinusoidal {
        let table = crate::model::positions::sinusoidal_table(stream.rows(), stream.cols());
        for (x, p) in stream.data_mut().iter_mut().zip(table) {
            *x += p;
        }
    }
    stream
}
