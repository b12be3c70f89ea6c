//! One lesson session: the scene's derived state — step 3's attention, steps 1 and 2's
//! optimisers, step 4's context — and what the screen says about it, with no window in sight.
//!
//! The window, the web page, the export pass, `gaze render` and the UI tests all drive a
//! [`Session`] the same way, so what a test checks is what a lecturer sees:
//! 1. [`Session::derive`] brings the derived state up to date with the scene (kernels run only
//!    for what changed; readbacks are polled, or waited for headless);
//! 2. [`Session::show`] draws the whole screen (`ui::screen`) and applies the user's edits;
//! 3. [`Session::start_requested`] starts what the panels asked for (Train, fine-tune);
//! 4. [`ScreenPainter`](crate::app::paint::ScreenPainter) binds the session's buffers and paints
//!    the frame.

use crate::app::context_lesson::{ContextLesson, ContextStageError};
use crate::app::lesson::{AttentionLesson, AttentionStage, Lesson, StageError};
use crate::app::model_slot::ModelSlot;
use crate::app::training::Trainers;
use crate::gpu::{GpuContext, GpuError};
use crate::scene::{AttentionScene, Scene};
use crate::ui::presenter::Presenter;
use crate::ui::screen::{show_screen, ScreenOutput, ScreenView};
use crate::ui::step3_attention::AttentionLayout;
use crate::ui::PanelState;

/// How a derive treats readbacks still in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Readbacks {
    /// Collect what has landed and go on (a frame never waits on the GPU).
    Poll,
    /// Wait for every number the panels print (headless rendering and tests).
    Wait,
}

/// The lines the screen prints about the session, each kept until something replaces it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatusLines {
    /// Said for as long as it holds (attention on the CPU reference here).
    pub notice: Option<String>,
    /// Why step 3 refused the scene's current attention settings (an empty sentence), or why it
    /// shows fewer tokens than the sentence has; cleared once the scene is taken whole.
    pub refusal: Option<String>,
    /// Another problem (a GPU error, a file that could not be read).
    pub message: Option<String>,
    /// Something done (a document added, a scene opened).
    pub info: Option<String>,
    /// Why step 4 refused or shortened the scene's current context.
    pub context_refusal: Option<String>,
    /// A passing status in the top bar (an export being saved).
    pub status: Option<String>,
    /// A scene saved after a crash, offered back (its one-line summary).
    pub recovery: Option<String>,
}

/// The scene's derived state and the screen's state around it, for one device.
pub struct Session {
    lesson: Lesson,
    /// Step 3: the stage on screen (the last good one while a refused scene is), the one on
    /// its way, and the buffers the renderers draw from.
    attention: AttentionLesson,
    /// Steps 1 and 2's optimisers.
    trainers: Trainers,
    /// Step 4's context.
    context: ContextLesson,
    /// The real model beside the lesson model, and steps 1 and 2's odds on it.
    pub real: ModelSlot,
    /// Text the panels keep between frames (a row being typed).
    pub panels: PanelState,
    /// Theme, colour map, motion, controls, export scale, full screen.
    pub presenter: Presenter,
    /// What the screen prints.
    pub lines: StatusLines,
    /// Where the panels put step 3's maps in the last frame shown.
    pub layout: AttentionLayout,
    /// Where step 4 drew its overview map in the last frame shown, in points.
    pub overview_rect: Option<egui::Rect>,
    /// Arcs jump to their weights instead of easing (exports and headless renders: one frame).
    pub snap_arcs: bool,
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

/// Puts `said` in `line`, replaced only when it changed (a frame copies no string).
fn say(line: &mut Option<String>, said: Option<&str>) {
    if line.as_deref() != said {
        *line = said.map(str::to_owned);
    }
}

impl Session {
    /// A session over `lesson` (its engine decides where attention runs), shown as `presenter`
    /// says. Where attention runs on the CPU reference the notice says so.
    pub fn new(lesson: Lesson, presenter: Presenter) -> Self {
        let notice = (!lesson.computes_on_gpu()).then(|| CPU_NOTICE.to_owned());
        Self {
            lesson,
            attention: AttentionLesson::default(),
            trainers: Trainers::default(),
            context: ContextLesson::default(),
            real: ModelSlot::default(),
            panels: PanelState::default(),
            presenter,
            lines: StatusLines {
                notice,
                ..StatusLines::default()
            },
            layout: AttentionLayout::default(),
            overview_rect: None,
            snap_arcs: false,
        }
    }

    /// Step 4 waits for typing to pause this long before recomputing a large context (the
    /// window's setting; headless and tests recompute at once).
    pub fn with_context_debounce(mut self, debounce: std::time::Duration) -> Self {
        self.context.debounce = debounce;
        self
    }

    /// The lesson model and its engine.
    pub fn lesson(&self) -> &Lesson {
        &self.lesson
    }

    /// The lesson, to add the estimated embeddings (every stage recomputes on the next derive).
    pub fn lesson_mut(&mut self) -> &mut Lesson {
        &mut self.lesson
    }

    /// Gives the lesson back (a window rebuilt on a new device keeps its model).
    pub fn into_lesson(self) -> Lesson {
        self.lesson
    }

    /// Step 3 as on screen: the newest stage whose numbers have landed.
    pub fn attention(&self) -> Option<&AttentionStage> {
        self.attention.shown()
    }

    /// Takes step 3's stage on screen out of the session (a headless render returns it for
    /// checks).
    pub fn take_attention(&mut self) -> Option<AttentionStage> {
        self.attention.take_shown()
    }

    /// Steps 1 and 2's optimisers.
    pub fn trainers(&self) -> &Trainers {
        &self.trainers
    }

    /// Step 4's context.
    pub fn context_lesson(&self) -> &ContextLesson {
        &self.context
    }

    /// The problem the screen shows, if any: a refusal of the current scene first.
    pub fn message(&self) -> Option<&str> {
        self.lines
            .refusal
            .as_deref()
            .or(self.lines.message.as_deref())
    }

    /// Brings every step's derived state up to date with `scene` and collects (or, with
    /// [`Readbacks::Wait`], waits for) the readbacks in flight. What fails is said on screen;
    /// the last good state stays meanwhile.
    pub fn derive(&mut self, ctx: &GpuContext, scene: &Scene, readbacks: Readbacks) {
        if let Err(error) = self.derive_context(ctx, scene, readbacks) {
            self.lines.message = Some(error.to_string());
        }
        if let Err(error) = self.derive_attention(ctx, &scene.attention, readbacks) {
            self.lines.message = Some(error.to_string());
        }
        if let Err(error) = self.trainers.update(ctx, &self.lesson, scene) {
            self.lines.message = Some(error.to_string());
        }
        self.real.update(scene, readbacks == Readbacks::Wait);
    }

    /// Collects a real model that has been read (the window calls this each frame): it goes
    /// live if it was asked for, and the screen says it loaded or why not.
    pub fn poll_models(&mut self, scene: &mut Scene) {
        match self.real.poll_loading(scene) {
            Some(Ok(told)) => self.lines.info = Some(told),
            Some(Err(error)) => self.lines.message = Some(error),
            None => {}
        }
    }

    /// Step 3: recomputed when its settings changed, its readback collected (a stage goes on
    /// screen once its numbers have landed). A refused scene (say, an empty sentence) is said in
    /// [`StatusLines::refusal`] and not retried every frame: only once the user changes it
    /// again. Returns the GPU's error, if it failed; a refusal is returned too, once, when it
    /// first happens (headless callers turn it into their error).
    pub fn derive_attention(
        &mut self,
        ctx: &GpuContext,
        scene: &AttentionScene,
        readbacks: Readbacks,
    ) -> Result<(), StageError> {
        let refused = self.lesson.update(ctx, scene, &mut self.attention).err();
        self.attention
            .settle(ctx, &self.lesson, scene, readbacks == Readbacks::Wait)?;
        // Why the scene is refused; else why the stage on screen shows fewer tokens than the
        // sentence has (the smaller view).
        let said = self
            .attention
            .refusal()
            .or(self.attention.shown().and_then(|s| s.shortened.as_deref()));
        say(&mut self.lines.refusal, said);
        refused.map_or(Ok(()), Err)
    }

    /// Step 4, when it is on screen: recomputed when the context changed (a context this GPU
    /// holds only part of is shown smaller, with the reason), its readback collected.
    pub fn derive_context(
        &mut self,
        ctx: &GpuContext,
        scene: &Scene,
        readbacks: Readbacks,
    ) -> Result<(), GpuError> {
        if scene.step != 4 {
            return Ok(());
        }
        let failed = match self.context.update(ctx, &self.lesson, scene) {
            // A refused context is said below, from the stage, for as long as it holds.
            Ok(_) | Err(ContextStageError::Context(_)) => None,
            Err(ContextStageError::Gpu(error)) => Some(error),
        };
        match readbacks {
            Readbacks::Poll => self.context.poll(ctx, &self.lesson).map(|_| ())?,
            Readbacks::Wait => self.context.wait(ctx, &self.lesson)?,
        }
        let said = self
            .context
            .refusal()
            .or(self.context.shown().and_then(|s| s.shortened.as_deref()));
        say(&mut self.lines.context_refusal, said);
        failed.map_or(Ok(()), Err)
    }

    /// After the panels: starts what the user asked for (step 1's Train, step 2's fine-tune).
    pub fn start_requested(&mut self, ctx: &GpuContext, scene: &Scene) -> Result<(), String> {
        self.trainers.start_requested(
            ctx,
            scene,
            &self.lesson,
            &mut self.panels,
            self.presenter.reduced_motion,
        )
    }

    /// Runs whatever optimiser is in progress to its end (headless: no frame to keep smooth).
    pub fn finish_training(&mut self, ctx: &GpuContext) -> Result<(), GpuError> {
        self.trainers.finish_blocking(ctx, &self.lesson)
    }

    /// Draws the whole screen (`ui::screen`) with the arcs advanced by `dt` seconds, and applies
    /// the user's edits to `scene`, the panels and the presenter. Where step 3's maps landed is
    /// kept in [`Session::layout`] (not in the returned output). What it reports back that
    /// concerns the session (a shipped scene opened) is applied here; the rest (full screen,
    /// export, file dialogs) is the shell's.
    pub fn show(&mut self, ui: &mut egui::Ui, scene: &mut Scene, dt: f32) -> ScreenOutput {
        let model = &self.lesson.model;
        let mut views = self.trainers.views();
        views.real = self.real.odds_view(scene);
        let lines = &self.lines;
        let message = lines.refusal.as_deref().or(lines.message.as_deref());
        let attention = self.attention.shown().map(|stage| {
            let (mut attention, behind) = stage.views(model, dt);
            attention.snap = self.snap_arcs;
            (attention, Some(behind))
        });
        let view = ScreenView {
            notice: lines.notice.as_deref(),
            message,
            info: lines.info.as_deref(),
            recovery: lines.recovery.as_deref(),
            status: lines.status.as_deref(),
            attention,
            training: &views,
            context: self.context.view(lines.context_refusal.as_deref()),
            model: self.real.view(scene),
            real_attention: self.real.attention_view(scene, self.presenter.colormap),
        };
        let mut screen = show_screen(ui, scene, &mut self.panels, &mut self.presenter, view);
        // Moved, not copied: a frame allocates nothing for it.
        self.layout = std::mem::take(&mut screen.layout);
        self.overview_rect = screen.overview_rect;
        if let Some(action) = screen.model {
            self.real.apply(action, scene);
        }
        match &screen.opened {
            Some(Ok(opened)) => self.lines.info = Some(opened.clone()),
            Some(Err(error)) => self.lines.message = Some(error.clone()),
            None => {}
        }
        screen
    }
}
