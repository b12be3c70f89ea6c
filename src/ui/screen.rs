//! The whole screen, as the window draws it each frame: the notice, the top bar (steps, menus),
//! the current step's panels and the help overlay. The window, the export pass and the UI tests
//! all draw exactly this, so what a test presses is what a lecturer presses.

use crate::scene::Scene;
use crate::ui::behind_the_gaze::BehindView;
use crate::ui::model_picker::{self, ModelAction, ModelView};
use crate::ui::presenter::{Presenter, PresenterRequests};
use crate::ui::scenes_menu::{self, SceneAction};
use crate::ui::step3_attention::{AttentionLayout, AttentionView};
use crate::ui::step3_real::RealAttentionView;
use crate::ui::step4_context::ContextView;
use crate::ui::theme::palette;
use crate::ui::{show_attention_step, LessonView, PanelState, TrainingViews};

/// What the screen shows, derived by the app from the scene.
pub struct ScreenView<'a> {
    /// A standing notice (attention on the CPU here), above everything on every step.
    pub notice: Option<&'a str>,
    /// A problem to show (a refused sentence, a file that could not be read).
    pub message: Option<&'a str>,
    /// Something done (a document added, a scene opened).
    pub info: Option<&'a str>,
    /// A scene saved when Gaze last stopped unexpectedly, offered back (one line: when, what).
    pub recovery: Option<&'a str>,
    /// A passing status in the top bar, where it moves nothing (an export being saved, saved).
    pub status: Option<&'a str>,
    /// Step 3's maps and (for a model with named features) the numbers behind them, once
    /// computed.
    pub attention: Option<(AttentionView<'a>, Option<BehindView<'a>>)>,
    /// Steps 1 and 2's optimisers.
    pub training: &'a TrainingViews<'a>,
    /// Step 4's context.
    pub context: ContextView<'a>,
    /// The top bar's model menu: which model is live, which is loaded or loading.
    pub model: ModelView<'a>,
    /// Step 3 on the live real model (`None`: the lesson model's step 3).
    pub real_attention: Option<RealAttentionView<'a>>,
}

/// Where things landed, and what the user asked of the window.
#[derive(Clone, Debug, Default)]
pub struct ScreenOutput {
    /// Step 3's maps (empty on other steps).
    pub layout: AttentionLayout,
    /// Step 4's overview map, if drawn.
    pub overview_rect: Option<egui::Rect>,
    /// Full screen, export.
    pub requests: PresenterRequests,
    /// "Open scene file…" or "save scene as…" (the window shows the dialog; a shipped scene
    /// is opened here).
    pub scene_file: Option<SceneAction>,
    /// What opening a shipped scene did, or why it could not.
    pub opened: Option<Result<String, String>>,
    /// Restore or discard the offered scene (chosen this frame).
    pub recovery: Option<crate::ui::recovery_banner::RecoveryChoice>,
    /// What was picked in the model menu.
    pub model: Option<ModelAction>,
}

/// Draws the screen and applies the user's edits to `scene`, `panels` and `presenter`.
pub fn show_screen(
    ui: &mut egui::Ui,
    scene: &mut Scene,
    panels: &mut PanelState,
    presenter: &mut Presenter,
    view: ScreenView<'_>,
) -> ScreenOutput {
    let mut output = ScreenOutput {
        requests: presenter.handle_keys(ui.ctx()),
        ..ScreenOutput::default()
    };
    presenter.apply(ui.ctx());
    let colours = palette(ui);
    if let Some(notice) = view.notice {
        egui::Panel::top("notice").show(ui, |ui| {
            ui.colored_label(colours.notice, notice);
        });
    }
    if let Some(summary) = view.recovery {
        output.recovery = crate::ui::recovery_banner::show(ui, summary);
    }
    // Ctrl+O and Ctrl+S: the scene files, where this build has them (native).
    if scenes_menu::FILE_DIALOGS {
        let shortcut = |key| egui::KeyboardShortcut::new(egui::Modifiers::COMMAND, key);
        if ui.input_mut(|i| i.consume_shortcut(&shortcut(egui::Key::O))) {
            output.scene_file = Some(SceneAction::OpenFile);
        }
        if ui.input_mut(|i| i.consume_shortcut(&shortcut(egui::Key::S))) {
            output.scene_file = Some(SceneAction::SaveFile);
        }
    }
    let mut chosen = None;
    crate::ui::show_top_bar(ui, &mut scene.step, |ui| {
        presenter.menu(ui, &mut output.requests);
        chosen = scenes_menu::show(ui);
        output.model = model_picker::show(ui, &view.model);
        if let Some(status) = view.status {
            ui.colored_label(colours.info, status);
        }
    });
    match chosen {
        Some(SceneAction::OpenShipped(index)) => {
            output.opened =
                Some(scenes_menu::apply_shipped(scene, index).map_err(|error| error.to_string()));
        }
        Some(action) => output.scene_file = Some(action),
        None => {}
    }
    model_picker::note(ui, &view.model, scene.step);
    presenter.help_overlay(ui.ctx());
    let (message, info) = (view.message, view.info);
    if let (3, Some(mut real)) = (scene.step, view.real_attention) {
        real.colormap = presenter.colormap;
        egui::CentralPanel::default().show(ui, |ui| {
            for (text, colour) in [(message, colours.warning), (info, colours.info)] {
                if let Some(text) = text {
                    ui.colored_label(colour, text);
                }
            }
            // No scroll area: a GPU-drawn map scrolled half off the frame would be squeezed
            // (the panel fits its map to the screen instead; the lens scrolls on its own).
            crate::ui::step3_real::show(ui, &mut scene.attention, &real);
        });
        return output;
    }
    if scene.step == 3 {
        let Some((mut attention, behind)) = view.attention else {
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
            return output;
        };
        attention.colormap = presenter.colormap;
        if presenter.reduced_motion {
            attention.snap = true;
            attention.particles = false;
        }
        let lesson = LessonView {
            attention,
            behind,
            message,
            info,
            // Drawn above the step bar already.
            notice: None,
        };
        output.layout = show_attention_step(ui, &mut scene.attention, &lesson);
        return output;
    }
    let mut context = view.context;
    context.colormap = presenter.colormap;
    egui::CentralPanel::default().show(ui, |ui| {
        for (text, colour) in [(message, colours.warning), (info, colours.info)] {
            if let Some(text) = text {
                ui.colored_label(colour, text);
            }
        }
        egui::ScrollArea::vertical().show(ui, |ui| {
            if scene.step == 4 {
                output.overview_rect = crate::ui::step4_context::show(
                    ui,
                    &mut scene.context,
                    &mut scene.attention.sentence,
                    &mut scene.attention.focus,
                    &mut panels.context,
                    &context,
                );
            } else {
                crate::ui::show_corpus_step(ui, scene, panels, view.training);
            }
        });
    });
    output
}
