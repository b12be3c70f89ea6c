//! Seeded random attention inputs: the shapes `gaze verify`, the tests and the benchmarks share.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::attention::{AttentionInput, AttentionOptions, HeadWeights, Matrix};

/// The sizes of a random attention problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SampleShape {
    /// N, tokens.
    pub n_tokens: usize,
    /// Embedding width.
    pub d_model: usize,
    /// Head width.
    pub d_k: usize,
    /// Heads.
    pub heads: usize,
}

impl SampleShape {
    /// A shape.
    pub fn new(n_tokens: usize, d_model: usize, d_k: usize, heads: usize) -> Self {
        Self {
            n_tokens,
            d_model,
            d_k,
            heads,
        }
    }
}

/// A reproducible input: embeddings uniform in [−1, 1]; weights uniform in ±1/√d_model, so the
/// projections have roughly unit size. `logit_scale` multiplies `W_Q` and with it every score:
/// ×1000 pushes the logits into the thousands, where a softmax that forgets to subtract the row
/// maximum overflows.
pub fn random_input(
    seed: u64,
    shape: SampleShape,
    options: AttentionOptions,
    logit_scale: f32,
) -> AttentionInput {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut matrix = |rows: usize, cols: usize, scale: f32| {
        let data = (0..rows * cols)
            .map(|_| rng.random_range(-1.0f32..=1.0) * scale)
            .collect();
        Matrix::new(rows, cols, data).unwrap_or_else(|_| Matrix::zeros(rows, cols))
    };
    let x = matrix(shape.n_tokens, shape.d_model, 1.0);
    let w_scale = 1.0 / (shape.d_model as f32).sqrt();
    let heads = (0..shape.heads)
        .map(|_| HeadWeights {
            w_q: matrix(shape.d_model, shape.d_k, w_scale * logit_scale),
            w_k: matrix(shape.d_model, shape.d_k, w_scale),
            w_v: matrix(shape.d_model, shape.d_k, w_scale),
        })
        .collect();
    AttentionInput { x, heads, options }
}
