//! The one way a screen reaches pixels. The window's frame, its export (key S) and `gaze render`
//! all tessellate a [`Session::show`](crate::app::session::Session::show) pass and paint it here:
//! the session's buffers are bound to the long-lived [`Renderers`] (only when they are new GPU
//! objects), egui's textures uploaded, and one render pass recorded into the target.

use crate::app::session::Session;
use crate::gpu::GpuContext;
use crate::render::arcs::ArcsResources;
use crate::render::colormap::Colormap;
use crate::render::heatmap::{HeatmapResources, OverviewMap, RealMap};
use crate::render::Renderers;
use wgpu::util::DeviceExt;

/// What the renderers are bound to now: stage generations (bumped when a stage's buffers are
/// new GPU objects), so a frame whose buffers were only rewritten in place rebinds nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Bound {
    /// Step 3's stage generation the heatmap and arcs read.
    attention: u64,
    /// Step 3's weights revision the CPU-eased arcs last took as targets.
    eased_revision: u64,
    /// Step 4's stage generation the overview map reads.
    context: u64,
    /// The colour range the overview map's uniform holds.
    context_range: Option<[f32; 2]>,
    /// The colour map the maps' uniforms hold (`None`: write it on the next bind).
    colormap: Option<Colormap>,
    /// The revision of the real model's step 3 cells the real map was made from.
    real_map: u64,
}

/// egui-wgpu's renderer and the render layer's pipelines for one device and target format,
/// with what they are bound to.
pub struct ScreenPainter {
    renderer: egui_wgpu::Renderer,
    renderers: Renderers,
    format: wgpu::TextureFormat,
    bound: Bound,
}

/// One egui pass, tessellated: what [`ScreenPainter::paint`] draws.
pub struct ScreenShapes {
    /// The triangles and paint callbacks.
    pub shapes: Vec<egui::ClippedPrimitive>,
    /// egui's texture changes since the last paint (the font atlas, first of all).
    pub textures: egui::TexturesDelta,
    /// The scale the shapes were laid out at.
    pub pixels_per_point: f32,
}

impl ScreenShapes {
    /// Tessellates `output` (from `egui_ctx.run_ui`), adding its texture changes to the ones not
    /// painted yet.
    pub fn tessellate(
        egui_ctx: &egui::Context,
        output: egui::FullOutput,
        mut earlier: egui::TexturesDelta,
    ) -> Self {
        earlier.append(output.textures_delta);
        Self {
            shapes: egui_ctx.tessellate(output.shapes, output.pixels_per_point),
            textures: earlier,
            pixels_per_point: output.pixels_per_point,
        }
    }
}

impl ScreenPainter {
    /// Builds egui-wgpu's renderer and every render pipeline for `format` — once, for the
    /// device's life.
    pub fn new(ctx: &GpuContext, format: wgpu::TextureFormat) -> Self {
        Self {
            renderer: egui_wgpu::Renderer::new(
                &ctx.device,
                format,
                egui_wgpu::RendererOptions::default(),
            ),
            renderers: Renderers::new(&ctx.device, format, ctx.has_compute()),
            format,
            bound: Bound::default(),
        }
    }

    /// The target format this painter draws into.
    pub fn format(&self) -> wgpu::TextureFormat {
        self.format
    }

    /// The pipelines (tests check they are the same objects after an edit).
    pub fn renderers(&self) -> &Renderers {
        &self.renderers
    }

    /// What the paint callbacks draw from (tests read the bound resources).
    pub fn resources(&self) -> &egui_wgpu::CallbackResources {
        &self.renderer.callback_resources
    }

    /// Uploads one of egui's textures whole (a window rebuilt on a new device: egui only ever
    /// sends changes, and the new renderer holds none).
    pub fn upload_texture(
        &mut self,
        ctx: &GpuContext,
        id: egui::TextureId,
        delta: &egui::epaint::ImageDelta,
    ) {
        self.renderer
            .update_texture(&ctx.device, &ctx.queue, id, delta);
    }

    /// Binds the session's buffers for the paint callbacks: new resources (uniforms and bind
    /// groups against the long-lived pipelines) only when a stage's buffers are new GPU objects;
    /// new targets for CPU-eased arcs when the weights changed in place; the colour map when the
    /// presenter changed it.
    pub fn bind(&mut self, ctx: &GpuContext, session: &Session) {
        let device = &ctx.device;
        let colormap = session.presenter.colormap;
        let resources = &mut self.renderer.callback_resources;
        if let Some((stage, weights)) = session
            .attention()
            .and_then(|s| s.weights_buffer.as_ref().map(|w| (s, w)))
        {
            if stage.generation != self.bound.attention {
                resources.insert(HeatmapResources::new(
                    device,
                    &self.renderers.heatmap,
                    weights,
                    &stage.params,
                    colormap,
                ));
                let arcs = if stage.on_gpu {
                    ArcsResources::new(device, &self.renderers.arcs, weights, &stage.params).ok()
                } else {
                    Some(ArcsResources::new_cpu_eased(
                        device,
                        &self.renderers.arcs,
                        stage.result.as_ref().map_or(&[][..], |r| &r.weights[..]),
                        &stage.params,
                    ))
                };
                if let Some(arcs) = arcs {
                    resources.insert(arcs);
                }
                self.bound.attention = stage.generation;
                self.bound.eased_revision = stage.revision;
                self.bound.colormap = Some(colormap);
            } else if !stage.on_gpu && stage.revision != self.bound.eased_revision {
                if let (Some(arcs), Some(result)) =
                    (resources.get_mut::<ArcsResources>(), stage.result.as_ref())
                {
                    arcs.set_targets(&result.weights);
                }
                self.bound.eased_revision = stage.revision;
            }
        }
        // A real model's head: its cells come from the CPU reference (`app::model_slot`),
        // uploaded once per change of layer, head, scale or first-token switch.
        if let Some(cells) = session.real.map_cells() {
            if cells.revision != self.bound.real_map {
                let buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
                    label: Some("real model map cells"),
                    contents: bytemuck::cast_slice(&cells.cells),
                    usage: wgpu::BufferUsages::VERTEX,
                });
                resources.insert(RealMap::new(
                    device,
                    &self.renderers.heatmap,
                    &buffer,
                    cells.n,
                    colormap,
                ));
                self.bound.real_map = cells.revision;
            }
        }
        let context = session.context_lesson();
        if let Some(stage) = context.shown() {
            let range = context.overview_range();
            if stage.generation != self.bound.context {
                self.bound.context = stage.generation;
                self.bound.context_range = range;
                if let Some(map) = stage.map.as_ref() {
                    resources.insert(OverviewMap(HeatmapResources::overview(
                        device,
                        &self.renderers.heatmap,
                        map,
                        stage.bins,
                        colormap,
                        range.unwrap_or([0.0; 2]),
                    )));
                }
            } else if range != self.bound.context_range {
                // The map was bound before its values were known: colour it over their range
                // now (a 32-byte upload, once).
                if let (Some(map), Some(range)) = (resources.get_mut::<OverviewMap>(), range) {
                    map.0.set_range(&ctx.queue, range);
                }
                self.bound.context_range = range;
            }
        }
        if self.bound.colormap != Some(colormap) {
            if let Some(map) = resources.get::<HeatmapResources>() {
                map.set_colormap(&ctx.queue, colormap);
            }
            if let Some(map) = resources.get::<OverviewMap>() {
                map.0.set_colormap(&ctx.queue, colormap);
            }
            if let Some(map) = resources.get::<RealMap>() {
                map.0.set_colormap(&ctx.queue, colormap);
            }
            self.bound.colormap = Some(colormap);
        }
    }

    /// Records `screen`'s texture uploads, egui's buffer uploads (and the paint callbacks'
    /// compute: the arcs' easing) and one render pass into `target`, cleared to `clear` first.
    /// The caller submits (or copies the target out first), then calls
    /// [`ScreenPainter::free_textures`].
    pub fn paint(
        &mut self,
        ctx: &GpuContext,
        screen: &mut ScreenShapes,
        target: &wgpu::Texture,
        clear: wgpu::Color,
    ) -> (wgpu::CommandEncoder, Vec<wgpu::CommandBuffer>) {
        self.upload_textures(ctx, screen);
        let size = target.size();
        let descriptor = egui_wgpu::ScreenDescriptor {
            size_in_pixels: [size.width, size.height],
            pixels_per_point: screen.pixels_per_point,
        };
        let view = target.create_view(&Default::default());
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        let commands = self.renderer.update_buffers(
            &ctx.device,
            &ctx.queue,
            &mut encoder,
            &screen.shapes,
            &descriptor,
        );
        {
            let mut pass = encoder
                .begin_render_pass(&wgpu::RenderPassDescriptor {
                    label: Some("screen"),
                    color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                        view: &view,
                        depth_slice: None,
                        resolve_target: None,
                        ops: wgpu::Operations {
                            load: wgpu::LoadOp::Clear(clear),
                            store: wgpu::StoreOp::Store,
                        },
                    })],
                    ..Default::default()
                })
                .forget_lifetime();
            self.renderer.render(&mut pass, &screen.shapes, &descriptor);
        }
        (encoder, commands)
    }

    /// Uploads `screen`'s texture changes (a frame with nothing to draw into still applies
    /// them: egui sends each change once).
    pub fn upload_textures(&mut self, ctx: &GpuContext, screen: &mut ScreenShapes) {
        for (id, deltas) in std::mem::take(&mut screen.textures.set) {
            for delta in &deltas {
                self.renderer
                    .update_texture(&ctx.device, &ctx.queue, id, delta);
            }
        }
    }

    /// Frees the textures egui let go of in `screen`, once its frame is submitted.
    pub fn free_textures(&mut self, screen: &mut ScreenShapes) {
        for id in std::mem::take(&mut screen.textures.free) {
            self.renderer.free_texture(&id);
        }
    }
}
