//! The lesson on a real model: step 1's odds, step 2's base, and the logit lens of step 3 —
//! computed by the CPU reference forward pass ([`LlamaModel::forward`]), so every number here is
//! the model's own.
//!
//! **Step 1, the real odds.** The lesson model's odds come from the corpus's counts. A real
//! model's come from its training text: for a prefix it gives every token of its vocabulary a
//! probability, and a whole ending — ` mongodb` is three tokens, ` m` `ong` `odb` — gets one by
//! the chain rule:
//!
//! ```text
//! log p(y | prefix) = Σ_t log softmax(logits_t)[y_t]      logits_t: after prefix + y_1 … y_{t−1}
//! ```
//!
//! The ending is read as it follows the prefix in running text: preceded by one space (the
//! byte-level BPE attaches the space to the word after it, so `prefix` + ` ending` tokenizes as
//! the prefix's tokens followed by the ending's).
//!
//! **Step 2.** RLHF's closed form takes these log-probabilities as its base logits
//! (`model::rlhf::apply_to_candidates`): every ending now has a finite base, so no preference is
//! unreachable; what the view shows instead is the `R/β` each candidate would need to win.
//!
//! **The logit lens.** The residual stream after layer `l`, pushed through the model's own final
//! RMSNorm and output matrix early — `softmax(W_out · RMSNorm(x_l) · g_out)` — is what the model
//! "would say" if it stopped there; the last layer's rung is its real prediction.

use serde::Serialize;

use super::forward::{rms_norm, top_k, Capture, Keep, KvCache};
use super::llama::{LlamaModel, LlmError};
use crate::model::rlhf::{apply_to_candidates, Candidate, Rewards, RlhfError, RlhfOutcome};

/// The most next-token candidates a prefix lists.
pub const MAX_TOP: usize = 100;

/// How many next tokens step 1 lists per prefix, and `gaze inspect --model` prints.
pub const TOP_NEXT_TOKENS: usize = 10;

/// One of the model's candidates for the next token.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TokenOdds {
    /// Its text as the model writes it (a leading space is part of it: `" Paris"`).
    pub token: String,
    /// Its id in the vocabulary.
    pub id: u32,
    /// `softmax(logits)` over the whole vocabulary.
    pub probability: f32,
}

/// One corpus ending's probability under the model, token by token.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EndingChain {
    /// The ending as the corpus writes it (`mongodb`).
    pub ending: String,
    /// ` ending`'s tokens as the model reads them.
    pub tokens: Vec<TokenOdds>,
    /// `log p(ending | prefix)`, the sum of the tokens' natural logs: each token's
    /// `probability` is its conditional `p(y_t | prefix, y_<t)`.
    pub log_probability: f64,
}

/// One prefix of the corpus under the model.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PrefixOdds {
    /// The sentence start.
    pub prefix: String,
    /// The model's own likeliest next tokens, most likely first.
    pub top: Vec<TokenOdds>,
    /// Every corpus ending of this prefix (count 0 included: the model knows them all), in
    /// corpus order.
    pub endings: Vec<EndingChain>,
}

impl PrefixOdds {
    /// `ending`'s share among `among` (this prefix's endings, by name): the model's odds
    /// restricted to those candidates, `p(y) / Σ_e p(e) = exp(log p(y) − logsumexp_e log p(e))`.
    /// `None` when `ending` or any of `among` has no odds here.
    pub fn share_among<'e>(
        &self,
        ending: &str,
        among: impl IntoIterator<Item = &'e str>,
    ) -> Option<f64> {
        let log_p = |name: &str| {
            self.endings
                .iter()
                .find(|e| e.ending == name)
                .map(|e| e.log_probability)
        };
        let own = log_p(ending)?;
        // Shifted by the largest, so tiny probabilities (1e-8 and less) do not underflow.
        let logs: Option<Vec<f64>> = among.into_iter().map(log_p).collect();
        let logs = logs?;
        let top = logs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let total: f64 = logs.iter().map(|l| (l - top).exp()).sum();
        (total > 0.0).then(|| (own - top).exp() / total)
    }

    /// The ending the model finds likeliest among the corpus's (ties: the one listed first).
    pub fn prediction(&self) -> Option<&EndingChain> {
        self.endings.iter().fold(None, |best, e| match best {
            Some(b) if b.log_probability >= e.log_probability => Some(b),
            _ => Some(e),
        })
    }
}

/// Step 2 over the model's base: RLHF's closed form on `odds`' endings, each base logit the
/// ending's chain-rule `log p(ending | prefix)` and the winner the model's own likeliest ending
/// (`model::rlhf::apply_to_candidates`).
pub fn rlhf_on_model(
    odds: &PrefixOdds,
    preferred: &str,
    strength: f64,
    rewards: Rewards,
) -> Result<RlhfOutcome, RlhfError> {
    let candidates: Vec<Candidate<'_>> = odds
        .endings
        .iter()
        .map(|e| Candidate {
            ending: &e.ending,
            base_logit: e.log_probability,
        })
        .collect();
    let winner = odds.prediction().map_or("", |e| e.ending.as_str());
    apply_to_candidates(&candidates, winner, preferred.trim(), strength, rewards)
}

/// `log softmax(logits)[id]` in f64: the log of the normaliser `Σ exp(l − max)`, subtracted.
pub fn log_softmax_at(logits: &[f32], id: u32) -> f64 {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let log_sum = logits
        .iter()
        .map(|&l| (l as f64 - max).exp())
        .sum::<f64>()
        .ln();
    logits
        .get(id as usize)
        .map_or(f64::NEG_INFINITY, |&l| l as f64 - max - log_sum)
}

impl LlamaModel {
    /// `ids`' texts and conditional probabilities as [`TokenOdds`].
    fn odds_of(&self, ranked: Vec<(u32, f32)>) -> Vec<TokenOdds> {
        ranked
            .into_iter()
            .map(|(id, probability)| TokenOdds {
                token: self.tokenizer.token_text(id),
                id,
                probability,
            })
            .collect()
    }

    /// `prefix` under the model: its `top` likeliest next tokens and each of `endings`' chain-rule
    /// log-probability. One forward pass over the prefix, then one token at a time per ending from
    /// a copy of the prefix's KV cache.
    pub fn prefix_odds(
        &self,
        prefix: &str,
        endings: &[&str],
        top: usize,
    ) -> Result<PrefixOdds, LlmError> {
        let prefix_ids = self.tokenizer.encode(prefix.trim_end());
        let mut prefix_cache = KvCache::new(&self.config);
        let after_prefix = self
            .forward(&mut prefix_cache, &prefix_ids, &Capture::default())?
            .logits;
        let mut chains = Vec::with_capacity(endings.len());
        for &ending in endings {
            let ids = self.tokenizer.encode(&format!(" {}", ending.trim()));
            self.check_tokens(&ids, prefix_cache.len, 0)?;
            let mut cache = prefix_cache.clone();
            let mut logits = after_prefix.clone();
            let mut tokens = Vec::with_capacity(ids.len());
            let mut log_probability = 0.0;
            for (t, &id) in ids.iter().enumerate() {
                let log_p = log_softmax_at(&logits, id);
                log_probability += log_p;
                tokens.push(TokenOdds {
                    token: self.tokenizer.token_text(id),
                    id,
                    probability: log_p.exp() as f32,
                });
                // The last token's own next-token logits are not needed.
                if t + 1 < ids.len() {
                    logits = self.forward(&mut cache, &[id], &Capture::default())?.logits;
                }
            }
            chains.push(EndingChain {
                ending: ending.to_owned(),
                tokens,
                log_probability,
            });
        }
        Ok(PrefixOdds {
            prefix: prefix.to_owned(),
            top: self.odds_of(top_k(&after_prefix, top.min(MAX_TOP), 1.0)),
            endings: chains,
        })
    }

    /// The logit lens at token `focus` of `ids`: for each layer, the `top` tokens its residual
    /// stream would predict through the final RMSNorm and the output matrix.
    pub fn logit_lens(
        &self,
        ids: &[u32],
        focus: usize,
        top: usize,
    ) -> Result<Vec<LensRung>, LlmError> {
        let mut cache = KvCache::new(&self.config);
        let capture = Capture {
            focus: Some(focus),
            ..Capture::default()
        };
        let keep = Keep {
            lens: true,
            layer_maps: None,
        };
        let (_, kept) = self.forward_keeping(&mut cache, ids, &capture, keep)?;
        Ok(logit_lens(self, &kept.residuals, top))
    }
}

/// One layer's rung of the logit lens.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct LensRung {
    /// The layer (0-based in files; shown 1-based).
    pub layer: usize,
    /// What the residual stream after this layer would predict, likeliest first.
    pub top: Vec<TokenOdds>,
}

/// The lens of `residuals` (`[layer][d_model]`, as [`LlamaModel::forward_keeping`] keeps them):
/// `top_k(W_out · RMSNorm(x_l) · g_out)` per layer.
pub fn logit_lens(model: &LlamaModel, residuals: &[f32], top: usize) -> Vec<LensRung> {
    let c = &model.config;
    residuals
        .chunks_exact(c.d_model)
        .enumerate()
        .map(|(layer, x)| {
            let h = rms_norm(x, &model.output_norm, c.rms_eps);
            let logits = model.output_matrix().matvec(&h);
            LensRung {
                layer,
                top: model.odds_of(top_k(&logits, top.min(MAX_TOP), 1.0)),
            }
        })
        .collect()
}

/// The lens's rungs: the top 3 per layer.
pub const LENS_TOP: usize = 3;

/// One layer of a real model over the scene's sentence: every head's full map and the focus's
/// logit lens.
#[derive(Clone, Debug, PartialEq)]
pub struct RealLayer {
    /// The tokens as the model reads the sentence (a leading space is part of a token).
    pub tokens: Vec<String>,
    /// Their ids.
    pub token_ids: Vec<u32>,
    /// The focus token used (the scene's, or the last token when the scene's is past the end).
    pub focus: usize,
    /// The layer, 0-based.
    pub layer: usize,
    /// `[head][row][column]`, each row `softmax(q·K^T/√d_head)` under the causal mask.
    pub maps: Vec<f32>,
    /// Query heads per key/value head (grouped-query attention).
    pub group: usize,
    /// What each layer's residual stream at the focus would predict.
    pub lens: Vec<LensRung>,
}

impl RealLayer {
    /// Tokens in the sentence (the maps are `n × n`).
    pub fn n(&self) -> usize {
        self.tokens.len()
    }

    /// Query heads in the layer.
    pub fn heads(&self) -> usize {
        let n = self.n();
        if n == 0 {
            0
        } else {
            self.maps.len() / (n * n)
        }
    }

    /// `head`'s map, `n × n` row-major.
    pub fn head_map(&self, head: usize) -> Option<&[f32]> {
        let n = self.n();
        self.maps.get(head * n * n..(head + 1) * n * n)
    }
}

impl LlamaModel {
    /// Runs `sentence` through the model on the CPU reference, keeping every head of `layer`
    /// (0-based) and the residual stream of token `focus` (clamped to the last) after each layer
    /// for the logit lens. What step 3 shows of a real model and `gaze inspect --model` prints.
    pub fn layer_attention(
        &self,
        sentence: &str,
        focus: usize,
        layer: usize,
    ) -> Result<RealLayer, RealLayerError> {
        let model = self;
        let c = &model.config;
        if layer >= c.layers {
            return Err(RealLayerError::NoSuchLayer {
                layer: layer + 1,
                layers: c.layers,
            });
        }
        let ids = model.tokenizer.encode(sentence);
        model.check_tokens(&ids, 0, 0)?;
        let focus = focus.min(ids.len().saturating_sub(1));
        let capture = Capture {
            focus: Some(focus),
            ..Capture::default()
        };
        let keep = Keep {
            lens: true,
            layer_maps: Some(layer),
        };
        let (_, kept) = model.forward_keeping(&mut KvCache::new(c), &ids, &capture, keep)?;
        Ok(RealLayer {
            tokens: ids
                .iter()
                .map(|&id| model.tokenizer.token_text(id))
                .collect(),
            token_ids: ids,
            focus,
            layer,
            maps: kept.layer_maps,
            group: c.group(),
            lens: logit_lens(model, &kept.residuals, LENS_TOP),
        })
    }
}

/// Why step 3's layer could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum RealLayerError {
    /// The model refused the sentence.
    #[error(transparent)]
    Model(#[from] LlmError),
    /// A layer past the model's last (shown 1-based).
    #[error("there is no layer {layer}: the model has layers 1 to {layers}")]
    NoSuchLayer {
        /// The layer asked for, 1-based.
        layer: usize,
        /// The model's layers.
        layers: usize,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::llm::synthetic::{synthetic_model, SyntheticSpec};

    fn model() -> LlamaModel {
        synthetic_model(&SyntheticSpec::default()).unwrap()
    }

    fn chain(ending: &str, log_probability: f64) -> EndingChain {
        EndingChain {
            ending: ending.into(),
            tokens: Vec::new(),
            log_probability,
        }
    }

    /// Shares among the corpus's endings are the model's odds renormalised over them: they
    /// sum to 1, keep the odds' ratios, and survive probabilities far below f64's exp range.
    #[test]
    fn shares_among_endings_renormalise_the_models_odds_without_underflow() {
        let odds = PrefixOdds {
            prefix: "p".into(),
            top: Vec::new(),
            endings: vec![
                chain("a", -800.0),
                chain("b", -800.0 - 2f64.ln()),
                chain("c", -3.0),
            ],
        };
        let among = ["a", "b"];
        let a = odds.share_among("a", among).unwrap();
        let b = odds.share_among("b", among).unwrap();
        assert!(
            (a - 2.0 / 3.0).abs() < 1e-12 && (b - 1.0 / 3.0).abs() < 1e-12,
            "{a} {b}"
        );
        let all = ["a", "b", "c"];
        let c = odds.share_among("c", all).unwrap();
        assert!((c - 1.0).abs() < 1e-12, "c dwarfs the others: {c}");
        assert_eq!(odds.share_among("d", all), None, "no odds for d");
        assert_eq!(odds.share_among("a", ["a", "d"]), None);
    }

    /// The chain rule, checked against one forward pass over the whole sentence: each token's
    /// conditional is the softmax of the logits after everything before it.
    #[test]
    fn an_endings_probability_is_the_chain_rule_over_its_tokens() {
        let model = model();
        let (prefix, ending) = ("ab ba", "abba");
        let odds = model.prefix_odds(prefix, &[ending], 5).unwrap();
        let chain = &odds.endings[0];
        let prefix_ids = model.tokenizer.encode(prefix);
        let ending_ids = model.tokenizer.encode(&format!(" {ending}"));
        assert!(ending_ids.len() > 1, "the ending is several tokens");
        let ids: Vec<u32> = chain.tokens.iter().map(|t| t.id).collect();
        assert_eq!(ids, ending_ids);
        // Whole-sentence tokenization is the prefix's then the ending's.
        let whole = model.tokenizer.encode(&format!("{prefix} {ending}"));
        assert_eq!(whole, [prefix_ids.clone(), ending_ids.clone()].concat());
        let mut expected = 0.0;
        for t in 0..ending_ids.len() {
            let mut cache = KvCache::new(&model.config);
            let context = &whole[..prefix_ids.len() + t];
            let logits = model
                .forward(&mut cache, context, &Capture::default())
                .unwrap()
                .logits;
            expected += log_softmax_at(&logits, ending_ids[t]);
        }
        // The chain ran token by token over the KV cache, the check as whole prefills: the same
        // math in another order, equal to f32 rounding.
        assert!(
            (chain.log_probability - expected).abs() < 1e-4,
            "{} vs {expected}",
            chain.log_probability
        );
        let product: f64 = chain.tokens.iter().map(|t| t.probability as f64).product();
        assert!((product.ln() - chain.log_probability).abs() < 1e-5);
        assert!(chain.log_probability < 0.0 && chain.log_probability.is_finite());
        // The top list is the model's own: probabilities descending, summing to at most 1.
        assert_eq!(odds.top.len(), 5);
        assert!(odds
            .top
            .windows(2)
            .all(|w| w[0].probability >= w[1].probability));
    }

    #[test]
    fn the_lens_last_rung_is_the_models_own_prediction() {
        let model = model();
        let ids = model.tokenizer.encode("ab ba abba");
        let lens = model.logit_lens(&ids, ids.len() - 1, 3).unwrap();
        assert_eq!(lens.len(), model.config.layers);
        let mut cache = KvCache::new(&model.config);
        let logits = model
            .forward(&mut cache, &ids, &Capture::default())
            .unwrap()
            .logits;
        let own = top_k(&logits, 3, 1.0);
        let last = lens.last().unwrap();
        assert_eq!(last.layer, model.config.layers - 1);
        let got: Vec<(u32, f32)> = last.top.iter().map(|t| (t.id, t.probability)).collect();
        assert_eq!(got, own);
        // An earlier rung is a different read-out (the residual before the last layer's work).
        assert_ne!(lens[0].top, last.top);
    }

    #[test]
    fn the_lens_reads_the_focus_tokens_stream_not_the_last() {
        let model = model();
        let ids = model.tokenizer.encode("ab ba abba");
        let focus = 1;
        let lens = model.logit_lens(&ids, focus, 3).unwrap();
        let mut cache = KvCache::new(&model.config);
        let logits = model
            .forward(&mut cache, &ids[..=focus], &Capture::default())
            .unwrap()
            .logits;
        let got: Vec<u32> = lens.last().unwrap().top.iter().map(|t| t.id).collect();
        let want: Vec<u32> = top_k(&logits, 3, 1.0).iter().map(|t| t.0).collect();
        assert_eq!(
            got, want,
            "causal: the focus's stream sees only tokens up to it"
        );
    }

    #[test]
    fn log_softmax_is_normalised() {
        let logits = [1.0f32, 2.0, -3.0, 0.5];
        let total: f64 = (0..4).map(|i| log_softmax_at(&logits, i).exp()).sum();
        assert!((total - 1.0).abs() < 1e-12);
        assert_eq!(log_softmax_at(&logits, 9), f64::NEG_INFINITY);
    }
}
