//! Shared by the GPU test binaries: one device and one set of pipelines per test binary.

#![allow(dead_code)]

pub mod step4;

use std::sync::OnceLock;

use gaze::gpu::{AttentionKernels, GpuContext};
use gaze::model::attention::{AttentionInput, AttentionResult, PackedAttention, QueryRows};

/// The shared GPU. A missing adapter fails the test — never skips it — with a message that
/// names the fix (install `mesa-vulkan-drivers` for the lavapipe software adapter).
pub fn gpu() -> &'static (GpuContext, AttentionKernels) {
    static GPU: OnceLock<(GpuContext, AttentionKernels)> = OnceLock::new();
    GPU.get_or_init(|| {
        let ctx =
            GpuContext::headless().unwrap_or_else(|e| panic!("GPU tests need an adapter: {e}"));
        let kernels = AttentionKernels::new(&ctx)
            .unwrap_or_else(|e| panic!("attention kernels failed to build: {e}"));
        (ctx, kernels)
    })
}

/// Where the real SmolLM2-135M file is (`GAZE_MODEL`), or `None` after a loud notice that the
/// real-model tests are skipped — unless `GAZE_REQUIRE_MODEL=1` (set by `.ci/run`, which fetches
/// the file first), where a missing file fails the test.
pub fn real_model_path() -> Option<std::path::PathBuf> {
    let Some(path) = std::env::var_os("GAZE_MODEL") else {
        let required = std::env::var("GAZE_REQUIRE_MODEL").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "GAZE_REQUIRE_MODEL=1 but GAZE_MODEL is not set: run \
             `export GAZE_MODEL=$(tools/fetch-models.sh smollm2)`"
        );
        eprintln!(
            "\n==== SKIPPED: the real-model tests need SmolLM2-135M. Run \
             `export GAZE_MODEL=$(tools/fetch-models.sh smollm2)` ====\n"
        );
        return None;
    };
    Some(path.into())
}

/// Runs `input` on the GPU, returning the packed input alongside the result.
pub fn run_gpu(input: &AttentionInput, rows: QueryRows) -> (PackedAttention, AttentionResult) {
    let (ctx, kernels) = gpu();
    let packed = PackedAttention::new(input, rows).expect("valid input");
    let result = kernels
        .run_blocking(ctx, &packed)
        .unwrap_or_else(|e| panic!("GPU run failed: {e}"));
    (packed, result)
}

/// Every positional mode, for proptest.
pub fn any_positions(
) -> impl proptest::strategy::Strategy<Value = gaze::model::positions::Positions> {
    use gaze::model::positions::Positions;
    use proptest::prelude::{prop_oneof, Just};
    prop_oneof![
        Just(Positions::None),
        Just(Positions::Sinusoidal),
        Just(Positions::Rope)
    ]
}
