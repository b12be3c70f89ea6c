//! Step 4's long-context kernels: the overview map reduced to screen resolution
//! (`shaders/overview_row_stats.wgsl`, `shaders/overview_bins.wgsl`) and each chunk's share of the
//! focus row (`shaders/chunk_masses.wgsl`), mirroring `model::overview`.
//!
//! They read the attention kernels' own buffers (Q, K, the key mask, the focus row's weights):
//! nothing is copied, and nothing `N × N` is ever allocated.

use super::attention::{AttentionBuffers, LOOP_BOUND};
use super::context::GpuContext;
use super::error::GpuError;
use super::kernel::{Access, Kernel};
use super::readback::{Pending, PendingFloats};
use crate::model::attention::AttentionParams;
use crate::model::overview::{loop_iterations, OverviewParams};

// Each source is the shader's file followed by the shared pieces (shaders/shared/) named on its
// first line; the file comes first, so naga reports its errors at the file's own line numbers.

/// The row-statistics kernel's source.
pub const ROW_STATS_WGSL: &str = concat!(
    include_str!("../../shaders/overview_row_stats.wgsl"),
    include_str!("../../shaders/shared/attention_params.wgsl"),
    include_str!("../../shaders/shared/attention_mask.wgsl"),
    include_str!("../../shaders/shared/overview.wgsl"),
    include_str!("../../shaders/shared/lowest_finite.wgsl"),
    include_str!("../../shaders/shared/online_softmax.wgsl"),
);
/// The bins kernel's source.
pub const BINS_WGSL: &str = concat!(
    include_str!("../../shaders/overview_bins.wgsl"),
    include_str!("../../shaders/shared/attention_params.wgsl"),
    include_str!("../../shaders/shared/attention_mask.wgsl"),
    include_str!("../../shaders/shared/overview.wgsl"),
    include_str!("../../shaders/shared/reduce.wgsl"),
);
/// The chunk-mass kernel's source.
pub const CHUNK_MASSES_WGSL: &str = concat!(
    include_str!("../../shaders/chunk_masses.wgsl"),
    include_str!("../../shaders/shared/reduce.wgsl"),
);

/// The three pipelines. Long-lived: build once per device.
#[derive(Debug)]
pub struct OverviewKernels {
    row_stats: Kernel,
    bins: Kernel,
    chunk_masses: Kernel,
}

/// An overview of one attention computation: its statistics and bins buffers, bound.
#[derive(Debug)]
pub struct Overview {
    bins: u32,
    heads: u32,
    n_tokens: u32,
    stats: wgpu::Buffer,
    map: wgpu::Buffer,
    /// The `OverviewParams` uniform: its row offset is rewritten per slice.
    settings: wgpu::Buffer,
    stats_group: wgpu::BindGroup,
    bins_group: wgpu::BindGroup,
}

/// Chunk masses of a focus row, bound.
#[derive(Debug)]
pub struct ChunkMasses {
    chunks: u32,
    masses: wgpu::Buffer,
    group: wgpu::BindGroup,
}

fn buffer(
    device: &wgpu::Device,
    label: &str,
    bytes: u64,
    usage: wgpu::BufferUsages,
) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: bytes.max(4),
        usage,
        mapped_at_creation: false,
    })
}

/// The row statistics (`heads × N × 2`: max, sum) and the reduced map (`heads × R × R`), on their
/// way back from the GPU.
pub type PendingOverview = Pending<(Vec<f32>, Vec<f32>)>;

fn check_size(what: &str, bytes: u64, limits: &wgpu::Limits) -> Result<(), GpuError> {
    let allowed = limits.max_storage_buffer_binding_size;
    if bytes > allowed {
        return Err(GpuError::LimitExceeded {
            limit: "max_storage_buffer_binding_size",
            what: what.to_owned(),
            requested: bytes,
            allowed,
        });
    }
    Ok(())
}

fn check_groups(what: &str, groups: u64, limits: &wgpu::Limits) -> Result<(), GpuError> {
    let allowed = u64::from(limits.max_compute_workgroups_per_dimension);
    if groups > allowed {
        return Err(GpuError::LimitExceeded {
            limit: "max_compute_workgroups_per_dimension",
            what: what.to_owned(),
            requested: groups,
            allowed,
        });
    }
    Ok(())
}

/// What an overview of some attention needs, once checked against the device.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverviewPlan {
    /// Bins per side (the request capped at N).
    pub bins: u32,
    /// The row statistics' bytes (`heads × N × 2` f32).
    pub stats_bytes: u64,
    /// The map's bytes (`heads × R × R` f32).
    pub map_bytes: u64,
}

/// Checks a `bins × bins` overview of attention shaped `p` against `limits` (the loop bound,
/// binding sizes, dispatch sizes) without allocating anything: what
/// [`OverviewKernels::prepare`] does first, and what step 4's shrink-to-fit asks of each size it
/// tries.
pub fn plan(
    p: &AttentionParams,
    bins: u32,
    limits: &wgpu::Limits,
) -> Result<OverviewPlan, GpuError> {
    let bins = bins.clamp(1, p.n_tokens.max(1));
    for (kernel, iterations) in loop_iterations(p, bins as usize) {
        if iterations > LOOP_BOUND {
            return Err(GpuError::LoopBound {
                kernel,
                iterations,
                bound: LOOP_BOUND,
            });
        }
    }
    let heads = u64::from(p.n_heads);
    let stats_bytes = heads * u64::from(p.n_tokens) * 2 * 4;
    let map_bytes = heads * u64::from(bins) * u64::from(bins) * 4;
    check_size(
        "the overview's row statistics (heads × N × 2 f32)",
        stats_bytes,
        limits,
    )?;
    check_size("the overview map (heads × R × R f32)", map_bytes, limits)?;
    check_groups("the overview_row_stats dispatch", p.n_tokens.into(), limits)?;
    check_groups("the overview_bins dispatch", bins.into(), limits)?;
    Ok(OverviewPlan {
        bins,
        stats_bytes,
        map_bytes,
    })
}

/// Checks the chunk masses of `spans` spans against `limits`, allocating nothing.
pub fn plan_chunk_masses(spans: usize, limits: &wgpu::Limits) -> Result<(), GpuError> {
    check_groups("the chunk_masses dispatch", spans as u64, limits)
}

impl OverviewKernels {
    /// Compiles the pipelines.
    pub fn new(ctx: &GpuContext) -> Result<Self, GpuError> {
        use Access::{Read, ReadWrite, Uniform};
        let device = &ctx.device;
        ctx.scoped(|| Self {
            row_stats: Kernel::new(
                device,
                "overview_row_stats",
                ROW_STATS_WGSL,
                &[Uniform, Uniform, Read, Read, Read, ReadWrite],
            ),
            bins: Kernel::new(
                device,
                "overview_bins",
                BINS_WGSL,
                &[Uniform, Uniform, Read, Read, Read, Read, ReadWrite],
            ),
            chunk_masses: Kernel::new(
                device,
                "chunk_masses",
                CHUNK_MASSES_WGSL,
                &[Read, Read, ReadWrite],
            ),
        })
    }

    /// Allocates and binds an `bins × bins` overview of `attention` (per head). `bins` is capped
    /// at N; a request whose kernels would loop too long, or need more than the device allows,
    /// is a typed error.
    pub fn prepare(
        &self,
        ctx: &GpuContext,
        attention: &AttentionBuffers,
        bins: u32,
    ) -> Result<Overview, GpuError> {
        let p = attention.params();
        let OverviewPlan {
            bins,
            stats_bytes,
            map_bytes,
        } = plan(p, bins, &ctx.limits())?;
        let device = &ctx.device;
        ctx.scoped(|| {
            use wgpu::util::DeviceExt;
            let storage = wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC;
            let stats = buffer(device, "overview row statistics", stats_bytes, storage);
            // VERTEX: the heatmap renderer draws the map straight from this buffer.
            let map = buffer(
                device,
                "overview map",
                map_bytes,
                storage | wgpu::BufferUsages::VERTEX,
            );
            let overview_params = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("overview params"),
                contents: bytemuck::bytes_of(&OverviewParams::new(bins)),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            });
            let [params, q, k, key_mask] = attention.overview_inputs();
            let stats_group = self
                .row_stats
                .bind(device, &[params, &overview_params, q, k, key_mask, &stats]);
            let bins_group = self.bins.bind(
                device,
                &[params, &overview_params, q, k, key_mask, &stats, &map],
            );
            Overview {
                bins,
                heads: p.n_heads,
                n_tokens: p.n_tokens,
                stats,
                map,
                settings: overview_params,
                stats_group,
                bins_group,
            }
        })
    }

    /// Records both passes whole (after the attention kernels that filled Q and K), for an
    /// overview whose row offset is 0 (never sliced).
    pub fn encode(&self, encoder: &mut wgpu::CommandEncoder, overview: &Overview) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("overview"),
            timestamp_writes: None,
        });
        pass.set_pipeline(&self.row_stats.pipeline);
        pass.set_bind_group(0, &overview.stats_group, &[]);
        pass.dispatch_workgroups(overview.n_tokens, overview.heads, 1);
        pass.set_pipeline(&self.bins.pipeline);
        pass.set_bind_group(0, &overview.bins_group, &[]);
        pass.dispatch_workgroups(overview.bins, overview.bins, overview.heads);
    }

    /// Records one slice of the overview: pass 1 over token rows `rows` (`pass_one`), or pass 2
    /// over bin rows `rows` — all of pass 1 must have run before any of pass 2. The slice's
    /// first row goes to the uniform by `queue.write_buffer`, which lands before the next
    /// submission: submit each slice on its own.
    pub fn encode_slice(
        &self,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        overview: &Overview,
        pass_one: bool,
        rows: std::ops::Range<u32>,
    ) {
        let settings = OverviewParams {
            row_offset: rows.start,
            ..OverviewParams::new(overview.bins)
        };
        queue.write_buffer(&overview.settings, 0, bytemuck::bytes_of(&settings));
        let count = rows.end.saturating_sub(rows.start);
        if count == 0 {
            return;
        }
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("overview slice"),
            timestamp_writes: None,
        });
        if pass_one {
            pass.set_pipeline(&self.row_stats.pipeline);
            pass.set_bind_group(0, &overview.stats_group, &[]);
            pass.dispatch_workgroups(count, overview.heads, 1);
        } else {
            pass.set_pipeline(&self.bins.pipeline);
            pass.set_bind_group(0, &overview.bins_group, &[]);
            pass.dispatch_workgroups(overview.bins, count, overview.heads);
        }
    }

    /// Binds the chunk masses of `weights` (the focus row of head 0: its first N floats) over
    /// `spans` (`[start, end)` token ranges).
    pub fn prepare_chunk_masses(
        &self,
        ctx: &GpuContext,
        weights: &wgpu::Buffer,
        spans: &[[u32; 2]],
    ) -> Result<ChunkMasses, GpuError> {
        plan_chunk_masses(spans.len(), &ctx.limits())?;
        let device = &ctx.device;
        ctx.scoped(|| {
            use wgpu::util::DeviceExt;
            let spans_data: &[[u32; 2]] = if spans.is_empty() { &[[0, 0]] } else { spans };
            let spans_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("chunk spans"),
                contents: bytemuck::cast_slice(spans_data),
                usage: wgpu::BufferUsages::STORAGE,
            });
            let masses = buffer(
                device,
                "chunk masses",
                spans.len() as u64 * 4,
                wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            );
            let group = self
                .chunk_masses
                .bind(device, &[weights, &spans_buffer, &masses]);
            ChunkMasses {
                chunks: spans.len() as u32,
                masses,
                group,
            }
        })
    }

    /// Records the chunk-mass pass.
    pub fn encode_chunk_masses(&self, encoder: &mut wgpu::CommandEncoder, masses: &ChunkMasses) {
        if masses.chunks == 0 {
            return;
        }
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("chunk masses"),
            timestamp_writes: None,
        });
        pass.set_pipeline(&self.chunk_masses.pipeline);
        pass.set_bind_group(0, &masses.group, &[]);
        pass.dispatch_workgroups(masses.chunks, 1, 1);
    }
}

fn first(buffers: Vec<Vec<f32>>) -> Vec<f32> {
    buffers.into_iter().next().unwrap_or_default()
}

fn pair(buffers: Vec<Vec<f32>>) -> (Vec<f32>, Vec<f32>) {
    let mut values = buffers.into_iter();
    (
        values.next().unwrap_or_default(),
        values.next().unwrap_or_default(),
    )
}

impl Overview {
    /// Bins per side.
    pub fn bins(&self) -> u32 {
        self.bins
    }

    /// Token rows (pass 1's rows).
    pub fn n_tokens(&self) -> u32 {
        self.n_tokens
    }

    /// Bytes this overview allocated on the GPU (statistics, map, its uniform).
    pub fn bytes(&self) -> u64 {
        self.stats.size() + self.map.size() + 16
    }

    /// The overview's map buffer (`[head][R][R]` f32): what a renderer draws from.
    pub fn map_buffer(&self) -> &wgpu::Buffer {
        &self.map
    }

    /// Starts reading the row statistics and the map back (submits `encoder`).
    pub fn start_read_back(
        &self,
        ctx: &GpuContext,
        encoder: wgpu::CommandEncoder,
    ) -> Result<PendingOverview, GpuError> {
        let (heads, n, r) = (
            self.heads as usize,
            self.n_tokens as usize,
            self.bins as usize,
        );
        let floats = PendingFloats::start(
            ctx,
            encoder,
            &[(&self.stats, heads * n * 2), (&self.map, heads * r * r)],
        )?;
        Ok(Pending::new(floats, pair))
    }
}

impl ChunkMasses {
    /// The masses buffer (one f32 per span).
    pub fn buffer(&self) -> &wgpu::Buffer {
        &self.masses
    }

    /// Bytes allocated on the GPU (the spans and the masses).
    pub fn bytes(&self) -> u64 {
        u64::from(self.chunks.max(1)) * 8 + self.masses.size()
    }

    /// Starts reading the masses back (submits `encoder`).
    pub fn start_read_back(
        &self,
        ctx: &GpuContext,
        encoder: wgpu::CommandEncoder,
    ) -> Result<Pending<Vec<f32>>, GpuError> {
        let floats = PendingFloats::start(ctx, encoder, &[(&self.masses, self.chunks as usize)])?;
        Ok(Pending::new(floats, first))
    }
}
