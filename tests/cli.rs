//! The `gaze` binary as a user runs it.

use std::process::Command;

fn gaze() -> Command {
    Command::new(env!("CARGO_BIN_EXE_gaze"))
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
