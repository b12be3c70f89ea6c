//! Step 1 — pretraining: a corpus of endings whose counts set the odds.
//!
//! A corpus is a list of rows `prefix ___ ending × count`. For one prefix, the model's closed
//! form is the count distribution itself:
//!
//! ```text
//! base_logit(y) = ln count(y)        p(y) = count(y) / Σ count
//! ```
//!
//! The output vocabulary is the endings with a count above zero; any other word has logit −∞ and
//! can never be predicted, whatever happens later (step 2's lesson). The prediction is the
//! argmax, ties going to the row listed first.

use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::tokenizer::{tokenize, MAX_LINE_CHARS};

/// The largest count a row may hold. Counts are integers; a billion keeps every sum exact in f64.
pub const MAX_COUNT: u64 = 1_000_000_000;

/// The most rows a corpus holds: far more endings than a lesson shows, and with [`MAX_COUNT`]
/// the total stays exact in f64 (10¹² < 2⁵³).
pub const MAX_ROWS: usize = 1_000;

/// The longest ending, in characters: a word or a short phrase (it is one output of the model).
pub const MAX_ENDING_CHARS: usize = 100;

/// The default prefix.
pub const DEFAULT_PREFIX: &str = "the best database is";

/// Why an edit to the corpus was refused (the previous value is kept).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CorpusError {
    /// Not a whole number.
    #[error("`{0}` is not a whole number; a count says how many times an ending was seen")]
    NotAnInteger(String),
    /// Below zero.
    #[error("`{0}` is negative; a count cannot be below 0")]
    Negative(String),
    /// Above [`MAX_COUNT`].
    #[error("`{0}` is above the largest count, {MAX_COUNT}")]
    TooLarge(String),
    /// No such row.
    #[error("there is no row {0}")]
    NoRow(usize),
    /// An ending with no text.
    #[error("an ending needs at least one word")]
    EmptyEnding,
    /// An ending longer than [`MAX_ENDING_CHARS`].
    #[error("the ending is {chars} characters long; an ending is at most {MAX_ENDING_CHARS}")]
    EndingTooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// A sentence start with no words.
    #[error("a sentence start needs at least one word")]
    EmptyPrefix,
    /// A sentence start longer than [`MAX_LINE_CHARS`].
    #[error(
        "the sentence start is {chars} characters long; the longest taken is {MAX_LINE_CHARS}"
    )]
    PrefixTooLong {
        /// Its length in characters.
        chars: usize,
    },
    /// A sentence start with more tokens than attention is computed for.
    #[error(
        "the sentence start has {tokens} tokens; attention is computed for at most {}",
        super::lesson::MAX_SENTENCE_TOKENS
    )]
    PrefixTooManyTokens {
        /// Its length in tokens.
        tokens: usize,
    },
    /// Two spellings of one sentence start (they tokenize the same, so the model cannot tell
    /// them apart, yet the table would count them apart).
    #[error("`{prefix}` has the same words as the sentence start `{existing}`; write it one way")]
    SamePrefixWords {
        /// The new spelling.
        prefix: String,
        /// The one the corpus already has.
        existing: String,
    },
    /// The corpus is full.
    #[error("the corpus already has {MAX_ROWS} rows, the most it takes")]
    TooManyRows,
    /// The same ending twice for one prefix.
    #[error("`{ending}` is already an ending of `{prefix}`")]
    DuplicateEnding {
        /// The prefix.
        prefix: String,
        /// The repeated ending.
        ending: String,
    },
}

/// One row: `prefix ___ ending × count`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CorpusRow {
    /// The sentence start, e.g. `the best database is`.
    pub prefix: String,
    /// The word that followed it.
    pub ending: String,
    /// How many times.
    pub count: u64,
}

/// The corpus, rows in the order the user listed them (that order breaks ties). A scene's
/// `corpus` without `rows` is the seed's corpus, as every missing field takes the lesson's default.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Corpus {
    /// The rows.
    pub rows: Vec<CorpusRow>,
}

impl Default for Corpus {
    /// The seed's corpus, biased toward `mongodb`.
    fn default() -> Self {
        let row = |ending: &str, count| CorpusRow {
            prefix: DEFAULT_PREFIX.into(),
            ending: ending.into(),
            count,
        };
        Self {
            rows: vec![
                row("mongodb", 5),
                row("postgresql", 3),
                row("mysql", 2),
                row("sqlite", 1),
            ],
        }
    }
}

/// Parses a count typed by a person: a whole number from 0 to [`MAX_COUNT`].
pub fn parse_count(text: &str) -> Result<u64, CorpusError> {
    let trimmed = text.trim();
    if trimmed
        .strip_prefix('-')
        .is_some_and(|digits| !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()))
    {
        return Err(CorpusError::Negative(trimmed.into()));
    }
    if trimmed.is_empty() || !trimmed.chars().all(|c| c.is_ascii_digit()) {
        return Err(CorpusError::NotAnInteger(trimmed.into()));
    }
    match trimmed.parse::<u64>() {
        Ok(count) if count <= MAX_COUNT => Ok(count),
        _ => Err(CorpusError::TooLarge(trimmed.into())),
    }
}

/// Checks an ending (already trimmed): some text, at most [`MAX_ENDING_CHARS`] characters.
pub fn check_ending(ending: &str) -> Result<(), CorpusError> {
    if ending.is_empty() {
        return Err(CorpusError::EmptyEnding);
    }
    let chars = ending.chars().count();
    if chars > MAX_ENDING_CHARS {
        return Err(CorpusError::EndingTooLong { chars });
    }
    Ok(())
}

/// Checks a sentence start (already trimmed) and returns its tokens: some words, at most
/// [`MAX_LINE_CHARS`] characters and [`super::lesson::MAX_SENTENCE_TOKENS`] tokens (training
/// runs attention over it, as step 3 does over its sentence).
pub fn prefix_tokens(prefix: &str) -> Result<Vec<String>, CorpusError> {
    let chars = prefix.chars().count();
    if chars > MAX_LINE_CHARS {
        return Err(CorpusError::PrefixTooLong { chars });
    }
    let tokens = tokenize(prefix);
    if tokens.is_empty() {
        return Err(CorpusError::EmptyPrefix);
    }
    if tokens.len() > super::lesson::MAX_SENTENCE_TOKENS {
        return Err(CorpusError::PrefixTooManyTokens {
            tokens: tokens.len(),
        });
    }
    Ok(tokens)
}

/// A row a corpus cannot hold, and why (see [`Corpus::check`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// The row's index.
    pub row: usize,
    /// The field at fault: `prefix`, `ending` or `count`.
    pub field: &'static str,
    /// Why.
    pub error: CorpusError,
}

/// One ending's odds under the closed form.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EndingOdds {
    /// The prefix.
    pub prefix: String,
    /// The ending.
    pub ending: String,
    /// Its count.
    pub count: u64,
    /// `ln count`; `None` (−∞) for a count of 0: outside the vocabulary.
    pub base_logit: Option<f64>,
    /// `count / total`.
    pub probability: f64,
}

/// The closed-form distribution of one prefix.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Distribution {
    /// Every row of the prefix, in corpus order.
    pub rows: Vec<EndingOdds>,
    /// The argmax (ties to the row listed first); `None` when every count is 0.
    pub prediction: Option<String>,
}

impl Distribution {
    /// The endings the model can say: count > 0.
    pub fn vocabulary(&self) -> impl Iterator<Item = &EndingOdds> {
        self.rows.iter().filter(|r| r.count > 0)
    }
}

impl Corpus {
    /// The sentence start step 2 puts a preference on: the lesson's default one when the corpus
    /// has it, else the corpus's first (the default one for an empty corpus).
    pub fn rlhf_prefix(&self) -> &str {
        let prefixes = self.prefixes();
        match prefixes.first() {
            Some(first) if !prefixes.contains(&DEFAULT_PREFIX) => first,
            _ => DEFAULT_PREFIX,
        }
    }

    /// The prefixes, in order of first appearance.
    pub fn prefixes(&self) -> Vec<&str> {
        let mut seen: Vec<&str> = Vec::new();
        for row in &self.rows {
            if !seen.contains(&row.prefix.as_str()) {
                seen.push(&row.prefix);
            }
        }
        seen
    }

    /// Sets row `index`'s count from typed text; on any error nothing changes.
    pub fn set_count(&mut self, index: usize, text: &str) -> Result<(), CorpusError> {
        let count = parse_count(text)?;
        let row = self.rows.get_mut(index).ok_or(CorpusError::NoRow(index))?;
        row.count = count;
        Ok(())
    }

    /// Adds a row. Prefix and ending are trimmed; a prefix with the same words as one the corpus
    /// has (`The best  database is`) joins that one, spelt as the corpus spells it. Refused, with
    /// nothing changed: an empty or over-long prefix or ending ([`prefix_tokens`],
    /// [`check_ending`]), a count above [`MAX_COUNT`], an ending the prefix already has, and a
    /// row past [`MAX_ROWS`].
    pub fn add_row(&mut self, prefix: &str, ending: &str, count: u64) -> Result<(), CorpusError> {
        let ending = ending.trim();
        check_ending(ending)?;
        let tokens = prefix_tokens(prefix.trim())?;
        let prefix = self
            .rows
            .iter()
            .find(|r| tokenize(&r.prefix) == tokens)
            .map_or(prefix.trim(), |r| r.prefix.as_str())
            .to_owned();
        if count > MAX_COUNT {
            return Err(CorpusError::TooLarge(count.to_string()));
        }
        if self
            .rows
            .iter()
            .any(|r| r.prefix == prefix && r.ending == ending)
        {
            return Err(CorpusError::DuplicateEnding {
                prefix,
                ending: ending.into(),
            });
        }
        if self.rows.len() >= MAX_ROWS {
            return Err(CorpusError::TooManyRows);
        }
        self.rows.push(CorpusRow {
            prefix,
            ending: ending.into(),
            count,
        });
        Ok(())
    }

    /// Checks a corpus read from a file or a link against what [`Corpus::add_row`] allows: at
    /// most [`MAX_ROWS`] rows, each with a usable prefix and ending and a count up to
    /// [`MAX_COUNT`]; no ending twice for one prefix; no prefix spelt two ways. Returns the first
    /// problem (a corpus with more than [`MAX_ROWS`] rows is reported at row [`MAX_ROWS`]).
    pub fn check(&self) -> Result<(), RowProblem> {
        let problem = |row, field, error| Err(RowProblem { row, field, error });
        if self.rows.len() > MAX_ROWS {
            return problem(MAX_ROWS, "prefix", CorpusError::TooManyRows);
        }
        // Each distinct spelling's tokens, to find a second spelling of the same words.
        let mut spellings: Vec<(&str, Vec<String>)> = Vec::new();
        for (index, row) in self.rows.iter().enumerate() {
            if let Err(error) = check_ending(row.ending.trim()) {
                return problem(index, "ending", error);
            }
            if row.count > MAX_COUNT {
                return problem(index, "count", CorpusError::TooLarge(row.count.to_string()));
            }
            if !spellings.iter().any(|(p, _)| *p == row.prefix) {
                let tokens = match prefix_tokens(&row.prefix) {
                    Ok(tokens) => tokens,
                    Err(error) => return problem(index, "prefix", error),
                };
                if let Some((existing, _)) = spellings.iter().find(|(_, t)| *t == tokens) {
                    return problem(
                        index,
                        "prefix",
                        CorpusError::SamePrefixWords {
                            prefix: row.prefix.clone(),
                            existing: (*existing).to_owned(),
                        },
                    );
                }
                spellings.push((&row.prefix, tokens));
            }
            if self
                .rows
                .iter()
                .take(index)
                .any(|r| r.prefix == row.prefix && r.ending.trim() == row.ending.trim())
            {
                return problem(
                    index,
                    "ending",
                    CorpusError::DuplicateEnding {
                        prefix: row.prefix.clone(),
                        ending: row.ending.clone(),
                    },
                );
            }
        }
        Ok(())
    }

    /// The closed form for `prefix`.
    pub fn distribution(&self, prefix: &str) -> Distribution {
        let rows: Vec<&CorpusRow> = self.rows.iter().filter(|r| r.prefix == prefix).collect();
        // Saturating: a corpus built in code may skip `check`; the odds must still not panic.
        let total = rows.iter().fold(0u64, |sum, r| sum.saturating_add(r.count));
        let mut prediction: Option<&CorpusRow> = None;
        for row in &rows {
            // Strictly greater: a tie keeps the row listed first.
            if row.count > 0 && prediction.is_none_or(|best| row.count > best.count) {
                prediction = Some(row);
            }
        }
        Distribution {
            rows: rows
                .iter()
                .map(|r| EndingOdds {
                    prefix: r.prefix.clone(),
                    ending: r.ending.clone(),
                    count: r.count,
                    base_logit: (r.count > 0).then(|| (r.count as f64).ln()),
                    probability: if total > 0 {
                        r.count as f64 / total as f64
                    } else {
                        0.0
                    },
                })
                .collect(),
            prediction: prediction.map(|r| r.ending.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_set_the_odds_and_mongodb_wins_by_default() {
        let d = Corpus::default().distribution(DEFAULT_PREFIX);
        assert_eq!(d.prediction.as_deref(), Some("mongodb"));
        assert!((d.rows[0].probability - 5.0 / 11.0).abs() < 1e-12);
        assert!((d.rows[1].base_logit.unwrap() - 3f64.ln()).abs() < 1e-12);
    }

    #[test]
    fn changing_the_data_changes_the_right_answer() {
        let mut corpus = Corpus::default();
        corpus.set_count(1, "9").unwrap();
        assert_eq!(
            corpus.distribution(DEFAULT_PREFIX).prediction.as_deref(),
            Some("postgresql")
        );
    }

    #[test]
    fn ties_go_to_the_row_listed_first() {
        let mut corpus = Corpus::default();
        corpus.set_count(2, "5").unwrap();
        assert_eq!(
            corpus.distribution(DEFAULT_PREFIX).prediction.as_deref(),
            Some("mongodb")
        );
    }

    #[test]
    fn zero_count_leaves_the_vocabulary() {
        let mut corpus = Corpus::default();
        corpus.set_count(3, "0").unwrap();
        let d = corpus.distribution(DEFAULT_PREFIX);
        assert_eq!(d.rows[3].base_logit, None, "ln 0 = −∞");
        assert_eq!(d.vocabulary().count(), 3);
    }

    #[test]
    fn bad_counts_are_refused_and_the_previous_value_kept() {
        let mut corpus = Corpus::default();
        for (text, expected) in [
            ("-2", CorpusError::Negative("-2".into())),
            ("2.5", CorpusError::NotAnInteger("2.5".into())),
            ("lots", CorpusError::NotAnInteger("lots".into())),
            ("", CorpusError::NotAnInteger(String::new())),
            ("NaN", CorpusError::NotAnInteger("NaN".into())),
            (
                "99999999999999999999999",
                CorpusError::TooLarge("99999999999999999999999".into()),
            ),
            ("1000000001", CorpusError::TooLarge("1000000001".into())),
        ] {
            assert_eq!(corpus.set_count(0, text), Err(expected));
            assert_eq!(
                corpus.rows[0].count, 5,
                "after `{text}` the count is unchanged"
            );
        }
        assert_eq!(corpus.set_count(0, " 7 "), Ok(()));
        assert_eq!(corpus.rows[0].count, 7);
    }

    #[test]
    fn duplicate_and_empty_endings_are_refused() {
        let mut corpus = Corpus::default();
        assert!(matches!(
            corpus.add_row(DEFAULT_PREFIX, "mongodb", 1),
            Err(CorpusError::DuplicateEnding { .. })
        ));
        assert_eq!(
            corpus.add_row(DEFAULT_PREFIX, "  ", 1),
            Err(CorpusError::EmptyEnding)
        );
        corpus.add_row("the best language is", "python", 4).unwrap();
        assert_eq!(corpus.prefixes(), [DEFAULT_PREFIX, "the best language is"]);
        assert_eq!(
            corpus
                .distribution("the best language is")
                .prediction
                .as_deref(),
            Some("python")
        );
    }
}
