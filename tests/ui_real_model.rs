//! Steps 1 and 2 on a real model, and the top bar's model menu, driven like a user
//! (egui_kittest): pick the model by its label, read the real odds beside the corpus's, type a
//! preference the lesson model would refuse. The frame runs as the window's does: the model
//! slot collects what was read, brings the odds up to date (waiting, as headless renders do),
//! then the top bar and the step's panel draw, and what was picked is applied.
//!
//! A tiny synthetic Llama (its GGUF written in memory) runs in every build; the last test runs
//! SmolLM2-135M itself when `GAZE_MODEL` names it (CI fetches it).

mod common;

use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use gaze::app::model_slot::ModelSlot;
use gaze::app::real_lesson::LoadedModel;
use gaze::model::llm::gguf::GgufFile;
use gaze::model::llm::synthetic::{synthetic_gguf, SyntheticSpec};
use gaze::scene::{Scene, SceneModel};
use gaze::ui::model_picker::{self, LESSON_MODEL_LABEL};
use gaze::ui::{show_corpus_step, PanelState, TrainingViews};

type Screen = (Scene, PanelState, ModelSlot);

fn harness(scene: Scene, slot: ModelSlot) -> Harness<'static, Screen> {
    Harness::builder()
        .with_size(egui::vec2(1600.0, 1400.0))
        .build_ui_state(
            |ui, (scene, panels, slot): &mut Screen| {
                let _ = slot.poll_loading(scene);
                slot.update(scene, true);
                let mut picked = None;
                egui::Panel::top("top bar").show(ui, |ui| {
                    ui.horizontal(|ui| picked = model_picker::show(ui, &slot.view(scene)));
                });
                model_picker::note(ui, &slot.view(scene), scene.step);
                let views = TrainingViews {
                    real: slot.odds_view(scene),
                    ..TrainingViews::default()
                };
                egui::CentralPanel::default().show(ui, |ui| {
                    egui::ScrollArea::vertical().show(ui, |ui| {
                        if !show_corpus_step(ui, scene, panels, &views) {
                            ui.label(format!("step {}", scene.step));
                        }
                    });
                });
                if let Some(action) = picked {
                    slot.apply(action, scene);
                }
            },
            (scene, PanelState::default(), slot),
        )
}

/// Step 3's real panel as the screen draws it on step 3 with a real model live.
fn harness3(scene: Scene, slot: ModelSlot) -> Harness<'static, Screen> {
    Harness::builder()
        .with_size(egui::vec2(1600.0, 1200.0))
        .build_ui_state(
            |ui, (scene, _, slot): &mut Screen| {
                slot.update(scene, true);
                egui::CentralPanel::default().show(ui, |ui| {
                    let colormap = gaze::render::colormap::Colormap::Viridis;
                    match slot.attention_view(scene, colormap) {
                        Some(view) => gaze::ui::step3_real::show(ui, &mut scene.attention, &view),
                        None => {
                            ui.label("the lesson's step 3");
                        }
                    }
                });
            },
            (scene, PanelState::default(), slot),
        )
}

fn tiny() -> LoadedModel {
    let file = GgufFile::parse(synthetic_gguf(&SyntheticSpec::default())).unwrap();
    LoadedModel::from_gguf(&file, "tiny.gguf").unwrap()
}

/// A scene on `step` with `loaded` live.
fn live_on(step: u8, loaded: &LoadedModel) -> Scene {
    Scene {
        step,
        model: SceneModel::File(loaded.identity.clone()),
        ..Scene::default()
    }
}

/// How step 1 prints a probability: `0.231`, or `1.9e-8` when tiny.
fn printed(p: f64) -> String {
    if p >= 1e-3 {
        format!("{p:.3}")
    } else {
        format!("{p:.1e}")
    }
}

#[test]
fn the_model_menu_switches_between_the_lesson_and_the_loaded_model() {
    let loaded = tiny();
    let mut harness = harness(
        Scene {
            step: 4,
            ..Scene::default()
        },
        ModelSlot::with_loaded(loaded.clone()),
    );
    harness.run();
    harness
        .get_by_label(&format!("model: {LESSON_MODEL_LABEL}"))
        .click();
    harness.run();
    harness
        .get_by_label_contains("tiny.gguf — 2 layers × 4 heads")
        .click();
    harness.run();
    assert_eq!(
        harness.state().0.model,
        SceneModel::File(loaded.identity.clone())
    );
    // Step 4 is still the lesson model's, and the screen says so.
    harness.get_by_label_contains("tiny.gguf is live on steps 1 to 3; step 4 still shows");
    harness.get_by_label_contains("model: tiny.gguf").click();
    harness.run();
    harness.get_by_label(LESSON_MODEL_LABEL).click();
    harness.run();
    assert_eq!(harness.state().0.model, SceneModel::Lesson);
}

#[test]
fn a_scene_made_on_a_model_not_loaded_says_so_and_shows_the_lesson() {
    let mut scene = Scene {
        step: 1,
        ..Scene::default()
    };
    scene.model = SceneModel::File(gaze::scene::ModelFile {
        file: "SmolLM2-135M-Instruct.Q4_1.gguf".into(),
        sha256: gaze::app::real_lesson::SMOLLM2_SHA256.into(),
    });
    let mut harness = harness(scene, ModelSlot::default());
    harness.run();
    harness.get_by_label_contains(
        "This scene was made on SmolLM2-135M-Instruct.Q4_1.gguf (SHA-256 b179c9523d0e…), which \
         is not loaded: the lesson model is shown.",
    );
    // The lesson's step 1, with no real column.
    assert!(harness
        .query_by_label_contains("share among these endings")
        .is_none());
    harness.get_by_label(&format!("model: {LESSON_MODEL_LABEL}"));
}

/// Every real number on step 1 is the model's own chain-rule odds, computed here again from the
/// model directly.
#[test]
fn step_1_shows_the_real_models_odds_beside_the_counts() {
    let loaded = tiny();
    let scene = live_on(1, &loaded);
    let prefix = scene.corpus.rlhf_prefix().to_owned();
    let endings: Vec<String> = scene.corpus.rows.iter().map(|r| r.ending.clone()).collect();
    let names: Vec<&str> = endings.iter().map(String::as_str).collect();
    let odds = loaded.model.prefix_odds(&prefix, &names, 10).unwrap();
    let mut harness = harness(scene, ModelSlot::with_loaded(loaded));
    harness.run();
    harness.get_by_label("tiny: share among these endings");
    harness.get_by_label_contains("What this model was trained on is not recorded in its file");
    let total: f64 = odds.endings.iter().map(|e| e.log_probability.exp()).sum();
    for chain in &odds.endings {
        let p = chain.log_probability.exp();
        assert!(
            !harness
                .get_all_by_label(&printed(p))
                .collect::<Vec<_>>()
                .is_empty(),
            "{}'s p(ending | start) = {}",
            chain.ending,
            printed(p)
        );
        let share = format!("{:.1}%", p / total * 100.0);
        assert!(
            harness.get_all_by_label(&share).next().is_some(),
            "{}'s share {share}",
            chain.ending
        );
        let tokens = chain
            .tokens
            .iter()
            .map(|t| gaze::ui::step1_pretraining::token_text(&t.token))
            .collect::<Vec<_>>()
            .join(" · ");
        harness.get_by_label(&tokens);
    }
    harness.get_by_label(&format!(
        "tiny's own top 10 next tokens after \"{prefix}\" (its whole vocabulary)"
    ));
    let best = odds.prediction().unwrap();
    assert!(
        harness.get_all_by_label(&best.ending).count() >= 2,
        "a row and the verdict"
    );
}

#[test]
fn step_2_on_a_real_model_takes_any_word_and_prints_what_it_needs_to_win() {
    let loaded = tiny();
    let mut harness = harness(live_on(2, &loaded), ModelSlot::with_loaded(loaded.clone()));
    harness.run();
    harness.get_by_label("or type one:").click();
    harness.run();
    harness.get_by_label("or type one:").type_text("cassandra");
    harness.run();
    harness.key_press(egui::Key::Enter);
    harness.run();
    harness.run();
    assert_eq!(
        harness.state().0.rlhf.preferred,
        "cassandra",
        "a real model can say any word; the lesson model refuses it"
    );
    harness.get_by_label("show the math").click();
    harness.run();
    harness.get_by_label("base_logit = ln p_model(y | prefix)");
    harness.get_by_label("R / β to win");
    assert!(harness.get_all_by_label("cassandra").count() >= 2);
    assert!(harness.get_all_by_label("wins already").count() == 1);
    assert!(
        harness.query_by_label("fine-tune for real").is_none(),
        "the lesson's optimiser is not offered on a real base"
    );
    // Its numbers are the closed form on the model's own base.
    let scene = &harness.state().0;
    let names: Vec<&str> = scene
        .corpus
        .rows
        .iter()
        .map(|r| r.ending.as_str())
        .chain(["cassandra"])
        .collect();
    let odds = loaded
        .model
        .prefix_odds(scene.corpus.rlhf_prefix(), &names, 10)
        .unwrap();
    let rewards = gaze::model::rlhf::Rewards {
        chosen: scene.rlhf.reward_chosen,
        winner: scene.rlhf.reward_winner,
    };
    let outcome =
        gaze::model::llm::lesson::rlhf_on_model(&odds, "cassandra", scene.rlhf.strength, rewards)
            .unwrap();
    let shown = |label: String| {
        assert!(
            harness.get_all_by_label(&label).next().is_some(),
            "{label} is not on screen"
        );
    };
    for row in &outcome.rows {
        shown(format!("{:.4}", row.probability));
        if let Some(nats) = row.reward_to_win.filter(|&n| n > 0.0) {
            shown(format!("{nats:.2} nats"));
        }
    }
}

/// Step 3 on a real model: any layer and head, the heads grouped by the key/value head they
/// share, the first token's true share printed when it is hidden, and the lens's last rung the
/// model's own next-token guess.
#[test]
fn step_3_on_a_real_model_shows_any_head_its_sink_and_the_logit_lens() {
    let loaded = tiny();
    let mut scene = live_on(3, &loaded);
    scene.attention.sentence = "ab ba abba".into();
    scene.attention.focus = 1;
    let mut harness = harness3(scene, ModelSlot::with_loaded(loaded.clone()));
    harness.run();
    harness.get_by_label("Step 3 — where tiny.gguf's heads look");
    harness.get_by_label("K/V 2:");
    harness.get_by_label("3").click();
    harness.run();
    assert_eq!(harness.state().0.attention.head, 2);
    harness.get_by_label_contains("query heads 3–4 share key/value head 2");
    harness.get_by_label("layer 1 head 3 (K/V head 2)");
    let picture = loaded.model.layer_attention("ab ba abba", 1, 0).unwrap();
    let n = picture.n();
    let first = picture.head_map(2).unwrap()[n];
    harness.get_by_label(&format!(
        "the focus's row puts {first:.3} on the first token {}",
        gaze::ui::step1_pretraining::token_text(&picture.tokens[0])
    ));
    harness.get_by_label("hide the first token").click();
    harness.run();
    harness.run();
    assert!(harness.state().0.attention.hide_first_token);
    harness.get_by_label(&format!(
        "first token hidden: each row renormalised over the rest. Its true share of the \
         focus's row: {first:.3}"
    ));
    // The lens: one rung per layer, the last the model's own prediction after the focus.
    let last = picture.lens.last().unwrap();
    assert_eq!(picture.lens.len(), 2);
    let mut cache = gaze::model::llm::KvCache::new(&loaded.model.config);
    let logits = loaded
        .model
        .forward(
            &mut cache,
            &picture.token_ids[..2],
            &gaze::model::llm::Capture::default(),
        )
        .unwrap()
        .logits;
    let best = gaze::model::llm::forward::top_k(&logits, 1, 1.0)[0].0;
    assert_eq!(
        last.top[0].id, best,
        "the last rung is the model's own guess"
    );
    harness.get_by_label_contains(&format!(
        "{} {:.2}",
        gaze::ui::step1_pretraining::token_text(&last.top[0].token),
        last.top[0].probability
    ));
}

/// The headline on SmolLM2 itself: the seed corpus says mongodb; the web-trained model prefers
/// mysql (`ln p` −13.0 against mongodb's −17.8, measured), and the screen says what it was
/// trained on.
#[test]
fn smollm2_on_step_1_prefers_another_database_than_the_corpus_and_says_why() {
    let Some(path) = common::real_model_path() else {
        return;
    };
    let mut slot = ModelSlot::default();
    slot.load_file(path, true);
    let mut harness = harness(
        Scene {
            step: 1,
            ..Scene::default()
        },
        slot,
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(300);
    while harness
        .query_by_label("SmolLM2-135M-Instruct: share among these endings")
        .is_none()
    {
        assert!(std::time::Instant::now() < deadline, "SmolLM2 did not load");
        std::thread::sleep(std::time::Duration::from_millis(50));
        harness.run();
    }
    harness.run();
    harness.get_by_label_contains("SmolLM2-135M was pretrained on 2 trillion tokens");
    harness.get_by_label("\" m\" · \"ong\" · \"odb\"");
    // The corpus's verdict and the model's, both large.
    assert!(harness.get_all_by_label("mongodb").count() >= 2);
    assert!(harness.get_all_by_label("mysql").count() >= 2);
    harness.get_by_label("SmolLM2-135M-Instruct:");
}
