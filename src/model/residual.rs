//! Residual + layer norm: what a transformer does with attention's output.
//!
//! Each head's output row `O_h[i]` (a mix of values) is mapped back onto the features by `W_O` and
//! the heads are summed: the *update* `u_i = Σ_h O_h[i] · W_O`. Without a residual connection the
//! update is all the token carries forward — its own meaning is gone. With one, it is added to
//! the token's own vector and normalised:
//!
//! ```text
//! x'_i = LayerNorm(x_i + u_i),   LayerNorm(v) = (v − mean(v)) / √(var(v) + ε)
//! ```
//!
//! (no learned gain or bias; ε = 1e-5). The residual keeps the word's meaning; the norm keeps the
//! scale steady however many layers stack up.

use super::attention::{AttentionResult, Matrix};

/// ε in the layer norm's denominator.
pub const LAYER_NORM_EPS: f32 = 1e-5;

/// `(v − mean) / √(var + ε)`; an empty vector stays empty.
pub fn layer_norm(v: &[f32]) -> Vec<f32> {
    if v.is_empty() {
        return Vec::new();
    }
    let n = v.len() as f32;
    let mean = v.iter().sum::<f32>() / n;
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f32>() / n;
    let inv = 1.0 / (var + LAYER_NORM_EPS).sqrt();
    v.iter().map(|x| (x - mean) * inv).collect()
}

/// What token `token` carries to the next layer.
#[derive(Clone, Debug, PartialEq)]
pub struct CarriedForward {
    /// Its own vector in the residual stream (embedding, plus sinusoidal positions when on).
    pub stream: Vec<f32>,
    /// The heads' update `Σ_h O_h[token] · W_O`.
    pub update: Vec<f32>,
    /// What goes on: `LayerNorm(stream + update)` with residual + norm on, else `update` alone.
    pub carried: Vec<f32>,
}

/// Computes [`CarriedForward`] for `token` from its stream vector, the attention `result` (which
/// must hold that token's row) and `w_o` (value dimensions × features). `None` if the shapes do
/// not fit together.
pub fn carried_forward(
    stream: &[f32],
    result: &AttentionResult,
    token: usize,
    w_o: &Matrix,
    residual_norm: bool,
) -> Option<CarriedForward> {
    let features = w_o.cols();
    if stream.len() != features || w_o.rows() != result.params.dk() {
        return None;
    }
    let mut update = vec![0.0f32; features];
    for head in 0..result.params.heads() {
        let o = result.output_row(head, token)?;
        for (c, &value) in o.iter().enumerate() {
            let row = w_o.row(c)?;
            for (u, &w) in update.iter_mut().zip(row) {
                *u += value * w;
            }
        }
    }
    let carried = if residual_norm {
        let sum: Vec<f32> = stream.iter().zip(&update).map(|(x, u)| x + u).collect();
        layer_norm(&sum)
    } else {
        update.clone()
    };
    Some(CarriedForward {
        stream: stream.to_vec(),
        update,
        carried,
    })
}

/// The residual stream of `input`: X, plus the sinusoidal table when sinusoidal positions are on.
pub fn residual_stream(input: &crate::model::attention::AttentionInput) -> Matrix {
    let mut stream = input.x.clone();
    if input.options.positions == crate::model::positions::Positions::Sinusoidal {
        let table = crate::model::positions::sinusoidal_table(stream.rows(), stream.cols());
        for (x, p) in stream.data_mut().iter_mut().zip(table) {
            *x += p;
        }
    }
    stream
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::attention::{attend, AttentionOptions, QueryRows};
    use crate::model::lesson::LessonModel;

    #[test]
    fn layer_norm_gives_zero_mean_unit_variance() {
        let out = layer_norm(&[1.0, 2.0, 3.0, 10.0]);
        let mean: f32 = out.iter().sum::<f32>() / 4.0;
        let var: f32 = out.iter().map(|x| (x - mean).powi(2)).sum::<f32>() / 4.0;
        assert!(mean.abs() < 1e-6 && (var - 1.0).abs() < 1e-4);
        assert_eq!(layer_norm(&[]), Vec::<f32>::new());
        assert!(
            layer_norm(&[5.0, 5.0]).iter().all(|v| v.abs() < 1e-3),
            "constant input → zeros, not NaN"
        );
    }

    #[test]
    fn residual_keeps_the_words_own_meaning() {
        // Without the residual, `is` carries only what it gathered (database-ish things); with
        // it, its own "linking verb" feature survives.
        let model = LessonModel::builtin().unwrap();
        let (_, input) = model
            .attention_input("the best database is", 1, AttentionOptions::default())
            .unwrap();
        let result = attend(&input, QueryRows::All).unwrap();
        let stream = input.x.row(3).unwrap();
        let linking = model
            .features()
            .iter()
            .position(|f| f == "linking verb")
            .unwrap();
        let thing = model.features().iter().position(|f| f == "thing").unwrap();
        let bare = carried_forward(stream, &result, 3, model.w_o(), false).unwrap();
        let kept = carried_forward(stream, &result, 3, model.w_o(), true).unwrap();
        assert_eq!(
            bare.carried[linking], 0.0,
            "no residual: the verb is forgotten"
        );
        assert!(
            bare.carried[thing] > 0.0,
            "it carries the thing it attended to"
        );
        assert!(kept.carried[linking] > 0.0, "the residual keeps it");
        assert!(kept.carried[thing] > 0.0);
    }
}
