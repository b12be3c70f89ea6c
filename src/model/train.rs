//! Step 1's live training: the model's output layer fitted to the corpus — the CPU twin of
//! `shaders/train_output_layer.wgsl`, loop for loop.
//!
//! Each prefix `p` of the corpus is run through the step 3 engine; `h_p` is what its last token
//! carries forward (the attention output mapped back onto the features, plus the residual and
//! layer norm when that switch is on). The output layer turns it into a guess:
//!
//! ```text
//! logits_p = W_out · h_p + b            π_p = softmax(logits_p)
//! loss     = − Σ_p Σ_y (count(p, y) / C) · ln π_p(y)          (C = every count in the corpus)
//! ∂loss/∂logits_p(y) = (n_p / C) · π_p(y) − count(p, y) / C     (n_p = the prefix's total)
//! W_out ← W_out − η Σ_p g_p h_pᵀ        b ← b − η Σ_p g_p
//! ```
//!
//! Full-batch gradient descent from `W_out = 0, b = 0` (every ending equally likely, loss `ln V`),
//! on the standardised `ĥ_p` ([`standardise`]: centred across the prefixes, unit RMS).
//! The step size is `η = 2 / (1 + max_p |ĥ_p|²)`: along any direction the loss curves by at
//! most `½ (1 + |ĥ|²)` (softmax's Hessian is at most ½), so a step never overshoots.
//!
//! For a one-prefix corpus the fit converges to the closed form `p = count / total`. With
//! several prefixes only `h_p` tells them apart — what the last token attended to decides which
//! endings win. The loss can never go below the corpus's own entropy, `Σ_p (n_p/C) · H(p)`.

#![allow(
    clippy::indexing_slicing,
    reason = "a CPU twin of a WGSL kernel: it indexes as the kernel does (the `model` module's docs, \"CPU twins\")"
)]

use bytemuck::{Pod, Zeroable};
use thiserror::Error;

use super::attention::{attend, AttentionError, AttentionOptions, QueryRows};
use super::corpus::Corpus;
use super::lesson::{LessonError, LessonModel, WeightEdit};
use super::positions::Positions;
use super::residual::{carried_forward, residual_stream};

/// Threads per workgroup in `shaders/train_output_layer.wgsl` (`@workgroup_size`): the one
/// workgroup strides over the vocabulary and reduces across these lanes.
pub const LANES: usize = 64;

/// How many steps the Train control runs.
pub const TRAIN_STEPS: u32 = 300;

/// The most sentence starts one fit takes.
pub const MAX_TRAIN_PREFIXES: usize = 32;

/// The most distinct endings one fit takes.
pub const MAX_TRAIN_VOCABULARY: usize = 256;

/// `η · (1 + max |h|²)`; see the module docs.
pub const LEARNING_RATE_SCALE: f32 = 2.0;

/// Why a corpus cannot be trained on.
#[derive(Debug, Error)]
pub enum TrainError {
    /// Every count is 0.
    #[error("the corpus has no ending with a count above 0: there is nothing to learn")]
    NoVocabulary,
    /// Too many sentence starts.
    #[error("the corpus has {0} sentence starts; training takes at most {MAX_TRAIN_PREFIXES}")]
    TooManyPrefixes(usize),
    /// Too many endings.
    #[error("the corpus has {0} different endings; training takes at most {MAX_TRAIN_VOCABULARY}")]
    TooManyEndings(usize),
    /// A prefix the lesson model refuses.
    #[error("cannot read the sentence start `{prefix}`: {source}")]
    Prefix {
        /// The prefix.
        prefix: String,
        /// Why.
        source: LessonError,
    },
    /// The attention input was refused.
    #[error(transparent)]
    Attention(#[from] AttentionError),
    /// The hidden vectors do not fit together (a bug if it ever appears).
    #[error("the hidden vectors have different lengths")]
    Shape,
}

/// The training kernel's uniform block, field for field.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Pod, Zeroable)]
pub struct TrainParams {
    /// P: sentence starts.
    pub prefixes: u32,
    /// V: endings (the output vocabulary).
    pub vocabulary: u32,
    /// d: the length of each `h_p`.
    pub features: u32,
    /// How many losses the loss buffer holds.
    pub max_steps: u32,
    /// η.
    pub learning_rate: f32,
    /// Padding to 16 bytes.
    pub pad: [u32; 3],
}

impl TrainParams {
    /// Floats in the weights buffer: `W_out` (V × d, row-major), then `b` (V).
    pub fn weights_len(&self) -> usize {
        self.vocabulary as usize * (self.features as usize + 1)
    }

    /// Floats in the per-prefix buffers (logits, probabilities, corpus shares): P × V.
    pub fn table_len(&self) -> usize {
        self.prefixes as usize * self.vocabulary as usize
    }

    /// The most loop iterations one invocation of the kernel runs per step (all loops counted
    /// together, as Mesa's lavapipe counts them).
    pub fn loop_iterations(&self) -> u64 {
        let (p, v, d) = (
            self.prefixes as u64,
            self.vocabulary as u64,
            self.features as u64,
        );
        let mine = v.div_ceil(LANES as u64);
        let halvings = LANES.trailing_zeros() as u64;
        // Per prefix: logits (d each), exp, normalise; two reductions. Then the update (d + 1
        // sums over P each) and the loss reduction.
        p * (mine * (d + 2) + 2 * halvings + 2) + mine * (d + 1) * (p + 1) + halvings + 1
    }
}

/// How the step 3 engine reads each prefix.
#[derive(Clone, Copy, Debug)]
pub struct ForwardSwitches<'a> {
    /// Heads (their outputs are summed through `W_O`).
    pub heads: usize,
    /// Positional encoding.
    pub positions: Positions,
    /// Causal mask on.
    pub causal: bool,
    /// Residual + layer norm on.
    pub residual_norm: bool,
    /// The user's weight edits.
    pub edits: &'a [WeightEdit],
}

/// What the output layer is fitted to: one `h_p` per prefix and the corpus as shares of `C`.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainingSet {
    params: TrainParams,
    prefixes: Vec<String>,
    vocabulary: Vec<String>,
    hidden: Vec<f32>,
    inputs: Vec<f32>,
    corpus_share: Vec<f32>,
    prefix_share: Vec<f32>,
    counts: Vec<u64>,
}

impl TrainingSet {
    /// Builds the set from `corpus` and one hidden vector per prefix (in the order of
    /// [`Corpus::prefixes`]). The vocabulary is every ending with a count above 0 anywhere, in
    /// order of first appearance.
    pub fn new(corpus: &Corpus, hidden: &[Vec<f32>]) -> Result<Self, TrainError> {
        let prefixes: Vec<String> = corpus.prefixes().into_iter().map(str::to_owned).collect();
        let mut vocabulary: Vec<String> = Vec::new();
        for row in corpus.rows.iter().filter(|r| r.count > 0) {
            if !vocabulary.contains(&row.ending) {
                vocabulary.push(row.ending.clone());
            }
        }
        if vocabulary.is_empty() {
            return Err(TrainError::NoVocabulary);
        }
        if prefixes.len() > MAX_TRAIN_PREFIXES {
            return Err(TrainError::TooManyPrefixes(prefixes.len()));
        }
        if vocabulary.len() > MAX_TRAIN_VOCABULARY {
            return Err(TrainError::TooManyEndings(vocabulary.len()));
        }
        let features = hidden.first().map_or(0, Vec::len);
        if hidden.len() != prefixes.len() || hidden.iter().any(|h| h.len() != features) {
            return Err(TrainError::Shape);
        }
        let (p_count, v_count) = (prefixes.len(), vocabulary.len());
        let mut counts = vec![0u64; p_count * v_count];
        for row in &corpus.rows {
            let p = prefixes.iter().position(|x| *x == row.prefix);
            let v = vocabulary.iter().position(|x| *x == row.ending);
            if let (Some(p), Some(v)) = (p, v) {
                counts[p * v_count + v] += row.count;
            }
        }
        // Shares are computed in f64 so counts up to a billion stay exact before rounding once.
        let total: u64 = counts.iter().sum();
        let share = |c: u64| (c as f64 / total as f64) as f32;
        let corpus_share = counts.iter().map(|&c| share(c)).collect();
        let prefix_share = counts
            .chunks(v_count)
            .map(|r| share(r.iter().sum()))
            .collect();
        let inputs = standardise(hidden, features);
        let max_norm = inputs
            .chunks(features.max(1))
            .map(|h| h.iter().map(|x| x * x).sum::<f32>())
            .fold(0.0f32, f32::max);
        let params = TrainParams {
            prefixes: p_count as u32,
            vocabulary: v_count as u32,
            features: features as u32,
            max_steps: TRAIN_STEPS,
            learning_rate: LEARNING_RATE_SCALE / (1.0 + max_norm),
            pad: [0; 3],
        };
        Ok(Self {
            params,
            prefixes,
            vocabulary,
            hidden: hidden.concat(),
            inputs,
            corpus_share,
            prefix_share,
            counts,
        })
    }

    /// Builds the set with each prefix's `h_p` from the step 3 engine: what the prefix's last
    /// token carries forward.
    pub fn from_lesson(
        corpus: &Corpus,
        model: &LessonModel,
        settings: ForwardSwitches<'_>,
    ) -> Result<Self, TrainError> {
        let hidden = corpus
            .prefixes()
            .into_iter()
            .map(|prefix| hidden_state(model, prefix, settings))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(corpus, &hidden)
    }

    /// The kernel's uniform block.
    pub fn params(&self) -> &TrainParams {
        &self.params
    }

    /// The same set, with the loss buffer sized for `steps`.
    pub fn with_max_steps(mut self, steps: u32) -> Self {
        self.params.max_steps = steps;
        self
    }

    /// The sentence starts, in corpus order.
    pub fn prefixes(&self) -> &[String] {
        &self.prefixes
    }

    /// The endings the output layer can say.
    pub fn vocabulary(&self) -> &[String] {
        &self.vocabulary
    }

    /// `h_p` as the engine gave it, P × d.
    pub fn hidden(&self) -> &[f32] {
        &self.hidden
    }

    /// What the output layer reads: `ĥ_p = (h_p − mean) / rms`, P × d (see [`standardise`]).
    pub fn inputs(&self) -> &[f32] {
        &self.inputs
    }

    /// `count(p, y) / C`, P × V.
    pub fn corpus_share(&self) -> &[f32] {
        &self.corpus_share
    }

    /// `n_p / C`, P.
    pub fn prefix_share(&self) -> &[f32] {
        &self.prefix_share
    }

    /// The closed form for prefix `p`: `count(p, y) / n_p` over the vocabulary.
    pub fn closed_form(&self, p: usize) -> Vec<f64> {
        let v = self.vocabulary.len();
        let row = self.counts.get(p * v..(p + 1) * v).unwrap_or(&[]);
        let total: u64 = row.iter().sum();
        row.iter()
            .map(|&c| {
                if total > 0 {
                    c as f64 / total as f64
                } else {
                    0.0
                }
            })
            .collect()
    }

    /// The lowest loss any output layer can reach: the corpus's own entropy,
    /// `− Σ_p Σ_y (count/C) ln(count/n_p)`.
    pub fn loss_floor(&self) -> f64 {
        let total: u64 = self.counts.iter().sum();
        (0..self.prefixes.len())
            .map(|p| {
                let v = self.vocabulary.len();
                let closed = self.closed_form(p);
                let row = self.counts.get(p * v..(p + 1) * v).unwrap_or(&[]);
                row.iter()
                    .zip(closed)
                    .filter(|(&c, _)| c > 0)
                    .map(|(&c, q)| -(c as f64 / total as f64) * q.ln())
                    .sum::<f64>()
            })
            .sum()
    }
}

/// Standardises the prefixes' hidden vectors as any trainer normalises its inputs:
/// `ĥ_p = (h_p − mean_p h) / rms`, `rms = √(mean_p |h_p − mean|²)` (0 stays 0 when every prefix
/// carries the same `h`, as with one prefix: then the bias alone fits the counts).
///
/// Why: the prefixes' `h` share most of their features (`is` attends to `the best … ` in every
/// one); only the topic differs. Raw, the part that tells them apart is small next to the shared
/// part and gradient descent crawls along it (`assets/scenes/two_topics.json`: KL to the counts
/// ≈ 0.1 after 300 steps raw, ≈ 0.005 standardised). Standardised,
/// the difference is all that is left, at unit scale. The fitted layer is still
/// `logits = W_out · h + b` — with `W_out = W / rms` and `b = b̂ − W · mean / rms`.
pub fn standardise(hidden: &[Vec<f32>], features: usize) -> Vec<f32> {
    let count = hidden.len().max(1) as f32;
    let mut mean = vec![0.0f32; features];
    for h in hidden {
        for (m, x) in mean.iter_mut().zip(h) {
            *m += x / count;
        }
    }
    let centred: Vec<f32> = hidden
        .iter()
        .flat_map(|h| h.iter().zip(&mean).map(|(x, m)| x - m))
        .collect();
    let rms = (centred.iter().map(|x| x * x).sum::<f32>() / count).sqrt();
    if rms < 1e-6 {
        return vec![0.0; centred.len()];
    }
    centred.iter().map(|x| x / rms).collect()
}

/// What `prefix`'s last token carries forward through the step 3 engine.
pub fn hidden_state(
    model: &LessonModel,
    prefix: &str,
    settings: ForwardSwitches<'_>,
) -> Result<Vec<f32>, TrainError> {
    let wrap = |source| TrainError::Prefix {
        prefix: prefix.to_owned(),
        source,
    };
    let options = AttentionOptions {
        causal: settings.causal,
        positions: settings.positions,
        key_padding_mask: None,
    };
    let (tokens, input) = model
        .attention_input_with_edits(prefix, settings.heads, options, settings.edits)
        .map_err(wrap)?;
    let last = tokens.len().saturating_sub(1);
    let result = attend(&input, QueryRows::Focus(last))?;
    let stream = residual_stream(&input);
    let row = stream.row(last).ok_or(TrainError::Shape)?;
    carried_forward(row, &result, last, model.w_o(), settings.residual_norm)
        .map(|c| c.carried)
        .ok_or(TrainError::Shape)
}

/// The output layer's parameters in the kernel's layout: `W_out` (V × d, row-major), then `b`.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputLayer {
    /// The weights buffer.
    pub weights: Vec<f32>,
}

impl OutputLayer {
    /// `W_out = 0, b = 0`: every ending equally likely.
    pub fn zeros(params: &TrainParams) -> Self {
        Self {
            weights: vec![0.0; params.weights_len()],
        }
    }

    /// π for every prefix (P × V), as the kernel's forward pass computes it.
    pub fn probabilities(&self, set: &TrainingSet) -> Vec<f32> {
        let p = set.params();
        let mut logits = vec![0.0; p.table_len()];
        let mut probabilities = vec![0.0; p.table_len()];
        forward(set, &self.weights, &mut logits, &mut probabilities);
        probabilities
    }
}

/// Reduces one value per lane to one, halving as the kernel does in workgroup memory.
pub(crate) fn reduce_lanes(partial: &mut [f32; LANES], op: fn(f32, f32) -> f32) -> f32 {
    let mut stride = LANES / 2;
    while stride > 0 {
        for lane in 0..stride {
            partial[lane] = op(partial[lane], partial[lane + stride]);
        }
        stride /= 2;
    }
    partial[0]
}

/// The forward pass for every prefix; returns the count-weighted cross-entropy.
fn forward(
    set: &TrainingSet,
    weights: &[f32],
    logits: &mut [f32],
    probabilities: &mut [f32],
) -> f32 {
    let params = set.params();
    let (v_count, d) = (params.vocabulary as usize, params.features as usize);
    let bias = v_count * d;
    let mut loss_part = [0.0f32; LANES];
    for p in 0..params.prefixes as usize {
        let h = &set.inputs[p * d..(p + 1) * d];
        // Logits and the row max, one lane per ending (strided).
        let mut partial = [super::attention::LOWEST_FINITE; LANES];
        for (lane, slot) in partial.iter_mut().enumerate() {
            for v in (lane..v_count).step_by(LANES) {
                let row = &weights[v * d..(v + 1) * d];
                let mut z = weights[bias + v];
                for k in 0..d {
                    z += row[k] * h[k];
                }
                logits[p * v_count + v] = z;
                *slot = slot.max(z);
            }
        }
        let row_max = reduce_lanes(&mut partial, f32::max);
        let mut partial = [0.0f32; LANES];
        for (lane, slot) in partial.iter_mut().enumerate() {
            for v in (lane..v_count).step_by(LANES) {
                let e = (logits[p * v_count + v] - row_max).exp();
                probabilities[p * v_count + v] = e;
                *slot += e;
            }
        }
        let sum = reduce_lanes(&mut partial, |a, b| a + b);
        let log_sum = sum.ln();
        for (lane, loss) in loss_part.iter_mut().enumerate() {
            for v in (lane..v_count).step_by(LANES) {
                let i = p * v_count + v;
                probabilities[i] /= sum;
                let share = set.corpus_share[i];
                if share > 0.0 {
                    *loss -= share * (logits[i] - row_max - log_sum);
                }
            }
        }
    }
    reduce_lanes(&mut loss_part, |a, b| a + b)
}

/// One full-batch gradient-descent step — the CPU twin of one dispatch of
/// `shaders/train_output_layer.wgsl`. Writes π (the forward pass before the update) to
/// `probabilities` and returns the loss before the update.
pub fn train_step(
    set: &TrainingSet,
    layer: &mut OutputLayer,
    logits: &mut [f32],
    probabilities: &mut [f32],
) -> f32 {
    let loss = forward(set, &layer.weights, logits, probabilities);
    let params = set.params();
    let (p_count, v_count, d) = (
        params.prefixes as usize,
        params.vocabulary as usize,
        params.features as usize,
    );
    let bias = v_count * d;
    let gradient = |p: usize, v: usize| {
        let i = p * v_count + v;
        set.prefix_share[p] * probabilities[i] - set.corpus_share[i]
    };
    for v in 0..v_count {
        for k in 0..d {
            let mut g = 0.0f32;
            for p in 0..p_count {
                g += gradient(p, v) * set.inputs[p * d + k];
            }
            layer.weights[v * d + k] -= params.learning_rate * g;
        }
        let mut g = 0.0f32;
        for p in 0..p_count {
            g += gradient(p, v);
        }
        layer.weights[bias + v] -= params.learning_rate * g;
    }
    loss
}

/// A finished (or partial) fit.
#[derive(Clone, Debug, PartialEq)]
pub struct Fit {
    /// The output layer after the steps.
    pub layer: OutputLayer,
    /// The loss before each step.
    pub losses: Vec<f32>,
    /// π of the last step's forward pass (before its update), P × V — what the kernel's
    /// probabilities buffer holds.
    pub probabilities: Vec<f32>,
}

/// Runs `steps` steps from zero on the CPU.
pub fn train(set: &TrainingSet, steps: u32) -> Fit {
    let mut layer = OutputLayer::zeros(set.params());
    let mut logits = vec![0.0; set.params().table_len()];
    let mut probabilities = vec![0.0; set.params().table_len()];
    let losses = (0..steps)
        .map(|_| train_step(set, &mut layer, &mut logits, &mut probabilities))
        .collect();
    Fit {
        probabilities,
        layer,
        losses,
    }
}

/// `KL(p ‖ q) = Σ p ln(p / q)` over the `p > 0` entries, with `q` (a whole distribution over
/// the same entries) renormalised to sum to 1. `q` is f32: a probability below the smallest
/// normal f32 (`1.2e-38`) counts as that.
pub fn kl_divergence(p: &[f64], q: &[f32]) -> f64 {
    // `q` comes from an f32 softmax, whose shares sum to 1 only within f32 rounding; taken as
    // they are, a fit that matches the counts could print a KL of -1e-8, a number no divergence
    // can have. Renormalised in f64, Gibbs' inequality (KL ≥ 0) holds up to f64 rounding, and
    // that last rounding is clamped away.
    let total: f64 = q.iter().map(|&q| f64::from(q)).sum();
    if total <= 0.0 {
        return f64::INFINITY;
    }
    let kl: f64 = p
        .iter()
        .zip(q)
        .filter(|(&p, _)| p > 0.0)
        .map(|(&p, &q)| p * (p * total / f64::from(q.max(f32::MIN_POSITIVE))).ln())
        .sum();
    kl.max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::corpus::DEFAULT_PREFIX;

    fn lesson() -> LessonModel {
        LessonModel::builtin().expect("the shipped lesson model loads")
    }

    /// A fit equal to the counts up to f32 rounding (shares that do not sum to exactly 1 in
    /// f32) has a KL of 0, never a negative one.
    #[test]
    fn kl_of_a_fit_equal_to_the_counts_is_never_negative() {
        let counts = [5.0f64, 3.0, 2.0, 1.0];
        let p: Vec<f64> = counts.iter().map(|c| c / 11.0).collect();
        for nudge in [1.0f32, 1.0 + f32::EPSILON, 1.0 - f32::EPSILON, 1.000_001] {
            let q: Vec<f32> = p.iter().map(|&p| p as f32 * nudge).collect();
            let kl = kl_divergence(&p, &q);
            assert!((0.0..1e-12).contains(&kl), "nudge {nudge}: KL {kl}");
        }
        assert!(kl_divergence(&[0.5, 0.5], &[0.9, 0.1]) > 0.3);
    }

    fn settings() -> ForwardSwitches<'static> {
        ForwardSwitches {
            heads: 1,
            positions: Positions::None,
            causal: false,
            residual_norm: false,
            edits: &[],
        }
    }

    #[test]
    fn one_prefix_fit_converges_to_the_closed_form() {
        for counts in [[5, 3, 2, 1], [1, 1, 1, 1], [40, 1, 1, 7], [1000, 1, 0, 3]] {
            let mut corpus = Corpus::default();
            for (row, count) in corpus.rows.iter_mut().zip(counts) {
                row.count = count;
            }
            for residual_norm in [false, true] {
                let set = TrainingSet::from_lesson(
                    &corpus,
                    &lesson(),
                    ForwardSwitches {
                        residual_norm,
                        ..settings()
                    },
                )
                .unwrap();
                let fit = train(&set, TRAIN_STEPS);
                let kl = kl_divergence(&set.closed_form(0), &fit.layer.probabilities(&set));
                assert!(kl < 1e-3, "{counts:?} residual {residual_norm}: KL = {kl}");
                let floor = set.loss_floor() as f32;
                assert!(fit.losses[0] >= fit.losses[TRAIN_STEPS as usize - 1]);
                assert!(
                    fit.losses.iter().all(|&l| l >= floor - 1e-5),
                    "no loss below the corpus entropy {floor}"
                );
            }
        }
    }

    #[test]
    fn loss_starts_at_ln_vocabulary_and_never_rises() {
        let set = TrainingSet::from_lesson(&Corpus::default(), &lesson(), settings()).unwrap();
        let fit = train(&set, TRAIN_STEPS);
        assert!((fit.losses[0] - 4f32.ln()).abs() < 1e-6, "uniform start");
        for pair in fit.losses.windows(2) {
            assert!(pair[1] <= pair[0] + 1e-6, "{pair:?}");
        }
    }

    #[test]
    fn topic_word_decides_which_endings_win() {
        // Two sentence starts that differ only in the topic word; both end in `is`.
        let mut corpus = Corpus { rows: Vec::new() };
        let language = "the best language is";
        for (prefix, ending, count) in [
            (DEFAULT_PREFIX, "postgresql", 5),
            (DEFAULT_PREFIX, "mongodb", 3),
            (language, "python", 4),
            (language, "rust", 3),
        ] {
            corpus.add_row(prefix, ending, count).unwrap();
        }
        let set = TrainingSet::from_lesson(&corpus, &lesson(), settings()).unwrap();
        let fit = train(&set, TRAIN_STEPS);
        let v = set.vocabulary().len();
        let winner = |p: usize| {
            let row = &fit.probabilities[p * v..(p + 1) * v];
            let best = (0..v).fold(0, |b, i| if row[i] > row[b] { i } else { b });
            set.vocabulary()[best].clone()
        };
        assert_eq!(winner(0), "postgresql");
        assert_eq!(winner(1), "python");
        // Each prefix's fitted odds approach its own counts' shares. Not as fast as one prefix:
        // the other topic's endings have count 0 here, a target only reached at logit −∞, so
        // their leftover mass (and the KL) falls like 1/steps.
        let after = fit.layer.probabilities(&set);
        for p in 0..2 {
            let kl = kl_divergence(&set.closed_form(p), &after[p * v..(p + 1) * v]);
            assert!(kl < 1e-2, "prefix {p}: KL = {kl}");
        }
        // The endings of the other topic get little mass: `is` attended to `database` or to
        // `language`, and that is all that tells the prefixes apart.
        let row0 = &fit.probabilities[..v];
        assert!(row0[2] + row0[3] < 0.1, "database prefix: {row0:?}");

        // What `is` carried forward holds the topic it attended to...
        let d = set.params().features as usize;
        let (h0, h1) = (&set.hidden()[..d], &set.hidden()[d..]);
        let feature = |name: &str| lesson().features().iter().position(|f| f == name).unwrap();
        let (data, programming) = (feature("software & data"), feature("programming"));
        assert!(h0[data] > 0.0 && h0[programming] == 0.0, "{h0:?}");
        assert!(h1[programming] > 0.0 && h1[data] == 0.0, "{h1:?}");
        // ...and it alone decides: hand each prefix the other's `h` and the guesses swap.
        let swapped = TrainingSet::new(&corpus, &[h1.to_vec(), h0.to_vec()]).unwrap();
        let probabilities = fit.layer.probabilities(&swapped);
        let best = |p: usize| {
            let row = &probabilities[p * v..(p + 1) * v];
            (0..v).fold(0, |b, i| if row[i] > row[b] { i } else { b })
        };
        assert_eq!(set.vocabulary()[best(0)], "python");
        assert_eq!(set.vocabulary()[best(1)], "postgresql");
    }

    #[test]
    fn zero_counts_leave_the_vocabulary_and_empty_corpus_is_refused() {
        let mut corpus = Corpus::default();
        corpus.rows[3].count = 0;
        let set = TrainingSet::from_lesson(&corpus, &lesson(), settings()).unwrap();
        assert_eq!(set.vocabulary(), ["mongodb", "postgresql", "mysql"]);
        for row in &mut corpus.rows {
            row.count = 0;
        }
        assert!(matches!(
            TrainingSet::from_lesson(&corpus, &lesson(), settings()),
            Err(TrainError::NoVocabulary)
        ));
    }

    #[test]
    fn loop_bound_stays_far_below_lavapipes_limit_at_the_largest_fit() {
        let params = TrainParams {
            prefixes: MAX_TRAIN_PREFIXES as u32,
            vocabulary: MAX_TRAIN_VOCABULARY as u32,
            features: 64,
            max_steps: TRAIN_STEPS,
            learning_rate: 0.1,
            pad: [0; 3],
        };
        assert!(
            params.loop_iterations() < 65_535,
            "{}",
            params.loop_iterations()
        );
    }
}
