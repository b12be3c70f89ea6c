//! `gaze inspect`: the numbers behind a scene as one JSON object (a public format, DESIGN.md §6).
//!
//! Computed by `model` — the CPU reference every GPU kernel is verified against — so the output
//! is the same on every machine, with or without a GPU.

use serde::Serialize;

use crate::model::attention::{attend, AttentionOptions, AttentionResult, QueryRows};
use crate::model::context::{self as step4, ContextError, KnowledgeBase, Level};
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
    /// Step 4 at the scene's level; a refused context (an empty question, no examples) is
    /// reported here with its reason instead of failing the whole report.
    pub context: ContextReport,
}

/// Step 4 in the report: the level's context computed, or why it was refused.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum ContextReport {
    /// The context was built and computed.
    Computed(ContextSection),
    /// The context was refused: `{ "level": n, "error": "…" }`.
    Refused {
        /// The scene's level, 1–3.
        level: u8,
        /// Why, as the app words it.
        error: String,
    },
}

/// Step 4 computed (DESIGN §6 `context`) by `model::context::compute` — the CPU reference the
/// app's GPU pipeline is tested against — without the overview map.
#[derive(Debug, Serialize)]
pub struct ContextSection {
    /// 1 self-attention, 2 in-context learning, 3 RAG.
    pub level: u8,
    /// The assembled context's length in tokens (the focus standing apart is not counted).
    pub tokens: usize,
    /// Level 1: the token the focus attends to most; level 2: the label with the largest
    /// attention mass; level 3: the name of the answer's source, the chunk with the most mass.
    pub prediction: Option<String>,
    /// What the focus stands for: the word (level 1), the review (2) or the question (3).
    pub focus: String,
    /// Level 2: each label's attention mass, in order of first appearance; empty otherwise.
    pub labels: Vec<LabelScore>,
    /// Examples (level 2) or chunks (level 3) that did not fit the budget.
    pub left_out: usize,
    /// Level 3: every chunk of the knowledge base in fused-rank order; empty otherwise.
    pub chunks: Vec<ChunkReport>,
}

/// One label's score at level 2.
#[derive(Debug, Serialize)]
pub struct LabelScore {
    /// The label.
    pub label: String,
    /// The focus's attention mass on the examples carrying it.
    pub score: f32,
}

/// One chunk of the knowledge base at level 3.
#[derive(Debug, Serialize)]
pub struct ChunkReport {
    /// `document § heading` (or `document ¶n`).
    pub name: String,
    /// Its BM25 score against the question.
    pub bm25: f64,
    /// Its cosine to the question.
    pub cosine: f64,
    /// Rank by the fused score (reciprocal rank fusion, k = 60), 1 first.
    pub rank: usize,
    /// Rank by BM25 alone, 1 first.
    pub bm25_rank: usize,
    /// Rank by cosine alone, 1 first.
    pub cosine_rank: usize,
    /// Whether it made the budget.
    pub in_context: bool,
    /// Its share of the focus's attention (0 when left out).
    pub attention_mass: f32,
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
                        let probabilities =
                            after.get(p * v..(p + 1) * v).unwrap_or_default().to_vec();
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
        context: context_report(scene, model),
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

/// Step 4 for `scene` (module docs of `model::context`): the level's context, computed on the
/// CPU reference with no overview. A refusal becomes `{ "level", "error" }`.
pub fn context_report(scene: &Scene, model: &LessonModel) -> ContextReport {
    let level = scene.context.level;
    context_section(scene, model).map_or_else(
        |error| ContextReport::Refused {
            level,
            error: error.to_string(),
        },
        ContextReport::Computed,
    )
}

fn context_section(scene: &Scene, model: &LessonModel) -> Result<ContextSection, ContextError> {
    let context = &scene.context;
    let level = context.level();
    let mut retrieval = None;
    let input = match level {
        Level::SelfAttention => {
            step4::self_attention_input(model, &scene.attention.sentence, scene.attention.focus)?
        }
        Level::InContext => step4::in_context_input(
            model,
            &context.examples,
            &context.review,
            context.budget_tokens,
        )?,
        Level::Rag => {
            let archive = if context.archive {
                step4::ticket_archive(step4::ARCHIVE_TICKETS)
            } else {
                String::new()
            };
            let documents = context.knowledge_base_documents(&archive);
            let kb = KnowledgeBase::new(documents.iter().map(|(n, t)| (n.as_str(), t.as_str())));
            let (input, retrieved) =
                step4::rag_input(model, &kb, &context.question, context.budget_tokens)?;
            retrieval = Some((kb, retrieved));
            input
        }
    };
    let outcome = step4::compute(&input, 0)?;
    let mut labels = Vec::new();
    let mut chunks = Vec::new();
    let prediction = match level {
        Level::SelfAttention => step4::argmax(&outcome.weights)
            .and_then(|j| input.tokens.get(j))
            .cloned(),
        Level::InContext => {
            let scores = step4::label_scores(&input.spans, &outcome.masses);
            let values: Vec<f32> = scores.iter().map(|s| s.1).collect();
            let best = step4::argmax(&values)
                .and_then(|i| scores.get(i))
                .map(|score| score.0.clone());
            labels = scores
                .into_iter()
                .map(|(label, score)| LabelScore { label, score })
                .collect();
            best
        }
        Level::Rag => {
            if let Some((kb, retrieved)) = &retrieval {
                // The same assembly `rag_input` made: its spans are these placed chunks, in order.
                let assembled =
                    crate::model::retrieval::assemble(&kb.chunks, retrieved, context.budget_tokens);
                let mass_of = |chunk: usize| {
                    assembled
                        .spans
                        .iter()
                        .position(|(c, _)| *c == chunk)
                        .map(|at| outcome.masses.get(at).copied().unwrap_or_default())
                };
                chunks = retrieved
                    .iter()
                    .filter_map(|r| {
                        let chunk = kb.chunks.get(r.chunk)?;
                        let mass = mass_of(r.chunk);
                        Some(ChunkReport {
                            name: step4::chunk_name(chunk),
                            bm25: r.bm25,
                            cosine: r.cosine,
                            rank: r.fused_rank,
                            bm25_rank: r.bm25_rank,
                            cosine_rank: r.cosine_rank,
                            in_context: mass.is_some(),
                            attention_mass: mass.unwrap_or(0.0),
                        })
                    })
                    .collect();
            }
            step4::argmax(&outcome.masses)
                .and_then(|i| input.spans.get(i))
                .map(|span| span.name.clone())
        }
    };
    Ok(ContextSection {
        level: level as u8,
        tokens: input.context_tokens(),
        prediction,
        focus: input.focus_text.clone(),
        labels,
        left_out: input.left_out,
        chunks,
    })
}
