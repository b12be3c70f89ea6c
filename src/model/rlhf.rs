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
    /// The `R/β` (in nats) a reward on this ending alone would need for it to become the
    /// prediction: the best other base logit minus its own, 0 for the base's prediction;
    /// `null` for an ending the base never says (−∞: no finite reward is enough).
    pub reward_to_win: Option<f64>,
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

/// Applies a preference for `preferred` at `strength` to the closed-form `distribution`: the
/// candidates are the endings it can say (count > 0), their base logits `ln count`, and the
/// winner its prediction.
pub fn apply(
    distribution: &Distribution,
    preferred: &str,
    strength: f64,
    rewards: Rewards,
) -> Result<RlhfOutcome, RlhfError> {
    let candidates: Vec<Candidate<'_>> = distribution
        .vocabulary()
        .map(|r| Candidate {
            ending: &r.ending,
            base_logit: r.base_logit.unwrap_or(f64::NEG_INFINITY),
        })
        .collect();
    let winner = distribution.prediction.as_deref().unwrap_or_default();
    apply_to_candidates(&candidates, winner, preferred, strength, rewards)
}

/// One candidate ending and its base logit: `ln count` for the lesson's corpus, a real model's
/// `log p(ending | prefix)` by the chain rule (`model::llm::lesson`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate<'a> {
    /// The ending.
    pub ending: &'a str,
    /// Its base logit (−∞: the base never says it).
    pub base_logit: f64,
}

/// The closed form over any base: `new_logit(y) = base_logit(y) + R(y)/β`, with `R(preferred) =
/// rewards.chosen`, `R(winner) = rewards.winner` (when it is another ending) and 0 for the rest;
/// the probabilities are the softmax over `candidates`.
pub fn apply_to_candidates(
    candidates: &[Candidate<'_>],
    winner: &str,
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
    if candidates.is_empty() {
        return Err(RlhfError::NoVocabulary);
    }
    if !candidates
        .iter()
        .any(|c| c.ending == preferred && c.base_logit > f64::NEG_INFINITY)
    {
        return Err(RlhfError::Unreachable(preferred.into()));
    }
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
    let base: Vec<f64> = candidates.iter().map(|c| c.base_logit).collect();
    let reward: Vec<f64> = candidates.iter().map(|c| reward_of(c.ending)).collect();

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
    let to_win = rewards_to_win(&base);
    let rows = candidates
        .iter()
        .zip(&base)
        .zip(&reward)
        .zip(&new_logits)
        .zip(&exps)
        .zip(&to_win)
        .map(
            |(((((c, &base_logit), &reward), &new_logit), &e), &reward_to_win)| RlhfRow {
                ending: c.ending.to_owned(),
                base_logit,
                reward,
                new_logit,
                probability: e / total,
                reward_to_win,
            },
        )
        .collect();
    Ok(RlhfOutcome {
        strength,
        beta: b.is_finite().then_some(b),
        rows,
        prediction: candidates
            .get(best)
            .map(|c| c.ending.to_owned())
            .unwrap_or_default(),
    })
}

/// For each base logit, the `R/β` a reward on that candidate alone would need to make it the
/// prediction: `max_{z≠y} base(z) − base(y)` (it wins when its new logit passes every other),
/// 0 for the base's own prediction, `None` for a base logit of −∞ (no finite reward is enough).
pub fn rewards_to_win(base: &[f64]) -> Vec<Option<f64>> {
    base.iter()
        .enumerate()
        .map(|(i, &own)| {
            let best_other = base
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, &l)| l)
                .fold(f64::NEG_INFINITY, f64::max);
            own.is_finite().then(|| (best_other - own).max(0.0))
        })
        .collect()
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

    /// The reward each candidate needs is exactly what it takes: a hair more wins, a hair less
    /// does not (with the winner's own reward at 0, so only the preferred ending moves).
    #[test]
    fn reward_to_win_is_the_margin_to_the_best_other_candidate() {
        // A real model's base: log-probabilities, one of them 1e-8 likely (~18.4 nats down).
        let candidates = [
            Candidate {
                ending: "mongodb",
                base_logit: (0.02f64).ln(),
            },
            Candidate {
                ending: "postgresql",
                base_logit: (0.3f64).ln(),
            },
            Candidate {
                ending: "ingres",
                base_logit: (1e-8f64).ln(),
            },
        ];
        let rewards = |chosen| Rewards {
            chosen,
            winner: 0.0,
        };
        let base =
            apply_to_candidates(&candidates, "postgresql", "ingres", 0.5, rewards(0.0)).unwrap();
        let need: Vec<Option<f64>> = base.rows.iter().map(|r| r.reward_to_win).collect();
        assert_eq!(need[1], Some(0.0), "the base's prediction needs nothing");
        let ingres = need[2].unwrap();
        assert!((ingres - (0.3f64 / 1e-8).ln()).abs() < 1e-9, "{ingres}");
        assert!((17.0..18.0).contains(&ingres), "~17.2 nats: {ingres}");
        // β = 1 at strength 0.5, so R/β = R.
        for (reward, wins) in [(ingres + 1e-6, true), (ingres - 1e-6, false)] {
            let out =
                apply_to_candidates(&candidates, "postgresql", "ingres", 0.5, rewards(reward))
                    .unwrap();
            assert_eq!(out.prediction == "ingres", wins, "R = {reward}");
        }
        // The lesson's unseen ending has no finite margin.
        assert_eq!(rewards_to_win(&[f64::NEG_INFINITY, 1.0]), [None, Some(0.0)]);
    }
}
