//! `gaze inspect`: the numbers behind a scene as one JSON object (a public format, DESIGN.md §6).
//!
//! Computed by `model` — the CPU reference every GPU kernel is verified against — so the output
//! is the same on every machine, with or without a GPU.

use serde::Serialize;

use crate::model::attention::{attend, AttentionOptions, AttentionResult, QueryRows};
use crate::model::corpus::{EndingOdds, DEFAULT_PREFIX};
use crate::model::lesson::{LessonError, LessonModel};
use crate::model::rlhf::{self, Rewards, RlhfError, RlhfOutcome};
use crate::scene::Scene;

/// One head's matrices, row-major arrays of rows. `q`, `k`, `v` are after projection (and after
/// RoPE where on) — what `scores` is computed from. A masked score (−∞) is `null`.
#[derive(Debug, Serialize)]
pub struct HeadReport {
    /// The head's name in the lesson model.
    pub name: String,
    /// Queries, N × d_k.
    pub q: Vec<Vec<f32>>,
    /// Keys, N × d_k.
    pub k: Vec<Vec<f32>>,
    /// Values, N × d_k.
    pub v: Vec<Vec<f32>>,
    /// Scores `QKᵀ/√d_k`, N × N, `null` where masked.
    pub scores: Vec<Vec<Option<f32>>>,
    /// Attention weights, N × N; each row sums to 1.
    pub weights: Vec<Vec<f32>>,
    /// Outputs `P V`, N × d_k.
    pub output: Vec<Vec<f32>>,
}

/// What `gaze inspect` prints.
#[derive(Debug, Serialize)]
pub struct InspectReport {
    /// The sentence's tokens.
    pub tokens: Vec<String>,
    /// Per token: whether its embedding is estimated rather than curated.
    pub estimated: Vec<bool>,
    /// The focused token.
    pub focus: usize,
    /// One entry per head shown.
    pub heads: Vec<HeadReport>,
    /// Step 1: every corpus row with its closed-form odds (within its prefix), and the
    /// prediction for the first prefix.
    pub corpus: CorpusReport,
    /// Step 2: the first prefix's candidates after the human preference.
    pub rlhf: RlhfOutcome,
    /// Step 1's Train, run to the end on the CPU twin (the window's GPU fit takes the same steps
    /// within 1e-4); `null` when the corpus has nothing to learn.
    pub training: Option<TrainingReport>,
    /// Step 2's "fine-tune for real", run to the end on the CPU twin.
    pub fine_tune: FineTuneReport,
}

/// Step 1's fit in the report.
#[derive(Debug, Serialize)]
pub struct TrainingReport {
    /// Gradient-descent steps run.
    pub steps: u32,
    /// The step size η.
    pub learning_rate: f32,
    /// The endings the output layer can say, in order.
    pub vocabulary: Vec<String>,
    /// The loss before the first step (`ln V`: uniform odds).
    pub first_loss: f32,
    /// The loss before the last step.
    pub last_loss: f32,
    /// The lowest loss possible: the corpus's own entropy.
    pub loss_floor: f64,
    /// Per sentence start: the fitted odds over `vocabulary` and how far they are from the counts.
    pub prefixes: Vec<PrefixFit>,
}

/// One sentence start's fitted odds.
#[derive(Debug, Serialize)]
pub struct PrefixFit {
    /// The sentence start.
    pub prefix: String,
    /// The fitted π over the vocabulary.
    pub probabilities: Vec<f32>,
    /// `KL(counts' shares ‖ fitted π)`.
    pub kl_to_counts: f64,
}

/// Step 2's fine-tune in the report.
#[derive(Debug, Serialize)]
pub struct FineTuneReport {
    /// Natural-gradient steps run.
    pub steps: u32,
    /// The step size η.
    pub learning_rate: f32,
    /// The candidates' probabilities after the climb (in `rlhf.rows` order).
    pub probabilities: Vec<f32>,
    /// `KL(closed form ‖ fine-tuned)`.
    pub kl_to_closed_form: f64,
}

/// Step 1 in the report.
#[derive(Debug, Serialize)]
pub struct CorpusReport {
    /// Every row, in corpus order; `base_logit` is `null` (−∞) for a count of 0.
    pub rows: Vec<EndingOdds>,
    /// The first prefix's prediction (`null` if it has no vocabulary).
    pub prediction: Option<String>,
}

/// Why a scene cannot be inspected.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// The lesson model refused the sentence.
    #[error(transparent)]
    Lesson(#[from] LessonError),
    /// The focus is not a token of the sentence.
    #[error(
        "the scene's focus is token {focus}, but the sentence has {tokens} tokens (0 to {last})"
    )]
    Focus {
        /// Requested focus.
        focus: usize,
        /// Token count.
        tokens: usize,
        /// Last valid index.
        last: usize,
    },
    /// The attention input was refused.
    #[error(transparent)]
    Attention(#[from] crate::model::attention::AttentionError),
    /// The human preference was refused.
    #[error(transparent)]
    Rlhf(#[from] RlhfError),
}

fn rows(data: &[f32], width: usize) -> Vec<Vec<f32>> {
    data.chunks(width.max(1)).map(<[f32]>::to_vec).collect()
}

fn head_report(result: &AttentionResult, head: usize, name: String) -> HeadReport {
    let p = &result.params;
    let (n, d_k) = (p.n(), p.dk());
    let projection = |data: &[f32]| {
        rows(
            data.get(head * n * d_k..(head + 1) * n * d_k)
                .unwrap_or(&[]),
            d_k,
        )
    };
    let matrix = |data: &[f32]| rows(data.get(head * n * n..(head + 1) * n * n).unwrap_or(&[]), n);
    HeadReport {
        name,
        q: projection(&result.q),
        k: projection(&result.k),
        v: projection(&result.v),
        scores: matrix(&result.scores)
            .into_iter()
            .map(|row| {
                row.into_iter()
                    .map(|s| s.is_finite().then_some(s))
                    .collect()
            })
            .collect(),
        weights: matrix(&result.weights),
        output: rows(
            result
                .output
                .get(head * n * d_k..(head + 1) * n * d_k)
                .unwrap_or(&[]),
            d_k,
        ),
    }
}

/// Computes the report for `scene` with `model`.
pub fn inspect(scene: &Scene, model: &LessonModel) -> Result<InspectReport, InspectError> {
    let view = &scene.attention;
    let options = AttentionOptions {
        causal: view.causal,
        positions: view.positions,
        key_padding_mask: None,
    };
    let (tokens, input) = model.attention_input_with_edits(
        &view.sentence,
        view.heads,
        options,
        &view.weight_edits,
    )?;
    if view.focus >= tokens.len() {
        return Err(InspectError::Focus {
            focus: view.focus,
            tokens: tokens.len(),
            last: tokens.len() - 1,
        });
    }
    let result = attend(&input, QueryRows::All)?;
    let prefixes = scene.corpus.prefixes();
    let first = prefixes.first().copied().unwrap_or(DEFAULT_PREFIX);
    let distribution = scene.corpus.distribution(first);
    let rewards = Rewards {
        chosen: scene.rlhf.reward_chosen,
        winner: scene.rlhf.reward_winner,
    };
    let rlhf = rlhf::apply(
        &distribution,
        &scene.rlhf.preferred,
        scene.rlhf.strength,
        rewards,
    )?;
    let corpus = CorpusReport {
        rows: prefixes
            .iter()
            .flat_map(|p| scene.corpus.distribution(p).rows)
            .collect(),
        prediction: distribution.prediction,
    };
    let training = crate::app::training::training_set(scene, model)
        .ok()
        .map(|set| {
            let steps = crate::model::train::TRAIN_STEPS;
            let fit = crate::model::train::train(&set, steps);
            let after = fit.layer.probabilities(&set);
            let v = set.vocabulary().len();
            TrainingReport {
                steps,
                learning_rate: set.params().learning_rate,
                vocabulary: set.vocabulary().to_vec(),
                first_loss: fit.losses.first().copied().unwrap_or_default(),
                last_loss: fit.losses.last().copied().unwrap_or_default(),
                loss_floor: set.loss_floor(),
                prefixes: set
                    .prefixes()
                    .iter()
                    .enumerate()
                    .map(|(p, prefix)| {
                        let probabilities = after[p * v..(p + 1) * v].to_vec();
                        PrefixFit {
                            prefix: prefix.clone(),
                            kl_to_counts: crate::model::train::kl_divergence(
                                &set.closed_form(p),
                                &probabilities,
                            ),
                            probabilities,
                        }
                    })
                    .collect(),
            }
        });
    let problem = crate::app::training::fine_tune_problem(scene)?;
    let steps = crate::model::finetune::FINE_TUNE_STEPS;
    let probabilities = crate::model::finetune::fine_tune(&problem, steps).final_policy();
    let fine_tune = FineTuneReport {
        steps,
        learning_rate: problem.params().learning_rate,
        kl_to_closed_form: crate::model::train::kl_divergence(
            &problem.closed_form_probabilities(),
            &probabilities,
        ),
        probabilities,
    };
    Ok(InspectReport {
        training,
        fine_tune,
        corpus,
        rlhf,
        estimated: tokens.iter().map(|t| t.source.is_estimated()).collect(),
        tokens: tokens.into_iter().map(|t| t.text).collect(),
        focus: view.focus,
        heads: model
            .heads()
            .iter()
            .take(view.heads)
            .enumerate()
            .map(|(h, head)| head_report(&result, h, head.name.clone()))
            .collect(),
    })
}
