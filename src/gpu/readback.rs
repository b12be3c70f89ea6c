//! Reading f32 buffers back without blocking a frame: copy each into a mappable buffer, ask for
//! the mappings, and poll until every callback has answered.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::context::GpuContext;
use super::error::GpuError;

/// Several f32 buffers on their way back from the GPU.
#[derive(Debug)]
pub struct PendingFloats {
    staging: Vec<(wgpu::Buffer, usize)>,
    mapped: Arc<AtomicUsize>,
    failure: Arc<Mutex<Option<String>>>,
}

impl PendingFloats {
    /// Copies the first `len` floats of each source into a mappable buffer, submits `encoder`
    /// with the copies and asks for the mappings, without waiting.
    pub fn start(
        ctx: &GpuContext,
        mut encoder: wgpu::CommandEncoder,
        sources: &[(&wgpu::Buffer, usize)],
    ) -> Result<Self, GpuError> {
        let staging: Vec<(wgpu::Buffer, usize)> = ctx.scoped(|| {
            sources
                .iter()
                .map(|(source, len)| {
                    let bytes = (*len as u64) * 4;
                    let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
                        label: Some("readback"),
                        size: bytes.max(4),
                        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                        mapped_at_creation: false,
                    });
                    if bytes > 0 {
                        encoder.copy_buffer_to_buffer(source, 0, &buffer, 0, bytes);
                    }
                    (buffer, *len)
                })
                .collect()
        })?;
        ctx.queue.submit([encoder.finish()]);
        let mapped = Arc::new(AtomicUsize::new(0));
        let failure = Arc::new(Mutex::new(None));
        for (index, (buffer, _)) in staging.iter().enumerate() {
            let (mapped, failure) = (mapped.clone(), failure.clone());
            buffer.map_async(wgpu::MapMode::Read, .., move |result| {
                if let Err(e) = result {
                    if let Ok(mut slot) = failure.lock() {
                        *slot = Some(format!("buffer {index}: {e}"));
                    }
                }
                mapped.fetch_add(1, Ordering::AcqRel);
            });
        }
        Ok(Self {
            staging,
            mapped,
            failure,
        })
    }

    /// Whether every buffer has answered (call `device.poll` to let native callbacks run).
    pub fn is_ready(&self) -> bool {
        self.mapped.load(Ordering::Acquire) == self.staging.len()
    }

    /// Polls the device once without waiting, then reports [`Self::is_ready`]: what a frame calls.
    pub fn poll(&self, ctx: &GpuContext) -> Result<bool, GpuError> {
        if !self.is_ready() {
            ctx.device
                .poll(wgpu::PollType::Poll)
                .map_err(|e| GpuError::Readback(e.to_string()))?;
        }
        Ok(self.is_ready())
    }

    /// The values, in the order of the sources, once [`Self::is_ready`].
    pub fn take(self) -> Result<Vec<Vec<f32>>, GpuError> {
        if !self.is_ready() {
            return Err(GpuError::Readback("the readback is not finished".into()));
        }
        if let Some(failure) = self.failure.lock().ok().and_then(|mut f| f.take()) {
            return Err(GpuError::Readback(failure));
        }
        self.staging
            .iter()
            .map(|(buffer, len)| {
                let view = buffer
                    .get_mapped_range(..)
                    .map_err(|e| GpuError::Readback(e.to_string()))?;
                let data: Vec<f32> = bytemuck::cast_slice::<u8, f32>(&view)
                    .get(..*len)
                    .ok_or_else(|| GpuError::Readback("a readback buffer came back short".into()))?
                    .to_vec();
                drop(view);
                buffer.unmap();
                Ok(data)
            })
            .collect()
    }

    /// Blocks until every buffer has answered (command line and tests; never in a frame).
    ///
    /// The device is shared: when several threads poll it, another thread's poll may be the one
    /// running these callbacks, and ours can return first. So wait until every callback has been
    /// seen, not merely until the GPU is idle.
    pub fn wait_ready(self, ctx: &GpuContext) -> Result<Self, GpuError> {
        let deadline = web_time::Instant::now() + std::time::Duration::from_secs(120);
        while !self.is_ready() {
            ctx.device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| GpuError::Readback(e.to_string()))?;
            if self.is_ready() {
                break;
            }
            if web_time::Instant::now() > deadline {
                return Err(GpuError::Readback(
                    "the GPU did not answer within 120 s".into(),
                ));
            }
            std::thread::yield_now();
        }
        Ok(self)
    }

    /// [`Self::wait_ready`], then [`Self::take`].
    pub fn wait(self, ctx: &GpuContext) -> Result<Vec<Vec<f32>>, GpuError> {
        self.wait_ready(ctx)?.take()
    }
}

/// A readback in flight that decodes into a `T` once it lands (a fit's or a fine-tune's snapshot).
#[derive(Debug)]
pub struct Pending<T> {
    floats: PendingFloats,
    decode: fn(Vec<Vec<f32>>) -> T,
}

impl<T> Pending<T> {
    /// Wraps `floats`; `decode` turns the buffers, in source order, into a `T`.
    pub fn new(floats: PendingFloats, decode: fn(Vec<Vec<f32>>) -> T) -> Self {
        Self { floats, decode }
    }

    /// Polls once without waiting (what a frame calls); true when the values are in.
    pub fn poll(&self, ctx: &GpuContext) -> Result<bool, GpuError> {
        self.floats.poll(ctx)
    }

    /// Blocks until every buffer has answered (command line and tests; never in a frame).
    pub fn wait_ready(self, ctx: &GpuContext) -> Result<Self, GpuError> {
        Ok(Self {
            floats: self.floats.wait_ready(ctx)?,
            decode: self.decode,
        })
    }

    /// The decoded values, once they are in.
    pub fn take(self) -> Result<T, GpuError> {
        Ok((self.decode)(self.floats.take()?))
    }

    /// [`Self::wait_ready`], then [`Self::take`].
    pub fn wait(self, ctx: &GpuContext) -> Result<T, GpuError> {
        self.wait_ready(ctx)?.take()
    }
}
