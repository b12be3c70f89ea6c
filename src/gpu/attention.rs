//! Attention on the GPU: four compute kernels that mirror `model::attention` line for line.
//!
//! ```text
//! attention_project.wgsl   X, W  → Q, K, V          (+ sinusoidal / RoPE)
//! attention_scores.wgsl    Q, K  → S = QKᵀ/√d_k     (masked entries −∞)
//! attention_softmax.wgsl   S     → P = softmax_rows(S)
//! attention_output.wgsl    P, V  → O = P V
//! ```
//!
//! All heads run in one dispatch per kernel (the head is a workgroup coordinate). The kernels
//! compute a window of query rows: the full matrix is the window of all `N` rows, and the
//! focus-row mode is the window of one row, so it allocates `heads × N` scores instead of
//! `heads × N × N` — the path for 10k-token contexts.
//!
//! Before anything is allocated, a request is checked against the device's limits (buffer sizes,
//! workgroup counts) and against the per-invocation loop bound every kernel must keep; a request
//! past any of them is a [`GpuError`] that names the limit.

use wgpu::util::DeviceExt;

use super::context::GpuContext;
use super::error::GpuError;
use super::kernel::{Access, Kernel};
use super::readback::PendingFloats;
use crate::model::attention::{
    output_tile_width, AttentionParams, AttentionResult, FocusScores, PackedAttention, LANES,
};
use crate::model::positions;

// Each source is the shader's file followed by the shared pieces (shaders/shared/) named on its
// first line; the file comes first, so naga reports its errors at the file's own line numbers.

/// `shaders/attention_project.wgsl`.
pub const PROJECT_WGSL: &str = concat!(
    include_str!("../../shaders/attention_project.wgsl"),
    include_str!("../../shaders/shared/attention_params.wgsl"),
);
/// `shaders/attention_scores.wgsl`.
pub const SCORES_WGSL: &str = concat!(
    include_str!("../../shaders/attention_scores.wgsl"),
    include_str!("../../shaders/shared/attention_params.wgsl"),
    include_str!("../../shaders/shared/attention_mask.wgsl"),
);
/// `shaders/attention_softmax.wgsl`.
pub const SOFTMAX_WGSL: &str = concat!(
    include_str!("../../shaders/attention_softmax.wgsl"),
    include_str!("../../shaders/shared/attention_params.wgsl"),
    include_str!("../../shaders/shared/attention_mask.wgsl"),
    include_str!("../../shaders/shared/lowest_finite.wgsl"),
    include_str!("../../shaders/shared/reduce.wgsl"),
);
/// `shaders/attention_output.wgsl`.
pub const OUTPUT_WGSL: &str = concat!(
    include_str!("../../shaders/attention_output.wgsl"),
    include_str!("../../shaders/shared/attention_params.wgsl"),
);

/// Workgroup width of the projection kernel (`@workgroup_size(64)`).
const PROJECT_WORKGROUP: u64 = 64;
/// Workgroup width of the scores kernel (`@workgroup_size(256)`).
const SCORES_WORKGROUP: u64 = 256;

/// The loop bound every kernel keeps per invocation. Mesa's lavapipe (and its GL twin) silently
/// stops an invocation after 65,535 loop iterations, all loops counted together; a request whose
/// worst case would cross this is refused rather than answered wrongly.
pub const LOOP_BOUND: u64 = 65_535;

/// Worst-case loop iterations of one invocation of each kernel for `params`, as
/// `(kernel, iterations)`. Derived from the loops in the shaders:
/// - project: one loop over `d_model`;
/// - scores: one loop over `d_k`;
/// - softmax: three strided passes of `⌈N/256⌉` plus two tree reductions of `log2 256 = 8`;
/// - output: `⌈d_k/width⌉` passes, each a strided loop of `⌈N/groups⌉` and a reduction of
///   `log2 groups` (see [`output_tile_width`]).
pub fn loop_iterations(params: &AttentionParams) -> [(&'static str, u64); 4] {
    let n = u64::from(params.n_tokens);
    let d_k = u64::from(params.d_k);
    let lanes = LANES as u64;
    let width = output_tile_width(params.dk()) as u64;
    let groups = lanes / width;
    [
        ("attention_project", u64::from(params.d_model)),
        ("attention_scores", d_k),
        (
            "attention_softmax",
            3 * n.div_ceil(lanes) + 2 * u64::from(lanes.trailing_zeros()),
        ),
        (
            "attention_output",
            d_k.div_ceil(width) * (n.div_ceil(groups) + u64::from(groups.trailing_zeros())),
        ),
    ]
}

/// Byte sizes of every buffer one request needs, and the workgroup counts it dispatches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttentionPlan {
    /// `(what, bytes)` for each storage buffer, in binding order of first use.
    pub buffers: Vec<(&'static str, u64)>,
    /// `(kernel, [x, y, z])` workgroup counts.
    pub dispatches: [(&'static str, [u32; 3]); 4],
}

impl AttentionPlan {
    /// Total bytes of GPU memory the request allocates (inputs, intermediates and outputs; the
    /// 48-byte uniform block aside).
    pub fn total_bytes(&self) -> u64 {
        self.buffers.iter().map(|(_, bytes)| bytes).sum()
    }

    /// Bytes of the named buffer.
    pub fn bytes(&self, what: &str) -> u64 {
        self.buffers
            .iter()
            .find(|(name, _)| *name == what)
            .map_or(0, |(_, bytes)| *bytes)
    }
}

/// Storage buffers are never bound empty: an unused table is this small placeholder.
const EMPTY_BINDING_BYTES: u64 = 16;

fn f32_bytes(what: &'static str, counts: &[u32]) -> Result<u64, GpuError> {
    let elements = counts
        .iter()
        .try_fold(1u64, |acc, &c| acc.checked_mul(u64::from(c)))
        .unwrap_or(u64::MAX);
    // Shaders index with u32: every buffer must have fewer than 2^32 elements.
    if elements > u64::from(u32::MAX) {
        return Err(GpuError::LimitExceeded {
            limit: "u32 indexing in WGSL",
            what: what.into(),
            requested: elements,
            allowed: u64::from(u32::MAX),
        });
    }
    Ok((elements * 4).max(EMPTY_BINDING_BYTES))
}

/// Checks `params` against the device's `limits` and the loop bound, and sizes the request.
/// Nothing is allocated; an oversize request is an error naming the limit it crosses.
pub fn plan(params: &AttentionParams, limits: &wgpu::Limits) -> Result<AttentionPlan, GpuError> {
    let p = params;
    let pairs = positions::rope_pairs(p.dk()) as u32;
    let sinusoidal = p.positions == positions::POSITIONS_SINUSOIDAL;
    let rope = p.positions == positions::POSITIONS_ROPE;
    let buffers = vec![
        (
            "embeddings X (N × d_model)",
            f32_bytes("embeddings X", &[p.n_tokens, p.d_model])?,
        ),
        (
            "projection weights (heads × 3 × d_model × d_k)",
            f32_bytes("projection weights", &[p.n_heads, 3, p.d_model, p.d_k])?,
        ),
        (
            "sinusoidal table (N × d_model)",
            if sinusoidal {
                f32_bytes("sinusoidal table", &[p.n_tokens, p.d_model])?
            } else {
                EMPTY_BINDING_BYTES
            },
        ),
        (
            "RoPE table (N × d_k/2 × 2)",
            if rope {
                f32_bytes("RoPE table", &[p.n_tokens, pairs, 2])?
            } else {
                EMPTY_BINDING_BYTES
            },
        ),
        (
            "key mask (N)",
            if p.use_key_mask != 0 {
                f32_bytes("key mask", &[p.n_tokens])?
            } else {
                EMPTY_BINDING_BYTES
            },
        ),
        (
            "Q (heads × N × d_k)",
            f32_bytes("Q", &[p.n_heads, p.n_tokens, p.d_k])?,
        ),
        (
            "K (heads × N × d_k)",
            f32_bytes("K", &[p.n_heads, p.n_tokens, p.d_k])?,
        ),
        (
            "V (heads × N × d_k)",
            f32_bytes("V", &[p.n_heads, p.n_tokens, p.d_k])?,
        ),
        (
            "attention scores (heads × rows × N)",
            f32_bytes("attention scores", &[p.n_heads, p.query_count, p.n_tokens])?,
        ),
        (
            "attention weights (heads × rows × N)",
            f32_bytes("attention weights", &[p.n_heads, p.query_count, p.n_tokens])?,
        ),
        (
            "outputs (heads × rows × d_k)",
            f32_bytes("outputs", &[p.n_heads, p.query_count, p.d_k])?,
        ),
    ];
    for &(what, bytes) in &buffers {
        for (limit, allowed) in [
            (
                "max_storage_buffer_binding_size",
                limits.max_storage_buffer_binding_size,
            ),
            ("max_buffer_size", limits.max_buffer_size),
        ] {
            if bytes > allowed {
                return Err(GpuError::LimitExceeded {
                    limit,
                    what: format!("the {what} buffer"),
                    requested: bytes,
                    allowed,
                });
            }
        }
    }

    let max_groups = u64::from(limits.max_compute_workgroups_per_dimension);
    // The projection needs N · d_k invocations per head, often more than one dimension allows
    // (65,535 workgroups): fold them into x × y; the shader unfolds with `num_workgroups`.
    let project_groups = (u64::from(p.n_tokens) * u64::from(p.d_k)).div_ceil(PROJECT_WORKGROUP);
    let project_x = project_groups.min(max_groups);
    let project_y = project_groups.div_ceil(project_x.max(1));
    let scores_groups = u64::from(p.n_tokens).div_ceil(SCORES_WORKGROUP);
    let counts: [(&'static str, [u64; 3]); 4] = [
        (
            "attention_project",
            [project_x, project_y, p.n_heads.into()],
        ),
        (
            "attention_scores",
            [scores_groups, p.query_count.into(), p.n_heads.into()],
        ),
        (
            "attention_softmax",
            [p.query_count.into(), p.n_heads.into(), 1],
        ),
        (
            "attention_output",
            [p.query_count.into(), p.n_heads.into(), 1],
        ),
    ];
    let mut dispatches = [("", [0u32; 3]); 4];
    for (slot, (kernel, dims)) in dispatches.iter_mut().zip(counts) {
        let mut groups = [0u32; 3];
        for (g, d) in groups.iter_mut().zip(dims) {
            if d > max_groups {
                return Err(GpuError::LimitExceeded {
                    limit: "max_compute_workgroups_per_dimension",
                    what: format!("the {kernel} dispatch"),
                    requested: d,
                    allowed: max_groups,
                });
            }
            // d ≤ max_groups, a u32.
            *g = d as u32;
        }
        *slot = (kernel, groups);
    }
    for (kernel, iterations) in loop_iterations(p) {
        if iterations > LOOP_BOUND {
            return Err(GpuError::LoopBound {
                kernel,
                iterations,
                bound: LOOP_BOUND,
            });
        }
    }
    Ok(AttentionPlan {
        buffers,
        dispatches,
    })
}

/// The four attention pipelines. Long-lived: build once per device.
#[derive(Debug)]
pub struct AttentionKernels {
    project: Kernel,
    scores: Kernel,
    softmax: Kernel,
    output: Kernel,
}

/// The buffers and bind groups of one request shape. Reusable: while the shape stays the same,
/// new inputs are written into the same buffers ([`AttentionBuffers::write_inputs`]), so editing
/// a weight allocates nothing.
#[derive(Debug)]
pub struct AttentionBuffers {
    params: AttentionParams,
    plan: AttentionPlan,
    params_buffer: wgpu::Buffer,
    x: wgpu::Buffer,
    w_qkv: wgpu::Buffer,
    sinusoid: wgpu::Buffer,
    rope: wgpu::Buffer,
    key_mask: wgpu::Buffer,
    q: wgpu::Buffer,
    k: wgpu::Buffer,
    v: wgpu::Buffer,
    scores: wgpu::Buffer,
    weights: wgpu::Buffer,
    output: wgpu::Buffer,
    project_group: wgpu::BindGroup,
    scores_group: wgpu::BindGroup,
    softmax_group: wgpu::BindGroup,
    output_group: wgpu::BindGroup,
}

impl AttentionBuffers {
    /// The uniform block, queries, keys and key mask: what the overview kernels read.
    pub(crate) fn overview_inputs(&self) -> [&wgpu::Buffer; 4] {
        [&self.params_buffer, &self.q, &self.k, &self.key_mask]
    }

    /// The shape these buffers hold.
    pub fn params(&self) -> &AttentionParams {
        &self.params
    }

    /// The sizes and dispatches they were planned with.
    pub fn plan(&self) -> &AttentionPlan {
        &self.plan
    }

    /// The attention weights `P`, `[head][rows][N]` f32, for renderers that draw straight from
    /// the compute output.
    pub fn weights_buffer(&self) -> &wgpu::Buffer {
        &self.weights
    }

    /// Whether `packed` needs buffers of exactly these sizes, so it can be written in place.
    /// Everything in the parameters but the causal switch decides a size (positions decide the
    /// tables, the key mask its buffer), so toggling the mask reuses the buffers — and whatever
    /// animates from them (the arcs) eases from the old weights instead of starting over.
    pub fn fits(&self, packed: &PackedAttention) -> bool {
        let p = packed.params();
        AttentionParams {
            causal: self.params.causal,
            ..*p
        } == self.params
    }

    /// Uploads new inputs and parameters that fit these buffers (see [`Self::fits`]); returns
    /// `false` and writes nothing when they do not.
    pub fn write_inputs(&mut self, queue: &wgpu::Queue, packed: &PackedAttention) -> bool {
        if !self.fits(packed) {
            return false;
        }
        self.params = *packed.params();
        queue.write_buffer(&self.params_buffer, 0, bytemuck::bytes_of(&self.params));
        queue.write_buffer(&self.x, 0, bytemuck::cast_slice(packed.x()));
        queue.write_buffer(&self.w_qkv, 0, bytemuck::cast_slice(packed.w_qkv()));
        if !packed.sinusoid().is_empty() {
            queue.write_buffer(&self.sinusoid, 0, bytemuck::cast_slice(packed.sinusoid()));
        }
        if !packed.rope().is_empty() {
            queue.write_buffer(&self.rope, 0, bytemuck::cast_slice(packed.rope()));
        }
        if !packed.key_mask().is_empty() {
            queue.write_buffer(&self.key_mask, 0, bytemuck::cast_slice(packed.key_mask()));
        }
        true
    }
}

fn storage_init(device: &wgpu::Device, label: &str, data: &[u8], bytes: u64) -> wgpu::Buffer {
    if data.is_empty() {
        // An unused table: a small zeroed placeholder keeps the bind group valid.
        return device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
    }
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: data,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
    })
}

fn storage_output(device: &wgpu::Device, label: &str, bytes: u64) -> wgpu::Buffer {
    storage_output_with(device, label, bytes, wgpu::BufferUsages::empty())
}

fn storage_output_with(
    device: &wgpu::Device,
    label: &str,
    bytes: u64,
    extra: wgpu::BufferUsages,
) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes,
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | extra,
        mapped_at_creation: false,
    })
}

impl AttentionKernels {
    /// Compiles the four pipelines.
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        use Access::{Read, ReadWrite, Uniform};
        let device = &ctx.device;
        ctx.scoped(|| Self {
            project: Kernel::new(
                device,
                "attention_project",
                PROJECT_WGSL,
                &[
                    Uniform, Read, Read, Read, Read, ReadWrite, ReadWrite, ReadWrite,
                ],
            ),
            scores: Kernel::new(
                device,
                "attention_scores",
                SCORES_WGSL,
                &[Uniform, Read, Read, Read, ReadWrite],
            ),
            softmax: Kernel::new(
                device,
                "attention_softmax",
                SOFTMAX_WGSL,
                &[Uniform, Read, Read, ReadWrite],
            ),
            output: Kernel::new(
                device,
                "attention_output",
                OUTPUT_WGSL,
                &[Uniform, Read, Read, ReadWrite],
            ),
        })
    }

    /// Checks `packed` against the device, then allocates and fills its buffers.
    pub fn prepare(
        &self,
        ctx: &GpuContext,
        packed: &PackedAttention,
    ) -> Result<AttentionBuffers, GpuError> {
        let plan = plan(packed.params(), &ctx.limits())?;
        let device = &ctx.device;
        ctx.scoped(|| {
            let bytes = |i: usize| plan.buffers.get(i).map_or(EMPTY_BINDING_BYTES, |b| b.1);
            let params_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("attention params"),
                contents: bytemuck::bytes_of(packed.params()),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            });
            let x = storage_init(
                device,
                "embeddings",
                bytemuck::cast_slice(packed.x()),
                bytes(0),
            );
            let w_qkv = storage_init(
                device,
                "projection weights",
                bytemuck::cast_slice(packed.w_qkv()),
                bytes(1),
            );
            let sinusoid = storage_init(
                device,
                "sinusoidal table",
                bytemuck::cast_slice(packed.sinusoid()),
                bytes(2),
            );
            let rope = storage_init(
                device,
                "rope table",
                bytemuck::cast_slice(packed.rope()),
                bytes(3),
            );
            let key_mask = storage_init(
                device,
                "key mask",
                bytemuck::cast_slice(packed.key_mask()),
                bytes(4),
            );
            let q = storage_output(device, "queries", bytes(5));
            let k = storage_output(device, "keys", bytes(6));
            let v = storage_output(device, "values", bytes(7));
            let scores = storage_output(device, "attention scores", bytes(8));
            // The heatmap and arcs read the weights as a per-instance vertex attribute.
            let weights = storage_output_with(
                device,
                "attention weights",
                bytes(9),
                wgpu::BufferUsages::VERTEX,
            );
            let output = storage_output(device, "attention outputs", bytes(10));
            let project_group = self.project.bind(
                device,
                &[&params_buffer, &x, &w_qkv, &sinusoid, &rope, &q, &k, &v],
            );
            let scores_group = self
                .scores
                .bind(device, &[&params_buffer, &q, &k, &key_mask, &scores]);
            let softmax_group = self
                .softmax
                .bind(device, &[&params_buffer, &scores, &key_mask, &weights]);
            let output_group = self
                .output
                .bind(device, &[&params_buffer, &weights, &v, &output]);
            AttentionBuffers {
                params: *packed.params(),
                plan: plan.clone(),
                params_buffer,
                x,
                w_qkv,
                sinusoid,
                rope,
                key_mask,
                q,
                k,
                v,
                scores,
                weights,
                output,
                project_group,
                scores_group,
                softmax_group,
                output_group,
            }
        })
    }

    /// Records the four dispatches into `encoder`. wgpu orders them: each kernel sees the
    /// previous one's writes.
    pub fn encode(&self, encoder: &mut wgpu::CommandEncoder, buffers: &AttentionBuffers) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("attention"),
            timestamp_writes: None,
        });
        let groups = [
            (&self.project, &buffers.project_group),
            (&self.scores, &buffers.scores_group),
            (&self.softmax, &buffers.softmax_group),
            (&self.output, &buffers.output_group),
        ];
        for ((kernel, group), (_, [x, y, z])) in groups.into_iter().zip(buffers.plan.dispatches) {
            pass.set_pipeline(&kernel.pipeline);
            pass.set_bind_group(0, group, &[]);
            pass.dispatch_workgroups(x, y, z);
        }
    }

    /// Runs the kernels on `buffers` and waits for them (no readback): what the benchmarks time.
    pub fn run_and_wait(
        &self,
        ctx: &GpuContext,
        buffers: &AttentionBuffers,
    ) -> Result<(), GpuError> {
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        self.encode(&mut encoder, buffers);
        ctx.queue.submit([encoder.finish()]);
        ctx.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map(|_| ())
            .map_err(|e| GpuError::Readback(e.to_string()))
    }

    /// Prepares, runs and reads back every intermediate: the blocking path for `gaze verify`,
    /// tests and the command line. (The window reads results back without blocking a frame.)
    pub fn run_blocking(
        &self,
        ctx: &GpuContext,
        packed: &PackedAttention,
    ) -> Result<AttentionResult, GpuError> {
        let buffers = self.prepare(ctx, packed)?;
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        self.encode(&mut encoder, &buffers);
        read_back(ctx, encoder, &buffers)
    }
}

/// A readback of every attention intermediate in flight; the window polls it each frame instead
/// of waiting, so a frame never blocks on a readback.
#[derive(Debug)]
pub struct PendingReadback {
    params: AttentionParams,
    floats: PendingFloats,
}

/// Copies every result buffer to a mappable one, submits `encoder` with the copies and asks for
/// the mappings, without waiting.
pub fn start_read_back(
    ctx: &GpuContext,
    encoder: wgpu::CommandEncoder,
    buffers: &AttentionBuffers,
) -> Result<PendingReadback, GpuError> {
    let p = &buffers.params;
    let sources: [(&wgpu::Buffer, usize); 6] = [
        (&buffers.q, p.projection_len()),
        (&buffers.k, p.projection_len()),
        (&buffers.v, p.projection_len()),
        (&buffers.scores, p.matrix_len()),
        (&buffers.weights, p.matrix_len()),
        (&buffers.output, p.output_len()),
    ];
    Ok(PendingReadback {
        params: *p,
        floats: PendingFloats::start(ctx, encoder, &sources)?,
    })
}

impl PendingReadback {
    /// Whether every buffer has answered (call `device.poll` to let native callbacks run).
    pub fn is_ready(&self) -> bool {
        self.floats.is_ready()
    }

    /// The values, once [`Self::is_ready`]; an error if a mapping failed or it is not ready.
    pub fn take(self) -> Result<AttentionResult, GpuError> {
        let mut values = self.floats.take()?.into_iter();
        let mut next = || values.next().unwrap_or_default();
        Ok(AttentionResult {
            params: self.params,
            q: next(),
            k: next(),
            v: next(),
            scores: next(),
            weights: next(),
            output: next(),
        })
    }

    /// Blocks until the values arrive (command line and tests; never in a frame).
    pub fn wait(self, ctx: &GpuContext) -> Result<AttentionResult, GpuError> {
        let params = self.params;
        let floats = self.floats.wait_ready(ctx)?;
        PendingReadback { params, floats }.take()
    }
}

/// Copies `focus`'s row of the scores in every head (`[head][rows][N]` → `[head][N]`) into a
/// buffer of their own, recorded into `encoder`.
fn copy_focus_rows(
    ctx: &GpuContext,
    encoder: &mut wgpu::CommandEncoder,
    buffers: &AttentionBuffers,
    focus: usize,
) -> Result<wgpu::Buffer, GpuError> {
    let p = &buffers.params;
    let row = focus
        .checked_sub(p.query_start as usize)
        .filter(|&row| row < p.rows())
        .ok_or_else(|| {
            GpuError::Readback(format!(
                "token {focus} is not among the {} query rows computed",
                p.rows()
            ))
        })?;
    let float = std::mem::size_of::<f32>() as u64;
    let row_bytes = p.n() as u64 * float;
    let rows = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("focus scores"),
        size: (p.heads() as u64 * row_bytes).max(4),
        usage: wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    for head in 0..p.heads() {
        let from = ((head * p.rows() + row) * p.n()) as u64 * float;
        encoder.copy_buffer_to_buffer(
            &buffers.scores,
            from,
            &rows,
            head as u64 * row_bytes,
            row_bytes,
        );
    }
    Ok(rows)
}

/// What step 3 prints, on its way back: Q, K, V, the weights and the outputs whole, and of the
/// scores only the focus row of each head (the panel prints no other; the whole matrix is as
/// large as the weights: 4 MB at N = 512 with 4 heads).
#[derive(Debug)]
pub struct PendingPrinted {
    params: AttentionParams,
    focus: usize,
    floats: PendingFloats,
}

/// Starts the readback of what step 3 prints with `focus` as the focus (submits `encoder` with
/// the copies; never waits).
pub fn start_read_back_printed(
    ctx: &GpuContext,
    mut encoder: wgpu::CommandEncoder,
    buffers: &AttentionBuffers,
    focus: usize,
) -> Result<PendingPrinted, GpuError> {
    let p = &buffers.params;
    let rows = copy_focus_rows(ctx, &mut encoder, buffers, focus)?;
    let sources: [(&wgpu::Buffer, usize); 6] = [
        (&buffers.q, p.projection_len()),
        (&buffers.k, p.projection_len()),
        (&buffers.v, p.projection_len()),
        (&rows, p.heads() * p.n()),
        (&buffers.weights, p.matrix_len()),
        (&buffers.output, p.output_len()),
    ];
    Ok(PendingPrinted {
        params: *p,
        focus,
        floats: PendingFloats::start(ctx, encoder, &sources)?,
    })
}

impl PendingPrinted {
    /// The focus whose score row it brings.
    pub fn focus(&self) -> usize {
        self.focus
    }

    /// Whether every buffer has answered.
    pub fn is_ready(&self) -> bool {
        self.floats.is_ready()
    }

    /// The values, once ready: the result (with no scores: they came back as the focus row
    /// only) and the focus's scores.
    pub fn take(self) -> Result<(AttentionResult, FocusScores), GpuError> {
        let mut values = self.floats.take()?.into_iter();
        let mut next = || values.next().unwrap_or_default();
        let (q, k, v, focus_rows, weights, output) =
            (next(), next(), next(), next(), next(), next());
        Ok((
            AttentionResult {
                params: self.params,
                q,
                k,
                v,
                scores: Vec::new(),
                weights,
                output,
            },
            FocusScores {
                focus: self.focus,
                n: self.params.n(),
                rows: focus_rows,
            },
        ))
    }

    /// Blocks until the values arrive (headless rendering and tests; never in a frame).
    pub fn wait(self, ctx: &GpuContext) -> Result<(AttentionResult, FocusScores), GpuError> {
        let Self {
            params,
            focus,
            floats,
        } = self;
        let floats = floats.wait_ready(ctx)?;
        Self {
            params,
            focus,
            floats,
        }
        .take()
    }

    /// The bytes this readback brings back (what the copies cost the bus).
    pub fn bytes(&self) -> u64 {
        let p = &self.params;
        let floats = 3 * p.projection_len() + p.heads() * p.n() + p.matrix_len() + p.output_len();
        floats as u64 * std::mem::size_of::<f32>() as u64
    }
}

/// Another focus's scores (the user clicked a token): `heads × N` floats, not a new readback of
/// everything.
#[derive(Debug)]
pub struct PendingFocusScores {
    focus: usize,
    n: usize,
    floats: PendingFloats,
}

/// Starts reading back `focus`'s score row in every head (never waits).
pub fn start_read_back_focus_scores(
    ctx: &GpuContext,
    buffers: &AttentionBuffers,
    focus: usize,
) -> Result<PendingFocusScores, GpuError> {
    let p = &buffers.params;
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    let rows = copy_focus_rows(ctx, &mut encoder, buffers, focus)?;
    Ok(PendingFocusScores {
        focus,
        n: p.n(),
        floats: PendingFloats::start(ctx, encoder, &[(&rows, p.heads() * p.n())])?,
    })
}

impl PendingFocusScores {
    /// The focus these scores are for.
    pub fn focus(&self) -> usize {
        self.focus
    }

    /// Whether the row has answered.
    pub fn is_ready(&self) -> bool {
        self.floats.is_ready()
    }

    /// The scores, once ready.
    pub fn take(self) -> Result<FocusScores, GpuError> {
        let rows = self.floats.take()?.into_iter().next().unwrap_or_default();
        Ok(FocusScores {
            focus: self.focus,
            n: self.n,
            rows,
        })
    }

    /// Blocks until the row arrives (headless rendering and tests).
    pub fn wait(self, ctx: &GpuContext) -> Result<FocusScores, GpuError> {
        let Self { focus, n, floats } = self;
        let floats = floats.wait_ready(ctx)?;
        Self { focus, n, floats }.take()
    }
}

/// Copies every result buffer back, submits, waits, and returns the values: the blocking path
/// for `gaze verify`, tests and the command line.
pub fn read_back(
    ctx: &GpuContext,
    encoder: wgpu::CommandEncoder,
    buffers: &AttentionBuffers,
) -> Result<AttentionResult, GpuError> {
    start_read_back(ctx, encoder, buffers)?.wait(ctx)
}
