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
        /// `prefers-reduced-motion`).
        #[arg(long)]
        reduced_motion: bool,
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
            /// UI scale in pixels per point (2 or 4 for slides).
            #[arg(long, default_value_t = 1.0)]
            scale: f32,
            /// Colour map of the weights: viridis or cividis.
            #[arg(long, default_value = "viridis", value_parser = parse_colormap)]
            colormap: Colormap,
            /// Where to write the PNG.
            #[arg(long, value_name = "FILE")]
            out: PathBuf,
        },
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
            None => match run_window(cli.scene, cli.frames, cli.screenshot, cli.reduced_motion) {
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

    fn load_scene(path: Option<PathBuf>) -> anyhow::Result<Scene> {
        let Some(path) = path else {
            return Ok(Scene::default());
        };
        let bytes = std::fs::read(&path)
            .with_context(|| format!("cannot read the scene file {}", path.display()))?;
        let text = String::from_utf8(bytes)
            .map_err(|_| anyhow::anyhow!("the scene file {} is not UTF-8 text", path.display()))?;
        let scene = Scene::from_json(&text).with_context(|| format!("in {}", path.display()))?;
        let ignored = scene.ignored_sections();
        if !ignored.is_empty() {
            eprintln!(
                "gaze: this build does not read these scene sections yet; they were ignored: {}",
                ignored.join(", ")
            );
        }
        Ok(scene)
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

    fn run_window(
        scene: Option<PathBuf>,
        frames: Option<u64>,
        screenshot: Option<PathBuf>,
        reduced_motion: bool,
    ) -> anyhow::Result<()> {
        let scene = load_scene(scene)?;
        gaze::app::window::run(
            scene,
            gaze::app::window::WindowOptions {
                frames,
                screenshot,
                reduced_motion,
                message: None,
            },
        )?;
        Ok(())
    }
}
