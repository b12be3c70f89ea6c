//! GPU ≡ CPU: each kernel's output against its CPU twin's, with the tolerances the project
//! promises.
//!
//! Two kinds of comparison:
//! - **per kernel** ([`compare_kernels`]): every CPU twin is fed the GPU's own input to that
//!   kernel (the softmax twin gets the GPU's scores, and so on). This isolates each kernel, and
//!   holds even at logits in the thousands, where a difference in the last bit of a score is
//!   amplified by the exponential.
//! - **end to end** ([`compare_end_to_end`]): the whole GPU pipeline against the whole CPU
//!   reference from the same input — meaningful at ordinary logit scales.
//!
//! Why tolerances at all: the GPU may fuse a multiply and an add into one rounding (FMA) where
//! the CPU rounds twice, and its `exp` is not the CPU's bit for bit. The twins share loop order
//! and reduction order, so what remains is a few units in the last place.

use crate::model::attention::{self, AttentionResult, PackedAttention};

/// One measured comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// What was compared, e.g. `attention_softmax`.
    pub kernel: &'static str,
    /// Largest absolute difference (∞ if a masked entry differs or a value is NaN).
    pub max_abs_error: f64,
    /// The allowed difference for this input.
    pub tolerance: f64,
    /// How the tolerance is defined, for people.
    pub rule: &'static str,
}

impl Check {
    /// Whether the error is within tolerance (a NaN error never is).
    pub fn passed(&self) -> bool {
        self.max_abs_error <= self.tolerance
    }
}

/// Weights: max abs error ≤ 1e-5.
pub const WEIGHTS_TOLERANCE: f64 = 1e-5;
/// Outputs: max abs error ≤ 1e-4 × max|V|.
pub const OUTPUT_RELATIVE_TOLERANCE: f64 = 1e-4;
/// Projections and scores: max abs error ≤ 1e-5 × max(1, max|value|).
pub const PRODUCT_RELATIVE_TOLERANCE: f64 = 1e-5;

/// Largest `|a − b|`. Equal infinities (masked scores) count as 0; anything else non-finite, or
/// a length mismatch, is an infinite error.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    if a.len() != b.len() {
        return f64::INFINITY;
    }
    a.iter().zip(b).fold(0.0f64, |worst, (&x, &y)| {
        let diff = if x == y {
            0.0
        } else if x.is_finite() && y.is_finite() {
            (f64::from(x) - f64::from(y)).abs()
        } else {
            f64::INFINITY
        };
        worst.max(diff)
    })
}

/// Largest finite `|value|`.
pub fn max_abs(values: &[f32]) -> f64 {
    values
        .iter()
        .filter(|v| v.is_finite())
        .fold(0.0f64, |m, v| m.max(f64::from(v.abs())))
}

fn product_tolerance(reference: &[&[f32]]) -> f64 {
    let magnitude = reference.iter().map(|r| max_abs(r)).fold(1.0f64, f64::max);
    PRODUCT_RELATIVE_TOLERANCE * magnitude
}

fn output_tolerance(v: &[f32]) -> f64 {
    OUTPUT_RELATIVE_TOLERANCE * max_abs(v).max(f64::from(f32::MIN_POSITIVE))
}

/// Each GPU kernel against its CPU twin fed the GPU's own inputs to that kernel.
pub fn compare_kernels(packed: &PackedAttention, gpu: &AttentionResult) -> [Check; 4] {
    let p = packed.params();
    let cpu = attention::project(packed);
    let project_error = max_abs_diff(&gpu.q, &cpu.q)
        .max(max_abs_diff(&gpu.k, &cpu.k))
        .max(max_abs_diff(&gpu.v, &cpu.v));
    let scores = attention::scores(p, &gpu.q, &gpu.k, packed.key_mask());
    let weights = attention::softmax_rows(p, &gpu.scores, packed.key_mask());
    let output = attention::weighted_values(p, &gpu.weights, &gpu.v);
    [
        Check {
            kernel: "attention_project",
            max_abs_error: project_error,
            tolerance: product_tolerance(&[&cpu.q, &cpu.k, &cpu.v]),
            rule: "1e-5 × max(1, max|Q,K,V|)",
        },
        Check {
            kernel: "attention_scores",
            max_abs_error: max_abs_diff(&gpu.scores, &scores),
            tolerance: product_tolerance(&[&scores]),
            rule: "1e-5 × max(1, max|S|)",
        },
        Check {
            kernel: "attention_softmax",
            max_abs_error: max_abs_diff(&gpu.weights, &weights),
            tolerance: WEIGHTS_TOLERANCE,
            rule: "1e-5",
        },
        Check {
            kernel: "attention_output",
            max_abs_error: max_abs_diff(&gpu.output, &output),
            tolerance: output_tolerance(&gpu.v),
            rule: "1e-4 × max|V|",
        },
    ]
}

/// The whole GPU pipeline against the whole CPU reference (weights and outputs).
pub fn compare_end_to_end(cpu: &AttentionResult, gpu: &AttentionResult) -> [Check; 2] {
    [
        Check {
            kernel: "end-to-end weights",
            max_abs_error: max_abs_diff(&gpu.weights, &cpu.weights),
            tolerance: WEIGHTS_TOLERANCE,
            rule: "1e-5",
        },
        Check {
            kernel: "end-to-end outputs",
            max_abs_error: max_abs_diff(&gpu.output, &cpu.output),
            tolerance: output_tolerance(&cpu.v),
            rule: "1e-4 × max|V|",
        },
    ]
}
