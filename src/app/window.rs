//! The native window: winit 0.30 + wgpu surface + egui overlay.
//!
//! Each frame: input → scene edits (egui panels) → recompute only what changed (kernels run on
//! the GPU; their numbers come back by a readback that is polled, never waited on) → instanced
//! arcs and heatmap drawn straight from the compute buffers inside the egui panels → present.
//! Resize, DPI changes, minimising (0×0) and a lost or outdated surface are handled without
//! panicking; errors are shown in the window, not thrown.

use std::sync::Arc;
use std::time::Instant;

use winit::application::ApplicationHandler;
use winit::event::WindowEvent;
use winit::event_loop::{ActiveEventLoop, EventLoop};
use winit::window::{Window, WindowId};

use crate::app::lesson::{AttentionStage, Lesson};
use crate::gpu::GpuContext;
use crate::render::arcs::ArcsResources;
use crate::render::colormap::Colormap;
use crate::render::heatmap::HeatmapResources;
use crate::scene::Scene;
use crate::ui::behind_the_gaze::BehindView;
use crate::ui::step3_attention::AttentionView;
use crate::ui::{show_lesson, LessonView};

/// Why the window could not run.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    /// No event loop (no display server).
    #[error("cannot open a window: {0}")]
    EventLoop(#[from] winit::error::EventLoopError),
}

/// Options from the command line.
#[derive(Clone, Debug, Default)]
pub struct WindowOptions {
    /// Close after this many frames (tests; `--frames`).
    pub frames: Option<u64>,
    /// Save the last frame here before closing (tests; `--screenshot`).
    pub screenshot: Option<std::path::PathBuf>,
}

/// Opens the lesson window and runs until it is closed.
pub fn run(scene: Scene, options: WindowOptions) -> Result<(), WindowError> {
    let event_loop = EventLoop::new()?;
    let mut app = GazeApp {
        scene,
        options,
        state: None,
        fatal: None,
    };
    event_loop.run_app(&mut app)?;
    match app.fatal {
        Some(message) => {
            eprintln!("gaze: {message}");
            Ok(())
        }
        None => Ok(()),
    }
}

struct GazeApp {
    scene: Scene,
    options: WindowOptions,
    state: Option<WindowState>,
    fatal: Option<String>,
}

struct WindowState {
    window: Arc<Window>,
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    ctx: GpuContext,
    lesson: Lesson,
    stage: Option<AttentionStage>,
    bound_generation: u64,
    egui_ctx: egui::Context,
    egui_state: egui_winit::State,
    renderer: egui_wgpu::Renderer,
    last_frame: Instant,
    frames: u64,
    message: Option<String>,
    /// The step-3 state the lesson last refused, with `message` saying why.
    refused: Option<crate::scene::AttentionScene>,
}

impl WindowState {
    fn new(event_loop: &ActiveEventLoop) -> Result<Self, String> {
        let attributes = Window::default_attributes()
            .with_title("Gaze — how a transformer turns a sentence into a guess")
            .with_inner_size(winit::dpi::LogicalSize::new(1280.0, 800.0));
        let window = Arc::new(
            event_loop
                .create_window(attributes)
                .map_err(|e| e.to_string())?,
        );
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_with_display_handle_from_env(
                Box::new(event_loop.owned_display_handle()),
            ));
        let surface = instance
            .create_surface(window.clone())
            .map_err(|e| e.to_string())?;
        let ctx = pollster::block_on(GpuContext::new(instance, Some(&surface)))
            .map_err(|e| e.to_string())?;
        let size = window.inner_size();
        let capabilities = surface.get_capabilities(&ctx.adapter);
        let format = egui_wgpu::preferred_framebuffer_format(&capabilities.formats)
            .map_err(|e| format!("the surface offers no format egui can draw to: {e}"))?;
        let mut config = surface
            .get_default_config(&ctx.adapter, size.width.max(1), size.height.max(1))
            .ok_or("the GPU adapter cannot present to this window")?;
        config.format = format;
        config.present_mode = wgpu::PresentMode::AutoVsync;
        // Screenshots (`--screenshot`) copy the frame out when the surface allows it.
        if capabilities.usages.contains(wgpu::TextureUsages::COPY_SRC) {
            config.usage |= wgpu::TextureUsages::COPY_SRC;
        }
        surface.configure(&ctx.device, &config);
        let lesson = Lesson::new(&ctx).map_err(|e| e.to_string())?;
        let egui_ctx = egui::Context::default();
        let egui_state = egui_winit::State::new(
            egui_ctx.clone(),
            egui::ViewportId::ROOT,
            event_loop,
            Some(window.scale_factor() as f32),
            window.theme(),
            Some(ctx.limits().max_texture_dimension_2d as usize),
        );
        let renderer =
            egui_wgpu::Renderer::new(&ctx.device, format, egui_wgpu::RendererOptions::default());
        Ok(Self {
            window,
            surface,
            config,
            ctx,
            lesson,
            stage: None,
            bound_generation: 0,
            egui_ctx,
            egui_state,
            renderer,
            last_frame: Instant::now(),
            frames: 0,
            message: None,
            refused: None,
        })
    }

    fn resize(&mut self, width: u32, height: u32) {
        // Minimised windows report 0×0: keep the old configuration until they come back.
        if width == 0 || height == 0 {
            return;
        }
        self.config.width = width;
        self.config.height = height;
        self.surface.configure(&self.ctx.device, &self.config);
    }

    /// Recomputes what the scene changed and rebinds the renderers when the buffers are new.
    fn derive(&mut self, scene: &Scene) {
        // A refused scene (say, an empty sentence) is not retried every frame: only once the
        // user changes it again. The last good stage stays on screen meanwhile.
        if self.refused.as_ref() != Some(&scene.attention) {
            match self
                .lesson
                .update(&self.ctx, &scene.attention, &mut self.stage)
            {
                Ok(_) => {
                    self.message = None;
                    self.refused = None;
                }
                Err(error) => {
                    self.message = Some(error.to_string());
                    self.refused = Some(scene.attention.clone());
                }
            }
        }
        let Some(stage) = self.stage.as_mut() else {
            return;
        };
        if let Err(error) = stage.poll_readback(&self.ctx) {
            self.message = Some(error.to_string());
        }
        if stage.generation != self.bound_generation {
            let format = self.config.format;
            let resources = &mut self.renderer.callback_resources;
            let (weights, params) = (stage.buffers.weights_buffer(), stage.buffers.params());
            resources.insert(HeatmapResources::new(
                &self.ctx.device,
                format,
                weights,
                params,
                Colormap::Viridis,
            ));
            resources.insert(ArcsResources::new(
                &self.ctx.device,
                format,
                weights,
                params,
            ));
            self.bound_generation = stage.generation;
        }
    }

    fn frame(&mut self, scene: &mut Scene, capture: bool) -> Option<image::RgbaImage> {
        self.derive(scene);
        let now = Instant::now();
        let dt = now.duration_since(self.last_frame).as_secs_f32();
        self.last_frame = now;
        let input = self.egui_state.take_egui_input(&self.window);
        let stage = self.stage.as_ref();
        let message = self.message.as_deref();
        let model = &self.lesson.model;
        let output = self.egui_ctx.run_ui(input, |ui| {
            let Some(stage) = stage else {
                // Nothing computed yet (the scene opened with a sentence the lesson refuses): keep
                // the sentence box, so the user can fix it here.
                egui::CentralPanel::default().show(ui, |ui| {
                    ui.label(message.unwrap_or("starting…"));
                    ui.horizontal(|ui| {
                        let label = ui.label("sentence:");
                        ui.text_edit_singleline(&mut scene.attention.sentence)
                            .labelled_by(label.id);
                    });
                });
                return;
            };
            let view = LessonView {
                attention: AttentionView {
                    tokens: &stage.tokens,
                    head_names: &stage.head_names,
                    result: stage.result.as_ref(),
                    colormap: Colormap::Viridis,
                    dt,
                    snap: false,
                },
                behind: BehindView {
                    tokens: &stage.tokens,
                    result: stage.result.as_ref(),
                    features: model.features(),
                    head_dims: model.head_dims(),
                    value_dims: model.value_dims(),
                    weights: &stage.weights,
                    stream: &stage.stream,
                    w_o: model.w_o(),
                },
                message,
            };
            show_lesson(ui, &mut scene.attention, &view);
        });
        // Apply this frame's edits before drawing: the kernels run now, so the arcs and the map
        // drawn below already show them (a drag updates attention in the same frame).
        self.derive(scene);
        self.egui_state
            .handle_platform_output(&self.window, output.platform_output);
        let shapes = self
            .egui_ctx
            .tessellate(output.shapes, output.pixels_per_point);
        let mut textures = output.textures_delta;
        let updates = std::mem::take(&mut textures.set);
        let frees = std::mem::take(&mut textures.free);
        for (id, deltas) in &updates {
            for delta in deltas {
                self.renderer
                    .update_texture(&self.ctx.device, &self.ctx.queue, *id, delta);
            }
        }
        let frame = match self.surface.get_current_texture() {
            wgpu::CurrentSurfaceTexture::Success(frame)
            | wgpu::CurrentSurfaceTexture::Suboptimal(frame) => frame,
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                // The window changed under us: reconfigure and draw on the next frame.
                self.surface.configure(&self.ctx.device, &self.config);
                return None;
            }
            _ => return None,
        };
        let screen = egui_wgpu::ScreenDescriptor {
            size_in_pixels: [self.config.width, self.config.height],
            pixels_per_point: output.pixels_per_point,
        };
        let view = frame.texture.create_view(&Default::default());
        let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
        let mut commands = self.renderer.update_buffers(
            &self.ctx.device,
            &self.ctx.queue,
            &mut encoder,
            &shapes,
            &screen,
        );
        {
            let mut pass = encoder
                .begin_render_pass(&wgpu::RenderPassDescriptor {
                    label: Some("frame"),
                    color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                        view: &view,
                        depth_slice: None,
                        resolve_target: None,
                        ops: wgpu::Operations {
                            load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                            store: wgpu::StoreOp::Store,
                        },
                    })],
                    ..Default::default()
                })
                .forget_lifetime();
            self.renderer.render(&mut pass, &shapes, &screen);
        }
        let image = if capture {
            // The last frame of a test run: wait for it (nothing comes after it to keep smooth).
            let (width, height) = (self.config.width, self.config.height);
            let format = self.config.format;
            match crate::app::render::read_texture(
                &self.ctx,
                encoder,
                &mut commands,
                &frame.texture,
                width,
                height,
                format,
            ) {
                Ok(image) => Some(image),
                Err(error) => {
                    self.message = Some(error.to_string());
                    None
                }
            }
        } else {
            commands.push(encoder.finish());
            self.ctx.queue.submit(commands);
            None
        };
        self.ctx.queue.present(frame);
        for id in &frees {
            self.renderer.free_texture(id);
        }
        self.frames += 1;
        image
    }
}

impl ApplicationHandler for GazeApp {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.state.is_some() {
            return;
        }
        match WindowState::new(event_loop) {
            Ok(state) => {
                state.window.request_redraw();
                self.state = Some(state);
            }
            Err(message) => {
                self.fatal = Some(message);
                event_loop.exit();
            }
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _: WindowId, event: WindowEvent) {
        let Some(state) = self.state.as_mut() else {
            return;
        };
        let _ = state.egui_state.on_window_event(&state.window, &event);
        match event {
            WindowEvent::CloseRequested => event_loop.exit(),
            WindowEvent::Resized(size) => state.resize(size.width, size.height),
            WindowEvent::RedrawRequested => {
                let last = self.options.frames.is_some_and(|n| state.frames + 1 >= n);
                let image = state.frame(&mut self.scene, last && self.options.screenshot.is_some());
                if last {
                    if let (Some(path), Some(image)) = (&self.options.screenshot, image) {
                        if let Err(e) = image.save(path) {
                            self.fatal = Some(format!("cannot save the screenshot: {e}"));
                        }
                    }
                    event_loop.exit();
                    return;
                }
                // The arcs' particles move every frame.
                state.window.request_redraw();
            }
            _ => {}
        }
    }
}
