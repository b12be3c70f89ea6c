//! Positional encodings: how a transformer learns that word order matters.
//!
//! Attention on its own is a bag-of-words operation: permute the tokens and the weights permute
//! with them. Positions break that symmetry in one of two ways:
//!
//! - **Sinusoidal** (Vaswani et al., 2017) adds a position vector to every embedding before the
//!   projections: `PE(pos, 2m) = sin(pos / 10000^(2m/d_model))`,
//!   `PE(pos, 2m+1) = cos(pos / 10000^(2m/d_model))`.
//! - **RoPE** (Su et al., 2021) rotates each pair of query/key components `(2m, 2m+1)` by the angle
//!   `pos · θ_m` with `θ_m = 10000^(−2m/d_k)`, so `q_i · k_j` depends on `i − j` only. With an odd
//!   `d_k` the last component has no partner and is left as it is.
//!
//! Both tables are computed here in f64 and rounded once to f32, then uploaded: the GPU never
//! evaluates `sin`/`cos` itself, because WGSL only promises an absolute error of 2⁻¹¹ for them,
//! and at position 10 000 the argument is far outside the range where even that holds.

use serde::{Deserialize, Serialize};

/// Which positional encoding the attention uses (scene files spell these `none`, `sinusoidal`,
/// `rope`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Positions {
    /// No positions: attention sees a bag of words.
    #[default]
    None,
    /// Sinusoidal vectors added to the embeddings X.
    Sinusoidal,
    /// Rotary embeddings applied to Q and K.
    Rope,
}

impl Positions {
    /// All modes, in the order a UI lists them.
    pub const ALL: [Positions; 3] = [Positions::None, Positions::Sinusoidal, Positions::Rope];

    /// The code the kernels read from `AttentionParams::positions`.
    pub fn code(self) -> u32 {
        match self {
            Positions::None => POSITIONS_NONE,
            Positions::Sinusoidal => POSITIONS_SINUSOIDAL,
            Positions::Rope => POSITIONS_ROPE,
        }
    }

    /// The name used in scene files and on screen.
    pub fn name(self) -> &'static str {
        match self {
            Positions::None => "none",
            Positions::Sinusoidal => "sinusoidal",
            Positions::Rope => "rope",
        }
    }
}

/// `AttentionParams::positions` value for no positional encoding.
pub const POSITIONS_NONE: u32 = 0;
/// `AttentionParams::positions` value for sinusoidal encodings added to X.
pub const POSITIONS_SINUSOIDAL: u32 = 1;
/// `AttentionParams::positions` value for RoPE applied to Q and K.
pub const POSITIONS_ROPE: u32 = 2;

/// The wavelength base both encodings use.
const BASE: f64 = 10_000.0;

/// Sinusoidal table, row-major `[pos][d_model]`: the vector added to token `pos`'s embedding.
pub fn sinusoidal_table(n_tokens: usize, d_model: usize) -> Vec<f32> {
    let mut table = Vec::with_capacity(n_tokens * d_model);
    for pos in 0..n_tokens {
        for dim in 0..d_model {
            // Dimensions 2m and 2m+1 share the frequency 1 / 10000^(2m/d_model).
            let pair = (dim / 2) as f64;
            let angle = pos as f64 / BASE.powf(2.0 * pair / d_model as f64);
            let value = if dim % 2 == 0 {
                angle.sin()
            } else {
                angle.cos()
            };
            table.push(value as f32);
        }
    }
    table
}

/// Number of rotated pairs for a head of width `d_k`.
pub fn rope_pairs(d_k: usize) -> usize {
    d_k / 2
}

/// RoPE table, row-major `[pos][pair][2]` holding `(cos, sin)` of the angle `pos · θ_pair`.
pub fn rope_table(n_tokens: usize, d_k: usize) -> Vec<f32> {
    let pairs = rope_pairs(d_k);
    let mut table = Vec::with_capacity(n_tokens * pairs * 2);
    for pos in 0..n_tokens {
        for pair in 0..pairs {
            let theta = BASE.powf(-2.0 * pair as f64 / d_k as f64);
            let angle = pos as f64 * theta;
            table.push(angle.cos() as f32);
            table.push(angle.sin() as f32);
        }
    }
    table
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sinusoidal_position_zero_is_sin0_cos0_pattern() {
        let table = sinusoidal_table(3, 4);
        assert_eq!(&table[0..4], &[0.0, 1.0, 0.0, 1.0]);
        // Position 1, pair 0: angle 1 rad.
        assert!((table[4] - 1f32.sin()).abs() < 1e-7);
        assert!((table[5] - 1f32.cos()).abs() < 1e-7);
    }

    #[test]
    fn rope_rotation_preserves_length() {
        let table = rope_table(50, 8);
        for pair in table.chunks(2) {
            let norm = pair[0] * pair[0] + pair[1] * pair[1];
            assert!((norm - 1.0).abs() < 1e-6);
        }
    }

    #[test]
    fn rope_with_odd_width_rotates_only_whole_pairs() {
        assert_eq!(rope_pairs(1), 0);
        assert_eq!(rope_pairs(5), 2);
        assert_eq!(rope_table(4, 1).len(), 0);
    }
}
