//! The engine seam: the one place Gaze chooses between the WGSL kernels and their CPU twins.
//!
//! As in vello (one recording, run by a GPU engine or by the CPU shaders), the choice is made
//! once per device ([`Engine::for_device`]: compute shaders or not) and every step asks the
//! engine, never the device: step 3's attention, step 4's long context, step 1's fit and step 2's
//! fine-tune each have a GPU arm and a CPU arm side by side below, computing the same numbers
//! (every kernel is tested against its twin in `model`). The stages that keep the results
//! (`app::stage`) never look at which arm ran.

use std::sync::OnceLock;

use wgpu::util::DeviceExt;

use crate::gpu::attention::{
    start_read_back_focus_scores, start_read_back_printed, PendingFocusScores, PendingPrinted,
};
use crate::gpu::long_context::{LongContext, OverviewProgress, FIRST_SLICE_SCORES};
use crate::gpu::overview::OverviewKernels;
use crate::gpu::readback::Pending;
use crate::gpu::training::{FineTuneRun, FitRun, PendingFineTune, PendingFit, TrainingKernels};
use crate::gpu::{AttentionBuffers, AttentionKernels, GpuContext, GpuError};
use crate::model::attention::{AttentionParams, AttentionResult, PackedAttention};
use crate::model::context::{
    self, ContextInput, ContextOutcome, CPU_OVERVIEW_MAX_TOKENS, OVERVIEW_BINS,
};
use crate::model::finetune::{fine_tune, FineTunePath, FineTuneProblem};
use crate::model::train::{train_step, OutputLayer, TrainingSet};

/// The kernels of one device, each set built the first time a step needs it (step 3's at once;
/// step 4's and the trainers' when the user first goes there), so the window opens quickly.
#[derive(Debug)]
pub struct Kernels {
    attention: AttentionKernels,
    overview: OnceLock<OverviewKernels>,
    training: OnceLock<TrainingKernels>,
}

/// Where the numbers are computed, chosen once per device.
#[derive(Debug)]
pub enum Engine {
    /// The WGSL kernels.
    Gpu(Box<Kernels>),
    /// The CPU twins (`model::*`), for adapters without compute shaders (WebGL2) and
    /// `--cpu-reference`.
    Cpu,
}

/// Builds a kernel set once: the first call that succeeds is kept; an error is returned (and
/// retried next time), never cached.
fn built<T>(
    slot: &OnceLock<T>,
    build: impl FnOnce() -> Result<T, GpuError>,
) -> Result<&T, GpuError> {
    if let Some(kernels) = slot.get() {
        return Ok(kernels);
    }
    let kernels = build()?;
    // Another thread may have won the race; either set is as good.
    let _ = slot.set(kernels);
    slot.get()
        .ok_or_else(|| GpuError::Readback("a kernel set was built but not kept".into()))
}

/// Step 3's attention as the engine started it.
#[derive(Debug)]
pub enum AttentionRun {
    /// The kernels ran into the buffers; what the panels print is on its way back.
    Pending(PendingPrinted),
    /// The CPU reference's result, every number in.
    Done(AttentionResult),
}

/// Step 4's context as the engine started it.
#[derive(Debug)]
pub enum ContextRun {
    /// The kernels ran the focus row and the spans' masses (on their way back); the overview
    /// follows a slice per frame.
    Gpu {
        /// The context's buffers (the overview map among them).
        context: Box<LongContext>,
        /// The focus row and masses, on their way back.
        pending: Pending<crate::gpu::long_context::FocusNumbers>,
        /// The overview's slices so far.
        progress: OverviewProgress,
    },
    /// The CPU reference's numbers, all in, and its overview uploaded for the renderer.
    Done {
        /// The numbers.
        outcome: ContextOutcome,
        /// The overview map (`VERTEX`), when one was computed.
        map: Option<wgpu::Buffer>,
    },
}

impl Engine {
    /// The kernels where `ctx` has compute shaders, else the CPU twins.
    pub fn for_device(ctx: &GpuContext) -> Result<Self, GpuError> {
        if !ctx.has_compute() {
            return Ok(Self::Cpu);
        }
        Ok(Self::Gpu(Box::new(Kernels {
            attention: AttentionKernels::new(ctx)?,
            overview: OnceLock::new(),
            training: OnceLock::new(),
        })))
    }

    /// Whether the kernels compute (false: the CPU twins).
    pub fn on_gpu(&self) -> bool {
        matches!(self, Self::Gpu(_))
    }

    /// The overview kernels (GPU engine), built on first use.
    pub fn overview_kernels(&self, ctx: &GpuContext) -> Result<Option<&OverviewKernels>, GpuError> {
        match self {
            Self::Gpu(kernels) => built(&kernels.overview, || OverviewKernels::new(ctx)).map(Some),
            Self::Cpu => Ok(None),
        }
    }

    fn training_kernels(&self, ctx: &GpuContext) -> Result<Option<&TrainingKernels>, GpuError> {
        match self {
            Self::Gpu(kernels) => built(&kernels.training, || TrainingKernels::new(ctx)).map(Some),
            Self::Cpu => Ok(None),
        }
    }

    // ---- Step 3 ------------------------------------------------------------------------------

    /// Whether attention shaped `params` fits this device (binding sizes, the loop bound),
    /// allocating nothing. The CPU twin holds any size the model accepts.
    pub fn fits_attention(
        &self,
        ctx: &GpuContext,
        params: &AttentionParams,
    ) -> Result<(), GpuError> {
        match self {
            Self::Gpu(_) => crate::gpu::attention::plan(params, &ctx.limits()).map(|_| ()),
            Self::Cpu => Ok(()),
        }
    }

    /// Runs step 3's attention over `packed`: the kernels into `buffers` (rewritten in place
    /// when the shape allows, else new ones), with the readback of what the panels print for
    /// `focus` started; or the CPU reference at once (leaving `buffers` empty).
    pub fn attention(
        &self,
        ctx: &GpuContext,
        packed: &PackedAttention,
        buffers: &mut Option<AttentionBuffers>,
        focus: usize,
    ) -> Result<AttentionRun, GpuError> {
        match self {
            Self::Gpu(kernels) => {
                let reused = buffers
                    .as_mut()
                    .is_some_and(|b| b.write_inputs(&ctx.queue, packed));
                if !reused {
                    *buffers = None;
                    *buffers = Some(kernels.attention.prepare(ctx, packed)?);
                }
                let Some(buffers) = buffers.as_ref() else {
                    return Err(GpuError::Readback(
                        "the attention buffers are missing".into(),
                    ));
                };
                let mut encoder = ctx.device.create_command_encoder(&Default::default());
                kernels.attention.encode(&mut encoder, buffers);
                let focus = focus.min(packed.params().n().saturating_sub(1));
                Ok(AttentionRun::Pending(start_read_back_printed(
                    ctx, encoder, buffers, focus,
                )?))
            }
            Self::Cpu => {
                *buffers = None;
                Ok(AttentionRun::Done(crate::model::attention::run(packed)))
            }
        }
    }

    /// Starts reading back `focus`'s score row in every head from the kernels' `buffers`
    /// (`heads × N` floats): another token clicked, nothing recomputed.
    pub fn read_focus_scores(
        &self,
        ctx: &GpuContext,
        buffers: &AttentionBuffers,
        focus: usize,
    ) -> Result<PendingFocusScores, GpuError> {
        let focus = focus.min(buffers.params().n().saturating_sub(1));
        start_read_back_focus_scores(ctx, buffers, focus)
    }

    /// Puts a landed result's weights where the renderers read them, `display`: a GPU copy
    /// from the kernels' `buffers` (the numbers just read back are still there: nothing was
    /// computed since), or an upload of the CPU reference's `result`. A new buffer is made
    /// only when the size changed; returns whether it did (the renderers then rebind).
    pub fn present_attention(
        &self,
        ctx: &GpuContext,
        buffers: Option<&AttentionBuffers>,
        result: &AttentionResult,
        display: &mut Option<wgpu::Buffer>,
    ) -> bool {
        let bytes = (result.params.matrix_len() * std::mem::size_of::<f32>()) as u64;
        // A vertex buffer cannot be empty; N = 0 never gets here, but stay safe.
        let size = bytes.max(4);
        let fresh = display.as_ref().is_none_or(|d| d.size() != size);
        if fresh {
            // COPY_SRC: what is on screen can be read back and checked (tests).
            let mut usage = wgpu::BufferUsages::VERTEX
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC;
            if self.on_gpu() {
                // The arcs' easing pass reads its targets from it.
                usage |= wgpu::BufferUsages::STORAGE;
            }
            *display = Some(ctx.device.create_buffer(&wgpu::BufferDescriptor {
                label: Some("attention weights on screen"),
                size,
                usage,
                mapped_at_creation: false,
            }));
        }
        let Some(target) = display.as_ref() else {
            return fresh;
        };
        match buffers {
            Some(buffers) if bytes > 0 => {
                let mut encoder = ctx.device.create_command_encoder(&Default::default());
                encoder.copy_buffer_to_buffer(buffers.weights_buffer(), 0, target, 0, bytes);
                ctx.queue.submit([encoder.finish()]);
            }
            Some(_) => {}
            None => ctx
                .queue
                .write_buffer(target, 0, bytemuck::cast_slice(&result.weights)),
        }
        fresh
    }

    // ---- Step 4 ------------------------------------------------------------------------------

    /// Whether a context shaped `params` with `spans` spans fits this device with its overview
    /// (binding sizes, the loop bound), allocating nothing. The CPU twin holds any context the
    /// model builds.
    pub fn fits_context(
        &self,
        ctx: &GpuContext,
        params: &AttentionParams,
        spans: usize,
    ) -> Result<(), GpuError> {
        match self {
            Self::Gpu(_) => {
                let bins = context::overview_bins(params.n(), OVERVIEW_BINS);
                LongContext::plan(params, spans, bins, &ctx.limits())
            }
            Self::Cpu => Ok(()),
        }
    }

    /// Runs step 4 over `input`: on the kernels the focus row and the spans' masses (read back
    /// without waiting) with the overview to follow in slices; on the CPU reference everything
    /// at once, the overview only up to [`CPU_OVERVIEW_MAX_TOKENS`] (it is `O(N²)`).
    pub fn context(
        &self,
        ctx: &GpuContext,
        input: &ContextInput,
        packed: &PackedAttention,
    ) -> Result<ContextRun, crate::app::context_lesson::ContextStageError> {
        match (self, self.overview_kernels(ctx)?) {
            (Self::Gpu(kernels), Some(overview)) => {
                let bins = context::overview_bins(input.tokens.len(), OVERVIEW_BINS);
                let spans = input.span_bounds();
                let gpu =
                    LongContext::prepare(ctx, &kernels.attention, overview, packed, &spans, bins)?;
                let mut encoder = ctx.device.create_command_encoder(&Default::default());
                gpu.encode_focus(&mut encoder, &kernels.attention, overview);
                let pending = gpu.start_read_back(ctx, encoder)?;
                let progress = gpu.start_overview(FIRST_SLICE_SCORES);
                Ok(ContextRun::Gpu {
                    context: Box::new(gpu),
                    pending,
                    progress,
                })
            }
            _ => {
                let bins = if input.tokens.len() <= CPU_OVERVIEW_MAX_TOKENS {
                    OVERVIEW_BINS
                } else {
                    0
                };
                let outcome = context::compute(input, bins)?;
                let map = (!outcome.overview.is_empty()).then(|| {
                    ctx.device
                        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                            label: Some("overview map (CPU reference)"),
                            contents: bytemuck::cast_slice(&outcome.overview),
                            usage: wgpu::BufferUsages::VERTEX,
                        })
                });
                Ok(ContextRun::Done { outcome, map })
            }
        }
    }

    // ---- Steps 1 and 2 -----------------------------------------------------------------------

    /// Starts step 1's fit of `set` from zero: its buffers on the GPU, or the CPU twin's layer.
    pub fn start_fit(&self, ctx: &GpuContext, set: &TrainingSet) -> Result<FitRunner, GpuError> {
        let params = *set.params();
        Ok(match self.training_kernels(ctx)? {
            Some(kernels) => FitRunner::Gpu {
                run: kernels.prepare_fit(ctx, set)?,
                pending: None,
            },
            None => FitRunner::Cpu {
                layer: OutputLayer::zeros(&params),
                logits: vec![0.0; params.table_len()],
                steps: 0,
            },
        })
    }

    /// Starts step 2's climb of `steps` steps: all of it submitted at once on the GPU (its
    /// path read back without waiting), or run at once on the CPU twin.
    pub fn start_fine_tune(
        &self,
        ctx: &GpuContext,
        problem: &FineTuneProblem,
        steps: u32,
    ) -> Result<FineTuneRunner, GpuError> {
        Ok(match self.training_kernels(ctx)? {
            Some(kernels) => {
                let mut run = kernels.prepare_fine_tune(ctx, problem)?;
                let mut encoder = ctx.device.create_command_encoder(&Default::default());
                kernels.encode_fine_tune(&mut encoder, &mut run, steps);
                let pending = run.start_read_back(ctx, encoder)?;
                FineTuneRunner::Gpu {
                    _run: run,
                    pending: Some(pending),
                }
            }
            None => FineTuneRunner::Cpu(Some(fine_tune(problem, steps))),
        })
    }
}

/// A fit in progress on one engine.
pub enum FitRunner {
    /// On the kernels: batches submitted one at a time, each read back without waiting.
    Gpu {
        /// The fit's buffers and the steps recorded.
        run: FitRun,
        /// The last batch's readback, until it lands.
        pending: Option<PendingFit>,
    },
    /// On the CPU twin (`model::train::train_step`), a batch per frame.
    Cpu {
        /// The output layer being fitted.
        layer: OutputLayer,
        /// Scratch for the forward pass.
        logits: Vec<f32>,
        /// Steps run.
        steps: u32,
    },
}

/// What a [`FitRunner`] reports once a batch's numbers are in.
pub struct FitNumbers<'a> {
    /// The loss before each step run so far.
    pub losses: &'a mut Vec<f32>,
    /// π of the last step's forward pass, `prefixes × vocabulary`.
    pub probabilities: &'a mut Vec<f32>,
}

impl FitRunner {
    /// Whether the steps run on the GPU.
    pub fn on_gpu(&self) -> bool {
        matches!(self, Self::Gpu { .. })
    }

    /// Steps run (or recorded, on the GPU) so far.
    pub fn steps(&self) -> u32 {
        match self {
            Self::Gpu { run, .. } => run.steps(),
            Self::Cpu { steps, .. } => *steps,
        }
    }

    /// Whether a batch's numbers are on their way back.
    pub fn in_flight(&self) -> bool {
        matches!(
            self,
            Self::Gpu {
                pending: Some(_),
                ..
            }
        )
    }

    /// Takes the last batch's numbers into `numbers` if they have landed (never waits).
    /// Returns whether they did.
    pub fn collect(&mut self, ctx: &GpuContext, numbers: FitNumbers<'_>) -> Result<bool, GpuError> {
        let Self::Gpu { pending, .. } = self else {
            return Ok(false);
        };
        let Some(in_flight) = pending.take() else {
            return Ok(false);
        };
        if !in_flight.poll(ctx)? {
            *pending = Some(in_flight);
            return Ok(false);
        }
        let snapshot = in_flight.take()?;
        *numbers.losses = snapshot.losses;
        *numbers.probabilities = snapshot.probabilities;
        Ok(true)
    }

    /// Blocks until the batch in flight has answered (`gaze render` and tests).
    pub fn wait_in_flight(&mut self, ctx: &GpuContext) -> Result<(), GpuError> {
        if let Self::Gpu { pending, .. } = self {
            if let Some(in_flight) = pending.take() {
                *pending = Some(in_flight.wait_ready(ctx)?);
            }
        }
        Ok(())
    }

    /// Runs `batch` more steps of fitting `set`: submitted on the GPU (their numbers come back
    /// through [`Self::collect`]), or run now on the CPU twin straight into `numbers`. Returns
    /// whether `numbers` changed now.
    pub fn run(
        &mut self,
        engine: &Engine,
        ctx: &GpuContext,
        set: &TrainingSet,
        batch: u32,
        numbers: FitNumbers<'_>,
    ) -> Result<bool, GpuError> {
        match self {
            Self::Gpu { run, pending } => {
                // The engine is chosen once per device, so a GPU fit always finds its kernels;
                // were it ever handed a CPU engine, it stops where it is.
                let Some(kernels) = engine.training_kernels(ctx)? else {
                    return Ok(false);
                };
                let mut encoder = ctx.device.create_command_encoder(&Default::default());
                kernels.encode_fit(&mut encoder, run, batch);
                *pending = Some(run.start_read_back(ctx, encoder)?);
                Ok(false)
            }
            Self::Cpu {
                layer,
                logits,
                steps,
            } => {
                for _ in 0..batch {
                    let loss = train_step(set, layer, logits, numbers.probabilities);
                    numbers.losses.push(loss);
                }
                *steps += batch;
                Ok(batch > 0)
            }
        }
    }
}

/// A finished climb: the policy before each step (`steps × V`), and the final logits.
pub type Climbed = (Vec<f32>, Vec<f32>);

/// A fine-tune's climb on one engine.
pub enum FineTuneRunner {
    /// On the kernels: the whole climb submitted, its path on its way back.
    Gpu {
        /// The climb's buffers (kept alive until the readback lands).
        _run: FineTuneRun,
        /// The path and final logits, until they land.
        pending: Option<PendingFineTune>,
    },
    /// On the CPU twin: the path, until taken.
    Cpu(Option<FineTunePath>),
}

impl FineTuneRunner {
    /// Whether the climb ran on the GPU.
    pub fn on_gpu(&self) -> bool {
        matches!(self, Self::Gpu { .. })
    }

    /// The path (`steps × V`) and the final logits, once (never waits).
    pub fn collect(&mut self, ctx: &GpuContext) -> Result<Option<Climbed>, GpuError> {
        match self {
            Self::Gpu { pending, .. } => {
                let Some(in_flight) = pending.take() else {
                    return Ok(None);
                };
                if !in_flight.poll(ctx)? {
                    *pending = Some(in_flight);
                    return Ok(None);
                }
                let snapshot = in_flight.take()?;
                Ok(Some((snapshot.path, snapshot.logits)))
            }
            Self::Cpu(path) => Ok(path.take().map(|p| (p.path, p.logits))),
        }
    }

    /// Blocks until the path has answered (`gaze render` and tests).
    pub fn wait(&mut self, ctx: &GpuContext) -> Result<(), GpuError> {
        if let Self::Gpu { pending, .. } = self {
            if let Some(in_flight) = pending.take() {
                *pending = Some(in_flight.wait_ready(ctx)?);
            }
        }
        Ok(())
    }
}
