//! Step 2's "fine-tune for real": gradient ascent on the RLHF objective over the logits — the
//! CPU twin of `shaders/rlhf_finetune.wgsl`, loop for loop.
//!
//! The objective `J(π) = Σ_y π(y) R(y) − β · KL(π ‖ π_ref)`, `π = softmax(z)`, has the closed-form
//! maximiser `z = base_logit + R/β` (`model::rlhf`). We climb it from `z = base_logit`. With
//! `β = (1 − s)/s`, the objective times `s`,
//!
//! ```text
//! J_s = s · Σ π R − (1 − s) · KL(π ‖ π_ref)
//! ∂J_s/∂z_k = π_k · [ s · (R_k − Σ_y π(y) R(y)) − (1 − s) · (ln π_k − ln π_ref(k) − KL) ]
//! z_k ← z_k + η · [ s · (R_k − Σ π R) − (1 − s) · (ln π_k − ln π_ref(k) − KL) ]
//! η = 0.5 / (s · (R_max − R_min) + (1 − s))
//! ```
//!
//! has the same maximiser for 0 < s < 1 and stays finite at both ends: at `s = 0` the path never
//! leaves `π_ref` (pretraining wins); at `s = 1` it climbs the reward alone, toward the β → 0
//! limit. The step is the *natural* gradient: the plain gradient divided by `π_k` (the Fisher
//! metric of the softmax), so rare answers move as fast as common ones. The plain gradient has
//! the same fixed point but crawls toward it: `π_k` → 0 shrinks its steps, and at s = 0.75 it
//! still misses the closed form by KL ≈ 2e-3 after 400 steps. Natural-gradient steps shrink the
//! distance to the closed form by `1 − η (1 − s)` each time.

#![allow(
    clippy::indexing_slicing,
    reason = "a CPU twin of a WGSL kernel: it indexes as the kernel does (the `model` module's docs, \"CPU twins\")"
)]

use bytemuck::{Pod, Zeroable};

use super::corpus::Distribution;
use super::rlhf::{apply, Rewards, RlhfError, RlhfOutcome};
use super::train::{reduce_lanes, LANES};

/// How many steps the "fine-tune for real" button runs.
pub const FINE_TUNE_STEPS: u32 = 200;

/// `η · (s · (R_max − R_min) + (1 − s))`; see the module docs.
pub const FINE_TUNE_RATE: f32 = 0.5;

/// The fine-tune kernel's uniform block, field for field.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct FineTuneParams {
    /// V: the candidates.
    pub vocabulary: u32,
    /// How many rows the path buffer holds.
    pub max_steps: u32,
    /// s.
    pub strength: f32,
    /// η.
    pub learning_rate: f32,
}

impl FineTuneParams {
    /// The most loop iterations one invocation runs per step.
    pub fn loop_iterations(&self) -> u64 {
        let mine = (self.vocabulary as u64).div_ceil(LANES as u64);
        let halvings = LANES.trailing_zeros() as u64;
        // Logits max, exp-sum, then E[R] and KL, then the update: five strided loops and four
        // reductions.
        5 * mine + 4 * (halvings + 1)
    }
}

/// One fine-tune: the candidates, their reference and rewards, and the closed form it must land on.
#[derive(Clone, Debug, PartialEq)]
pub struct FineTuneProblem {
    params: FineTuneParams,
    /// `ln π_ref(y) = ln(count / total)`.
    reference_log_probs: Vec<f32>,
    /// `R(y)`.
    rewards: Vec<f32>,
    /// `base_logit(y) = ln count(y)`: where the climb starts.
    base_logits: Vec<f32>,
    /// `model::rlhf::apply` at the same strength: the answer.
    closed_form: RlhfOutcome,
}

impl FineTuneProblem {
    /// The problem for a preference on `distribution`; refuses exactly what `rlhf::apply`
    /// refuses (an unseen word, a strength outside [0, 1], a non-finite reward).
    pub fn new(
        distribution: &Distribution,
        preferred: &str,
        strength: f64,
        rewards: Rewards,
    ) -> Result<Self, RlhfError> {
        let closed_form = apply(distribution, preferred, strength, rewards)?;
        let total: u64 = distribution.vocabulary().map(|r| r.count).sum();
        let reference_log_probs = distribution
            .vocabulary()
            .map(|r| (r.count as f64 / total as f64).ln() as f32)
            .collect();
        let base_logits = closed_form
            .rows
            .iter()
            .map(|r| r.base_logit as f32)
            .collect();
        let rewards: Vec<f32> = closed_form.rows.iter().map(|r| r.reward as f32).collect();
        let spread = rewards.iter().cloned().fold(f32::MIN, f32::max)
            - rewards.iter().cloned().fold(f32::MAX, f32::min);
        let s = strength as f32;
        let curvature = s * spread + (1.0 - s);
        let params = FineTuneParams {
            vocabulary: rewards.len() as u32,
            max_steps: FINE_TUNE_STEPS,
            strength: s,
            learning_rate: if curvature > 0.0 {
                FINE_TUNE_RATE / curvature
            } else {
                0.0
            },
        };
        Ok(Self {
            params,
            reference_log_probs,
            rewards,
            base_logits,
            closed_form,
        })
    }

    /// The kernel's uniform block.
    pub fn params(&self) -> &FineTuneParams {
        &self.params
    }

    /// `ln π_ref`.
    pub fn reference_log_probs(&self) -> &[f32] {
        &self.reference_log_probs
    }

    /// `R`.
    pub fn rewards(&self) -> &[f32] {
        &self.rewards
    }

    /// Where the climb starts: the pretrained logits.
    pub fn base_logits(&self) -> &[f32] {
        &self.base_logits
    }

    /// The closed form it lands on.
    pub fn closed_form(&self) -> &RlhfOutcome {
        &self.closed_form
    }

    /// The closed form's probabilities.
    pub fn closed_form_probabilities(&self) -> Vec<f64> {
        self.closed_form
            .rows
            .iter()
            .map(|r| r.probability)
            .collect()
    }
}

/// Applies `per_ending` to every candidate lane by lane (strided as the kernel's threads are)
/// and reduces the lanes' results with `op`.
fn over_lanes(
    v_count: usize,
    start: f32,
    op: fn(f32, f32) -> f32,
    mut per_ending: impl FnMut(usize) -> f32,
) -> f32 {
    let mut partial = [start; LANES];
    for (lane, slot) in partial.iter_mut().enumerate() {
        for v in (lane..v_count).step_by(LANES) {
            *slot = op(*slot, per_ending(v));
        }
    }
    reduce_lanes(&mut partial, op)
}

/// `softmax(logits)` as the kernel computes it: `(π, ln π)`.
pub fn policy(logits: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let v_count = logits.len();
    let max = over_lanes(v_count, super::attention::LOWEST_FINITE, f32::max, |v| {
        logits[v]
    });
    let sum = over_lanes(v_count, 0.0, |a, b| a + b, |v| (logits[v] - max).exp());
    let log_sum = sum.ln();
    let log_pi: Vec<f32> = logits.iter().map(|&z| z - max - log_sum).collect();
    (log_pi.iter().map(|&l| l.exp()).collect(), log_pi)
}

/// One step of gradient ascent — the CPU twin of one dispatch of `shaders/rlhf_finetune.wgsl`.
/// Writes π before the step into `path_row` and updates `logits`.
pub fn fine_tune_step(problem: &FineTuneProblem, logits: &mut [f32], path_row: &mut [f32]) {
    let v_count = logits.len();
    let (pi, log_pi) = policy(logits);
    let add = |a: f32, b: f32| a + b;
    let expected_reward = over_lanes(v_count, 0.0, add, |v| pi[v] * problem.rewards[v]);
    let kl = over_lanes(v_count, 0.0, add, |v| {
        pi[v] * (log_pi[v] - problem.reference_log_probs[v])
    });
    let s = problem.params.strength;
    path_row[..v_count].copy_from_slice(&pi[..v_count]);
    for v in 0..v_count {
        let climb = s * (problem.rewards[v] - expected_reward)
            - (1.0 - s) * (log_pi[v] - problem.reference_log_probs[v] - kl);
        logits[v] += problem.params.learning_rate * climb;
    }
}

/// The optimiser's path.
#[derive(Clone, Debug, PartialEq)]
pub struct FineTunePath {
    /// π before each step, `steps × V`.
    pub path: Vec<f32>,
    /// The logits after the last step.
    pub logits: Vec<f32>,
}

impl FineTunePath {
    /// π after the last step.
    pub fn final_policy(&self) -> Vec<f32> {
        policy(&self.logits).0
    }
}

/// Runs `steps` steps from the pretrained logits on the CPU.
pub fn fine_tune(problem: &FineTuneProblem, steps: u32) -> FineTunePath {
    let v_count = problem.rewards.len();
    let mut logits = problem.base_logits.clone();
    let mut path = vec![0.0; steps as usize * v_count];
    for row in path.chunks_mut(v_count.max(1)) {
        fine_tune_step(problem, &mut logits, row);
    }
    FineTunePath { path, logits }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::corpus::{Corpus, DEFAULT_PREFIX};
    use crate::model::train::kl_divergence;

    fn problem(strength: f64) -> FineTuneProblem {
        let distribution = Corpus::default().distribution(DEFAULT_PREFIX);
        FineTuneProblem::new(&distribution, "postgresql", strength, Rewards::default()).unwrap()
    }

    #[test]
    fn fine_tune_lands_on_the_closed_form() {
        for strength in [0.05, 0.113, 0.25, 0.5, 0.75, 0.9, 0.99] {
            let problem = problem(strength);
            let path = fine_tune(&problem, FINE_TUNE_STEPS);
            let kl = kl_divergence(&problem.closed_form_probabilities(), &path.final_policy());
            assert!(kl < 1e-4, "s = {strength}: KL = {kl}");
        }
    }

    #[test]
    fn path_starts_at_pretraining_and_zero_strength_never_moves() {
        let problem = problem(0.0);
        let path = fine_tune(&problem, 50);
        let start = [5.0 / 11.0, 3.0 / 11.0, 2.0 / 11.0, 1.0 / 11.0];
        for row in path.path.chunks(4) {
            for (p, q) in row.iter().zip(start) {
                assert!((p - q).abs() < 1e-6, "{row:?}");
            }
        }
    }

    #[test]
    fn full_strength_climbs_toward_the_reward_alone() {
        let problem = problem(1.0);
        let path = fine_tune(&problem, FINE_TUNE_STEPS);
        let pi = path.final_policy();
        assert!(pi[1] > 0.99, "postgresql takes it all: {pi:?}");
    }

    #[test]
    fn unseen_preference_is_refused_like_the_closed_form() {
        let distribution = Corpus::default().distribution(DEFAULT_PREFIX);
        assert_eq!(
            FineTuneProblem::new(&distribution, "duckdb", 0.5, Rewards::default()),
            Err(RlhfError::Unreachable("duckdb".into()))
        );
    }
}
