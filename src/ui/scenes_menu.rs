//! The "scenes" menu in the top bar: the shipped lesson scenes (one per step of the story, then
//! the honesty-check demonstrations, then the others), and natively "open scene file…" and
//! "save scene as…". The web build offers no files: a scene there lives in the page's link.
//!
//! The menu only reports what was chosen ([`SceneAction`]); the window does it, because only the
//! window can open a native dialog or replace the scene its GPU state was built from.

use crate::scene::{OpenedScene, Scene};
use crate::scene_library::{ShippedError, ShippedKind, SHIPPED};

/// Whether this build offers scene files (native: yes; the browser shares scenes by link).
pub const FILE_DIALOGS: bool = cfg!(not(target_arch = "wasm32"));

/// What the user chose in the menu this frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SceneAction {
    /// Open `SHIPPED[index]` (see [`apply_shipped`]).
    OpenShipped(usize),
    /// Show the "open" dialog (`app::scene_files::spawn_open_dialog`).
    OpenFile,
    /// Show the "save" dialog (`app::scene_files::spawn_save_dialog`).
    SaveFile,
}

/// Draws the "scenes" menu button where the caller's `ui` is (the top bar's row) and returns
/// what was clicked, if anything. Every entry is a button with its text as its accessible label;
/// a shipped scene's hover text is its one-sentence `about`.
pub fn show(ui: &mut egui::Ui) -> Option<SceneAction> {
    let mut action = None;
    ui.menu_button("scenes", |ui| {
        let mut group = None;
        for (index, shipped) in SHIPPED.iter().enumerate() {
            let kind = shipped.kind();
            if group != Some(kind) {
                if group.is_some() {
                    ui.separator();
                }
                ui.weak(kind.heading());
                group = Some(kind);
            }
            if ui
                .button(shipped.title)
                .on_hover_text(shipped.about)
                .clicked()
            {
                action = Some(SceneAction::OpenShipped(index));
                ui.close();
            }
        }
        ui.separator();
        if FILE_DIALOGS {
            if ui
                .button("open scene file…")
                .on_hover_text(
                    "open a scene file (JSON); anything this build does not read is listed",
                )
                .clicked()
            {
                action = Some(SceneAction::OpenFile);
                ui.close();
            }
            if ui
                .button("save scene as…")
                .on_hover_text(
                    "save the whole lesson (corpus, preference, sentence, switches, step) as a \
                     scene file that opens here and with gaze --scene",
                )
                .clicked()
            {
                action = Some(SceneAction::SaveFile);
                ui.close();
            }
        } else {
            ui.weak("to share this scene, copy the page's link");
        }
    });
    action
}

/// Replaces the scene with `SHIPPED[index]` and returns the message to show. On an error the
/// scene is left as it was.
pub fn apply_shipped(scene: &mut Scene, index: usize) -> Result<String, ShippedError> {
    let shipped = SHIPPED.get(index).ok_or(ShippedError::Index(index))?;
    *scene = shipped.open()?;
    Ok(format!("opened the lesson scene \"{}\"", shipped.title))
}

/// Replaces the scene with one read from a file called `name` and returns the message to show:
/// that it opened, and every note on what was not read.
pub fn apply_opened(scene: &mut Scene, opened: OpenedScene, name: &str) -> String {
    let message = match opened.notes_line() {
        Some(notes) => format!("opened {name}; {notes}"),
        None => format!("opened {name}"),
    };
    *scene = opened.scene;
    message
}

impl ShippedKind {
    /// The menu's heading over the group.
    pub fn heading(self) -> &'static str {
        match self {
            ShippedKind::Story => "the lesson, step by step",
            ShippedKind::Demonstration => "honesty checks",
            ShippedKind::Other => "more scenes",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shipped_scene_replaces_the_scene_and_says_so() {
        let mut scene = Scene::default();
        let index = SHIPPED
            .iter()
            .position(|s| s.file == "causal_mask.json")
            .unwrap();
        let message = apply_shipped(&mut scene, index).unwrap();
        assert!(scene.attention.causal);
        assert_eq!(
            message,
            "opened the lesson scene \"honesty check: the causal mask\""
        );
    }

    #[test]
    fn a_bad_index_changes_nothing() {
        let mut scene = Scene::default();
        scene.attention.heads = 2;
        let before = scene.clone();
        let error = apply_shipped(&mut scene, SHIPPED.len()).unwrap_err();
        assert!(error.to_string().contains("no shipped scene number"));
        assert_eq!(scene, before);
    }

    #[test]
    fn an_opened_file_replaces_the_scene_and_lists_its_notes() {
        let mut scene = Scene::default();
        let opened = Scene::open(r#"{ "step": 1, "attention": { "colour": "red" } }"#).unwrap();
        let message = apply_opened(&mut scene, opened, "old.json");
        assert_eq!(scene.step, 1);
        assert!(
            message.starts_with("opened old.json; the scene has no version"),
            "{message}"
        );
        assert!(message.contains("\"attention.colour\""), "{message}");
        let clean = Scene::open(&Scene::default().to_json()).unwrap();
        assert_eq!(apply_opened(&mut scene, clean, "x.json"), "opened x.json");
    }
}
