//! Steps 1 and 2 and the step bar, driven like a user (egui_kittest): click by label, type, press
//! keys, and read what the panels say.

mod common;

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use gaze::app::training::Trainers;
use gaze::scene::Scene;
use gaze::ui::{show_corpus_step, show_step_bar, PanelState};

type Screen = (Scene, PanelState, Trainers);

/// The app's screen for steps 1 and 2, frame by frame as the window runs it: the optimisers
/// advance (on the GPU), then the step bar and the step's panel, then what was clicked starts.
fn harness(scene: Scene) -> Harness<'static, Screen> {
    let ctx = &common::gpu().0;
    let lesson = gaze::app::lesson::Lesson::new(ctx).unwrap();
    Harness::builder()
        .with_size(egui::vec2(1280.0, 1100.0))
        .build_ui_state(
            move |ui, (scene, panels, trainers): &mut Screen| {
                trainers.update(ctx, &lesson, scene).unwrap();
                let views = trainers.views();
                show_step_bar(ui, &mut scene.step);
                egui::CentralPanel::default().show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| {
                        if !show_corpus_step(ui, scene, panels, &views) {
                            ui.label(format!("step {}", scene.step));
                        }
                    })
                });
                trainers
                    .start_requested(ctx, scene, &lesson, panels, true)
                    .unwrap();
            },
            (scene, PanelState::default(), Trainers::default()),
        )
}

/// Runs frames until `done` holds (the readbacks land between frames), at most ~60 s.
fn frames_until(harness: &mut Harness<'static, Screen>, done: impl Fn(&Screen) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !done(harness.state()) {
        assert!(std::time::Instant::now() < deadline, "gave up waiting");
        harness.step();
    }
    harness.run();
}

fn on_step(step: u8) -> Scene {
    Scene {
        step,
        ..Scene::default()
    }
}

/// The big predicted word is the only label in the prediction's size; find it by its text and
/// check the model agrees.
fn prediction(scene: &Scene) -> String {
    scene
        .corpus
        .distribution(gaze::model::corpus::DEFAULT_PREFIX)
        .prediction
        .unwrap_or_default()
}

#[test]
fn adding_duckdb_x10_makes_duckdb_the_prediction() {
    let mut harness = harness(on_step(1));
    assert_eq!(prediction(&harness.state().0), "mongodb");
    harness.get_by_label("new ending").click();
    harness.run();
    harness.get_by_label("new ending").type_text("duckdb");
    harness.run();
    harness.get_by_label("new count").click();
    harness.run();
    harness.get_by_label("new count").type_text("10");
    harness.key_press(egui::Key::Enter);
    harness.run();
    harness.get_by_label("add row").click();
    harness.run();
    assert_eq!(prediction(&harness.state().0), "duckdb");
    // The table shows it with its share: 10 of 21.
    harness.get_by_label("count of duckdb");
    harness.get_by_label("47.6%");
}

#[test]
fn plus_buttons_move_the_odds_and_the_prediction_at_once() {
    let mut harness = harness(on_step(1));
    harness.get_by_label("27.3%"); // postgresql: 3 of 11
    for _ in 0..3 {
        // The "+" of the second row: postgresql.
        harness.get_all_by_label("+").nth(1).unwrap().click();
        harness.run();
    }
    let scene = &harness.state().0;
    assert_eq!(scene.corpus.rows[1].count, 6);
    assert_eq!(prediction(scene), "postgresql");
    harness.get_by_label("42.9%"); // 6 of 14
}

#[test]
fn a_row_with_another_prefix_gets_its_own_prediction() {
    let mut harness = harness(on_step(1));
    // The prefix box starts with the first prefix; replace it as a user selecting all would.
    harness.state_mut().1.new_row.prefix = "the best language is".into();
    harness.run();
    harness.get_by_label("new ending").click();
    harness.run();
    harness.get_by_label("new ending").type_text("python");
    harness.run();
    harness.state_mut().1.new_row.count = 4;
    harness.run();
    harness.get_by_label("add row").click();
    harness.run();
    let scene = &harness.state().0;
    assert_eq!(
        scene
            .corpus
            .distribution("the best language is")
            .prediction
            .as_deref(),
        Some("python")
    );
    harness.get_by_label("the best language is ___");
    // The same ending twice for one prefix is refused, with the reason, and nothing changes.
    harness.state_mut().1.new_row.prefix = "the best language is".into();
    harness.state_mut().1.new_row.ending = "python".into();
    harness.run();
    harness.get_by_label("add row").click();
    harness.run();
    assert_eq!(harness.state().0.corpus.rows.len(), 5);
    assert!(harness.state().1.new_row.error.is_some());
}

#[test]
fn the_strength_slider_flips_the_answer_where_the_closed_form_says() {
    // Seed corpus (mongodb 5, postgresql 3), rewards +3 / −1: the flip is at s = 0.113.
    let mut scene = on_step(2);
    scene.rlhf.strength = 0.10;
    let mut harness = harness(scene);
    harness.get_by_label("how much should the model listen to humans?");
    harness.get_by_label("at this strength the model now predicts");
    assert!(harness.query_by_label("10%   β = 9.000").is_some());
    harness.get_all_by_label("mongodb").next().unwrap();
    let shows_prediction = |harness: &Harness<'_, Screen>, word: &str| {
        // The predicted word appears in the picker, the table and once more, large.
        harness.get_all_by_label(word).count() >= 3
    };
    assert!(shows_prediction(&harness, "mongodb"));
    harness.state_mut().0.rlhf.strength = 0.12;
    harness.run();
    assert!(shows_prediction(&harness, "postgresql"));
    assert!(!shows_prediction(&harness, "mongodb"));
}

#[test]
fn picking_another_answer_and_the_math_uses_the_model_numbers() {
    let mut harness = harness(on_step(2));
    // The picker's "sqlite" (the table lists it too, below).
    harness.get_all_by_label("sqlite").next().unwrap().click();
    harness.run();
    assert_eq!(harness.state().0.rlhf.preferred, "sqlite");
    harness.get_by_label("show the math").click();
    harness.run();
    // s = 0.5: β = 1, so sqlite's new logit is ln 1 + 3/1 = +3.000 and mongodb's ln 5 − 1.
    assert!(harness.get_all_by_label("+3.000").count() >= 1);
    harness.get_by_label(&format!("{:+.3}", 5f64.ln() - 1.0));
    let outcome = gaze::model::rlhf::apply(
        &harness
            .state()
            .0
            .corpus
            .distribution(gaze::model::corpus::DEFAULT_PREFIX),
        "sqlite",
        0.5,
        gaze::model::rlhf::Rewards::default(),
    )
    .unwrap();
    for row in &outcome.rows {
        let p = format!("{:.4}", row.probability);
        assert!(
            harness.get_all_by_label(&p).count() >= 1,
            "{} {p}",
            row.ending
        );
    }
}

#[test]
fn an_unseen_word_is_refused_with_the_reason() {
    let mut harness = harness(on_step(2));
    harness.get_by_label("or type one:").click();
    harness.run();
    harness.get_by_label("or type one:").type_text("oracle");
    harness.run();
    harness.key_press(egui::Key::Enter);
    harness.run();
    harness.run();
    harness.get_by_label("pretraining never saw 'oracle' — no finite reward can reach it");
}

#[test]
fn keys_and_the_step_bar_move_between_steps() {
    let mut harness = harness(on_step(1));
    harness.get_by_label("2 RLHF").click();
    harness.run();
    assert_eq!(harness.state().0.step, 2);
    harness.key_press(egui::Key::ArrowRight);
    harness.run();
    assert_eq!(harness.state().0.step, 3);
    harness.key_press(egui::Key::ArrowRight);
    harness.run();
    assert_eq!(harness.state().0.step, 4);
    harness.key_press(egui::Key::ArrowRight);
    harness.run();
    assert_eq!(harness.state().0.step, 4, "4 is the last step");
    harness.key_press(egui::Key::Num1);
    harness.run();
    assert_eq!(harness.state().0.step, 1);
    harness.key_press(egui::Key::ArrowLeft);
    harness.run();
    assert_eq!(harness.state().0.step, 1);
}

#[test]
fn train_runs_the_fit_on_the_gpu_and_the_loss_falls_to_the_counts() {
    let mut harness = harness(on_step(1));
    harness.get_by_label("Train").click();
    harness.run();
    // Partway: the curve is there and the button says it is busy; before the first batch lands
    // the loss reads "-", never NaN.
    harness.get_by_label("training…");
    assert!(harness.query_by_label_contains("NaN").is_none());
    frames_until(&mut harness, |(_, _, t)| {
        t.fit().is_some_and(|f| f.finished())
    });
    harness.get_by_label_contains("step 300 / 300 on the GPU");
    harness.get_by_label("trained model");
    let fit = harness.state().2.fit().unwrap().view();
    assert!(fit.losses[0] > fit.losses[299], "the loss fell");
    assert!(
        (fit.losses[0] - 4f32.ln()).abs() < 1e-5,
        "it started from uniform odds"
    );
    harness.get_by_label_contains("loss curve: 300 steps");
    // The fitted bars read the counts' shares: mongodb 5 of 11 = 45.5%, now twice.
    assert_eq!(harness.get_all_by_label("45.5%").count(), 2);
    harness.get_by_label_contains("the best database is ___: KL(counts || trained) =");
    harness.get_by_label_contains("matches the counts");
}

#[test]
fn editing_a_count_drops_the_fit_it_no_longer_describes() {
    let mut harness = harness(on_step(1));
    harness.get_by_label("Train").click();
    harness.run();
    frames_until(&mut harness, |(_, _, t)| {
        t.fit().is_some_and(|f| f.finished())
    });
    harness.get_by_label("trained model");
    harness.get_all_by_label("+").next().unwrap().click();
    harness.run();
    assert!(harness.state().2.fit().is_none());
    assert!(harness.query_by_label("trained model").is_none());
    harness.get_by_label("Train");
}

#[test]
fn fine_tune_for_real_lands_on_the_closed_form() {
    let mut harness = harness(on_step(2));
    harness.get_by_label("fine-tune for real").click();
    harness.run();
    frames_until(&mut harness, |(_, _, t)| {
        t.fine_tune()
            .is_some_and(|f| f.view().kl_to_closed_form.is_some())
    });
    harness.get_by_label_contains("200 steps on the GPU: KL(closed form || fine-tuned) =");
    harness.get_by_label_contains("lands on the closed form");
    harness.get_by_label_contains("the optimiser's path: 200 of 200 steps drawn");
    // Moving the slider moves the closed form: the old climb is dropped.
    harness.state_mut().0.rlhf.strength = 0.9;
    harness.run();
    assert!(harness.state().2.fine_tune().is_none());
}

#[test]
fn a_typed_count_that_is_not_a_whole_number_is_refused_and_the_count_kept() {
    let mut harness = harness(on_step(1));
    for (typed, reason) in [
        (
            "-2",
            "count of mysql: `-2` is negative; a count cannot be below 0",
        ),
        ("2.5", "count of mysql: `2.5` is not a whole number"),
        ("lots", "count of mysql: `lots` is not a whole number"),
        (
            "1000000001",
            "count of mysql: `1000000001` is above the largest count",
        ),
    ] {
        harness.get_by_label("count of mysql").click();
        harness.run();
        harness.get_by_label("count of mysql").type_text(typed);
        harness.key_press(egui::Key::Enter);
        harness.run();
        harness.get_by_label_contains(reason);
        assert_eq!(harness.state().0.corpus.rows[2].count, 2, "after `{typed}`");
    }
    // A whole number goes in, and the message goes away.
    harness.get_by_label("count of mysql").click();
    harness.run();
    harness.get_by_label("count of mysql").type_text("7");
    harness.key_press(egui::Key::Enter);
    harness.run();
    assert_eq!(harness.state().0.corpus.rows[2].count, 7);
    assert!(harness
        .query_by_label_contains("is not a whole number")
        .is_none());
    assert!(harness.query_by_label_contains("negative").is_none());
}

#[test]
fn key_t_trains_on_step_1_and_fine_tunes_on_step_2() {
    let mut harness = harness(on_step(1));
    harness.key_press(egui::Key::T);
    harness.run();
    assert!(harness.state().2.fit().is_some(), "T started the fit");
    harness.key_press(egui::Key::Num2);
    harness.run();
    harness.key_press(egui::Key::T);
    harness.run();
    assert!(
        harness.state().2.fine_tune().is_some(),
        "T started the fine-tune"
    );
}
