//! GPU ≡ CPU: every attention kernel against its CPU twin on lavapipe or any other adapter.

mod common;

use common::{gpu, run_gpu};
use gaze::gpu::verify::{compare_end_to_end, compare_kernels, max_abs, max_abs_diff, Check};
use gaze::model::attention::{self, AttentionOptions, QueryRows};
use gaze::model::positions::Positions;
use gaze::model::sample::{random_input, SampleShape};

const D_KS: [usize; 4] = [1, 4, 16, 64];
const HEADS: [usize; 3] = [1, 2, 4];
/// Not a power of two, so the projection's workgroups do not divide it evenly.
const D_MODEL: usize = 40;

fn assert_passed(checks: &[Check], case: &str) {
    for check in checks {
        assert!(
            check.passed(),
            "{case}: {} max abs error {:e} exceeds {:e} ({})",
            check.kernel,
            check.max_abs_error,
            check.tolerance,
            check.rule
        );
    }
}

/// The whole grid for one N: d_k ∈ {1, 4, 16, 64} × heads ∈ {1, 2, 4} × causal on/off × every
/// positional mode, each kernel compared with its twin on the GPU's own inputs at logits ×1000.
/// The whole pipeline is compared with the CPU reference at ordinary logits on every shape up to
/// N = 255 and on the single-head shapes at N = 1000 (lavapipe needs ~6 s per 4-head N = 1000
/// run; the per-kernel checks already cover those shapes).
fn check_grid(n: usize) {
    for d_k in D_KS {
        for heads in HEADS {
            for causal in [false, true] {
                for positions in Positions::ALL {
                    let shape = SampleShape::new(n, D_MODEL, d_k, heads);
                    let options = AttentionOptions {
                        causal,
                        positions,
                        key_padding_mask: None,
                    };
                    let case = format!(
                        "N={n} d_k={d_k} heads={heads} causal={causal} {}",
                        positions.name()
                    );
                    let seed = (n * 1000 + d_k * 10 + heads) as u64;

                    let huge = random_input(seed, shape, options.clone(), 1000.0);
                    let (packed, result) = run_gpu(&huge, QueryRows::All);
                    assert_passed(&compare_kernels(&packed, &result), &format!("{case} ×1000"));
                    assert!(
                        result.weights.iter().all(|w| w.is_finite()),
                        "{case} ×1000: non-finite weight"
                    );

                    if n <= 255 || heads == 1 {
                        let unit = random_input(seed + 1, shape, options, 1.0);
                        let (packed, result) = run_gpu(&unit, QueryRows::All);
                        assert_passed(
                            &compare_end_to_end(&attention::run(&packed), &result),
                            &format!("{case} ×1"),
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn gpu_kernels_match_cpu_twins_at_n_1() {
    check_grid(1);
}

#[test]
fn gpu_kernels_match_cpu_twins_at_n_2() {
    check_grid(2);
}

#[test]
fn gpu_kernels_match_cpu_twins_at_n_7() {
    check_grid(7);
}

#[test]
fn gpu_kernels_match_cpu_twins_at_n_64() {
    check_grid(64);
}

#[test]
fn gpu_kernels_match_cpu_twins_at_n_255() {
    check_grid(255);
}

#[test]
fn gpu_kernels_match_cpu_twins_at_n_1000() {
    check_grid(1000);
}

#[test]
fn focus_row_equals_row_of_full_matrix_on_gpu() {
    for positions in Positions::ALL {
        let options = AttentionOptions {
            causal: true,
            positions,
            key_padding_mask: None,
        };
        let input = random_input(11, SampleShape::new(1000, 64, 64, 2), options, 1.0);
        let (_, full) = run_gpu(&input, QueryRows::All);
        for focus in [0, 1, 511, 999] {
            let (_, row) = run_gpu(&input, QueryRows::Focus(focus));
            for head in 0..2 {
                let (a, b) = (
                    row.weights_row(head, focus).unwrap(),
                    full.weights_row(head, focus).unwrap(),
                );
                assert!(
                    max_abs_diff(a, b) <= 1e-5,
                    "{} focus {focus} head {head}",
                    positions.name()
                );
                let (a, b) = (
                    row.output_row(head, focus).unwrap(),
                    full.output_row(head, focus).unwrap(),
                );
                assert!(max_abs_diff(a, b) <= 1e-4 * max_abs(&full.v));
            }
        }
    }
}

/// 16,384 keys: the size where a kernel that loops over all keys in one invocation would be cut
/// off by lavapipe's 65,535-iteration limit and return wrong numbers silently.
#[test]
fn focus_row_over_16384_tokens_matches_cpu_reference() {
    let n = 16_384;
    let options = AttentionOptions {
        causal: true,
        positions: Positions::Rope,
        key_padding_mask: None,
    };
    let input = random_input(12, SampleShape::new(n, 64, 64, 2), options, 1.0);
    for focus in [0, 8191, n - 1] {
        let (packed, gpu_row) = run_gpu(&input, QueryRows::Focus(focus));
        let cpu_row = attention::run(&packed);
        assert_passed(
            &compare_kernels(&packed, &gpu_row),
            &format!("focus {focus}"),
        );
        assert_passed(
            &compare_end_to_end(&cpu_row, &gpu_row),
            &format!("focus {focus}"),
        );
        for head in 0..2 {
            let weights = gpu_row.weights_row(head, focus).unwrap();
            let sum: f64 = weights.iter().map(|&w| f64::from(w)).sum();
            assert!(
                (sum - 1.0).abs() <= 1e-5,
                "focus {focus} head {head}: row sums to {sum}"
            );
            // The last key a causal row may see is the focus itself; the row must reach it.
            assert!(
                weights[focus] > 0.0,
                "focus {focus}: its own key got no weight"
            );
        }
        // Nothing N × N: one row of scores and weights per head.
        assert_eq!(gpu_row.weights.len(), 2 * n);
    }
}

#[test]
fn rows_sum_to_one_on_gpu() {
    for (causal, positions) in [
        (false, Positions::None),
        (true, Positions::Sinusoidal),
        (true, Positions::Rope),
    ] {
        let options = AttentionOptions {
            causal,
            positions,
            key_padding_mask: None,
        };
        let input = random_input(13, SampleShape::new(513, 32, 16, 4), options, 1.0);
        let (_, result) = run_gpu(&input, QueryRows::All);
        for row in result.weights.chunks(513) {
            let sum: f64 = row.iter().map(|&w| f64::from(w)).sum();
            assert!((sum - 1.0).abs() <= 1e-5, "row sums to {sum}");
        }
    }
}

#[test]
fn causal_mask_zeroes_upper_triangle_on_gpu() {
    let options = AttentionOptions {
        causal: true,
        ..Default::default()
    };
    let n = 300;
    let input = random_input(14, SampleShape::new(n, 32, 16, 2), options, 1000.0);
    let (_, result) = run_gpu(&input, QueryRows::All);
    for head in 0..2 {
        for i in 0..n {
            let weights = result.weights_row(head, i).unwrap();
            let scores = result.scores_row(head, i).unwrap();
            for j in i + 1..n {
                assert_eq!(weights[j], 0.0, "P[{i}][{j}] head {head}");
                assert_eq!(scores[j], f32::NEG_INFINITY, "S[{i}][{j}] head {head}");
            }
        }
    }
}

#[test]
fn permuting_tokens_permutes_weights_on_gpu() {
    let n = 97;
    let d_model = 16;
    let input = random_input(
        15,
        SampleShape::new(n, d_model, 8, 2),
        AttentionOptions::default(),
        1.0,
    );
    // A fixed permutation π: token i moves to position (37·i + 11) mod 97.
    let pi: Vec<usize> = (0..n).map(|i| (37 * i + 11) % n).collect();
    let mut permuted = input.clone();
    for (i, &to) in pi.iter().enumerate() {
        let row = input.x.row(i).unwrap().to_vec();
        permuted.x.data_mut()[to * d_model..(to + 1) * d_model].copy_from_slice(&row);
    }
    let (_, original) = run_gpu(&input, QueryRows::All);
    let (_, moved) = run_gpu(&permuted, QueryRows::All);
    for head in 0..2 {
        for i in 0..n {
            let a = original.weights_row(head, i).unwrap();
            let b = moved.weights_row(head, pi[i]).unwrap();
            for j in 0..n {
                assert!(
                    (a[j] - b[pi[j]]).abs() <= 1e-5,
                    "P[{i}][{j}] = {} but P'[π i][π j] = {}",
                    a[j],
                    b[pi[j]]
                );
            }
        }
    }
}

#[test]
fn fully_masked_row_is_zeros_on_gpu() {
    let n = 260;
    // Key 0 and every 5th key are padding; under the causal mask row 0 has no key left.
    let options = AttentionOptions {
        causal: true,
        positions: Positions::None,
        key_padding_mask: Some((0..n).map(|j| j % 5 == 0).collect()),
    };
    let input = random_input(16, SampleShape::new(n, 16, 8, 2), options, 1000.0);
    let (packed, result) = run_gpu(&input, QueryRows::All);
    assert!(
        result.weights.iter().all(|w| !w.is_nan()),
        "no NaN anywhere"
    );
    for head in 0..2 {
        assert!(
            result
                .weights_row(head, 0)
                .unwrap()
                .iter()
                .all(|&w| w == 0.0),
            "row 0 is zeros"
        );
        for i in 1..n {
            let row = result.weights_row(head, i).unwrap();
            let sum: f64 = row.iter().map(|&w| f64::from(w)).sum();
            assert!((sum - 1.0).abs() <= 1e-5, "row {i} sums to {sum}");
            assert!(
                row.iter().step_by(5).all(|&w| w == 0.0),
                "padding keys get no weight"
            );
        }
    }
    assert_passed(&compare_kernels(&packed, &result), "key padding");

    // Every key padding: every row is zeros and every output is zero.
    let all_masked = AttentionOptions {
        key_padding_mask: Some(vec![true; n]),
        ..Default::default()
    };
    let input = random_input(17, SampleShape::new(n, 16, 8, 1), all_masked, 1.0);
    let (_, result) = run_gpu(&input, QueryRows::All);
    assert!(result.weights.iter().all(|&w| w == 0.0));
    assert!(result.output.iter().all(|&o| o == 0.0));
}

#[test]
fn buffers_are_rewritten_in_place_for_the_same_shape() {
    let (ctx, kernels) = gpu();
    let shape = SampleShape::new(33, 16, 8, 2);
    let first = attention::PackedAttention::new(
        &random_input(18, shape, AttentionOptions::default(), 1.0),
        QueryRows::All,
    )
    .unwrap();
    let second = attention::PackedAttention::new(
        &random_input(19, shape, AttentionOptions::default(), 1.0),
        QueryRows::All,
    )
    .unwrap();
    let mut buffers = kernels.prepare(ctx, &first).unwrap();
    assert!(buffers.write_inputs(&ctx.queue, &second), "same shape fits");
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    kernels.encode(&mut encoder, &buffers);
    let result = gaze::gpu::attention::read_back(ctx, encoder, &buffers).unwrap();
    assert!(max_abs_diff(&result.weights, &attention::run(&second).weights) <= 1e-5);

    let other = attention::PackedAttention::new(
        &random_input(
            20,
            SampleShape::new(34, 16, 8, 2),
            AttentionOptions::default(),
            1.0,
        ),
        QueryRows::All,
    )
    .unwrap();
    assert!(
        !buffers.write_inputs(&ctx.queue, &other),
        "a different shape needs new buffers"
    );
}

#[test]
fn toggling_the_causal_mask_rewrites_the_same_buffers() {
    let (ctx, kernels) = gpu();
    let shape = SampleShape::new(40, 16, 8, 2);
    let input = random_input(22, shape, AttentionOptions::default(), 1.0);
    let open = attention::PackedAttention::new(&input, QueryRows::All).unwrap();
    let mut masked_input = input.clone();
    masked_input.options.causal = true;
    let masked = attention::PackedAttention::new(&masked_input, QueryRows::All).unwrap();

    let mut buffers = kernels.prepare(ctx, &open).unwrap();
    assert!(
        buffers.write_inputs(&ctx.queue, &masked),
        "the mask changes no size"
    );
    assert_eq!(buffers.params().causal, 1);
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    kernels.encode(&mut encoder, &buffers);
    let result = gaze::gpu::attention::read_back(ctx, encoder, &buffers).unwrap();
    assert_passed(
        &compare_end_to_end(&attention::run(&masked), &result),
        "causal after rewrite",
    );
    assert_eq!(
        result.weights_row(0, 0).unwrap()[1],
        0.0,
        "the upper triangle is masked"
    );

    // Switching positions changes the tables' sizes: new buffers.
    let mut rope_input = input;
    rope_input.options.positions = Positions::Rope;
    let rope = attention::PackedAttention::new(&rope_input, QueryRows::All).unwrap();
    assert!(!buffers.write_inputs(&ctx.queue, &rope));
}
