//! `gaze inspect --model FILE --scene S`: the lesson's numbers for a scene computed on a real
//! model (a public format, DESIGN.md §6; README "the command line").
//!
//! The fields of the lesson's report that apply to a real model keep their names — `tokens`,
//! `focus`, `corpus.rows`, `rlhf` — and the real model's own numbers are added beside them:
//! `corpus.real_next_token`, each row's `real_log_probability`, `rlhf` over the model's base,
//! the chosen `layer`'s `heads`, and the logit `lens` of the focus token. Like the lesson's
//! report, everything comes from the CPU reference (`model::llm`), so the output is the same on
//! every machine; the GPU kernels are held to it by `tests/llm_gpu.rs` and `gaze verify`.

use serde::Serialize;

use crate::app::llm::{tokenize_prompt, LlmRunError, ModelInfo};
pub use crate::app::real_lesson::LENS_TOP;
use crate::app::real_lesson::{
    compute_layer, compute_odds, real_rlhf, LayerKey, OddsKey, RealLayerError,
};
use crate::model::corpus::EndingOdds;
use crate::model::llm::lesson::{LensRung, PrefixOdds, TokenOdds};
use crate::model::llm::{LlamaModel, LlmError};
use crate::model::rlhf::{self, RlhfOutcome};
use crate::model::sink::hide_first_token;
use crate::model::transformer::{HeadRef, ModelError, TransformerModel};
use crate::scene::Scene;

/// What `gaze inspect --model FILE --scene S` prints.
#[derive(Debug, Serialize)]
pub struct RealSceneReport {
    /// The model, with its file's SHA-256 (what a scene's `model` records).
    pub model: ModelInfo,
    /// What computed the numbers: `cpu-reference`.
    pub engine: String,
    /// The sentence's tokens as the model reads them.
    pub tokens: Vec<String>,
    /// Their ids.
    pub token_ids: Vec<u32>,
    /// The focused token.
    pub focus: usize,
    /// Step 1: the corpus's closed form and the model's own odds side by side.
    pub corpus: RealCorpusReport,
    /// Step 2: the endings of step 2's prefix (the lesson's default one when the corpus has it,
    /// else its first) after the human preference, `base_logit` being each ending's
    /// `real_log_probability`.
    pub rlhf: RlhfOutcome,
    /// The layer whose heads are listed (0-based).
    pub layer: usize,
    /// Every head of that layer.
    pub heads: Vec<RealHeadReport>,
    /// The logit lens at the focus token: what each layer's residual stream would predict.
    pub lens: Vec<LensRung>,
}

/// Step 1 on a real model.
#[derive(Debug, Serialize)]
pub struct RealCorpusReport {
    /// Every row, in corpus order: the closed form and the model's probability of the ending.
    pub rows: Vec<RealEndingRow>,
    /// The closed form's prediction for step 2's prefix.
    pub prediction: Option<String>,
    /// The model's likeliest ending among step 2's prefix's.
    pub real_prediction: Option<String>,
    /// Per prefix, the model's own top next tokens.
    pub real_next_token: Vec<RealNextToken>,
}

/// One corpus row with the model's probability of its ending.
#[derive(Debug, Serialize)]
pub struct RealEndingRow {
    /// The closed form (`prefix`, `ending`, `count`, `base_logit`, `probability`).
    #[serde(flatten)]
    pub odds: EndingOdds,
    /// `log p(" " + ending | prefix)`, natural log, by the chain rule over its tokens.
    pub real_log_probability: f64,
    /// ` ending`'s tokens as the model reads them (` mongodb`: ` m`, `ong`, `odb`).
    pub real_tokens: Vec<String>,
}

/// One prefix's next tokens under the model.
#[derive(Debug, Serialize)]
pub struct RealNextToken {
    /// The sentence start.
    pub prefix: String,
    /// The likeliest next tokens, most likely first.
    pub top: Vec<TokenOdds>,
}

/// One head of the chosen layer.
#[derive(Debug, Serialize)]
pub struct RealHeadReport {
    /// The query head (0-based).
    pub head: usize,
    /// The key/value head it reads (grouped-query attention: `head / (heads / kv_heads)`).
    pub kv_head: usize,
    /// N rows of N: row i is where token i spends its attention; zero right of the diagonal.
    pub weights: Vec<Vec<f32>>,
    /// With `attention.hide_first_token`: the rows the map draws, the first column dropped and
    /// each row renormalised over the rest (row 0, with nothing else to attend to, is all 0).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shown: Option<Vec<Vec<f32>>>,
    /// With `attention.hide_first_token`: each row's true weight on the first token.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_token_share: Option<Vec<f32>>,
}

/// Why a scene could not be inspected on a real model.
#[derive(Debug, thiserror::Error)]
pub enum RealInspectError {
    /// The model refused the text or the request.
    #[error(transparent)]
    Run(#[from] LlmRunError),
    /// A layer or head the model does not have.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// The focus is not a token of the sentence.
    #[error(
        "the scene's focus is token {focus}, but the model reads the sentence as {tokens} tokens \
         (0 to {last})"
    )]
    Focus {
        /// Requested focus.
        focus: usize,
        /// Token count.
        tokens: usize,
        /// Last valid index.
        last: usize,
    },
    /// The human preference was refused.
    #[error(transparent)]
    Rlhf(#[from] rlhf::RlhfError),
}

impl From<RealLayerError> for RealInspectError {
    fn from(error: RealLayerError) -> Self {
        match error {
            RealLayerError::Model(error) => error.into(),
            // Checked before (`check_head`); kept as the model's own refusal all the same.
            other => RealInspectError::Run(LlmRunError::Request(other.to_string())),
        }
    }
}

impl From<LlmError> for RealInspectError {
    fn from(error: LlmError) -> Self {
        RealInspectError::Run(LlmRunError::Model(error))
    }
}

fn rows(flat: &[f32], width: usize) -> Vec<Vec<f32>> {
    flat.chunks(width.max(1)).map(<[f32]>::to_vec).collect()
}

/// Steps 1–2 on `model` for `scene`'s corpus and preference: every prefix's odds (step 2's
/// prefix's also for `preferred`, when the corpus does not list it: the model knows every
/// word), and RLHF's closed form over the first prefix's endings with the model's base
/// (`app::real_lesson`, what the window shows).
pub fn real_corpus_and_rlhf(
    model: &LlamaModel,
    scene: &Scene,
) -> Result<(RealCorpusReport, RlhfOutcome), RealInspectError> {
    let corpus = &scene.corpus;
    let odds = compute_odds(model, &OddsKey::of(scene))?;
    let mut rows = Vec::with_capacity(corpus.rows.len());
    for prefix_odds in &odds {
        for row in corpus.distribution(&prefix_odds.prefix).rows {
            let Some(chain) = prefix_odds.endings.iter().find(|e| e.ending == row.ending) else {
                continue;
            };
            rows.push(RealEndingRow {
                real_log_probability: chain.log_probability,
                real_tokens: chain.tokens.iter().map(|t| t.token.clone()).collect(),
                odds: row,
            });
        }
    }
    let rlhf = real_rlhf(scene, &odds)?;
    let first = odds.iter().find(|o| o.prefix == corpus.rlhf_prefix());
    let report = RealCorpusReport {
        rows,
        prediction: first.and_then(|o| corpus.distribution(&o.prefix).prediction),
        real_prediction: first
            .and_then(PrefixOdds::prediction)
            .map(|e| e.ending.clone()),
        real_next_token: odds
            .into_iter()
            .map(|o| RealNextToken {
                prefix: o.prefix,
                top: o.top,
            })
            .collect(),
    };
    Ok((report, rlhf))
}

/// The report for `scene` on `model` (loaded from the file `info` describes).
pub fn inspect_scene_on_model(
    model: &LlamaModel,
    info: ModelInfo,
    scene: &Scene,
) -> Result<RealSceneReport, RealInspectError> {
    let view = &scene.attention;
    let c = &model.config;
    model.check_head(HeadRef {
        layer: view.layer,
        head: view.head,
    })?;
    let ids = tokenize_prompt(model, &view.sentence, 0)?;
    let n = ids.len();
    if view.focus >= n {
        return Err(RealInspectError::Focus {
            focus: view.focus,
            tokens: n,
            last: n - 1,
        });
    }
    let (corpus, rlhf) = real_corpus_and_rlhf(model, scene)?;
    // The window's step 3 computes exactly this (`app::real_lesson::compute_layer`).
    let layer = compute_layer(model, &LayerKey::of(scene))?;
    let heads = layer
        .maps
        .chunks(n * n)
        .enumerate()
        .map(|(head, weights)| {
            let hidden = view.hide_first_token.then(|| hide_first_token(weights, n));
            RealHeadReport {
                head,
                kv_head: head / c.group(),
                weights: rows(weights, n),
                shown: hidden.as_ref().map(|h| rows(&h.shown, n)),
                first_token_share: hidden.map(|h| h.first_share),
            }
        })
        .collect();
    Ok(RealSceneReport {
        model: info,
        engine: "cpu-reference".into(),
        tokens: layer.tokens,
        token_ids: ids,
        focus: view.focus,
        corpus,
        rlhf,
        layer: view.layer,
        heads,
        lens: layer.lens,
    })
}
