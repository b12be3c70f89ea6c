//! Knowledge-base documents (step 4's RAG): any text through `chunk_document`, `bm25_scores` and
//! `assemble`. No panics; every chunk's words come from the document; scores are finite and not
//! negative; the assembled context keeps to its budget and its spans tile its tokens.
#![no_main]

use std::collections::HashSet;

use gaze::model::retrieval::{
    assemble, bm25_scores, chunk_document, ranks, terms, RetrievalError, Retrieved,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the budget; the rest, split at the first NUL, is the question and the
    // document (a question of the document's own words when there is no NUL).
    let Some((&budget, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let (question, document) = text.split_once('\0').unwrap_or(("", text));
    let chunks = match chunk_document("fuzz.md", document) {
        Ok(chunks) => chunks,
        Err(RetrievalError::EmptyDocument(name)) => {
            assert_eq!(name, "fuzz.md");
            assert!(terms(document).is_empty() || document.contains('#'));
            return;
        }
    };
    let document_words: HashSet<&str> = document.split_whitespace().collect();
    for (i, chunk) in chunks.iter().enumerate() {
        assert_eq!(chunk.index, i);
        assert_eq!(chunk.document, "fuzz.md");
        assert!(!chunk.text.is_empty());
        // A chunk's text is the document's lines, trimmed and joined by single spaces.
        for word in chunk.text.split_whitespace() {
            assert!(
                document_words.contains(word),
                "chunk word {word:?} is not in the document"
            );
        }
        assert!(!chunk.heading.contains('\n'));
    }

    let query = if question.is_empty() {
        terms(document).into_iter().take(8).collect()
    } else {
        terms(question)
    };
    let scores = bm25_scores(&query, &chunks);
    assert_eq!(scores.len(), chunks.len());
    assert!(
        scores.iter().all(|s| s.is_finite() && *s >= 0.0),
        "scores {scores:?}"
    );

    let rank = ranks(&scores);
    let mut retrieved: Vec<Retrieved> = (0..chunks.len())
        .map(|i| Retrieved {
            chunk: i,
            bm25: scores[i],
            bm25_rank: rank[i],
            cosine: 0.0,
            cosine_rank: rank[i],
            fused: scores[i],
            fused_rank: rank[i],
        })
        .collect();
    retrieved.sort_by_key(|r| r.fused_rank);
    let budget = usize::from(budget);
    let context = assemble(&chunks, &retrieved, budget);
    assert!(context.tokens.len() <= budget);
    assert_eq!(context.spans.len() + context.left_out, chunks.len());
    let mut end = 0;
    for (chunk, span) in &context.spans {
        assert_eq!(span.start, end, "spans do not tile the context");
        assert_eq!(&context.tokens[span.clone()], &chunks[*chunk].tokens[..]);
        end = span.end;
    }
    assert_eq!(end, context.tokens.len());
});
