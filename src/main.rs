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

    use gaze::app::headless::{render_to_png, RenderRequest};
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
        /// A real model (a Llama-family GGUF file, e.g. SmolLM2-135M from
        /// `tools/fetch-models.sh`) to load beside the lesson model and show on steps 1 and 2;
        /// without it, the model menu offers `GAZE_MODEL`'s file.
        #[arg(long, value_name = "FILE")]
        model: Option<PathBuf>,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Run every attention kernel on this machine's GPU adapter against the CPU reference and
        /// print the adapter and the largest error per kernel; exits with 1 if any exceeds tolerance.
        /// With a model (--model or GAZE_MODEL), also every LLM kernel on its weights and the
        /// end-to-end logits.
        Verify {
            /// A Llama-family GGUF file to verify too.
            #[arg(long, value_name = "FILE")]
            model: Option<PathBuf>,
        },
        /// Print the numbers behind a scene as JSON: tokens, and Q, K, V, scores, weights and
        /// outputs of every head shown. With --model (and --scene): the scene's lesson on a real
        /// model — its odds of the corpus's endings, RLHF over them, the chosen layer's heads and
        /// the logit lens. With --prompt: a real model's tokens, next token, one head's full map
        /// and the last token's row for every layer and head.
        Inspect {
            /// Scene file (JSON); without it, the lesson's default scene.
            #[arg(long, value_name = "FILE", conflicts_with = "prompt")]
            scene: Option<PathBuf>,
            /// A Llama-family GGUF file: with --prompt, GAZE_MODEL when not given; without it,
            /// the scene is computed on this model.
            #[arg(long, value_name = "FILE")]
            model: Option<PathBuf>,
            /// The text to run through the model.
            #[arg(long, value_name = "TEXT")]
            prompt: Option<String>,
            /// Layer of the full attention map (0-based).
            #[arg(long, default_value_t = 0)]
            layer: usize,
            /// Head of the full attention map (0-based).
            #[arg(long, default_value_t = 0)]
            head: usize,
            /// How many next-token candidates (1 to 100).
            #[arg(long, default_value_t = 10)]
            top: usize,
            /// Compute on the CPU reference instead of the GPU kernels.
            #[arg(long)]
            cpu_reference: bool,
        },
        /// Stream a real model's continuation of a prompt to stdout (greedy unless a temperature
        /// is given).
        Generate {
            /// A Llama-family GGUF file (GAZE_MODEL when not given).
            #[arg(long, value_name = "FILE")]
            model: Option<PathBuf>,
            /// The text to continue.
            #[arg(long, value_name = "TEXT")]
            prompt: String,
            /// How many tokens to generate at most (it stops early at end-of-sequence).
            #[arg(long, value_name = "N")]
            tokens: usize,
            /// Softmax temperature: 0 is greedy (the default); above 0 samples.
            #[arg(long, default_value_t = 0.0)]
            temperature: f32,
            /// When sampling, draw from the K most likely tokens (1 to 100).
            #[arg(long, value_name = "K", default_value_t = 40)]
            top_k: usize,
            /// The sampler's seed: the same seed gives the same continuation.
            #[arg(long, default_value_t = 0)]
            seed: u64,
            /// Compute on the CPU reference instead of the GPU kernels.
            #[arg(long)]
            cpu_reference: bool,
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
            Some(Command::Verify { model }) => match run_verify(model_path(model)) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(error) => {
                    eprintln!("gaze verify: {error:#}");
                    ExitCode::from(2)
                }
            },
            Some(Command::Inspect {
                scene,
                model,
                prompt,
                layer,
                head,
                top,
                cpu_reference,
            }) => {
                let result = match prompt {
                    Some(prompt) => run_inspect_model(
                        model_path(model),
                        &prompt,
                        gaze::app::llm::InspectRequest { layer, head, top },
                        cpu_reference,
                    ),
                    None => match model {
                        Some(path) => run_inspect_scene_on_model(&path, scene),
                        None => run_inspect(scene),
                    },
                };
                match result {
                    Ok(()) => ExitCode::SUCCESS,
                    Err(error) => {
                        eprintln!("gaze inspect: {error:#}");
                        ExitCode::from(2)
                    }
                }
            }
            Some(Command::Generate {
                model,
                prompt,
                tokens,
                temperature,
                top_k,
                seed,
                cpu_reference,
            }) => match run_generate(
                model_path(model),
                &prompt,
                tokens,
                (temperature, top_k, seed),
                cpu_reference,
            ) {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    eprintln!("gaze generate: {error:#}");
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

    /// `--model FILE`, else `GAZE_MODEL`.
    fn model_path(flag: Option<PathBuf>) -> Option<PathBuf> {
        flag.or_else(|| std::env::var_os("GAZE_MODEL").map(PathBuf::from))
    }

    fn require_model(path: Option<PathBuf>) -> anyhow::Result<PathBuf> {
        path.ok_or_else(|| {
            anyhow::anyhow!(
                "no model: give --model FILE or set GAZE_MODEL (tools/fetch-models.sh smollm2 \
                 fetches SmolLM2-135M and prints its path)"
            )
        })
    }

    fn load_model(path: &std::path::Path) -> anyhow::Result<gaze::model::llm::LlamaModel> {
        gaze::app::llm::load_model(path).with_context(|| format!("{}", path.display()))
    }

    fn engine(
        model: &gaze::model::llm::LlamaModel,
        cpu_reference: bool,
    ) -> anyhow::Result<gaze::app::llm::Engine> {
        if cpu_reference {
            return Ok(gaze::app::llm::Engine::Cpu);
        }
        // On the GPU when there is one that computes; otherwise the CPU reference, said once.
        match GpuContext::headless() {
            Ok(ctx) if ctx.has_compute() => Ok(gaze::app::llm::Engine::gpu(ctx, model)?),
            Ok(ctx) => {
                eprintln!(
                    "gaze: the adapter {} has no compute shaders; computing on the CPU reference",
                    ctx.summary()
                );
                Ok(gaze::app::llm::Engine::Cpu)
            }
            Err(error) => {
                eprintln!("gaze: {error}; computing on the CPU reference");
                Ok(gaze::app::llm::Engine::Cpu)
            }
        }
    }

    fn run_verify(model: Option<PathBuf>) -> anyhow::Result<bool> {
        let ctx = GpuContext::headless().context("could not open a GPU device")?;
        let report = verify::run(&ctx).context("running the kernels failed")?;
        println!("{report}");
        let mut passed = report.passed();
        if let Some(path) = model {
            let model = load_model(&path)?;
            let c = &model.config;
            println!(
                "model {}: {} layers, {} heads over {} key/value heads, d_model {}, vocab {}",
                path.display(),
                c.layers,
                c.heads,
                c.kv_heads,
                c.d_model,
                c.vocab
            );
            let mut gpu = gaze::gpu::llm::LlmGpu::new(&ctx, &model)?;
            let tokens = gaze::app::llm::tokenize_prompt(
                &model,
                "The capital of France is Paris, and the capital of Italy is Rome. In 2024, 3 + 4 = 7.",
                0,
            )?;
            let llm = gaze::gpu::llm_verify::verify_model(&ctx, &mut gpu, &model, &tokens)
                .context("running the model's kernels failed")?;
            println!("{llm}");
            passed &= llm.passed();
            println!(
                "model kernels: {}",
                if llm.passed() {
                    "all within tolerance"
                } else {
                    "FAILED"
                }
            );
        }
        Ok(passed)
    }

    fn run_inspect_model(
        path: Option<PathBuf>,
        prompt: &str,
        request: gaze::app::llm::InspectRequest,
        cpu_reference: bool,
    ) -> anyhow::Result<()> {
        let path = require_model(path)?;
        let loaded = gaze::app::llm::load_model_file(&path)
            .with_context(|| format!("{}", path.display()))?;
        let model = &loaded.model;
        let mut engine = engine(model, cpu_reference)?;
        let report =
            gaze::app::llm::inspect_model(model, &loaded.identity, prompt, request, &mut engine)?;
        println!("{}", serde_json::to_string(&report)?);
        Ok(())
    }

    /// `gaze inspect --model FILE [--scene S]`: the scene's lesson on the real model.
    fn run_inspect_scene_on_model(
        path: &std::path::Path,
        scene: Option<PathBuf>,
    ) -> anyhow::Result<()> {
        let scene = load_scene(scene)?;
        let loaded =
            gaze::app::llm::load_model_file(path).with_context(|| format!("{}", path.display()))?;
        let info = gaze::app::llm::ModelInfo::new(&loaded.model, &loaded.identity);
        let report = gaze::app::inspect_model::inspect_scene_on_model(&loaded.model, info, &scene)?;
        println!("{}", serde_json::to_string(&report)?);
        Ok(())
    }

    fn run_generate(
        path: Option<PathBuf>,
        prompt: &str,
        tokens: usize,
        (temperature, top_k, seed): (f32, usize, u64),
        cpu_reference: bool,
    ) -> anyhow::Result<()> {
        let sampler = gaze::model::llm::sample::Sampler::new(temperature, top_k, seed)
            .map_err(anyhow::Error::msg)?;
        let path = require_model(path)?;
        let model = load_model(&path)?;
        let mut engine = engine(&model, cpu_reference)?;
        let mut stdout = std::io::stdout().lock();
        gaze::app::llm::generate(&model, prompt, tokens, sampler, &mut engine, &mut stdout)?;
        use std::io::Write;
        writeln!(stdout)?;
        Ok(())
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
        // A real model is read off the frame once the window is up (98 MB: the lesson shows
        // meanwhile); a path that is not a file is refused here, before a window opens.
        if let Some(path) = &cli.model {
            if !path.is_file() {
                anyhow::bail!("--model {}: no such model file", path.display());
            }
        }
        let available_model = std::env::var_os("GAZE_MODEL").map(PathBuf::from);
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
                model: cli.model,
                available_model,
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
