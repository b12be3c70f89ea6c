//! The whole screen as the window draws it (`ui::screen`), driven from the keyboard like a
//! lecturer in presenter mode (egui_kittest): step keys, H, zoom, the help overlay, themes —
//! and checked for what a screen reader and the back row need: every control named, no text
//! under the projector minimum.

mod common;

use egui::{Key, Modifiers};
use egui_kittest::kittest::{by, Queryable};
use egui_kittest::Harness;
use gaze::app::lesson::Lesson;
use gaze::app::session::{Readbacks, Session};
use gaze::render::colormap::Colormap;
use gaze::scene::Scene;
use gaze::ui::presenter::{Presenter, PresenterRequests, KEYS};
use gaze::ui::recovery_banner::RecoveryChoice;
use gaze::ui::theme::{Theme, PROJECTOR_MIN_TEXT};

/// Everything the window keeps between frames that the screen reads or edits: the scene and the
/// window's own [`Session`].
struct App {
    scene: Scene,
    session: Session,
    /// What the frames asked of the window (full screen, export), in order.
    asked: Vec<PresenterRequests>,
    /// The answers given to the recovery banner, in order.
    recovery_chosen: Vec<RecoveryChoice>,
}

/// The window's frame without a window: the session derives what the scene changed (on the GPU,
/// waiting for the numbers, as a test may), then draws the screen exactly as `app::window` does.
fn harness(scene: Scene, presenter: Presenter, size: egui::Vec2) -> Harness<'static, App> {
    let ctx = &common::gpu().0;
    let lesson = Lesson::new(ctx).expect("the lesson builds");
    Harness::builder().with_size(size).build_ui_state(
        move |ui, app: &mut App| {
            app.session.derive(ctx, &app.scene, Readbacks::Wait);
            assert_eq!(app.session.message(), None, "the lesson computes");
            let output = app.session.show(ui, &mut app.scene, 0.016);
            if output.requests != PresenterRequests::default() {
                app.asked.push(output.requests);
            }
            app.recovery_chosen.extend(output.recovery);
        },
        App {
            scene,
            session: Session::new(lesson, presenter),
            asked: Vec::new(),
            recovery_chosen: Vec::new(),
        },
    )
}

fn lesson_on(step: u8) -> Harness<'static, App> {
    let mut scene = Scene {
        step,
        ..Scene::default()
    };
    // The ~12k-token archive's overview takes seconds on a software GPU; the samples suffice.
    scene.context.archive = false;
    let mut harness = harness(scene, Presenter::default(), egui::vec2(1280.0, 900.0));
    harness.run();
    harness
}

fn press(harness: &mut Harness<'static, App>, key: Key) {
    harness.key_press(key);
    harness.run();
}

#[test]
fn step_keys_and_arrows_run_the_whole_lesson() {
    let mut harness = lesson_on(3);
    press(&mut harness, Key::Num1);
    assert_eq!(harness.state().scene.step, 1);
    assert!(harness.query_by_label_contains("Step 1").is_some());
    press(&mut harness, Key::ArrowRight);
    assert_eq!(harness.state().scene.step, 2);
    press(&mut harness, Key::ArrowRight);
    assert_eq!(harness.state().scene.step, 3);
    press(&mut harness, Key::Num4);
    assert_eq!(harness.state().scene.step, 4);
    press(&mut harness, Key::ArrowRight);
    assert_eq!(
        harness.state().scene.step,
        4,
        "the last step stays the last"
    );
    press(&mut harness, Key::ArrowLeft);
    assert_eq!(harness.state().scene.step, 3);
    press(&mut harness, Key::ArrowLeft);
    press(&mut harness, Key::ArrowLeft);
    press(&mut harness, Key::ArrowLeft);
    assert_eq!(
        harness.state().scene.step,
        1,
        "the first step stays the first"
    );
}

#[test]
fn h_hides_the_editing_controls_and_brings_them_back() {
    let mut harness = lesson_on(3);
    assert!(harness.query_by_label("causal mask").is_some());
    assert!(harness.query_by_label_contains("Behind the gaze").is_some());
    press(&mut harness, Key::H);
    assert!(!harness.state().session.presenter.controls);
    assert!(
        harness.query_by_label("causal mask").is_none(),
        "the switches are hidden"
    );
    assert!(
        harness.query_by_label_contains("Behind the gaze").is_none(),
        "the side panel is hidden: the maps take the width"
    );
    // What the lesson shows stays: the focus buttons and the formula.
    assert!(harness.query_by_label("database").is_some());
    press(&mut harness, Key::H);
    assert!(harness.query_by_label("causal mask").is_some());

    // Step 4 hides its editors the same way.
    press(&mut harness, Key::Num4);
    assert!(harness.query_by_label("add example").is_some());
    press(&mut harness, Key::H);
    assert!(harness.query_by_label("add example").is_none());
}

#[test]
fn ctrl_plus_minus_and_zero_zoom_the_whole_ui() {
    let mut harness = lesson_on(3);
    assert_eq!(harness.ctx.zoom_factor(), 1.0);
    let base = harness.ctx.pixels_per_point();
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Plus);
    harness.run();
    assert!((harness.ctx.zoom_factor() - 1.1).abs() < 1e-6);
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Plus);
    harness.run();
    assert!((harness.ctx.zoom_factor() - 1.2).abs() < 1e-6);
    // Everything is drawn 1.2 times larger: more pixels per point.
    assert!((harness.ctx.pixels_per_point() - base * 1.2).abs() < 1e-5);
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Minus);
    harness.run();
    assert!((harness.ctx.zoom_factor() - 1.1).abs() < 1e-6);
    harness.key_press_modifiers(Modifiers::COMMAND, Key::Num0);
    harness.run();
    assert_eq!(harness.ctx.zoom_factor(), 1.0);
}

#[test]
fn letters_typed_into_a_text_box_stay_text() {
    let mut harness = lesson_on(3);
    harness.get_by_label("sentence:").click();
    harness.run();
    harness.get_by_label("sentence:").type_text(" fhps");
    harness.run();
    let app = harness.state();
    assert!(app.scene.attention.sentence.ends_with("fhps"));
    assert!(
        app.session.presenter.controls,
        "H in a text box does not hide controls"
    );
    assert!(
        !app.session.presenter.fullscreen,
        "F in a text box does not go full screen"
    );
    assert_eq!(app.session.presenter.theme, Theme::Dark);
    assert!(
        app.asked.is_empty(),
        "nothing asked of the window: {:?}",
        app.asked
    );
}

#[test]
fn question_mark_lists_every_key_and_escape_closes_it() {
    let mut harness = lesson_on(3);
    press(&mut harness, Key::Questionmark);
    assert!(harness.state().session.presenter.help);
    for (keys, what) in KEYS {
        assert!(harness.query_by_label(keys).is_some(), "{keys} is listed");
        assert!(harness.query_by_label(what).is_some(), "{what} is said");
    }
    press(&mut harness, Key::Escape);
    assert!(!harness.state().session.presenter.help);
    assert!(harness.query_by_label(KEYS[0].1).is_none());
    // The "keys (?)" button opens it too.
    harness.get_by_label("keys (?)").click();
    harness.run();
    assert!(harness.state().session.presenter.help);
}

/// The last thing the frames asked of the window, clearing the list.
fn asked(harness: &mut Harness<'static, App>) -> Option<PresenterRequests> {
    let asked = std::mem::take(&mut harness.state_mut().asked);
    asked.last().copied()
}

#[test]
fn f_s_p_c_m_keys_ask_for_full_screen_export_theme_colours_and_stillness() {
    let mut harness = lesson_on(3);
    press(&mut harness, Key::F);
    assert_eq!(asked(&mut harness).and_then(|r| r.fullscreen), Some(true));
    press(&mut harness, Key::S);
    assert_eq!(asked(&mut harness).and_then(|r| r.export), Some(1));
    press(&mut harness, Key::P);
    assert_eq!(harness.state().session.presenter.theme, Theme::Projector);
    assert!(
        !harness.ctx.global_style().visuals.dark_mode,
        "the projector theme is light"
    );
    press(&mut harness, Key::C);
    assert_eq!(
        harness.state().session.presenter.colormap,
        Colormap::Cividis
    );
    assert!(
        harness.query_by_label_contains("cividis").is_some(),
        "the legend names the map"
    );
    press(&mut harness, Key::M);
    assert!(harness.state().session.presenter.reduced_motion);
    press(&mut harness, Key::Escape);
    assert_eq!(
        asked(&mut harness).and_then(|r| r.fullscreen),
        Some(false),
        "Esc leaves full screen"
    );
}

#[test]
fn the_view_menu_does_by_mouse_what_the_keys_do() {
    let mut harness = lesson_on(3);
    harness.get_by_label("view").click();
    harness.run();
    harness.get_by_label("projector").click();
    harness.run();
    assert_eq!(harness.state().session.presenter.theme, Theme::Projector);
    harness.get_by_label("view").click();
    harness.run();
    harness.get_by_label("4x").click();
    harness.run();
    assert_eq!(harness.state().session.presenter.export_scale, 4);
    harness.get_by_label("view").click();
    harness.run();
    harness.get_by_label("save PNG of this view (S)").click();
    harness.run();
    assert_eq!(asked(&mut harness).and_then(|r| r.export), Some(4));
}

/// Roles a user operates; each must carry a name a screen reader can say.
fn is_control(role: egui::accesskit::Role) -> bool {
    use egui::accesskit::Role;
    matches!(
        role,
        Role::Button
            | Role::CheckBox
            | Role::RadioButton
            | Role::Switch
            | Role::TextInput
            | Role::MultilineTextInput
            | Role::SearchInput
            | Role::Slider
            | Role::SpinButton
            | Role::ComboBox
            | Role::MenuItem
            | Role::MenuItemCheckBox
            | Role::MenuItemRadio
            | Role::Tab
            | Role::Link
    )
}

fn unnamed_controls(harness: &Harness<'static, App>) -> Vec<String> {
    harness
        .query_all(by().predicate(|node| {
            is_control(node.role()) && node.label().is_none_or(|l| l.trim().is_empty())
        }))
        .map(|node| format!("{node:?} at {:?}", node.rect()))
        .collect()
}

#[test]
fn a_screen_reader_can_name_every_control_on_every_step() {
    for step in 1..=4 {
        let mut harness = lesson_on(step);
        let controls = harness
            .query_all(by().predicate(|node| is_control(node.role())))
            .count();
        assert!(controls >= 5, "step {step} has controls ({controls})");
        let unnamed = unnamed_controls(&harness);
        assert!(
            unnamed.is_empty(),
            "step {step}: unnamed controls {unnamed:?}"
        );
        // The menus and the help overlay too.
        harness.get_by_label("view").click();
        harness.run();
        let unnamed = unnamed_controls(&harness);
        assert!(unnamed.is_empty(), "step {step}, view menu: {unnamed:?}");
        press(&mut harness, Key::Escape);
    }
}

/// Every glyph of every text the screen draws, with its size in pixels.
fn text_sizes(output: &egui::FullOutput) -> Vec<(f32, String)> {
    fn walk(shape: &egui::Shape, ppp: f32, out: &mut Vec<(f32, String)>) {
        match shape {
            egui::Shape::Text(text) => {
                let galley = &text.galley;
                for section in &galley.job.sections {
                    let words = galley
                        .job
                        .text
                        .get(section.byte_range.start.0..section.byte_range.end.0)
                        .unwrap_or_default();
                    if !words.trim().is_empty() {
                        out.push((section.format.font_id.size * ppp, words.to_owned()));
                    }
                }
            }
            egui::Shape::Vec(shapes) => {
                for shape in shapes {
                    walk(shape, ppp, out);
                }
            }
            _ => {}
        }
    }
    let mut out = Vec::new();
    for clipped in &output.shapes {
        walk(&clipped.shape, output.pixels_per_point, &mut out);
    }
    out
}

/// At 1080p (1920×1080, one pixel per point) in the projector theme, no text on any step is
/// smaller than the projector minimum.
#[test]
fn projector_theme_draws_no_text_under_the_minimum_at_1080p() {
    for step in 1..=4 {
        let mut scene = Scene {
            step,
            ..Scene::default()
        };
        scene.context.archive = false;
        let presenter = Presenter {
            theme: Theme::Projector,
            ..Presenter::default()
        };
        let mut harness = harness(scene, presenter, egui::vec2(1920.0, 1080.0));
        harness.run();
        let sizes = text_sizes(harness.output());
        assert!(sizes.len() > 20, "step {step} draws text ({})", sizes.len());
        let small: Vec<_> = sizes
            .iter()
            .filter(|(size, _)| *size < PROJECTOR_MIN_TEXT - 1e-3)
            .collect();
        assert!(
            small.is_empty(),
            "step {step}: text under {PROJECTOR_MIN_TEXT} px: {small:?}"
        );
    }
}

/// After a crash the next start shows the saved scene's banner on whichever step is open; the
/// buttons answer it, and nothing changes until one is pressed.
#[test]
fn recovery_banner_offers_the_saved_scene_until_answered() {
    for (button, choice) in [
        ("restore that scene", RecoveryChoice::Restore),
        ("discard it", RecoveryChoice::Discard),
    ] {
        let mut harness = lesson_on(3);
        harness.state_mut().session.lines.recovery = Some("saved 2 min ago, on step 1".into());
        harness.run();
        assert!(harness
            .query_by_label_contains("Gaze closed unexpectedly last time")
            .is_some());
        assert!(harness.state().recovery_chosen.is_empty());
        press(&mut harness, Key::Num1);
        assert!(
            harness.query_by_label_contains("saved 2 min ago").is_some(),
            "the banner stays on every step"
        );
        harness.get_by_label(button).click();
        harness.run();
        assert_eq!(harness.state().recovery_chosen, vec![choice]);
    }
}

/// Typing in the sentence box gives step 3 new buffers at every new token count, and each is
/// bound for drawing against the pipelines the painter built when it was made: no keystroke
/// builds a pipeline (rerun's `re_renderer` discipline; `render::Renderers`).
#[test]
fn typing_in_the_sentence_box_builds_no_pipeline() {
    use gaze::app::paint::ScreenPainter;
    use gaze::render::arcs::ArcsResources;
    use gaze::render::heatmap::HeatmapResources;

    struct Typed {
        scene: Scene,
        session: Session,
        painter: ScreenPainter,
        /// Per frame: step 3's buffer generation, its token count, and whether the bound heatmap
        /// and arcs draw with the pipelines built at the start.
        frames: Vec<(u64, usize, bool, bool)>,
    }
    let ctx = &common::gpu().0;
    let painter = ScreenPainter::new(ctx, wgpu::TextureFormat::Rgba8Unorm);
    let heatmap_pipeline = painter.renderers().heatmap.pipeline().clone();
    let arc_pipeline = painter.renderers().arcs.arc_pipeline().clone();
    let scene = Scene {
        step: 3,
        ..Scene::default()
    };
    let session = Session::new(Lesson::new(ctx).expect("lesson"), Presenter::default());
    let mut harness = Harness::builder()
        .with_size(egui::vec2(1280.0, 900.0))
        .build_ui_state(
            move |ui, app: &mut Typed| {
                app.session.derive(ctx, &app.scene, Readbacks::Wait);
                app.session.show(ui, &mut app.scene, 0.016);
                // As the window does: this frame's edits are derived and bound before drawing.
                app.session.derive(ctx, &app.scene, Readbacks::Wait);
                app.painter.bind(ctx, &app.session);
                let stage = app.session.attention().expect("step 3 computed");
                let resources = app.painter.resources();
                let heatmap = resources
                    .get::<HeatmapResources>()
                    .is_some_and(|h| *h.pipeline() == heatmap_pipeline);
                let arcs = resources
                    .get::<ArcsResources>()
                    .is_some_and(|a| *a.arc_pipeline() == arc_pipeline);
                app.frames
                    .push((stage.generation, stage.tokens.len(), heatmap, arcs));
            },
            Typed {
                scene,
                session,
                painter,
                frames: Vec::new(),
            },
        );
    harness.run();
    harness.get_by_label("sentence:").click();
    harness.run();
    for word in [" fast", " and", " cheap"] {
        harness.get_by_label("sentence:").type_text(word);
        harness.run();
    }
    let state = harness.state();
    assert_eq!(
        state.scene.attention.sentence,
        "the best database is fast and cheap"
    );
    let frames = &state.frames;
    let mut lengths: Vec<usize> = frames.iter().map(|f| f.1).collect();
    lengths.dedup();
    assert_eq!(lengths, vec![4, 5, 6, 7], "each word is a new token count");
    let mut generations: Vec<u64> = frames.iter().map(|f| f.0).collect();
    generations.dedup();
    assert!(
        generations.len() >= 4,
        "every new token count got new buffers: generations {generations:?}"
    );
    assert!(
        frames.iter().all(|&(_, _, heatmap, arcs)| heatmap && arcs),
        "a frame drew with a pipeline built after the painter's: {frames:?}"
    );
}

/// What the focus token carries to the next layer is computed once its numbers land and again
/// only when the focus or the residual switch changes — not in every frame — and it is the
/// model's `carried_forward` of those numbers.
#[test]
fn what_the_focus_carries_is_computed_once_per_focus_not_per_frame() {
    use gaze::model::residual::carried_forward;

    let ctx = &common::gpu().0;
    let mut session = Session::new(Lesson::new(ctx).expect("lesson"), Presenter::default());
    let mut scene = Scene::default();
    session.derive(ctx, &scene, Readbacks::Wait);
    let first = session
        .attention()
        .and_then(|s| s.carried())
        .map(|(f, r, c)| (f, r, c as *const _));
    let (focus, residual, pointer) = first.expect("computed once the numbers landed");
    assert_eq!(
        (focus, residual),
        (scene.attention.focus, scene.attention.residual_norm)
    );
    for _ in 0..3 {
        session.derive(ctx, &scene, Readbacks::Wait);
        let again = session
            .attention()
            .and_then(|s| s.carried())
            .map(|(_, _, c)| c as *const _);
        assert_eq!(
            again,
            Some(pointer),
            "a frame with nothing changed recomputed it"
        );
    }
    scene.attention.focus = 1;
    scene.attention.residual_norm = true;
    session.derive(ctx, &scene, Readbacks::Wait);
    let stage = session.attention().expect("stage");
    let (focus, residual, carried) = stage.carried().expect("recomputed for the new focus");
    assert_eq!((focus, residual), (1, true));
    let expected = carried_forward(
        stage.stream.row(1).expect("row"),
        stage.result.as_ref().expect("numbers"),
        1,
        session.lesson().model.w_o(),
        true,
    )
    .expect("shapes fit");
    assert_eq!(*carried, expected);
}

/// Step 3 reads back of the scores only the focus row of each head — the one row the panel
/// prints — never the `heads × N × N` matrix (as large as the weights); clicking another token
/// brings that token's row, without recomputing attention, and the panel prints the kernels'
/// numbers, equal to the CPU reference's.
#[test]
fn step_three_reads_back_only_the_focus_rows_of_the_scores() {
    use gaze::model::attention::{run, AttentionOptions, PackedAttention, QueryRows};

    let ctx = &common::gpu().0;
    let lesson = Lesson::new(ctx).expect("lesson");
    assert!(
        lesson.computes_on_gpu(),
        "this test is about the kernels' readback"
    );
    let (_, input) = lesson
        .model
        .attention_input("the best database is", 2, AttentionOptions::default())
        .expect("input");
    let reference = run(&PackedAttention::new(&input, QueryRows::All).expect("packed"));
    let mut session = Session::new(lesson, Presenter::default());
    let mut scene = Scene::default();
    scene.attention.heads = 2;
    for focus in [3, 1, 0] {
        scene.attention.focus = focus;
        session.derive(ctx, &scene, Readbacks::Wait);
        let stage = session.attention().expect("stage");
        assert_eq!(stage.generation, 1, "a focus click recomputes no attention");
        let result = stage.result.as_ref().expect("numbers");
        assert!(result.scores.is_empty(), "the score matrix was read back");
        assert_eq!(
            result.weights.len(),
            2 * 4 * 4,
            "the weights come back whole"
        );
        let scores = stage.focus_scores.as_ref().expect("the focus row");
        assert_eq!(scores.focus, focus);
        for head in 0..2 {
            let got = scores.row(head).expect("row");
            let want = reference.scores_row(head, focus).expect("reference row");
            for (g, w) in got.iter().zip(want) {
                assert!(
                    (g - w).abs() < 1e-5,
                    "head {head} focus {focus}: {g} vs {w}"
                );
            }
        }
    }
    // And the panel prints them: `is`, head 1, scores `database` at +1.342.
    let harness = lesson_on(3);
    assert!(harness.query_by_label("+1.342").is_some());
}

/// The weights the renderers draw from, read back from the GPU (what the cells on screen show).
fn weights_on_screen(
    ctx: &gaze::gpu::GpuContext,
    stage: &gaze::app::lesson::AttentionStage,
) -> Vec<f32> {
    let buffer = stage
        .weights_buffer
        .as_ref()
        .expect("a stage on screen is presented");
    let len = stage.params.matrix_len();
    let encoder = ctx.device.create_command_encoder(&Default::default());
    gaze::gpu::readback::PendingFloats::start(ctx, encoder, &[(buffer, len)])
        .and_then(|pending| pending.wait(ctx))
        .expect("the screen's weights read back")
        .remove(0)
}

/// Text and cells come from the same result: after an edit, until the kernels' numbers have
/// landed, the screen keeps the previous result whole (its tokens, its printed numbers and its
/// cells); once they land, all three change together. Never new cells under old numbers (what a
/// lecturer would otherwise see for a frame after every keystroke), never numbers missing.
#[test]
fn step_three_shows_cells_and_numbers_from_the_same_result() {
    let ctx = &common::gpu().0;
    let lesson = Lesson::new(ctx).expect("lesson");
    assert!(
        lesson.computes_on_gpu(),
        "this test is about the kernels' readback"
    );
    let mut session = Session::new(lesson, Presenter::default());
    let mut scene = Scene::default();
    session.derive(ctx, &scene, Readbacks::Wait);
    let before = session.attention().expect("stage");
    let old_weights = before.result.as_ref().expect("numbers").weights.clone();
    assert_eq!(weights_on_screen(ctx, before), old_weights);

    // Same shape (four tokens, so the kernels rewrite their buffers in place), new numbers.
    scene.attention.sentence = "database is the best".into();
    let mut frames = 0;
    loop {
        session.derive(ctx, &scene, Readbacks::Poll);
        let stage = session.attention().expect("a stage stays on screen");
        let printed = &stage
            .result
            .as_ref()
            .expect("numbers are printed every frame")
            .weights;
        assert_eq!(
            weights_on_screen(ctx, stage),
            *printed,
            "frame {frames}: the cells show another result than the numbers"
        );
        let words: Vec<&str> = stage.tokens.iter().map(|t| t.text.as_str()).collect();
        if words[0] == "database" {
            assert_ne!(
                *printed, old_weights,
                "the new sentence has its own weights"
            );
            break;
        }
        assert_eq!(words, ["the", "best", "database", "is"], "frame {frames}");
        assert_eq!(
            *printed, old_weights,
            "frame {frames}: old tokens with new numbers"
        );
        frames += 1;
        assert!(frames < 10_000, "the new numbers never landed");
        std::thread::yield_now();
    }
}

/// A focus row is never read from kernel buffers that hold another result than the one on
/// screen: here an edit is computed (its numbers still on their way), the next edit is refused
/// (an empty sentence), and the user clicks another token. The screen still shows the first
/// sentence, so the row printed must be that sentence's — or none — never the abandoned edit's.
#[test]
fn a_focus_row_is_never_read_from_buffers_that_hold_another_result() {
    use gaze::app::lesson::AttentionLesson;
    use gaze::model::attention::{run, AttentionOptions, PackedAttention, QueryRows};

    let ctx = &common::gpu().0;
    let lesson = Lesson::new(ctx).expect("lesson");
    assert!(
        lesson.computes_on_gpu(),
        "this test is about the kernels' buffers"
    );
    let mut scene = Scene::default();
    let mut step = AttentionLesson::default();
    lesson
        .update(ctx, &scene.attention, &mut step)
        .expect("computes");
    step.wait(ctx, &lesson).expect("lands");

    // Same shape, other numbers: computed into the kernels' buffers, never collected.
    scene.attention.sentence = "database is the best".into();
    assert!(lesson
        .update(ctx, &scene.attention, &mut step)
        .expect("computes"));
    // Refused before it lands: the screen keeps the first sentence.
    scene.attention.sentence = String::new();
    assert!(lesson.update(ctx, &scene.attention, &mut step).is_err());
    scene.attention.focus = 1;
    step.settle(ctx, &lesson, &scene.attention, true)
        .expect("settles");

    let shown = step.shown().expect("the first sentence stays on screen");
    let words: Vec<&str> = shown.tokens.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(words, ["the", "best", "database", "is"]);
    let (_, input) = lesson
        .model
        .attention_input("the best database is", 1, AttentionOptions::default())
        .expect("input");
    let reference = run(&PackedAttention::new(&input, QueryRows::All).expect("packed"));
    if let Some(scores) = shown.focus_scores.as_ref().filter(|s| s.focus == 1) {
        let got = scores.row(0).expect("row");
        let want = reference.scores_row(0, 1).expect("reference row");
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() < 1e-5,
                "printed {got:?}, the sentence shown has {want:?}"
            );
        }
    }
}
