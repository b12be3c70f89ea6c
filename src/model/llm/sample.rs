//! Choosing the next token: greedy, or temperature and top-k sampling with a seed.
//!
//! Both engines (the CPU reference and the GPU) hand back the `k` most likely tokens with their
//! probabilities `softmax(logits / T)` over the whole vocabulary ([`super::forward::top_k`]);
//! sampling renormalises over those `k` and draws with a seeded generator, so a seed replays the
//! same continuation on either engine.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// The most candidates a sampler keeps: the GPU's top-k kernel takes one pass over the
/// vocabulary per candidate, and past a hundred the tail holds almost no probability.
pub const MAX_TOP_K: usize = 100;

/// How the next token is chosen.
#[derive(Clone, Debug)]
pub enum Sampler {
    /// The most likely token (ties: the lower id).
    Greedy,
    /// A draw from the `top_k` most likely tokens at temperature `temperature`.
    Random {
        /// Softmax temperature (> 0): below 1 sharpens, above 1 flattens.
        temperature: f32,
        /// Candidates kept (1 to [`MAX_TOP_K`]).
        top_k: usize,
        /// The seeded generator (boxed: it is large beside the greedy case).
        rng: Box<StdRng>,
    },
}

impl Sampler {
    /// Greedy when `temperature` is 0; otherwise top-k sampling seeded by `seed`.
    pub fn new(temperature: f32, top_k: usize, seed: u64) -> Result<Self, String> {
        if !temperature.is_finite() || temperature < 0.0 {
            return Err(format!(
                "the temperature is a number ≥ 0, not {temperature}"
            ));
        }
        if !(1..=MAX_TOP_K).contains(&top_k) {
            return Err(format!("top-k is 1 to {MAX_TOP_K}, not {top_k}"));
        }
        Ok(if temperature == 0.0 {
            Self::Greedy
        } else {
            Self::Random {
                temperature,
                top_k,
                rng: Box::new(StdRng::seed_from_u64(seed)),
            }
        })
    }

    /// How many candidates the engine should hand back.
    pub fn candidates(&self) -> usize {
        match self {
            Self::Greedy => 1,
            Self::Random { top_k, .. } => *top_k,
        }
    }

    /// The temperature the engine should apply (1 for greedy: the order is the same).
    pub fn temperature(&self) -> f32 {
        match self {
            Self::Greedy => 1.0,
            Self::Random { temperature, .. } => *temperature,
        }
    }

    /// Picks one of `candidates` (id, probability), most likely first.
    pub fn pick(&mut self, candidates: &[(u32, f32)]) -> Option<u32> {
        match self {
            Self::Greedy => candidates.first().map(|c| c.0),
            Self::Random { rng, .. } => {
                let total: f32 = candidates.iter().map(|c| c.1).sum();
                let mut u = rng.random::<f32>() * total;
                for &(id, p) in candidates {
                    if u < p {
                        return Some(id);
                    }
                    u -= p;
                }
                candidates.last().map(|c| c.0)
            }
        }
    }
}
