//! The attention sink, and how a map's weights become brightness.
//!
//! In a trained decoder most heads park most of every row on the first token (SmolLM2-135M's
//! middle layers give it 0.8–0.99 of the last row): a "no-op" place to put attention that the
//! softmax forces to go somewhere. Drawn as is, that one column washes every other cell out.
//! Hiding it is a *renormalisation*, and the views say so:
//!
//! ```text
//! shown[i][0] = 0
//! shown[i][j] = w[i][j] / Σ_{k≥1} w[i][k]          for j ≥ 1
//! ```
//!
//! with the first token's true share `w[i][0]` printed beside. The denominator is summed, not
//! taken as `1 − w[i][0]`: at a share of 0.99 the subtraction keeps two digits of the rest. A row
//! with nothing past the first column (row 0 of a causal map) is left empty.
//!
//! A scale maps a weight to the colour map's `[0, 1]`: `linear` is the weight itself; `log`
//! spreads four decades, `1e-4 … 1`, evenly (`1 + log10(w)/4`, clamped); `row_max` divides by
//! the row's largest weight, so every row has one full-bright cell.

use serde::{Deserialize, Serialize};

/// How weights map to brightness (scene field `attention.scale`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MapScale {
    /// The weight itself.
    #[default]
    Linear,
    /// Four decades of weight, 1e-4 to 1, spread evenly.
    Log,
    /// The weight over its row's largest.
    RowMax,
}

impl MapScale {
    /// Every scale, as the picker lists them.
    pub const ALL: [MapScale; 3] = [MapScale::Linear, MapScale::Log, MapScale::RowMax];

    /// Its name in scene files and on screen.
    pub fn name(self) -> &'static str {
        match self {
            MapScale::Linear => "linear",
            MapScale::Log => "log",
            MapScale::RowMax => "row_max",
        }
    }

    /// How the views label it.
    pub fn label(self) -> &'static str {
        match self {
            MapScale::Linear => "linear",
            MapScale::Log => "log (1e-4 to 1)",
            MapScale::RowMax => "per-row maximum",
        }
    }
}

/// The smallest weight the log scale tells from zero.
pub const LOG_FLOOR: f32 = 1e-4;

/// `weight`'s brightness in `[0, 1]` under `scale`, for a row whose largest weight is `row_max`.
pub fn brightness(weight: f32, row_max: f32, scale: MapScale) -> f32 {
    let value = match scale {
        MapScale::Linear => weight,
        MapScale::Log if weight <= 0.0 => 0.0,
        MapScale::Log => 1.0 + weight.max(LOG_FLOOR).log10() / -LOG_FLOOR.log10(),
        MapScale::RowMax if row_max > 0.0 => weight / row_max,
        MapScale::RowMax => 0.0,
    };
    if value.is_finite() {
        value.clamp(0.0, 1.0)
    } else {
        0.0
    }
}

/// A map with its first column hidden.
#[derive(Clone, Debug, PartialEq)]
pub struct HiddenSink {
    /// The renormalised rows, row-major like the input: column 0 is 0 and every other row sums
    /// to 1 (a row with nothing past column 0 is all 0).
    pub shown: Vec<f32>,
    /// Each row's true weight on the first token, before renormalising.
    pub first_share: Vec<f32>,
}

/// `weights` (`rows × cols`, row-major) with the first token's column dropped and each row
/// renormalised over the rest (the module's formula).
pub fn hide_first_token(weights: &[f32], cols: usize) -> HiddenSink {
    let mut shown = weights.to_vec();
    let mut first_share = Vec::with_capacity(weights.len() / cols.max(1));
    if cols == 0 {
        return HiddenSink { shown, first_share };
    }
    for row in shown.chunks_mut(cols) {
        let Some((first, rest)) = row.split_first_mut() else {
            continue;
        };
        first_share.push(*first);
        *first = 0.0;
        let total: f32 = rest.iter().sum();
        for w in rest.iter_mut() {
            *w = if total > 0.0 { *w / total } else { 0.0 };
        }
    }
    HiddenSink { shown, first_share }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hiding_the_first_token_renormalises_every_row_over_the_rest() {
        // A causal 3 × 3 map with a heavy sink.
        let weights = [1.0, 0.0, 0.0, 0.9, 0.1, 0.0, 0.99, 0.004, 0.006];
        let hidden = hide_first_token(&weights, 3);
        assert_eq!(hidden.first_share, [1.0, 0.9, 0.99]);
        assert_eq!(
            &hidden.shown[0..3],
            &[0.0, 0.0, 0.0],
            "row 0 has only the sink"
        );
        for row in hidden.shown.chunks(3).skip(1) {
            assert_eq!(row[0], 0.0);
            let sum: f32 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-6, "{row:?}");
        }
        assert!((hidden.shown[7] - 0.4).abs() < 1e-6 && (hidden.shown[8] - 0.6).abs() < 1e-6);
    }

    #[test]
    fn scales_map_weights_into_zero_to_one() {
        assert_eq!(brightness(0.25, 0.5, MapScale::Linear), 0.25);
        assert_eq!(brightness(0.25, 0.5, MapScale::RowMax), 0.5);
        assert_eq!(brightness(1.0, 1.0, MapScale::Log), 1.0);
        assert!((brightness(0.01, 1.0, MapScale::Log) - 0.5).abs() < 1e-6);
        assert_eq!(brightness(1e-9, 1.0, MapScale::Log), 0.0);
        assert_eq!(brightness(0.0, 1.0, MapScale::Log), 0.0);
        assert_eq!(brightness(0.3, 0.0, MapScale::RowMax), 0.0);
        assert_eq!(brightness(f32::NAN, 1.0, MapScale::Linear), 0.0);
        let names: Vec<String> = MapScale::ALL
            .iter()
            .map(|s| serde_json::to_string(s).unwrap())
            .collect();
        assert_eq!(names, ["\"linear\"", "\"log\"", "\"row_max\""]);
        assert!(MapScale::ALL
            .iter()
            .all(|s| serde_json::to_string(s).unwrap() == format!("\"{}\"", s.name())));
    }
}
