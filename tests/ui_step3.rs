//! Step 3's panel driven like a user (egui_kittest): click by label, read the result.

mod common;

use common::gpu;
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use gaze::app::lesson::Lesson;
use gaze::model::attention::{attend, AttentionOptions, AttentionResult, QueryRows};
use gaze::model::lesson::LessonModel;
use gaze::model::transformer::{HeadRef, ShownHead, Token, TransformerModel};
use gaze::render::colormap::Colormap;
use gaze::scene::AttentionScene;
use gaze::ui::step3_attention::{self, AttentionLayout, AttentionView};

struct Derived {
    tokens: Vec<Token>,
    heads: Vec<ShownHead>,
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
        tokens: tokens.iter().map(Token::from).collect(),
        heads: (0..scene.heads)
            .map(|head| model.shown_head(HeadRef { layer: 0, head }))
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
                    heads: &derived.heads,
                    result: Some(&derived.result),
                    colormap: Colormap::Viridis,
                    dt: 0.016,
                    snap: false,
                    particles: true,
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
    let mut stage = gaze::app::lesson::AttentionLesson::default();
    assert!(
        lesson.update(ctx, &scene, &mut stage).unwrap(),
        "the edit triggers a recompute"
    );
    assert!(
        !lesson.update(ctx, &scene, &mut stage).unwrap(),
        "nothing is recomputed when nothing changed"
    );
    stage.wait(ctx, &lesson).unwrap();
    let stage = stage.shown().unwrap();
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

/// A megabyte pasted into the sentence box (a page copied by mistake) never reaches the box:
/// the sentence is unchanged, a note says why, and the next ordinary paste goes in and clears it.
#[test]
fn an_enormous_paste_into_the_sentence_is_refused_and_the_sentence_kept() {
    let scene = AttentionScene::default();
    let derived = derive(&scene);
    let mut harness = harness(&derived, scene);
    harness.get_by_label("sentence:").click();
    harness.run();
    harness.event(egui::Event::Paste("the best database is ".repeat(50_000)));
    harness.run();
    assert_eq!(harness.state().sentence, "the best database is");
    assert!(harness
        .query_by_label_contains("the paste is 1050000 characters; a sentence takes at most 4096")
        .is_some());
    harness.event(egui::Event::Paste(" fast".into()));
    harness.run();
    assert_eq!(harness.state().sentence, "the best database is fast");
    assert!(harness.query_by_label_contains("the paste is").is_none());
}

#[test]
fn dragging_a_key_weight_changes_the_attention() {
    use gaze::model::attention::AttentionInput;
    use gaze::ui::behind_the_gaze::{self, BehindView};

    let model = LessonModel::builtin().unwrap();
    let scene = AttentionScene::default();
    let derived = derive(&scene);
    let (_, input): (_, AttentionInput) = model
        .attention_input("the best database is", 1, AttentionOptions::default())
        .unwrap();
    let weights = input.heads.clone();
    let mut harness = Harness::builder()
        .with_size(egui::vec2(700.0, 1400.0))
        .build_ui_state(
            |ui, scene: &mut AttentionScene| {
                let view = BehindView {
                    tokens: &derived.tokens,
                    result: Some(&derived.result),
                    features: model.features(),
                    head_dims: model.head_dims(),
                    value_dims: model.value_dims(),
                    weights: &weights,
                    stream: &input.x,
                    w_o: model.w_o(),
                    focus_scores: None,
                    carried: None,
                };
                behind_the_gaze::show(ui, scene, &view, 0);
            },
            scene,
        );
    harness.get_by_label("edit head 1's weights").click();
    harness.run();
    // Drag `W_K quality -> description` to the right: `best` (a quality) becomes a louder key.
    let handle = harness
        .get_by_label("W_K quality -> description")
        .rect()
        .center();
    harness.drag_at(handle);
    harness.run();
    for step in 1..=10 {
        harness.hover_at(handle + egui::vec2(12.0 * step as f32, 0.0));
        harness.run();
    }
    harness.drop_at(handle + egui::vec2(120.0, 0.0));
    harness.run();

    let edited = harness.state().clone();
    assert_eq!(edited.weight_edits.len(), 1, "{:?}", edited.weight_edits);
    assert!(
        edited.weight_edits[0].value > 1.5,
        "dragged up: {:?}",
        edited.weight_edits[0]
    );

    let (_, before) = model
        .attention_input("the best database is", 1, AttentionOptions::default())
        .unwrap();
    let (_, after) = model
        .attention_input_with_edits(
            "the best database is",
            1,
            AttentionOptions::default(),
            &edited.weight_edits,
        )
        .unwrap();
    let p = |input: &AttentionInput| {
        attend(input, QueryRows::Focus(3))
            .unwrap()
            .weights_row(0, 3)
            .unwrap()
            .to_vec()
    };
    let (old, new) = (p(&before), p(&after));
    assert!(
        new[1] > old[1],
        "`is` now looks more at `best`: {old:?} → {new:?}"
    );
}

/// egui's test harness panics on a glyph the fonts lack; drawing the whole lesson screen with
/// every section open, a causal mask (−∞ scores) and estimated words proves every string renders.
#[test]
fn every_string_on_the_lesson_screen_has_glyphs() {
    use gaze::ui::behind_the_gaze::BehindView;
    use gaze::ui::{show_attention_step, LessonView};

    let model = LessonModel::builtin().unwrap();
    let scene = AttentionScene {
        sentence: "the excellent zzyzxqv database is".into(),
        focus: 2,
        heads: 2,
        causal: true,
        residual_norm: true,
        ..AttentionScene::default()
    };
    let derived = derive(&scene);
    let options = AttentionOptions {
        causal: true,
        ..AttentionOptions::default()
    };
    let (_, input) = model.attention_input(&scene.sentence, 2, options).unwrap();
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1400.0, 1600.0))
        .build_ui_state(
            |ui, scene: &mut AttentionScene| {
                let view = LessonView {
                    attention: AttentionView {
                        tokens: &derived.tokens,
                        heads: &derived.heads,
                        result: Some(&derived.result),
                        colormap: Colormap::Cividis,
                        dt: 0.016,
                        snap: false,
                        particles: true,
                    },
                    behind: Some(BehindView {
                        tokens: &derived.tokens,
                        result: Some(&derived.result),
                        features: model.features(),
                        head_dims: model.head_dims(),
                        value_dims: model.value_dims(),
                        weights: &input.heads,
                        stream: &input.x,
                        w_o: model.w_o(),
                        focus_scores: None,
                        carried: None,
                    }),
                    message: Some("a message: the sentence has no words"),
                    info: Some("added notes.md (3 words) to the knowledge base"),
                    notice: Some(gaze::app::window::CPU_NOTICE),
                };
                show_attention_step(ui, scene, &view);
            },
            scene,
        );
    for section in [
        "Q (what each token looks for)",
        "V (what each token passes on)",
        "edit head 1's weights",
    ] {
        harness.get_by_label(section).click();
        harness.run();
    }
    // Hover a heatmap cell for its tooltip, and a token marked as estimated.
    if let Some(token) = harness.get_all_by_label("zzyzxqv").next() {
        token.hover();
    }
    harness.run();
    assert!(harness
        .query_by_label("italic = estimated embedding")
        .is_some());
}

/// A second kind of model — here a toy two-layer decoder written in this test, nothing like the
/// lesson model — reaches the step-3 view by implementing `TransformerModel` alone: its tokens,
/// its head's name and its weights are what the view prints, and the lesson-only panel (named
/// features, weight editing) is absent because the model has no named features.
#[test]
fn a_second_model_shows_through_the_step_three_view_by_implementing_the_trait() {
    use gaze::model::transformer::{HeadMap, ModelError};
    use gaze::ui::{show_attention_step, LessonView};

    /// Each token attends to itself and every earlier one, with weight growing with position
    /// and sharper in later layers: a causal map with a known answer.
    struct Toy;
    impl TransformerModel for Toy {
        fn name(&self) -> String {
            "a toy decoder".into()
        }
        fn layers(&self) -> usize {
            2
        }
        fn heads(&self) -> usize {
            3
        }
        fn tokenize(&self, text: &str) -> Result<Vec<Token>, ModelError> {
            Ok(text
                .split_whitespace()
                .enumerate()
                .map(|(i, w)| Token {
                    text: w.to_owned(),
                    id: Some(i as u32),
                    note: None,
                })
                .collect())
        }
        fn attention(&self, text: &str, head: HeadRef) -> Result<HeadMap, ModelError> {
            self.check_head(head)?;
            let tokens = self.tokenize(text)?;
            let n = tokens.len();
            let power = (head.layer + 1) as f32;
            let mut weights = vec![0.0f32; n * n];
            for i in 0..n {
                let total: f32 = (0..=i).map(|j| ((j + 1) as f32).powf(power)).sum();
                for j in 0..=i {
                    weights[i * n + j] = ((j + 1) as f32).powf(power) / total;
                }
            }
            Ok(HeadMap {
                head,
                tokens,
                weights,
                causal: true,
            })
        }
    }

    let toy = Toy;
    let head = HeadRef { layer: 1, head: 2 };
    let map = toy.attention("models read left to right", head).unwrap();
    let result = map.to_result().unwrap();
    assert!(toy.features().is_none());
    assert!(toy.attention("a b", HeadRef { layer: 2, head: 0 }).is_err());
    let heads = vec![toy.shown_head(head)];
    assert_eq!(heads[0].label, "layer 2, head 3");
    assert_eq!(heads[0].head, head);
    let scene = AttentionScene {
        sentence: "models read left to right".into(),
        focus: 4,
        ..AttentionScene::default()
    };
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1200.0, 900.0))
        .build_ui_state(
            |ui, (scene, layout): &mut (AttentionScene, AttentionLayout)| {
                let view = LessonView {
                    attention: AttentionView {
                        tokens: &map.tokens,
                        heads: &heads,
                        result: Some(&result),
                        colormap: Colormap::Viridis,
                        dt: 0.016,
                        snap: true,
                        particles: false,
                    },
                    behind: toy
                        .features()
                        .map(|_| unreachable!("the toy has no features")),
                    message: None,
                    info: None,
                    notice: None,
                };
                *layout = show_attention_step(ui, scene, &view);
            },
            (scene, AttentionLayout::default()),
        );
    harness.run();
    assert!(harness.query_by_label_contains("layer 2, head 3").is_some());
    for word in ["models", "read", "left", "right"] {
        assert!(harness.query_by_label(word).is_some(), "token {word} shown");
    }
    // The last row: weights (j+1)² / 55 — 1/55 .. 25/55; the cell's tooltip prints its weight.
    let last_row: Vec<f32> = result.weights_row(0, 4).unwrap().to_vec();
    assert!((last_row[4] - 25.0 / 55.0).abs() < 1e-6);
    let rect = harness.state().1.heatmaps[0];
    let cell = rect.width() / 5.0;
    harness.hover_at(rect.min + egui::vec2(4.5 * cell, 4.5 * cell));
    harness.run();
    assert!(
        harness
            .query_all_by_label_contains("right -> right: 0.4545")
            .next()
            .is_some(),
        "the strongest weight, 25/55, is what the view prints for that cell"
    );
    assert!(
        harness.query_by_label_contains("Behind the gaze").is_none(),
        "no lesson-only panel for a model without named features"
    );
}
