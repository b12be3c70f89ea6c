//! A real model beside the lesson model: the loaded file, and steps 1 and 2 of a scene computed
//! on it (`gaze inspect --model FILE --scene S` prints them; `app::inspect_model`).
//!
//! Steps 1 and 2 need the model's chain-rule probability of every corpus ending
//! (`model::llm::lesson`): a forward pass over each prefix and a token at a time per ending.
//! [`OddsKey`] is what those odds depend on — each prefix, its endings, step 2's prefix and the
//! preferred ending — so a count, the strength or a reward (which the closed forms take from the
//! odds at once) never needs the model again.

use std::sync::Arc;

use crate::model::corpus::Corpus;
use crate::model::llm::gguf::GgufFile;
use crate::model::llm::lesson::{rlhf_on_model, PrefixOdds, TOP_NEXT_TOKENS};
use crate::model::llm::{LlamaModel, LlmError};
use crate::model::rlhf::{Rewards, RlhfError, RlhfOutcome};
use crate::scene::{ModelFile, Scene};

/// A real model loaded from a file, with the file's identity as a scene records it.
#[derive(Clone, Debug)]
pub struct LoadedModel {
    /// The model.
    pub model: Arc<LlamaModel>,
    /// The file as a scene names it.
    pub identity: ModelFile,
}

impl LoadedModel {
    /// The model in `file`, which was read from a file called `file_name`.
    pub fn from_gguf(file: &GgufFile, file_name: &str) -> Result<Self, LlmError> {
        Ok(Self {
            model: Arc::new(LlamaModel::from_gguf(file)?),
            identity: ModelFile {
                file: file_name.to_owned(),
                sha256: file.sha256(),
            },
        })
    }
}

/// What the real odds depend on: each prefix with its endings, in order, and the preferred
/// ending (the model knows every word, so a preference outside the corpus gets its odds too).
#[derive(Clone, Debug, PartialEq)]
pub struct OddsKey {
    /// `(prefix, endings)` in corpus order.
    pub prefixes: Vec<(String, Vec<String>)>,
    /// The prefix step 2 puts the preference on ([`Corpus::rlhf_prefix`]).
    pub rlhf_prefix: String,
    /// Step 2's preferred ending, trimmed.
    pub preferred: String,
}

impl OddsKey {
    /// The key of `scene`.
    pub fn of(scene: &Scene) -> Self {
        let corpus = &scene.corpus;
        Self {
            prefixes: corpus
                .prefixes()
                .into_iter()
                .map(|p| (p.to_owned(), endings_of(corpus, p)))
                .collect(),
            rlhf_prefix: corpus.rlhf_prefix().to_owned(),
            preferred: scene.rlhf.preferred.trim().to_owned(),
        }
    }
}

fn endings_of(corpus: &Corpus, prefix: &str) -> Vec<String> {
    corpus
        .rows
        .iter()
        .filter(|r| r.prefix == prefix)
        .map(|r| r.ending.clone())
        .collect()
}

/// Every prefix's odds for `key`, in corpus order; step 2's prefix's also for the preferred
/// ending (and that prefix itself when the corpus lacks it: an empty corpus still has the
/// lesson's sentence start).
pub fn compute_odds(model: &LlamaModel, key: &OddsKey) -> Result<Vec<PrefixOdds>, LlmError> {
    let mut prefixes: Vec<(&str, Vec<&str>)> = key
        .prefixes
        .iter()
        .map(|(prefix, endings)| {
            (
                prefix.as_str(),
                endings.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    if !prefixes.iter().any(|(p, _)| *p == key.rlhf_prefix) {
        prefixes.push((&key.rlhf_prefix, Vec::new()));
    }
    for (prefix, endings) in &mut prefixes {
        let preferred = key.preferred.as_str();
        if *prefix == key.rlhf_prefix && !preferred.is_empty() && !endings.contains(&preferred) {
            endings.push(preferred);
        }
    }
    prefixes
        .iter()
        .map(|(prefix, endings)| model.prefix_odds(prefix, endings, TOP_NEXT_TOKENS))
        .collect()
}

/// Step 2 over the model's base: RLHF's closed form on step 2's prefix's endings (and the
/// preferred one), each base logit the ending's chain-rule `log p(ending | prefix)`, the winner
/// the model's own likeliest ending.
pub fn real_rlhf(scene: &Scene, odds: &[PrefixOdds]) -> Result<RlhfOutcome, RlhfError> {
    let prefix = scene.corpus.rlhf_prefix();
    let Some(odds) = odds.iter().find(|o| o.prefix == prefix) else {
        return Err(RlhfError::NoVocabulary);
    };
    let rewards = Rewards {
        chosen: scene.rlhf.reward_chosen,
        winner: scene.rlhf.reward_winner,
    };
    rlhf_on_model(odds, &scene.rlhf.preferred, scene.rlhf.strength, rewards)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::llm::synthetic::{synthetic_model, SyntheticSpec};

    fn model() -> LlamaModel {
        synthetic_model(&SyntheticSpec::default()).unwrap()
    }

    /// The lesson refuses a preference the corpus never saw; a real model knows every word, so
    /// a typed one gets its chain-rule odds and joins step 2's candidates.
    #[test]
    fn a_preference_outside_the_corpus_gets_the_models_odds_and_can_win() {
        let model = model();
        let mut scene = Scene::default();
        scene.rlhf.preferred = "cassandra".into();
        scene.rlhf.strength = 1.0;
        let key = OddsKey::of(&scene);
        let odds = compute_odds(&model, &key).unwrap();
        assert_eq!(odds.len(), 1);
        let endings: Vec<&str> = odds[0].endings.iter().map(|e| e.ending.as_str()).collect();
        assert_eq!(
            endings,
            ["mongodb", "postgresql", "mysql", "sqlite", "cassandra"]
        );
        let outcome = real_rlhf(&scene, &odds).unwrap();
        assert_eq!(
            outcome.prediction, "cassandra",
            "at full strength the reward decides"
        );
        let lesson = crate::model::rlhf::apply(
            &scene.corpus.distribution(scene.corpus.rlhf_prefix()),
            "cassandra",
            1.0,
            Rewards::default(),
        );
        assert!(lesson.is_err(), "the lesson's corpus never saw it");
    }

    #[test]
    fn an_empty_corpus_still_has_the_lessons_sentence_start() {
        let model = model();
        let mut scene = Scene::default();
        scene.corpus.rows.clear();
        let odds = compute_odds(&model, &OddsKey::of(&scene)).unwrap();
        assert_eq!(odds.len(), 1);
        assert_eq!(odds[0].prefix, crate::model::corpus::DEFAULT_PREFIX);
        assert_eq!(odds[0].endings.len(), 1, "the preferred ending only");
        assert_eq!(odds[0].top.len(), TOP_NEXT_TOKENS);
    }
}
