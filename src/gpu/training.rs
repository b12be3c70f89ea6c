//! Step 1's fit and step 2's fine-tune on the GPU: `shaders/train_output_layer.wgsl` and
//! `shaders/rlhf_finetune.wgsl`, mirroring `model::train::train_step` and
//! `model::finetune::fine_tune_step`.
//!
//! Both kernels run one step per dispatch in a single workgroup and keep their step number in a
//! buffer, so any number of steps can be recorded into one compute pass and the results read back
//! when they are ready — a frame never waits for them.

use wgpu::util::DeviceExt;

use super::attention::LOOP_BOUND;
use super::context::GpuContext;
use super::error::GpuError;
use super::kernel::{Access, Kernel};
use super::readback::{Pending, PendingFloats};
use crate::model::finetune::{FineTuneParams, FineTuneProblem};
use crate::model::train::{OutputLayer, TrainParams, TrainingSet};

// Each source is the shader's file followed by the shared pieces (shaders/shared/) named on its
// first line; the file comes first, so naga reports its errors at the file's own line numbers.

/// The training kernel's source.
pub const TRAIN_WGSL: &str = concat!(
    include_str!("../../shaders/train_output_layer.wgsl"),
    include_str!("../../shaders/shared/lowest_finite.wgsl"),
    include_str!("../../shaders/shared/reduce.wgsl"),
);
/// The fine-tune kernel's source.
pub const FINE_TUNE_WGSL: &str = concat!(
    include_str!("../../shaders/rlhf_finetune.wgsl"),
    include_str!("../../shaders/shared/lowest_finite.wgsl"),
    include_str!("../../shaders/shared/reduce.wgsl"),
);

/// The two pipelines. Long-lived: build once per device.
#[derive(Debug)]
pub struct TrainingKernels {
    train: Kernel,
    fine_tune: Kernel,
}

/// A fit in progress on the GPU: the output layer, its last forward pass and the loss history.
#[derive(Debug)]
pub struct FitRun {
    params: TrainParams,
    weights: wgpu::Buffer,
    probabilities: wgpu::Buffer,
    losses: wgpu::Buffer,
    group: wgpu::BindGroup,
    steps: u32,
}

/// A fine-tune in progress on the GPU: the logits and the path so far.
#[derive(Debug)]
pub struct FineTuneRun {
    params: FineTuneParams,
    logits: wgpu::Buffer,
    path: wgpu::Buffer,
    group: wgpu::BindGroup,
    steps: u32,
}

/// What a fit's readback holds.
#[derive(Clone, Debug, PartialEq)]
pub struct FitSnapshot {
    /// The output layer after the steps run so far.
    pub layer: OutputLayer,
    /// π of the last step's forward pass, P × V.
    pub probabilities: Vec<f32>,
    /// The loss before each step run so far.
    pub losses: Vec<f32>,
}

/// What a fine-tune's readback holds.
#[derive(Clone, Debug, PartialEq)]
pub struct FineTuneSnapshot {
    /// π before each step run so far, `steps × V`.
    pub path: Vec<f32>,
    /// The logits after them.
    pub logits: Vec<f32>,
}

const UNIFORM: wgpu::BufferUsages = wgpu::BufferUsages::UNIFORM;
const STORAGE: wgpu::BufferUsages = wgpu::BufferUsages::STORAGE;

fn init(
    device: &wgpu::Device,
    label: &str,
    contents: &[u8],
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents,
        usage,
    })
}

/// A storage buffer the kernels read or write and the readback copies from.
fn storage(device: &wgpu::Device, label: &str, contents: &[f32]) -> wgpu::Buffer {
    // wgpu refuses empty bindings: keep at least one float.
    let contents: &[f32] = if contents.is_empty() {
        &[0.0]
    } else {
        contents
    };
    let usage = STORAGE | wgpu::BufferUsages::COPY_SRC;
    init(device, label, bytemuck::cast_slice(contents), usage)
}

fn check_loops(kernel: &'static str, iterations: u64) -> Result<(), GpuError> {
    if iterations > LOOP_BOUND {
        return Err(GpuError::LoopBound {
            kernel,
            iterations,
            bound: LOOP_BOUND,
        });
    }
    Ok(())
}

impl TrainingKernels {
    /// Compiles both pipelines.
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        use Access::{Read, ReadWrite, Uniform};
        let device = &ctx.device;
        ctx.scoped(|| Self {
            train: Kernel::new(
                device,
                "train_output_layer",
                TRAIN_WGSL,
                &[
                    Uniform, Read, Read, Read, ReadWrite, ReadWrite, ReadWrite, ReadWrite,
                    ReadWrite,
                ],
            ),
            fine_tune: Kernel::new(
                device,
                "rlhf_finetune",
                FINE_TUNE_WGSL,
                &[Uniform, Read, Read, ReadWrite, ReadWrite, ReadWrite],
            ),
        })
    }

    /// Uploads `set` with the output layer at zero, ready for [`Self::encode_fit`].
    pub fn prepare_fit(&self, ctx: &GpuContext, set: &TrainingSet) -> Result<FitRun, GpuError> {
        let params = *set.params();
        check_loops("train_output_layer", params.loop_iterations())?;
        let device = &ctx.device;
        ctx.scoped(|| {
            let uniform = init(device, "train params", bytemuck::bytes_of(&params), UNIFORM);
            let hidden = storage(device, "standardised hidden states", set.inputs());
            let corpus_share = storage(device, "corpus shares", set.corpus_share());
            let prefix_share = storage(device, "prefix shares", set.prefix_share());
            let weights = storage(device, "output layer", &OutputLayer::zeros(&params).weights);
            let table = vec![0.0; params.table_len()];
            let logits = storage(device, "training logits", &table);
            let probabilities = storage(device, "training probabilities", &table);
            let losses = storage(device, "losses", &vec![0.0; params.max_steps as usize]);
            // The step number each dispatch reads and bumps.
            let step_counter = init(device, "training step", bytemuck::bytes_of(&0u32), STORAGE);
            let group = self.train.bind(
                device,
                &[
                    &uniform,
                    &hidden,
                    &corpus_share,
                    &prefix_share,
                    &weights,
                    &logits,
                    &probabilities,
                    &losses,
                    &step_counter,
                ],
            );
            FitRun {
                params,
                weights,
                probabilities,
                losses,
                group,
                steps: 0,
            }
        })
    }

    /// Records `steps` more steps of `run` (one dispatch each) into `encoder`.
    pub fn encode_fit(&self, encoder: &mut wgpu::CommandEncoder, run: &mut FitRun, steps: u32) {
        encode_steps(encoder, &self.train, &run.group, steps);
        run.steps += steps;
    }

    /// Uploads `problem` with the logits at the pretrained ones, ready for
    /// [`Self::encode_fine_tune`].
    pub fn prepare_fine_tune(
        &self,
        ctx: &GpuContext,
        problem: &FineTuneProblem,
    ) -> Result<FineTuneRun, GpuError> {
        let params = *problem.params();
        check_loops("rlhf_finetune", params.loop_iterations())?;
        let device = &ctx.device;
        ctx.scoped(|| {
            let uniform = init(
                device,
                "fine-tune params",
                bytemuck::bytes_of(&params),
                UNIFORM,
            );
            let reference = storage(device, "reference log-probs", problem.reference_log_probs());
            let rewards = storage(device, "rewards", problem.rewards());
            let logits = storage(device, "fine-tune logits", problem.base_logits());
            let path_len = params.max_steps as usize * params.vocabulary as usize;
            let path = storage(device, "fine-tune path", &vec![0.0; path_len]);
            // The step number each dispatch reads and bumps.
            let step_counter = init(device, "fine-tune step", bytemuck::bytes_of(&0u32), STORAGE);
            let group = self.fine_tune.bind(
                device,
                &[
                    &uniform,
                    &reference,
                    &rewards,
                    &logits,
                    &path,
                    &step_counter,
                ],
            );
            FineTuneRun {
                params,
                logits,
                path,
                group,
                steps: 0,
            }
        })
    }

    /// Records `steps` more steps of `run` into `encoder`.
    pub fn encode_fine_tune(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        run: &mut FineTuneRun,
        steps: u32,
    ) {
        encode_steps(encoder, &self.fine_tune, &run.group, steps);
        run.steps += steps;
    }
}

fn encode_steps(
    encoder: &mut wgpu::CommandEncoder,
    kernel: &Kernel,
    group: &wgpu::BindGroup,
    steps: u32,
) {
    let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
        label: Some("training steps"),
        timestamp_writes: None,
    });
    pass.set_pipeline(&kernel.pipeline);
    pass.set_bind_group(0, group, &[]);
    // wgpu orders dispatches in a pass: each step sees the previous one's writes.
    for _ in 0..steps {
        pass.dispatch_workgroups(1, 1, 1);
    }
}

impl FitRun {
    /// Steps recorded so far.
    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// Starts reading the layer, the last forward pass and the losses back (submits `encoder`).
    pub fn start_read_back(
        &self,
        ctx: &GpuContext,
        encoder: wgpu::CommandEncoder,
    ) -> Result<PendingFit, GpuError> {
        let losses = self.steps.min(self.params.max_steps) as usize;
        let floats = PendingFloats::start(
            ctx,
            encoder,
            &[
                (&self.weights, self.params.weights_len()),
                (&self.probabilities, self.params.table_len()),
                (&self.losses, losses),
            ],
        )?;
        Ok(Pending::new(floats, decode_fit))
    }
}

/// A fit's readback in flight.
pub type PendingFit = Pending<FitSnapshot>;

fn decode_fit(buffers: Vec<Vec<f32>>) -> FitSnapshot {
    let mut values = buffers.into_iter();
    let mut next = || values.next().unwrap_or_default();
    FitSnapshot {
        layer: OutputLayer { weights: next() },
        probabilities: next(),
        losses: next(),
    }
}

impl FineTuneRun {
    /// Steps recorded so far.
    pub fn steps(&self) -> u32 {
        self.steps
    }

    /// Starts reading the path and the logits back (submits `encoder`).
    pub fn start_read_back(
        &self,
        ctx: &GpuContext,
        encoder: wgpu::CommandEncoder,
    ) -> Result<PendingFineTune, GpuError> {
        let v = self.params.vocabulary as usize;
        let rows = self.steps.min(self.params.max_steps) as usize;
        let floats =
            PendingFloats::start(ctx, encoder, &[(&self.path, rows * v), (&self.logits, v)])?;
        Ok(Pending::new(floats, decode_fine_tune))
    }
}

/// A fine-tune's readback in flight.
pub type PendingFineTune = Pending<FineTuneSnapshot>;

fn decode_fine_tune(buffers: Vec<Vec<f32>>) -> FineTuneSnapshot {
    let mut values = buffers.into_iter();
    let mut next = || values.next().unwrap_or_default();
    FineTuneSnapshot {
        path: next(),
        logits: next(),
    }
}
