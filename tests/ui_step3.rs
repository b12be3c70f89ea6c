//! Step 3's panel driven like a user (egui_kittest): click by label, read the result.

mod common;

use common::gpu;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use gaze::app::lesson::Lesson;
use gaze::model::attention::{attend, AttentionOptions, AttentionResult, QueryRows};
use gaze::model::lesson::{LessonModel, LessonToken};
use gaze::render::colormap::Colormap;
use gaze::scene::AttentionScene;
use gaze::ui::step3_attention::{self, AttentionView};

struct Derived {
    tokens: Vec<LessonToken>,
    head_names: Vec<String>,
    result: AttentionResult,
}

/// What the app derives from a scene, on the CPU reference.
fn derive(scene: &AttentionScene) -> Derived {
    let model = LessonModel::builtin().unwrap();
    let options = AttentionOptions {
        causal: scene.causal,
        positions: scene.positions,
        key_padding_mask: None,
    };
    let (tokens, input) = model
        .attention_input(&scene.sentence, scene.heads, options)
        .unwrap();
    Derived {
        tokens,
        head_names: model
            .heads()
            .iter()
            .take(scene.heads)
            .map(|h| h.name.clone())
            .collect(),
        result: attend(&input, QueryRows::All).unwrap(),
    }
}

fn harness(derived: &Derived, scene: AttentionScene) -> Harness<'_, AttentionScene> {
    Harness::builder()
        .with_size(egui::vec2(1200.0, 800.0))
        .build_ui_state(
            move |ui, scene: &mut AttentionScene| {
                let view = AttentionView {
                    tokens: &derived.tokens,
                    head_names: &derived.head_names,
                    result: Some(&derived.result),
                    colormap: Colormap::Viridis,
                    dt: 0.016,
                    snap: false,
                };
                step3_attention::show(ui, scene, &view);
            },
            scene,
        )
}

#[test]
fn clicking_a_token_moves_the_focus() {
    let scene = AttentionScene::default();
    let derived = derive(&scene);
    let mut harness = harness(&derived, scene);
    assert_eq!(harness.state().focus, 3);
    harness.get_by_label("best").click();
    harness.run();
    assert_eq!(harness.state().focus, 1);
    harness.get_by_label("database").click();
    harness.run();
    assert_eq!(harness.state().focus, 2);
}

#[test]
fn causal_switch_zeroes_the_upper_triangle() {
    let scene = AttentionScene::default();
    let derived = derive(&scene);
    let mut harness = harness(&derived, scene);
    harness.get_by_label("causal mask").click();
    harness.run();
    let scene = harness.state().clone();
    assert!(scene.causal, "the switch turned the mask on");

    // What the app computes next, on the GPU, from the edited scene.
    let (ctx, _) = gpu();
    let lesson = Lesson::new(ctx).unwrap();
    let mut stage = None;
    assert!(
        lesson.update(ctx, &scene, &mut stage).unwrap(),
        "the edit triggers a recompute"
    );
    assert!(
        !lesson.update(ctx, &scene, &mut stage).unwrap(),
        "nothing is recomputed when nothing changed"
    );
    let stage = stage.as_mut().unwrap();
    stage.wait_readback(ctx).unwrap();
    let result = stage.result.as_ref().unwrap();
    let n = stage.tokens.len();
    for i in 0..n {
        let row = result.weights_row(0, i).unwrap();
        assert!(row[i + 1..].iter().all(|&w| w == 0.0), "row {i}: {row:?}");
    }
}

#[test]
fn heads_and_positions_switches_edit_the_scene() {
    let scene = AttentionScene::default();
    let derived = derive(&scene);
    let mut harness = harness(&derived, scene);
    harness.get_by_label("4 heads").click();
    harness.run();
    harness.get_by_label("rope").click();
    harness.run();
    assert_eq!(harness.state().heads, 4);
    assert_eq!(
        harness.state().positions,
        gaze::model::positions::Positions::Rope
    );
}

#[test]
fn typing_a_sentence_edits_the_scene() {
    let scene = AttentionScene::default();
    let derived = derive(&scene);
    let mut harness = harness(&derived, scene);
    let sentence = harness.get_by_label("sentence:");
    sentence.click();
    harness.run();
    harness.get_by_label("sentence:").type_text(" fast");
    harness.run();
    assert_eq!(harness.state().sentence, "the best database is fast");
}
