//! Step 3's derived state: the scene's sentence embedded by the lesson model and its attention
//! computed by the engine (`app::engine`: the WGSL kernels, or where the adapter has no compute
//! shaders — a browser drawing through WebGL2 — the CPU reference every kernel is tested
//! against), kept by a [`Stage`]: recomputed only when what it depends on changes, and put on
//! screen only once the numbers the panels print have landed, so text and cells always come from
//! the same result.

use crate::app::engine::{AttentionRun, Engine};
use crate::app::stage::{largest_fitting, Landing, Stage};
use crate::gpu::attention::{PendingFocusScores, PendingPrinted};
use crate::gpu::{AttentionBuffers, GpuContext, GpuError};
use crate::model::attention::Matrix;
use crate::model::attention::{
    AttentionInput, AttentionOptions, AttentionParams, AttentionResult, FocusScores,
    PackedAttention, QueryRows,
};
use crate::model::lesson::{LessonError, LessonModel, LessonToken};
use crate::model::residual::{carried_forward, CarriedForward};
use crate::model::transformer::{HeadRef, ShownHead, TransformerModel};
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

/// Step 3 computed for one state of the scene: tokens, the weights in use, and the numbers the
/// panels print (read back from the kernels, or the CPU reference's).
#[derive(Debug)]
pub struct AttentionStage {
    /// The sentence's tokens, as the views show them.
    pub tokens: Vec<crate::model::transformer::Token>,
    /// The heads shown (the lesson model's first `heads`, layer 1).
    pub heads: Vec<ShownHead>,
    /// Each token's vector in the residual stream (`N × d_model`): its embedding, plus the
    /// sinusoidal position when those are on.
    pub stream: Matrix,
    /// The weights in use, one per head shown (the lesson model's, with the user's edits).
    pub weights: Vec<crate::model::attention::HeadWeights>,
    /// The weights the heatmap and arcs draw from, `[head][rows][N]` (`VERTEX` usage): this
    /// stage's numbers, put there when they landed ([`Engine::present_attention`]); `None` until
    /// this stage is on screen.
    pub weights_buffer: Option<wgpu::Buffer>,
    /// The shapes and switches of the attention computed.
    pub params: AttentionParams,
    /// Whether the kernels computed it (false: the CPU reference, whose arcs ease on the CPU).
    pub on_gpu: bool,
    /// The computed values, read back for text; `None` only while this stage is on its way (a
    /// stage is shown once they are in). From the kernels it holds no scores — only the focus
    /// row of those is printed, and read back ([`Self::focus_scores`]); the CPU reference's
    /// holds them all.
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
    /// Bumped whenever [`Self::weights_buffer`] is a new GPU object (not rewritten in place),
    /// so whatever binds it (the renderers) knows to rebuild its bind groups.
    pub generation: u64,
    /// Bumped whenever the weights on screen change, rewritten in place or not (the CPU-eased
    /// arcs take new targets then).
    pub revision: u64,
    /// Why only the first tokens are shown, when the sentence is longer than step 3 computes
    /// here (a paste of a whole page, or a GPU with small limits): the smaller view's message.
    pub shortened: Option<String>,
    /// Which computation this is ([`AttentionLesson`] counts them): the kernels' buffers are
    /// read for this stage only while they still hold its numbers.
    computation: u64,
}

impl Landing for AttentionStage {
    fn landed(&self) -> bool {
        self.result.is_some()
    }
}

impl AttentionStage {
    /// What step 3's panels show of this stage: the maps and arcs (advanced by `dt` seconds;
    /// the screen applies the presenter's colour map and motion setting) and the numbers behind
    /// them.
    pub fn views<'a>(
        &'a self,
        model: &'a LessonModel,
        dt: f32,
    ) -> (
        crate::ui::step3_attention::AttentionView<'a>,
        crate::ui::behind_the_gaze::BehindView<'a>,
    ) {
        (
            crate::ui::step3_attention::AttentionView {
                tokens: &self.tokens,
                heads: &self.heads,
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

    /// Collects what has landed (the printed numbers, another focus's scores), without
    /// waiting. Returns whether anything did.
    fn poll_readback(&mut self, ctx: &GpuContext) -> Result<bool, GpuError> {
        let _ = ctx.device.poll(wgpu::PollType::Poll);
        // The printed numbers first: a focus row asked for later is newer than theirs.
        let mut landed = false;
        if self.pending.as_ref().is_some_and(PendingPrinted::is_ready) {
            if let Some(pending) = self.pending.take() {
                self.take_printed(pending.take()?);
                landed = true;
            }
        }
        if self.pending_focus.as_ref().is_some_and(|p| p.is_ready()) {
            if let Some(pending) = self.pending_focus.take() {
                self.focus_scores = Some(pending.take()?);
                landed = true;
            }
        }
        Ok(landed)
    }

    /// Waits for whatever is on its way (headless rendering and tests).
    fn wait_readback(&mut self, ctx: &GpuContext) -> Result<bool, GpuError> {
        let mut landed = false;
        if let Some(pending) = self.pending.take() {
            self.take_printed(pending.wait(ctx)?);
            landed = true;
        }
        if let Some(pending) = self.pending_focus.take() {
            self.focus_scores = Some(pending.wait(ctx)?);
            landed = true;
        }
        Ok(landed)
    }

    fn take_printed(&mut self, (result, scores): (AttentionResult, FocusScores)) {
        self.result = Some(result);
        // A focus row asked for while this readback was in flight is newer than its own.
        if self.pending_focus.is_none() {
            self.focus_scores = Some(scores);
        }
        self.carried = None;
    }

    /// The focus whose score row this stage holds or is fetching.
    fn asked_focus(&self) -> Option<usize> {
        self.pending_focus
            .as_ref()
            .map(PendingFocusScores::focus)
            .or(self.pending.as_ref().map(PendingPrinted::focus))
            .or(self.focus_scores.as_ref().map(|s| s.focus))
    }

    /// Keeps [`Self::focus_scores`] on `focus`: from the CPU reference's scores at once, or from
    /// the kernels' `buffers` (which hold this stage's numbers) by a readback of that one row
    /// per head (`heads × N` floats), started here and collected by a later poll.
    fn follow_focus(
        &mut self,
        ctx: &GpuContext,
        engine: &Engine,
        buffers: Option<&AttentionBuffers>,
        focus: usize,
    ) -> Result<(), GpuError> {
        let focus = focus.min(self.tokens.len().saturating_sub(1));
        if self.asked_focus() == Some(focus) {
            return Ok(());
        }
        match (buffers, &self.result) {
            (Some(buffers), _) if self.on_gpu => {
                self.pending_focus = Some(engine.read_focus_scores(ctx, buffers, focus)?);
            }
            (_, Some(result)) => self.focus_scores = FocusScores::of(result, focus),
            _ => {}
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
}

/// A [`CarriedForward`] and what it was computed for.
#[derive(Debug)]
struct CarriedCache {
    focus: usize,
    residual_norm: bool,
    value: CarriedForward,
}

/// Step 3's long-lived parts: the [`Stage`] of computed results, the kernels' buffers (rewritten
/// in place by each compute of the same shape), and the buffer the renderers draw from.
///
/// The kernels compute into their own buffers; a result reaches the screen's buffer only when
/// its readback has landed (a GPU copy, [`Engine::present_attention`]). So the cells, the arcs
/// and the printed numbers always show one result, and a sentence being typed never shows new
/// cells under old numbers.
#[derive(Debug, Default)]
pub struct AttentionLesson {
    stage: Stage<StageKey, AttentionStage>,
    /// The kernels' buffers (GPU engine).
    buffers: Option<AttentionBuffers>,
    /// The computation whose numbers `buffers` hold. A refused edit, or a GPU error, after a
    /// compute that never landed can leave them holding numbers no stage on screen has: a
    /// focus row is then never read from them for the stage shown.
    buffers_hold: u64,
    /// Computations started so far.
    computations: u64,
    /// The weights on screen (what [`AttentionStage::weights_buffer`] of the shown stage is).
    display: Option<wgpu::Buffer>,
    /// Bumped when `display` is a new buffer.
    generation: u64,
    /// Bumped when `display` is rewritten.
    revision: u64,
}

impl AttentionLesson {
    /// The stage on screen: the newest whose numbers have landed.
    pub fn shown(&self) -> Option<&AttentionStage> {
        self.stage.shown()
    }

    /// Takes the stage on screen out (a headless render returns it for checks).
    pub fn take_shown(&mut self) -> Option<AttentionStage> {
        self.stage.take_shown()
    }

    /// Why the scene's current step-3 settings are refused, while they are.
    pub fn refusal(&self) -> Option<&str> {
        self.stage.refusal()
    }

    /// Collects the readbacks in flight (or, with `wait`, waits for them), puts a stage whose
    /// numbers landed on screen, keeps the focus row on `focus` and the focus's carried vector
    /// up to date. Returns whether anything shown changed.
    pub fn settle(
        &mut self,
        ctx: &GpuContext,
        lesson: &Lesson,
        scene: &AttentionScene,
        wait: bool,
    ) -> Result<bool, GpuError> {
        let (engine, holds) = (&lesson.engine, self.buffers_hold);
        if let Some(stage) = self.stage.newest_mut() {
            let buffers = self.buffers.as_ref().filter(|_| stage.computation == holds);
            stage.follow_focus(ctx, engine, buffers, scene.focus)?;
        }
        let polled = if wait {
            self.stage.poll(|stage| stage.wait_readback(ctx))?
        } else {
            self.stage.poll(|stage| stage.poll_readback(ctx))?
        };
        if polled.promoted {
            self.present(ctx, engine);
        }
        if let Some(stage) = self.stage.shown_mut() {
            stage.update_carried(lesson.model.w_o(), scene.focus, scene.residual_norm);
        }
        Ok(polled.changed)
    }

    /// Waits for every number in flight and shows it (headless rendering and tests).
    pub fn wait(&mut self, ctx: &GpuContext, lesson: &Lesson) -> Result<(), GpuError> {
        let engine = &lesson.engine;
        if self.stage.poll(|stage| stage.wait_readback(ctx))?.promoted {
            self.present(ctx, engine);
        }
        Ok(())
    }

    /// The shown stage's weights into the screen's buffer.
    fn present(&mut self, ctx: &GpuContext, engine: &Engine) {
        let Some(stage) = self.stage.shown_mut() else {
            return;
        };
        let Some(result) = stage.result.as_ref() else {
            return;
        };
        // From the kernels' buffers while they hold this stage's numbers; else the numbers
        // read back (the same values, uploaded).
        let kernels = self
            .buffers
            .as_ref()
            .filter(|_| stage.on_gpu && stage.computation == self.buffers_hold);
        if engine.present_attention(ctx, kernels, result, &mut self.display) {
            self.generation += 1;
        }
        self.revision += 1;
        stage.weights_buffer = self.display.clone();
        stage.generation = self.generation;
        stage.revision = self.revision;
    }
}

/// The lesson model and the engine on one device.
#[derive(Debug)]
pub struct Lesson {
    /// The lesson model.
    pub model: LessonModel,
    /// Where every step computes (chosen once for the device).
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
        Ok(Self {
            model,
            engine: Engine::for_device(ctx)?,
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

    /// Whether the steps compute on the GPU kernels (false: the CPU reference).
    pub fn computes_on_gpu(&self) -> bool {
        self.engine.on_gpu()
    }

    /// Adds the estimated embeddings (the text of `assets/estimated_embeddings.txt`); stages
    /// recompute on their next update. Returns how many words now have estimates.
    pub fn add_estimated(&mut self, text: &str) -> Result<usize, StageError> {
        let words = self.model.add_estimated(text)?;
        self.model_revision += 1;
        Ok(words)
    }

    /// Brings step 3 up to date with `scene`: nothing happens when nothing it depends on
    /// changed (or the scene was refused and has not changed since); same-shape edits reuse
    /// the kernels' buffers. The kernels run and a readback of what the panels print starts,
    /// without waiting; the CPU reference's result goes on screen at once. A refusal keeps the
    /// last good stage on screen and is returned this once. Returns whether anything was
    /// recomputed.
    pub fn update(
        &self,
        ctx: &GpuContext,
        scene: &AttentionScene,
        step: &mut AttentionLesson,
    ) -> Result<bool, StageError> {
        let revision = self.model_revision;
        let shown_before = step.stage.shown_count();
        let (buffers, holds) = (&mut step.buffers, &mut step.buffers_hold);
        let computations = &mut step.computations;
        let computed = step.stage.update(
            // Compared field by field: building a key every frame would allocate every frame.
            |key| key.matches(scene, revision),
            || StageKey {
                sentence: scene.sentence.clone(),
                heads: scene.heads,
                options: AttentionOptions {
                    causal: scene.causal,
                    positions: scene.positions,
                    key_padding_mask: None,
                },
                edits: scene.weight_edits.clone(),
                model_revision: revision,
            },
            |key, _superseded| {
                *computations += 1;
                self.compute(ctx, key, scene.focus, *computations, (buffers, holds))
            },
        )?;
        if step.stage.shown_count() != shown_before {
            // The CPU reference's numbers were in at once: on screen now.
            step.present(ctx, &self.engine);
        }
        Ok(computed)
    }

    /// Step 3 for `key`: the sentence embedded, shortened to what this device holds, and run
    /// by the engine into `buffers`.
    fn compute(
        &self,
        ctx: &GpuContext,
        key: &StageKey,
        focus: usize,
        computation: u64,
        (buffers, holds): (&mut Option<AttentionBuffers>, &mut u64),
    ) -> Result<AttentionStage, StageError> {
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
        let focus = focus.min(tokens.len().saturating_sub(1));
        // From here the buffers are this computation's, whether the engine succeeds or not.
        *holds = computation;
        let (result, pending) = match self.engine.attention(ctx, &packed, buffers, focus)? {
            AttentionRun::Pending(pending) => (None, Some(pending)),
            AttentionRun::Done(result) => (Some(result), None),
        };
        let focus_scores = result.as_ref().and_then(|r| FocusScores::of(r, focus));
        Ok(AttentionStage {
            tokens: tokens
                .iter()
                .map(crate::model::transformer::Token::from)
                .collect(),
            heads: (0..key.heads.min(self.model.heads().len()))
                .map(|head| self.model.shown_head(HeadRef { layer: 0, head }))
                .collect(),
            stream: crate::model::residual::residual_stream(&input),
            weights: input.heads.clone(),
            weights_buffer: None,
            params: *packed.params(),
            on_gpu: pending.is_some(),
            result,
            pending,
            focus_scores,
            pending_focus: None,
            carried: None,
            generation: 0,
            revision: 0,
            shortened,
            computation,
        })
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
        // The device's limits (binding sizes, the loop bound) are checked without allocating.
        let mut params = *full;
        let fit = largest_fitting(total, |n| {
            let n = u32::try_from(n).unwrap_or(u32::MAX);
            params.n_tokens = n;
            params.query_count = n;
            self.engine.fits_attention(ctx, &params)
        })?;
        let Some((shown, why)) = fit else {
            return Ok(None);
        };
        let width = input.x.cols();
        let kept = input
            .x
            .data()
            .get(..shown * width)
            .unwrap_or_default()
            .to_vec();
        input.x = Matrix::new(shown, width, kept)?;
        tokens.truncate(shown);
        Ok(Some(format!(
            "showing the first {shown} of {total} tokens ({why})"
        )))
    }
}
