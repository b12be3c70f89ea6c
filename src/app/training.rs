//! Steps 1 and 2's optimisers as the window runs them: a few steps per frame on the GPU (or the
//! CPU twin where the browser has no compute), results read back without blocking a frame.
//!
//! A session remembers what it was started from (the corpus and the engine's switches, or the
//! preference); when the scene moves away from that, the app drops it — a fit of data the user
//! has since edited would be a wrong number on screen.

use web_time::Instant;

use crate::app::engine::{Engine, FineTuneRunner, FitNumbers, FitRunner};
use crate::app::lesson::Lesson;
use crate::app::stage::{Landing, Stage};
use crate::gpu::{GpuContext, GpuError};
use crate::model::corpus::Corpus;
use crate::model::finetune::{policy, FineTuneProblem, FINE_TUNE_STEPS};
use crate::model::train::{kl_divergence, OutputLayer, TrainingSet, TRAIN_STEPS};
use crate::scene::{AttentionScene, RlhfScene};
use crate::ui::step1_pretraining::FitView;
use crate::ui::step2_rlhf::FineTuneView;

/// How long a whole Train takes to play out: slow enough to watch the curve fall, quick enough
/// for a lecture. Each batch of steps is one submission and one readback; the next batch is sized
/// by how long the last one took, so a slow frame rate (a software GPU, an old laptop) or a slow
/// readback does not stretch the fit.
pub const TRAIN_SECONDS: f32 = 2.5;

/// The first batch, and the fewest steps any batch runs.
pub const MIN_STEPS_PER_BATCH: u32 = 3;

/// The most steps one batch runs (one submission).
pub const MAX_STEPS_PER_BATCH: u32 = 60;

/// Seconds since `started` (0 the first time), and restarts it.
fn restart(started: &mut Option<Instant>) -> f32 {
    let now = Instant::now();
    let elapsed = started.map_or(0.0, |at| now.duration_since(at).as_secs_f32());
    *started = Some(now);
    elapsed
}

/// Steps to run next, given how long the last batch took.
fn batch_size(elapsed: f32, remaining: u32) -> u32 {
    let per_step = TRAIN_SECONDS / TRAIN_STEPS as f32;
    let steps = (elapsed / per_step).round() as u32;
    steps
        .clamp(MIN_STEPS_PER_BATCH, MAX_STEPS_PER_BATCH)
        .min(remaining)
}

/// How long the fine-tune's path takes to draw itself once its numbers are in.
pub const PATH_REVEAL_SECONDS: f32 = 1.5;

/// What a fit was started from: the corpus and step 3's switches (which shape `h`).
pub type FitKey = (Corpus, AttentionScene);

/// What a fine-tune was started from: the corpus and the preference.
pub type FineTuneKey = (Corpus, RlhfScene);

/// Step 1's Train: a fit running (or run) live.
pub struct FitSession {
    set: TrainingSet,
    runner: FitRunner,
    losses: Vec<f32>,
    probabilities: Vec<f32>,
    steps: u32,
    /// When the batch in flight (GPU) or the last frame's steps (CPU) started.
    batch_started: Option<Instant>,
    /// Per prefix: `KL(counts' shares ‖ fitted π)`, recomputed when a batch lands (not per frame).
    kl_to_counts: Vec<f64>,
    /// Per prefix: vocabulary endings it never saw.
    unseen_endings: Vec<usize>,
    /// The corpus's entropy, the loss's floor (fixed for the session).
    loss_floor: f64,
}

/// A fit is drawn live, batch by batch, from its first frame.
impl Landing for FitSession {
    fn landed(&self) -> bool {
        true
    }
}

impl FitSession {
    /// Starts a fit of `set` from zero on `engine`.
    pub fn start(set: TrainingSet, engine: &Engine, ctx: &GpuContext) -> Result<Self, GpuError> {
        let runner = engine.start_fit(ctx, &set)?;
        let probabilities = OutputLayer::zeros(set.params()).probabilities(&set);
        Ok(Self {
            set,
            runner,
            losses: Vec::with_capacity(TRAIN_STEPS as usize),
            probabilities,
            steps: 0,
            batch_started: None,
            kl_to_counts: Vec::new(),
            unseen_endings: Vec::new(),
            loss_floor: 0.0,
        }
        .with_derived())
    }

    /// Recomputes what the panel shows from the latest probabilities: each prefix's distance to
    /// its counts' shares.
    fn with_derived(mut self) -> Self {
        self.loss_floor = self.set.loss_floor();
        self.derive();
        self
    }

    fn derive(&mut self) {
        let prefixes = self.set.prefixes().len();
        let v = self.set.vocabulary().len();
        self.kl_to_counts = (0..prefixes)
            .map(|p| {
                let row = self.probabilities.get(p * v..(p + 1) * v).unwrap_or(&[]);
                kl_divergence(&self.set.closed_form(p), row)
            })
            .collect();
        self.unseen_endings = (0..prefixes)
            .map(|p| {
                self.set
                    .closed_form(p)
                    .iter()
                    .filter(|&&q| q == 0.0)
                    .count()
            })
            .collect();
    }

    /// Whether every step has run and been read back.
    pub fn finished(&self) -> bool {
        self.steps >= TRAIN_STEPS
    }

    /// Whether the steps run on the GPU.
    pub fn on_gpu(&self) -> bool {
        self.runner.on_gpu()
    }

    /// One frame's worth: takes a readback that has landed, and starts the next batch when none
    /// is in flight. Never waits. Returns whether anything shown changed.
    pub fn advance(&mut self, engine: &Engine, ctx: &GpuContext) -> Result<bool, GpuError> {
        let changed = self.step(engine, ctx)?;
        if changed {
            self.derive();
        }
        Ok(changed)
    }

    fn step(&mut self, engine: &Engine, ctx: &GpuContext) -> Result<bool, GpuError> {
        let numbers = FitNumbers {
            losses: &mut self.losses,
            probabilities: &mut self.probabilities,
        };
        let mut changed = self.runner.collect(ctx, numbers)?;
        if changed {
            self.steps = self.runner.steps();
        } else if self.runner.in_flight() {
            return Ok(false);
        }
        let done = self.runner.steps();
        if done < TRAIN_STEPS {
            let batch = batch_size(restart(&mut self.batch_started), TRAIN_STEPS - done);
            let numbers = FitNumbers {
                losses: &mut self.losses,
                probabilities: &mut self.probabilities,
            };
            if self.runner.run(engine, ctx, &self.set, batch, numbers)? {
                self.steps = self.runner.steps();
                changed = true;
            }
        }
        Ok(changed)
    }

    /// Runs to the end, blocking (`gaze render` and tests; never in a frame).
    pub fn finish_blocking(&mut self, engine: &Engine, ctx: &GpuContext) -> Result<(), GpuError> {
        while !self.finished() {
            self.runner.wait_in_flight(ctx)?;
            let before = (self.steps, self.runner.steps());
            self.advance(engine, ctx)?;
            if (self.steps, self.runner.steps()) == before && !self.runner.in_flight() {
                // Nothing ran and nothing is on its way: it cannot finish.
                return Err(GpuError::Readback(
                    "the fit stopped before its last step".into(),
                ));
            }
        }
        Ok(())
    }

    /// What step 1's panel draws (borrowed: nothing is allocated per frame).
    pub fn view(&self) -> FitView<'_> {
        FitView {
            prefixes: self.set.prefixes(),
            vocabulary: self.set.vocabulary(),
            probabilities: &self.probabilities,
            losses: &self.losses,
            loss_floor: self.loss_floor,
            steps: self.steps,
            total_steps: TRAIN_STEPS,
            on_gpu: self.on_gpu(),
            kl_to_counts: &self.kl_to_counts,
            unseen_endings: &self.unseen_endings,
        }
    }
}

/// Step 2's "fine-tune for real": the whole climb in one submission, then its path drawn.
pub struct FineTuneSession {
    problem: FineTuneProblem,
    runner: FineTuneRunner,
    path: Vec<f32>,
    final_policy: Vec<f32>,
    landed: Option<Instant>,
    reduced_motion: bool,
    /// The candidates and the closed form's probabilities, fixed for the session.
    endings: Vec<String>,
    closed_form: Vec<f64>,
    /// `KL(closed form ‖ fine-tuned)`, once landed.
    kl_to_closed_form: Option<f64>,
}

/// The panel says the climb is running until its path lands, then draws it.
impl Landing for FineTuneSession {
    fn landed(&self) -> bool {
        true
    }
}

impl FineTuneSession {
    /// Starts the climb on `engine`: all of it submitted at once on the GPU, or run at once on
    /// the CPU.
    pub fn start(
        problem: FineTuneProblem,
        engine: &Engine,
        ctx: &GpuContext,
        reduced_motion: bool,
    ) -> Result<Self, GpuError> {
        let (endings, closed_form) = (
            problem_endings(&problem),
            problem.closed_form_probabilities(),
        );
        let runner = engine.start_fine_tune(ctx, &problem, FINE_TUNE_STEPS)?;
        let mut session = Self {
            problem,
            runner,
            path: Vec::new(),
            final_policy: Vec::new(),
            landed: None,
            reduced_motion,
            endings,
            closed_form,
            kl_to_closed_form: None,
        };
        session.advance(ctx)?;
        Ok(session)
    }

    /// Takes the readback once it lands; never waits. Returns whether anything shown changed
    /// (including the path drawing itself).
    pub fn advance(&mut self, ctx: &GpuContext) -> Result<bool, GpuError> {
        if let Some((path, logits)) = self.runner.collect(ctx)? {
            self.land(path, &logits);
            return Ok(true);
        }
        Ok(self.landed.is_some() && self.revealed() < 1.0)
    }

    /// Waits for the readback (`gaze render` and tests).
    pub fn finish_blocking(&mut self, ctx: &GpuContext) -> Result<(), GpuError> {
        self.runner.wait(ctx)?;
        self.advance(ctx)?;
        self.reduced_motion = true;
        Ok(())
    }

    /// The climb's numbers are in: keep the path and measure where it landed.
    fn land(&mut self, path: Vec<f32>, logits: &[f32]) {
        self.final_policy = policy(logits).0;
        self.path = path;
        self.kl_to_closed_form = Some(kl_divergence(&self.closed_form, &self.final_policy));
        self.landed = Some(Instant::now());
    }

    /// How much of the path is drawn, 0–1.
    fn revealed(&self) -> f32 {
        match self.landed {
            None => 0.0,
            Some(_) if self.reduced_motion => 1.0,
            Some(at) => (at.elapsed().as_secs_f32() / PATH_REVEAL_SECONDS).min(1.0),
        }
    }

    /// What step 2's panel draws (borrowed: nothing is allocated per frame).
    pub fn view(&self) -> FineTuneView<'_> {
        FineTuneView {
            endings: &self.endings,
            closed_form: &self.closed_form,
            kl_to_closed_form: self.kl_to_closed_form,
            path: &self.path,
            revealed: self.revealed(),
            steps: FINE_TUNE_STEPS,
            on_gpu: self.runner.on_gpu(),
            strength: self.problem.params().strength as f64,
        }
    }
}

/// The candidates of `problem`, in corpus order.
fn problem_endings(problem: &FineTuneProblem) -> Vec<String> {
    problem
        .closed_form()
        .rows
        .iter()
        .map(|r| r.ending.clone())
        .collect()
}

/// Which parts of step 3's scene shape `h` (the sentence on screen and its focus do not).
fn switches_of(attention: &AttentionScene) -> AttentionScene {
    AttentionScene {
        sentence: String::new(),
        focus: 0,
        ..attention.clone()
    }
}

/// Whether `key` (a [`switches_of`]) still describes `attention`: compared field by field, so a
/// frame checking a finished fit builds no copy of the scene. Destructured whole, so a field
/// added to the scene must be placed on one side or the other here.
fn same_switches(key: &AttentionScene, attention: &AttentionScene) -> bool {
    let AttentionScene {
        sentence: _,
        focus: _,
        heads,
        positions,
        causal,
        residual_norm,
        weight_edits,
        // A real model's layer and head, and how maps are drawn: the lesson's h is the same.
        layer: _,
        head: _,
        scale: _,
        hide_first_token: _,
    } = attention;
    key.heads == *heads
        && key.positions == *positions
        && key.causal == *causal
        && key.residual_norm == *residual_norm
        && key.weight_edits == *weight_edits
}

/// The training set of `scene`'s corpus, each prefix read by the step 3 engine as `scene` sets it.
pub fn training_set(
    scene: &crate::scene::Scene,
    model: &crate::model::lesson::LessonModel,
) -> Result<TrainingSet, crate::model::train::TrainError> {
    let view = &scene.attention;
    TrainingSet::from_lesson(
        &scene.corpus,
        model,
        crate::model::train::ForwardSwitches {
            heads: view.heads,
            positions: view.positions,
            causal: view.causal,
            residual_norm: view.residual_norm,
            edits: &view.weight_edits,
        },
    )
}

/// The fine-tune problem of `scene`'s preference, on the prefix step 2 shows.
pub fn fine_tune_problem(
    scene: &crate::scene::Scene,
) -> Result<FineTuneProblem, crate::model::rlhf::RlhfError> {
    let prefix = crate::ui::step2_rlhf::prefix_of(&scene.corpus);
    FineTuneProblem::new(
        &scene.corpus.distribution(&prefix),
        &scene.rlhf.preferred,
        scene.rlhf.strength,
        crate::model::rlhf::Rewards {
            chosen: scene.rlhf.reward_chosen,
            winner: scene.rlhf.reward_winner,
        },
    )
}

/// Both optimisers as one frame loop sees them: each a [`Stage`] keyed by what it was started
/// from, dropped when the scene moves away from that (a fit of data the user has since edited
/// would be a wrong number on screen).
#[derive(Default)]
pub struct Trainers {
    fit: Stage<FitKey, FitSession>,
    fine_tune: Stage<FineTuneKey, FineTuneSession>,
}

impl Trainers {
    /// Step 1's fit, running or run.
    pub fn fit(&self) -> Option<&FitSession> {
        self.fit.shown()
    }

    /// Step 2's fine-tune, running or run.
    pub fn fine_tune(&self) -> Option<&FineTuneSession> {
        self.fine_tune.shown()
    }

    /// Before the panels: drops sessions the scene has moved away from and advances the rest.
    pub fn update(
        &mut self,
        ctx: &GpuContext,
        lesson: &Lesson,
        scene: &crate::scene::Scene,
    ) -> Result<(), GpuError> {
        self.fit.keep_if(|(corpus, switches)| {
            *corpus == scene.corpus && same_switches(switches, &scene.attention)
        });
        self.fine_tune
            .keep_if(|(corpus, rlhf)| *corpus == scene.corpus && *rlhf == scene.rlhf);
        if let Some(fit) = self.fit.shown_mut() {
            fit.advance(&lesson.engine, ctx)?;
        }
        if let Some(fine_tune) = self.fine_tune.shown_mut() {
            fine_tune.advance(ctx)?;
        }
        Ok(())
    }

    /// After the panels: starts what the user asked for, on the lesson's engine (where the
    /// device has no compute, the CPU twins: same steps, same numbers).
    pub fn start_requested(
        &mut self,
        ctx: &GpuContext,
        scene: &crate::scene::Scene,
        lesson: &Lesson,
        panels: &mut crate::ui::PanelState,
        reduced_motion: bool,
    ) -> Result<(), String> {
        let train = std::mem::take(&mut panels.train_requested);
        let fine_tune = std::mem::take(&mut panels.fine_tune_requested);
        if train {
            let set = training_set(scene, &lesson.model).map_err(|e| e.to_string())?;
            let key = (scene.corpus.clone(), switches_of(&scene.attention));
            let fit = FitSession::start(set, &lesson.engine, ctx).map_err(|e| e.to_string())?;
            self.fit.start(key, fit);
        }
        if fine_tune {
            let problem = fine_tune_problem(scene).map_err(|e| e.to_string())?;
            let key = (scene.corpus.clone(), scene.rlhf.clone());
            let session = FineTuneSession::start(problem, &lesson.engine, ctx, reduced_motion)
                .map_err(|e| e.to_string())?;
            self.fine_tune.start(key, session);
        }
        Ok(())
    }

    /// What the panels of steps 1 and 2 draw.
    pub fn views(&self) -> crate::ui::TrainingViews<'_> {
        crate::ui::TrainingViews {
            fit: self.fit().map(FitSession::view),
            fine_tune: self.fine_tune().map(FineTuneSession::view),
            real: None,
        }
    }

    /// Runs whatever is in progress to its end (`gaze render`: no frame to keep smooth).
    pub fn finish_blocking(&mut self, ctx: &GpuContext, lesson: &Lesson) -> Result<(), GpuError> {
        if let Some(fit) = self.fit.shown_mut() {
            fit.finish_blocking(&lesson.engine, ctx)?;
        }
        if let Some(fine_tune) = self.fine_tune.shown_mut() {
            fine_tune.finish_blocking(ctx)?;
        }
        Ok(())
    }
}
