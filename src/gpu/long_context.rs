//! Step 4 end to end on the GPU, mirroring `model::context::compute`: the focus row over the
//! whole context (the attention kernels in focus-row mode), each span's share of it
//! (`chunk_masses.wgsl`) and the overview map (`overview_*.wgsl`) — one command encoder, one
//! submission, and a readback of only what the panels print (N weights and the masses). The
//! overview map stays on the GPU: the heatmap renderer draws it from its buffer.
//!
//! The overview is `O(N²)` work: nothing on a GPU at 10k tokens, but seconds on a software
//! adapter (lavapipe, SwiftShader), where one submission of it would hold the queue — and every
//! frame behind it. So the app runs it in slices ([`LongContext::advance`]): the focus row and the
//! masses first, then a slice of the overview per frame, each sized from how long the last one
//! took so that it fills about [`SLICE_TARGET`] of GPU time — one slice for the whole map on real
//! hardware, dozens on a CPU — and the UI keeps drawing meanwhile.
//!
//! Memory is `O(N · (d_model + 3·d_k))` plus `bins²`: at 16,384 tokens it is a few MB, and no
//! buffer comes near WebGPU's 128 MiB binding limit ([`LongContext::gpu_bytes`] sums them).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use web_time::{Duration, Instant};

use super::attention::{AttentionBuffers, AttentionKernels};
use super::context::GpuContext;
use super::error::GpuError;
use super::overview::{ChunkMasses, Overview, OverviewKernels};
use super::readback::{Pending, PendingFloats};
use crate::model::attention::{AttentionParams, PackedAttention};

/// What the focus-row readback brings back: the focus row (head 0) and each span's mass.
pub type FocusNumbers = (Vec<f32>, Vec<f32>);

/// GPU time one overview slice aims for: well inside a frame.
pub const SLICE_TARGET: Duration = Duration::from_millis(20);

/// Score evaluations in the first slice: ~1 ms on a laptop GPU, ~100 ms on lavapipe; the next
/// slices scale from the measured time.
pub const FIRST_SLICE_SCORES: u64 = 1 << 20;

/// A sliced overview in progress (see the module docs).
#[derive(Debug)]
pub struct OverviewProgress {
    /// Token rows of pass 1 done.
    rows_done: u32,
    /// Bin rows of pass 2 done.
    bins_done: u32,
    /// Score evaluations per slice.
    budget: u64,
    /// The slice on the GPU: set when it has finished, and when it was submitted.
    in_flight: Option<(Arc<AtomicBool>, Instant)>,
    /// The map's readback, once both passes are done.
    map: Option<Pending<Vec<f32>>>,
    /// The map has been handed out.
    finished: bool,
    /// Slices submitted so far.
    slices: u32,
}

impl OverviewProgress {
    /// How much of the overview is done, 0–1 (pass 1 and pass 2 each count half).
    pub fn fraction(&self, n_tokens: u32, bins: u32) -> f32 {
        let one = self.rows_done as f32 / n_tokens.max(1) as f32;
        let two = self.bins_done as f32 / bins.max(1) as f32;
        0.5 * (one + two)
    }

    /// Whether the map has been read back.
    pub fn finished(&self) -> bool {
        self.finished
    }

    /// Slices submitted so far.
    pub fn slices(&self) -> u32 {
        self.slices
    }
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
    /// Checks a context shaped `params` with `spans` spans and a `bins × bins` overview (0:
    /// none) against `limits` — every check [`Self::prepare`] makes, allocating nothing: what
    /// step 4's shrink-to-fit asks of each size it tries.
    pub fn plan(
        params: &AttentionParams,
        spans: usize,
        bins: u32,
        limits: &wgpu::Limits,
    ) -> Result<(), GpuError> {
        crate::gpu::attention::plan(params, limits)?;
        if bins > 0 {
            crate::gpu::overview::plan(params, bins, limits)?;
        }
        crate::gpu::overview::plan_chunk_masses(spans, limits)
    }

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
        self.encode_focus(encoder, attention, overview);
        if let Some(map) = &self.overview {
            overview.encode(encoder, map);
        }
    }

    /// Records attention and the chunk masses only: the overview then runs in slices
    /// ([`Self::advance`]).
    pub fn encode_focus(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        attention: &AttentionKernels,
        overview: &OverviewKernels,
    ) {
        attention.encode(encoder, &self.attention);
        overview.encode_chunk_masses(encoder, &self.masses);
    }

    /// A sliced overview, not started (submit [`Self::encode_focus`]'s work first), whose
    /// first slice computes about `first_slice_scores` scores ([`FIRST_SLICE_SCORES`]).
    pub fn start_overview(&self, first_slice_scores: u64) -> OverviewProgress {
        OverviewProgress {
            rows_done: 0,
            bins_done: 0,
            slices: 0,
            budget: first_slice_scores.max(1),
            in_flight: None,
            map: None,
            finished: self.overview.is_none(),
        }
    }

    /// Moves a sliced overview on without waiting: when the last slice has finished, sizes the
    /// next from its time and submits it; after the last slice, reads the map back. Returns the
    /// map once, when it has landed. Call once a frame (after `device.poll`).
    pub fn advance(
        &self,
        ctx: &GpuContext,
        kernels: &OverviewKernels,
        progress: &mut OverviewProgress,
    ) -> Result<Option<Vec<f32>>, GpuError> {
        let Some(overview) = &self.overview else {
            return Ok(None);
        };
        if progress.finished {
            return Ok(None);
        }
        if let Some(pending) = progress.map.take() {
            if pending.poll(ctx)? {
                progress.finished = true;
                return Ok(Some(pending.take()?));
            }
            progress.map = Some(pending);
            return Ok(None);
        }
        if let Some((done, started)) = &progress.in_flight {
            if !done.load(Ordering::Acquire) {
                return Ok(None);
            }
            // Scale the budget toward the target time, at most 4x either way per slice.
            let took = started.elapsed().as_secs_f64().max(1e-4);
            let scale = (SLICE_TARGET.as_secs_f64() / took).clamp(0.25, 4.0);
            progress.budget = ((progress.budget as f64 * scale) as u64).max(1);
            progress.in_flight = None;
        }
        let (n, bins) = (overview.n_tokens(), overview.bins());
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        if progress.rows_done < n {
            // A pass-1 row is N scores.
            let rows = (progress.budget / u64::from(n).max(1)).clamp(1, u64::from(n)) as u32;
            let end = (progress.rows_done + rows).min(n);
            kernels.encode_slice(
                &ctx.queue,
                &mut encoder,
                overview,
                true,
                progress.rows_done..end,
            );
            progress.rows_done = end;
        } else if progress.bins_done < bins {
            // A pass-2 bin row is N · N / bins scores.
            let per_row = (u64::from(n) * u64::from(n) / u64::from(bins).max(1)).max(1);
            let rows = (progress.budget / per_row).clamp(1, u64::from(bins)) as u32;
            let end = (progress.bins_done + rows).min(bins);
            kernels.encode_slice(
                &ctx.queue,
                &mut encoder,
                overview,
                false,
                progress.bins_done..end,
            );
            progress.bins_done = end;
        } else {
            let pending = PendingFloats::start(
                ctx,
                encoder,
                &[(overview.map_buffer(), (bins * bins) as usize)],
            )?;
            progress.map = Some(Pending::new(pending, |buffers| {
                buffers.into_iter().next().unwrap_or_default()
            }));
            return Ok(None);
        }
        ctx.queue.submit([encoder.finish()]);
        progress.slices += 1;
        let done = Arc::new(AtomicBool::new(false));
        let flag = done.clone();
        ctx.queue
            .on_submitted_work_done(move || flag.store(true, Ordering::Release));
        progress.in_flight = Some((done, Instant::now()));
        Ok(None)
    }

    /// Runs a sliced overview to its end, waiting (headless rendering and tests).
    pub fn finish_overview(
        &self,
        ctx: &GpuContext,
        kernels: &OverviewKernels,
        progress: &mut OverviewProgress,
    ) -> Result<Option<Vec<f32>>, GpuError> {
        while !progress.finished {
            if let Some(map) = self.advance(ctx, kernels, progress)? {
                return Ok(Some(map));
            }
            ctx.device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| GpuError::Readback(e.to_string()))?;
        }
        Ok(None)
    }

    /// Submits `encoder` and starts reading back the focus row (head 0) and the masses.
    pub fn start_read_back(
        &self,
        ctx: &GpuContext,
        encoder: wgpu::CommandEncoder,
    ) -> Result<Pending<FocusNumbers>, GpuError> {
        let n = self.attention.params().n();
        let floats = PendingFloats::start(
            ctx,
            encoder,
            &[
                (self.attention.weights_buffer(), n),
                (self.masses.buffer(), self.spans),
            ],
        )?;
        Ok(Pending::new(floats, |buffers| {
            let mut values = buffers.into_iter();
            (
                values.next().unwrap_or_default(),
                values.next().unwrap_or_default(),
            )
        }))
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
