//! The "scenes" menu, driven like a user (egui_kittest): open it by its label, click a lesson
//! scene by its title, and check the scene the app would draw became that one. No GPU: the menu
//! only edits the scene.

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use gaze::model::positions::Positions;
use gaze::scene::Scene;
use gaze::scene_library::SHIPPED;
use gaze::ui::scenes_menu::{self, SceneAction};

/// The scene, the last message, and the last file action asked for.
type Screen = (Scene, Option<String>, Option<SceneAction>);

/// A top bar with the menu, acting on what it returns as the window does; the message line and
/// the step below it.
fn harness(scene: Scene) -> Harness<'static, Screen> {
    Harness::builder()
        .with_size(egui::vec2(1000.0, 800.0))
        .build_ui_state(
            |ui, (scene, message, asked): &mut Screen| {
                egui::Panel::top("top bar").show(ui, |ui| {
                    ui.horizontal(|ui| match scenes_menu::show(ui) {
                        Some(SceneAction::OpenShipped(index)) => {
                            *message = Some(match scenes_menu::apply_shipped(scene, index) {
                                Ok(opened) => opened,
                                Err(error) => error.to_string(),
                            });
                        }
                        Some(action) => *asked = Some(action),
                        None => {}
                    });
                });
                egui::CentralPanel::default().show(ui, |ui| {
                    if let Some(message) = message {
                        ui.label(message.as_str());
                    }
                    ui.label(format!("step {}", scene.step));
                });
            },
            (scene, None, None),
        )
}

/// Opens the menu and clicks the entry titled `title`.
fn choose(harness: &mut Harness<'static, Screen>, title: &str) {
    harness.get_by_label("scenes").click();
    harness.run();
    harness.get_by_label(title).click();
    harness.run();
}

#[test]
fn clicking_a_story_scene_replaces_the_scene_with_it() {
    let mut harness = harness(Scene::default());
    choose(&mut harness, "2 RLHF: a preference flips the answer");
    let scene = &harness.state().0;
    assert_eq!(scene.step, 2);
    assert_eq!(scene.rlhf.preferred, "postgresql");
    assert_eq!(scene.rlhf.strength, 0.25);
    harness.get_by_label("opened the lesson scene \"2 RLHF: a preference flips the answer\"");
    harness.get_by_label("step 2");
}

#[test]
fn the_causal_mask_scene_turns_the_mask_on_with_the_focus_early() {
    let mut harness = harness(Scene::default());
    assert!(!harness.state().0.attention.causal);
    choose(&mut harness, "honesty check: the causal mask");
    let attention = &harness.state().0.attention;
    assert!(attention.causal);
    assert_eq!(attention.sentence, "it is the best database");
    assert_eq!(attention.focus, 1);
    assert_eq!(harness.state().0.step, 3);
}

#[test]
fn every_shipped_scene_is_in_the_menu_and_opens_from_it() {
    let mut harness = harness(Scene {
        step: 1,
        ..Scene::default()
    });
    for shipped in &SHIPPED {
        choose(&mut harness, shipped.title);
        assert_eq!(
            harness.state().0,
            shipped.open().unwrap(),
            "{}",
            shipped.title
        );
    }
    assert_eq!(
        harness.state().0.attention.positions,
        Positions::None,
        "the last scene (rag.json) leaves step 3 at the defaults"
    );
}

#[test]
fn open_and_save_are_offered_and_reported_to_the_window() {
    let mut harness = harness(Scene::default());
    let before = harness.state().0.clone();
    choose(&mut harness, "open scene file…");
    assert_eq!(harness.state().2, Some(SceneAction::OpenFile));
    choose(&mut harness, "save scene as…");
    assert_eq!(harness.state().2, Some(SceneAction::SaveFile));
    assert_eq!(
        harness.state().0,
        before,
        "the menu itself changes no scene"
    );
}
