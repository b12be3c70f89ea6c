//! The `gaze` binary: a thin shell over the library; errors are reported once, here.
//!
//! Natively it parses the command line; compiled to wasm32 it starts the lesson in the page's
//! canvas (`app::web`).

#[cfg(target_arch = "wasm32")]
fn main() {
    gaze::app::web::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    native::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod native {
    use std::path::PathBuf;
    use std::process::ExitCode;

    use anyhow::Context;
    use clap::{Parser, Subcommand};

    use gaze::app::render::{render_to_png, RenderRequest};
    use gaze::app::{inspect, verify};
    use gaze::gpu::GpuContext;
    use gaze::model::lesson::LessonModel;
    use gaze::render::colormap::Colormap;
    use gaze::scene::Scene;
    use gaze::ui::theme::Theme;

    /// Gaze teaches how a transformer turns a sentence into a guess.
    #[derive(Parser)]
    #[command(name = "gaze", version, about)]
    struct Cli {
        #[command(subcommand)]
        command: Option<Command>,
        /// Open the window on this scene file (JSON).
        #[arg(long, value_name = "FILE")]
        scene: Option<PathBuf>,
        /// Close the window after this many frames (for tests).
        #[arg(long, value_name = "N")]
        frames: Option<u64>,
        /// With --frames: save the last frame as a PNG (for tests).
        #[arg(long, value_name = "FILE", requires = "frames")]
        screenshot: Option<PathBuf>,
        /// No animation: arcs jump to their weights, no particles (as the web build does for
        /// `prefers-reduced-motion`; also key M in the window). Without it the desktop's own
        /// setting is followed where it can be read (GNOME, macOS).
        #[arg(long)]
        reduced_motion: bool,
        /// The look to open in: dark, or projector (high contrast on light, large type, thick
        /// arcs; also key P in the window).
        #[arg(long, default_value = "dark", value_parser = parse_theme)]
        theme: Theme,
        /// Folder where key S saves its PNGs (gaze-step3-1.png, …).
        #[arg(long, value_name = "DIR", default_value = ".")]
        export_dir: PathBuf,
        /// The scale key S exports at: 1 (the window's pixels), 2 or 4 (for slides).
        #[arg(long, default_value_t = 1, value_parser = parse_export_scale)]
        export_scale: u32,
        /// Press S at this frame (for tests, with --frames).
        #[arg(long, value_name = "N", requires = "frames")]
        export_at_frame: Option<u64>,
        /// Meet a fault on purpose at a frame, KIND@FRAME (tests: device-lost, surface-lost,
        /// surface-outdated, minimise, panic).
        #[arg(long, value_name = "KIND@FRAME", hide = true)]
        inject_fault: Option<gaze::app::faults::Fault>,
        /// Compute attention on the CPU reference instead of the GPU kernels (to compare, or on
        /// a driver whose compute misbehaves); the window says so in a notice.
        #[arg(long)]
        cpu_reference: bool,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Run every attention kernel on this machine's GPU adapter against the CPU reference and
        /// print the adapter and the largest error per kernel; exits with 1 if any exceeds tolerance.
        Verify,
        /// Print the numbers behind a scene as JSON: tokens, and Q, K, V, scores, weights and
        /// outputs of every head shown.
        Inspect {
            /// Scene file (JSON); without it, the lesson's default scene.
            #[arg(long, value_name = "FILE")]
            scene: Option<PathBuf>,
        },
        /// Draw a scene headlessly (no window, no X server) through the app's own panels and GPU
        /// renderers, and write a PNG.
        Render {
            /// Scene file (JSON); without it, the lesson's default scene.
            #[arg(long, value_name = "FILE")]
            scene: Option<PathBuf>,
            /// Lesson step to draw: 1 (pretraining), 2 (RLHF), 3 (attention) or 4 (in-context
            /// learning and RAG, at the scene's `context.level`).
            #[arg(long)]
            step: Option<u8>,
            /// Width in pixels.
            #[arg(long, default_value_t = 1280)]
            width: u32,
            /// Height in pixels.
            #[arg(long, default_value_t = 800)]
            height: u32,
            /// UI scale in pixels per point, 0.25 to 8 (2 or 4 for slides).
            #[arg(long, default_value_t = 1.0, value_parser = parse_render_scale)]
            scale: f32,
            /// Colour map of the weights: viridis or cividis.
            #[arg(long, default_value = "viridis", value_parser = parse_colormap)]
            colormap: Colormap,
            /// The look: dark, or projector (high contrast on light, large type, thick arcs).
            #[arg(long, default_value = "dark", value_parser = parse_theme)]
            theme: Theme,
            /// Where to write the PNG.
            #[arg(long, value_name = "FILE")]
            out: PathBuf,
        },
    }

    fn parse_export_scale(text: &str) -> Result<u32, String> {
        match text.parse::<u32>() {
            Ok(scale @ (1 | 2 | 4)) => Ok(scale),
            _ => Err(format!("the export scale is 1, 2 or 4, not `{text}`")),
        }
    }

    fn parse_render_scale(text: &str) -> Result<f32, String> {
        match text.parse::<f32>() {
            Ok(scale) if (0.25..=8.0).contains(&scale) => Ok(scale),
            _ => Err(format!(
                "the scale is pixels per point from 0.25 to 8 (2 or 4 for slides), not `{text}`"
            )),
        }
    }

    fn parse_theme(name: &str) -> Result<Theme, String> {
        Theme::ALL
            .into_iter()
            .find(|t| t.name() == name)
            .ok_or_else(|| format!("unknown theme `{name}` (dark or projector)"))
    }

    fn parse_colormap(name: &str) -> Result<Colormap, String> {
        Colormap::ALL
            .into_iter()
            .find(|c| c.name() == name)
            .ok_or_else(|| format!("unknown colour map `{name}` (viridis or cividis)"))
    }

    pub fn main() -> ExitCode {
        let cli = Cli::parse();
        match cli.command {
            Some(Command::Verify) => match run_verify() {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(error) => {
                    eprintln!("gaze verify: {error:#}");
                    ExitCode::from(2)
                }
            },
            Some(Command::Inspect { scene }) => match run_inspect(scene) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("gaze inspect: {error:#}");
                    ExitCode::from(2)
                }
            },
            Some(Command::Render {
                scene,
                step,
                width,
                height,
                scale,
                colormap,
                theme,
                out,
            }) => {
                match run_render(
                    scene,
                    step,
                    RenderRequest {
                        width,
                        height,
                        pixels_per_point: scale,
                        colormap,
                        theme,
                    },
                    &out,
                ) {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(error) => {
                        eprintln!("gaze render: {error:#}");
                        ExitCode::from(2)
                    }
                }
            }
            None => match run_window(cli) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("gaze: {error:#}");
                    ExitCode::from(2)
                }
            },
        }
    }

    fn run_verify() -> anyhow::Result<bool> {
        let ctx = GpuContext::headless().context("could not open a GPU device")?;
        let report = verify::run(&ctx).context("running the kernels failed")?;
        println!("{report}");
        Ok(report.passed())
    }

    /// The scene at `path` (the lesson's default without one), opened leniently: a hand-written
    /// file or one from another version still opens, and every note on what was not read as
    /// written goes to stderr as `gaze: <note>`.
    fn load_scene(path: Option<PathBuf>) -> anyhow::Result<Scene> {
        let Some(path) = path else {
            return Ok(Scene::default());
        };
        let opened = gaze::app::scene_files::read_scene_file(&path)?;
        for note in &opened.notes {
            eprintln!("gaze: {note}");
        }
        Ok(opened.scene)
    }

    fn run_inspect(scene: Option<PathBuf>) -> anyhow::Result<()> {
        let scene = load_scene(scene)?;
        let model = LessonModel::builtin().context("the built-in lesson model failed to load")?;
        let report = inspect::inspect(&scene, &model)?;
        println!("{}", serde_json::to_string_pretty(&report)?);
        Ok(())
    }

    fn run_render(
        scene: Option<PathBuf>,
        step: Option<u8>,
        request: RenderRequest,
        out: &std::path::Path,
    ) -> anyhow::Result<()> {
        let mut scene = load_scene(scene)?;
        if let Some(step) = step {
            scene.step = step;
        }
        let ctx = GpuContext::headless().context("could not open a GPU device")?;
        render_to_png(&ctx, &scene, &request, out)?;
        println!(
            "wrote {} ({}×{} px)",
            out.display(),
            request.width,
            request.height
        );
        Ok(())
    }

    fn run_window(cli: Cli) -> anyhow::Result<()> {
        let (scene, notes) = match cli.scene {
            Some(path) => {
                let opened = gaze::app::scene_files::read_scene_file(&path)?;
                for note in &opened.notes {
                    eprintln!("gaze: {note}");
                }
                (opened.scene, opened.notes)
            }
            None => (Scene::default(), Vec::new()),
        };
        gaze::app::window::run(
            scene,
            gaze::app::window::WindowOptions {
                frames: cli.frames,
                screenshot: cli.screenshot,
                reduced_motion: cli.reduced_motion
                    || gaze::app::window::desktop_prefers_reduced_motion(),
                theme: cli.theme,
                export_dir: Some(cli.export_dir),
                export_scale: cli.export_scale,
                export_at_frame: cli.export_at_frame,
                fault: cli.inject_fault,
                cpu_reference: cli.cpu_reference,
                // What the scene file did not say as this build reads it, shown in the window too.
                message: (!notes.is_empty()).then(|| {
                    notes
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                }),
            },
        )?;
        Ok(())
    }
}
