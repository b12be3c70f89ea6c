//! `gaze render`: draw a scene headlessly — no window, no X server — through the same panels and
//! GPU renderers the window uses, and write a PNG.

use std::path::Path;

use crate::app::context::{ContextStageError, Step4};
use crate::app::lesson::{AttentionStage, Lesson, StageError};
use crate::gpu::{GpuContext, GpuError};
use crate::render::colormap::Colormap;
use crate::scene::Scene;
use crate::ui::behind_the_gaze::BehindView;
use crate::ui::step3_attention::{AttentionLayout, AttentionView};
use crate::ui::{show_lesson, LessonView};

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

/// Renders `scene` into an image.
pub fn render_scene(
    ctx: &GpuContext,
    scene: &Scene,
    request: &RenderRequest,
) -> Result<RenderedFrame, RenderError> {
    check_size(ctx, request)?;
    if scene.step != 3 {
        return Err(RenderError::Step(scene.step));
    }
    render_scene_with(ctx, scene, request, &Lesson::new(ctx)?)
}

/// Renders `scene` with a given lesson (its engine decides where attention runs: a lesson
/// [`Lesson::on_cpu_reference`] draws what a WebGL2 browser draws).
pub fn render_scene_with(
    ctx: &GpuContext,
    scene: &Scene,
    request: &RenderRequest,
    lesson: &Lesson,
) -> Result<RenderedFrame, RenderError> {
    check_size(ctx, request)?;
    let mut stage = None;
    lesson.update(ctx, &scene.attention, &mut stage)?;
    let Some(mut stage) = stage else {
        return Err(RenderError::Gpu(GpuError::Readback(
            "step 3 produced nothing".into(),
        )));
    };
    // Headless: no frame to keep smooth, so wait for the numbers the panels print.
    stage.wait_readback(ctx)?;

    let mut attention = scene.attention.clone();
    let mut layout = AttentionLayout::default();
    let view = LessonView {
        attention: AttentionView {
            tokens: &stage.tokens,
            head_names: &stage.head_names,
            result: stage.result.as_ref(),
            colormap: request.colormap,
            dt: 0.0,
            snap: true,
            particles: true,
        },
        behind: BehindView {
            tokens: &stage.tokens,
            result: stage.result.as_ref(),
            features: lesson.model.features(),
            head_dims: lesson.model.head_dims(),
            value_dims: lesson.model.value_dims(),
            weights: &stage.weights,
            stream: &stage.stream,
            w_o: lesson.model.w_o(),
        },
        message: None,
        info: None,
        notice: None,
    };
    let image = paint_ui(
        ctx,
        request,
        |ui| layout = show_lesson(ui, &mut attention, &view),
        |renderer| {
            let device = &ctx.device;
            renderer
                .callback_resources
                .insert(stage.arcs_resources(device, FORMAT));
            renderer.callback_resources.insert(stage.heatmap_resources(
                device,
                FORMAT,
                request.colormap,
            ));
        },
    )?;
    Ok(RenderedFrame {
        image,
        layout,
        pixels_per_point: request.pixels_per_point.clamp(0.25, 8.0),
        stage,
    })
}

/// Renders step 1 (the corpus and its odds) or step 2 (RLHF) of `scene`: egui panels only,
/// every number computed by `model::corpus` / `model::rlhf` as in the window. The step's
/// optimiser — step 1's Train, step 2's "fine-tune for real" — is run to its end on the GPU first,
/// so the picture shows the loss curve or the path landing on the closed form.
pub fn render_panels(
    ctx: &GpuContext,
    scene: &Scene,
    request: &RenderRequest,
) -> Result<image::RgbaImage, RenderError> {
    check_size(ctx, request)?;
    if !matches!(scene.step, 1 | 2) {
        return Err(RenderError::Step(scene.step));
    }
    let mut scene = scene.clone();
    let mut panels = crate::ui::PanelState {
        train_requested: scene.step == 1,
        fine_tune_requested: scene.step == 2,
        ..Default::default()
    };
    let model = crate::model::lesson::LessonModel::builtin().map_err(StageError::from)?;
    let mut trainers = crate::app::training::Trainers::default();
    trainers
        .start_requested(ctx, &scene, &model, &mut panels, true)
        .map_err(RenderError::Training)?;
    trainers.finish_blocking(ctx)?;
    let views = trainers.views();
    paint_ui(
        ctx,
        request,
        |ui| {
            crate::ui::show_step_bar(ui, &mut scene.step);
            egui::CentralPanel::default().show(ui, |ui| {
                crate::ui::show_corpus_step(ui, &mut scene, &mut panels, &views);
            });
        },
        |_| {},
    )
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

/// Renders step 4 of `scene` (in-context learning and RAG, at the scene's level) through the
/// window's own panel and overview renderer: the context is computed by `app::context` — on the
/// GPU kernels where the adapter has compute, else by the CPU reference — and its readback
/// waited for, so the numbers are printed. A context step 4 refuses (say, an empty question) is
/// drawn as the window draws it: the panel with the reason.
pub fn render_context(
    ctx: &GpuContext,
    scene: &Scene,
    request: &RenderRequest,
) -> Result<RenderedContext, RenderError> {
    check_size(ctx, request)?;
    if scene.step != 4 {
        return Err(RenderError::Step(scene.step));
    }
    let lesson = Lesson::new(ctx)?;
    let mut step4 = Step4::default();
    let refusal = match step4.update(ctx, &lesson, scene) {
        Ok(_) => None,
        Err(ContextStageError::Context(error)) => Some(error.to_string()),
        Err(ContextStageError::Gpu(error)) => return Err(RenderError::Gpu(error)),
    };
    // Headless: no frame to keep smooth, so wait for the numbers and the whole overview.
    step4.wait(ctx)?;
    let mut scene = scene.clone();
    let mut panel = crate::ui::step4_context::ContextPanel::default();
    let view = step4.view(refusal.as_deref());
    let mut overview = None;
    let image = paint_ui(
        ctx,
        request,
        |ui| {
            crate::ui::show_step_bar(ui, &mut scene.step);
            egui::CentralPanel::default().show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    overview = crate::ui::step4_context::show(
                        ui,
                        &mut scene.context,
                        &mut scene.attention.sentence,
                        &mut scene.attention.focus,
                        &mut panel,
                        &view,
                    );
                });
            });
        },
        |renderer| {
            if let Some(map) = step4.overview_resources(&ctx.device, FORMAT, &mut 0) {
                renderer.callback_resources.insert(map);
            }
        },
    )?;
    Ok(RenderedContext {
        image,
        overview,
        bins: view.bins,
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

/// Runs `show` for a few egui frames (windows and tooltips fade in), then paints the last one
/// offscreen through egui-wgpu — with whatever paint-callback resources `setup` installs — and
/// reads it back.
fn paint_ui(
    ctx: &GpuContext,
    request: &RenderRequest,
    mut show: impl FnMut(&mut egui::Ui),
    setup: impl FnOnce(&mut egui_wgpu::Renderer),
) -> Result<image::RgbaImage, RenderError> {
    let max = ctx.limits().max_texture_dimension_2d;
    let ppp = request.pixels_per_point.clamp(0.25, 8.0);
    let egui_ctx = egui::Context::default();
    request.theme.apply(&egui_ctx);
    let mut shapes = Vec::new();
    let mut textures = egui::TexturesDelta::default();
    for frame in 0..SETTLE_FRAMES {
        let input = crate::app::export::offscreen_input(
            egui::vec2(request.width as f32 / ppp, request.height as f32 / ppp),
            ppp,
            max,
            Some(f64::from(frame) * 0.25),
        );
        let output = egui_ctx.run_ui(input, &mut show);
        textures.append(output.textures_delta);
        shapes = egui_ctx.tessellate(output.shapes, output.pixels_per_point);
    }
    // Take the texture updates out of the delta (a dropped delta with updates in it panics in
    // debug builds: egui insists they are applied).
    let texture_updates = std::mem::take(&mut textures.set);
    let texture_frees = std::mem::take(&mut textures.free);

    let device = &ctx.device;
    let mut renderer =
        egui_wgpu::Renderer::new(device, FORMAT, egui_wgpu::RendererOptions::default());
    setup(&mut renderer);
    for (id, deltas) in &texture_updates {
        for delta in deltas {
            renderer.update_texture(device, &ctx.queue, *id, delta);
        }
    }
    let screen = egui_wgpu::ScreenDescriptor {
        size_in_pixels: [request.width, request.height],
        pixels_per_point: ppp,
    };
    let target = device.create_texture(&wgpu::TextureDescriptor {
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
    let view = target.create_view(&Default::default());
    let mut encoder = device.create_command_encoder(&Default::default());
    let mut commands = renderer.update_buffers(device, &ctx.queue, &mut encoder, &shapes, &screen);
    {
        let background = egui_ctx
            .global_style()
            .visuals
            .panel_fill
            .to_normalized_gamma_f32();
        let mut pass = encoder
            .begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("render"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color {
                            r: f64::from(background[0]),
                            g: f64::from(background[1]),
                            b: f64::from(background[2]),
                            a: 1.0,
                        }),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                ..Default::default()
            })
            .forget_lifetime();
        renderer.render(&mut pass, &shapes, &screen);
    }
    let image = read_texture(
        ctx,
        encoder,
        &mut commands,
        &target,
        request.width,
        request.height,
        FORMAT,
    )?;
    for id in &texture_frees {
        renderer.free_texture(id);
    }
    Ok(image)
}

/// Copies `texture` into a mappable buffer (rows padded to 256 bytes, as wgpu requires), submits
/// `commands` and `encoder` with the copy, waits, and unpads the rows into an RGBA image (BGRA
/// formats are swizzled).
pub fn read_texture(
    ctx: &GpuContext,
    encoder: wgpu::CommandEncoder,
    commands: &mut Vec<wgpu::CommandBuffer>,
    texture: &wgpu::Texture,
    width: u32,
    height: u32,
    format: wgpu::TextureFormat,
) -> Result<image::RgbaImage, GpuError> {
    crate::app::export::PendingImage::start(ctx, encoder, commands, texture, width, height, format)
        .wait(ctx)
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
