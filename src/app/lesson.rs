//! The lesson's derived state: the scene's sentence embedded by the lesson model and its attention
//! computed by the GPU kernels, recomputed only when what it depends on changes.
//!
//! Where the adapter has no compute shaders (a browser without WebGPU draws through WebGL2), the
//! same numbers come from the CPU reference — the one every kernel is tested against — and are
//! uploaded into a vertex buffer the same renderers draw from.

use wgpu::util::DeviceExt;

use crate::gpu::attention::{
    start_read_back_focus_scores, start_read_back_printed, PendingFocusScores, PendingPrinted,
};
use crate::gpu::{AttentionBuffers, AttentionKernels, GpuContext, GpuError};
use crate::model::attention::Matrix;
use crate::model::attention::{
    AttentionInput, AttentionOptions, AttentionParams, AttentionResult, FocusScores,
    PackedAttention, QueryRows,
};
use crate::model::lesson::{LessonError, LessonModel, LessonToken};
use crate::model::residual::{carried_forward, CarriedForward};
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
    model_revision: u64,
}

impl StageKey {
    fn matches(&self, scene: &AttentionScene, model_revision: u64) -> bool {
        self.model_revision == model_revision
            && self.sentence == scene.sentence
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
    /// The sentence's tokens, as the views show them.
    pub tokens: Vec<crate::model::transformer::Token>,
    /// Names of the heads shown.
    pub head_names: Vec<String>,
    /// Each token's vector in the residual stream (`N × d_model`): its embedding, plus the
    /// sinusoidal position when those are on.
    pub stream: crate::model::attention::Matrix,
    /// The weights in use, one per head shown (the lesson model's, with the user's edits).
    pub weights: Vec<crate::model::attention::HeadWeights>,
    /// The weights the heatmap and arcs draw from, `[head][rows][N]` (`VERTEX` usage): the
    /// kernels' output buffer, or on the CPU engine an upload of the reference's weights.
    pub weights_buffer: wgpu::Buffer,
    /// The shapes and switches of `weights_buffer`.
    pub params: AttentionParams,
    /// The kernels' buffers (GPU engine only).
    pub buffers: Option<AttentionBuffers>,
    /// The computed values, read back for text; `None` while the readback is in flight (the
    /// panel then prints no numbers rather than stale ones). From the kernels it holds no
    /// scores — only the focus row of those is printed, and read back ([`Self::focus_scores`]);
    /// the CPU reference's holds them all.
    pub result: Option<AttentionResult>,
    pending: Option<PendingPrinted>,
    /// The focus's score row in every head, once read back (or sliced from the CPU
    /// reference's scores); `None` while it is on its way.
    pub focus_scores: Option<FocusScores>,
    /// Another focus's score row on its way back (the user clicked a token).
    pending_focus: Option<PendingFocusScores>,
    /// What the focus token carries to the next layer, for the focus and residual switch it was
    /// computed for (recomputed when either or the numbers change, not every frame).
    carried: Option<CarriedCache>,
    /// Bumped whenever the buffers are new GPU objects (not rewritten in place), so whatever
    /// binds them (the renderers) knows to rebuild.
    pub generation: u64,
    /// Bumped whenever the weights change, rewritten in place or not (the CPU-eased arcs take
    /// new targets then).
    pub revision: u64,
    /// Why only the first tokens are shown, when the sentence is longer than step 3 computes
    /// here (a paste of a whole page, or a GPU with small limits): the smaller view's message.
    pub shortened: Option<String>,
}

impl AttentionStage {
    /// What step 3's panels show of this stage: the maps and arcs (advanced by `dt` seconds;
    /// the screen applies the presenter's colour map and motion setting) and the numbers behind
    /// them.
    pub fn views<'a>(
        &'a self,
        model: &'a crate::model::lesson::LessonModel,
        dt: f32,
    ) -> (
        crate::ui::step3_attention::AttentionView<'a>,
        crate::ui::behind_the_gaze::BehindView<'a>,
    ) {
        (
            crate::ui::step3_attention::AttentionView {
                tokens: &self.tokens,
                head_names: &self.head_names,
                result: self.result.as_ref(),
                colormap: crate::render::colormap::Colormap::Viridis,
                dt,
                snap: false,
                particles: true,
            },
            crate::ui::behind_the_gaze::BehindView {
                tokens: &self.tokens,
                result: self.result.as_ref(),
                features: model.features(),
                head_dims: model.head_dims(),
                value_dims: model.value_dims(),
                weights: &self.weights,
                stream: &self.stream,
                w_o: model.w_o(),
                focus_scores: self.focus_scores.as_ref(),
                carried: self.carried(),
            },
        )
    }

    /// Collects the readback if it has arrived, without waiting. Returns whether it did.
    pub fn poll_readback(&mut self, ctx: &GpuContext) -> Result<bool, GpuError> {
        let _ = ctx.device.poll(wgpu::PollType::Poll);
        if self.pending_focus.as_ref().is_some_and(|p| p.is_ready()) {
            if let Some(pending) = self.pending_focus.take() {
                self.focus_scores = Some(pending.take()?);
            }
        }
        match self.pending.take() {
            Some(pending) if pending.is_ready() => {
                let (result, scores) = pending.take()?;
                self.result = Some(result);
                self.focus_scores = Some(scores);
                self.carried = None;
                Ok(true)
            }
            other => {
                self.pending = other;
                Ok(false)
            }
        }
    }

    /// Keeps [`Self::focus_scores`] on `focus`: from the CPU reference's scores at once, or from
    /// the kernels' buffer by a readback of that one row per head (`heads × N` floats), started
    /// here and collected by the next poll.
    pub fn follow_focus(&mut self, ctx: &GpuContext, focus: usize) -> Result<(), GpuError> {
        let asked = self
            .pending
            .as_ref()
            .map(PendingPrinted::focus)
            .or(self.pending_focus.as_ref().map(PendingFocusScores::focus))
            .or(self.focus_scores.as_ref().map(|s| s.focus));
        if asked == Some(focus) {
            return Ok(());
        }
        match (&self.buffers, &self.result) {
            (Some(buffers), _) => {
                let focus = focus.min(buffers.params().n().saturating_sub(1));
                if asked != Some(focus) {
                    self.pending_focus = Some(start_read_back_focus_scores(ctx, buffers, focus)?);
                }
            }
            (None, Some(result)) => self.focus_scores = FocusScores::of(result, focus),
            (None, None) => {}
        }
        Ok(())
    }

    /// Brings the focus token's [`CarriedForward`] up to date (`Σ_h O_h·W_O`, and with residual +
    /// norm `LayerNorm(x + Σ_h O_h·W_O)`): computed once the numbers are in, and again only when
    /// the focus or the switch changes.
    pub fn update_carried(&mut self, w_o: &Matrix, focus: usize, residual_norm: bool) {
        let fresh = self
            .carried
            .as_ref()
            .is_some_and(|c| c.focus == focus && c.residual_norm == residual_norm);
        if fresh {
            return;
        }
        let value = self.result.as_ref().and_then(|result| {
            let stream = self.stream.row(focus)?;
            carried_forward(stream, result, focus, w_o, residual_norm)
        });
        self.carried = value.map(|value| CarriedCache {
            focus,
            residual_norm,
            value,
        });
    }

    /// The focus token's [`CarriedForward`] as last computed, with the focus and switch it is
    /// for (a view computes its own if they no longer match).
    pub fn carried(&self) -> Option<(usize, bool, &CarriedForward)> {
        self.carried
            .as_ref()
            .map(|c| (c.focus, c.residual_norm, &c.value))
    }

    /// Waits for the readback (headless rendering and tests).
    pub fn wait_readback(&mut self, ctx: &GpuContext) -> Result<(), GpuError> {
        if let Some(pending) = self.pending.take() {
            let (result, scores) = pending.wait(ctx)?;
            self.result = Some(result);
            self.focus_scores = Some(scores);
            self.carried = None;
        }
        if let Some(pending) = self.pending_focus.take() {
            self.focus_scores = Some(pending.wait(ctx)?);
        }
        Ok(())
    }
}

/// A [`CarriedForward`] and what it was computed for.
#[derive(Debug)]
struct CarriedCache {
    focus: usize,
    residual_norm: bool,
    value: CarriedForward,
}

/// Where attention is computed.
#[derive(Debug)]
pub enum Engine {
    /// The WGSL kernels.
    Gpu(AttentionKernels),
    /// The CPU reference (`model::attention::run`), for adapters without compute shaders.
    Cpu,
}

/// The lesson model and the attention engine on one device.
#[derive(Debug)]
pub struct Lesson {
    /// The lesson model.
    pub model: LessonModel,
    /// Where attention runs.
    pub engine: Engine,
    /// Bumped when the model changes (the estimated embeddings arrive): every stage recomputes.
    model_revision: u64,
}

impl Lesson {
    /// Loads the built-in model and builds the kernels on `ctx` — or, where the adapter has no
    /// compute shaders (WebGL2), the CPU reference.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new(ctx: &GpuContext) -> Result<Self, StageError> {
        Self::with_model(ctx, LessonModel::builtin()?)
    }

    /// Like [`Lesson::new`] with a given model (the web build starts with the curated words and
    /// adds the estimated ones once they are fetched).
    pub fn with_model(ctx: &GpuContext, model: LessonModel) -> Result<Self, StageError> {
        let engine = if ctx.has_compute() {
            Engine::Gpu(AttentionKernels::new(ctx)?)
        } else {
            Engine::Cpu
        };
        Ok(Self {
            model,
            engine,
            model_revision: 0,
        })
    }

    /// The lesson on the CPU reference even where the adapter has compute: what a WebGL2
    /// browser runs, so native tests can draw and check that path too.
    pub fn on_cpu_reference(model: LessonModel) -> Self {
        Self {
            model,
            engine: Engine::Cpu,
            model_revision: 0,
        }
    }

    /// Bumped whenever the model changes (every derived stage recomputes then).
    pub fn model_revision(&self) -> u64 {
        self.model_revision
    }

    /// Whether attention runs on the GPU kernels (false: the CPU reference).
    pub fn computes_on_gpu(&self) -> bool {
        matches!(self.engine, Engine::Gpu(_))
    }

    /// Adds the estimated embeddings (the text of `assets/estimated_embeddings.txt`); stages
    /// recompute on their next update. Returns how many words now have estimates.
    pub fn add_estimated(&mut self, text: &str) -> Result<usize, StageError> {
        let words = self.model.add_estimated(text)?;
        self.model_revision += 1;
        Ok(words)
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
        if stage
            .as_ref()
            .is_some_and(|s| s.key.matches(scene, self.model_revision))
        {
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
            model_revision: self.model_revision,
        };
        let (mut tokens, mut input) = self.model.attention_input_with_edits(
            &key.sentence,
            key.heads,
            key.options.clone(),
            &key.edits,
        )?;
        let mut packed = PackedAttention::new(&input, QueryRows::All)?;
        let shortened = self.shorten_to_fit(ctx, packed.params(), &mut tokens, &mut input)?;
        if shortened.is_some() {
            packed = PackedAttention::new(&input, QueryRows::All)?;
        }
        let previous = stage.take();
        let (last_generation, last_revision) = previous
            .as_ref()
            .map_or((0, 0), |s| (s.generation, s.revision));
        let computed = match &self.engine {
            Engine::Gpu(kernels) => {
                let focus = scene.focus.min(tokens.len().saturating_sub(1));
                Self::run_gpu(ctx, kernels, &packed, previous, focus)?
            }
            Engine::Cpu => Self::run_cpu(ctx, &packed, previous),
        };
        let focus_scores = computed
            .result
            .as_ref()
            .and_then(|r| FocusScores::of(r, scene.focus));
        *stage = Some(AttentionStage {
            key,
            tokens: tokens
                .iter()
                .map(crate::model::transformer::Token::from)
                .collect(),
            head_names: self
                .model
                .heads()
                .iter()
                .take(scene.heads)
                .map(|h| h.name.clone())
                .collect(),
            stream: crate::model::residual::residual_stream(&input),
            weights: input.heads.clone(),
            weights_buffer: computed.weights_buffer,
            params: *packed.params(),
            buffers: computed.buffers,
            result: computed.result,
            focus_scores,
            pending: computed.pending,
            pending_focus: None,
            carried: None,
            generation: if computed.reused {
                last_generation
            } else {
                last_generation + 1
            },
            revision: last_revision + 1,
            shortened,
        });
        Ok(true)
    }

    /// The most tokens of the sentence whose full N×N map fits this device's limits (the model
    /// already refuses sentences past `MAX_SENTENCE_TOKENS`; a small GPU may hold fewer). A
    /// longer sentence keeps its first tokens — the smaller view — and the returned message says
    /// so, naming the limit; the sentence itself is left as the user wrote it.
    fn shorten_to_fit(
        &self,
        ctx: &GpuContext,
        full: &AttentionParams,
        tokens: &mut Vec<LessonToken>,
        input: &mut AttentionInput,
    ) -> Result<Option<String>, StageError> {
        let total = tokens.len();
        let mut shown = total;
        let mut limit_message = None;
        if matches!(self.engine, Engine::Gpu(_)) {
            // The device's limits (binding sizes, the loop bound) are checked by `plan` without
            // allocating anything; the largest N that passes is found by bisection.
            let mut params = *full;
            let limits = ctx.limits();
            let mut fits = |n: usize| {
                let n = u32::try_from(n).unwrap_or(u32::MAX);
                params.n_tokens = n;
                params.query_count = n;
                crate::gpu::attention::plan(&params, &limits)
            };
            if let Err(error) = fits(shown) {
                let (mut low, mut high) = (0, shown);
                while high - low > 1 {
                    let middle = low + (high - low) / 2;
                    if fits(middle).is_ok() {
                        low = middle;
                    } else {
                        high = middle;
                    }
                }
                if low == 0 {
                    return Err(error.into());
                }
                shown = low;
                limit_message = Some(error.to_string());
            }
        }
        let Some(why) = limit_message.filter(|_| shown < total) else {
            return Ok(None);
        };
        let width = input.x.cols();
        let kept = input
            .x
            .data()
            .get(..shown * width)
            .unwrap_or_default()
            .to_vec();
        input.x = crate::model::attention::Matrix::new(shown, width, kept)?;
        tokens.truncate(shown);
        Ok(Some(format!(
            "showing the first {shown} of {total} tokens ({why})"
        )))
    }

    /// The kernels, into the previous stage's buffers when the shape allows; a readback starts.
    fn run_gpu(
        ctx: &GpuContext,
        kernels: &AttentionKernels,
        packed: &PackedAttention,
        previous: Option<AttentionStage>,
        focus: usize,
    ) -> Result<Computed, StageError> {
        let reused = previous
            .and_then(|old| old.buffers)
            .and_then(|mut buffers| buffers.write_inputs(&ctx.queue, packed).then_some(buffers));
        let was_reused = reused.is_some();
        let buffers = match reused {
            Some(buffers) => buffers,
            None => kernels.prepare(ctx, packed)?,
        };
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        kernels.encode(&mut encoder, &buffers);
        let pending = start_read_back_printed(ctx, encoder, &buffers, focus)?;
        Ok(Computed {
            weights_buffer: buffers.weights_buffer().clone(),
            buffers: Some(buffers),
            result: None,
            pending: Some(pending),
            reused: was_reused,
        })
    }

    /// The CPU reference, its weights uploaded for the renderers (into the previous buffer when
    /// the size is the same, so the arcs ease from the old weights).
    fn run_cpu(
        ctx: &GpuContext,
        packed: &PackedAttention,
        previous: Option<AttentionStage>,
    ) -> Computed {
        let result = crate::model::attention::run(packed);
        let bytes: &[u8] = bytemuck::cast_slice(&result.weights);
        let reused = previous
            .map(|old| old.weights_buffer)
            .filter(|buffer| buffer.size() == bytes.len().max(4) as u64);
        let was_reused = reused.is_some();
        let weights_buffer = match reused {
            Some(buffer) => {
                ctx.queue.write_buffer(&buffer, 0, bytes);
                buffer
            }
            None => ctx
                .device
                .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("attention weights (CPU reference)"),
                    // A vertex buffer cannot be empty; N = 0 never gets here, but stay safe.
                    contents: if bytes.is_empty() { &[0; 4] } else { bytes },
                    usage: wgpu::BufferUsages::VERTEX | wgpu::BufferUsages::COPY_DST,
                }),
        };
        Computed {
            weights_buffer,
            buffers: None,
            result: Some(result),
            pending: None,
            reused: was_reused,
        }
    }
}

/// What one engine run produced.
struct Computed {
    weights_buffer: wgpu::Buffer,
    buffers: Option<AttentionBuffers>,
    result: Option<AttentionResult>,
    pending: Option<PendingPrinted>,
    reused: bool,
}
