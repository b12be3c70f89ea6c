//! `gaze render`: draw a scene headlessly — no window, no X server — and write a PNG. It drives
//! the window's own [`Session`] and paints through the window's own [`ScreenPainter`]: the same
//! screen, the same code path, only offscreen and waiting for every number.

use std::path::Path;

use crate::app::export::read_texture;
use crate::app::lesson::{AttentionStage, Lesson, StageError};
use crate::app::paint::{ScreenPainter, ScreenShapes};
use crate::app::session::{Readbacks, Session};
use crate::gpu::{GpuContext, GpuError};
use crate::render::colormap::Colormap;
use crate::scene::Scene;
use crate::ui::presenter::Presenter;
use crate::ui::step3_attention::AttentionLayout;

/// The offscreen target format: 8-bit RGBA, sRGB-encoded values written as they are (egui and
/// the heatmap both output encoded values for non-sRGB targets), so the bytes go to the PNG as
/// they are.
const FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

/// Why a render failed.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// A size of zero, or beyond the device's texture limit.
    #[error("cannot render {width}×{height} pixels: each side must be 1 to {max}")]
    Size {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
        /// The device's `max_texture_dimension_2d`.
        max: u32,
    },
    /// A step this call cannot draw: `render_to_png` draws steps 1 to 4 (`render_panels` 1 and
    /// 2, `render_scene` 3, `render_context` 4).
    #[error("this call cannot render step {0}: the lesson's steps are 1 to 4 (render_panels draws 1 and 2, render_scene 3, render_context 4; render_to_png any of them)")]
    Step(u8),
    /// Computing the scene failed.
    #[error(transparent)]
    Stage(#[from] StageError),
    /// The GPU failed.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// The fit or the fine-tune was refused (say, a corpus with every count at 0).
    #[error("{0}")]
    Training(String),
    /// Writing the PNG failed.
    /// (The cause follows as the error's source: `anyhow` prints "writing the PNG failed: …".)
    #[error("writing the PNG failed")]
    Png(#[from] image::ImageError),
}

/// What to draw.
#[derive(Clone, Debug)]
pub struct RenderRequest {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// UI scale: pixels per egui point (2 for a slide at double resolution).
    pub pixels_per_point: f32,
    /// Colour map of the weights.
    pub colormap: Colormap,
    /// The look (dark, or projector: high contrast on light, large type).
    pub theme: crate::ui::theme::Theme,
}

/// A rendered frame.
pub struct RenderedFrame {
    /// The pixels.
    pub image: image::RgbaImage,
    /// Where step 3 put its maps, in points.
    pub layout: AttentionLayout,
    /// The scale the layout is in.
    pub pixels_per_point: f32,
    /// The computed step, for checks against what was drawn.
    pub stage: AttentionStage,
}

/// How many frames egui runs before the capture: windows and tooltips fade in over a few.
const SETTLE_FRAMES: u32 = 4;

/// Renders `scene` (step 3) into an image.
pub fn render_scene(
    ctx: &GpuContext,
    scene: &Scene,
    request: &RenderRequest,
) -> Result<RenderedFrame, RenderError> {
    check_size(ctx, request)?;
    if scene.step != 3 {
        return Err(RenderError::Step(scene.step));
    }
    render_scene_with(ctx, scene, request, Lesson::new(ctx)?)
}

/// Renders `scene` (step 3) with a given lesson (its engine decides where attention runs: a
/// lesson [`Lesson::on_cpu_reference`] draws what a WebGL2 browser draws).
pub fn render_scene_with(
    ctx: &GpuContext,
    scene: &Scene,
    request: &RenderRequest,
    lesson: Lesson,
) -> Result<RenderedFrame, RenderError> {
    check_size(ctx, request)?;
    let mut session = headless_session(lesson, request);
    // A sentence the lesson refuses fails the render (there is no last good picture to show).
    session.derive_attention(ctx, &scene.attention, Readbacks::Wait)?;
    let image = paint_session(ctx, &mut session, scene, request)?;
    let Some(stage) = session.take_attention() else {
        return Err(RenderError::Gpu(GpuError::Readback(
            "step 3 produced nothing".into(),
        )));
    };
    Ok(RenderedFrame {
        image,
        layout: session.layout,
        pixels_per_point: request.pixels_per_point.clamp(0.25, 8.0),
        stage,
    })
}

/// Renders step 1 (the corpus and its odds) or step 2 (RLHF) of `scene`, every number computed
/// by `model::corpus` / `model::rlhf` as in the window. The step's optimiser — step 1's Train,
/// step 2's "fine-tune for real" — is run to its end on the GPU first, so the picture shows the
/// loss curve or the path landing on the closed form.
pub fn render_panels(
    ctx: &GpuContext,
    scene: &Scene,
    request: &RenderRequest,
) -> Result<image::RgbaImage, RenderError> {
    check_size(ctx, request)?;
    if !matches!(scene.step, 1 | 2) {
        return Err(RenderError::Step(scene.step));
    }
    let mut session = headless_session(Lesson::new(ctx)?, request);
    session.panels.train_requested = scene.step == 1;
    session.panels.fine_tune_requested = scene.step == 2;
    session
        .start_requested(ctx, scene)
        .map_err(RenderError::Training)?;
    session.finish_training(ctx)?;
    paint_session(ctx, &mut session, scene, request)
}

/// A rendered step 4.
pub struct RenderedContext {
    /// The pixels.
    pub image: image::RgbaImage,
    /// Where the overview map was drawn, in points (`None` when there is none: the CPU
    /// reference past its size, or a refused context).
    pub overview: Option<egui::Rect>,
    /// Bins per side of the overview map drawn (0 when none).
    pub bins: u32,
    /// The scale `overview` is in.
    pub pixels_per_point: f32,
}

/// Renders step 4 of `scene` (in-context learning and RAG, at the scene's level): the context
/// is computed by `app::context_lesson` — on the GPU kernels where the adapter has compute, else by
/// the CPU reference — and its readback waited for, so the numbers are printed. A context step 4
/// refuses (say, an empty question) is drawn as the window draws it: the panel with the reason.
pub fn render_context(
    ctx: &GpuContext,
    scene: &Scene,
    request: &RenderRequest,
) -> Result<RenderedContext, RenderError> {
    check_size(ctx, request)?;
    if scene.step != 4 {
        return Err(RenderError::Step(scene.step));
    }
    let mut session = headless_session(Lesson::new(ctx)?, request);
    session.derive_context(ctx, scene, Readbacks::Wait)?;
    let image = paint_session(ctx, &mut session, scene, request)?;
    let bins = session
        .context_lesson()
        .shown()
        .filter(|s| s.map.is_some())
        .map_or(0, |s| s.bins);
    Ok(RenderedContext {
        image,
        overview: session.overview_rect,
        bins,
        pixels_per_point: request.pixels_per_point.clamp(0.25, 8.0),
    })
}

fn check_size(ctx: &GpuContext, request: &RenderRequest) -> Result<(), RenderError> {
    let max = ctx.limits().max_texture_dimension_2d;
    if request.width == 0 || request.height == 0 || request.width > max || request.height > max {
        return Err(RenderError::Size {
            width: request.width,
            height: request.height,
            max,
        });
    }
    Ok(())
}

/// A session as `gaze render` shows it: the request's look, arcs snapped to their weights (one
/// frame, no animation to ease through), particles drawn where they start.
fn headless_session(lesson: Lesson, request: &RenderRequest) -> Session {
    let presenter = Presenter {
        theme: request.theme,
        colormap: request.colormap,
        ..Presenter::default()
    };
    let mut session = Session::new(lesson, presenter);
    session.snap_arcs = true;
    // A render is a picture of the lesson, not of the machine that made it: the notice that
    // attention ran on the CPU reference here (same numbers, tested) is about this machine.
    session.lines.notice = None;
    session
}

/// Brings `session` up to date with `scene` (waiting for every readback), runs the screen for a
/// few egui frames (windows and tooltips fade in), then paints the last one offscreen through
/// the window's own [`ScreenPainter`] and reads it back.
fn paint_session(
    ctx: &GpuContext,
    session: &mut Session,
    scene: &Scene,
    request: &RenderRequest,
) -> Result<image::RgbaImage, RenderError> {
    let max = ctx.limits().max_texture_dimension_2d;
    let ppp = request.pixels_per_point.clamp(0.25, 8.0);
    let mut scene = scene.clone();
    session.derive(ctx, &scene, Readbacks::Wait);
    let egui_ctx = egui::Context::default();
    let mut screen = ScreenShapes {
        shapes: Vec::new(),
        textures: egui::TexturesDelta::default(),
        pixels_per_point: ppp,
    };
    for frame in 0..SETTLE_FRAMES {
        let input = crate::app::export::offscreen_input(
            egui::vec2(request.width as f32 / ppp, request.height as f32 / ppp),
            ppp,
            max,
            Some(f64::from(frame) * 0.25),
        );
        let output = egui_ctx.run_ui(input, |ui| {
            session.show(ui, &mut scene, 0.0);
        });
        screen = ScreenShapes::tessellate(&egui_ctx, output, screen.textures);
    }
    let mut painter = ScreenPainter::new(ctx, FORMAT);
    painter.bind(ctx, session);
    let target = ctx.device.create_texture(&wgpu::TextureDescriptor {
        label: Some("render target"),
        size: wgpu::Extent3d {
            width: request.width,
            height: request.height,
            depth_or_array_layers: 1,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D2,
        format: FORMAT,
        usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
        view_formats: &[],
    });
    let background = egui_ctx
        .global_style()
        .visuals
        .panel_fill
        .to_normalized_gamma_f32();
    let clear = wgpu::Color {
        r: f64::from(background[0]),
        g: f64::from(background[1]),
        b: f64::from(background[2]),
        a: 1.0,
    };
    let (encoder, mut commands) = painter.paint(ctx, &mut screen, &target, clear);
    let image = read_texture(
        ctx,
        encoder,
        &mut commands,
        &target,
        request.width,
        request.height,
        FORMAT,
    )?;
    painter.free_textures(&mut screen);
    Ok(image)
}

/// Renders `scene` at its step, whichever it is (1 to 4).
pub fn render_image(
    ctx: &GpuContext,
    scene: &Scene,
    request: &RenderRequest,
) -> Result<image::RgbaImage, RenderError> {
    Ok(match scene.step {
        1 | 2 => render_panels(ctx, scene, request)?,
        4 => render_context(ctx, scene, request)?.image,
        _ => render_scene(ctx, scene, request)?.image,
    })
}

/// Renders `scene` and writes it to `out` as a PNG.
pub fn render_to_png(
    ctx: &GpuContext,
    scene: &Scene,
    request: &RenderRequest,
    out: &Path,
) -> Result<(), RenderError> {
    render_image(ctx, scene, request)?.save_with_format(out, image::ImageFormat::Png)?;
    Ok(())
}
