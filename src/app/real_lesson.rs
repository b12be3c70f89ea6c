//! A real model beside the lesson model: the loaded file, and steps 1 and 2 of a scene computed
//! on it (`gaze inspect --model FILE --scene S` prints them; `app::inspect_model`).
//!
//! Steps 1 and 2 need the model's chain-rule probability of every corpus ending
//! (`model::llm::lesson`): a forward pass over each prefix and a token at a time per ending.
//! [`OddsKey`] is what those odds depend on — each prefix, its endings, step 2's prefix and the
//! preferred ending — so a count, the strength or a reward (which the closed forms take from the
//! odds at once) never needs the model again.

use std::sync::Arc;

use crate::app::background::Latest;
use crate::model::corpus::Corpus;
use crate::model::llm::gguf::GgufFile;
use crate::model::llm::lesson::{rlhf_on_model, PrefixOdds, TOP_NEXT_TOKENS};
pub use crate::model::llm::lesson::{RealLayer, RealLayerError, LENS_TOP};
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
    /// The file's size in bytes (the top bar prints it).
    pub bytes: u64,
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
            bytes: file.len() as u64,
        })
    }

    /// What the model was trained on, in one line, where Gaze knows this file (a GGUF file
    /// records no training data, so it is keyed by the file's SHA-256).
    pub fn trained_on(&self) -> Option<&'static str> {
        trained_on(&self.identity.sha256)
    }
}

/// The SHA-256 of SmolLM2-135M-Instruct (Q4_1) as `tools/fetch-models.sh` fetches it.
pub const SMOLLM2_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

/// What the model in the file with this SHA-256 was trained on, in one line (the model card's
/// words: huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct); `None` for a file Gaze does not
/// know.
pub fn trained_on(sha256: &str) -> Option<&'static str> {
    (sha256 == SMOLLM2_SHA256).then_some(
        "SmolLM2-135M was pretrained on 2 trillion tokens of web pages, code and maths \
         (FineWeb-Edu, DCLM, The Stack and others), then instruction-tuned: its odds come from \
         that text, not from your corpus, and not from what is true.",
    )
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

impl OddsKey {
    /// Whether these are the odds `scene` needs (compared field by field: nothing is built, so
    /// a frame can ask).
    pub fn matches(&self, scene: &Scene) -> bool {
        let corpus = &scene.corpus;
        if self.rlhf_prefix != corpus.rlhf_prefix() || self.preferred != scene.rlhf.preferred.trim()
        {
            return false;
        }
        let rows = &corpus.rows;
        if rows.len() != self.prefixes.iter().map(|(_, e)| e.len()).sum::<usize>() {
            return false;
        }
        // Each row must be the next ending of its prefix, and each prefix must first appear in
        // the key's order (`Corpus::prefixes` is first-appearance order).
        let mut prefixes_seen = 0;
        for (index, row) in rows.iter().enumerate() {
            let Some(p) = self.prefixes.iter().position(|(x, _)| *x == row.prefix) else {
                return false;
            };
            if p > prefixes_seen {
                return false;
            }
            if p == prefixes_seen {
                prefixes_seen += 1;
            }
            let before = rows
                .iter()
                .take(index)
                .filter(|r| r.prefix == row.prefix)
                .count();
            let expected = self.prefixes.get(p).and_then(|(_, e)| e.get(before));
            if expected != Some(&row.ending) {
                return false;
            }
        }
        prefixes_seen == self.prefixes.len()
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

/// Steps 1 and 2's real odds for the scene on screen, computed off the frame (a forward pass per
/// prefix and a token at a time per ending is seconds of CPU for SmolLM2) and shown only for
/// the scene and model they were computed for.
pub type OddsWorker = Latest<OddsKey, Vec<PrefixOdds>>;

/// Brings `worker` toward `scene`'s odds on `loaded` (with `wait`, waits for them).
pub fn update_odds(worker: &mut OddsWorker, loaded: &LoadedModel, scene: &Scene, wait: bool) {
    let model = loaded.model.clone();
    worker.update(
        &loaded.identity.sha256,
        |key| key.matches(scene),
        || OddsKey::of(scene),
        move |key| compute_odds(&model, key).map_err(|e| e.to_string()),
        wait,
    );
}

/// What step 3's real maps depend on: the sentence, the focus (whose residual stream the lens
/// reads) and the layer (every head of it is kept, so picking a head, the scale or hiding the
/// first token needs no new forward pass).
#[derive(Clone, Debug, PartialEq)]
pub struct LayerKey {
    /// The sentence.
    pub sentence: String,
    /// The focus token (clamped to the last token the model reads).
    pub focus: usize,
    /// The layer, 0-based.
    pub layer: usize,
}

impl LayerKey {
    /// The key of `scene`.
    pub fn of(scene: &Scene) -> Self {
        Self {
            sentence: scene.attention.sentence.clone(),
            focus: scene.attention.focus,
            layer: scene.attention.layer,
        }
    }

    /// Whether these are the maps `scene` needs (nothing built: a frame can ask).
    pub fn matches(&self, scene: &Scene) -> bool {
        let view = &scene.attention;
        self.sentence == view.sentence && self.focus == view.focus && self.layer == view.layer
    }
}

/// Runs the sentence of `key` through `model` on the CPU reference, keeping every head of the
/// layer and the focus's residual stream after each layer.
pub fn compute_layer(model: &LlamaModel, key: &LayerKey) -> Result<RealLayer, RealLayerError> {
    model.layer_attention(&key.sentence, key.focus, key.layer)
}

/// Step 3's real layer for the scene on screen, computed off the frame.
pub type LayerWorker = Latest<LayerKey, RealLayer>;

/// Brings `worker` toward `scene`'s layer on `loaded` (with `wait`, waits for it).
pub fn update_layer(worker: &mut LayerWorker, loaded: &LoadedModel, scene: &Scene, wait: bool) {
    let model = loaded.model.clone();
    worker.update(
        &loaded.identity.sha256,
        |key| key.matches(scene),
        || LayerKey::of(scene),
        move |key| compute_layer(&model, key).map_err(|e| e.to_string()),
        wait,
    );
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

    /// The key a frame compares without building anything: equal to rebuilding it, blind to
    /// counts, rewards and the strength, and changed by anything the model's odds depend on.
    #[test]
    fn the_odds_key_matches_its_scene_until_a_start_an_ending_or_the_preference_changes() {
        let mut scene = Scene::default();
        scene
            .corpus
            .add_row("my favourite editor is", "vim", 3)
            .unwrap();
        scene
            .corpus
            .add_row(scene.corpus.rlhf_prefix().to_owned().as_str(), "duckdb", 1)
            .unwrap();
        let key = OddsKey::of(&scene);
        assert!(key.matches(&scene));
        let mut same = scene.clone();
        same.corpus.rows[0].count += 7;
        same.rlhf.strength = 0.9;
        same.rlhf.reward_chosen = -3.0;
        same.rlhf.preferred = format!(" {} ", same.rlhf.preferred);
        assert!(key.matches(&same), "counts, rewards, strength, spaces");
        let changes: [fn(&mut Scene); 5] = [
            |s| s.corpus.rows[1].ending = "postgres".into(),
            |s| s.corpus.rows.swap(0, 1),
            |s| {
                s.corpus.rows.pop();
            },
            |s| s.rlhf.preferred = "sqlite".into(),
            |s| s.corpus.rows[0].prefix = "the worst database is".into(),
        ];
        for (index, change) in changes.iter().enumerate() {
            let mut changed = scene.clone();
            change(&mut changed);
            assert!(!key.matches(&changed), "change {index}");
            assert!(
                OddsKey::of(&changed).matches(&changed),
                "change {index} rebuilt"
            );
        }
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
