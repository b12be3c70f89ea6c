//! Step 4's panel as the window runs it, on the shared GPU: for tests/ui_step4.rs and
//! tests/hardening_inputs.rs.

use egui_kittest::Harness;
use gaze::app::context_lesson::ContextLesson;
use gaze::app::lesson::Lesson;
use gaze::scene::Scene;
use gaze::ui::{show_step_bar, step4_context, PanelState};

/// The scene, the panels' own state, step 4's derived state, and why it last refused.
pub type Screen = (Scene, PanelState, ContextLesson, Option<String>);

/// The window's step-4 frame: derive (recompute what changed, wait for the numbers — a test
/// may block), draw the step bar and the panel, then do what the panel asked for.
/// With `any_glyphs`, text the fonts lack is drawn as boxes (as the app does) instead of failing.
pub fn harness(scene: Scene, any_glyphs: bool) -> Harness<'static, Screen> {
    let ctx = &super::gpu().0;
    let lesson = Lesson::new(ctx).expect("the lesson builds");
    let mut builder = Harness::builder().with_size(egui::vec2(1400.0, 1100.0));
    if any_glyphs {
        builder = builder.allow_missing_glyphs();
    }
    builder.build_ui_state(
        move |ui, (scene, panels, step4, refusal): &mut Screen| {
            match step4.update(ctx, &lesson, scene) {
                Ok(true) => *refusal = None,
                Ok(false) => {}
                Err(error) => *refusal = Some(error.to_string()),
            }
            step4.wait(ctx, &lesson).expect("the readback lands");
            show_step_bar(ui, &mut scene.step);
            let view = step4.view(refusal.as_deref());
            egui::CentralPanel::default().show(ui, |ui| {
                egui::ScrollArea::vertical().show(ui, |ui| {
                    step4_context::show(
                        ui,
                        &mut scene.context,
                        &mut scene.attention.sentence,
                        &mut scene.attention.focus,
                        &mut panels.context,
                        &view,
                    );
                });
            });
            if let Some(folder) = panels.context.folder_requested.take() {
                panels.context.report = Some(gaze::app::context_lesson::add_folder(scene, &folder));
            }
        },
        (scene, PanelState::default(), ContextLesson::default(), None),
    )
}

/// Step 4 at `level`, retrieving from the two sample files only (the ~12k-token archive is
/// switched off: on a software GPU its O(N²) overview takes ~20 s per edit).
pub fn at_level(level: u8) -> Scene {
    let mut scene = Scene {
        step: 4,
        ..Scene::default()
    };
    scene.context.level = level;
    scene.context.archive = false;
    scene
}
