//! The model seam: what the views need of "a transformer" — text into tokens, and layer `l`,
//! head `h`'s attention over them (and, where the model predicts words, its next-token odds).
//!
//! The lesson model is the one-layer case ([`LessonModel`]: named heads over named features,
//! 96 curated words); a real model (SmolLM2, [`LlamaModel`]: 30 layers × 9 heads) is another,
//! and the same model on the GPU kernels (`gpu::llm_model::GpuLlama`, in the layer above) a
//! third, held to [`LlamaModel`]'s numbers by `tests/llm_gpu.rs`. Views take
//! [`Token`]s and a [`HeadMap`] of one [`HeadRef`], and show lesson-only parts (named features,
//! weight editing) only when [`TransformerModel::features`] says the model has them — so a second
//! kind of model plugs in by implementing [`TransformerModel`], without touching a view.

use crate::model::attention::{AttentionOptions, AttentionResult, PackedAttention, QueryRows};
use crate::model::lesson::{LessonError, LessonModel, LessonToken};
use crate::model::llm::forward::{Capture, KvCache};
use crate::model::llm::llama::{LlamaModel, LlmError};

/// One token as the views show it.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// The text it stands for (a whole word for the lesson model, a BPE piece for a real one).
    pub text: String,
    /// Its id in the model's vocabulary, where the model has one (real models).
    pub id: Option<u32>,
    /// What the views should say about it on hover, and mark it for (italic): the lesson
    /// model's words whose embedding is estimated, not curated.
    pub note: Option<String>,
}

impl From<&LessonToken> for Token {
    fn from(token: &LessonToken) -> Self {
        Token {
            text: token.text.clone(),
            id: None,
            note: token.source.is_estimated().then(|| {
                "estimated embedding: this word is not in the curated vocabulary".to_owned()
            }),
        }
    }
}

/// Layer `layer`, head `head` of a model (both 0-based; printed 1-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HeadRef {
    /// The layer.
    pub layer: usize,
    /// The query head within the layer.
    pub head: usize,
}

impl std::fmt::Display for HeadRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "layer {}, head {}", self.layer + 1, self.head + 1)
    }
}

/// A head as a view shows it: which head of the model, and its heading on screen.
#[derive(Clone, Debug, PartialEq)]
pub struct ShownHead {
    /// Which head.
    pub head: HeadRef,
    /// Its heading: `head 2: <name>` for a one-layer model's named head, `layer 3, head 7` for
    /// a head of a deeper model (with its name after a colon, where it has one).
    pub label: String,
}

/// One head's attention over a text: `weights[i·n + j]` is how much token `i` attends to token
/// `j`; every row sums to 1.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadMap {
    /// Which head.
    pub head: HeadRef,
    /// The text's tokens (`n`).
    pub tokens: Vec<Token>,
    /// `n × n`, row-major.
    pub weights: Vec<f32>,
    /// Whether the model only attends backwards (a decoder: zero right of the diagonal).
    pub causal: bool,
}

impl HeadMap {
    /// The map as the step-3 view reads a computed result (one head, every row; the weights
    /// are all a map carries, so the views that print Q, K and V — the lesson's — find none).
    pub fn to_result(&self) -> Result<AttentionResult, ModelError> {
        AttentionResult::from_weights(self.tokens.len(), 1, self.causal, self.weights.clone())
            .map_err(ModelError::Attention)
    }
}

/// Why a model could not answer.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The lesson model refused (an empty or too long sentence).
    #[error(transparent)]
    Lesson(#[from] LessonError),
    /// The real model refused (a prompt past its context, an empty prompt).
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// The engine that computes the model's numbers failed or refused: the GPU kernels behind
    /// the seam (a lost device, a limit of the adapter, a readback that never came). It is
    /// carried as its message because `model` knows nothing of the GPU layer above it
    /// (DESIGN.md §4): `gpu` turns its own errors into this one, never the reverse.
    #[error("{0}")]
    Engine(String),
    /// The attention computed did not have the shape asked for.
    #[error(transparent)]
    Attention(#[from] crate::model::attention::AttentionError),
    /// A head the model does not have.
    #[error("{head} is not in {model}, which has {layers} layer(s) of {heads} head(s)")]
    NoSuchHead {
        /// The head asked for.
        head: HeadRef,
        /// The model's name.
        model: String,
        /// Its layers.
        layers: usize,
        /// Its heads per layer.
        heads: usize,
    },
}

/// A transformer as the views see it.
pub trait TransformerModel {
    /// What the screen calls it ("the lesson model", "SmolLM2-135M-Instruct").
    fn name(&self) -> String;
    /// Its layers.
    fn layers(&self) -> usize;
    /// Query heads per layer.
    fn heads(&self) -> usize;
    /// A head's name as the views print it (the lesson's heads have names; a real model's are
    /// numbered).
    fn head_name(&self, head: HeadRef) -> String {
        head.to_string()
    }
    /// `head` as the views head its map ([`ShownHead::label`]): a one-layer model's heads by
    /// number and name, a deeper model's by layer and head.
    fn shown_head(&self, head: HeadRef) -> ShownHead {
        let name = self.head_name(head);
        let label = if self.layers() == 1 {
            format!("head {}: {name}", head.head + 1)
        } else if name == head.to_string() {
            name
        } else {
            format!("{head}: {name}")
        };
        ShownHead { head, label }
    }
    /// `text` as the model reads it.
    fn tokenize(&self, text: &str) -> Result<Vec<Token>, ModelError>;
    /// `head`'s attention over `text`.
    fn attention(&self, text: &str, head: HeadRef) -> Result<HeadMap, ModelError>;
    /// The `top` likeliest next tokens after `text` with their probabilities, largest first;
    /// `None` for a model that does not predict words (the lesson model: its guess in step 1
    /// comes from the corpus counts, not from attention).
    fn next_tokens(&self, text: &str, top: usize) -> Result<Option<Vec<(Token, f32)>>, ModelError> {
        let _ = (text, top);
        Ok(None)
    }
    /// The named features its embeddings are made of, where it has them (the lesson model);
    /// the views show the features and the weight editor only then.
    fn features(&self) -> Option<&[String]> {
        None
    }

    /// Refuses a head outside the model (for implementations).
    fn check_head(&self, head: HeadRef) -> Result<(), ModelError> {
        if head.layer < self.layers() && head.head < self.heads() {
            return Ok(());
        }
        Err(ModelError::NoSuchHead {
            head,
            model: self.name(),
            layers: self.layers(),
            heads: self.heads(),
        })
    }
}

impl TransformerModel for LessonModel {
    fn name(&self) -> String {
        "the lesson model".to_owned()
    }

    fn layers(&self) -> usize {
        1
    }

    fn heads(&self) -> usize {
        LessonModel::heads(self).len()
    }

    fn head_name(&self, head: HeadRef) -> String {
        LessonModel::heads(self)
            .get(head.head)
            .filter(|_| head.layer == 0)
            .map_or_else(|| head.to_string(), |h| h.name.clone())
    }

    fn tokenize(&self, text: &str) -> Result<Vec<Token>, ModelError> {
        let (tokens, _) = self.attention_input(text, 1, AttentionOptions::default())?;
        Ok(tokens.iter().map(Token::from).collect())
    }

    /// The lesson's attention with every honesty switch off (no mask, no positions): step 3's
    /// default view of that head.
    fn attention(&self, text: &str, head: HeadRef) -> Result<HeadMap, ModelError> {
        self.check_head(head)?;
        let (tokens, input) =
            self.attention_input(text, head.head + 1, AttentionOptions::default())?;
        let result = crate::model::attention::run(&PackedAttention::new(&input, QueryRows::All)?);
        let n = tokens.len();
        let weights = (0..n)
            .flat_map(|i| {
                result
                    .weights_row(head.head, i)
                    .map(<[f32]>::to_vec)
                    .unwrap_or_default()
            })
            .collect();
        Ok(HeadMap {
            head,
            tokens: tokens.iter().map(Token::from).collect(),
            weights,
            causal: false,
        })
    }

    fn features(&self) -> Option<&[String]> {
        Some(LessonModel::features(self))
    }
}

impl LlamaModel {
    /// Token `id` as the views show it: its BPE piece and its id. Every engine that runs this
    /// model (the CPU reference here, the GPU kernels in `gpu::llm_model`) names tokens this
    /// way, so the two give the views identical tokens.
    pub fn token_of(&self, id: u32) -> Token {
        Token {
            text: self.tokenizer.token_text(id),
            id: Some(id),
            note: None,
        }
    }

    /// [`Self::token_of`] for each of `ids`.
    pub fn tokens_of(&self, ids: &[u32]) -> Vec<Token> {
        ids.iter().map(|&id| self.token_of(id)).collect()
    }
}

impl TransformerModel for LlamaModel {
    fn name(&self) -> String {
        format!(
            "a {}-layer {} model",
            self.config.layers, self.config.architecture
        )
    }

    fn layers(&self) -> usize {
        self.config.layers
    }

    fn heads(&self) -> usize {
        self.config.heads
    }

    fn tokenize(&self, text: &str) -> Result<Vec<Token>, ModelError> {
        let ids = self.tokenizer.encode(text);
        self.check_tokens(&ids, 0, 0)?;
        Ok(self.tokens_of(&ids))
    }

    /// The CPU reference's full map of `head` (the GPU kernels are checked against it).
    fn attention(&self, text: &str, head: HeadRef) -> Result<HeadMap, ModelError> {
        self.check_head(head)?;
        let ids = self.tokenizer.encode(text);
        let mut cache = KvCache::new(&self.config);
        let capture = Capture {
            map: Some((head.layer, head.head)),
            ..Capture::default()
        };
        let output = self.forward(&mut cache, &ids, &capture)?;
        let weights = output.map.map(|m| m.weights).unwrap_or_default();
        Ok(HeadMap {
            head,
            tokens: self.tokens_of(&ids),
            weights,
            causal: true,
        })
    }

    fn next_tokens(&self, text: &str, top: usize) -> Result<Option<Vec<(Token, f32)>>, ModelError> {
        let ids = self.tokenizer.encode(text);
        let mut cache = KvCache::new(&self.config);
        let output = self.forward(&mut cache, &ids, &Capture::default())?;
        let ranked = crate::model::llm::forward::top_k(&output.logits, top, 1.0);
        Ok(Some(
            ranked
                .into_iter()
                .map(|(id, p)| (self.token_of(id), p))
                .collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::llm::gguf::GgufFile;
    use crate::model::llm::synthetic::{synthetic_gguf, SyntheticSpec};

    fn lesson() -> LessonModel {
        LessonModel::builtin().expect("the shipped lesson model loads")
    }

    #[test]
    fn the_lesson_model_is_the_one_layer_case_with_its_named_heads_and_features() {
        let model = lesson();
        assert_eq!(TransformerModel::layers(&model), 1);
        assert_eq!(TransformerModel::heads(&model), model.heads().len());
        let head = HeadRef { layer: 0, head: 0 };
        assert_eq!(model.head_name(head), model.heads()[0].name);
        assert_eq!(
            model.shown_head(head).label,
            format!("head 1: {}", model.heads()[0].name),
            "a one-layer model's heads are headed by number and name"
        );
        assert_eq!(TransformerModel::features(&model), Some(model.features()));
        assert!(!model.features().is_empty());
        assert!(model
            .next_tokens("the best database is", 3)
            .unwrap()
            .is_none());
        assert!(model
            .attention("the best", HeadRef { layer: 1, head: 0 })
            .is_err());
    }

    /// The trait's map of a lesson head is step 3's default map of that head (the attention
    /// the app computes for the same sentence with every switch off).
    #[test]
    fn a_lesson_head_map_is_step_threes_map_of_that_head() {
        let model = lesson();
        let sentence = "the best database is";
        let (_, input) = model
            .attention_input(sentence, 2, AttentionOptions::default())
            .unwrap();
        let reference =
            crate::model::attention::run(&PackedAttention::new(&input, QueryRows::All).unwrap());
        let map = model
            .attention(sentence, HeadRef { layer: 0, head: 1 })
            .unwrap();
        let texts: Vec<&str> = map.tokens.iter().map(|t| t.text.as_str()).collect();
        assert_eq!(texts, ["the", "best", "database", "is"]);
        for i in 0..4 {
            assert_eq!(
                &map.weights[i * 4..(i + 1) * 4],
                reference.weights_row(1, i).unwrap()
            );
        }
        let result = map.to_result().unwrap();
        assert_eq!(result.weights_row(0, 3), reference.weights_row(1, 3));
    }

    /// A real model's head map is the CPU reference's: causal, every row summing to 1, its last
    /// row the forward pass's own focus row; its next-token odds are the forward pass's top-k.
    #[test]
    fn a_real_model_head_map_is_the_forward_passes_own_and_causal() {
        let file = GgufFile::parse(synthetic_gguf(&SyntheticSpec::default())).unwrap();
        let model = LlamaModel::from_gguf(&file).unwrap();
        let text = "ab ba abba";
        let head = HeadRef { layer: 1, head: 1 };
        let map = model.attention(text, head).unwrap();
        let n = map.tokens.len();
        assert!(n > 1, "the text is several tokens");
        assert!(map.causal && TransformerModel::features(&model).is_none());
        assert_eq!(
            model.shown_head(head).label,
            "layer 2, head 2",
            "a deeper model's heads are headed by layer and head"
        );
        for i in 0..n {
            let row = &map.weights[i * n..(i + 1) * n];
            let sum: f32 = row.iter().sum();
            assert!((sum - 1.0).abs() < 1e-5, "row {i} sums to {sum}");
            assert!(
                row[i + 1..].iter().all(|&w| w == 0.0),
                "row {i} looks ahead"
            );
        }
        let ids: Vec<u32> = map.tokens.iter().filter_map(|t| t.id).collect();
        let mut cache = KvCache::new(&model.config);
        let output = model
            .forward(&mut cache, &ids, &Capture::default())
            .unwrap();
        let heads = model.config.heads;
        assert_eq!(
            &map.weights[(n - 1) * n..],
            output.focus_row(heads, head.layer, head.head)
        );
        let next = model.next_tokens(text, 5).unwrap().unwrap();
        let expected = crate::model::llm::forward::top_k(&output.logits, 5, 1.0);
        let got: Vec<(Option<u32>, f32)> = next.iter().map(|(t, p)| (t.id, *p)).collect();
        let want: Vec<(Option<u32>, f32)> = expected.iter().map(|&(id, p)| (Some(id), p)).collect();
        assert_eq!(got, want);
        let outside = HeadRef {
            layer: model.config.layers,
            head: 0,
        };
        let error = model.attention(text, outside).unwrap_err().to_string();
        assert!(error.contains("layer"), "{error}");
    }
}
