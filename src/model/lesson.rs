//! The lesson model: a tiny, hand-made attention layer whose every number can be read.
//!
//! `assets/lesson_model.json` gives each curated word a vector over **named features** ("thing",
//! "quality", "linking verb", …) and each head its `W_Q`, `W_K` (features → named head dimensions)
//! and `W_V` (features → named value dimensions), as sparse maps of names to weights — so the
//! Q/K/V bars on screen have labels, and a lecturer can edit the file by hand.
//!
//! Words outside the curated vocabulary get **estimated** features from
//! `assets/estimated_embeddings.txt`: GloVe 6B 50d vectors mapped into the feature space by a
//! ridge regression fitted on the curated words (`tools/build_estimated_embeddings.py`; the file
//! header records how well the map fits). A word in neither file has no known features: its
//! vector is zero. Every token says which of the three it is, and the UI marks the estimated ones.
//!
//! The default head (head 0, "who is it about?") tells the seed's story: in
//! `the best database is`, `is` attends most to `database`, then to `best`.

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use serde::Deserialize;
use thiserror::Error;

use super::attention::{AttentionError, AttentionInput, AttentionOptions, HeadWeights, Matrix};
use super::tokenizer::{tokenize, MAX_LINE_CHARS};

/// The shipped lesson model.
pub const LESSON_MODEL_JSON: &str = include_str!("../../assets/lesson_model.json");
/// The shipped estimated embeddings (1.2 MB of text). Native builds carry them; the web build
/// fetches `assets/estimated_embeddings.txt` after its first frame instead, so they never delay it.
#[cfg(not(target_arch = "wasm32"))]
pub const ESTIMATED_EMBEDDINGS: &str = include_str!("../../assets/estimated_embeddings.txt");

/// The lesson-model file version this build reads.
pub const LESSON_MODEL_VERSION: u32 = 1;

/// The most tokens a sentence (or a corpus prefix) may have. Step 3 draws an N × N map per head
/// and `gaze inspect` prints N × N matrices, so N is kept to a page of text; a longer sentence is
/// refused with this number in the message.
pub const MAX_SENTENCE_TOKENS: usize = 512;

/// The largest weight, either sign, an edit may set: the range of the "behind the gaze" drags
/// (the shipped weights are a few units; ±10 already saturates any softmax).
pub const MAX_EDITED_WEIGHT: f32 = 10.0;

/// What can be wrong with a lesson model or a request to it.
#[derive(Debug, Error)]
pub enum LessonError {
    /// The JSON does not parse or lacks a field.
    #[error("the lesson model is not valid JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    /// A version this build cannot read.
    #[error(
        "the lesson model is version {found}; this build reads version {LESSON_MODEL_VERSION}"
    )]
    Version {
        /// The file's version.
        found: u32,
    },
    /// A weight or word refers to a feature or dimension that is not declared.
    #[error("{context} names `{name}`, which is not one of the declared {what}")]
    UnknownName {
        /// "features", "head dimensions" or "value dimensions".
        what: &'static str,
        /// The unknown name.
        name: String,
        /// Where it was found.
        context: String,
    },
    /// A value is NaN or infinite.
    #[error("{context} has a non-finite value")]
    NonFinite {
        /// Where.
        context: String,
    },
    /// The model declares no heads, or no features.
    #[error("the lesson model declares no {0}")]
    Empty(&'static str),
    /// A line of the estimated-embeddings file is malformed.
    #[error("estimated embeddings, line {line}: {reason}")]
    EstimatedLine {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The sentence has no tokens.
    #[error("the sentence has no words")]
    EmptySentence,
    /// The sentence is longer than [`MAX_LINE_CHARS`] characters.
    #[error("the sentence is {chars} characters long; the longest taken is {MAX_LINE_CHARS}")]
    SentenceTooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// The sentence has more than [`MAX_SENTENCE_TOKENS`] tokens.
    #[error(
        "the sentence has {tokens} tokens; attention is drawn for at most {MAX_SENTENCE_TOKENS}"
    )]
    TooManyTokens {
        /// Its length in tokens.
        tokens: usize,
    },
    /// A weight edit outside ±[`MAX_EDITED_WEIGHT`].
    #[error("{context} sets {value}; a weight is edited from -{MAX_EDITED_WEIGHT} to {MAX_EDITED_WEIGHT}")]
    WeightOutOfRange {
        /// Which edit.
        context: String,
        /// The value asked for.
        value: f32,
    },
    /// Attention needs values as wide as queries and keys.
    #[error("the lesson model has {values} value dimensions but {keys} head dimensions; attention needs the same number")]
    ValueWidth {
        /// Value dimensions declared.
        values: usize,
        /// Head dimensions declared.
        keys: usize,
    },
    /// The embeddings do not form a valid attention input.
    #[error(transparent)]
    Attention(#[from] AttentionError),
    /// More heads were asked for than the model has.
    #[error("the lesson model has {available} heads; {requested} were asked for")]
    Heads {
        /// Asked for.
        requested: usize,
        /// Available.
        available: usize,
    },
}

/// Where a token's embedding came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EmbeddingSource {
    /// Hand-set in `assets/lesson_model.json`.
    Curated,
    /// Estimated from GloVe through the fitted map.
    Estimated,
    /// Neither: no known features, a zero vector.
    Unknown,
}

impl EmbeddingSource {
    /// Whether the UI should mark the word as estimated (not curated).
    pub fn is_estimated(self) -> bool {
        self != EmbeddingSource::Curated
    }
}

/// One token of a sentence, with the source of its embedding.
#[derive(Clone, Debug, PartialEq)]
pub struct LessonToken {
    /// The token text (lowercased).
    pub text: String,
    /// Where its embedding came from.
    pub source: EmbeddingSource,
}

/// Which projection of a head a [`WeightEdit`] changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Projection {
    /// `W_Q` (features → head dimensions).
    WQ,
    /// `W_K` (features → head dimensions).
    WK,
    /// `W_V` (features → value dimensions).
    WV,
}

impl Projection {
    /// The name on screen.
    pub fn name(self) -> &'static str {
        match self {
            Projection::WQ => "W_Q",
            Projection::WK => "W_K",
            Projection::WV => "W_V",
        }
    }
}

/// One user edit of one weight, by name: `head`'s `matrix[feature][dim] = value`. Scenes store
/// these, so an edited lesson reopens as it was left.
#[derive(Clone, Debug, PartialEq, serde::Serialize, Deserialize)]
pub struct WeightEdit {
    /// Head index.
    pub head: usize,
    /// Which projection.
    pub matrix: Projection,
    /// The feature (row) name.
    pub feature: String,
    /// The head or value dimension (column) name.
    pub dim: String,
    /// The new weight.
    pub value: f32,
}

/// One head of the lesson model.
#[derive(Clone, Debug, PartialEq)]
pub struct LessonHead {
    /// Short name, e.g. "who is it about?".
    pub name: String,
    /// One sentence on what it looks for.
    pub about: String,
    /// Its projections: `W_Q`, `W_K` are features × head dimensions, `W_V` features × value
    /// dimensions.
    pub weights: HeadWeights,
}

#[derive(Deserialize)]
struct LessonFile {
    version: u32,
    features: Vec<String>,
    head_dims: Vec<String>,
    value_dims: Vec<String>,
    vocabulary: Vec<VocabularyEntry>,
    heads: Vec<HeadEntry>,
    /// Value dimensions → features; shared by every head.
    #[serde(default)]
    w_o: NamedWeights,
}

#[derive(Deserialize)]
struct VocabularyEntry {
    word: String,
    features: BTreeMap<String, f32>,
}

/// Sparse weights: feature name → (dimension name → weight).
type NamedWeights = BTreeMap<String, BTreeMap<String, f32>>;

#[derive(Deserialize)]
struct HeadEntry {
    name: String,
    #[serde(default)]
    about: String,
    w_q: NamedWeights,
    w_k: NamedWeights,
    w_v: NamedWeights,
}

/// A lesson model's shape without its numbers: the names its weights are addressed by and how
/// many heads it has. What a scene's weight edits are checked against ([`WeightEdit`] names a
/// head, a feature and a dimension), so validating a scene never parses a model file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LessonShape {
    /// Names of the embedding features: the rows of `W_Q`, `W_K` and `W_V`.
    pub features: Vec<String>,
    /// Names of the query/key (head) dimensions: the columns of `W_Q` and `W_K`.
    pub head_dims: Vec<String>,
    /// Names of the value dimensions: the columns of `W_V`.
    pub value_dims: Vec<String>,
    /// How many heads the model has; an edit names a head from 0 to `heads - 1`.
    pub heads: usize,
}

impl LessonShape {
    /// The names of `matrix`'s columns: value dimensions for `W_V`, head dimensions otherwise.
    pub fn dims(&self, matrix: Projection) -> &[String] {
        match matrix {
            Projection::WV => &self.value_dims,
            Projection::WQ | Projection::WK => &self.head_dims,
        }
    }
}

/// The shipped lesson model's shape (its curated words only: the estimated embeddings add words,
/// not names), read from `assets/lesson_model.json` on first use and kept for the process's life,
/// so every scene validation after the first costs no parsing. `None` when the shipped file does
/// not load; validation then checks what it can without the names.
pub fn curated_shape() -> Option<&'static LessonShape> {
    static SHAPE: OnceLock<Option<LessonShape>> = OnceLock::new();
    SHAPE
        .get_or_init(|| LessonModel::curated_only().ok().map(|model| model.shape()))
        .as_ref()
}

/// The lesson model, ready to embed sentences.
#[derive(Clone, Debug)]
pub struct LessonModel {
    features: Vec<String>,
    head_dims: Vec<String>,
    value_dims: Vec<String>,
    curated: HashMap<String, Vec<f32>>,
    estimated: HashMap<String, Vec<f32>>,
    heads: Vec<LessonHead>,
    w_o: Matrix,
}

fn index_of(
    names: &[String],
    name: &str,
    what: &'static str,
    context: impl Fn() -> String,
) -> Result<usize, LessonError> {
    names
        .iter()
        .position(|n| n == name)
        .ok_or_else(|| LessonError::UnknownName {
            what,
            name: name.to_owned(),
            context: context(),
        })
}

fn finite(value: f32, context: impl Fn() -> String) -> Result<f32, LessonError> {
    if value.is_finite() {
        Ok(value)
    } else {
        Err(LessonError::NonFinite { context: context() })
    }
}

/// Densifies sparse named weights into a `features × dims` matrix.
fn dense(
    weights: &NamedWeights,
    (features, features_what): (&[String], &'static str),
    dims: &[String],
    dims_what: &'static str,
    context: &str,
) -> Result<Matrix, LessonError> {
    let mut matrix = Matrix::zeros(features.len(), dims.len());
    for (feature, row) in weights {
        let r = index_of(features, feature, features_what, || context.to_owned())?;
        for (dim, &value) in row {
            let c = index_of(dims, dim, dims_what, || {
                format!("{context}, row `{feature}`")
            })?;
            let value = finite(value, || format!("{context}, `{feature}` → `{dim}`"))?;
            if let Some(slot) = matrix.data_mut().get_mut(r * dims.len() + c) {
                *slot = value;
            }
        }
    }
    Ok(matrix)
}

fn parse_estimated(text: &str, width: usize) -> Result<HashMap<String, Vec<f32>>, LessonError> {
    let mut table = HashMap::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let mut parts = line.split(' ');
        let word = parts.next().unwrap_or_default().to_owned();
        let values = parts
            .map(|v| v.parse::<f32>().ok().filter(|v| v.is_finite()))
            .collect::<Option<Vec<f32>>>()
            .ok_or_else(|| LessonError::EstimatedLine {
                line: line_no,
                reason: format!("`{word}` has a value that is not a finite number"),
            })?;
        if values.len() != width {
            return Err(LessonError::EstimatedLine {
                line: line_no,
                reason: format!("`{word}` has {} values for {width} features", values.len()),
            });
        }
        table.insert(word, values);
    }
    Ok(table)
}

/// The tokens of a sentence the lesson model can attend over: refused when it has no words, more
/// than [`MAX_LINE_CHARS`] characters (checked before tokenizing, so a pasted megabyte costs
/// nothing) or more than [`MAX_SENTENCE_TOKENS`] tokens.
pub fn sentence_tokens(sentence: &str) -> Result<Vec<String>, LessonError> {
    let chars = sentence.chars().count();
    if chars > MAX_LINE_CHARS {
        return Err(LessonError::SentenceTooLong { chars });
    }
    let words = tokenize(sentence);
    if words.is_empty() {
        return Err(LessonError::EmptySentence);
    }
    if words.len() > MAX_SENTENCE_TOKENS {
        return Err(LessonError::TooManyTokens {
            tokens: words.len(),
        });
    }
    Ok(words)
}

impl LessonModel {
    /// The shipped model (`assets/`).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn builtin() -> Result<Self, LessonError> {
        Self::parse(LESSON_MODEL_JSON, ESTIMATED_EMBEDDINGS)
    }

    /// The shipped model with its curated words only; [`LessonModel::add_estimated`] adds the
    /// rest when they arrive.
    pub fn curated_only() -> Result<Self, LessonError> {
        Self::parse(LESSON_MODEL_JSON, "")
    }

    /// Adds (or replaces) estimated embeddings from the text of an estimated-embeddings file.
    /// A malformed file changes nothing. Returns how many words now have estimates.
    pub fn add_estimated(&mut self, text: &str) -> Result<usize, LessonError> {
        let table = parse_estimated(text, self.features.len())?;
        self.estimated.extend(table);
        Ok(self.estimated.len())
    }

    /// A model from the text of a lesson-model file and an estimated-embeddings file.
    pub fn parse(model_json: &str, estimated: &str) -> Result<Self, LessonError> {
        let file: LessonFile = serde_json::from_str(model_json)?;
        if file.version != LESSON_MODEL_VERSION {
            return Err(LessonError::Version {
                found: file.version,
            });
        }
        for (list, what) in [
            (&file.features, "features"),
            (&file.head_dims, "head dimensions"),
            (&file.value_dims, "value dimensions"),
        ] {
            if list.is_empty() {
                return Err(LessonError::Empty(what));
            }
        }
        if file.heads.is_empty() {
            return Err(LessonError::Empty("heads"));
        }
        if file.value_dims.len() != file.head_dims.len() {
            return Err(LessonError::ValueWidth {
                values: file.value_dims.len(),
                keys: file.head_dims.len(),
            });
        }
        let width = file.features.len();
        let mut curated = HashMap::new();
        for entry in &file.vocabulary {
            let mut vector = vec![0.0; width];
            for (feature, &value) in &entry.features {
                let context = || format!("word `{}`", entry.word);
                let i = index_of(&file.features, feature, "features", context)?;
                let value = finite(value, context)?;
                if let Some(slot) = vector.get_mut(i) {
                    *slot = value;
                }
            }
            curated.insert(entry.word.to_lowercase(), vector);
        }
        let heads = file
            .heads
            .iter()
            .map(|head| {
                let context = |m: &str| format!("head `{}` {m}", head.name);
                Ok(LessonHead {
                    name: head.name.clone(),
                    about: head.about.clone(),
                    weights: HeadWeights {
                        w_q: dense(
                            &head.w_q,
                            (&file.features, "features"),
                            &file.head_dims,
                            "head dimensions",
                            &context("W_Q"),
                        )?,
                        w_k: dense(
                            &head.w_k,
                            (&file.features, "features"),
                            &file.head_dims,
                            "head dimensions",
                            &context("W_K"),
                        )?,
                        w_v: dense(
                            &head.w_v,
                            (&file.features, "features"),
                            &file.value_dims,
                            "value dimensions",
                            &context("W_V"),
                        )?,
                    },
                })
            })
            .collect::<Result<Vec<_>, LessonError>>()?;
        // W_O maps value dimensions (rows) onto features (columns).
        let w_o = dense(
            &file.w_o,
            (&file.value_dims, "value dimensions"),
            &file.features,
            "features",
            "W_O",
        )?;
        Ok(Self {
            w_o,
            estimated: parse_estimated(estimated, width)?,
            features: file.features,
            head_dims: file.head_dims,
            value_dims: file.value_dims,
            curated,
            heads,
        })
    }

    /// Names of the embedding features (`d_model` of them).
    pub fn features(&self) -> &[String] {
        &self.features
    }

    /// Names of the query/key dimensions (`d_k` of them).
    pub fn head_dims(&self) -> &[String] {
        &self.head_dims
    }

    /// Names of the value dimensions.
    pub fn value_dims(&self) -> &[String] {
        &self.value_dims
    }

    /// The heads, the default one first.
    pub fn heads(&self) -> &[LessonHead] {
        &self.heads
    }

    /// Its shape: the feature, head-dimension and value-dimension names, and how many heads.
    pub fn shape(&self) -> LessonShape {
        LessonShape {
            features: self.features.clone(),
            head_dims: self.head_dims.clone(),
            value_dims: self.value_dims.clone(),
            heads: self.heads.len(),
        }
    }

    /// `W_O`: value dimensions × features, how a head's output joins the residual stream.
    pub fn w_o(&self) -> &Matrix {
        &self.w_o
    }

    /// Number of curated words.
    pub fn curated_words(&self) -> usize {
        self.curated.len()
    }

    /// A token's feature vector and where it came from.
    pub fn embed(&self, token: &str) -> (Vec<f32>, EmbeddingSource) {
        if let Some(v) = self.curated.get(token) {
            return (v.clone(), EmbeddingSource::Curated);
        }
        if let Some(v) = self.estimated.get(token) {
            return (v.clone(), EmbeddingSource::Estimated);
        }
        (vec![0.0; self.features.len()], EmbeddingSource::Unknown)
    }

    /// Tokenizes `sentence` and embeds it: the attention input for the first `heads` heads.
    pub fn attention_input(
        &self,
        sentence: &str,
        heads: usize,
        options: AttentionOptions,
    ) -> Result<(Vec<LessonToken>, AttentionInput), LessonError> {
        self.attention_input_with_edits(sentence, heads, options, &[])
    }

    /// A head's weights with `edits` applied (edits for other heads are skipped).
    pub fn edited_weights(
        &self,
        head: usize,
        edits: &[WeightEdit],
    ) -> Result<HeadWeights, LessonError> {
        let mut weights = self
            .heads
            .get(head)
            .ok_or(LessonError::Heads {
                requested: head.saturating_add(1),
                available: self.heads.len(),
            })?
            .weights
            .clone();
        for edit in edits.iter().filter(|e| e.head == head) {
            let context = || format!("a weight edit of head {head} {}", edit.matrix.name());
            let row = index_of(&self.features, &edit.feature, "features", context)?;
            let (matrix, dims, what) = match edit.matrix {
                Projection::WQ => (&mut weights.w_q, &self.head_dims, "head dimensions"),
                Projection::WK => (&mut weights.w_k, &self.head_dims, "head dimensions"),
                Projection::WV => (&mut weights.w_v, &self.value_dims, "value dimensions"),
            };
            let col = index_of(dims, &edit.dim, what, context)?;
            let value = finite(edit.value, context)?;
            if value.abs() > MAX_EDITED_WEIGHT {
                return Err(LessonError::WeightOutOfRange {
                    context: context(),
                    value,
                });
            }
            let cols = matrix.cols();
            if let Some(slot) = matrix.data_mut().get_mut(row * cols + col) {
                *slot = value;
            }
        }
        Ok(weights)
    }

    /// [`Self::attention_input`] with the user's weight edits applied.
    pub fn attention_input_with_edits(
        &self,
        sentence: &str,
        heads: usize,
        options: AttentionOptions,
        edits: &[WeightEdit],
    ) -> Result<(Vec<LessonToken>, AttentionInput), LessonError> {
        if heads == 0 || heads > self.heads.len() {
            return Err(LessonError::Heads {
                requested: heads,
                available: self.heads.len(),
            });
        }
        let words = sentence_tokens(sentence)?;
        let width = self.features.len();
        let mut data = Vec::with_capacity(words.len() * width);
        let mut tokens = Vec::with_capacity(words.len());
        for text in words {
            let (vector, source) = self.embed(&text);
            data.extend_from_slice(&vector);
            tokens.push(LessonToken { text, source });
        }
        let x = Matrix::new(tokens.len(), width, data)?;
        let input = AttentionInput {
            x,
            heads: (0..heads)
                .map(|h| self.edited_weights(h, edits))
                .collect::<Result<Vec<_>, _>>()?,
            options,
        };
        Ok((tokens, input))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::attention::{attend, QueryRows};
    use crate::model::positions::Positions;

    fn model() -> LessonModel {
        LessonModel::builtin().expect("the shipped lesson model loads")
    }

    #[test]
    fn default_head_tells_the_seed_story() {
        // In `the best database is`, `is` attends most to `database`, then to `best`.
        for (causal, positions) in [(false, Positions::None), (true, Positions::None)] {
            let options = AttentionOptions {
                causal,
                positions,
                key_padding_mask: None,
            };
            let (tokens, input) = model()
                .attention_input("the best database is", 1, options)
                .unwrap();
            let texts: Vec<&str> = tokens.iter().map(|t| t.text.as_str()).collect();
            assert_eq!(texts, ["the", "best", "database", "is"]);
            let result = attend(&input, QueryRows::Focus(3)).unwrap();
            let p = result.weights_row(0, 3).unwrap();
            let (the, best, database, is) = (p[0], p[1], p[2], p[3]);
            assert!(
                database > best && best > the && best > is,
                "P[is] = {p:?} (causal {causal})"
            );
        }
    }

    #[test]
    fn curated_estimated_and_unknown_words_are_told_apart() {
        let (tokens, input) = model()
            .attention_input(
                "the excellent zzyzxqv database",
                1,
                AttentionOptions::default(),
            )
            .unwrap();
        let sources: Vec<EmbeddingSource> = tokens.iter().map(|t| t.source).collect();
        use EmbeddingSource::*;
        assert_eq!(sources, [Curated, Estimated, Unknown, Curated]);
        let width = input.x.cols();
        assert!(
            input.x.row(1).unwrap().iter().any(|&v| v != 0.0),
            "an estimate has features"
        );
        assert!(
            input.x.row(2).unwrap().iter().all(|&v| v == 0.0),
            "an unknown word has none"
        );
        assert_eq!(width, model().features().len());
    }

    #[test]
    fn estimated_words_land_near_their_kind() {
        // The fitted map should put a word GloVe knows near the curated words it resembles.
        let m = model();
        let feature = |word: &str, name: &str| {
            let i = m.features().iter().position(|f| f == name).unwrap();
            m.embed(word).0[i]
        };
        assert!(feature("excellent", "positive") > feature("excellent", "negative"));
        assert!(feature("terrible", "negative") > feature("terrible", "positive"));
        assert!(feature("oracle", "software & data") > 0.3);
    }

    #[test]
    fn every_head_has_the_declared_shapes() {
        let m = model();
        assert_eq!(m.heads().len(), 4, "heads 1, 2 and 4 can be shown");
        for head in m.heads() {
            assert_eq!(
                (head.weights.w_q.rows(), head.weights.w_q.cols()),
                (m.features().len(), m.head_dims().len())
            );
            assert_eq!(
                (head.weights.w_k.rows(), head.weights.w_k.cols()),
                (m.features().len(), m.head_dims().len())
            );
            // Attention needs W_V to be d_model × d_k as well.
            assert_eq!(
                (head.weights.w_v.rows(), head.weights.w_v.cols()),
                (m.features().len(), m.head_dims().len())
            );
        }
    }

    #[test]
    fn unknown_feature_name_is_a_clear_error() {
        let json = LESSON_MODEL_JSON.replacen("\"linking verb\": {", "\"linking verbs\": {", 1);
        let err = LessonModel::parse(&json, "").unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("`linking verbs`") && message.contains("W_Q"),
            "{message}"
        );
    }

    #[test]
    fn a_weight_edit_changes_only_its_weight() {
        let m = model();
        let edit = WeightEdit {
            head: 0,
            matrix: Projection::WK,
            feature: "quality".into(),
            dim: "description".into(),
            value: 4.0,
        };
        let edited = m.edited_weights(0, std::slice::from_ref(&edit)).unwrap();
        let original = &m.heads()[0].weights;
        let changed: Vec<usize> = (0..original.w_k.data().len())
            .filter(|&i| original.w_k.data()[i] != edited.w_k.data()[i])
            .collect();
        assert_eq!(changed.len(), 1);
        assert_eq!(edited.w_q, original.w_q);
        // Making `best` a much louder "description" key pulls `is` toward it.
        let (_, input) = m
            .attention_input_with_edits(
                "the best database is",
                1,
                AttentionOptions::default(),
                &[edit],
            )
            .unwrap();
        let p = attend(&input, QueryRows::Focus(3)).unwrap();
        let row = p.weights_row(0, 3).unwrap();
        assert!(row[1] > row[2], "best now beats database: {row:?}");
    }

    #[test]
    fn a_weight_edit_naming_nothing_is_a_clear_error() {
        let edit = WeightEdit {
            head: 0,
            matrix: Projection::WQ,
            feature: "colour".into(),
            dim: "subject".into(),
            value: 1.0,
        };
        let err = model().edited_weights(0, &[edit]).unwrap_err();
        assert!(err.to_string().contains("`colour`"), "{err}");
    }

    #[test]
    fn malformed_estimate_line_is_a_clear_error() {
        let err = LessonModel::parse(LESSON_MODEL_JSON, "# header\nfoo 1 2 three\n").unwrap_err();
        assert!(err.to_string().contains("line 2"), "{err}");
    }

    #[test]
    fn empty_sentence_and_missing_heads_are_refused() {
        let m = model();
        assert!(matches!(
            m.attention_input("  ", 1, AttentionOptions::default()),
            Err(LessonError::EmptySentence)
        ));
        assert!(matches!(
            m.attention_input("hi", 5, AttentionOptions::default()),
            Err(LessonError::Heads {
                requested: 5,
                available: 4
            })
        ));
    }

    #[test]
    fn estimated_words_added_later_embed_as_the_builtin_model_does() {
        let full = model();
        let mut late = LessonModel::curated_only().unwrap();
        let sentence = "the best coffee is";
        let (before, _) = late
            .attention_input(sentence, 1, AttentionOptions::default())
            .unwrap();
        assert_eq!(
            before[2].source,
            EmbeddingSource::Unknown,
            "no estimates yet"
        );
        assert!(late.add_estimated("broken line").is_err());
        late.add_estimated(ESTIMATED_EMBEDDINGS).unwrap();
        let (tokens, input) = late
            .attention_input(sentence, 1, AttentionOptions::default())
            .unwrap();
        let (full_tokens, full_input) = full
            .attention_input(sentence, 1, AttentionOptions::default())
            .unwrap();
        assert_eq!(tokens, full_tokens);
        assert_eq!(tokens[2].source, EmbeddingSource::Estimated);
        assert_eq!(input.x, full_input.x);
    }

    #[test]
    fn the_curated_shape_is_the_shipped_models_read_once() {
        let shape = curated_shape().unwrap();
        assert!(
            std::ptr::eq(shape, curated_shape().unwrap()),
            "the same shape every call, never parsed again"
        );
        let curated = LessonModel::curated_only().unwrap();
        assert_eq!(*shape, curated.shape());
        assert_eq!(shape.features, curated.features());
        assert_eq!(shape.dims(Projection::WQ), curated.head_dims());
        assert_eq!(shape.dims(Projection::WK), curated.head_dims());
        assert_eq!(shape.dims(Projection::WV), curated.value_dims());
        assert_eq!(shape.heads, curated.heads().len());
        assert_eq!(
            model().shape(),
            curated.shape(),
            "estimates add words, not names"
        );
    }
}
