//! The lesson's window, native or in a browser's canvas: winit 0.30 + a wgpu surface + egui. The
//! lesson itself is a [`Session`]; this is the shell around it (surface, input, export, faults).
//!
//! Each frame: input → scene edits (egui panels) → recompute only what changed (kernels run on
//! the GPU; their numbers come back by a readback that is polled, never waited on) → instanced
//! arcs and heatmap drawn straight from the compute buffers inside the egui panels → present.
//! Resize, DPI changes, minimising (0×0) and a lost or outdated surface are handled without
//! panicking; errors are shown in the window, not thrown.
//!
//! The same code runs natively and in the browser (`app::web` is the page around it): the GPU is
//! connected asynchronously (a browser cannot block), picking WebGPU where the browser has it and
//! WebGL2 — drawing only, attention on the CPU reference, said in a notice — where it does not.

use std::sync::Arc;

use web_time::Instant;
use winit::application::ApplicationHandler;
use winit::event::WindowEvent;
use winit::event_loop::{ActiveEventLoop, EventLoop, EventLoopProxy};
use winit::window::{Window, WindowId};

use crate::app::export::{ExportQueue, PendingImage};
use crate::app::lesson::Lesson;
use crate::app::paint::{ScreenPainter, ScreenShapes};
use crate::app::recovery::RunRecovery;
use crate::app::session::{Readbacks, Session};
use crate::gpu::GpuContext;
use crate::scene::Scene;
use crate::ui::presenter::Presenter;
use crate::ui::screen::ScreenOutput;
use crate::ui::theme::Theme;

/// Why the window could not run.
#[derive(Debug, thiserror::Error)]
pub enum WindowError {
    /// No event loop (no display server).
    #[error("cannot open a window: {0}")]
    EventLoop(#[from] winit::error::EventLoopError),
    /// The window opened but could not be drawn into (no GPU adapter at all, no surface).
    #[error("{0}")]
    Gpu(String),
}

/// Options from the command line.
#[derive(Clone, Debug, Default)]
pub struct WindowOptions {
    /// Close after this many frames (tests; `--frames`).
    pub frames: Option<u64>,
    /// Save the last frame here before closing (tests; `--screenshot`).
    pub screenshot: Option<std::path::PathBuf>,
    /// No animation: arcs jump to their weights and no particles flow (`--reduced-motion`; in
    /// the browser, the `prefers-reduced-motion` setting).
    pub reduced_motion: bool,
    /// A message to show from the start (the web build: a link that could not be read).
    pub message: Option<String>,
    /// The look to open in (`--theme`; key P switches).
    pub theme: Theme,
    /// Where key S saves its PNGs (`--export-dir`); the web build downloads them instead.
    pub export_dir: Option<std::path::PathBuf>,
    /// The scale key S exports at until the view menu changes it (`--export-scale`).
    pub export_scale: u32,
    /// Press S at this frame (tests; `--export-at-frame`).
    pub export_at_frame: Option<u64>,
    /// Meet this fault on purpose (tests; `--inject-fault`, `app::faults`).
    pub fault: Option<crate::app::faults::Fault>,
    /// Compute attention on the CPU reference even where the GPU could (`--cpu-reference`: to
    /// compare, or on a driver whose compute misbehaves). Adapters without compute shaders use it
    /// anyway.
    pub cpu_reference: bool,
    /// A real model to read at start, off the frame, and show once it is in (`--model`).
    #[cfg(not(target_arch = "wasm32"))]
    pub model: Option<std::path::PathBuf>,
    /// A real model the model menu offers to load (`GAZE_MODEL`), unread until picked.
    #[cfg(not(target_arch = "wasm32"))]
    pub available_model: Option<std::path::PathBuf>,
}

/// Whether the desktop asks for reduced motion, where it can be read: GNOME's "animations" switch
/// (`gsettings`), macOS's "reduce motion" (`defaults`). Anywhere else, or if asking fails: no.
#[cfg(not(target_arch = "wasm32"))]
pub fn desktop_prefers_reduced_motion() -> bool {
    let read = |program: &str, args: &[&str]| {
        std::process::Command::new(program)
            .args(args)
            .stderr(std::process::Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    if cfg!(target_os = "macos") {
        read(
            "defaults",
            &["read", "com.apple.universalaccess", "reduceMotion"],
        )
        .is_some_and(|v| v == "1")
    } else if cfg!(target_os = "linux") {
        read(
            "gsettings",
            &["get", "org.gnome.desktop.interface", "enable-animations"],
        )
        .is_some_and(|v| v == "false")
    } else {
        false
    }
}

/// What the app tells itself from outside the event loop.
pub enum AppEvent {
    /// The GPU connected (or could not).
    Connected(Result<Connection, String>),
    /// The estimated embeddings arrived (the web build fetches them after the first frame).
    Estimated(Result<String, String>),
    /// The native scene dialog closed: the file chosen (`None`: cancelled, or no dialog could
    /// be shown), to open or to save to.
    SceneFile {
        /// Save the scene there (else open it).
        save: bool,
        /// The chosen file.
        path: Option<std::path::PathBuf>,
    },
    /// A screen reader asked for the tree of controls, or to press one (native AccessKit).
    #[cfg(not(target_arch = "wasm32"))]
    AccessKit(egui_winit::accesskit_winit::Event),
    /// The native "open model" dialog closed: the file chosen (`None`: cancelled).
    #[cfg(not(target_arch = "wasm32"))]
    ModelFile(Option<std::path::PathBuf>),
    /// A file was dropped on the window: its name and bytes.
    Dropped {
        /// The file name.
        name: String,
        /// Its contents.
        bytes: Vec<u8>,
    },
}

#[cfg(not(target_arch = "wasm32"))]
impl From<egui_winit::accesskit_winit::Event> for AppEvent {
    fn from(event: egui_winit::accesskit_winit::Event) -> Self {
        AppEvent::AccessKit(event)
    }
}

/// A window with a GPU that can draw to it.
pub struct Connection {
    window: Arc<Window>,
    surface: wgpu::Surface<'static>,
    ctx: GpuContext,
}

/// What still works natively with no GPU at all, said when the window cannot draw.
const NO_GPU_HINT: &str = "without any GPU, `gaze inspect --scene FILE` still computes every \
number of the lesson on the CPU reference";

/// Connects `window` to a GPU. Natively the instance takes every backend the platform has; in
/// the browser, WebGPU when the browser really offers an adapter, else WebGL2.
async fn connect(
    window: Arc<Window>,
    display: Box<dyn wgpu::wgt::WgpuHasDisplayHandle>,
) -> Result<Connection, String> {
    #[cfg(not(target_arch = "wasm32"))]
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_with_display_handle_from_env(
        display,
    ));
    #[cfg(target_arch = "wasm32")]
    let instance = {
        drop(display);
        wgpu::util::new_instance_with_webgpu_detection(
            wgpu::InstanceDescriptor::new_without_display_handle(),
        )
        .await
    };
    // In a browser, no surface means no WebGPU adapter was found and WebGL2 is off too.
    let surface = instance.create_surface(window.clone()).map_err(|e| {
        if cfg!(target_arch = "wasm32") {
            format!("this browser offers neither WebGPU nor WebGL2 to draw with ({e})")
        } else {
            format!(
                "cannot draw into this window: no GPU backend here can present to it ({e}). \
                 Install a Vulkan driver (on Debian/Ubuntu without a GPU, `apt-get install \
                 mesa-vulkan-drivers libvulkan1` gives the lavapipe software adapter); {NO_GPU_HINT}"
            )
        }
    })?;
    let ctx = GpuContext::new(instance, Some(&surface))
        .await
        .map_err(|error| match error {
            // Natively nothing can be drawn without an adapter; the numbers can still be had.
            crate::gpu::GpuError::NoAdapter(_) if cfg!(not(target_arch = "wasm32")) => {
                format!("{error}; {NO_GPU_HINT}")
            }
            error => error.to_string(),
        })?;
    Ok(Connection {
        window,
        surface,
        ctx,
    })
}

/// Opens the lesson window and runs until it is closed.
#[cfg(not(target_arch = "wasm32"))]
pub fn run(scene: Scene, mut options: WindowOptions) -> Result<(), WindowError> {
    let event_loop = EventLoop::<AppEvent>::with_user_event().build()?;
    let recovery = RunRecovery::start(&scene, &mut options.message);
    let mut app = GazeApp::new(scene, options, event_loop.create_proxy());
    app.recovery = recovery;
    event_loop.run_app(&mut app)?;
    match app.fatal {
        Some(message) => Err(WindowError::Gpu(message)),
        None => Ok(()),
    }
}

/// Starts the lesson in the page's canvas; returns at once (the browser drives the loop).
#[cfg(target_arch = "wasm32")]
pub fn spawn(
    scene: Scene,
    options: WindowOptions,
    page: Box<dyn PageHooks>,
) -> Result<EventLoopProxy<AppEvent>, WindowError> {
    use winit::platform::web::EventLoopExtWebSys;
    let mut options = options;
    let event_loop = EventLoop::<AppEvent>::with_user_event().build()?;
    let proxy = event_loop.create_proxy();
    let recovery = RunRecovery::start(&scene, &mut options.message);
    let mut app = GazeApp::new(scene, options, proxy.clone(), page);
    app.recovery = recovery;
    event_loop.spawn_app(app);
    Ok(proxy)
}

/// The application: the scene the user edits and, once connected, the window's state.
pub struct GazeApp {
    scene: Scene,
    options: WindowOptions,
    state: Option<WindowState>,
    connecting: bool,
    /// For work that finishes outside the loop (the browser's async GPU set-up and fetches).
    proxy: EventLoopProxy<AppEvent>,
    fatal: Option<String>,
    /// Estimated embeddings that arrived before the GPU connected.
    estimated: Option<String>,
    /// The window whose GPU device was lost, while a new device is being connected to it.
    lost: Option<WindowState>,
    /// The fault to inject has been injected (`--inject-fault`).
    fault_done: bool,
    /// Crash recovery: the panic hook's copy of the scene, and a scene offered back.
    recovery: RunRecovery,
    /// The page around the canvas (`app::web`), told when the GPU connects and after frames.
    #[cfg(target_arch = "wasm32")]
    page: Box<dyn PageHooks>,
}

/// What the page around a browser window does at the window's moments (`app::web::Page`): the
/// window calls it and never names the page, so the page depends on the window, not both ways.
#[cfg(target_arch = "wasm32")]
pub trait PageHooks {
    /// The GPU connected and the first frame is about to be drawn.
    fn connected(&mut self, state: &WindowState, proxy: &EventLoopProxy<AppEvent>);
    /// A frame was drawn of `scene`.
    fn after_frame(&mut self, state: &WindowState, scene: &Scene);
}

impl GazeApp {
    fn new(
        scene: Scene,
        options: WindowOptions,
        proxy: EventLoopProxy<AppEvent>,
        #[cfg(target_arch = "wasm32")] page: Box<dyn PageHooks>,
    ) -> Self {
        Self {
            scene,
            options,
            state: None,
            connecting: false,
            proxy,
            fatal: None,
            estimated: None,
            lost: None,
            fault_done: false,
            recovery: RunRecovery::default(),
            #[cfg(target_arch = "wasm32")]
            page,
        }
    }

    /// Creates the window and starts connecting it to a GPU.
    fn open(&mut self, event_loop: &ActiveEventLoop) -> Result<(), String> {
        let attributes = Window::default_attributes()
            .with_title("Gaze — how a transformer turns a sentence into a guess");
        // Natively the window starts hidden: AccessKit's adapter must be attached before it is
        // shown (`connected` shows it).
        #[cfg(not(target_arch = "wasm32"))]
        let attributes = attributes
            .with_inner_size(winit::dpi::LogicalSize::new(1280.0, 800.0))
            .with_visible(false);
        // In the page, the canvas's CSS decides its size (it fills the window); winit follows it
        // and the device pixel ratio.
        #[cfg(target_arch = "wasm32")]
        let attributes = {
            use winit::platform::web::WindowAttributesExtWebSys;
            attributes.with_canvas(crate::app::browser::canvas())
        };
        let window = Arc::new(
            event_loop
                .create_window(attributes)
                .map_err(|e| e.to_string())?,
        );
        self.connect_window(event_loop, window);
        Ok(())
    }

    /// Connects `window` to a GPU: at once natively, asynchronously in the browser (the answer
    /// comes back as [`AppEvent::Connected`]).
    fn connect_window(&mut self, event_loop: &ActiveEventLoop, window: Arc<Window>) {
        let display = Box::new(event_loop.owned_display_handle());
        self.connecting = true;
        #[cfg(not(target_arch = "wasm32"))]
        {
            let connection = pollster::block_on(connect(window, display));
            self.connected(event_loop, connection);
        }
        #[cfg(target_arch = "wasm32")]
        {
            let proxy = self.proxy.clone();
            wasm_bindgen_futures::spawn_local(async move {
                let connection = connect(window, display).await;
                // The loop is gone only when the page is closing.
                let _ = proxy.send_event(AppEvent::Connected(connection));
            });
        }
    }

    /// The GPU device was lost (a driver reset, the browser's GPU process restarting): every
    /// buffer, pipeline and texture on it is gone. Connect the same window to a new device; the
    /// scene, the panels' text, egui's state (zoom, focus, the screen reader's tree) and the
    /// presenter settings are kept, and everything on the GPU is built again from the scene.
    fn recover(&mut self, event_loop: &ActiveEventLoop) {
        let Some(state) = self.state.take() else {
            return;
        };
        let why = state.ctx.lost().unwrap_or_default();
        eprintln!("gaze: reconnecting to the GPU after the device was lost: {why}");
        let window = state.window.clone();
        self.lost = Some(state);
        self.connecting = true;
        self.connect_window(event_loop, window);
    }

    fn connected(&mut self, event_loop: &ActiveEventLoop, connection: Result<Connection, String>) {
        self.connecting = false;
        let proxy = self.proxy.clone();
        if let Some(lost) = self.lost.take() {
            match connection.and_then(|c| lost.recovered(c, &self.options)) {
                Ok(state) => {
                    state.window.request_redraw();
                    self.state = Some(state);
                }
                Err(message) => self.fail(
                    event_loop,
                    format!("the GPU was lost and Gaze could not reconnect: {message}"),
                ),
            }
            return;
        }
        let state = connection.and_then(|c| WindowState::new(c, &self.options, proxy));
        match state {
            Ok(mut state) => {
                if let Some(text) = self.estimated.take() {
                    state.add_estimated(&text);
                }
                state.session.lines.recovery =
                    self.recovery.offer.as_ref().map(|o| o.summary.clone());
                // The controls' names and roles reach the desktop's screen reader.
                #[cfg(not(target_arch = "wasm32"))]
                {
                    state
                        .egui_state
                        .init_accesskit(event_loop, &state.window, self.proxy.clone());
                    state.window.set_visible(true);
                }
                #[cfg(target_arch = "wasm32")]
                self.page.connected(&state, &self.proxy);
                state.window.request_redraw();
                self.state = Some(state);
            }
            Err(message) => self.fail(event_loop, message),
        }
    }

    fn fail(&mut self, event_loop: &ActiveEventLoop, message: String) {
        #[cfg(target_arch = "wasm32")]
        crate::app::browser::show_failure(&message);
        self.fatal = Some(message);
        event_loop.exit();
    }

    /// After each frame: answer the recovery banner, and keep the panic hook's copy of the
    /// scene current (compared a few times a second, copied only when it changed).
    fn after_frame(&mut self) {
        use crate::ui::recovery_banner::RecoveryChoice;
        let Some(state) = self.state.as_mut() else {
            return;
        };
        let recovery = &mut self.recovery;
        if let (Some(choice), Some(offer)) = (state.recovery_choice.take(), recovery.offer.take()) {
            let told = match choice {
                RecoveryChoice::Restore => {
                    self.scene = offer.scene;
                    format!(
                        "restored the scene saved after the crash ({})",
                        offer.summary
                    )
                }
                RecoveryChoice::Discard => "discarded the scene saved after the crash".to_owned(),
            };
            let retired = recovery.store.as_ref().map(|store| store.retire());
            state.session.lines.info = Some(match retired {
                Some(Ok(kept)) => format!("{told}; {kept}"),
                Some(Err(error)) => format!("{told}; {error}"),
                None => told,
            });
            state.session.lines.recovery = None;
        }
        if state.frames % 15 == 0 {
            recovery.snapshot.update(&self.scene);
        }
    }

    /// A dropped `.md`/`.txt` file joins the knowledge base (`context.documents`).
    fn dropped(&mut self, name: &str, bytes: Vec<u8>) {
        if is_model_file(name) {
            // Parsing 98 MB on the page's only thread would freeze it; the browser's loader (a
            // worker, Cache Storage) is issue 17's next part.
            if let Some(state) = self.state.as_mut() {
                state.session.lines.message = Some(format!(
                    "{name}: this build reads real models natively only (gaze --model FILE, or \
                     drop it on the desktop window); the lesson model stays"
                ));
            }
            return;
        }
        let outcome = self.scene.add_document(name, bytes);
        if let Some(state) = self.state.as_mut() {
            match outcome {
                Ok(added) => state.session.lines.info = Some(added.to_string()),
                Err(error) => state.session.lines.message = Some(error.to_string()),
            }
            state.window.request_redraw();
        }
    }
}

/// Whether a dropped or chosen file is a model (GGUF) rather than a document.
fn is_model_file(name: &str) -> bool {
    std::path::Path::new(name)
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("gguf"))
}

/// The window and everything drawn into it, once a GPU is connected: the surface plumbing, egui's
/// window state and export; the lesson itself lives in the [`Session`].
pub struct WindowState {
    window: Arc<Window>,
    surface: wgpu::Surface<'static>,
    config: wgpu::SurfaceConfiguration,
    ctx: GpuContext,
    /// The scene's derived state and the screen's state around it.
    session: Session,
    /// egui-wgpu and the render pipelines, for this device's life.
    painter: ScreenPainter,
    egui_ctx: egui::Context,
    egui_state: egui_winit::State,
    last_frame: Instant,
    frames: u64,
    /// For the native scene dialogs' answers.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    proxy: EventLoopProxy<AppEvent>,
    /// Press S at this frame (`--export-at-frame`).
    export_at_frame: Option<u64>,
    /// Exports (key S) on their way to their files.
    exports: ExportQueue,
    /// An injected surface fault the next acquired frame is treated as (`--inject-fault`).
    surface_fault: Option<crate::app::faults::FaultKind>,
    /// Redraws left in an injected minimise (the window reports 0×0 meanwhile).
    minimised_redraws: u32,
    /// The user's answer to the recovery banner this frame.
    recovery_choice: Option<crate::ui::recovery_banner::RecoveryChoice>,
}

pub use crate::app::session::CPU_NOTICE;

impl WindowState {
    /// A window on its first GPU connection, with the built-in lesson model.
    fn new(
        connection: Connection,
        options: &WindowOptions,
        proxy: EventLoopProxy<AppEvent>,
    ) -> Result<Self, String> {
        // The web build starts on the curated words and fetches the estimated ones meanwhile.
        #[cfg(not(target_arch = "wasm32"))]
        let model = crate::model::lesson::LessonModel::builtin();
        #[cfg(target_arch = "wasm32")]
        let model = crate::model::lesson::LessonModel::curated_only();
        let model = model.map_err(|e| e.to_string())?;
        Self::with_model(connection, options, proxy, model)
    }

    /// A window on `connection` whose lesson runs `model` (a recovered window keeps the model it
    /// had, estimated words included).
    fn with_model(
        connection: Connection,
        options: &WindowOptions,
        proxy: EventLoopProxy<AppEvent>,
        model: crate::model::lesson::LessonModel,
    ) -> Result<Self, String> {
        let Connection {
            window,
            surface,
            ctx,
        } = connection;
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
        let lesson = if options.cpu_reference {
            Lesson::on_cpu_reference(model)
        } else {
            Lesson::with_model(&ctx, model).map_err(|e| e.to_string())?
        };
        if !lesson.computes_on_gpu() {
            crate::gpu::context::report(&format!(
                "gaze: attention runs on the CPU reference ({})",
                ctx.summary()
            ));
        }
        let egui_ctx = egui::Context::default();
        let egui_state = egui_winit::State::new(
            egui_ctx.clone(),
            egui::ViewportId::ROOT,
            window.as_ref(),
            Some(window.scale_factor() as f32),
            window.theme(),
            Some(ctx.limits().max_texture_dimension_2d as usize),
        );
        let painter = ScreenPainter::new(&ctx, format);
        let presenter = Presenter {
            theme: options.theme,
            reduced_motion: options.reduced_motion,
            export_scale: options.export_scale.clamp(1, 4),
            ..Presenter::default()
        };
        let mut session = Session::new(lesson, presenter)
            .with_context_debounce(std::time::Duration::from_millis(250));
        session.lines.message = options.message.clone();
        #[cfg(not(target_arch = "wasm32"))]
        {
            if let Some(path) = &options.available_model {
                session.real.offer(path.clone());
            }
            if let Some(path) = &options.model {
                session.real.load_file(path.clone(), true);
            }
        }
        Ok(Self {
            window,
            surface,
            config,
            ctx,
            session,
            painter,
            egui_ctx,
            egui_state,
            last_frame: Instant::now(),
            frames: 0,
            export_at_frame: options.export_at_frame,
            proxy,
            exports: ExportQueue::new(options.export_dir.clone()),
            surface_fault: None,
            minimised_redraws: 0,
            recovery_choice: None,
        })
    }

    /// This window on a new GPU connection after the old device was lost. What lives on the CPU
    /// is carried over; what lived on the GPU is rebuilt from the scene on the next frame.
    fn recovered(self, connection: Connection, options: &WindowOptions) -> Result<Self, String> {
        let why = self.ctx.lost().unwrap_or_default();
        let mut old = self.session;
        let real = std::mem::take(&mut old.real);
        let (presenter, panels, info, recovery) = (
            old.presenter.clone(),
            old.panels.clone(),
            old.lines.info.clone(),
            old.lines.recovery.clone(),
        );
        // The lesson model as it stood (with the estimated words, if they had arrived).
        let mut state = Self::with_model(
            connection,
            options,
            self.proxy.clone(),
            old.into_lesson().model,
        )?;
        state.egui_ctx = self.egui_ctx;
        state.egui_state = self.egui_state;
        // The new egui renderer holds none of egui's textures, and egui only ever sends changes:
        // upload the font atlas whole, as it stands.
        let fonts = state.egui_ctx.fonts(|fonts| fonts.image());
        let delta =
            egui::epaint::ImageDelta::full(fonts, egui::epaint::TextureAtlas::texture_options());
        state
            .painter
            .upload_texture(&state.ctx, egui::TextureId::default(), &delta);
        state.session.presenter = presenter;
        state.session.panels = panels;
        state.session.real = real;
        state.session.lines.info = info;
        state.session.lines.recovery = recovery;
        state.frames = self.frames;
        state.export_at_frame = self.export_at_frame;
        state.exports.carry_on_from(self.exports);
        state.session.lines.message = Some(format!(
            "The GPU device was lost ({why}). Gaze connected to it again and recomputed your scene."
        ));
        eprintln!("gaze: reconnected to {}", state.ctx.summary());
        Ok(state)
    }

    /// Meets `kind` on purpose (`--inject-fault`): see `app::faults`.
    fn inject(&mut self, kind: crate::app::faults::FaultKind) {
        use crate::app::faults::{FaultKind, MINIMISED_FRAMES};
        eprintln!(
            "gaze: injecting fault {} at frame {}",
            kind.name(),
            self.frames
        );
        match kind {
            FaultKind::DeviceLost => self.ctx.simulate_device_loss(),
            FaultKind::SurfaceLost | FaultKind::SurfaceOutdated => self.surface_fault = Some(kind),
            FaultKind::Minimise => self.minimised_redraws = MINIMISED_FRAMES,
            #[allow(clippy::panic, reason = "the fault asked for is a panic")]
            FaultKind::Panic => panic!(
                "fault injected at frame {} (--inject-fault panic@N)",
                self.frames
            ),
        }
    }

    /// The window's size in pixels; 0×0 while it is minimised (or an injected minimise lasts).
    fn window_size(&mut self) -> winit::dpi::PhysicalSize<u32> {
        if self.minimised_redraws > 0 {
            self.minimised_redraws -= 1;
            return winit::dpi::PhysicalSize::new(0, 0);
        }
        self.window.inner_size()
    }

    /// The frame's surface texture, or `None` when there is nothing to draw into this time: the
    /// surface was lost or outdated (reconfigured here, drawn on the next frame), timed out, or
    /// the window is hidden. None of these is an error worth a message.
    fn acquire(&mut self) -> Option<wgpu::SurfaceTexture> {
        use crate::app::faults::FaultKind;
        let acquired = self.surface.get_current_texture();
        let acquired = match (self.surface_fault.take(), acquired) {
            // An injected fault: the real texture is dropped unpresented, as a lost one would be.
            (Some(FaultKind::SurfaceLost), _) => wgpu::CurrentSurfaceTexture::Lost,
            (Some(_), _) => wgpu::CurrentSurfaceTexture::Outdated,
            (None, acquired) => acquired,
        };
        match acquired {
            wgpu::CurrentSurfaceTexture::Success(frame)
            | wgpu::CurrentSurfaceTexture::Suboptimal(frame) => Some(frame),
            wgpu::CurrentSurfaceTexture::Outdated | wgpu::CurrentSurfaceTexture::Lost => {
                // The window changed under us: reconfigure and draw on the next frame.
                self.surface.configure(&self.ctx.device, &self.config);
                None
            }
            _ => None,
        }
    }

    /// The window.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn window(&self) -> &Window {
        &self.window
    }

    /// The lesson session this window shows (the page reports it for its tests).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn session(&self) -> &Session {
        &self.session
    }

    /// The adapter's backend, as the page reports it: `webgpu`, `webgl2`, `vulkan`, …
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn backend(&self) -> &'static str {
        match self.ctx.adapter.get_info().backend {
            wgpu::Backend::BrowserWebGpu => "webgpu",
            wgpu::Backend::Gl if cfg!(target_arch = "wasm32") => "webgl2",
            wgpu::Backend::Gl => "gl",
            wgpu::Backend::Vulkan => "vulkan",
            wgpu::Backend::Metal => "metal",
            wgpu::Backend::Dx12 => "dx12",
            _ => "other",
        }
    }

    /// The surface's size in pixels.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn surface_size(&self) -> [u32; 2] {
        [self.config.width, self.config.height]
    }

    /// Frames drawn so far.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn frames(&self) -> u64 {
        self.frames
    }

    fn add_estimated(&mut self, text: &str) {
        if let Err(error) = self.session.lesson_mut().add_estimated(text) {
            self.session.lines.message =
                Some(format!("the estimated word features did not load: {error}"));
        }
    }

    fn resize(&mut self, width: u32, height: u32) {
        // Minimised windows report 0×0: keep the old configuration until they come back.
        if width == 0 || height == 0 {
            return;
        }
        if (width, height) == (self.config.width, self.config.height) {
            return;
        }
        self.config.width = width;
        self.config.height = height;
        // In the page the canvas's drawing buffer must match: CSS size × device pixel ratio.
        #[cfg(target_arch = "wasm32")]
        {
            use winit::platform::web::WindowExtWebSys;
            if let Some(canvas) = self.window.canvas() {
                canvas.set_width(width);
                canvas.set_height(height);
            }
        }
        self.surface.configure(&self.ctx.device, &self.config);
    }

    fn frame(&mut self, scene: &mut Scene, capture: bool) -> Option<image::RgbaImage> {
        // A resize or a new device pixel ratio (a browser zoom, a window dragged to another
        // screen) may arrive without its own event on some platforms: follow the window.
        let size = self.window_size();
        self.resize(size.width, size.height);
        self.session.poll_models(scene);
        self.session.derive(&self.ctx, scene, Readbacks::Poll);
        let now = Instant::now();
        let dt = now.duration_since(self.last_frame).as_secs_f32();
        self.last_frame = now;
        let input = self.egui_state.take_egui_input(&self.window);
        self.exports.poll(&self.ctx, &mut self.session.lines);
        // The window manager (or the browser's Esc) may have left full screen without F.
        self.session.presenter.fullscreen = self.window.fullscreen().is_some();
        let (mut output, screen) = self.run_screen(input, scene, dt);
        let export = screen.requests.export.or_else(|| {
            (self.export_at_frame == Some(self.frames))
                .then_some(self.session.presenter.export_scale)
        });
        self.recovery_choice = screen.recovery;
        if let Some(action) = screen.scene_file {
            self.scene_dialog(action, scene);
        }
        #[cfg(not(target_arch = "wasm32"))]
        if screen.model == Some(crate::ui::model_picker::ModelAction::Open) {
            self.model_dialog();
        }
        if let Some(on) = screen.requests.fullscreen {
            self.window
                .set_fullscreen(on.then_some(winit::window::Fullscreen::Borderless(None)));
        }
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(folder) = self.session.panels.context.folder_requested.take() {
            self.session.panels.context.report =
                Some(crate::app::context_lesson::add_folder(scene, &folder));
        }
        if let Err(error) = self.session.start_requested(&self.ctx, scene) {
            self.session.lines.message = Some(error);
        }
        // Apply this frame's edits before drawing: the kernels run now, so the arcs and the map
        // drawn below already show them (a drag updates attention in the same frame).
        self.session.derive(&self.ctx, scene, Readbacks::Poll);
        self.painter.bind(&self.ctx, &self.session);
        let platform_output = std::mem::take(&mut output.platform_output);
        self.egui_state
            .handle_platform_output(&self.window, platform_output);
        let mut shapes =
            ScreenShapes::tessellate(&self.egui_ctx, output, egui::TexturesDelta::default());
        // Minimised: nothing to draw into (the panels above still ran, so edits and readbacks
        // carry on); the surface keeps its last configuration until the window comes back.
        // egui's texture changes are applied all the same (it sends each once).
        let frame = if size.width == 0 || size.height == 0 {
            None
        } else {
            self.acquire()
        };
        let Some(frame) = frame else {
            self.painter.upload_textures(&self.ctx, &mut shapes);
            self.painter.free_textures(&mut shapes);
            return None;
        };
        let (encoder, mut commands) =
            self.painter
                .paint(&self.ctx, &mut shapes, &frame.texture, wgpu::Color::BLACK);
        let image = if capture {
            // The last frame of a test run: wait for it (nothing comes after it to keep smooth).
            self.capture(encoder, &mut commands, &frame.texture)
        } else {
            commands.push(encoder.finish());
            self.ctx.queue.submit(commands);
            None
        };
        self.ctx.queue.present(frame);
        self.painter.free_textures(&mut shapes);
        self.frames += 1;
        if let Some(scale) = export {
            if let Err(error) = self.start_export(scene, scale) {
                self.session.lines.message = Some(error);
            }
        }
        image
    }

    /// Shows the native open or save dialog on its own thread; its answer comes back as
    /// [`AppEvent::SceneFile`].
    #[cfg(not(target_arch = "wasm32"))]
    fn scene_dialog(&mut self, action: crate::ui::scenes_menu::SceneAction, scene: &Scene) {
        use crate::app::scene_files::{spawn_open_dialog, spawn_save_dialog, suggested_file_name};
        use crate::ui::scenes_menu::SceneAction;
        let proxy = self.proxy.clone();
        let save = action == SceneAction::SaveFile;
        let on_done = move |path| {
            // The window may have closed meanwhile; then nobody needs to hear.
            let _ = proxy.send_event(AppEvent::SceneFile { save, path });
        };
        let started = match action {
            SceneAction::OpenFile => spawn_open_dialog(on_done),
            SceneAction::SaveFile => spawn_save_dialog(&suggested_file_name(scene), on_done),
            SceneAction::OpenShipped(_) => Ok(()),
        };
        if let Err(error) = started {
            self.session.lines.message = Some(error.to_string());
        }
    }

    /// Shows the native "open model" dialog on its own thread; its answer comes back as
    /// [`AppEvent::ModelFile`].
    #[cfg(not(target_arch = "wasm32"))]
    fn model_dialog(&mut self) {
        let proxy = self.proxy.clone();
        let started = crate::app::scene_files::spawn_open_model_dialog(move |path| {
            let _ = proxy.send_event(AppEvent::ModelFile(path));
        });
        if let Err(error) = started {
            self.session.lines.message = Some(error.to_string());
        }
    }

    /// The browser has no file dialogs: a scene lives in the page's link.
    #[cfg(target_arch = "wasm32")]
    fn scene_dialog(&mut self, _action: crate::ui::scenes_menu::SceneAction, _scene: &Scene) {}

    /// Opens or saves the scene file the dialog chose. A file that cannot be read or is refused
    /// leaves the current scene as it was, with the reason on screen.
    #[cfg(not(target_arch = "wasm32"))]
    fn scene_file_chosen(
        &mut self,
        scene: &mut Scene,
        save: bool,
        path: Option<std::path::PathBuf>,
    ) {
        let Some(path) = path else {
            self.session.lines.info = Some(
                "no file chosen (the dialog was cancelled, or this desktop offers no file \
                 dialog: `gaze --scene FILE` opens one from the command line)"
                    .into(),
            );
            return;
        };
        let name = path.display().to_string();
        if save {
            match crate::app::scene_files::write_scene_file(&path, scene) {
                Ok(()) => self.session.lines.info = Some(format!("saved the scene to {name}")),
                Err(error) => self.session.lines.message = Some(error.to_string()),
            }
            return;
        }
        match crate::app::scene_files::read_scene_file(&path) {
            Ok(opened) => {
                self.session.lines.info =
                    Some(crate::ui::scenes_menu::apply_opened(scene, opened, &name));
                self.session.lines.message = None;
            }
            Err(error) => self.session.lines.message = Some(error.to_string()),
        }
    }

    /// One pass of the whole screen (`Session::show`) over `input`, with the arcs advanced by
    /// `dt`.
    fn run_screen(
        &mut self,
        input: egui::RawInput,
        scene: &mut Scene,
        dt: f32,
    ) -> (egui::FullOutput, ScreenOutput) {
        let session = &mut self.session;
        let mut screen = ScreenOutput::default();
        let output = self.egui_ctx.run_ui(input, |ui| {
            screen = session.show(ui, scene, dt);
        });
        (output, screen)
    }

    /// Draws the screen once more, offscreen, at `scale` times the window's pixels per point —
    /// the same layout in points, so the same picture, sharper — and starts reading it back.
    /// The arcs do not advance (dt = 0): the export shows the animation as it stands.
    fn start_export(&mut self, scene: &mut Scene, scale: u32) -> Result<(), String> {
        if self.exports.awaiting_pixels() {
            return Err("an export is still being saved; press S again in a moment".into());
        }
        let scale = scale.clamp(1, 4);
        let (width, height) = (self.config.width * scale, self.config.height * scale);
        let max = self.ctx.limits().max_texture_dimension_2d;
        if width > max || height > max {
            return Err(format!(
                "a {scale}x export of this window would be {width}x{height} pixels; this GPU \
                 draws at most {max} a side: choose a smaller export scale (view menu)"
            ));
        }
        let ppp = self.egui_ctx.pixels_per_point();
        let zoom = self.egui_ctx.zoom_factor();
        // The same rectangle in points; egui multiplies the native scale by the zoom again.
        let input = crate::app::export::offscreen_input(
            egui::vec2(self.config.width as f32, self.config.height as f32) / ppp,
            ppp / zoom * scale as f32,
            max,
            None,
        );
        let (output, _) = self.run_screen(input, scene, 0.0);
        let mut shapes =
            ScreenShapes::tessellate(&self.egui_ctx, output, egui::TexturesDelta::default());
        let format = self.config.format;
        let target = self.ctx.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("export"),
            size: wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let (encoder, mut commands) =
            self.painter
                .paint(&self.ctx, &mut shapes, &target, wgpu::Color::BLACK);
        let pending = PendingImage::start(
            &self.ctx,
            encoder,
            &mut commands,
            &target,
            width,
            height,
            format,
        );
        self.painter.free_textures(&mut shapes);
        self.exports.start(pending, scene.step)?;
        self.session.lines.status = Some(format!("saving a {width}x{height} PNG…"));
        Ok(())
    }
}

impl WindowState {
    /// Submits the frame and copies it out (`--screenshot`).
    #[cfg(not(target_arch = "wasm32"))]
    fn capture(
        &mut self,
        encoder: wgpu::CommandEncoder,
        commands: &mut Vec<wgpu::CommandBuffer>,
        texture: &wgpu::Texture,
    ) -> Option<image::RgbaImage> {
        let (width, height) = (self.config.width, self.config.height);
        let format = self.config.format;
        let read = crate::app::export::read_texture(
            &self.ctx, encoder, commands, texture, width, height, format,
        );
        read.map_err(|error| self.session.lines.message = Some(error.to_string()))
            .ok()
    }

    /// The browser cannot wait for a copy; screenshots are taken by the page's tests instead.
    #[cfg(target_arch = "wasm32")]
    fn capture(
        &mut self,
        encoder: wgpu::CommandEncoder,
        commands: &mut Vec<wgpu::CommandBuffer>,
        _texture: &wgpu::Texture,
    ) -> Option<image::RgbaImage> {
        commands.push(encoder.finish());
        self.ctx.queue.submit(std::mem::take(commands));
        None
    }
}

impl ApplicationHandler<AppEvent> for GazeApp {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.state.is_some() || self.connecting {
            return;
        }
        if let Err(message) = self.open(event_loop) {
            self.fail(event_loop, message);
        }
    }

    fn user_event(&mut self, event_loop: &ActiveEventLoop, event: AppEvent) {
        match event {
            AppEvent::Connected(connection) => self.connected(event_loop, connection),
            AppEvent::Estimated(Ok(text)) => match self.state.as_mut() {
                Some(state) => state.add_estimated(&text),
                None => self.estimated = Some(text),
            },
            AppEvent::Estimated(Err(error)) => {
                if let Some(state) = self.state.as_mut() {
                    state.session.lines.message = Some(format!(
                        "the estimated word features did not load ({error}); words outside the \
                         lesson's 96 curated ones count as unknown"
                    ));
                }
            }
            AppEvent::Dropped { name, bytes } => self.dropped(&name, bytes),
            #[cfg(not(target_arch = "wasm32"))]
            AppEvent::AccessKit(event) => {
                use egui_winit::accesskit_winit::WindowEvent as Request;
                if let Some(state) = self.state.as_mut() {
                    match event.window_event {
                        Request::InitialTreeRequested => state.egui_ctx.enable_accesskit(),
                        Request::ActionRequested(request) => {
                            state.egui_state.on_accesskit_action_request(request);
                        }
                        Request::AccessibilityDeactivated => state.egui_ctx.disable_accesskit(),
                    }
                    state.window.request_redraw();
                }
            }
            #[cfg(not(target_arch = "wasm32"))]
            AppEvent::SceneFile { save, path } => {
                if let Some(state) = self.state.as_mut() {
                    state.scene_file_chosen(&mut self.scene, save, path);
                    state.window.request_redraw();
                }
            }
            #[cfg(target_arch = "wasm32")]
            AppEvent::SceneFile { .. } => {}
            #[cfg(not(target_arch = "wasm32"))]
            AppEvent::ModelFile(path) => {
                if let Some(state) = self.state.as_mut() {
                    match path {
                        Some(path) => state.session.real.load_file(path, true),
                        None => state.session.lines.info = Some("no model file chosen".into()),
                    }
                    state.window.request_redraw();
                }
            }
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _: WindowId, event: WindowEvent) {
        if let WindowEvent::DroppedFile(path) = &event {
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into(),
            );
            // A model file is read off the frame (98 MB); the window shows it once it is in.
            #[cfg(not(target_arch = "wasm32"))]
            if is_model_file(&name) {
                if let Some(state) = self.state.as_mut() {
                    state.session.real.load_file(path.clone(), true);
                    state.window.request_redraw();
                }
                return;
            }
            match crate::app::context_lesson::read_document(path, &name) {
                Ok(bytes) => self.dropped(&name, bytes),
                Err(problem) => {
                    if let Some(state) = self.state.as_mut() {
                        state.session.lines.message = Some(problem);
                    }
                }
            }
            return;
        }
        let Some(state) = self.state.as_mut() else {
            return;
        };
        let _ = state.egui_state.on_window_event(&state.window, &event);
        match event {
            WindowEvent::CloseRequested => event_loop.exit(),
            WindowEvent::Resized(size) => {
                state.resize(size.width, size.height);
                state.window.request_redraw();
            }
            WindowEvent::ScaleFactorChanged { .. } => {
                let size = state.window.inner_size();
                state.resize(size.width, size.height);
                state.window.request_redraw();
            }
            WindowEvent::RedrawRequested => {
                if state.ctx.lost().is_some() {
                    self.recover(event_loop);
                    return;
                }
                if let Some(fault) = self.options.fault {
                    if !self.fault_done && state.frames >= fault.frame {
                        self.fault_done = true;
                        state.inject(fault.kind);
                        if state.ctx.lost().is_some() {
                            self.recover(event_loop);
                            return;
                        }
                    }
                }
                // The last frame waits for an export still being saved (at most ~10 s more).
                let last = self.options.frames.is_some_and(|n| {
                    state.frames + 1 >= n && (!state.exports.busy() || state.frames + 1 >= n + 600)
                });
                let image = state.frame(&mut self.scene, last && self.options.screenshot.is_some());
                self.after_frame();
                let Some(state) = self.state.as_mut() else {
                    return;
                };
                #[cfg(target_arch = "wasm32")]
                self.page.after_frame(state, &self.scene);
                if last {
                    if let (Some(path), Some(image)) = (&self.options.screenshot, image) {
                        if let Err(e) = image.save(path) {
                            self.fatal = Some(format!("cannot save the screenshot: {e}"));
                        }
                    }
                    event_loop.exit();
                    return;
                }
                // The arcs' particles move every frame. A minimised window (0x0) draws nothing
                // and asks for nothing: its `Resized` brings it back, with no busy loop meanwhile.
                let size = state.window.inner_size();
                if (size.width > 0 && size.height > 0) || state.minimised_redraws > 0 {
                    state.window.request_redraw();
                }
            }
            _ => {}
        }
    }
}
