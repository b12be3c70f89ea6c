//! The `gaze` binary as a user runs it.

use std::process::Command;

/// The binary, without a real model: these are the lesson's commands, and `GAZE_MODEL` (which
/// `.ci/run` exports for the real-model tests) would add a model to `verify` and the window.
fn gaze() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_gaze"));
    command.env_remove("GAZE_MODEL");
    command
}

#[test]
fn verify_prints_adapter_and_errors_within_tolerance() {
    let out = gaze().arg("verify").output().expect("gaze runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "gaze verify failed:\n{stdout}\n{stderr}"
    );
    for expected in [
        "adapter:",
        "backend:",
        "device type:",
        "attention_project",
        "attention_scores",
        "attention_softmax",
        "attention_output",
        "focus row vs full matrix",
        "all kernels within tolerance",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    assert!(!stdout.contains("FAILED"), "{stdout}");
}

#[test]
fn verify_without_any_adapter_fails_and_names_the_fix() {
    // Linux builds have no Metal backend: asking for it alone leaves no adapter.
    let out = gaze()
        .arg("verify")
        .env("WGPU_BACKEND", "metal")
        .output()
        .expect("gaze runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.contains("no GPU adapter found"), "{stderr}");
    assert!(stderr.contains("mesa-vulkan-drivers"), "{stderr}");
}

fn scene_file(name: &str, contents: &[u8]) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("gaze-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write scene");
    path
}

fn inspect(scene: &std::path::Path) -> (Option<i32>, serde_json::Value, String) {
    let out = gaze()
        .arg("inspect")
        .arg("--scene")
        .arg(scene)
        .output()
        .expect("gaze runs");
    let json = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (
        out.status.code(),
        json,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn inspect_default_scene_agrees_with_the_model() {
    use gaze::model::attention::{attend, AttentionOptions, QueryRows};
    use gaze::model::lesson::LessonModel;

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes/default.json");
    let (code, report, stderr) = inspect(&path);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        report["tokens"],
        serde_json::json!(["the", "best", "database", "is"])
    );
    assert_eq!(
        report["estimated"],
        serde_json::json!([false, false, false, false])
    );
    assert_eq!(report["focus"], 3);

    let model = LessonModel::builtin().unwrap();
    let (_, input) = model
        .attention_input("the best database is", 1, AttentionOptions::default())
        .unwrap();
    let expected = attend(&input, QueryRows::All).unwrap();
    let heads = report["heads"].as_array().unwrap();
    assert_eq!(heads.len(), 1);
    let rows = heads[0]["weights"].as_array().unwrap();
    assert_eq!(rows.len(), 4);
    for (i, row) in rows.iter().enumerate() {
        let row: Vec<f32> = serde_json::from_value(row.clone()).unwrap();
        assert_eq!(
            row.as_slice(),
            expected.weights_row(0, i).unwrap(),
            "weights row {i}"
        );
        let q: Vec<f32> = serde_json::from_value(heads[0]["q"][i].clone()).unwrap();
        let dk = expected.params.dk();
        assert_eq!(q.as_slice(), &expected.q[i * dk..(i + 1) * dk], "q row {i}");
    }
    // The lesson's story, as a script would read it.
    let is_row: Vec<f32> = serde_json::from_value(heads[0]["weights"][3].clone()).unwrap();
    assert!(
        is_row[2] > is_row[1] && is_row[1] > is_row[0],
        "`is` attends to database, then best: {is_row:?}"
    );
}

#[test]
fn inspect_writes_masked_scores_as_null() {
    let path = scene_file(
        "causal.json",
        br#"{ "version": 1, "attention": { "sentence": "the cat sat", "focus": 2, "heads": 2, "causal": true } }"#,
    );
    let (code, report, stderr) = inspect(&path);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["heads"].as_array().unwrap().len(), 2);
    assert!(
        report["heads"][1]["scores"][0][1].is_null(),
        "future key is −∞, written null"
    );
    assert!(report["heads"][1]["scores"][1][0].is_number());
    assert_eq!(report["heads"][1]["weights"][0][2], 0.0);
}

#[test]
fn inspect_refuses_bad_scenes_with_a_message_naming_the_problem() {
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "heads.json",
            br#"{ "version": 1, "attention": { "heads": 3 } }"#,
            "attention.heads",
        ),
        (
            "focus.json",
            br#"{ "version": 1, "attention": { "focus": 9 } }"#,
            "focus is token 9",
        ),
        ("broken.json", b"{ \"version\": 1, ", "not valid"),
        ("binary.json", &[0xff, 0xfe, 0x00, 0x80], "not UTF-8"),
    ];
    for (name, contents, expected) in cases {
        let (code, report, stderr) = inspect(&scene_file(name, contents));
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(report.is_null(), "{name}: nothing on stdout");
        assert!(stderr.contains(expected), "{name}: {stderr}");
    }
    let (code, _, stderr) = inspect(std::path::Path::new("/nonexistent/scene.json"));
    assert_eq!(code, Some(2));
    assert!(stderr.contains("cannot read the scene file"), "{stderr}");
}

/// A scene from another version, or with fields this build does not know, still opens; stderr
/// names the version and every field that was ignored.
#[test]
fn a_newer_scene_opens_and_names_what_was_ignored() {
    let path = scene_file(
        "newer.json",
        br#"{ "version": 2, "attention": { "colour": "red", "causal": true } }"#,
    );
    let (code, report, stderr) = inspect(&path);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("version 2"), "{stderr}");
    assert!(stderr.contains("attention.colour"), "{stderr}");
    // What this build knows was read: the causal mask zeroes the first row's later keys.
    let first_row = &report["heads"][0]["weights"][0];
    assert_eq!(first_row[1], 0.0, "{first_row}");
}

#[test]
fn inspect_reports_sections_it_does_not_read_yet() {
    let path = scene_file(
        "context.json",
        br#"{ "version": 1, "presenter": { "zoom": 2 } }"#,
    );
    let (code, report, stderr) = inspect(&path);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("presenter"), "{stderr}");
    assert_eq!(report["tokens"][2], "database");
}

#[test]
fn render_writes_a_png_of_the_requested_size() {
    let out = std::env::temp_dir().join(format!("gaze-render-{}.png", std::process::id()));
    let status = gaze()
        .args([
            "render", "--step", "3", "--width", "640", "--height", "400", "--out",
        ])
        .arg(&out)
        .output()
        .expect("gaze runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let bytes = std::fs::read(&out).expect("the PNG exists");
    assert_eq!(&bytes[1..4], b"PNG");
    // The PNG header holds width and height as big-endian u32 at bytes 16..24.
    assert_eq!(
        u32::from_be_bytes([bytes[16], bytes[17], bytes[18], bytes[19]]),
        640
    );
    assert_eq!(
        u32::from_be_bytes([bytes[20], bytes[21], bytes[22], bytes[23]]),
        400
    );
    let _ = std::fs::remove_file(&out);
}

#[test]
fn render_refuses_an_unknown_colour_map() {
    let out = gaze()
        .args(["render", "--colormap", "jet", "--out", "/tmp/never.png"])
        .output()
        .expect("gaze runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("viridis or cividis"));
}

/// The real binary in a real window: under Xvfb when there is no display. The last of 20 frames
/// is saved and must show the lesson: the heatmap's colours and the arcs' strongest colour.
#[test]
fn window_opens_and_draws_the_lesson() {
    let image = window_screenshot("lesson", &[]);
    shows_the_computed_lesson(&image).unwrap();
}

/// Runs the real binary in a window (under Xvfb when there is no display) for 20 frames with
/// `args`, and returns its last frame.
fn window_screenshot(name: &str, args: &[&str]) -> image::RgbaImage {
    let run = window_run(name, args, 20);
    assert!(run.status.success(), "{}", run.stderr);
    run.image.expect("a screenshot was written")
}

/// What a window run left: its exit status, what it printed, its last frame.
struct WindowRun {
    status: std::process::ExitStatus,
    stderr: String,
    image: Option<image::RgbaImage>,
}

/// Runs the real binary in a window for `frames` frames with `args`, saving its last frame.
/// Scenes saved after a crash go to a folder of the test's own (`GAZE_RECOVERY_DIR`, named for
/// `name`), never the user's.
fn window_run(name: &str, args: &[&str], frames: u32) -> WindowRun {
    let shot = std::env::temp_dir().join(format!("gaze-{name}-{}.png", std::process::id()));
    let headless =
        std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none();
    let mut command = if headless {
        let mut c = Command::new("xvfb-run");
        c.env_remove("GAZE_MODEL");
        c.args([
            "-a",
            "-s",
            "-screen 0 1280x1100x24",
            env!("CARGO_BIN_EXE_gaze"),
        ]);
        c
    } else {
        gaze()
    };
    let out = command
        .env("GAZE_RECOVERY_DIR", recovery_dir(name))
        .args(args)
        .args(["--frames", &frames.to_string(), "--screenshot"])
        .arg(&shot)
        .output()
        .expect("xvfb-run (apt-get install xvfb xauth) or a display is needed");
    let image = std::fs::read(&shot)
        .ok()
        .map(|bytes| image::load_from_memory(&bytes).expect("a PNG").to_rgba8());
    let _ = std::fs::remove_file(&shot);
    WindowRun {
        status: out.status,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        image,
    }
}

/// The folder a window test's crash-recovery files go to.
fn recovery_dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("gaze-recovery-{name}-{}", std::process::id()))
}

/// Whether `image` shows the lesson's step 3 as computed: the `is -> database` cell's colour and
/// the strongest arc's yellow.
fn shows_the_computed_lesson(image: &image::RgbaImage) -> Result<(), String> {
    let has = |rgb: [u8; 3]| {
        image
            .pixels()
            .any(|p| (0..3).all(|k| (i32::from(p.0[k]) - i32::from(rgb[k])).abs() <= 3))
    };
    let cell = gaze::render::colormap::Colormap::Viridis.sample(0.487);
    if !has(cell) {
        return Err(format!("no heatmap cell of colour {cell:?}"));
    }
    if !has(gaze::render::arcs::ARC_COLORS[0]) {
        return Err("no strongest arc".into());
    }
    Ok(())
}

/// A GPU driver reset in the middle of a lecture (`device.destroy()` at frame 10): the window
/// connects to a new device, rebuilds every buffer and pipeline from the scene, says so, and
/// goes on drawing the same numbers.
#[test]
fn window_survives_a_lost_device_and_draws_the_scene_again() {
    let run = window_run("device-lost", &["--inject-fault", "device-lost@10"], 40);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(run.stderr.contains("GPU device lost"), "{}", run.stderr);
    assert!(run.stderr.contains("reconnected to"), "{}", run.stderr);
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    let image = run.image.expect("the last frame was saved");
    shows_the_computed_lesson(&image).unwrap();
}

/// A surface the compositor took away (lost), one that no longer matches the window
/// (outdated), and a minimised window (0x0 for 30 redraws): no panic, and the lesson is drawn
/// again afterwards.
#[test]
fn window_survives_lost_and_outdated_surfaces_and_minimising() {
    for fault in ["surface-lost@10", "surface-outdated@10", "minimise@10"] {
        let name = fault.replace('@', "-");
        let run = window_run(&name, &["--inject-fault", fault], 60);
        assert!(run.status.success(), "{fault}: {}", run.stderr);
        assert!(
            run.stderr.contains("injecting fault"),
            "{fault}: {}",
            run.stderr
        );
        assert!(!run.stderr.contains("panicked"), "{fault}: {}", run.stderr);
        let image = run.image.expect("the last frame was saved");
        shows_the_computed_lesson(&image).unwrap_or_else(|e| panic!("{fault}: {e}"));
    }
}

/// A GPU whose compute cannot be used (or `--cpu-reference`): the same lesson, computed on the
/// CPU reference, drawn, and said.
#[test]
fn window_on_the_cpu_reference_draws_the_same_lesson_and_says_so() {
    let run = window_run("cpu-reference", &["--cpu-reference"], 20);
    assert!(run.status.success(), "{}", run.stderr);
    assert!(
        run.stderr.contains("attention runs on the CPU reference"),
        "{}",
        run.stderr
    );
    shows_the_computed_lesson(&run.image.expect("the last frame was saved")).unwrap();
}

/// No adapter at all (a backend this machine lacks): the window says what is missing, how to
/// fix it and what still works, and exits with an error — no panic.
#[test]
fn window_without_any_adapter_names_the_fix_and_exits() {
    let headless =
        std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none();
    let mut command = if headless {
        let mut c = Command::new("xvfb-run");
        c.env_remove("GAZE_MODEL");
        c.args(["-a", env!("CARGO_BIN_EXE_gaze")]);
        c
    } else {
        gaze()
    };
    let out = command
        .env("WGPU_BACKEND", "metal")
        .env("GAZE_RECOVERY_DIR", recovery_dir("no-adapter"))
        .args(["--frames", "5"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("mesa-vulkan-drivers"), "{stderr}");
    assert!(stderr.contains("gaze inspect"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A bug that panics mid-lecture: the panic hook saves the scene the user made before the
/// process ends, and the next start offers it back.
#[test]
fn a_panic_saves_the_scene_and_the_next_start_offers_it() {
    let mut scene = gaze::scene::Scene::default();
    scene.attention.sentence = "the best database is 🙂 postgres".into();
    scene.attention.causal = true;
    scene.step = 3;
    let file = scene_file("panic-scene.json", scene.to_json().as_bytes());
    let file = file.to_str().unwrap();
    let dir = recovery_dir("panic");
    let _ = std::fs::remove_dir_all(&dir);
    let run = window_run("panic", &["--scene", file, "--inject-fault", "panic@5"], 20);
    assert!(!run.status.success(), "a panic ends the process");
    assert!(
        run.stderr.contains("Your scene was saved to"),
        "{}",
        run.stderr
    );
    let saved = dir.join("recovered-scene.json");
    let text = std::fs::read_to_string(&saved).expect("the recovery file was written");
    assert_eq!(gaze::scene::Scene::from_json(&text).unwrap(), scene);
    // The next start says it is waiting (the banner in the window is tested in ui_presenter).
    let again = window_run("panic", &[], 5);
    assert!(again.status.success(), "{}", again.stderr);
    assert!(
        again.stderr.contains("offers to restore it"),
        "{}",
        again.stderr
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Key S in the real window (pressed at frame 10 by `--export-at-frame`): a 2x export is the
/// view the window shows, at twice its pixels — the same layout, drawn sharper.
#[test]
fn s_exports_the_window_view_at_twice_its_pixels() {
    let dir = std::env::temp_dir().join(format!("gaze-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let shot = window_screenshot(
        "export",
        &[
            "--reduced-motion",
            "--export-at-frame",
            "10",
            "--export-scale",
            "2",
            "--export-dir",
            dir.to_str().unwrap(),
        ],
    );
    let path = dir.join("gaze-step3-1.png");
    let export = image::open(&path)
        .unwrap_or_else(|e| panic!("{} was not written: {e}", path.display()))
        .to_rgba8();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(export.dimensions(), (shot.width() * 2, shot.height() * 2));
    // Each 2x2 block of the export, averaged, against the window's pixel. Text is rasterised at
    // each scale on its own, so glyph and shape edges differ a little (here ~3 per channel on average, ~2% of pixels by more than 64); the top bar's status line differs
    // ("saving…" in the export, "saved …" at the end). Everything else is the same picture.
    let mut total = 0u64;
    let mut off = 0usize;
    for (x, y, pixel) in shot.enumerate_pixels() {
        let mut worst = 0u8;
        for k in 0..3 {
            let sum: u32 = [(0, 0), (1, 0), (0, 1), (1, 1)]
                .iter()
                .map(|(dx, dy)| u32::from(export.get_pixel(2 * x + dx, 2 * y + dy).0[k]))
                .sum();
            let diff = (sum / 4).abs_diff(u32::from(pixel.0[k])) as u8;
            total += u64::from(diff);
            worst = worst.max(diff);
        }
        if worst > 64 {
            off += 1;
        }
    }
    let pixels = (shot.width() * shot.height()) as usize;
    let mean = total as f64 / (pixels * 3) as f64;
    assert!(mean < 6.0, "mean difference {mean:.2} per channel");
    assert!(
        off * 100 < pixels * 3,
        "{off} of {pixels} pixels differ a lot"
    );
}

/// Step 4 in the real window: the shipped in-context scene shows its prediction in the winner's
/// yellow and the overview map in the colours of the values the CPU reference computes.
#[test]
fn window_draws_step_four_with_its_overview_map() {
    use gaze::model::context;
    let scene =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes/in_context.json");
    let image = window_screenshot("step4", &["--scene", scene.to_str().unwrap()]);
    let count = |rgb: [u8; 3]| {
        image
            .pixels()
            .filter(|p| (0..3).all(|k| (i32::from(p.0[k]) - i32::from(rgb[k])).abs() <= 3))
            .count()
    };
    assert!(
        count([253, 231, 37]) > 100,
        "no prediction in the winner's yellow"
    );
    let model = gaze::model::lesson::LessonModel::builtin().unwrap();
    let input = context::in_context_input(
        &model,
        &context::default_examples(),
        "loved it, a great product",
        context::DEFAULT_BUDGET,
    )
    .unwrap();
    let bins = context::overview_bins(input.tokens.len(), context::OVERVIEW_BINS);
    let map = context::compute(&input, bins).unwrap().overview;
    let range = gaze::render::heatmap::overview_range(&map);
    // The map's darkest and brightest cells are on screen, each a block of pixels.
    for weight in [range[0], range[1]] {
        let rgb = gaze::render::colormap::Colormap::Viridis
            .sample(gaze::render::heatmap::overview_shade(weight, range));
        assert!(
            count(rgb) > 20,
            "no overview cell of colour {rgb:?} (weight {weight})"
        );
    }
}

#[test]
fn inspect_reports_the_corpus_odds_and_the_rlhf_flip() {
    let path = scene_file(
        "steps12.json",
        br#"{ "version": 1, "rlhf": { "preferred": "postgresql", "strength": 0.5 } }"#,
    );
    let (code, report, stderr) = inspect(&path);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["corpus"]["prediction"], "mongodb");
    assert_eq!(report["corpus"]["rows"][0]["count"], 5);
    let p = report["corpus"]["rows"][0]["probability"].as_f64().unwrap();
    assert!((p - 5.0 / 11.0).abs() < 1e-9);
    assert_eq!(report["rlhf"]["beta"], 1.0);
    assert_eq!(report["rlhf"]["prediction"], "postgresql");
    let new_logit = report["rlhf"]["rows"][1]["new_logit"].as_f64().unwrap();
    assert!((new_logit - (3f64.ln() + 3.0)).abs() < 1e-9);

    let unseen = scene_file(
        "unseen.json",
        br#"{ "version": 1, "rlhf": { "preferred": "oracle" } }"#,
    );
    let (code, _, stderr) = inspect(&unseen);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("pretraining never saw 'oracle' — no finite reward can reach it"),
        "{stderr}"
    );
}

#[test]
fn inspect_reports_the_fit_and_the_fine_tune() {
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes/two_topics.json");
    let (code, report, stderr) = inspect(&path);
    assert_eq!(code, Some(0), "{stderr}");
    let training = &report["training"];
    assert_eq!(training["steps"], 300);
    let vocabulary: Vec<String> = serde_json::from_value(training["vocabulary"].clone()).unwrap();
    let prefixes = training["prefixes"].as_array().unwrap();
    assert_eq!(prefixes.len(), 2);
    // Each sentence start's fitted guess is its own topic's most frequent ending.
    for (fit, expected) in prefixes.iter().zip(["mongodb", "python"]) {
        let p: Vec<f32> = serde_json::from_value(fit["probabilities"].clone()).unwrap();
        let best = (0..p.len()).fold(0, |b, i| if p[i] > p[b] { i } else { b });
        assert_eq!(vocabulary[best], expected, "{}", fit["prefix"]);
    }
    assert!(training["last_loss"].as_f64() < training["first_loss"].as_f64());
    let fine_tune = &report["fine_tune"];
    assert_eq!(fine_tune["steps"], 200);
    assert!(fine_tune["kl_to_closed_form"].as_f64().unwrap() < 1e-4);
}

/// Step 4, level 2: the prediction is read off attention — the default examples call
/// `it was okay` neutral; relabel the neutral example `positive` and the same review, with the
/// same head weights, is called positive.
#[test]
fn inspect_icl_prediction_follows_a_relabelled_example() {
    let default = scene_file(
        "icl.json",
        br#"{ "version": 1, "context": { "level": 2 } }"#,
    );
    let (code, report, stderr) = inspect(&default);
    assert_eq!(code, Some(0), "{stderr}");
    let context = &report["context"];
    assert_eq!(context["level"], 2);
    assert_eq!(context["prediction"], "neutral", "{context}");
    assert_eq!(context["chunks"], serde_json::json!([]));
    assert_eq!(context["left_out"], 0);
    assert!(context["focus"].as_str().unwrap().contains("it was okay"));
    // "loved it → positive" is 4 tokens, "total waste → negative" 4, "meh , it was fine → neutral" 7.
    assert_eq!(context["tokens"], 15);
    let labels = context["labels"].as_array().unwrap();
    let names: Vec<&str> = labels
        .iter()
        .map(|l| l["label"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["positive", "negative", "neutral"]);
    let total: f64 = labels.iter().map(|l| l["score"].as_f64().unwrap()).sum();
    assert!((total - 1.0).abs() < 1e-4, "label scores sum to {total}");

    let relabelled = scene_file(
        "icl_relabelled.json",
        br#"{ "version": 1, "context": { "level": 2, "examples": [
              { "text": "loved it", "label": "positive" },
              { "text": "total waste", "label": "negative" },
              { "text": "meh, it was fine", "label": "positive" } ] } }"#,
    );
    let (code, report, stderr) = inspect(&relabelled);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        report["context"]["prediction"], "positive",
        "{}",
        report["context"]
    );
    assert_eq!(report["context"]["labels"].as_array().unwrap().len(), 2);
}

/// Step 4, level 3 on the two sample files: every chunk listed in fused-rank order, the damaged
/// paragraph first and the answer's source, the in-context chunks' masses summing to 1.
#[test]
fn inspect_rag_lists_every_chunk_by_rank_with_its_attention_mass() {
    let path = scene_file(
        "rag.json",
        br#"{ "version": 1, "context": { "level": 3, "archive": false } }"#,
    );
    let (code, report, stderr) = inspect(&path);
    assert_eq!(code, Some(0), "{stderr}");
    let context = &report["context"];
    assert_eq!(context["level"], 3);
    let chunks = context["chunks"].as_array().unwrap();
    assert!(chunks.len() > 3, "{context}");
    assert_eq!(chunks[0]["name"], "policy.md § Items damaged in transit");
    assert_eq!(
        context["prediction"], "policy.md § Items damaged in transit",
        "{context}"
    );
    let ranks: Vec<u64> = chunks.iter().map(|c| c["rank"].as_u64().unwrap()).collect();
    assert_eq!(ranks, (1..=chunks.len() as u64).collect::<Vec<_>>());
    let mut total = 0.0;
    for chunk in chunks {
        let mass = chunk["attention_mass"].as_f64().unwrap();
        assert!(chunk["bm25"].is_number() && chunk["cosine"].is_number());
        if chunk["in_context"].as_bool().unwrap() {
            total += mass;
        } else {
            assert_eq!(mass, 0.0, "{chunk}");
        }
    }
    assert!((total - 1.0).abs() < 1e-3, "masses sum to {total}");
    let tokens = context["tokens"].as_u64().unwrap();
    assert!(tokens > 100 && tokens <= 10_000, "{tokens}");
    assert_eq!(context["labels"], serde_json::json!([]));
}

/// A context step 4 refuses (here an empty question) is reported in its section; the rest of
/// the report still comes out.
#[test]
fn inspect_reports_a_refused_context_without_failing() {
    let path = scene_file(
        "rag_empty.json",
        br#"{ "version": 1, "context": { "level": 3, "question": "  " } }"#,
    );
    let (code, report, stderr) = inspect(&path);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(
        report["context"],
        serde_json::json!({ "level": 3, "error": "the question has no words" })
    );
    assert_eq!(report["tokens"][2], "database");
}

/// The shipped step-4 scenes open and say what their captions promise: a warm review is
/// classified positive; the damaged-items question's answer comes from the damaged-in-transit
/// paragraph, over a context filled to ~10k tokens.
#[test]
fn shipped_step_four_scenes_inspect_as_promised() {
    let scenes = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes");
    let (code, report, stderr) = inspect(&scenes.join("in_context.json"));
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(report["context"]["prediction"], "positive");
    let (code, report, stderr) = inspect(&scenes.join("rag.json"));
    assert_eq!(code, Some(0), "{stderr}");
    let context = &report["context"];
    assert_eq!(
        context["prediction"],
        "policy.md § Items damaged in transit"
    );
    assert_eq!(
        context["chunks"][0]["name"],
        "policy.md § Items damaged in transit"
    );
    let tokens = context["tokens"].as_u64().unwrap();
    assert!((9_000..=10_000).contains(&tokens), "{tokens}");
}
