//! The native window: winit 0.30 + wgpu surface + egui overlay.
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

use crate::app::export::PendingImage;
use crate::app::lesson::{AttentionStage, Lesson};
use crate::gpu::GpuContext;
use crate::render::arcs::ArcsResources;
use crate::render::colormap::Colormap;
use crate::scene::Scene;
use crate::ui::presenter::Presenter;
use crate::ui::screen::{show_screen, ScreenOutput, ScreenView};
use crate::ui::step3_attention::AttentionLayout;
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
    let recovery = Recovery::start(&scene, &mut options);
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
) -> Result<EventLoopProxy<AppEvent>, WindowError> {
    use winit::platform::web::EventLoopExtWebSys;
    let mut options = options;
    let event_loop = EventLoop::<AppEvent>::with_user_event().build()?;
    let proxy = event_loop.create_proxy();
    let recovery = Recovery::start(&scene, &mut options);
    let mut app = GazeApp::new(scene, options, proxy.clone());
    app.recovery = recovery;
    event_loop.spawn_app(app);
    Ok(proxy)
}

/// The crash recovery of one run (`app::recovery`): where a panic saves the scene, the copy it
/// saves, and the scene a previous crash left, offered back until the user answers.
#[derive(Default)]
struct Recovery {
    store: Option<crate::app::recovery::RecoveryStore>,
    snapshot: crate::app::recovery::SceneSnapshot,
    offer: Option<crate::app::recovery::RecoveryOffer>,
}

impl Recovery {
    /// Reads what a previous crash left and installs the panic hook that saves this run's scene
    /// (chained before the hook already installed: the page's failure message, or the default).
    fn start(scene: &Scene, options: &mut WindowOptions) -> Self {
        use crate::app::recovery::{install_panic_hook, RecoveryStore};
        let store = RecoveryStore::for_this_platform();
        let offer = match store.as_ref().map(RecoveryStore::pending_offer) {
            Some(Ok(offer)) => offer,
            Some(Err(error)) => {
                options.message = Some(format!(
                    "a scene saved after a crash could not be read: {error}"
                ));
                None
            }
            None => None,
        };
        if let (Some(store), Some(_)) = (&store, &offer) {
            crate::gpu::context::report(&format!(
                "gaze: a scene saved when Gaze last stopped unexpectedly is waiting in {}; the \
                 window offers to restore it",
                store.describe()
            ));
        }
        let snapshot = crate::app::recovery::SceneSnapshot::default();
        snapshot.update(scene);
        if let Some(store) = &store {
            install_panic_hook(snapshot.clone(), store.clone());
        }
        Self {
            store,
            snapshot,
            offer,
        }
    }
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
    recovery: Recovery,
    #[cfg(target_arch = "wasm32")]
    page: crate::app::web::Page,
}

impl GazeApp {
    fn new(scene: Scene, options: WindowOptions, proxy: EventLoopProxy<AppEvent>) -> Self {
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
            recovery: Recovery::default(),
            #[cfg(target_arch = "wasm32")]
            page: crate::app::web::Page::default(),
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
            attributes.with_canvas(crate::app::web::canvas())
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
                state.recovery_summary = self.recovery.offer.as_ref().map(|o| o.summary.clone());
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
        crate::app::web::show_failure(&message);
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
            state.info = Some(match retired {
                Some(Ok(kept)) => format!("{told}; {kept}"),
                Some(Err(error)) => format!("{told}; {error}"),
                None => told,
            });
            state.recovery_summary = None;
        }
        if state.frames % 15 == 0 {
            recovery.snapshot.update(&self.scene);
        }
    }

    /// A dropped `.md`/`.txt` file joins the knowledge base (`context.documents`).
    fn dropped(&mut self, name: &str, bytes: Vec<u8>) {
        let outcome = self.scene.add_document(name, bytes);
        if let Some(state) = self.state.as_mut() {
            match outcome {
                Ok(added) => state.info = Some(added.to_string()),
                Err(error) => state.message = Some(error.to_string()),
            }
            state.window.request_redraw();
        }
    }
}

/// The window and everything drawn into it, once a GPU is connected.
pub struct WindowState {
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
    /// Why the lesson refused the current step-3 state (an empty sentence): shown until the
    /// user changes it into one it takes.
    refusal: Option<String>,
    /// Another problem to show (a GPU error, a link or file that could not be read); it stays
    /// until something else replaces it.
    message: Option<String>,
    /// Something to tell (a document added to the knowledge base).
    info: Option<String>,
    /// Said for as long as it holds: attention runs on the CPU reference (no compute here).
    notice: Option<String>,
    /// The step-3 state the lesson last refused, with `message` saying why.
    refused: Option<crate::scene::AttentionScene>,
    /// Text the panels keep between frames (a corpus row being typed).
    panels: crate::ui::PanelState,
    /// Step 1's fit and step 2's fine-tune, running or run.
    trainers: crate::app::training::Trainers,
    /// Step 4's context, computed when step 4 is on screen.
    step4: crate::app::context::Step4,
    /// Why step 4 refused the scene's current context (shown until it is changed).
    step4_refusal: Option<String>,
    /// The overview map the renderer is bound to (a stage generation).
    overview_generation: u64,
    /// Where step 4 drew its overview map last frame, in points.
    overview_rect: Option<egui::Rect>,
    /// Where the panels put the maps last frame (the web page reports it for its tests).
    pub(crate) layout: AttentionLayout,
    /// Theme, colour map, motion, controls, export scale, full screen.
    presenter: Presenter,
    /// The colour map the heatmap renderers were last set to (`None`: set it this frame).
    bound_colormap: Option<Colormap>,
    /// For the native scene dialogs' answers.
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    proxy: EventLoopProxy<AppEvent>,
    /// The CPU-eased arcs' targets were last set from this stage revision.
    eased_revision: u64,
    /// Press S at this frame (`--export-at-frame`).
    export_at_frame: Option<u64>,
    /// The last export's progress or result, shown in the top bar.
    export_status: Option<String>,
    /// A PNG export on its way back from the GPU, and the step it shows.
    export: Option<(PendingImage, u8)>,
    /// Where exports are saved (native).
    #[cfg_attr(target_arch = "wasm32", allow(dead_code))]
    export_dir: Option<std::path::PathBuf>,
    /// An export being encoded and written on another thread: where it went, or why not.
    #[cfg(not(target_arch = "wasm32"))]
    saving: Option<std::sync::mpsc::Receiver<Result<String, String>>>,
    /// An injected surface fault the next acquired frame is treated as (`--inject-fault`).
    surface_fault: Option<crate::app::faults::FaultKind>,
    /// Redraws left in an injected minimise (the window reports 0×0 meanwhile).
    minimised_redraws: u32,
    /// The offered recovery scene's summary, for the banner (`app::recovery`).
    recovery_summary: Option<String>,
    /// The user's answer to the recovery banner this frame.
    recovery_choice: Option<crate::ui::recovery_banner::RecoveryChoice>,
}

/// The notice shown when attention cannot run on this GPU.
#[cfg(target_arch = "wasm32")]
pub const CPU_NOTICE: &str = "This browser has no WebGPU: drawing with WebGL2, and attention is \
computed on the CPU reference (the one every GPU kernel is tested against) - same numbers, \
slower past a few hundred tokens.";

/// The notice shown when attention cannot run on this GPU.
#[cfg(not(target_arch = "wasm32"))]
pub const CPU_NOTICE: &str = "Attention is computed on the CPU reference here (the one every GPU \
kernel is tested against): this GPU has no compute shaders Gaze can use, or --cpu-reference was \
given. Same numbers, slower past a few hundred tokens.";

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
        let notice = (!lesson.computes_on_gpu()).then(|| CPU_NOTICE.to_owned());
        if notice.is_some() {
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
            refusal: None,
            message: options.message.clone(),
            info: None,
            notice,
            refused: None,
            layout: AttentionLayout::default(),
            panels: crate::ui::PanelState::default(),
            trainers: crate::app::training::Trainers::default(),
            step4: crate::app::context::Step4::with_debounce(std::time::Duration::from_millis(250)),
            step4_refusal: None,
            overview_generation: 0,
            overview_rect: None,
            presenter: Presenter {
                theme: options.theme,
                reduced_motion: options.reduced_motion,
                export_scale: options.export_scale.clamp(1, 4),
                ..Presenter::default()
            },
            export_at_frame: options.export_at_frame,
            export_status: None,
            bound_colormap: None,
            proxy,
            eased_revision: 0,
            export: None,
            export_dir: options.export_dir.clone(),
            #[cfg(not(target_arch = "wasm32"))]
            saving: None,
            surface_fault: None,
            minimised_redraws: 0,
            recovery_summary: None,
            recovery_choice: None,
        })
    }

    /// This window on a new GPU connection after the old device was lost. What lives on the CPU
    /// is carried over; what lived on the GPU is rebuilt from the scene on the next frame.
    fn recovered(self, connection: Connection, options: &WindowOptions) -> Result<Self, String> {
        let why = self.ctx.lost().unwrap_or_default();
        // The lesson model as it stood (with the estimated words, if they had arrived).
        let mut state =
            Self::with_model(connection, options, self.proxy.clone(), self.lesson.model)?;
        state.egui_ctx = self.egui_ctx;
        state.egui_state = self.egui_state;
        // The new egui renderer holds none of egui's textures, and egui only ever sends changes:
        // upload the font atlas whole, as it stands.
        let fonts = state.egui_ctx.fonts(|fonts| fonts.image());
        let delta =
            egui::epaint::ImageDelta::full(fonts, egui::epaint::TextureAtlas::texture_options());
        state.renderer.update_texture(
            &state.ctx.device,
            &state.ctx.queue,
            egui::TextureId::default(),
            &delta,
        );
        state.presenter = self.presenter;
        state.panels = self.panels;
        state.frames = self.frames;
        state.info = self.info;
        state.export_dir = self.export_dir;
        state.export_at_frame = self.export_at_frame;
        state.recovery_summary = self.recovery_summary;
        #[cfg(not(target_arch = "wasm32"))]
        {
            state.saving = self.saving;
        }
        state.message = Some(format!(
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

    /// Whether attention runs on the GPU kernels.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn computes_on_gpu(&self) -> bool {
        self.lesson.computes_on_gpu()
    }

    /// The notice about where attention runs, if any.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// Whether animation is off.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn reduced_motion(&self) -> bool {
        self.presenter.reduced_motion
    }

    /// The last export's progress or result.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn export_status(&self) -> Option<&str> {
        self.export_status.as_deref()
    }

    /// How the lesson is being shown (theme, colour map, …).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn presenter(&self) -> &Presenter {
        &self.presenter
    }

    /// The problem shown, if any.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn message(&self) -> Option<&str> {
        self.refusal.as_deref().or(self.message.as_deref())
    }

    /// The surface's size in pixels.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn surface_size(&self) -> [u32; 2] {
        [self.config.width, self.config.height]
    }

    /// The information shown, if any.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn info(&self) -> Option<&str> {
        self.info.as_deref()
    }

    /// The recovery banner's line, while a scene saved after a crash is offered.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn recovery_summary(&self) -> Option<&str> {
        self.recovery_summary.as_deref()
    }

    /// Frames drawn so far.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn frames(&self) -> u64 {
        self.frames
    }

    /// Steps 1 and 2's optimisers.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn trainers(&self) -> &crate::app::training::Trainers {
        &self.trainers
    }

    /// Step 4's context.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn step4(&self) -> &crate::app::context::Step4 {
        &self.step4
    }

    /// Where step 4 drew its overview map last frame.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn overview_rect(&self) -> Option<egui::Rect> {
        self.overview_rect
    }

    /// Step 3 as last computed.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn stage(&self) -> Option<&AttentionStage> {
        self.stage.as_ref()
    }

    fn add_estimated(&mut self, text: &str) {
        if let Err(error) = self.lesson.add_estimated(text) {
            self.message = Some(format!("the estimated word features did not load: {error}"));
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

    /// Step 4's context, recomputed when step 4 is on screen and the scene changed; its
    /// readback polled; the overview renderer rebound to a new map.
    fn derive_context(&mut self, scene: &Scene) {
        if scene.step != 4 {
            return;
        }
        match self.step4.update(&self.ctx, &self.lesson, scene) {
            // A context this GPU holds only part of is shown smaller, with the reason.
            Ok(true) => {
                self.step4_refusal = self.step4.stage.as_ref().and_then(|s| s.shortened.clone());
            }
            Ok(false) => {}
            Err(error) => self.step4_refusal = Some(error.to_string()),
        }
        let landed = self.step4.poll(&self.ctx).unwrap_or_else(|error| {
            self.message = Some(error.to_string());
            false
        });
        let format = self.config.format;
        let resources = &mut self.renderer.callback_resources;
        if let Some(map) =
            self.step4
                .overview_resources(&self.ctx.device, format, &mut self.overview_generation)
        {
            resources.insert(map);
            self.bound_colormap = None;
        } else if landed {
            // The map was drawn before its values were known: colour it over their range now.
            if let (Some(map), Some(range)) = (
                resources.get_mut::<crate::render::heatmap::OverviewMap>(),
                self.step4.overview_range(),
            ) {
                map.0.set_range(&self.ctx.queue, range);
            }
        }
    }

    /// Recomputes what the scene changed and rebinds the renderers when the buffers are new.
    fn derive(&mut self, scene: &Scene) {
        self.derive_context(scene);
        // A refused scene (say, an empty sentence) is not retried every frame: only once the
        // user changes it again. The last good stage stays on screen meanwhile.
        if self.refused.as_ref() != Some(&scene.attention) {
            match self
                .lesson
                .update(&self.ctx, &scene.attention, &mut self.stage)
            {
                Ok(changed) => {
                    // A sentence longer than step 3 computes here shows its first tokens, and
                    // the message line says so (the smaller view).
                    if changed {
                        self.refusal = self.stage.as_ref().and_then(|s| s.shortened.clone());
                    }
                    self.refused = None;
                }
                Err(error) => {
                    self.refusal = Some(error.to_string());
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
        let format = self.config.format;
        let resources = &mut self.renderer.callback_resources;
        if stage.generation != self.bound_generation {
            resources.insert(stage.heatmap_resources(
                &self.ctx.device,
                format,
                self.presenter.colormap,
            ));
            let arcs = stage.arcs_resources(&self.ctx.device, format);
            resources.insert(arcs);
            self.bound_generation = stage.generation;
            self.eased_revision = stage.revision;
        } else if stage.buffers.is_none() && stage.revision != self.eased_revision {
            if let (Some(arcs), Some(result)) =
                (resources.get_mut::<ArcsResources>(), stage.result.as_ref())
            {
                arcs.set_targets(&result.weights);
            }
            self.eased_revision = stage.revision;
        }
        self.bind_colormap();
    }

    /// Points the maps' colour-map uniforms at the presenter's colour map when it changed (C).
    fn bind_colormap(&mut self) {
        let colormap = self.presenter.colormap;
        if self.bound_colormap == Some(colormap) {
            return;
        }
        let resources = &mut self.renderer.callback_resources;
        if let Some(map) = resources.get::<crate::render::heatmap::HeatmapResources>() {
            map.set_colormap(&self.ctx.queue, colormap);
        }
        if let Some(map) = resources.get::<crate::render::heatmap::OverviewMap>() {
            map.0.set_colormap(&self.ctx.queue, colormap);
        }
        self.bound_colormap = Some(colormap);
    }

    fn frame(&mut self, scene: &mut Scene, capture: bool) -> Option<image::RgbaImage> {
        // A resize or a new device pixel ratio (a browser zoom, a window dragged to another
        // screen) may arrive without its own event on some platforms: follow the window.
        let size = self.window_size();
        self.resize(size.width, size.height);
        self.derive(scene);
        let now = Instant::now();
        let dt = now.duration_since(self.last_frame).as_secs_f32();
        self.last_frame = now;
        let input = self.egui_state.take_egui_input(&self.window);
        if let Err(error) = self.trainers.update(&self.ctx, scene) {
            self.message = Some(error.to_string());
        }
        self.poll_export();
        // The window manager (or the browser's Esc) may have left full screen without F.
        self.presenter.fullscreen = self.window.fullscreen().is_some();
        let (output, screen) = self.run_screen(input, scene, dt);
        self.layout = screen.layout;
        self.overview_rect = screen.overview_rect;
        let export = screen.requests.export.or_else(|| {
            (self.export_at_frame == Some(self.frames)).then_some(self.presenter.export_scale)
        });
        self.recovery_choice = screen.recovery;
        match screen.opened {
            Some(Ok(opened)) => self.info = Some(opened),
            Some(Err(error)) => self.message = Some(error),
            None => {}
        }
        if let Some(action) = screen.scene_file {
            self.scene_dialog(action, scene);
        }
        if let Some(on) = screen.requests.fullscreen {
            self.window
                .set_fullscreen(on.then_some(winit::window::Fullscreen::Borderless(None)));
        }
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(folder) = self.panels.context.folder_requested.take() {
            self.panels.context.report = Some(crate::app::context::add_folder(scene, &folder));
        }
        if let Err(error) = self.trainers.start_requested(
            &self.ctx,
            scene,
            &self.lesson.model,
            &mut self.panels,
            self.presenter.reduced_motion,
        ) {
            self.message = Some(error);
        }
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
        // Minimised: nothing to draw into (the panels above still ran, so edits and readbacks
        // carry on); the surface keeps its last configuration until the window comes back.
        if size.width == 0 || size.height == 0 {
            return None;
        }
        let frame = self.acquire()?;
        let screen = egui_wgpu::ScreenDescriptor {
            size_in_pixels: [self.config.width, self.config.height],
            pixels_per_point: output.pixels_per_point,
        };
        let (encoder, mut commands) = self.draw_shapes(&frame.texture, &shapes, &screen);
        let image = if capture {
            // The last frame of a test run: wait for it (nothing comes after it to keep smooth).
            self.capture(encoder, &mut commands, &frame.texture)
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
        if let Some(scale) = export {
            if let Err(error) = self.start_export(scene, scale) {
                self.message = Some(error);
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
            self.message = Some(error.to_string());
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
            self.info = Some(
                "no file chosen (the dialog was cancelled, or this desktop offers no file \
                 dialog: `gaze --scene FILE` opens one from the command line)"
                    .into(),
            );
            return;
        };
        let name = path.display().to_string();
        if save {
            match crate::app::scene_files::write_scene_file(&path, scene) {
                Ok(()) => self.info = Some(format!("saved the scene to {name}")),
                Err(error) => self.message = Some(error.to_string()),
            }
            return;
        }
        match crate::app::scene_files::read_scene_file(&path) {
            Ok(opened) => {
                self.info = Some(crate::ui::scenes_menu::apply_opened(scene, opened, &name));
                self.message = None;
            }
            Err(error) => self.message = Some(error.to_string()),
        }
    }

    /// Records egui's buffer uploads (and the paint callbacks' compute: the arcs' easing) and
    /// one render pass of `shapes` into `target`, cleared first. The window's frame and the
    /// export both draw through here; the caller submits (or copies out first).
    fn draw_shapes(
        &mut self,
        target: &wgpu::Texture,
        shapes: &[egui::ClippedPrimitive],
        screen: &egui_wgpu::ScreenDescriptor,
    ) -> (wgpu::CommandEncoder, Vec<wgpu::CommandBuffer>) {
        let view = target.create_view(&Default::default());
        let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
        let commands = self.renderer.update_buffers(
            &self.ctx.device,
            &self.ctx.queue,
            &mut encoder,
            shapes,
            screen,
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
            self.renderer.render(&mut pass, shapes, screen);
        }
        (encoder, commands)
    }

    /// One pass of the whole screen (`ui::screen`) over `input`, with the arcs advanced by `dt`.
    fn run_screen(
        &mut self,
        input: egui::RawInput,
        scene: &mut Scene,
        dt: f32,
    ) -> (egui::FullOutput, ScreenOutput) {
        let stage = self.stage.as_ref();
        let model = &self.lesson.model;
        let message = self.refusal.as_deref().or(self.message.as_deref());
        let (info, notice) = (self.info.as_deref(), self.notice.as_deref());
        let status = self.export_status.as_deref();
        let recovery = self.recovery_summary.as_deref();
        let views = self.trainers.views();
        let context = self.step4.view(self.step4_refusal.as_deref());
        let panels = &mut self.panels;
        let presenter = &mut self.presenter;
        let mut screen = ScreenOutput::default();
        let output = self.egui_ctx.run_ui(input, |ui| {
            let attention = stage.map(|stage| stage.views(model, dt));
            let view = ScreenView {
                notice,
                message,
                info,
                recovery,
                status,
                attention,
                training: &views,
                context,
            };
            screen = show_screen(ui, scene, panels, presenter, view);
        });
        (output, screen)
    }

    /// Draws the screen once more, offscreen, at `scale` times the window's pixels per point —
    /// the same layout in points, so the same picture, sharper — and starts reading it back.
    /// The arcs do not advance (dt = 0): the export shows the animation as it stands.
    fn start_export(&mut self, scene: &mut Scene, scale: u32) -> Result<(), String> {
        if self.export.is_some() {
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
        let shapes = self
            .egui_ctx
            .tessellate(output.shapes, output.pixels_per_point);
        let mut textures = output.textures_delta;
        for (id, deltas) in std::mem::take(&mut textures.set) {
            for delta in &deltas {
                self.renderer
                    .update_texture(&self.ctx.device, &self.ctx.queue, id, delta);
            }
        }
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
        let screen = egui_wgpu::ScreenDescriptor {
            size_in_pixels: [width, height],
            pixels_per_point: output.pixels_per_point,
        };
        let (encoder, mut commands) = self.draw_shapes(&target, &shapes, &screen);
        let pending = PendingImage::start(
            &self.ctx,
            encoder,
            &mut commands,
            &target,
            width,
            height,
            format,
        );
        for id in &textures.free {
            self.renderer.free_texture(id);
        }
        self.export = Some((pending, scene.step));
        self.export_status = Some(format!("saving a {width}x{height} PNG…"));
        Ok(())
    }

    /// Whether an export is still on its way to its file.
    fn exporting(&self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        if self.saving.is_some() {
            return true;
        }
        self.export.is_some()
    }

    /// Hands a landed export to be saved (natively on another thread: encoding a 4x PNG takes
    /// longer than a frame), and reports a finished save.
    fn poll_export(&mut self) {
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(saving) = &self.saving {
            if let Ok(result) = saving.try_recv() {
                match result {
                    Ok(saved) => self.export_status = Some(saved),
                    Err(error) => {
                        self.export_status = None;
                        self.message = Some(error);
                    }
                }
                self.saving = None;
            }
        }
        let ready = match self.export.as_ref().map(|(p, _)| p.poll(&self.ctx)) {
            None | Some(Ok(false)) => return,
            Some(Ok(true)) => true,
            Some(Err(error)) => {
                self.message = Some(format!("the export failed: {error}"));
                false
            }
        };
        let Some((pending, step)) = self.export.take() else {
            return;
        };
        if !ready {
            return;
        }
        match pending.take() {
            Ok(image) => self.save_export(image, step),
            Err(error) => self.message = Some(format!("the export failed: {error}")),
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    fn save_export(&mut self, image: image::RgbaImage, step: u8) {
        let dir = self
            .export_dir
            .clone()
            .unwrap_or_else(|| std::path::PathBuf::from("."));
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let path = crate::app::export::next_export_path(&dir, step);
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
    fn save_export(&mut self, image: image::RgbaImage, step: u8) {
        let name = format!("gaze-step{step}.png");
        let result = crate::app::export::png_bytes(&image)
            .map_err(|e| e.to_string())
            .and_then(|bytes| crate::app::web::download(&name, &bytes, "image/png"));
        match result {
            Ok(()) => {
                self.export_status = Some(format!(
                    "downloaded {name} ({}x{} pixels)",
                    image.width(),
                    image.height()
                ))
            }
            Err(error) => self.message = Some(format!("could not download {name}: {error}")),
        }
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
        let read = crate::app::render::read_texture(
            &self.ctx, encoder, commands, texture, width, height, format,
        );
        read.map_err(|error| self.message = Some(error.to_string()))
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
                    state.message = Some(format!(
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
        }
    }

    fn window_event(&mut self, event_loop: &ActiveEventLoop, _: WindowId, event: WindowEvent) {
        if let WindowEvent::DroppedFile(path) = &event {
            let name = path.file_name().map_or_else(
                || path.display().to_string(),
                |n| n.to_string_lossy().into(),
            );
            match crate::app::context::read_document(path, &name) {
                Ok(bytes) => self.dropped(&name, bytes),
                Err(problem) => {
                    if let Some(state) = self.state.as_mut() {
                        state.message = Some(problem);
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
                    state.frames + 1 >= n && (!state.exporting() || state.frames + 1 >= n + 600)
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
