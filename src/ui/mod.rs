//! egui panels, one per file. Each edits the [`Scene`](crate::scene::Scene) — never the GPU —
//! and reads what it shows from the derived state the app hands it.

pub mod behind_the_gaze;
pub mod step3_attention;

use crate::scene::AttentionScene;
use behind_the_gaze::BehindView;
use step3_attention::{AttentionLayout, AttentionView};

/// Everything the lesson screen shows, derived by the app from the scene.
pub struct LessonView<'a> {
    /// Step 3's maps and arcs.
    pub attention: AttentionView<'a>,
    /// The numbers behind them.
    pub behind: BehindView<'a>,
    /// A problem to show (a refused sentence, a GPU error); the view keeps its last good state.
    pub message: Option<&'a str>,
    /// Something to tell the user (a document added to the knowledge base).
    pub info: Option<&'a str>,
    /// A standing notice (attention computed on the CPU because this browser has no WebGPU).
    pub notice: Option<&'a str>,
}

/// The lesson screen: "behind the gaze" on the right, step 3 in the middle. The window and
/// `gaze render` both draw exactly this.
pub fn show_lesson(
    ui: &mut egui::Ui,
    scene: &mut AttentionScene,
    view: &LessonView<'_>,
) -> AttentionLayout {
    if let Some(notice) = view.notice {
        egui::Panel::top("notice").show(ui, |ui| {
            ui.colored_label(egui::Color32::from_rgb(255, 210, 120), notice);
        });
    }
    egui::Panel::right("behind the gaze")
        .resizable(true)
        .default_size(400.0)
        .show(ui, |ui| {
            egui::ScrollArea::vertical().show(ui, |ui| {
                behind_the_gaze::show(ui, scene, &view.behind, 0);
            });
        });
    egui::CentralPanel::default()
        .show(ui, |ui| {
            if let Some(message) = view.message {
                ui.colored_label(egui::Color32::from_rgb(255, 170, 80), message);
            }
            if let Some(info) = view.info {
                ui.colored_label(egui::Color32::from_rgb(150, 210, 255), info);
            }
            step3_attention::show(ui, scene, &view.attention)
        })
        .inner
}
