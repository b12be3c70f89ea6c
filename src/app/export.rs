//! Exporting what is on screen as a PNG (key S): the window draws the same screen once more into
//! an offscreen texture at 1×, 2× or 4× its pixels per point — the same layout, sharper — and the
//! pixels come back by a readback that frames poll, never wait on.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::app::session::StatusLines;
use crate::gpu::{GpuContext, GpuError};

/// A texture's pixels on their way back from the GPU.
#[derive(Debug)]
pub struct PendingImage {
    buffer: wgpu::Buffer,
    width: u32,
    height: u32,
    /// Bytes per row in the buffer: a row of pixels padded to wgpu's copy alignment (256).
    padded_row: u32,
    format: wgpu::TextureFormat,
    mapped: Arc<AtomicBool>,
    failure: Arc<Mutex<Option<String>>>,
}

impl PendingImage {
    /// Records a copy of `texture` (`width × height`, 4 bytes per pixel) after `commands` and
    /// `encoder`, submits them, and asks for the mapping without waiting.
    pub fn start(
        ctx: &GpuContext,
        mut encoder: wgpu::CommandEncoder,
        commands: &mut Vec<wgpu::CommandBuffer>,
        texture: &wgpu::Texture,
        width: u32,
        height: u32,
        format: wgpu::TextureFormat,
    ) -> Self {
        let padded_row = (width * 4).div_ceil(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT)
            * wgpu::COPY_BYTES_PER_ROW_ALIGNMENT;
        let buffer = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("image readback"),
            size: u64::from(padded_row) * u64::from(height),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        encoder.copy_texture_to_buffer(
            texture.as_image_copy(),
            wgpu::TexelCopyBufferInfo {
                buffer: &buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(padded_row),
                    rows_per_image: Some(height),
                },
            },
            wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
        );
        commands.push(encoder.finish());
        ctx.queue.submit(commands.drain(..));
        let mapped = Arc::new(AtomicBool::new(false));
        let failure = Arc::new(Mutex::new(None));
        let (done, failed) = (mapped.clone(), failure.clone());
        buffer.map_async(wgpu::MapMode::Read, .., move |result| {
            if let Err(e) = result {
                if let Ok(mut slot) = failed.lock() {
                    *slot = Some(e.to_string());
                }
            }
            done.store(true, Ordering::Release);
        });
        Self {
            buffer,
            width,
            height,
            padded_row,
            format,
            mapped,
            failure,
        }
    }

    /// The image's size in pixels.
    pub fn size(&self) -> [u32; 2] {
        [self.width, self.height]
    }

    /// Polls the device once without waiting; whether the pixels are back (what a frame calls).
    pub fn poll(&self, ctx: &GpuContext) -> Result<bool, GpuError> {
        if !self.mapped.load(Ordering::Acquire) {
            ctx.device
                .poll(wgpu::PollType::Poll)
                .map_err(|e| GpuError::Readback(e.to_string()))?;
        }
        Ok(self.mapped.load(Ordering::Acquire))
    }

    /// Blocks until the pixels are back (the command line and tests; never in a frame).
    pub fn wait(self, ctx: &GpuContext) -> Result<image::RgbaImage, GpuError> {
        let deadline = web_time::Instant::now() + std::time::Duration::from_secs(120);
        while !self.mapped.load(Ordering::Acquire) {
            ctx.device
                .poll(wgpu::PollType::wait_indefinitely())
                .map_err(|e| GpuError::Readback(e.to_string()))?;
            if web_time::Instant::now() > deadline {
                return Err(GpuError::Readback(
                    "the GPU did not answer within 120 s".into(),
                ));
            }
            std::thread::yield_now();
        }
        self.take()
    }

    /// The pixels as RGBA rows (padding dropped, BGRA swizzled), once [`Self::poll`] said so.
    pub fn take(self) -> Result<image::RgbaImage, GpuError> {
        if !self.mapped.load(Ordering::Acquire) {
            return Err(GpuError::Readback("the image is not back yet".into()));
        }
        if let Some(failure) = self.failure.lock().ok().and_then(|mut f| f.take()) {
            return Err(GpuError::Readback(failure));
        }
        let row_bytes = (self.width * 4) as usize;
        let data = self
            .buffer
            .get_mapped_range(..)
            .map_err(|e| GpuError::Readback(e.to_string()))?;
        let mut pixels = Vec::with_capacity(row_bytes * self.height as usize);
        for row in data
            .chunks(self.padded_row as usize)
            .take(self.height as usize)
        {
            pixels.extend_from_slice(row.get(..row_bytes).unwrap_or(row));
        }
        drop(data);
        self.buffer.unmap();
        if matches!(
            self.format,
            wgpu::TextureFormat::Bgra8Unorm | wgpu::TextureFormat::Bgra8UnormSrgb
        ) {
            for pixel in pixels.chunks_exact_mut(4) {
                pixel.swap(0, 2);
            }
        }
        image::RgbaImage::from_raw(self.width, self.height, pixels)
            .ok_or_else(|| GpuError::Readback("the image came back short".into()))
    }
}

/// Copies `texture` into a mappable buffer (rows padded to 256 bytes, as wgpu requires), submits
/// `commands` and `encoder` with the copy, waits, and unpads the rows into an RGBA image (BGRA
/// formats are swizzled). For headless rendering and `--screenshot`: a window's export polls.
pub fn read_texture(
    ctx: &GpuContext,
    encoder: wgpu::CommandEncoder,
    commands: &mut Vec<wgpu::CommandBuffer>,
    texture: &wgpu::Texture,
    width: u32,
    height: u32,
    format: wgpu::TextureFormat,
) -> Result<image::RgbaImage, GpuError> {
    PendingImage::start(ctx, encoder, commands, texture, width, height, format).wait(ctx)
}

/// egui's input for a pass drawn offscreen (an export, a headless render): a screen of
/// `points` (width, height) at `native_pixels_per_point`, no events.
pub fn offscreen_input(
    points: egui::Vec2,
    native_pixels_per_point: f32,
    max_texture_side: u32,
    time: Option<f64>,
) -> egui::RawInput {
    let mut input = egui::RawInput {
        screen_rect: Some(egui::Rect::from_min_size(egui::Pos2::ZERO, points)),
        time,
        max_texture_side: Some(max_texture_side as usize),
        ..Default::default()
    };
    input
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .native_pixels_per_point = Some(native_pixels_per_point);
    input
}

/// Where the next export of `step` goes: `gaze-step{step}-{k}.png` in `dir`, with the first `k`
/// from 1 that names no file yet (an export never overwrites an earlier one).
pub fn next_export_path(dir: &Path, step: u8) -> PathBuf {
    (1u32..)
        .map(|k| dir.join(format!("gaze-step{step}-{k}.png")))
        .find(|path| !path.exists())
        .unwrap_or_else(|| dir.join(format!("gaze-step{step}.png")))
}

/// The image as PNG bytes.
pub fn png_bytes(image: &image::RgbaImage) -> Result<Vec<u8>, image::ImageError> {
    let mut bytes = Vec::new();
    image.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_export_never_overwrites_an_earlier_one() {
        let dir = std::env::temp_dir().join(format!("gaze-export-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let first = next_export_path(&dir, 3);
        assert_eq!(first, dir.join("gaze-step3-1.png"));
        std::fs::write(&first, b"x").unwrap();
        assert_eq!(next_export_path(&dir, 3), dir.join("gaze-step3-2.png"));
        assert_eq!(next_export_path(&dir, 4), dir.join("gaze-step4-1.png"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn png_bytes_decode_to_the_same_pixels() {
        let image = image::RgbaImage::from_fn(3, 2, |x, y| image::Rgba([x as u8, y as u8, 7, 255]));
        let bytes = png_bytes(&image).unwrap();
        let back = image::load_from_memory(&bytes).unwrap().to_rgba8();
        assert_eq!(back, image);
    }
}

/// A window's exports (key S): the one whose pixels are on their way back from the GPU, the one
/// being encoded and written on another thread (native), and where they go. Frames poll it;
/// nothing here waits.
#[derive(Debug, Default)]
pub struct ExportQueue {
    /// A PNG export on its way back from the GPU, and the step it shows.
    pending: Option<(PendingImage, u8)>,
    /// An export being encoded and written on another thread: where it went, or why not.
    #[cfg(not(target_arch = "wasm32"))]
    saving: Option<std::sync::mpsc::Receiver<Result<String, String>>>,
    /// Where exports are saved (native; the web build downloads them).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    dir: Option<PathBuf>,
}

impl ExportQueue {
    /// Exports saved into `dir` (the working directory when `None`).
    pub fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            ..Self::default()
        }
    }

    /// Queues an export whose readback has started; refused while one is still being saved.
    pub fn start(&mut self, pending: PendingImage, step: u8) -> Result<(), String> {
        if self.pending.is_some() {
            return Err("an export is still being saved; press S again in a moment".into());
        }
        self.pending = Some((pending, step));
        Ok(())
    }

    /// Whether an export's pixels are still on their way back (a new one must wait).
    pub fn awaiting_pixels(&self) -> bool {
        self.pending.is_some()
    }

    /// Takes over `other`'s export in progress (a window rebuilt on a new device keeps saving).
    pub fn carry_on_from(&mut self, other: ExportQueue) {
        #[cfg(not(target_arch = "wasm32"))]
        {
            self.saving = other.saving;
        }
        self.dir = other.dir;
    }

    /// Whether an export is still on its way to its file.
    pub fn busy(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        if self.saving.is_some() {
            return true;
        }
        self.pending.is_some()
    }

    /// Hands a landed export to be saved (natively on another thread: encoding a 4x PNG takes
    /// longer than a frame), and reports a finished save.
    pub fn poll(&mut self, ctx: &GpuContext, lines: &mut StatusLines) {
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(saving) = &self.saving {
            if let Ok(result) = saving.try_recv() {
                match result {
                    Ok(saved) => lines.status = Some(saved),
                    Err(error) => {
                        lines.status = None;
                        lines.message = Some(error);
                    }
                }
                self.saving = None;
            }
        }
        let ready = match self.pending.as_ref().map(|(p, _)| p.poll(ctx)) {
            None | Some(Ok(false)) => return,
            Some(Ok(true)) => true,
            Some(Err(error)) => {
                lines.message = Some(format!("the export failed: {error}"));
                false
            }
        };
        let Some((pending, step)) = self.pending.take() else {
            return;
        };
        if !ready {
            return;
        }
        match pending.take() {
            Ok(image) => self.save(image, step, lines),
            Err(error) => lines.message = Some(format!("the export failed: {error}")),
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn save(&mut self, image: image::RgbaImage, step: u8, _lines: &mut StatusLines) {
        let dir = self
            .dir
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from("."));
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let path = next_export_path(&dir, step);
            let result = image
                .save(&path)
                .map(|()| {
                    format!(
                        "saved {} ({}x{} pixels)",
                        path.display(),
                        image.width(),
                        image.height()
                    )
                })
                .map_err(|e| format!("could not save {}: {e}", path.display()));
            // The window may have closed meanwhile; then nobody needs to hear.
            let _ = sender.send(result);
        });
        self.saving = Some(receiver);
    }

    #[cfg(target_arch = "wasm32")]
    fn save(&mut self, image: image::RgbaImage, step: u8, lines: &mut StatusLines) {
        let name = format!("gaze-step{step}.png");
        let result = png_bytes(&image)
            .map_err(|e| e.to_string())
            .and_then(|bytes| crate::app::browser::download(&name, &bytes, "image/png"));
        match result {
            Ok(()) => {
                lines.status = Some(format!(
                    "downloaded {name} ({}x{} pixels)",
                    image.width(),
                    image.height()
                ))
            }
            Err(error) => lines.message = Some(format!("could not download {name}: {error}")),
        }
    }
}
