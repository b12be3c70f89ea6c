//! Step 4: in-context learning and RAG — "same equation, same softmax; only the neighbours change".
//!
//! Three levels run the one attention engine (`model::attention`, the WGSL kernels on the GPU) in
//! its focus-row mode: one query row against every key of the context.
//!
//! 1. **Self-attention** (~10 tokens): step 3's sentence and head; the focus is the chosen word.
//! 2. **In-context learning** (~1k tokens): the context is a list of labelled examples,
//!    `loved it → positive`, …; the focus is `→` after `classify this review: <review>`. The
//!    prediction is read off attention:
//!    ```text
//!    score(label) = Σ_{examples e with label} Σ_{j ∈ e} P[focus, j]        prediction = argmax
//!    ```
//!    Relabel an example and its mass moves to the other label: the prediction changes with no
//!    training step — the weights never move.
//! 3. **RAG** (~10k tokens): chunks retrieved from a knowledge base (`model::retrieval`) fill the
//!    context; the focus is the question. Each chunk's share of the focus's attention is its
//!    mass; the chunk with the most is "the answer's source".
//!
//! The focus token stands for a whole review or question: its vector is the mean of their word
//! embeddings (`retrieval::mean_embedding`) — what a first layer would have gathered into one
//! position. It never attends to itself: its own key is masked, so the context gets all of its
//! attention.
//!
//! The lesson model's four heads read grammar and topic; none compares feelings (its "what
//! describes it?" head keys `positive` and `negative` alike). Step 4 therefore adds two heads of
//! its own, written out here over the lesson model's named features, with named dimensions so the
//! panels can print them:
//!
//! * **same feeling** (ICL): `feeling = positive − negative`, `calm = quality − positive −
//!   negative`; a warm review meets warm words, a calm one meets calm ones.
//! * **same meaning** (RAG): topic (data, code, shopping), kind of word (thing, action, quality)
//!   and feeling — a question about refunds attends to the words about shopping and support.

use std::ops::Range;

use thiserror::Error;

use super::attention::{
    self, AttentionError, AttentionInput, AttentionOptions, HeadWeights, Matrix, PackedAttention,
    QueryRows,
};
use super::lesson::{LessonError, LessonModel};
use super::overview::{self, OverviewParams};
use super::retrieval::{self, Chunk, Retrieved};
use super::tokenizer::{tokenize, MAX_LINE_CHARS};

/// The default context budget in tokens (the issue's "~10k").
pub const DEFAULT_BUDGET: usize = 10_000;
/// The largest context step 4 builds: the focus-row engine is tested to 16,384 tokens within
/// WebGPU's default limits.
pub const MAX_CONTEXT_TOKENS: usize = 16_384;
/// The largest paste the example box takes, in bytes (about 150k tokens of reviews — far past
/// any budget; a 5 MB paste is refused whole, with this number in the message).
pub const MAX_PASTE_BYTES: usize = 1 << 20;
/// The most few-shot examples step 4 holds: more than any budget fits (an example is at least 3
/// tokens, so 16,384 tokens hold at most ~5,500), and few enough that every edit re-reads them
/// all in a blink.
pub const MAX_EXAMPLES: usize = 10_000;
/// The default new review to classify.
pub const DEFAULT_REVIEW: &str = "it was okay";
/// The default RAG question.
pub const DEFAULT_QUESTION: &str = "what's our refund policy on damaged items?";
/// Bins per side of the overview map (never more than N).
pub const OVERVIEW_BINS: u32 = 128;
/// Past this many tokens the CPU reference skips the overview (it is `O(N²)`: ~1 s at 4k tokens
/// in a browser); the GPU draws it at any size.
pub const CPU_OVERVIEW_MAX_TOKENS: usize = 2_048;
/// Tokens the arcs go to.
pub const TOP_TOKENS: usize = 12;

/// The sample knowledge base shipped in `assets/kb/`.
pub const SAMPLE_DOCUMENTS: [(&str, &str); 2] = [
    ("policy.md", include_str!("../../assets/kb/policy.md")),
    ("tickets.md", include_str!("../../assets/kb/tickets.md")),
];
/// The name of the generated ticket archive (see [`ticket_archive`]).
pub const ARCHIVE_NAME: &str = "ticket-archive.md (generated)";
/// Tickets in the generated archive: ~12k tokens, so the context fills its ~10k budget.
pub const ARCHIVE_TICKETS: usize = 300;

/// The three levels, as the panel names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// Step 3's sentence: ~10 tokens.
    SelfAttention = 1,
    /// Few-shot examples: ~1k tokens.
    InContext = 2,
    /// Retrieved chunks: ~10k tokens.
    Rag = 3,
}

impl Level {
    /// All levels in order.
    pub const ALL: [Level; 3] = [Level::SelfAttention, Level::InContext, Level::Rag];

    /// From the scene's number (1–3).
    pub fn from_number(n: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|l| *l as u8 == n)
    }

    /// The panel's name for it.
    pub fn name(self) -> &'static str {
        match self {
            Level::SelfAttention => "self-attention (~10 tokens)",
            Level::InContext => "in-context learning (~1k tokens)",
            Level::Rag => "RAG (~10k tokens)",
        }
    }
}

/// Why step 4 could not build its context.
#[derive(Debug, Error)]
pub enum ContextError {
    /// No examples to learn from.
    #[error("there are no examples: add one, or generate some")]
    NoExamples,
    /// An example with no words or no label.
    #[error("example {index} has {what}; every example needs a text and a label")]
    IncompleteExample {
        /// 1-based.
        index: usize,
        /// "no text" / "no label".
        what: &'static str,
    },
    /// The review, question or sentence has no words.
    #[error("the {0} has no words")]
    Empty(&'static str),
    /// A review, question or example longer than [`MAX_LINE_CHARS`].
    #[error("the {what} is {chars} characters long; the longest taken is {MAX_LINE_CHARS}")]
    TooLong {
        /// "review", "question", "text of example 3"…
        what: String,
        /// Its length in characters.
        chars: usize,
    },
    /// More examples than [`MAX_EXAMPLES`].
    #[error("there are {count} examples; step 4 holds at most {MAX_EXAMPLES}")]
    TooManyExamples {
        /// How many there are.
        count: usize,
    },
    /// A paste that would take the examples past [`MAX_EXAMPLES`].
    #[error("the paste has {pasted} examples and there are {have}; step 4 holds at most {MAX_EXAMPLES}, so nothing was added")]
    PasteTooManyExamples {
        /// Examples already there.
        have: usize,
        /// Examples in the paste.
        pasted: usize,
    },
    /// A paste too large to take.
    #[error("the paste is {bytes} bytes; the largest taken is {MAX_PASTE_BYTES} (1 MiB), so nothing was added")]
    TooLarge {
        /// Its size.
        bytes: usize,
    },
    /// No document had any text.
    #[error("the knowledge base has no text to retrieve from")]
    EmptyKnowledgeBase,
    /// The budget is outside what step 4 can run.
    #[error("a budget of {requested} tokens is more than step 4 runs ({MAX_CONTEXT_TOKENS}): the focus row is tested up to there within WebGPU's default limits")]
    Budget {
        /// What was asked.
        requested: usize,
    },
    /// The lesson model refused.
    #[error(transparent)]
    Lesson(#[from] LessonError),
    /// The attention input was refused.
    #[error(transparent)]
    Attention(#[from] AttentionError),
}

/// One labelled few-shot example.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Example {
    /// The review.
    pub text: String,
    /// Its label.
    pub label: String,
}

impl Example {
    /// An example.
    pub fn new(text: &str, label: &str) -> Self {
        Self {
            text: text.to_owned(),
            label: label.to_owned(),
        }
    }
}

/// The seed's three examples.
pub fn default_examples() -> Vec<Example> {
    vec![
        Example::new("loved it", "positive"),
        Example::new("total waste", "negative"),
        Example::new("meh, it was fine", "neutral"),
    ]
}

/// A piece of the context: one example, one chunk, or (level 1) one word.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// What the panel calls it: the example's text, or `document § heading`.
    pub name: String,
    /// The example's label; a chunk's document.
    pub group: String,
    /// Its tokens in the context.
    pub range: Range<usize>,
    /// Level 3: the chunk's index in the knowledge base (names can repeat: a heading's
    /// paragraphs share it).
    pub chunk: Option<usize>,
}

/// Everything step 4 hands the engine for one level.
#[derive(Clone, Debug, PartialEq)]
pub struct ContextInput {
    /// The context's tokens; the focus is one of them (`focus`).
    pub tokens: Vec<String>,
    /// The focus's index in `tokens`.
    pub focus: usize,
    /// What the focus stands for (the question, the review), for the panel.
    pub focus_text: String,
    /// What the context is, for the panel ("3 examples", "12 chunks").
    pub spans: Vec<Span>,
    /// Examples or chunks that did not fit the budget.
    pub left_out: usize,
    /// The engine's input: one head; the focus's own key masked where it stands for a whole text.
    pub input: AttentionInput,
    /// The head's dimension names.
    pub head_dims: Vec<&'static str>,
}

impl ContextInput {
    /// Tokens the focus attends over (the context, not counting a focus that stands apart).
    pub fn context_tokens(&self) -> usize {
        match &self.input.options.key_padding_mask {
            Some(mask) => mask.iter().filter(|hidden| !**hidden).count(),
            None => self.tokens.len(),
        }
    }

    /// The spans as `[start, end)` token pairs, what `overview::chunk_masses` sums over.
    pub fn span_bounds(&self) -> Vec<[u32; 2]> {
        self.spans
            .iter()
            .map(|s| [s.range.start as u32, s.range.end as u32])
            .collect()
    }

    /// The engine's packed input, focus row only.
    pub fn packed(&self) -> Result<PackedAttention, AttentionError> {
        PackedAttention::new(&self.input, QueryRows::Focus(self.focus))
    }
}

/// A head over the lesson model's features, from `(feature, dimension, weight)` entries; query
/// and key projections are the same (a match is "the same thing on both sides"), the value copies
/// them.
fn named_head(
    model: &LessonModel,
    dims: &[&'static str],
    entries: &[(&str, &str, f32)],
) -> HeadWeights {
    let features = model.features();
    let mut w = Matrix::zeros(features.len(), dims.len());
    for (feature, dim, weight) in entries {
        let row = features.iter().position(|f| f == feature);
        let col = dims.iter().position(|d| d == dim);
        if let (Some(row), Some(col)) = (row, col) {
            let cols = w.cols();
            if let Some(slot) = w.data_mut().get_mut(row * cols + col) {
                *slot = *weight;
            }
        }
    }
    HeadWeights {
        w_q: w.clone(),
        w_k: w.clone(),
        w_v: w,
    }
}

/// The "same feeling" head's dimensions.
pub const FEELING_DIMS: [&str; 2] = ["feeling", "calm"];

/// The ICL head (module docs): scores `q·k/√2` with `feeling = 2.5·(positive − negative)` and
/// `calm = 2.5·(quality − positive − negative)`.
pub fn feeling_head(model: &LessonModel) -> HeadWeights {
    const GAIN: f32 = 2.5;
    named_head(
        model,
        &FEELING_DIMS,
        &[
            ("positive", "feeling", GAIN),
            ("negative", "feeling", -GAIN),
            ("quality", "calm", GAIN),
            ("positive", "calm", -GAIN),
            ("negative", "calm", -GAIN),
        ],
    )
}

/// The "same meaning" head's dimensions.
pub const MEANING_DIMS: [&str; 5] = ["data", "code", "shopping", "thing", "feeling"];

/// The RAG head (module docs): topics weigh most, then the kind of word, then feeling.
pub fn meaning_head(model: &LessonModel) -> HeadWeights {
    named_head(
        model,
        &MEANING_DIMS,
        &[
            ("software & data", "data", 2.5),
            ("programming", "code", 2.5),
            ("shopping & support", "shopping", 2.5),
            ("thing", "thing", 1.0),
            ("positive", "feeling", 1.5),
            ("negative", "feeling", -1.5),
        ],
    )
}

/// Stacks token embeddings, then (optionally) the focus vector, into the engine's input.
fn input_for(
    model: &LessonModel,
    tokens: &[String],
    focus_vector: Option<Vec<f32>>,
    head: HeadWeights,
) -> Result<AttentionInput, ContextError> {
    let width = model.features().len();
    let rows = tokens.len() + usize::from(focus_vector.is_some());
    let mut data = Vec::with_capacity(rows * width);
    for token in tokens {
        data.extend_from_slice(&model.embed(token).0);
    }
    let key_padding_mask = focus_vector.map(|vector| {
        data.extend_from_slice(&vector);
        let mut mask = vec![false; rows];
        if let Some(last) = mask.last_mut() {
            *last = true;
        }
        mask
    });
    Ok(AttentionInput {
        x: Matrix::new(rows, width, data)?,
        heads: vec![head],
        options: AttentionOptions {
            causal: false,
            positions: super::positions::Positions::None,
            key_padding_mask,
        },
    })
}

/// Refuses `text` past [`MAX_LINE_CHARS`], naming it `what`.
fn check_length(what: impl FnOnce() -> String, text: &str) -> Result<(), ContextError> {
    let chars = text.chars().count();
    if chars > MAX_LINE_CHARS {
        return Err(ContextError::TooLong {
            what: what(),
            chars,
        });
    }
    Ok(())
}

/// Checks level 2's examples as the panel holds them: at most [`MAX_EXAMPLES`], each text and
/// label at most [`MAX_LINE_CHARS`] characters. (Empty ones are allowed while being typed;
/// [`in_context_input`] refuses them.)
pub fn check_examples(examples: &[Example]) -> Result<(), ContextError> {
    if examples.len() > MAX_EXAMPLES {
        return Err(ContextError::TooManyExamples {
            count: examples.len(),
        });
    }
    for (index, example) in examples.iter().enumerate() {
        check_length(|| format!("text of example {}", index + 1), &example.text)?;
        check_length(|| format!("label of example {}", index + 1), &example.label)?;
    }
    Ok(())
}

/// Checks a review or question: at most [`MAX_LINE_CHARS`] characters.
pub fn check_line(what: &'static str, text: &str) -> Result<(), ContextError> {
    check_length(|| what.to_owned(), text)
}

/// Adds pasted examples to `examples`, all or none: refused when the total would pass
/// [`MAX_EXAMPLES`] or one of them is too long ([`check_examples`]). Returns how many were added.
pub fn add_examples(
    examples: &mut Vec<Example>,
    pasted: Vec<Example>,
) -> Result<usize, ContextError> {
    if examples.len().saturating_add(pasted.len()) > MAX_EXAMPLES {
        return Err(ContextError::PasteTooManyExamples {
            have: examples.len(),
            pasted: pasted.len(),
        });
    }
    check_examples(&pasted)?;
    let added = pasted.len();
    examples.extend(pasted);
    Ok(added)
}

/// Level 1: step 3's sentence, its default head, the chosen focus word.
pub fn self_attention_input(
    model: &LessonModel,
    sentence: &str,
    focus: usize,
) -> Result<ContextInput, ContextError> {
    let (tokens, input) = model.attention_input(sentence, 1, AttentionOptions::default())?;
    let tokens: Vec<String> = tokens.into_iter().map(|t| t.text).collect();
    let focus = focus.min(tokens.len().saturating_sub(1));
    let spans = tokens
        .iter()
        .enumerate()
        .map(|(i, t)| Span {
            name: t.clone(),
            group: t.clone(),
            range: i..i + 1,
            chunk: None,
        })
        .collect();
    Ok(ContextInput {
        focus_text: tokens.get(focus).cloned().unwrap_or_default(),
        tokens,
        focus,
        spans,
        left_out: 0,
        input,
        head_dims: model.head_dims().iter().map(|_| "").collect(),
    })
}

/// Level 2: the examples, each `text → label`, as many as fit `budget`; the focus is `→` carrying
/// the review.
pub fn in_context_input(
    model: &LessonModel,
    examples: &[Example],
    review: &str,
    budget: usize,
) -> Result<ContextInput, ContextError> {
    check_budget(budget)?;
    if examples.is_empty() {
        return Err(ContextError::NoExamples);
    }
    check_examples(examples)?;
    check_line("review", review)?;
    let review_words = tokenize(review);
    if review_words.is_empty() {
        return Err(ContextError::Empty("review"));
    }
    let mut tokens = Vec::new();
    let mut spans = Vec::new();
    let mut left_out = 0;
    for (index, example) in examples.iter().enumerate() {
        let text = tokenize(&example.text);
        let label = tokenize(&example.label);
        for (missing, what) in [(text.is_empty(), "no text"), (label.is_empty(), "no label")] {
            if missing {
                return Err(ContextError::IncompleteExample {
                    index: index + 1,
                    what,
                });
            }
        }
        let length = text.len() + 1 + label.len();
        if tokens.len() + length > budget {
            left_out += 1;
            continue;
        }
        let start = tokens.len();
        tokens.extend(text);
        tokens.push("→".to_owned());
        tokens.extend(label);
        spans.push(Span {
            name: example.text.trim().to_owned(),
            group: example.label.trim().to_lowercase(),
            range: start..tokens.len(),
            chunk: None,
        });
    }
    let focus_vector = retrieval::mean_embedding(model, &review_words);
    let input = input_for(model, &tokens, Some(focus_vector), feeling_head(model))?;
    let focus = tokens.len();
    tokens.push("→".to_owned());
    Ok(ContextInput {
        tokens,
        focus,
        focus_text: format!("classify this review -> \"{}\"", review.trim()),
        spans,
        left_out,
        input,
        head_dims: FEELING_DIMS.to_vec(),
    })
}

/// A knowledge base: documents cut into chunks, with their embeddings cached for retrieval.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct KnowledgeBase {
    /// Every chunk of every document, in document order.
    pub chunks: Vec<Chunk>,
    /// Documents that had no text (named in a message; the rest are used).
    pub empty: Vec<String>,
}

impl KnowledgeBase {
    /// Chunks `documents` (name, text) by paragraph.
    pub fn new<'a>(documents: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let mut kb = Self::default();
        for (name, text) in documents {
            match retrieval::chunk_document(name, text) {
                Ok(chunks) => kb.chunks.extend(chunks),
                Err(_) => kb.empty.push(name.to_owned()),
            }
        }
        kb
    }

    /// Total tokens over every chunk.
    pub fn tokens(&self) -> usize {
        self.chunks.iter().map(|c| c.tokens.len()).sum()
    }
}

/// Level 3's retrieval and context: every chunk scored best first, and the engine's input over
/// the chunks that fit `budget`; the focus is the question.
pub fn rag_input(
    model: &LessonModel,
    kb: &KnowledgeBase,
    question: &str,
    budget: usize,
) -> Result<(ContextInput, Vec<Retrieved>), ContextError> {
    check_budget(budget)?;
    check_line("question", question)?;
    let question_terms = retrieval::terms(question);
    if question_terms.is_empty() {
        return Err(ContextError::Empty("question"));
    }
    if kb.chunks.is_empty() {
        return Err(ContextError::EmptyKnowledgeBase);
    }
    let retrieved = retrieval::retrieve(model, question, &kb.chunks);
    let assembled = retrieval::assemble(&kb.chunks, &retrieved, budget);
    let spans = assembled
        .spans
        .iter()
        .filter_map(|(chunk, range)| {
            let c = kb.chunks.get(*chunk)?;
            Some(Span {
                name: chunk_name(c),
                group: c.document.clone(),
                range: range.clone(),
                chunk: Some(*chunk),
            })
        })
        .collect();
    let mut tokens = assembled.tokens;
    let focus_vector = retrieval::mean_embedding(model, &question_terms);
    let input = input_for(model, &tokens, Some(focus_vector), meaning_head(model))?;
    let focus = tokens.len();
    tokens.push("?".to_owned());
    Ok((
        ContextInput {
            tokens,
            focus,
            focus_text: question.trim().to_owned(),
            spans,
            left_out: assembled.left_out,
            input,
            head_dims: MEANING_DIMS.to_vec(),
        },
        retrieved,
    ))
}

/// For each chunk of a knowledge base of `chunks` chunks, the span it was placed as in `spans`
/// (`None`: left out of the context).
pub fn span_of_chunk(spans: &[Span], chunks: usize) -> Vec<Option<usize>> {
    let mut of = vec![None; chunks];
    for (i, span) in spans.iter().enumerate() {
        if let Some(slot) = span.chunk.and_then(|c| of.get_mut(c)) {
            *slot = Some(i);
        }
    }
    of
}

/// `document § heading` (or `document ¶ n` without a heading).
pub fn chunk_name(chunk: &Chunk) -> String {
    if chunk.heading.is_empty() {
        format!("{} ¶{}", chunk.document, chunk.index + 1)
    } else {
        format!("{} § {}", chunk.document, chunk.heading)
    }
}

fn check_budget(budget: usize) -> Result<(), ContextError> {
    if budget == 0 || budget > MAX_CONTEXT_TOKENS {
        return Err(ContextError::Budget { requested: budget });
    }
    Ok(())
}

/// What step 4 computes from a [`ContextInput`]: the CPU reference of the whole GPU pipeline
/// (focus row → chunk masses → overview).
#[derive(Clone, Debug, PartialEq)]
pub struct ContextOutcome {
    /// The focus row `P[focus, ·]`, N weights summing to 1.
    pub weights: Vec<f32>,
    /// Each span's share of it.
    pub masses: Vec<f32>,
    /// The `bins × bins` overview of the whole map (`model::overview`), or empty when not asked.
    pub overview: Vec<f32>,
    /// Bins per side of `overview`.
    pub bins: u32,
}

/// Runs step 4 on the CPU reference: the same kernels' twins the GPU is tested against. With
/// `bins = 0` the overview (`O(N²)`) is skipped.
pub fn compute(input: &ContextInput, bins: u32) -> Result<ContextOutcome, ContextError> {
    let packed = input.packed()?;
    let result = attention::run(&packed);
    let weights = result
        .weights_row(0, input.focus)
        .map(<[f32]>::to_vec)
        .unwrap_or_default();
    let masses = overview::chunk_masses(&weights, &input.span_bounds());
    let params = packed.params();
    let bins = overview_bins(params.n(), bins);
    let map = if bins == 0 {
        Vec::new()
    } else {
        let stats = overview::row_stats(params, &result.q, &result.k, packed.key_mask());
        let overview_params = OverviewParams::new(bins);
        overview::bins(
            params,
            &overview_params,
            &result.q,
            &result.k,
            packed.key_mask(),
            &stats,
        )
    };
    Ok(ContextOutcome {
        weights,
        masses,
        overview: map,
        bins,
    })
}

/// The overview's bins per side for `n` tokens: `requested`, never more than N.
pub fn overview_bins(n: usize, requested: u32) -> u32 {
    requested.min(u32::try_from(n).unwrap_or(u32::MAX))
}

/// Each label's score — the attention mass on the examples carrying it — in order of first
/// appearance.
pub fn label_scores(spans: &[Span], masses: &[f32]) -> Vec<(String, f32)> {
    let mut scores: Vec<(String, f32)> = Vec::new();
    for (span, mass) in spans.iter().zip(masses) {
        match scores.iter_mut().find(|(label, _)| *label == span.group) {
            Some((_, score)) => *score += mass,
            None => scores.push((span.group.clone(), *mass)),
        }
    }
    scores
}

/// The index of the largest value (the first of equals); `None` when empty.
pub fn argmax(values: &[f32]) -> Option<usize> {
    values
        .iter()
        .enumerate()
        .reduce(|best, next| if next.1 > best.1 { next } else { best })
        .map(|(i, _)| i)
}

/// The `k` tokens with the largest weights, largest first, skipping `skip` (the focus).
pub fn top_tokens(weights: &[f32], k: usize, skip: usize) -> Vec<(usize, f32)> {
    let mut top: Vec<(usize, f32)> = Vec::with_capacity(k + 1);
    for (i, &w) in weights.iter().enumerate() {
        if i == skip || top.len() == k && top.last().is_some_and(|l| l.1 >= w) {
            continue;
        }
        let at = top.partition_point(|t| t.1 >= w);
        top.insert(at, (i, w));
        top.truncate(k);
    }
    top
}

/// Parses pasted examples, one per line: `text -> label`, `text → label` or `text<TAB>label`.
/// Blank lines are skipped; other lines without a separator are reported by number (1-based),
/// and the examples that did parse are still returned.
pub fn parse_examples(text: &str) -> Result<(Vec<Example>, Vec<usize>), ContextError> {
    if text.len() > MAX_PASTE_BYTES {
        return Err(ContextError::TooLarge { bytes: text.len() });
    }
    let mut examples = Vec::new();
    let mut bad = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let split = ["->", "→", "\t"]
            .iter()
            .filter_map(|sep| line.rsplit_once(sep))
            .next();
        match split {
            Some((text, label)) if !tokenize(text).is_empty() && !tokenize(label).is_empty() => {
                let text = text.trim().trim_matches('"').trim();
                examples.push(Example::new(text, label.trim()));
            }
            _ => bad.push(number + 1),
        }
    }
    Ok((examples, bad))
}

/// Deterministic review generator: `count` labelled reviews (~8 tokens each, so 120 are ~1k
/// tokens), a third of each label, from word lists the lesson model knows.
pub fn generate_examples(count: usize, seed: u64) -> Vec<Example> {
    use rand::{Rng, SeedableRng};
    const POSITIVE: [&str; 8] = [
        "loved",
        "great",
        "excellent",
        "wonderful",
        "amazing",
        "perfect",
        "good",
        "fantastic",
    ];
    const NEGATIVE: [&str; 8] = [
        "hated", "terrible", "awful", "bad", "worst", "horrible", "broken", "boring",
    ];
    const NEUTRAL: [&str; 6] = ["okay", "fine", "meh", "average", "ordinary", "acceptable"];
    const THINGS: [&str; 8] = [
        "product", "blender", "jacket", "book", "service", "delivery", "kettle", "lamp",
    ];
    const TEMPLATES: [&str; 5] = [
        "the {thing} was {word}",
        "{word} {thing} , would say so again",
        "honestly a {word} {thing}",
        "my {thing} arrived and it was {word}",
        "{word} , just {word} . the {thing} says it all",
    ];
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..count)
        .map(|i| {
            let (words, label): (&[&str], &str) = match i % 3 {
                0 => (&POSITIVE, "positive"),
                1 => (&NEGATIVE, "negative"),
                _ => (&NEUTRAL, "neutral"),
            };
            // Each index is drawn below its list's length.
            let template = TEMPLATES
                .get(rng.random_range(0..TEMPLATES.len()))
                .copied()
                .unwrap_or_default();
            let word = words
                .get(rng.random_range(0..words.len()))
                .copied()
                .unwrap_or_default();
            let thing = THINGS
                .get(rng.random_range(0..THINGS.len()))
                .copied()
                .unwrap_or_default();
            Example::new(
                &template.replace("{word}", word).replace("{thing}", thing),
                label,
            )
        })
        .collect()
}

/// A generated archive of `count` past support tickets (Markdown, one `## Ticket` paragraph
/// each, ~40 words), so the RAG level has ~10k tokens to retrieve from with the two sample files.
/// Deterministic; labelled "generated" wherever it is shown.
pub fn ticket_archive(count: usize) -> String {
    const PRODUCTS: [&str; 10] = [
        "blender",
        "kettle",
        "desk lamp",
        "rain jacket",
        "pair of headphones",
        "coffee grinder",
        "backpack",
        "phone case",
        "toaster",
        "set of towels",
    ];
    const PROBLEMS: [(&str, &str); 8] = [
        (
            "late delivery",
            "arrived eleven days after the promised date",
        ),
        ("wrong size", "was the wrong size for the customer"),
        ("missing parts", "came without the cable and the manual"),
        ("stopped working", "stopped working after two weeks of use"),
        ("charged twice", "was charged twice on the same card"),
        (
            "login problem",
            "could not be tracked because the account was locked",
        ),
        ("wrong address", "was sent to an old address"),
        (
            "changed mind",
            "was no longer wanted after the customer changed their mind",
        ),
    ];
    const OUTCOMES: [&str; 6] = [
        "The agent arranged a replacement and closed the ticket the same day.",
        "Support refunded the shipping cost as goodwill and the customer kept the item.",
        "The customer returned it within the window and received a refund in five business days.",
        "The agent sent the missing pieces by express post at no cost.",
        "Billing reversed the duplicate payment and apologised by email.",
        "The team lead approved a voucher after the customer asked for compensation.",
    ];
    let mut text = String::from("# Support ticket archive (generated sample)\n\n");
    // The lists cycle with different strides, so neighbouring tickets differ in every part.
    for i in 0..count {
        let product = PRODUCTS
            .get(i % PRODUCTS.len())
            .copied()
            .unwrap_or_default();
        let (title, problem) = PROBLEMS
            .get((i * 7 + i / PRODUCTS.len()) % PROBLEMS.len())
            .copied()
            .unwrap_or_default();
        let outcome = OUTCOMES
            .get((i * 5 + i / 3) % OUTCOMES.len())
            .copied()
            .unwrap_or_default();
        text.push_str(&format!(
            "## Ticket #{} — {title}\n\nA customer wrote that their {product} {problem}. They \
             asked what we could do and attached the order number. {outcome}\n\n",
            9000 + i
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> LessonModel {
        LessonModel::builtin().expect("the shipped lesson model loads")
    }

    fn predict(examples: &[Example], review: &str) -> (String, Vec<(String, f32)>) {
        let input = in_context_input(&model(), examples, review, DEFAULT_BUDGET).unwrap();
        let outcome = compute(&input, 0).unwrap();
        let scores = label_scores(&input.spans, &outcome.masses);
        let masses: Vec<f32> = scores.iter().map(|s| s.1).collect();
        let best = argmax(&masses).unwrap();
        (scores[best].0.clone(), scores)
    }

    #[test]
    fn icl_prediction_follows_the_examples_feelings() {
        let examples = default_examples();
        assert_eq!(
            predict(&examples, "loved it, a great product").0,
            "positive"
        );
        assert_eq!(
            predict(&examples, "a total waste, bad and broken").0,
            "negative"
        );
        assert_eq!(predict(&examples, DEFAULT_REVIEW).0, "neutral");
    }

    #[test]
    fn editing_a_label_changes_the_prediction_with_no_training_step() {
        let mut examples = default_examples();
        let review = "loved it, a great product";
        let (before, scores_before) = predict(&examples, review);
        assert_eq!(before, "positive");
        // Relabel the warm example: its attention mass now counts for "negative".
        examples[0].label = "negative".into();
        let (after, scores_after) = predict(&examples, review);
        assert_eq!(after, "negative", "{scores_before:?} -> {scores_after:?}");
        // No training step: the head's weights are the same numbers before and after; only the
        // context (the label's word, and which label the mass counts for) changed.
        let weights = |examples: &[Example]| {
            in_context_input(&model(), examples, review, DEFAULT_BUDGET)
                .unwrap()
                .input
                .heads
        };
        assert_eq!(weights(&default_examples()), weights(&examples));
    }

    #[test]
    fn focus_never_attends_to_itself_and_masses_sum_to_one() {
        let input = in_context_input(
            &model(),
            &generate_examples(120, 7),
            "great",
            DEFAULT_BUDGET,
        )
        .unwrap();
        assert!(
            (900..1400).contains(&input.context_tokens()),
            "120 generated examples are ~1k tokens: {}",
            input.context_tokens()
        );
        let outcome = compute(&input, 16).unwrap();
        assert_eq!(outcome.weights[input.focus], 0.0);
        let total: f32 = outcome.masses.iter().sum();
        assert!((total - 1.0).abs() < 1e-4, "{total}");
        assert_eq!(outcome.overview.len(), 16 * 16);
    }

    #[test]
    fn examples_past_the_budget_are_left_out_and_counted() {
        let examples = generate_examples(50, 1);
        let input = in_context_input(&model(), &examples, "fine", 100).unwrap();
        assert!(input.left_out > 0);
        assert_eq!(input.spans.len() + input.left_out, 50);
        assert!(input.context_tokens() <= 100);
        assert!(matches!(
            in_context_input(&model(), &examples, "fine", MAX_CONTEXT_TOKENS + 1),
            Err(ContextError::Budget { .. })
        ));
        assert!(matches!(
            in_context_input(&model(), &[], "fine", 100),
            Err(ContextError::NoExamples)
        ));
        assert!(matches!(
            in_context_input(&model(), &[Example::new("good", " ")], "fine", 100),
            Err(ContextError::IncompleteExample { index: 1, .. })
        ));
    }

    #[test]
    fn pasted_lines_parse_and_bad_lines_are_numbered() {
        let (examples, bad) = parse_examples(
            "\"great value\" -> positive\nno separator here\n\nmeh → neutral\nawful\tnegative\n",
        )
        .unwrap();
        assert_eq!(
            examples,
            vec![
                Example::new("great value", "positive"),
                Example::new("meh", "neutral"),
                Example::new("awful", "negative"),
            ]
        );
        assert_eq!(bad, vec![2]);
    }

    #[test]
    fn rag_context_fills_the_budget_from_the_archive_and_finds_the_damaged_paragraph() {
        let archive = ticket_archive(ARCHIVE_TICKETS);
        let kb = KnowledgeBase::new(
            SAMPLE_DOCUMENTS
                .iter()
                .copied()
                .chain([(ARCHIVE_NAME, archive.as_str())]),
        );
        assert!(kb.tokens() > DEFAULT_BUDGET, "{}", kb.tokens());
        let (input, retrieved) =
            rag_input(&model(), &kb, DEFAULT_QUESTION, DEFAULT_BUDGET).unwrap();
        assert_eq!(
            kb.chunks[retrieved[0].chunk].heading,
            "Items damaged in transit"
        );
        let n = input.context_tokens();
        assert!((9_000..=DEFAULT_BUDGET).contains(&n), "{n}");
        // The best chunk is placed first; a left-out chunk has no span.
        let placed = span_of_chunk(&input.spans, kb.chunks.len());
        assert_eq!(placed[retrieved[0].chunk], Some(0));
        assert_eq!(
            placed.iter().filter(|p| p.is_none()).count(),
            input.left_out
        );
        assert!(input.left_out > 0);
        let outcome = compute(&input, 0).unwrap();
        let total: f32 = outcome.masses.iter().sum();
        assert!((total - 1.0).abs() < 1e-3, "{total}");
    }

    #[test]
    fn top_tokens_are_the_largest_weights_in_order() {
        let weights = [0.1, 0.4, 0.05, 0.3, 0.15];
        assert_eq!(top_tokens(&weights, 2, 9), vec![(1, 0.4), (3, 0.3)]);
        assert_eq!(top_tokens(&weights, 2, 1), vec![(3, 0.3), (4, 0.15)]);
        assert_eq!(argmax(&[1.0, 3.0, 3.0]), Some(1));
    }
}
