//! Step 4 end to end on the GPU, mirroring `model::context::compute`: the focus row over the
//! whole context (the attention kernels in focus-row mode), each span's share of it
//! (`chunk_masses.wgsl`) and the overview map (`overview_*.wgsl`) — one command encoder, one
//! submission, and a readback of only what the panels print (N weights and the masses). The
//! overview map stays on the GPU: the heatmap renderer draws it from its buffer.
//!
//! Memory is `O(N · (d_model + 3·d_k))` plus `bins²`: at 16,384 tokens it is a few MB, and no
//! buffer comes near WebGPU's 128 MiB binding limit ([`LongContext::gpu_bytes`] sums them).

use super::attention::{AttentionBuffers, AttentionKernels};
use super::context::GpuContext;
use super::error::GpuError;
use super::overview::{ChunkMasses, Overview, OverviewKernels};
use super::readback::{Pending, PendingFloats};
use crate::model::attention::PackedAttention;

/// What [`LongContext::start_read_back_with_map`] brings back.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContextReadback {
    /// The focus row (head 0), N weights.
    pub weights: Vec<f32>,
    /// Each span's mass.
    pub masses: Vec<f32>,
    /// The overview map, `bins × bins` (empty without an overview).
    pub map: Vec<f32>,
}

/// One context's buffers, bound and ready to encode.
#[derive(Debug)]
pub struct LongContext {
    /// The attention kernels' buffers (focus row).
    pub attention: AttentionBuffers,
    /// The overview (none when `bins` was 0).
    pub overview: Option<Overview>,
    /// The spans' masses.
    pub masses: ChunkMasses,
    spans: usize,
}

impl LongContext {
    /// Checks and allocates everything for `packed` (built with `QueryRows::Focus`), its `spans`
    /// (`[start, end)` token ranges) and a `bins × bins` overview (0: none).
    pub fn prepare(
        ctx: &GpuContext,
        attention: &AttentionKernels,
        overview: &OverviewKernels,
        packed: &PackedAttention,
        spans: &[[u32; 2]],
        bins: u32,
    ) -> Result<Self, GpuError> {
        let buffers = attention.prepare(ctx, packed)?;
        let map = match bins {
            0 => None,
            bins => Some(overview.prepare(ctx, &buffers, bins)?),
        };
        let masses = overview.prepare_chunk_masses(ctx, buffers.weights_buffer(), spans)?;
        Ok(Self {
            attention: buffers,
            overview: map,
            masses,
            spans: spans.len(),
        })
    }

    /// Records attention, chunk masses and the overview, in that order.
    pub fn encode(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        attention: &AttentionKernels,
        overview: &OverviewKernels,
    ) {
        attention.encode(encoder, &self.attention);
        overview.encode_chunk_masses(encoder, &self.masses);
        if let Some(map) = &self.overview {
            overview.encode(encoder, map);
        }
    }

    /// Submits `encoder` and starts reading back the focus row (head 0) and the masses.
    pub fn start_read_back(
        &self,
        ctx: &GpuContext,
        encoder: wgpu::CommandEncoder,
    ) -> Result<Pending<(Vec<f32>, Vec<f32>)>, GpuError> {
        let floats = self.read_back_floats(ctx, encoder, false)?;
        Ok(Pending::new(floats, |buffers| {
            let mut values = buffers.into_iter();
            (
                values.next().unwrap_or_default(),
                values.next().unwrap_or_default(),
            )
        }))
    }

    /// Like [`Self::start_read_back`], with the overview map too (`bins²` floats: 64 KiB at
    /// 128 bins) — for the hover values and the page's pixel checks.
    pub fn start_read_back_with_map(
        &self,
        ctx: &GpuContext,
        encoder: wgpu::CommandEncoder,
    ) -> Result<Pending<ContextReadback>, GpuError> {
        let floats = self.read_back_floats(ctx, encoder, true)?;
        Ok(Pending::new(floats, |buffers| {
            let mut values = buffers.into_iter();
            ContextReadback {
                weights: values.next().unwrap_or_default(),
                masses: values.next().unwrap_or_default(),
                map: values.next().unwrap_or_default(),
            }
        }))
    }

    fn read_back_floats(
        &self,
        ctx: &GpuContext,
        encoder: wgpu::CommandEncoder,
        with_map: bool,
    ) -> Result<PendingFloats, GpuError> {
        let n = self.attention.params().n();
        let mut sources = vec![
            (self.attention.weights_buffer(), n),
            (self.masses.buffer(), self.spans),
        ];
        if let (true, Some(map)) = (with_map, &self.overview) {
            let bins = map.bins() as usize;
            sources.push((map.map_buffer(), bins * bins));
        }
        PendingFloats::start(ctx, encoder, &sources)
    }

    /// Every byte this context allocated on the GPU: the attention plan's buffers, the
    /// overview's, the spans and masses (uniform blocks included).
    pub fn gpu_bytes(&self) -> u64 {
        const ATTENTION_UNIFORM: u64 = 48;
        self.attention.plan().total_bytes()
            + ATTENTION_UNIFORM
            + self.overview.as_ref().map_or(0, Overview::bytes)
            + self.masses.bytes()
    }

    /// The largest single buffer, in bytes: what WebGPU's per-binding limit (128 MiB by default)
    /// is checked against.
    pub fn largest_buffer(&self) -> u64 {
        let attention = self
            .attention
            .plan()
            .buffers
            .iter()
            .map(|(_, bytes)| *bytes)
            .max()
            .unwrap_or(0);
        let map = self.overview.as_ref().map_or(0, |o| o.map_buffer().size());
        attention.max(map)
    }
}
