//! `gaze inspect --model`, `gaze generate` and `gaze verify --model` as a user runs them, on a
//! small random-weight GGUF written here (no download), on bad files, and on the real SmolLM2
//! file when `GAZE_MODEL` names it.

use std::path::PathBuf;
use std::process::{Command, Output};

use gaze::model::llm::gguf::GgufWriter;
use gaze::model::llm::synthetic::{synthetic_gguf, SyntheticSpec};
use serde_json::Value;

fn gaze(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gaze"))
        .args(args)
        .env_remove("GAZE_MODEL")
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("gaze runs")
}

fn write(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gaze-llm-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write");
    path
}

fn synthetic_file() -> PathBuf {
    write("synthetic.gguf", &synthetic_gguf(&SyntheticSpec::default()))
}

fn inspect(path: &str, extra: &[&str]) -> Value {
    let mut args = vec![
        "inspect",
        "--model",
        path,
        "--prompt",
        "the cat sat on the mat",
    ];
    args.extend_from_slice(extra);
    let out = gaze(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object")
}

#[test]
fn inspect_model_prints_the_public_fields_with_rows_of_n() {
    let path = synthetic_file();
    let json = inspect(
        path.to_str().expect("utf-8 path"),
        &["--layer", "1", "--head", "3", "--top", "4"],
    );
    let model = &json["model"];
    for field in [
        "file",
        "architecture",
        "layers",
        "heads",
        "kv_heads",
        "d_model",
        "d_head",
        "vocab",
        "context",
    ] {
        assert!(!model[field].is_null(), "model.{field} missing: {model}");
    }
    assert_eq!(model["layers"], 2);
    let n = json["token_ids"].as_array().expect("token_ids").len();
    assert_eq!(json["tokens"].as_array().expect("tokens").len(), n);
    let next = json["next_token"].as_array().expect("next_token");
    assert_eq!(next.len(), 4);
    for candidate in next {
        assert!(candidate["token"].is_string() && candidate["id"].is_u64());
        assert!(candidate["probability"].as_f64().expect("p") > 0.0);
    }
    assert_eq!(
        (
            json["attention"]["layer"].clone(),
            json["attention"]["head"].clone()
        ),
        (1.into(), 3.into())
    );
    let rows = json["attention"]["weights"].as_array().expect("weights");
    assert_eq!(rows.len(), n);
    for (i, row) in rows.iter().enumerate() {
        let row: Vec<f64> = row
            .as_array()
            .expect("row")
            .iter()
            .map(|v| v.as_f64().expect("f"))
            .collect();
        assert_eq!(row.len(), n);
        assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-5, "row {i}");
        assert!(
            row[i + 1..].iter().all(|&w| w == 0.0),
            "row {i} sees the future"
        );
    }
    let focus = json["focus_rows"].as_array().expect("focus_rows");
    assert_eq!(focus.len(), 2);
    assert_eq!(focus[0].as_array().expect("heads").len(), 4);
    assert_eq!(focus[0][0].as_array().expect("row").len(), n);
}

#[test]
fn inspect_model_on_the_cpu_reference_gives_the_gpus_numbers() {
    let path = synthetic_file();
    let path = path.to_str().expect("utf-8 path");
    let gpu = inspect(path, &[]);
    let cpu = inspect(path, &["--cpu-reference"]);
    assert_eq!(cpu["engine"], "cpu-reference");
    assert!(gpu["engine"].as_str().expect("engine").starts_with("gpu: "));
    assert_eq!(gpu["token_ids"], cpu["token_ids"]);
    let ids = |j: &Value| -> Vec<u64> {
        j["next_token"]
            .as_array()
            .expect("next")
            .iter()
            .map(|t| t["id"].as_u64().expect("id"))
            .collect()
    };
    assert_eq!(ids(&gpu), ids(&cpu));
    let flat = |v: &Value| -> Vec<f64> {
        fn walk(v: &Value, out: &mut Vec<f64>) {
            match v {
                Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
                Value::Number(n) => out.push(n.as_f64().unwrap_or(f64::NAN)),
                _ => {}
            }
        }
        let mut out = Vec::new();
        walk(v, &mut out);
        out
    };
    let (a, b) = (flat(&gpu["focus_rows"]), flat(&cpu["focus_rows"]));
    assert_eq!(a.len(), b.len());
    let err = a
        .iter()
        .zip(&b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    assert!(err < 1e-5, "focus rows differ by {err}");
}

#[test]
fn generate_streams_the_same_greedy_continuation_on_gpu_and_cpu() {
    let path = synthetic_file();
    let path = path.to_str().expect("utf-8 path");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "generate", "--model", path, "--prompt", "the cat", "--tokens", "6",
        ];
        args.extend_from_slice(extra);
        let out = gaze(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    };
    let gpu = run(&[]);
    assert_eq!(gpu, run(&["--cpu-reference"]));
    assert!(!gpu.is_empty());
    let seeded = run(&["--temperature", "1.5", "--top-k", "20", "--seed", "3"]);
    assert_eq!(
        seeded,
        run(&["--temperature", "1.5", "--top-k", "20", "--seed", "3"])
    );
}

#[test]
fn verify_model_checks_every_llm_kernel_and_passes() {
    let path = synthetic_file();
    let out = gaze(&["verify", "--model", path.to_str().expect("utf-8 path")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for kernel in [
        "embed",
        "rms_norm",
        "gemv",
        "gemm",
        "rope",
        "attention (causal",
        "swiglu",
        "top_k",
        "end-to-end logits",
        "Q4_0",
        "Q8_0",
        "F16",
        "F32",
    ] {
        assert!(stdout.contains(kernel), "no {kernel:?} in:\n{stdout}");
    }
    assert!(
        stdout.contains("model kernels: all within tolerance"),
        "{stdout}"
    );
}

/// Each bad file gets one line on stderr naming the problem and exit status 2, never a panic.
fn refused(args: &[&str], expected: &str) {
    let out = gaze(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    assert!(
        stderr.contains(expected),
        "{args:?}: expected {expected:?} in {stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "more than one line: {stderr}"
    );
}

#[test]
fn bad_model_files_get_one_clear_line_and_a_non_zero_exit() {
    let good = synthetic_gguf(&SyntheticSpec::default());
    let truncated = write("truncated.gguf", &good[..good.len() / 2]);
    let magic = write("magic.gguf", b"GGML not really a model file");
    let mut arch = GgufWriter::new();
    arch.string("general.architecture", "gpt2");
    let arch = write("arch.gguf", &arch.to_bytes());
    let mut quant = GgufWriter::new();
    quant.tensor(
        "blk.0.attn_q.weight",
        &[32, 1],
        gaze::model::llm::TensorType::Q8_0,
        vec![0; 34],
    );
    let mut quant_bytes = quant.to_bytes();
    // Rewrite the tensor's type id (ggml 8, Q8_0) as 13 (Q5_K): it sits just before the offset.
    let at = quant_bytes.len() - 34 - 32 - 8 - 4;
    let at = (at..quant_bytes.len() - 4)
        .find(|&i| quant_bytes[i..i + 4] == 8u32.to_le_bytes())
        .expect("the type id");
    quant_bytes[at..at + 4].copy_from_slice(&13u32.to_le_bytes());
    let quant = write("quant.gguf", &quant_bytes);
    let missing = std::env::temp_dir().join("gaze-no-such-model.gguf");
    for (path, expected) in [
        (&truncated, "past the file's end"),
        (&magic, "not a GGUF file"),
        (&arch, "architecture is `gpt2`"),
        (&quant, "Q5_K, which Gaze does not read yet"),
        (&missing, "could not read"),
    ] {
        let path = path.to_str().expect("utf-8 path");
        refused(&["inspect", "--model", path, "--prompt", "hi"], expected);
        refused(
            &[
                "generate", "--model", path, "--prompt", "hi", "--tokens", "2",
            ],
            expected,
        );
    }
}

#[test]
fn bad_requests_of_a_good_model_are_refused_by_name() {
    let path = synthetic_file();
    let path = path.to_str().expect("utf-8 path");
    refused(
        &["inspect", "--model", path, "--prompt", "hi", "--layer", "7"],
        "layer 7 does not exist",
    );
    refused(
        &["inspect", "--model", path, "--prompt", "hi", "--head", "4"],
        "head 4 does not exist",
    );
    refused(
        &["inspect", "--model", path, "--prompt", "hi", "--top", "0"],
        "--top is 1 to 100",
    );
    refused(
        &["inspect", "--model", path, "--prompt", ""],
        "the prompt is empty",
    );
    refused(
        &[
            "generate", "--model", path, "--prompt", "hi", "--tokens", "5000",
        ],
        "context is 2048",
    );
    refused(
        &[
            "generate",
            "--model",
            path,
            "--prompt",
            "hi",
            "--tokens",
            "18446744073709551615",
        ],
        "need 18446744073709551615 tokens",
    );
    refused(
        &[
            "generate",
            "--model",
            path,
            "--prompt",
            "hi",
            "--tokens",
            "3",
            "--temperature=-1",
        ],
        "temperature",
    );
    refused(
        &["generate", "--prompt", "hi", "--tokens", "3"],
        "GAZE_MODEL",
    );
}

#[test]
fn generate_on_the_real_model_says_paris() {
    let Some(model) = std::env::var_os("GAZE_MODEL") else {
        assert!(
            std::env::var("GAZE_REQUIRE_MODEL").map_or(true, |v| v != "1"),
            "GAZE_REQUIRE_MODEL=1 but GAZE_MODEL is not set"
        );
        eprintln!("\n==== SKIPPED: set GAZE_MODEL=$(tools/fetch-models.sh smollm2) ====\n");
        return;
    };
    let model = model.to_str().expect("utf-8 path").to_owned();
    let out = gaze(&[
        "generate",
        "--model",
        &model,
        "--prompt",
        "The capital of France is",
        "--tokens",
        "8",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.starts_with(" Paris"), "{stdout:?}");
}

#[test]
fn without_any_adapter_the_model_runs_on_the_cpu_reference_and_says_so() {
    let path = synthetic_file();
    // Linux builds have no Metal backend: asking for it alone leaves no adapter.
    let out = Command::new(env!("CARGO_BIN_EXE_gaze"))
        .args([
            "inspect",
            "--model",
            path.to_str().expect("utf-8 path"),
            "--prompt",
            "the cat",
        ])
        .env_remove("GAZE_MODEL")
        .env("WGPU_BACKEND", "metal")
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .expect("gaze runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("computing on the CPU reference"),
        "{stderr}"
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["engine"], "cpu-reference");
}

/// `gaze inspect --model FILE --scene S`: the scene's lesson on a real model, its public fields
/// (issue 17, item 9) with numbers that hold together: each row's `real_log_probability` is the
/// sum of its tokens', RLHF's base is that log-probability, every head of the layer sums to 1 per
/// row, the hidden-sink rows renormalise the rest, and the lens has a rung per layer.
#[test]
fn inspect_scene_on_a_model_prints_the_real_lesson_fields() {
    let path = synthetic_file();
    let scene = write(
        "real.scene.json",
        br#"{ "version": 1,
              "corpus": { "rows": [
                  { "prefix": "the cat", "ending": "sat", "count": 5 },
                  { "prefix": "the cat", "ending": "ran", "count": 0 },
                  { "prefix": "a mat", "ending": "on", "count": 2 } ] },
              "rlhf": { "preferred": "ran", "strength": 0.5 },
              "attention": { "sentence": "the cat sat on the mat", "focus": 3,
                             "layer": 1, "head": 2, "hide_first_token": true, "scale": "log" } }"#,
    );
    let out = gaze(&[
        "inspect",
        "--model",
        path.to_str().expect("utf-8 path"),
        "--scene",
        scene.to_str().expect("utf-8 path"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: Value = serde_json::from_slice(&out.stdout).expect("one JSON object");
    let bytes = std::fs::read(&path).expect("the model file");
    let sha = {
        use sha2::Digest;
        sha2::Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(json["model"]["sha256"], sha.as_str());
    assert_eq!(json["engine"], "cpu-reference");
    let n = json["tokens"].as_array().expect("tokens").len();
    assert!(n > 3 && json["focus"] == 3);

    let corpus = &json["corpus"];
    let rows = corpus["rows"].as_array().expect("rows");
    assert_eq!(rows.len(), 3, "every corpus row, count 0 included");
    for row in rows {
        let lp = row["real_log_probability"].as_f64().expect("a number");
        assert!(lp < 0.0 && lp.is_finite(), "{row}");
        assert!(!row["real_tokens"].as_array().expect("tokens").is_empty());
        assert!(row["count"].is_u64() && row["prefix"].is_string(), "{row}");
    }
    assert_eq!(corpus["prediction"], "sat");
    let next = corpus["real_next_token"].as_array().expect("per prefix");
    let prefixes: Vec<&str> = next.iter().map(|p| p["prefix"].as_str().unwrap()).collect();
    assert_eq!(prefixes, ["the cat", "a mat"]);
    for prefix in next {
        let top = prefix["top"].as_array().expect("top");
        assert_eq!(top.len(), 10);
        assert!(top[0]["token"].is_string() && top[0]["id"].is_u64());
        let p: Vec<f64> = top
            .iter()
            .map(|t| t["probability"].as_f64().unwrap())
            .collect();
        assert!(p.windows(2).all(|w| w[0] >= w[1]) && p.iter().sum::<f64>() <= 1.0 + 1e-5);
    }

    // RLHF over the model's base: `ran` has count 0 but a finite log-probability, so the
    // preference is not refused; each base logit is the row's real log-probability.
    let rlhf = json["rlhf"]["rows"].as_array().expect("rlhf rows");
    assert_eq!(rlhf.len(), 2);
    for (r, row) in rlhf.iter().zip(rows) {
        assert_eq!(r["ending"], row["ending"]);
        assert_eq!(r["base_logit"], row["real_log_probability"]);
        assert!(r["reward_to_win"].as_f64().expect("finite") >= 0.0);
    }
    let probability: f64 = rlhf
        .iter()
        .map(|r| r["probability"].as_f64().unwrap())
        .sum();
    assert!((probability - 1.0).abs() < 1e-9);

    assert_eq!(json["layer"], 1);
    let heads = json["heads"].as_array().expect("heads");
    assert_eq!(heads.len(), SyntheticSpec::default().heads);
    for head in heads {
        let weights = head["weights"].as_array().expect("rows");
        let shown = head["shown"]
            .as_array()
            .expect("hide_first_token gives shown rows");
        let share = head["first_token_share"].as_array().expect("shares");
        assert_eq!((weights.len(), shown.len(), share.len()), (n, n, n));
        for (i, (row, shown_row)) in weights.iter().zip(shown).enumerate() {
            let row: Vec<f64> = row
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            let shown_row: Vec<f64> = shown_row
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect();
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-5);
            assert!(row[i + 1..].iter().all(|&w| w == 0.0), "causal");
            assert_eq!(shown_row[0], 0.0, "the first column is dropped");
            assert_eq!(share[i].as_f64().unwrap(), row[0]);
            if i > 0 {
                assert!(
                    (shown_row.iter().sum::<f64>() - 1.0).abs() < 1e-5,
                    "{shown_row:?}"
                );
            }
        }
    }
    assert_eq!(
        heads[2]["kv_head"],
        2 / (heads.len() / SyntheticSpec::default().kv_heads)
    );
    let lens = json["lens"].as_array().expect("lens");
    assert_eq!(lens.len(), SyntheticSpec::default().layers);
    assert!(lens
        .iter()
        .all(|rung| rung["top"].as_array().unwrap().len() == 3));
}

#[test]
fn inspect_scene_on_a_model_refuses_a_head_it_does_not_have() {
    let path = synthetic_file();
    let scene = write(
        "far-head.scene.json",
        br#"{ "version": 1, "attention": { "layer": 40 } }"#,
    );
    refused(
        &[
            "inspect",
            "--model",
            path.to_str().expect("utf-8 path"),
            "--scene",
            scene.to_str().expect("utf-8 path"),
        ],
        "layer 41, head 1 is not in",
    );
}
