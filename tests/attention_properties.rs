//! Properties of the CPU reference over random shapes (proptest): the claims the lesson makes.

mod common;

use common::any_positions;
use gaze::model::attention::{attend, AttentionOptions, QueryRows};
use gaze::model::positions::Positions;
use gaze::model::sample::{random_input, SampleShape};
use proptest::prelude::*;

fn shapes() -> impl Strategy<Value = SampleShape> {
    (1usize..48, 1usize..16, 1usize..10, 1usize..4)
        .prop_map(|(n, dm, dk, h)| SampleShape::new(n, dm, dk, h))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn every_row_sums_to_one(shape in shapes(), causal: bool, pos in any_positions(), seed: u64, huge: bool) {
        let options = AttentionOptions { causal, positions: pos, key_padding_mask: None };
        let input = random_input(seed, shape, options, if huge { 1000.0 } else { 1.0 });
        let result = attend(&input, QueryRows::All).unwrap();
        for row in result.weights.chunks(shape.n_tokens) {
            let sum: f64 = row.iter().map(|&w| f64::from(w)).sum();
            prop_assert!((sum - 1.0).abs() <= 1e-5, "row sums to {}", sum);
            prop_assert!(row.iter().all(|&w| (0.0..=1.0).contains(&w)));
        }
    }

    #[test]
    fn causal_upper_triangle_is_exactly_zero(shape in shapes(), pos in any_positions(), seed: u64) {
        let options = AttentionOptions { causal: true, positions: pos, key_padding_mask: None };
        let result = attend(&random_input(seed, shape, options, 1.0), QueryRows::All).unwrap();
        for head in 0..shape.heads {
            for i in 0..shape.n_tokens {
                let row = result.weights_row(head, i).unwrap();
                prop_assert!(row[i + 1..].iter().all(|&w| w == 0.0));
            }
        }
    }

    #[test]
    fn permuting_tokens_permutes_weights_without_positions(shape in shapes(), seed: u64, rotate in 0usize..48) {
        let n = shape.n_tokens;
        let input = random_input(seed, shape, AttentionOptions::default(), 1.0);
        let pi: Vec<usize> = (0..n).map(|i| (i + rotate) % n).rev().collect();
        let mut permuted = input.clone();
        for (i, &to) in pi.iter().enumerate() {
            let row = input.x.row(i).unwrap().to_vec();
            permuted.x.data_mut()[to * shape.d_model..(to + 1) * shape.d_model].copy_from_slice(&row);
        }
        let a = attend(&input, QueryRows::All).unwrap();
        let b = attend(&permuted, QueryRows::All).unwrap();
        for head in 0..shape.heads {
            for i in 0..n {
                let (ra, rb) = (a.weights_row(head, i).unwrap(), b.weights_row(head, pi[i]).unwrap());
                for j in 0..n {
                    prop_assert!((ra[j] - rb[pi[j]]).abs() <= 1e-5);
                }
            }
        }
    }

    #[test]
    fn row_with_no_attendable_key_is_zeros_never_nan(shape in shapes(), causal: bool, seed: u64, mask_bits: u64) {
        let n = shape.n_tokens;
        let mask: Vec<bool> = (0..n).map(|j| mask_bits >> (j % 64) & 1 == 1).collect();
        let options = AttentionOptions { causal, positions: Positions::None, key_padding_mask: Some(mask.clone()) };
        let result = attend(&random_input(seed, shape, options, 1000.0), QueryRows::All).unwrap();
        for head in 0..shape.heads {
            for i in 0..n {
                let row = result.weights_row(head, i).unwrap();
                let visible = (0..n).any(|j| !mask[j] && (!causal || j <= i));
                let sum: f64 = row.iter().map(|&w| f64::from(w)).sum();
                prop_assert!(row.iter().all(|w| w.is_finite()));
                if visible {
                    prop_assert!((sum - 1.0).abs() <= 1e-5);
                } else {
                    prop_assert!(row.iter().all(|&w| w == 0.0));
                }
            }
        }
    }
}
