//! The banner that offers back a scene saved when Gaze last stopped unexpectedly
//! (`app::recovery`): restore it, or discard it. It stays until the user chooses, above every
//! step, and changes nothing until then.

use crate::ui::theme::palette;

/// The user's answer to the offer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryChoice {
    /// Open the saved scene in place of the current one.
    Restore,
    /// Keep the current scene; the saved one is set aside.
    Discard,
}

/// Shows the offer (`summary`: when it was saved and what it held) and returns the choice made
/// this frame.
pub fn show(ui: &mut egui::Ui, summary: &str) -> Option<RecoveryChoice> {
    let colours = palette(ui);
    let mut choice = None;
    egui::Panel::top("recovery").show(ui, |ui| {
        ui.horizontal_wrapped(|ui| {
            ui.colored_label(
                colours.notice,
                format!("Gaze closed unexpectedly last time. Your scene was saved ({summary})."),
            );
            if ui.button("restore that scene").clicked() {
                choice = Some(RecoveryChoice::Restore);
            }
            if ui.button("discard it").clicked() {
                choice = Some(RecoveryChoice::Discard);
            }
        });
    });
    choice
}
