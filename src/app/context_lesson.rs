//! Step 4's derived state: the level's context built by `model::context`, computed by the
//! engine (`gpu::long_context`, or without compute shaders the CPU reference), kept by a
//! [`Stage`]: recomputed only when what it depends on changes, put on screen once its numbers
//! have landed (never blocking a frame), and a refused state (an empty question) keeps the last
//! good one on screen with the reason.

use web_time::Instant;

use crate::app::engine::ContextRun;
use crate::app::lesson::Lesson;
use crate::app::stage::{largest_fitting, Landing, Stage};
use crate::gpu::long_context::{LongContext, OverviewProgress};
use crate::gpu::overview::OverviewKernels;
use crate::gpu::readback::Pending;
use crate::gpu::{GpuContext, GpuError};
use crate::model::context::{self, ContextError, ContextInput, KnowledgeBase, Level};
use crate::model::retrieval::Retrieved;
use crate::scene::{ContextScene, Scene};

/// Why step 4 could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum ContextStageError {
    /// The context was refused (no examples, an empty question, …).
    #[error(transparent)]
    Context(#[from] ContextError),
    /// The GPU refused or failed.
    #[error(transparent)]
    Gpu(#[from] GpuError),
}

/// What the stage was computed from.
#[derive(Clone, Debug, PartialEq)]
struct ContextKey {
    context: ContextScene,
    sentence: String,
    focus: usize,
    model_revision: u64,
}

impl ContextKey {
    /// What `scene` computes with the model at `model_revision`.
    fn of(scene: &Scene, model_revision: u64) -> Self {
        Self {
            context: scene.context.clone(),
            sentence: scene.attention.sentence.clone(),
            focus: scene.attention.focus,
            model_revision,
        }
    }

    /// Compared field by field, so a frame with no edit allocates nothing.
    fn matches(&self, scene: &Scene, model_revision: u64) -> bool {
        let (a, b) = (&self.context, &scene.context);
        self.model_revision == model_revision
            && a.level == b.level
            && match b.level() {
                Level::SelfAttention => {
                    self.sentence == scene.attention.sentence && self.focus == scene.attention.focus
                }
                Level::InContext => {
                    a.examples == b.examples
                        && a.review == b.review
                        && a.budget_tokens == b.budget_tokens
                }
                Level::Rag => {
                    a.question == b.question
                        && a.documents == b.documents
                        && a.archive == b.archive
                        && a.budget_tokens == b.budget_tokens
                }
            }
    }
}

/// The numbers the panel prints: the focus row and each span's mass.
#[derive(Clone, Debug, PartialEq)]
pub struct ContextNumbers {
    /// `P[focus, ·]` over the whole context.
    pub weights: Vec<f32>,
    /// Each span's share.
    pub masses: Vec<f32>,
    /// The tokens the focus attends to most, largest first: the arcs' targets, found once when
    /// the numbers land rather than by scanning N weights every frame.
    pub top: Vec<(usize, f32)>,
    /// The overview map, `bins × bins` (empty when there is none).
    pub overview: Vec<f32>,
    /// Its colour range (`render::heatmap::overview_range`).
    pub range: [f32; 2],
    /// From the edit to these numbers on screen, in milliseconds (GPU round trip included).
    pub latency_ms: f64,
    /// From the edit to the overview on screen, once it is (it follows, a slice per frame).
    pub overview_ms: Option<f64>,
}

/// Step 4 computed for one state of the scene.
#[derive(Debug)]
pub struct ContextStage {
    /// The level's context.
    pub input: ContextInput,
    /// Level 3: every chunk of the knowledge base, best first.
    pub retrieved: Vec<Retrieved>,
    /// Level 3: for each chunk of the knowledge base, its span in the context (`None`: left
    /// out) — so the table finds a chunk's mass without searching, every frame.
    pub span_of_chunk: Vec<Option<usize>>,
    /// The numbers, once read back (a stage is shown only once they are in).
    pub numbers: Option<ContextNumbers>,
    pending: Option<Pending<crate::gpu::long_context::FocusNumbers>>,
    /// The overview, run a slice per frame after the focus row (GPU engine).
    progress: Option<OverviewProgress>,
    started: Instant,
    /// The GPU buffers (GPU engine).
    pub gpu: Option<LongContext>,
    /// The overview map the renderer draws from (`VERTEX`), `bins × bins`; `None` when skipped.
    pub map: Option<wgpu::Buffer>,
    /// Bins per side of `map`.
    pub bins: u32,
    /// Bumped for every stage computed (each has its own `map`: the renderer rebinds).
    pub generation: u64,
    /// Whether the GPU kernels computed it.
    pub on_gpu: bool,
    /// Why the context is shorter than its budget asked: this GPU's limits hold only part of it
    /// (the smaller view); `None` when all of it is shown.
    pub shortened: Option<String>,
}

impl Landing for ContextStage {
    fn landed(&self) -> bool {
        self.numbers.is_some()
    }
}

impl ContextStage {
    /// Bytes allocated on the GPU for this context (0 on the CPU reference).
    pub fn gpu_bytes(&self) -> u64 {
        self.gpu.as_ref().map_or(0, LongContext::gpu_bytes)
    }

    /// How much of the overview is computed, 0–1 (1 when there is none to wait for).
    pub fn overview_fraction(&self) -> f32 {
        match (&self.progress, &self.gpu) {
            (Some(progress), Some(gpu)) if !progress.finished() => gpu
                .overview
                .as_ref()
                .map_or(1.0, |o| progress.fraction(o.n_tokens(), o.bins())),
            _ => 1.0,
        }
    }

    /// Collects what has landed and moves the overview on by a slice, without waiting.
    /// Returns whether new numbers arrived.
    fn poll(
        &mut self,
        ctx: &GpuContext,
        kernels: Option<&OverviewKernels>,
    ) -> Result<bool, GpuError> {
        let mut landed = false;
        if let Some(pending) = self.pending.take() {
            if pending.poll(ctx)? {
                let (weights, masses) = pending.take()?;
                self.land(weights, masses, Vec::new());
                landed = true;
            } else {
                self.pending = Some(pending);
            }
        }
        // The overview's slices follow the focus row, whose numbers come first.
        if let (Some(gpu), Some(progress), Some(kernels), true) = (
            &self.gpu,
            self.progress.as_mut(),
            kernels,
            self.numbers.is_some(),
        ) {
            if let Some(map) = gpu.advance(ctx, kernels, progress)? {
                self.land_overview(map);
                landed = true;
            }
        }
        Ok(landed)
    }

    /// Waits for the numbers and the whole overview (headless rendering, `inspect`, tests).
    fn wait(
        &mut self,
        ctx: &GpuContext,
        kernels: Option<&OverviewKernels>,
    ) -> Result<bool, GpuError> {
        let mut landed = false;
        if let Some(pending) = self.pending.take() {
            let (weights, masses) = pending.wait(ctx)?;
            self.land(weights, masses, Vec::new());
            landed = true;
        }
        if let (Some(gpu), Some(progress), Some(kernels)) =
            (&self.gpu, self.progress.as_mut(), kernels)
        {
            if let Some(map) = gpu.finish_overview(ctx, kernels, progress)? {
                self.land_overview(map);
                landed = true;
            }
        }
        Ok(landed)
    }

    fn land(&mut self, weights: Vec<f32>, masses: Vec<f32>, map: Vec<f32>) {
        let elapsed = self.started.elapsed().as_secs_f64() * 1e3;
        self.numbers = Some(ContextNumbers {
            top: context::top_tokens(&weights, context::TOP_TOKENS, self.input.focus),
            weights,
            masses,
            range: crate::render::heatmap::overview_range(&map),
            overview_ms: (!map.is_empty()).then_some(elapsed),
            overview: map,
            latency_ms: elapsed,
        });
    }

    fn land_overview(&mut self, map: Vec<f32>) {
        let elapsed = self.started.elapsed().as_secs_f64() * 1e3;
        if let Some(numbers) = self.numbers.as_mut() {
            numbers.range = crate::render::heatmap::overview_range(&map);
            numbers.overview = map;
            numbers.overview_ms = Some(elapsed);
        }
    }
}

/// The knowledge base as last chunked, and what it was chunked from.
#[derive(Debug, Default)]
pub struct Knowledge {
    archive: String,
    key: Option<(Vec<crate::scene::Document>, bool)>,
    /// The chunks.
    pub kb: KnowledgeBase,
}

impl Knowledge {
    /// The knowledge base for `scene`, re-chunked only when the documents changed.
    fn for_scene(&mut self, scene: &ContextScene) -> &KnowledgeBase {
        let fresh = self
            .key
            .as_ref()
            .is_some_and(|(docs, archive)| *docs == scene.documents && *archive == scene.archive);
        if !fresh {
            if self.archive.is_empty() {
                self.archive = context::ticket_archive(context::ARCHIVE_TICKETS);
            }
            let documents = scene.knowledge_base_documents(&self.archive);
            self.kb = KnowledgeBase::new(documents.iter().map(|(n, t)| (n.as_str(), t.as_str())));
            self.key = Some((scene.documents.clone(), scene.archive));
        }
        &self.kb
    }

    /// The context's tokens at `budget` (the scene's own, or a smaller one for a small GPU),
    /// and for RAG the retrieved chunks.
    fn assemble(
        &mut self,
        model: &crate::model::lesson::LessonModel,
        key: &ContextKey,
        budget: usize,
    ) -> Result<(ContextInput, Vec<Retrieved>), ContextError> {
        let scene = &key.context;
        Ok(match scene.level() {
            Level::SelfAttention => (
                context::self_attention_input(model, &key.sentence, key.focus)?,
                Vec::new(),
            ),
            Level::InContext => (
                context::in_context_input(model, &scene.examples, &scene.review, budget)?,
                Vec::new(),
            ),
            Level::Rag => {
                let kb = self.for_scene(scene);
                context::rag_input(model, kb, &scene.question, budget)?
            }
        })
    }

    /// Step 4 for `key`, run by the lesson's engine: the context at its budget — or, where this
    /// GPU cannot hold it (binding sizes, the loop bound; checked before anything is
    /// allocated), at the largest budget that fits, assembled the same way (fewer examples,
    /// fewer retrieved chunks) and said on screen.
    fn compute(
        &mut self,
        ctx: &GpuContext,
        lesson: &Lesson,
        key: &ContextKey,
        generation: u64,
    ) -> Result<ContextStage, ContextStageError> {
        let started = Instant::now();
        let (model, engine) = (&lesson.model, &lesson.engine);
        let (mut input, mut retrieved) = self.assemble(model, key, key.context.budget_tokens)?;
        let mut packed = input.packed().map_err(ContextError::from)?;
        let mut shortened = None;
        if let Err(error) = engine.fits_context(ctx, packed.params(), input.spans.len()) {
            let asked = input.tokens.len();
            if asked <= 1 || key.context.level() == Level::SelfAttention {
                return Err(error.into());
            }
            let fit = largest_fitting(asked, |budget| {
                let (smaller, _) = self
                    .assemble(model, key, budget)
                    .map_err(|e| e.to_string())?;
                let packed = smaller.packed().map_err(|e| e.to_string())?;
                engine
                    .fits_context(ctx, packed.params(), smaller.spans.len())
                    .map_err(|e| e.to_string())
            });
            let Ok(Some((budget, _))) = fit else {
                return Err(error.into());
            };
            (input, retrieved) = self.assemble(model, key, budget)?;
            packed = input.packed().map_err(ContextError::from)?;
            shortened = Some(format!(
                "this GPU's limits hold only part of the context: showing {} of {asked} tokens \
                 ({error})",
                input.tokens.len()
            ));
        }
        let span_of_chunk = if retrieved.is_empty() {
            Vec::new()
        } else {
            context::span_of_chunk(&input.spans, self.kb.chunks.len())
        };
        let run = engine.context(ctx, &input, &packed)?;
        let mut stage = ContextStage {
            input,
            retrieved,
            span_of_chunk,
            numbers: None,
            pending: None,
            progress: None,
            started,
            gpu: None,
            map: None,
            bins: 0,
            generation,
            on_gpu: false,
            shortened,
        };
        match run {
            ContextRun::Gpu {
                context,
                pending,
                progress,
            } => {
                stage.map = context.overview.as_ref().map(|o| o.map_buffer().clone());
                stage.bins = context.overview.as_ref().map_or(0, |o| o.bins());
                stage.pending = Some(pending);
                stage.progress = Some(progress);
                stage.gpu = Some(*context);
                stage.on_gpu = true;
            }
            ContextRun::Done { outcome, map } => {
                stage.map = map;
                stage.bins = outcome.bins;
                stage.land(outcome.weights, outcome.masses, outcome.overview);
            }
        }
        Ok(stage)
    }
}

/// Step 4's long-lived parts: the generated archive and the chunked knowledge base, and the
/// [`Stage`] of computed contexts.
#[derive(Debug, Default)]
pub struct ContextLesson {
    knowledge: Knowledge,
    stage: Stage<ContextKey, ContextStage>,
    generation: u64,
    /// Wait for typing to pause this long before recomputing a large context (the window sets
    /// it; 0 = at once, as headless rendering and tests want).
    pub debounce: std::time::Duration,
    /// The latest edit seen and when, while a debounce runs.
    edited: Option<(ContextKey, Instant)>,
}

/// Contexts at least this long wait for [`ContextLesson::debounce`]: each keystroke in a question over
/// ~10k tokens would otherwise queue a full recompute (the overview is `O(N²)`).
pub const DEBOUNCE_FROM_TOKENS: usize = 2_000;

impl ContextLesson {
    /// Step 4 that waits for typing to pause `debounce` before recomputing a large context.
    pub fn with_debounce(debounce: std::time::Duration) -> Self {
        Self {
            debounce,
            ..Self::default()
        }
    }

    /// The stage on screen: the newest whose numbers have landed.
    pub fn shown(&self) -> Option<&ContextStage> {
        self.stage.shown()
    }

    /// The knowledge base as last chunked.
    pub fn kb(&self) -> &KnowledgeBase {
        &self.knowledge.kb
    }

    /// Why the scene's current context is refused, while it is.
    pub fn refusal(&self) -> Option<&str> {
        self.stage.refusal()
    }

    /// Brings the stage up to date with `scene`: nothing happens when nothing it depends on
    /// changed; otherwise the context is rebuilt, the kernels run and a readback starts (the
    /// new context goes on screen once its numbers land). An error leaves the last good stage
    /// on screen and is not retried until the scene changes. Returns whether anything was
    /// recomputed.
    pub fn update(
        &mut self,
        ctx: &GpuContext,
        lesson: &Lesson,
        scene: &Scene,
    ) -> Result<bool, ContextStageError> {
        let revision = lesson.model_revision();
        if !self.stage.needs_compute(|k| k.matches(scene, revision)) {
            return Ok(false);
        }
        let key = ContextKey::of(scene, revision);
        let large = self
            .stage
            .shown()
            .is_some_and(|s| s.input.tokens.len() >= DEBOUNCE_FROM_TOKENS);
        if large && !self.debounce.is_zero() {
            match &self.edited {
                Some((seen, at)) if *seen == key => {
                    if at.elapsed() < self.debounce {
                        return Ok(false);
                    }
                }
                _ => {
                    self.edited = Some((key, Instant::now()));
                    return Ok(false);
                }
            }
        }
        self.edited = None;
        self.generation += 1;
        let (knowledge, generation) = (&mut self.knowledge, self.generation);
        self.stage.update(
            |k| k.matches(scene, revision),
            || key,
            |key, _superseded| knowledge.compute(ctx, lesson, key, generation),
        )
    }
}

impl ContextLesson {
    /// What the panel shows of the current stage.
    pub fn view<'a>(
        &'a self,
        refusal: Option<&'a str>,
    ) -> crate::ui::step4_context::ContextView<'a> {
        let stage = self.stage.shown();
        let numbers = stage.and_then(|s| s.numbers.as_ref());
        crate::ui::step4_context::ContextView {
            input: stage.map(|s| &s.input),
            retrieved: stage.map_or(&[][..], |s| &s.retrieved[..]),
            span_of_chunk: stage.map_or(&[][..], |s| &s.span_of_chunk[..]),
            kb: &self.knowledge.kb,
            colormap: crate::render::colormap::Colormap::Viridis,
            weights: numbers.map(|n| &n.weights[..]),
            masses: numbers.map(|n| &n.masses[..]),
            top: numbers.map_or(&[][..], |n| &n.top[..]),
            overview: numbers.map_or(&[][..], |n| &n.overview[..]),
            range: numbers.map_or([0.0; 2], |n| n.range),
            latency_ms: numbers.map(|n| n.latency_ms),
            overview_ms: numbers.and_then(|n| n.overview_ms),
            overview_fraction: stage.map_or(1.0, ContextStage::overview_fraction),
            bins: stage.filter(|s| s.map.is_some()).map_or(0, |s| s.bins),
            on_gpu: stage.is_some_and(|s| s.on_gpu),
            gpu_bytes: stage.map_or(0, ContextStage::gpu_bytes),
            refusal,
        }
    }

    /// The current overview's colour range, once its values are in.
    pub fn overview_range(&self) -> Option<[f32; 2]> {
        let numbers = self.stage.shown()?.numbers.as_ref()?;
        Some(numbers.range)
    }

    /// Polls the readbacks in flight, puts a context whose numbers landed on screen, and moves
    /// its overview on by a slice (a frame calls this; it never waits). Returns whether new
    /// numbers arrived.
    pub fn poll(&mut self, ctx: &GpuContext, lesson: &Lesson) -> Result<bool, GpuError> {
        let kernels = lesson.engine.overview_kernels(ctx)?;
        Ok(self.stage.poll(|s| s.poll(ctx, kernels))?.changed)
    }

    /// Waits for the numbers and the whole overview (headless rendering and tests).
    pub fn wait(&mut self, ctx: &GpuContext, lesson: &Lesson) -> Result<(), GpuError> {
        let kernels = lesson.engine.overview_kernels(ctx)?;
        self.stage.poll(|s| s.wait(ctx, kernels)).map(|_| ())
    }
}

/// Reads a dropped or listed document for [`Scene::add_document`], which checks it. A file
/// larger than a document may be is refused by its size on disk, before a byte is read: a
/// multi-gigabyte file dropped by mistake is never read into memory only to be refused.
pub fn read_document(path: &std::path::Path, name: &str) -> Result<Vec<u8>, String> {
    use crate::scene::{SceneError, MAX_DOCUMENT_BYTES};
    use std::io::Read;
    let limit = MAX_DOCUMENT_BYTES as u64;
    let file = std::fs::File::open(path).map_err(|error| format!("cannot read {name}: {error}"))?;
    let size = file.metadata().map_or(0, |m| m.len());
    if size > limit {
        let reason = format!("it is {size} bytes; the largest is {MAX_DOCUMENT_BYTES} (2 MiB)");
        return Err(SceneError::Document {
            name: name.to_owned(),
            reason,
        }
        .to_string());
    }
    // A file growing while it is read still stops one byte past the limit (and is refused).
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| format!("cannot read {name}: {error}"))?;
    Ok(bytes)
}

/// Reads the `.md` and `.txt` files of `folder` (not its subfolders) into `scene`'s knowledge
/// base; returns what to tell the user. A file that is refused (binary, too large, empty) is
/// named with the reason; the others are still added, and nothing already there is lost.
#[cfg(not(target_arch = "wasm32"))]
pub fn add_folder(scene: &mut Scene, folder: &str) -> String {
    let path = std::path::Path::new(folder);
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(error) => return format!("cannot read the folder {folder}: {error}"),
    };
    let mut files: Vec<std::path::PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| e.eq_ignore_ascii_case("md") || e.eq_ignore_ascii_case("txt"))
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return format!("{folder} has no .md or .txt files");
    }
    let (mut added, mut problems) = (0, Vec::new());
    for file in files {
        let name = file
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        match read_document(&file, &name) {
            Ok(bytes) => match scene.add_document(&name, bytes) {
                Ok(_) => added += 1,
                Err(error) => problems.push(error.to_string()),
            },
            Err(problem) => problems.push(problem),
        }
    }
    let mut report = format!("added {added} documents from {folder}");
    for problem in problems {
        report.push_str("; ");
        report.push_str(&problem);
    }
    report
}
