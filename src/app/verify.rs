//! `gaze verify`: run every attention kernel on this machine's adapter against the CPU reference
//! over a fixed set of shapes, and report the largest error per kernel.

use std::fmt;

use crate::gpu::verify::{
    compare_end_to_end, compare_kernels, max_abs_diff, Check, WEIGHTS_TOLERANCE,
};
use crate::gpu::{AdapterSummary, AttentionKernels, GpuContext, GpuError};
use crate::model::attention::{self, AttentionOptions, PackedAttention, QueryRows};
use crate::model::positions::Positions;
use crate::model::sample::{random_input, SampleShape};

/// One shape to verify.
#[derive(Clone, Debug)]
pub struct VerifyCase {
    /// Sizes.
    pub shape: SampleShape,
    /// Causal mask, positions, key padding.
    pub options: AttentionOptions,
    /// Full matrix or one focus row.
    pub rows: QueryRows,
    /// Multiplier on the logits (1000 tests the softmax's stability).
    pub logit_scale: f32,
    /// Seed of the random input.
    pub seed: u64,
}

impl VerifyCase {
    fn new(
        (n, d_model, d_k, heads): (usize, usize, usize, usize),
        causal: bool,
        positions: Positions,
        rows: QueryRows,
        logit_scale: f32,
    ) -> Self {
        Self {
            shape: SampleShape::new(n, d_model, d_k, heads),
            options: AttentionOptions {
                causal,
                positions,
                key_padding_mask: None,
            },
            rows,
            logit_scale,
            seed: (n * 7919 + d_k * 31 + heads) as u64,
        }
    }

    /// A one-line description, e.g. `N=64 d_model=64 d_k=16 heads=4 rope causal ×1000`.
    pub fn describe(&self) -> String {
        let s = &self.shape;
        let mut text = format!(
            "N={} d_model={} d_k={} heads={} {}",
            s.n_tokens,
            s.d_model,
            s.d_k,
            s.heads,
            self.options.positions.name()
        );
        if self.options.causal {
            text.push_str(" causal");
        }
        if self.options.key_padding_mask.is_some() {
            text.push_str(" key-padding");
        }
        if let QueryRows::Focus(focus) = self.rows {
            text.push_str(&format!(" focus-row {focus}"));
        }
        text.push_str(&format!(" ×{}", self.logit_scale));
        text
    }
}

/// The fixed shapes `gaze verify` checks: edge sizes (N = 1, sizes that are not multiples of a
/// workgroup), every positional mode, causal and padding masks (including a row masked whole),
/// logits ×1000, and the focus-row mode at 16,384 tokens.
pub fn standard_cases() -> Vec<VerifyCase> {
    use Positions::{None as NoPositions, Rope, Sinusoidal};
    let mut cases = vec![
        VerifyCase::new((1, 16, 16, 1), false, NoPositions, QueryRows::All, 1000.0),
        VerifyCase::new((2, 8, 1, 2), true, Sinusoidal, QueryRows::All, 1000.0),
        VerifyCase::new((7, 32, 4, 2), true, Rope, QueryRows::All, 1000.0),
        VerifyCase::new((64, 64, 16, 4), false, Rope, QueryRows::All, 1000.0),
        VerifyCase::new((255, 64, 64, 2), true, Sinusoidal, QueryRows::All, 1000.0),
        VerifyCase::new((1000, 64, 64, 4), true, NoPositions, QueryRows::All, 1000.0),
        VerifyCase::new((1000, 64, 64, 1), true, Rope, QueryRows::All, 1.0),
        VerifyCase::new(
            (4096, 64, 64, 2),
            false,
            Sinusoidal,
            QueryRows::Focus(2000),
            1.0,
        ),
        VerifyCase::new(
            (16_384, 64, 64, 1),
            true,
            Rope,
            QueryRows::Focus(16_383),
            1.0,
        ),
    ];
    // Padding on key 0 and every 7th key: under the causal mask, row 0 has nothing left to
    // attend to and must come back as zeros.
    let mut padded = VerifyCase::new((300, 32, 16, 2), true, NoPositions, QueryRows::All, 1.0);
    padded.options.key_padding_mask = Some((0..300).map(|j| j % 7 == 0).collect());
    cases.push(padded);
    cases
}

/// The worst result for one kernel over all cases.
#[derive(Clone, Debug)]
pub struct KernelSummary {
    /// Kernel or comparison name.
    pub kernel: &'static str,
    /// Largest absolute error over all cases.
    pub max_abs_error: f64,
    /// The tolerance of the case that came closest to its own tolerance.
    pub tolerance_at_worst: f64,
    /// How the tolerance is defined.
    pub rule: &'static str,
    /// Cases compared.
    pub cases: usize,
    /// Whether every case was within tolerance.
    pub passed: bool,
}

/// What `gaze verify` prints.
#[derive(Clone, Debug)]
pub struct VerifyReport {
    /// The adapter the kernels ran on.
    pub adapter: AdapterSummary,
    /// The cases, described.
    pub cases: Vec<String>,
    /// One line per kernel.
    pub kernels: Vec<KernelSummary>,
}

impl VerifyReport {
    /// Whether every kernel stayed within tolerance on every case.
    pub fn passed(&self) -> bool {
        self.kernels.iter().all(|k| k.passed)
    }

    fn record(&mut self, check: &Check) {
        let ratio = |error: f64, tolerance: f64| if error == 0.0 { 0.0 } else { error / tolerance };
        match self.kernels.iter_mut().find(|k| k.kernel == check.kernel) {
            Some(summary) => {
                if ratio(check.max_abs_error, check.tolerance)
                    > ratio(summary.max_abs_error, summary.tolerance_at_worst)
                {
                    summary.tolerance_at_worst = check.tolerance;
                }
                summary.max_abs_error = summary.max_abs_error.max(check.max_abs_error);
                summary.cases += 1;
                summary.passed &= check.passed();
            }
            None => self.kernels.push(KernelSummary {
                kernel: check.kernel,
                max_abs_error: check.max_abs_error,
                tolerance_at_worst: check.tolerance,
                rule: check.rule,
                cases: 1,
                passed: check.passed(),
            }),
        }
    }
}

/// Runs every standard case on `ctx` and compares it with the CPU reference.
pub fn run(ctx: &GpuContext) -> Result<VerifyReport, GpuError> {
    let kernels = AttentionKernels::new(ctx)?;
    let mut report = VerifyReport {
        adapter: ctx.summary(),
        cases: Vec::new(),
        kernels: Vec::new(),
    };
    for case in standard_cases() {
        let input = random_input(
            case.seed,
            case.shape,
            case.options.clone(),
            case.logit_scale,
        );
        let packed = PackedAttention::new(&input, case.rows)?;
        let gpu = kernels.run_blocking(ctx, &packed)?;
        for check in compare_kernels(&packed, &gpu) {
            report.record(&check);
        }
        // End to end only at ordinary logit scales: at ×1000 a last-bit difference in a score is
        // amplified by exp, and the per-kernel checks above are the meaningful ones.
        if case.logit_scale <= 1.0 {
            for check in compare_end_to_end(&attention::run(&packed), &gpu) {
                report.record(&check);
            }
        }
        // The focus-row mode must give exactly the matching row of the full matrix.
        if case.rows == QueryRows::All {
            let n = case.shape.n_tokens;
            let mut focus_error = 0.0f64;
            for focus in [0, n / 2, n - 1] {
                let row = kernels
                    .run_blocking(ctx, &PackedAttention::new(&input, QueryRows::Focus(focus))?)?;
                for head in 0..case.shape.heads {
                    let (Some(a), Some(b)) =
                        (row.weights_row(head, focus), gpu.weights_row(head, focus))
                    else {
                        focus_error = f64::INFINITY;
                        continue;
                    };
                    focus_error = focus_error.max(max_abs_diff(a, b));
                }
            }
            report.record(&Check {
                kernel: "focus row vs full matrix",
                max_abs_error: focus_error,
                tolerance: WEIGHTS_TOLERANCE,
                rule: "1e-5",
            });
        }
        report.cases.push(case.describe());
    }
    Ok(report)
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "adapter: {}", self.adapter.name)?;
        writeln!(f, "backend: {}", self.adapter.backend)?;
        writeln!(f, "device type: {}", self.adapter.device_type)?;
        if !self.adapter.driver.is_empty() {
            writeln!(f, "driver: {}", self.adapter.driver)?;
        }
        writeln!(f, "shapes ({}):", self.cases.len())?;
        for case in &self.cases {
            writeln!(f, "  {case}")?;
        }
        writeln!(
            f,
            "{:<26} {:>14} {:>14}  {:<26} {:>5}  result",
            "kernel", "max abs error", "tolerance", "tolerance rule", "cases"
        )?;
        for k in &self.kernels {
            writeln!(
                f,
                "{:<26} {:>14.3e} {:>14.3e}  {:<26} {:>5}  {}",
                k.kernel,
                k.max_abs_error,
                k.tolerance_at_worst,
                k.rule,
                k.cases,
                if k.passed { "ok" } else { "FAILED" }
            )?;
        }
        write!(
            f,
            "{}",
            if self.passed() {
                "all kernels within tolerance"
            } else {
                "some kernels exceed tolerance"
            }
        )
    }
}
