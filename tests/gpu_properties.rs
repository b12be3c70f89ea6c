//! Properties of the GPU attention kernels over random shapes (proptest), on lavapipe or any other
//! adapter: the GPU equals the CPU reference, and its weights keep the lesson's promises — every
//! row with a key to attend to sums to 1, a row with none is all zeros, and under the causal mask
//! the upper triangle is exactly zero.
//!
//! Shapes stay small (N ≤ 64, d_k ≤ 16, heads ≤ 4) and the cases few, so the file runs in seconds
//! on a software adapter; `gpu_attention.rs` covers the large sizes on a fixed grid.

mod common;

use common::{any_positions, run_gpu};
use gaze::gpu::verify::{compare_end_to_end, compare_kernels, Check};
use gaze::model::attention::{self, AttentionOptions, QueryRows};
use gaze::model::sample::{random_input, SampleShape};
use proptest::prelude::*;

/// N, d_model, d_k, heads. d_model is not held to powers of two, so workgroups do not divide it.
fn shapes() -> impl Strategy<Value = SampleShape> {
    (1usize..=64, 1usize..=24, 1usize..=16, 1usize..=4)
        .prop_map(|(n, dm, dk, h)| SampleShape::new(n, dm, dk, h))
}

fn failures(checks: &[Check]) -> Vec<String> {
    checks
        .iter()
        .filter(|c| !c.passed())
        .map(|c| {
            format!(
                "{}: max abs error {:e} exceeds {:e} ({})",
                c.kernel, c.max_abs_error, c.tolerance, c.rule
            )
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Every kernel against its CPU twin fed the GPU's own inputs (at logits ×1 and ×1000), and,
    /// at ordinary logits, the whole GPU pipeline against the whole CPU reference; for the full
    /// matrix or for one focus row.
    #[test]
    fn gpu_equals_cpu_reference_on_random_shapes(
        shape in shapes(),
        causal: bool,
        pos in any_positions(),
        seed: u64,
        huge: bool,
        focus in proptest::option::of(0usize..64),
        mask_bits in proptest::option::of(any::<u64>()),
    ) {
        let n = shape.n_tokens;
        let key_padding_mask = mask_bits.map(|bits| (0..n).map(|j| bits >> j & 1 == 1).collect());
        let options = AttentionOptions { causal, positions: pos, key_padding_mask };
        let input = random_input(seed, shape, options, if huge { 1000.0 } else { 1.0 });
        let rows = focus.map_or(QueryRows::All, |f| QueryRows::Focus(f % n));
        let (packed, gpu) = run_gpu(&input, rows);
        let mut failed = failures(&compare_kernels(&packed, &gpu));
        if !huge {
            failed.extend(failures(&compare_end_to_end(&attention::run(&packed), &gpu)));
        }
        prop_assert!(failed.is_empty(), "{:?} {:?}: {}", shape, rows, failed.join("; "));
    }

    /// The GPU's weights: each row with a key it may attend to sums to 1 (each weight in [0, 1]),
    /// a row with none is all zeros, never NaN; a padding key's weight and, with the causal mask,
    /// every weight above the diagonal are exactly 0.
    #[test]
    fn gpu_weights_rows_sum_to_one_and_causal_upper_triangle_is_zero(
        shape in shapes(),
        causal: bool,
        pos in any_positions(),
        seed: u64,
        huge: bool,
        mask_bits in proptest::option::of(any::<u64>()),
    ) {
        let n = shape.n_tokens;
        let mask: Option<Vec<bool>> = mask_bits.map(|bits| (0..n).map(|j| bits >> j & 1 == 1).collect());
        let options = AttentionOptions { causal, positions: pos, key_padding_mask: mask.clone() };
        let input = random_input(seed, shape, options, if huge { 1000.0 } else { 1.0 });
        let (_, gpu) = run_gpu(&input, QueryRows::All);
        let padded = |j: usize| mask.as_ref().is_some_and(|m| m[j]);
        for head in 0..shape.heads {
            for i in 0..n {
                let row = gpu.weights_row(head, i).unwrap();
                prop_assert!(row.iter().all(|w| (0.0..=1.0).contains(w)), "head {} row {}: {:?}", head, i, row);
                let visible = (0..n).any(|j| !padded(j) && (!causal || j <= i));
                let sum: f64 = row.iter().map(|&w| f64::from(w)).sum();
                let want = if visible { 1.0 } else { 0.0 };
                prop_assert!((sum - want).abs() <= 1e-5, "head {} row {} sums to {}, not {}", head, i, sum, want);
                prop_assert!(
                    (0..n).filter(|&j| padded(j)).all(|j| row[j] == 0.0),
                    "head {} row {}: a padding key has weight: {:?}", head, i, row
                );
                if causal {
                    prop_assert!(
                        row[i + 1..].iter().all(|&w| w == 0.0),
                        "head {} row {}: a future key has weight: {:?}", head, i, &row[i + 1..]
                    );
                }
            }
        }
    }
}
