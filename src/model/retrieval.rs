//! Step 4's retriever (RAG): documents cut into chunks, ranked by a hybrid of lexical BM25 and
//! vector cosine, the two rankings fused by reciprocal rank.
//!
//! ```text
//! BM25(q, c)   = Σ_{t ∈ q} idf(t) · f(t, c) · (k1 + 1) / (f(t, c) + k1 · (1 − b + b · |c| / avgdl))
//! idf(t)       = ln(1 + (N − n(t) + 0.5) / (n(t) + 0.5))          k1 = 1.2, b = 0.75
//! cosine(q, c) = e(q) · e(c) / (|e(q)| |e(c)|)      e(x) = the mean of x's token embeddings
//! RRF(c)       = 1 / (k + rank_bm25(c)) + 1 / (k + rank_cosine(c))   k = 60, ranks from 1
//! ```
//!
//! BM25 finds the chunks that share the question's words (weighting rare words up, long chunks
//! down); the cosine finds chunks about the same things even in other words; reciprocal rank
//! fusion needs no tuning between their scales — only ranks count. The embeddings are the lesson
//! model's features (`LessonModel::embed`), so the same model that attends also retrieves.

use thiserror::Error;

use super::lesson::LessonModel;
use super::tokenizer::tokenize;

/// BM25's term-frequency saturation.
pub const BM25_K1: f64 = 1.2;
/// BM25's length normalisation.
pub const BM25_B: f64 = 0.75;
/// Reciprocal rank fusion's damping constant.
pub const RRF_K: f64 = 60.0;

/// Why a document cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RetrievalError {
    /// Nothing but whitespace and headings.
    #[error("`{0}` has no text to retrieve from")]
    EmptyDocument(String),
}

/// One paragraph of a document, with the section heading it sits under.
#[derive(Clone, Debug, PartialEq)]
pub struct Chunk {
    /// The document's name.
    pub document: String,
    /// Its position among the document's chunks, from 0.
    pub index: usize,
    /// The nearest heading above it (without `#`), empty if none.
    pub heading: String,
    /// The paragraph's text.
    pub text: String,
    /// Heading and text tokenized: what BM25 and the embedding read.
    pub tokens: Vec<String>,
}

/// The words retrieval reads: the lesson tokens that are words of two or more letters or digits.
/// Punctuation and the `s` of `what's` would otherwise match across unrelated chunks (an
/// apostrophe is as "rare" as any word to BM25).
pub fn terms(text: &str) -> Vec<String> {
    tokenize(text)
        .into_iter()
        .filter(|t| t.chars().count() >= 2 && t.chars().all(char::is_alphanumeric))
        .collect()
}

/// Cuts `text` into paragraphs (separated by blank lines). Markdown headings are not chunks of
/// their own: each paragraph carries the heading it sits under, so `## Items damaged in transit`
/// helps find the paragraph below it.
pub fn chunk_document(document: &str, text: &str) -> Result<Vec<Chunk>, RetrievalError> {
    let mut chunks = Vec::new();
    let mut heading = String::new();
    for block in text.split("\n\n").map(str::trim).filter(|b| !b.is_empty()) {
        let mut body = Vec::new();
        for line in block.lines().map(str::trim) {
            if let Some(title) = line.strip_prefix('#') {
                heading = title.trim_start_matches('#').trim().to_owned();
            } else if !line.is_empty() {
                body.push(line);
            }
        }
        if body.is_empty() {
            continue;
        }
        let text = body.join(" ");
        let tokens = terms(&format!("{heading} {text}"));
        chunks.push(Chunk {
            document: document.to_owned(),
            index: chunks.len(),
            heading: heading.clone(),
            text,
            tokens,
        });
    }
    if chunks.is_empty() {
        return Err(RetrievalError::EmptyDocument(document.to_owned()));
    }
    Ok(chunks)
}

/// Okapi BM25 of `query` against every chunk (see the module docs).
pub fn bm25_scores(query: &[String], chunks: &[Chunk]) -> Vec<f64> {
    let n = chunks.len() as f64;
    if chunks.is_empty() {
        return Vec::new();
    }
    let average_length = chunks.iter().map(|c| c.tokens.len()).sum::<usize>() as f64 / n;
    let mut terms: Vec<&String> = query.iter().collect();
    terms.sort();
    terms.dedup();
    let idf: Vec<f64> = terms
        .iter()
        .map(|t| {
            let containing = chunks.iter().filter(|c| c.tokens.contains(t)).count() as f64;
            (1.0 + (n - containing + 0.5) / (containing + 0.5)).ln()
        })
        .collect();
    chunks
        .iter()
        .map(|chunk| {
            let length = chunk.tokens.len() as f64;
            let norm = BM25_K1 * (1.0 - BM25_B + BM25_B * length / average_length.max(1e-9));
            terms
                .iter()
                .zip(&idf)
                .map(|(t, idf)| {
                    let f = chunk.tokens.iter().filter(|x| x == t).count() as f64;
                    idf * f * (BM25_K1 + 1.0) / (f + norm)
                })
                .sum()
        })
        .collect()
}

/// The mean of `tokens`' embeddings in the lesson model, over the words that carry meaning: a
/// word whose strongest feature is "function word" (`the`, `on`, `our`) is left out, or every
/// chunk's mean would be mostly the same articles.
pub fn mean_embedding(model: &LessonModel, tokens: &[String]) -> Vec<f32> {
    let width = model.features().len();
    let function_word = model.features().iter().position(|f| f == "function word");
    let mut sum = vec![0.0f32; width];
    let mut count = 0usize;
    for token in tokens {
        let (vector, _) = model.embed(token);
        // The strongest feature, the first of equals.
        let strongest = vector
            .iter()
            .enumerate()
            .fold(None::<(usize, f32)>, |best, (i, &v)| match best {
                Some((_, top)) if v > top => Some((i, v)),
                None => Some((i, v)),
                _ => best,
            });
        if let Some((index, value)) = strongest {
            if function_word == Some(index) && value > 0.0 {
                continue;
            }
        }
        for (s, v) in sum.iter_mut().zip(vector) {
            *s += v;
        }
        count += 1;
    }
    sum.iter().map(|s| s / count.max(1) as f32).collect()
}

/// `a · b / (|a| |b|)`; 0 when either is the zero vector.
pub fn cosine(a: &[f32], b: &[f32]) -> f64 {
    let dot: f64 = a.iter().zip(b).map(|(x, y)| *x as f64 * *y as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let denominator = norm(a) * norm(b);
    if denominator > 0.0 {
        dot / denominator
    } else {
        0.0
    }
}

/// Ranks from 1 by descending score; ties keep the earlier chunk first.
pub fn ranks(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<(usize, f64)> = scores.iter().copied().enumerate().collect();
    order.sort_by(|(a, score_a), (b, score_b)| score_b.total_cmp(score_a).then(a.cmp(b)));
    let mut rank = vec![0; scores.len()];
    for (position, (chunk, _)) in order.into_iter().enumerate() {
        if let Some(slot) = rank.get_mut(chunk) {
            *slot = position + 1;
        }
    }
    rank
}

/// `Σ_lists 1 / (k + rank)` for each item, over several rankings of the same items.
pub fn reciprocal_rank_fusion(rankings: &[&[usize]], k: f64) -> Vec<f64> {
    let items = rankings.first().map_or(0, |r| r.len());
    (0..items)
        .map(|i| {
            rankings
                .iter()
                .filter_map(|r| r.get(i))
                .map(|&rank| 1.0 / (k + rank as f64))
                .sum()
        })
        .collect()
}

/// One chunk's retrieval scores.
#[derive(Clone, Debug, PartialEq)]
pub struct Retrieved {
    /// Which chunk (an index into the chunks given).
    pub chunk: usize,
    /// Its BM25 score and rank.
    pub bm25: f64,
    /// Rank by BM25, from 1.
    pub bm25_rank: usize,
    /// Its cosine to the question and rank.
    pub cosine: f64,
    /// Rank by cosine, from 1.
    pub cosine_rank: usize,
    /// The fused score.
    pub fused: f64,
    /// Rank by the fused score, from 1.
    pub fused_rank: usize,
}

/// Scores every chunk against `question` and returns them best first (by fused rank).
pub fn retrieve(model: &LessonModel, question: &str, chunks: &[Chunk]) -> Vec<Retrieved> {
    let query = terms(question);
    let bm25 = bm25_scores(&query, chunks);
    let question_vector = mean_embedding(model, &query);
    let cosines: Vec<f64> = chunks
        .iter()
        .map(|c| cosine(&question_vector, &mean_embedding(model, &c.tokens)))
        .collect();
    let (bm25_ranks, cosine_ranks) = (ranks(&bm25), ranks(&cosines));
    let fused = reciprocal_rank_fusion(&[&bm25_ranks, &cosine_ranks], RRF_K);
    let fused_ranks = ranks(&fused);
    // Every list has one entry per chunk, in chunk order.
    let mut retrieved: Vec<Retrieved> = bm25
        .iter()
        .zip(&bm25_ranks)
        .zip(cosines.iter().zip(&cosine_ranks))
        .zip(fused.iter().zip(&fused_ranks))
        .enumerate()
        .map(
            |(chunk, (((&bm25, &bm25_rank), (&cosine, &cosine_rank)), (&fused, &fused_rank)))| {
                Retrieved {
                    chunk,
                    bm25,
                    bm25_rank,
                    cosine,
                    cosine_rank,
                    fused,
                    fused_rank,
                }
            },
        )
        .collect();
    retrieved.sort_by_key(|r| r.fused_rank);
    retrieved
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = include_str!("../../assets/kb/policy.md");
    const TICKETS: &str = include_str!("../../assets/kb/tickets.md");

    fn knowledge_base() -> Vec<Chunk> {
        let mut chunks = chunk_document("policy.md", POLICY).unwrap();
        chunks.extend(chunk_document("tickets.md", TICKETS).unwrap());
        chunks
    }

    #[test]
    fn paragraphs_become_chunks_under_their_headings() {
        let chunks = chunk_document("policy.md", POLICY).unwrap();
        assert_eq!(chunks.len(), 4);
        assert_eq!(chunks[0].heading, "Items damaged in transit");
        assert!(chunks[0]
            .text
            .starts_with("If an item arrives damaged in transit"));
        assert_eq!(chunks[1].heading, "The 30-day return window");
        assert_eq!(
            chunk_document("empty.md", "# Only a title\n\n   \n"),
            Err(RetrievalError::EmptyDocument("empty.md".into()))
        );
    }

    #[test]
    fn damaged_items_question_retrieves_the_damaged_in_transit_paragraph_first() {
        let model = LessonModel::builtin().unwrap();
        let chunks = knowledge_base();
        let best = retrieve(
            &model,
            "what's our refund policy on damaged items?",
            &chunks,
        );
        let first = &chunks[best[0].chunk];
        assert_eq!(first.heading, "Items damaged in transit", "{best:?}");
        let escalation = retrieve(&model, "what is the escalation path for a refund?", &chunks);
        assert_eq!(
            chunks[escalation[0].chunk].heading,
            "Ticket #8142 — escalation path"
        );
    }

    #[test]
    fn reciprocal_rank_fusion_matches_a_hand_computed_example() {
        // Three chunks: BM25 ranks them 1, 2, 3; the cosine 3, 1, 2.
        let fused = reciprocal_rank_fusion(&[&[1, 2, 3], &[3, 1, 2]], 60.0);
        let expected = [
            1.0 / 61.0 + 1.0 / 63.0, // 0.032266
            1.0 / 62.0 + 1.0 / 61.0, // 0.032522: the best of both lists wins
            1.0 / 63.0 + 1.0 / 62.0, // 0.031002
        ];
        for (got, want) in fused.iter().zip(expected) {
            assert!((got - want).abs() < 1e-15);
        }
        assert_eq!(ranks(&fused), [2, 1, 3]);
    }

    #[test]
    fn bm25_weights_rare_words_up_and_ignores_absent_ones() {
        let chunk = |text: &str| Chunk {
            document: "d".into(),
            index: 0,
            heading: String::new(),
            text: text.into(),
            tokens: terms(text),
        };
        let chunks = [
            chunk("the refund the refund"),
            chunk("the blender"),
            chunk("the jug"),
        ];
        let scores = bm25_scores(&terms("refund blender"), &chunks);
        assert!(
            scores[0] > 0.0 && scores[1] > 0.0 && scores[2] == 0.0,
            "{scores:?}"
        );
        // `the` is in every chunk: it carries almost nothing.
        let the = bm25_scores(&terms("the"), &chunks);
        let refund = bm25_scores(&terms("refund"), &chunks);
        assert!(the[0] < refund[0]);
    }
}

/// The context handed to attention: the chosen chunks' tokens end to end, and where each lies.
#[derive(Clone, Debug, PartialEq)]
pub struct AssembledContext {
    /// Every token of the context, in order.
    pub tokens: Vec<String>,
    /// Per chunk placed: its index among the chunks given, and its token range in `tokens`.
    pub spans: Vec<(usize, std::ops::Range<usize>)>,
    /// Chunks left out because the budget was full.
    pub left_out: usize,
}

/// Fills a context with whole chunks in `retrieved` order (best first) while they fit in
/// `budget` tokens; a chunk that does not fit is skipped and smaller ones after it may still go in.
pub fn assemble(chunks: &[Chunk], retrieved: &[Retrieved], budget: usize) -> AssembledContext {
    let mut context = AssembledContext {
        tokens: Vec::new(),
        spans: Vec::new(),
        left_out: 0,
    };
    for r in retrieved {
        let Some(chunk) = chunks.get(r.chunk) else {
            continue;
        };
        let start = context.tokens.len();
        if start + chunk.tokens.len() > budget {
            context.left_out += 1;
            continue;
        }
        context.tokens.extend(chunk.tokens.iter().cloned());
        context.spans.push((r.chunk, start..context.tokens.len()));
    }
    context
}

impl AssembledContext {
    /// The placed chunks' token ranges as `[start, end)` pairs: what `overview::chunk_masses` (and
    /// its kernel) sums the focus row over.
    pub fn span_bounds(&self) -> Vec<[u32; 2]> {
        self.spans
            .iter()
            .map(|(_, r)| [r.start as u32, r.end as u32])
            .collect()
    }
}

#[cfg(test)]
mod context_tests {
    use super::*;

    fn chunk(index: usize, words: usize) -> Chunk {
        Chunk {
            document: "d".into(),
            index,
            heading: String::new(),
            text: String::new(),
            tokens: (0..words).map(|w| format!("w{index}x{w}")).collect(),
        }
    }

    fn ranked(order: &[usize]) -> Vec<Retrieved> {
        order
            .iter()
            .enumerate()
            .map(|(rank, &chunk)| Retrieved {
                chunk,
                bm25: 0.0,
                bm25_rank: rank + 1,
                cosine: 0.0,
                cosine_rank: rank + 1,
                fused: 0.0,
                fused_rank: rank + 1,
            })
            .collect()
    }

    #[test]
    fn context_fills_best_first_up_to_the_budget() {
        let chunks = [chunk(0, 5), chunk(1, 8), chunk(2, 3)];
        let context = assemble(&chunks, &ranked(&[1, 0, 2]), 12);
        // 8 (chunk 1) fits, 5 more would make 13 > 12: skipped; 3 fits.
        assert_eq!(context.spans, vec![(1, 0..8), (2, 8..11)]);
        assert_eq!(context.tokens.len(), 11);
        assert_eq!(context.left_out, 1);
        assert_eq!(context.span_bounds(), vec![[0, 8], [8, 11]]);
    }
}
