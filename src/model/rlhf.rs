//! Step 2 — RLHF: humans push back.
//!
//! A person prefers a candidate `c`. The reward is `R(c) = +3.0`, `R(w) = −1.0` for the
//! pretraining winner `w ≠ c`, and 0 for the rest (both magnitudes editable). The strength
//! `s ∈ [0, 1]` ("how much should the model listen to humans?") sets `β = (1 − s) / s`, and
//!
//! ```text
//! new_logit(y) = base_logit(y) + R(y) / β
//! ```
//!
//! the closed form of maximising `Σ π(y) R(y) − β · KL(π ‖ π_ref)`. At `s = 0`, β = ∞ and
//! pretraining wins; at `s = 1`, β = 0 and the reward decides (ties by base logit). A word the
//! corpus never saw has base logit −∞: no finite reward reaches it, and the preference is refused.

use serde::Serialize;
use thiserror::Error;

use super::corpus::Distribution;

/// The default reward for the human-preferred candidate.
pub const DEFAULT_REWARD_CHOSEN: f64 = 3.0;
/// The default reward for the pretraining winner when it is not the preferred one.
pub const DEFAULT_REWARD_WINNER: f64 = -1.0;
/// The largest reward magnitude a scene may set: rewards are a few units (+3, −1); a hundred is
/// already "the reward decides" at any strength above 0, and keeps the fine-tune's steps finite.
pub const MAX_REWARD: f64 = 100.0;

/// Why a preference was refused (nothing else changes).
#[derive(Debug, Clone, PartialEq, Error)]
pub enum RlhfError {
    /// The preferred word is outside the vocabulary.
    #[error("pretraining never saw '{0}' — no finite reward can reach it")]
    Unreachable(String),
    /// A strength outside [0, 1] (or NaN).
    #[error("strength {0} is outside 0 to 1")]
    Strength(f64),
    /// A reward that is NaN or infinite.
    #[error("reward {0} is not a finite number")]
    Reward(f64),
    /// The corpus gives the prefix no vocabulary at all.
    #[error("the corpus has no ending with a count above 0 for this prefix")]
    NoVocabulary,
}

/// The reward magnitudes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Rewards {
    /// For the preferred candidate.
    pub chosen: f64,
    /// For the pretraining winner, when it is not the preferred one.
    pub winner: f64,
}

impl Default for Rewards {
    fn default() -> Self {
        Self {
            chosen: DEFAULT_REWARD_CHOSEN,
            winner: DEFAULT_REWARD_WINNER,
        }
    }
}

/// `β = (1 − s) / s`: ∞ at s = 0, 0 at s = 1.
pub fn beta(strength: f64) -> f64 {
    if strength <= 0.0 {
        f64::INFINITY
    } else {
        (1.0 - strength) / strength
    }
}

/// One candidate after RLHF.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RlhfRow {
    /// The ending.
    pub ending: String,
    /// `ln count`.
    pub base_logit: f64,
    /// `R(y)`.
    pub reward: f64,
    /// `base_logit + R/β`; `None` at β = 0, where the reward alone ranks (±∞).
    pub new_logit: Option<f64>,
    /// The new probability.
    pub probability: f64,
}

/// The model after RLHF at one strength.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RlhfOutcome {
    /// `s`.
    pub strength: f64,
    /// `β` (∞ serialises as `null`).
    pub beta: Option<f64>,
    /// The vocabulary, in corpus order.
    pub rows: Vec<RlhfRow>,
    /// "At this strength the model now predicts X".
    pub prediction: String,
}

/// Applies a preference for `preferred` at `strength` to the closed-form `distribution`.
pub fn apply(
    distribution: &Distribution,
    preferred: &str,
    strength: f64,
    rewards: Rewards,
) -> Result<RlhfOutcome, RlhfError> {
    if !(0.0..=1.0).contains(&strength) {
        return Err(RlhfError::Strength(strength));
    }
    for r in [rewards.chosen, rewards.winner] {
        if !r.is_finite() {
            return Err(RlhfError::Reward(r));
        }
    }
    let vocabulary: Vec<_> = distribution.vocabulary().collect();
    if vocabulary.is_empty() {
        return Err(RlhfError::NoVocabulary);
    }
    if !vocabulary.iter().any(|r| r.ending == preferred) {
        return Err(RlhfError::Unreachable(preferred.into()));
    }
    let winner = distribution.prediction.as_deref().unwrap_or_default();
    let reward_of = |ending: &str| {
        if ending == preferred {
            rewards.chosen
        } else if ending == winner {
            rewards.winner
        } else {
            0.0
        }
    };
    let b = beta(strength);
    let base: Vec<f64> = vocabulary
        .iter()
        .map(|r| r.base_logit.unwrap_or(f64::NEG_INFINITY))
        .collect();
    let reward: Vec<f64> = vocabulary.iter().map(|r| reward_of(&r.ending)).collect();

    // β = 0 is the limit β → 0⁺: only the highest reward survives, and among equal rewards the
    // base distribution still decides.
    let (new_logits, effective): (Vec<Option<f64>>, Vec<f64>) = if b == 0.0 {
        let top = reward.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let effective = base
            .iter()
            .zip(&reward)
            .map(|(&l, &r)| if r == top { l } else { f64::NEG_INFINITY })
            .collect();
        (vec![None; base.len()], effective)
    } else {
        let logits: Vec<f64> = base
            .iter()
            .zip(&reward)
            .map(|(&l, &r)| if b.is_infinite() { l } else { l + r / b })
            .collect();
        (logits.iter().map(|&l| Some(l)).collect(), logits)
    };

    // Softmax, stably; ties in the argmax go to the row listed first. A logit that overflowed
    // to +∞ (a huge finite reward over a tiny β) wins outright: the +∞ rows share the mass.
    let max = effective.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let exps: Vec<f64> = effective
        .iter()
        .map(|&l| match (l == f64::INFINITY, max == f64::INFINITY) {
            (true, _) => 1.0,
            (false, true) => 0.0,
            (false, false) => (l - max).exp(),
        })
        .collect();
    let total: f64 = exps.iter().sum();
    let best = effective
        .iter()
        .enumerate()
        .fold(None::<(usize, f64)>, |best, (i, &l)| match best {
            Some((_, top)) if l > top => Some((i, l)),
            None => Some((i, l)),
            _ => best,
        })
        .map_or(0, |(i, _)| i);
    let rows = vocabulary
        .iter()
        .zip(&base)
        .zip(&reward)
        .zip(&new_logits)
        .zip(&exps)
        .map(|((((r, &base_logit), &reward), &new_logit), &e)| RlhfRow {
            ending: r.ending.clone(),
            base_logit,
            reward,
            new_logit,
            probability: e / total,
        })
        .collect();
    Ok(RlhfOutcome {
        strength,
        beta: b.is_finite().then_some(b),
        rows,
        prediction: vocabulary
            .get(best)
            .map(|r| r.ending.clone())
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::corpus::{Corpus, DEFAULT_PREFIX};

    fn seed() -> Distribution {
        Corpus::default().distribution(DEFAULT_PREFIX)
    }

    #[test]
    fn unseen_ending_is_unreachable_for_any_reward() {
        for chosen in [3.0, 1e6, 1e300] {
            let rewards = Rewards {
                chosen,
                winner: -1.0,
            };
            for strength in [0.0, 0.5, 1.0] {
                assert_eq!(
                    apply(&seed(), "oracle", strength, rewards),
                    Err(RlhfError::Unreachable("oracle".into()))
                );
            }
        }
        let message = RlhfError::Unreachable("oracle".into()).to_string();
        assert_eq!(
            message,
            "pretraining never saw 'oracle' — no finite reward can reach it"
        );
    }

    #[test]
    fn zero_strength_keeps_pretraining_and_full_strength_follows_the_reward() {
        let none = apply(&seed(), "postgresql", 0.0, Rewards::default()).unwrap();
        assert_eq!(none.prediction, "mongodb");
        assert_eq!(none.beta, None, "β = ∞");
        assert!(
            (none.rows[0].probability - 5.0 / 11.0).abs() < 1e-12,
            "the corpus odds, unchanged"
        );
        let full = apply(&seed(), "postgresql", 1.0, Rewards::default()).unwrap();
        assert_eq!(full.prediction, "postgresql");
        assert_eq!(full.beta, Some(0.0));
        assert!((full.rows[1].probability - 1.0).abs() < 1e-12);
    }

    #[test]
    fn half_strength_is_beta_one_and_the_formula_holds() {
        let out = apply(&seed(), "postgresql", 0.5, Rewards::default()).unwrap();
        assert_eq!(out.beta, Some(1.0));
        let pg = &out.rows[1];
        assert!((pg.new_logit.unwrap() - (3f64.ln() + 3.0)).abs() < 1e-12);
        let mongo = &out.rows[0];
        assert!((mongo.new_logit.unwrap() - (5f64.ln() - 1.0)).abs() < 1e-12);
        assert_eq!(out.prediction, "postgresql");
    }

    #[test]
    fn the_prediction_flips_where_the_logits_cross() {
        // ln 5 − 1/β = ln 3 + 3/β  ⇔  1/β = (ln 5 − ln 3) / 4  ⇔  s = 1 / (1 + β).
        let inv_beta = (5f64.ln() - 3f64.ln()) / 4.0;
        let flip = 1.0 / (1.0 + 1.0 / inv_beta);
        let before = apply(&seed(), "postgresql", flip - 1e-6, Rewards::default()).unwrap();
        let after = apply(&seed(), "postgresql", flip + 1e-6, Rewards::default()).unwrap();
        assert_eq!(before.prediction, "mongodb");
        assert_eq!(after.prediction, "postgresql");
    }

    #[test]
    fn full_strength_ties_are_broken_by_base_logit() {
        // With both rewards 0 every candidate ties on reward, so the base logits decide.
        let rewards = Rewards {
            chosen: 0.0,
            winner: 0.0,
        };
        let out = apply(&seed(), "sqlite", 1.0, rewards).unwrap();
        assert_eq!(out.prediction, "mongodb");
    }

    #[test]
    fn bad_strengths_and_rewards_are_refused() {
        assert!(matches!(
            apply(&seed(), "mysql", 1.5, Rewards::default()),
            Err(RlhfError::Strength(_))
        ));
        assert!(matches!(
            apply(&seed(), "mysql", f64::NAN, Rewards::default()),
            Err(RlhfError::Strength(_))
        ));
        let rewards = Rewards {
            chosen: f64::INFINITY,
            winner: -1.0,
        };
        assert!(matches!(
            apply(&seed(), "mysql", 0.5, rewards),
            Err(RlhfError::Reward(_))
        ));
    }
}
