//! egui panels, one per file. Each edits the [`Scene`](crate::scene::Scene) — never the GPU —
//! and reads what it shows from the derived state the app hands it.

pub mod behind_the_gaze;
pub mod model_picker;
pub mod presenter;
pub mod recovery_banner;
pub mod scenes_menu;
pub mod screen;
pub mod step1_pretraining;
pub mod step2_rlhf;
pub mod step3_attention;
pub mod step3_real;
pub mod step4_context;
pub mod theme;

use crate::scene::AttentionScene;
use behind_the_gaze::BehindView;
use step3_attention::{AttentionLayout, AttentionView};

/// Everything the lesson screen shows, derived by the app from the scene.
pub struct LessonView<'a> {
    /// Step 3's maps and arcs.
    pub attention: AttentionView<'a>,
    /// The numbers behind them — Q, K, V over named features, the weight editor: the lesson
    /// model's, shown only for a model that has named features (`None` hides the panel).
    pub behind: Option<BehindView<'a>>,
    /// A problem to show (a refused sentence, a GPU error); the view keeps its last good state.
    pub message: Option<&'a str>,
    /// Something to tell the user (a document added to the knowledge base).
    pub info: Option<&'a str>,
    /// A standing notice (attention computed on the CPU because this browser has no WebGPU).
    pub notice: Option<&'a str>,
}

/// The lesson screen: "behind the gaze" on the right, step 3 in the middle. The window and
/// `gaze render` both draw exactly this.
pub fn show_attention_step(
    ui: &mut egui::Ui,
    scene: &mut AttentionScene,
    view: &LessonView<'_>,
) -> AttentionLayout {
    let colours = theme::palette(ui);
    if let Some(notice) = view.notice {
        egui::Panel::top("notice").show(ui, |ui| {
            ui.colored_label(colours.notice, notice);
        });
    }
    // Hidden with the controls (H): the maps then take the whole width.
    if let Some(behind) = view
        .behind
        .as_ref()
        .filter(|_| presenter::controls_shown(ui))
    {
        egui::Panel::right("behind the gaze")
            .resizable(true)
            .default_size(400.0)
            .show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    behind_the_gaze::show(ui, scene, behind, 0);
                });
            });
    }
    egui::CentralPanel::default()
        .show(ui, |ui| {
            if let Some(message) = view.message {
                ui.colored_label(colours.warning, message);
            }
            if let Some(info) = view.info {
                ui.colored_label(colours.info, info);
            }
            step3_attention::show(ui, scene, &view.attention)
        })
        .inner
}

/// A probability bar, 0–1, its value printed at its right end; the winner in the theme's winner
/// colour (and outlined, so it does not rest on colour alone).
pub(crate) fn probability_bar(ui: &mut egui::Ui, p: f64, winner: bool, width: f32) {
    let height = theme::text_size(ui, 20.0);
    let (rect, response) = ui.allocate_exact_size(egui::vec2(width, height), egui::Sense::hover());
    let text = format!("{:.1}%", p * 100.0);
    // Screen readers (and the UI tests) read the bar as its value.
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Label, true, &text));
    let painter = ui.painter();
    painter.rect_filled(rect, 2.0, ui.visuals().extreme_bg_color);
    let mut fill = rect;
    fill.set_width(rect.width() * p.clamp(0.0, 1.0) as f32);
    let colours = theme::palette(ui);
    let colour = if winner {
        colours.winner_fill
    } else {
        colours.bar
    };
    painter.rect_filled(fill, 2.0, colour);
    if winner {
        painter.rect_stroke(
            fill,
            2.0,
            egui::Stroke::new(2.0, ui.visuals().strong_text_color()),
            egui::StrokeKind::Inside,
        );
    }
    painter.text(
        rect.right_center() - egui::vec2(4.0, 0.0),
        egui::Align2::RIGHT_CENTER,
        text,
        theme::font(ui, 15.0),
        ui.visuals().strong_text_color(),
    );
}

/// What steps 1 and 2 show of their optimisers (the app's sessions, when any has run) and of
/// the live real model.
#[derive(Clone, Debug, Default)]
pub struct TrainingViews<'a> {
    /// Step 1's fit.
    pub fit: Option<step1_pretraining::FitView<'a>>,
    /// Step 2's fine-tune.
    pub fine_tune: Option<step2_rlhf::FineTuneView<'a>>,
    /// The real model's odds, when one is live (`None`: the lesson model).
    pub real: Option<RealOddsView<'a>>,
}

/// A real model's own odds of the corpus's endings (`model::llm::lesson`), for steps 1 and 2.
#[derive(Clone, Debug, PartialEq)]
pub struct RealOddsView<'a> {
    /// The model's file.
    pub model: &'a str,
    /// What it was trained on, in one line, where Gaze knows the file.
    pub trained_on: Option<&'static str>,
    /// Each prefix's odds, once computed for the scene as it is now (`None` meanwhile: a stale
    /// number is never shown).
    pub odds: Option<&'a [crate::model::llm::lesson::PrefixOdds]>,
    /// Why they could not be computed.
    pub error: Option<&'a str>,
    /// How long the odds on screen took.
    pub seconds: Option<f64>,
    /// Seconds the next odds have been computing, if they are.
    pub computing: Option<f64>,
}

impl RealOddsView<'_> {
    /// `prefix`'s odds, once computed.
    pub fn prefix(&self, prefix: &str) -> Option<&crate::model::llm::lesson::PrefixOdds> {
        self.odds?.iter().find(|o| o.prefix == prefix)
    }

    /// What to say while `prefix`'s odds are not on hand: still computing, or why not.
    pub fn waiting(&self) -> String {
        match (self.error, self.computing) {
            (Some(error), _) => format!("{}'s odds could not be computed: {error}", self.model),
            (None, Some(seconds)) => {
                format!("computing {}'s odds… {seconds:.1} s", self.model)
            }
            (None, None) => format!("{}'s odds are on their way", self.model),
        }
    }
}

/// Step 1's or step 2's panel, whichever `scene.step` is; returns false on any other step. The
/// window, `gaze render` and the UI tests all draw the steps through this.
pub fn show_corpus_step(
    ui: &mut egui::Ui,
    scene: &mut crate::scene::Scene,
    panels: &mut PanelState,
    views: &TrainingViews<'_>,
) -> bool {
    match scene.step {
        1 => step1_pretraining::show(
            ui,
            &mut scene.corpus,
            &mut panels.new_row,
            views.fit.as_ref(),
            views.real.as_ref(),
            &mut panels.train_requested,
        ),
        2 => step2_rlhf::show(
            ui,
            &scene.corpus,
            &mut scene.rlhf,
            &mut panels.typed_preference,
            views.fine_tune.as_ref(),
            views.real.as_ref(),
            &mut panels.fine_tune_requested,
        ),
        _ => return false,
    }
    true
}

/// The steps, as the step bar names them.
pub const STEPS: [&str; 4] = [
    "1 pretraining",
    "2 RLHF",
    "3 attention",
    "4 in-context & RAG",
];

/// The highest step this build has.
pub const BUILT_STEPS: u8 = 4;

/// Text the panels keep between frames that is not part of the scene (a row being typed).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PanelState {
    /// Step 1's "add a row" line.
    pub new_row: step1_pretraining::NewRow,
    /// Step 2's "or type one" box.
    pub typed_preference: String,
    /// Train was clicked on step 1 (the app starts the fit and clears it).
    pub train_requested: bool,
    /// "Fine-tune for real" was clicked on step 2.
    pub fine_tune_requested: bool,
    /// Step 4's paste box, document editor and folder box.
    pub context: step4_context::ContextPanel,
}

/// The step bar across the top, and the keys that move between steps: 1–4 jump, <- and ->
/// step (not while a text box has the keyboard).
pub fn show_step_bar(ui: &mut egui::Ui, step: &mut u8) {
    show_top_bar(ui, step, |_| {});
}

/// The step bar with more on its right (the window's menus: [`screen::show_screen`]).
pub fn show_top_bar(ui: &mut egui::Ui, step: &mut u8, right: impl FnOnce(&mut egui::Ui)) {
    if !ui.ctx().egui_wants_keyboard_input() {
        let (pressed, left, right) = ui.input(|i| {
            let keys = [
                egui::Key::Num1,
                egui::Key::Num2,
                egui::Key::Num3,
                egui::Key::Num4,
            ];
            (
                keys.iter().position(|&k| i.key_pressed(k)),
                i.key_pressed(egui::Key::ArrowLeft),
                i.key_pressed(egui::Key::ArrowRight),
            )
        });
        if let Some(index) = pressed {
            *step = (index as u8 + 1).min(BUILT_STEPS);
        }
        if left {
            *step = step.saturating_sub(1).max(1);
        }
        if right {
            *step = (*step + 1).min(BUILT_STEPS);
        }
    }
    egui::Panel::top("steps").show(ui, |ui| {
        ui.horizontal(|ui| {
            for (index, name) in STEPS.iter().enumerate() {
                let number = index as u8 + 1;
                let built = number <= BUILT_STEPS;
                let label = egui::RichText::new(*name).size(theme::text_size(ui, 18.0));
                let response =
                    ui.add_enabled(built, egui::Button::selectable(*step == number, label));
                let response = if built {
                    response.on_hover_text(format!("key {number}; <- and -> step"))
                } else {
                    response.on_disabled_hover_text("this step is not in this build yet")
                };
                if response.clicked() {
                    *step = number;
                }
            }
            ui.with_layout(egui::Layout::right_to_left(egui::Align::Center), right);
        });
    });
}
