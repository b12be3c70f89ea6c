//! The scene: the serializable state of a lesson view, and the public scene-file format
//! (DESIGN.md §6). People write these by hand and script them, so names are kept; fields are only
//! ever added.
//!
//! Every field but `version` is optional and a missing one takes the lesson's default. Sections
//! this build does not read (anything unknown) are kept aside and reported as ignored, never
//! silently dropped.
//!
//! Two ways in: [`Scene::open`] is for files people hand the app (the command line's `--scene`,
//! "open scene file…", the shipped lessons): it reads what it can — a missing or different
//! `version`, unknown fields at any depth — and returns a [`LoadNote`] for everything it did not
//! read, so a lecturer's hand-written file opens and says what was skipped. [`Scene::from_json`] is
//! the strict reading for callers that must not guess: it refuses a missing or different version.
//! Both refuse a value out of range ([`SceneError::Invalid`]); nothing is loaded then.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::model::context::{Example, Level, ARCHIVE_NAME, MAX_CONTEXT_TOKENS, SAMPLE_DOCUMENTS};
use crate::model::corpus::{Corpus, MAX_COUNT};
use crate::model::lesson::WeightEdit;
use crate::model::positions::Positions;

/// The scene-file version this build reads and writes.
pub const SCENE_VERSION: u32 = 1;

/// Problems with a scene file, each naming what to fix.
#[derive(Debug, Error)]
pub enum SceneError {
    /// Not JSON, or a field of the wrong type.
    #[error("the scene is not valid: {0}")]
    Json(#[from] serde_json::Error),
    /// No `version` field.
    #[error("the scene has no \"version\" field (this build writes version {SCENE_VERSION})")]
    MissingVersion,
    /// A version this build cannot read.
    #[error("the scene is version {found}; this build reads version {SCENE_VERSION}")]
    Version {
        /// The file's version.
        found: u32,
    },
    /// A field with a value outside its range.
    #[error("the scene's \"{field}\" is {value}: {expected}")]
    Invalid {
        /// The field, e.g. `attention.heads`.
        field: &'static str,
        /// The value found.
        value: String,
        /// What is allowed.
        expected: &'static str,
    },
    /// A file that cannot join the knowledge base.
    #[error("{name} was not added to the knowledge base: {reason}")]
    Document {
        /// The file name.
        name: String,
        /// Why.
        reason: String,
    },
}

/// The largest document the knowledge base takes, in bytes (a long policy is ~100 kB; the RAG
/// step's budget is ~10k tokens).
pub const MAX_DOCUMENT_BYTES: usize = 2 * 1024 * 1024;

/// A document that joined the knowledge base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DocumentAdded {
    /// Its name.
    pub name: String,
    /// Its length in words (whitespace-separated).
    pub words: usize,
    /// Documents in the knowledge base now.
    pub documents: usize,
    /// Whether it replaced a document of the same name.
    pub replaced: bool,
}

impl std::fmt::Display for DocumentAdded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.replaced { "updated" } else { "added" };
        write!(
            f,
            "{verb} {} ({} words) in the knowledge base: {} document{} for step 4's retrieval",
            self.name,
            self.words,
            self.documents,
            if self.documents == 1 { "" } else { "s" }
        )
    }
}

/// Step 3's view: the sentence, its focus and the honesty-check switches.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AttentionScene {
    /// The sentence, tokenized by `model::tokenizer`.
    pub sentence: String,
    /// Index of the focused token.
    pub focus: usize,
    /// How many heads to show: 1, 2 or 4.
    pub heads: usize,
    /// Positional encoding.
    pub positions: Positions,
    /// Causal mask on.
    pub causal: bool,
    /// Residual + layer norm on.
    pub residual_norm: bool,
    /// The user's edits to the lesson model's weights, applied in order.
    pub weight_edits: Vec<WeightEdit>,
}

impl Default for AttentionScene {
    fn default() -> Self {
        Self {
            sentence: "the best database is".into(),
            focus: 3,
            heads: 1,
            positions: Positions::None,
            causal: false,
            residual_norm: false,
            weight_edits: Vec::new(),
        }
    }
}

/// Step 2's state: the human preference and how much it counts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RlhfScene {
    /// The human-preferred ending.
    pub preferred: String,
    /// s ∈ [0, 1]: "how much should the model listen to humans?"
    pub strength: f64,
    /// R(preferred).
    pub reward_chosen: f64,
    /// R(pretraining winner), when it is not the preferred one.
    pub reward_winner: f64,
}

impl Default for RlhfScene {
    fn default() -> Self {
        Self {
            preferred: "postgresql".into(),
            strength: 0.5,
            reward_chosen: crate::model::rlhf::DEFAULT_REWARD_CHOSEN,
            reward_winner: crate::model::rlhf::DEFAULT_REWARD_WINNER,
        }
    }
}

/// A document of the knowledge base the user added (or edited: a sample document edited in the
/// app is kept here under its own name and replaces the shipped one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Document {
    /// File name, e.g. `policy.md`.
    pub name: String,
    /// Its text.
    pub text: String,
}

/// Step 4's state (DESIGN §6 `context`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ContextScene {
    /// 1 self-attention, 2 in-context learning, 3 RAG.
    pub level: u8,
    /// Level 2's few-shot examples.
    pub examples: Vec<Example>,
    /// Level 2's new review.
    pub review: String,
    /// Level 3's question.
    pub question: String,
    /// The user's documents (and edited sample ones), by name.
    pub documents: Vec<Document>,
    /// Level 3's context budget in tokens.
    pub budget_tokens: usize,
    /// Whether level 3 also retrieves from the generated ticket archive (~12k tokens).
    pub archive: bool,
}

impl Default for ContextScene {
    fn default() -> Self {
        Self {
            level: 2,
            examples: crate::model::context::default_examples(),
            review: crate::model::context::DEFAULT_REVIEW.into(),
            question: crate::model::context::DEFAULT_QUESTION.into(),
            documents: Vec::new(),
            budget_tokens: crate::model::context::DEFAULT_BUDGET,
            archive: true,
        }
    }
}

impl ContextScene {
    /// The level, 1–3 (validated scenes hold no other).
    pub fn level(&self) -> Level {
        Level::from_number(self.level).unwrap_or(Level::InContext)
    }

    /// The knowledge base's documents, (name, text): the shipped samples — each replaced by the
    /// user's document of the same name — then the archive if on, then the user's others.
    pub fn knowledge_base_documents(&self, archive: &str) -> Vec<(String, String)> {
        let user = |name: &str| self.documents.iter().find(|d| d.name == name);
        let mut documents: Vec<(String, String)> = SAMPLE_DOCUMENTS
            .iter()
            .map(|(name, text)| {
                let text = user(name).map_or(*text, |d| d.text.as_str());
                ((*name).to_owned(), text.to_owned())
            })
            .collect();
        if self.archive {
            documents.push((ARCHIVE_NAME.to_owned(), archive.to_owned()));
        }
        documents.extend(
            self.documents
                .iter()
                .filter(|d| !SAMPLE_DOCUMENTS.iter().any(|(name, _)| *name == d.name))
                .map(|d| (d.name.clone(), d.text.clone())),
        );
        documents
    }

    /// Sets a document's text (adding it under `name` if it is new or a shipped sample).
    pub fn set_document(&mut self, name: &str, text: String) {
        match self.documents.iter_mut().find(|d| d.name == name) {
            Some(document) => document.text = text,
            None => self.documents.push(Document {
                name: name.to_owned(),
                text,
            }),
        }
    }
}

/// The whole scene.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scene {
    /// Format version.
    pub version: u32,
    /// Lesson step, 1–4.
    pub step: u8,
    /// Step 1's corpus.
    pub corpus: Corpus,
    /// Step 2's preference.
    pub rlhf: RlhfScene,
    /// Step 3's state.
    pub attention: AttentionScene,
    /// Step 4's state.
    pub context: ContextScene,
    /// Sections and fields this build does not read, kept so nothing the user wrote is lost.
    #[serde(flatten)]
    pub ignored: BTreeMap<String, serde_json::Value>,
}

impl Default for Scene {
    fn default() -> Self {
        Self {
            version: SCENE_VERSION,
            step: 3,
            corpus: Corpus::default(),
            rlhf: RlhfScene::default(),
            attention: AttentionScene::default(),
            context: ContextScene::default(),
            ignored: BTreeMap::new(),
        }
    }
}

#[derive(Deserialize)]
struct RawScene {
    version: Option<u32>,
    step: Option<u8>,
    corpus: Option<Corpus>,
    rlhf: Option<RlhfScene>,
    attention: Option<AttentionScene>,
    context: Option<ContextScene>,
    #[serde(flatten)]
    rest: BTreeMap<String, serde_json::Value>,
}

/// Allowed head counts.
pub const HEAD_CHOICES: [usize; 3] = [1, 2, 4];

/// Something [`Scene::open`] read differently from what the file says, or did not read at all.
/// Each is shown to the person who opened the file (the app's message line, `gaze: …` on
/// stderr), so its text is a plain sentence naming the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LoadNote {
    /// The file has no `version`; it was read as this build's version.
    NoVersion,
    /// The file is another version, older or newer; what this build knows was read.
    OtherVersion {
        /// The file's version.
        found: u32,
    },
    /// A top-level section this build does not read; it is kept in [`Scene::ignored`] and saved
    /// back unchanged.
    KeptSection {
        /// The section's name, e.g. `presenter`.
        name: String,
    },
    /// A field inside a known section that this build does not read; it is dropped, so saving
    /// the scene will not write it.
    IgnoredField {
        /// Its path, e.g. `attention.colour` or `corpus.rows[2].weight`.
        path: String,
    },
}

impl std::fmt::Display for LoadNote {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadNote::NoVersion => write!(
                f,
                "the scene has no version; it was read as version {SCENE_VERSION}"
            ),
            LoadNote::OtherVersion { found } => {
                let age = if *found < SCENE_VERSION {
                    "older"
                } else {
                    "newer"
                };
                write!(
                    f,
                    "the scene is version {found}, {age} than the version {SCENE_VERSION} this \
                     build reads; the fields version {SCENE_VERSION} knows were read, and saving \
                     writes version {SCENE_VERSION}"
                )
            }
            LoadNote::KeptSection { name } => write!(
                f,
                "this build does not read the scene section \"{name}\"; it was kept as written \
                 and is saved with the scene"
            ),
            LoadNote::IgnoredField { path } => write!(
                f,
                "this build does not read \"{path}\"; it was ignored and will not be saved"
            ),
        }
    }
}

/// A scene [`Scene::open`] read, with what the user should be told about it.
#[derive(Clone, Debug, PartialEq)]
pub struct OpenedScene {
    /// The scene, validated.
    pub scene: Scene,
    /// Everything not read as written: version, kept sections, ignored fields (in that order;
    /// fields by path, alphabetically). Empty for a file this build reads whole.
    pub notes: Vec<LoadNote>,
}

impl OpenedScene {
    /// The notes as one line for a message area, or `None` when there are none.
    pub fn notes_line(&self) -> Option<String> {
        (!self.notes.is_empty()).then(|| {
            self.notes
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        })
    }
}

/// Adds to `out` the path of every key in `written` that `read` lacks, recursing into objects
/// present in both and into arrays element by element. `read` is the typed scene serialized
/// again, so a key it lacks is one serde skipped: a field this build does not know.
fn unread_fields(
    written: &serde_json::Value,
    read: &serde_json::Value,
    path: &str,
    out: &mut Vec<String>,
) {
    use serde_json::Value;
    match (written, read) {
        (Value::Object(written), Value::Object(read)) => {
            for (key, value) in written {
                let here = if path.is_empty() {
                    key.clone()
                } else {
                    format!("{path}.{key}")
                };
                match read.get(key) {
                    Some(read_value) => unread_fields(value, read_value, &here, out),
                    None => out.push(here),
                }
            }
        }
        (Value::Array(written), Value::Array(read)) => {
            for (index, (value, read_value)) in written.iter().zip(read).enumerate() {
                unread_fields(value, read_value, &format!("{path}[{index}]"), out);
            }
        }
        _ => {}
    }
}

impl Scene {
    /// The scene of a parsed file, its missing sections at the lesson's defaults, stamped with
    /// `version` (not yet validated).
    fn from_raw(raw: RawScene, version: u32) -> Self {
        Scene {
            version,
            step: raw.step.unwrap_or(3),
            corpus: raw.corpus.unwrap_or_default(),
            rlhf: raw.rlhf.unwrap_or_default(),
            attention: raw.attention.unwrap_or_default(),
            context: raw.context.unwrap_or_default(),
            ignored: raw.rest,
        }
    }

    /// Parses and checks a scene file, strictly: a missing `version` or one other than
    /// [`SCENE_VERSION`] is refused, for callers that must not guess. Unknown top-level sections
    /// are kept in [`Scene::ignored`]; unknown fields inside sections are dropped without a word.
    /// Files people hand the app go through [`Scene::open`] instead, which reads them leniently
    /// and names everything it skipped.
    pub fn from_json(text: &str) -> Result<Self, SceneError> {
        let raw: RawScene = serde_json::from_str(text)?;
        let version = raw.version.ok_or(SceneError::MissingVersion)?;
        if version != SCENE_VERSION {
            return Err(SceneError::Version { found: version });
        }
        let scene = Self::from_raw(raw, version);
        scene.validate()?;
        Ok(scene)
    }

    /// Opens a scene file as a person wrote it: reads everything this build knows and returns a
    /// [`LoadNote`] for everything else, so a file from another version, or with a field added
    /// by hand, still opens and says what was skipped. A missing `version` is read as
    /// [`SCENE_VERSION`]; another version is read as far as its fields match this one's. The
    /// scene comes back stamped with [`SCENE_VERSION`], which is what saving writes.
    ///
    /// Still refused, with nothing loaded: text that is not JSON, a known field of the wrong type
    /// ([`SceneError::Json`]), and a value out of range ([`SceneError::Invalid`]).
    pub fn open(text: &str) -> Result<OpenedScene, SceneError> {
        let raw: RawScene = serde_json::from_str(text)?;
        // Parsed twice: the typed parse above gives errors with line and column, this one is
        // what the typed scene is compared against to find the fields it skipped.
        let written: serde_json::Value = serde_json::from_str(text)?;
        let mut notes = Vec::new();
        match raw.version {
            None => notes.push(LoadNote::NoVersion),
            Some(found) if found != SCENE_VERSION => notes.push(LoadNote::OtherVersion { found }),
            Some(_) => {}
        }
        let scene = Self::from_raw(raw, SCENE_VERSION);
        scene.validate()?;
        notes.extend(
            scene
                .ignored
                .keys()
                .map(|name| LoadNote::KeptSection { name: name.clone() }),
        );
        let read = serde_json::to_value(&scene)?;
        let mut unread = Vec::new();
        unread_fields(&written, &read, "", &mut unread);
        notes.extend(
            unread
                .into_iter()
                .map(|path| LoadNote::IgnoredField { path }),
        );
        Ok(OpenedScene { scene, notes })
    }

    /// Checks every field against its range, naming the first that is out of it.
    pub fn validate(&self) -> Result<(), SceneError> {
        let scene = self;
        if !(1..=4).contains(&scene.step) {
            return Err(SceneError::Invalid {
                field: "step",
                value: scene.step.to_string(),
                expected: "a lesson step from 1 to 4",
            });
        }
        if !HEAD_CHOICES.contains(&scene.attention.heads) {
            return Err(SceneError::Invalid {
                field: "attention.heads",
                value: scene.attention.heads.to_string(),
                expected: "1, 2 or 4",
            });
        }
        let rlhf = &scene.rlhf;
        if !(0.0..=1.0).contains(&rlhf.strength) {
            return Err(SceneError::Invalid {
                field: "rlhf.strength",
                value: rlhf.strength.to_string(),
                expected: "a strength from 0 to 1",
            });
        }
        for (field, value) in [
            ("rlhf.reward_chosen", rlhf.reward_chosen),
            ("rlhf.reward_winner", rlhf.reward_winner),
        ] {
            if !value.is_finite() {
                return Err(SceneError::Invalid {
                    field,
                    value: value.to_string(),
                    expected: "a finite number",
                });
            }
        }
        if Level::from_number(scene.context.level).is_none() {
            return Err(SceneError::Invalid {
                field: "context.level",
                value: scene.context.level.to_string(),
                expected: "1 (self-attention), 2 (in-context learning) or 3 (RAG)",
            });
        }
        if !(1..=MAX_CONTEXT_TOKENS).contains(&scene.context.budget_tokens) {
            return Err(SceneError::Invalid {
                field: "context.budget_tokens",
                value: scene.context.budget_tokens.to_string(),
                expected: "a budget from 1 to 16384 tokens",
            });
        }
        if let Some(row) = scene.corpus.rows.iter().find(|r| r.count > MAX_COUNT) {
            return Err(SceneError::Invalid {
                field: "corpus.rows[].count",
                value: row.count.to_string(),
                expected: "a whole number from 0 to 1000000000",
            });
        }
        Ok(())
    }

    /// The scene as pretty JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Adds a dropped `.md` or `.txt` file to the knowledge base, `context.documents` (DESIGN §6),
    /// replacing a document of the same name. Anything else — another kind of file, more than
    /// [`MAX_DOCUMENT_BYTES`], not UTF-8 (a binary file), no words — is refused with the reason,
    /// and the scene is left as it was.
    pub fn add_document(
        &mut self,
        name: &str,
        bytes: Vec<u8>,
    ) -> Result<DocumentAdded, SceneError> {
        let refuse = |reason: String| SceneError::Document {
            name: name.to_owned(),
            reason,
        };
        let lower = name.to_lowercase();
        if !(lower.ends_with(".md") || lower.ends_with(".txt")) {
            return Err(refuse("only .md and .txt files are read".into()));
        }
        if bytes.len() > MAX_DOCUMENT_BYTES {
            return Err(refuse(format!(
                "it is {} bytes; the largest is {MAX_DOCUMENT_BYTES}",
                bytes.len()
            )));
        }
        let text = String::from_utf8(bytes).map_err(|_| refuse("it is not UTF-8 text".into()))?;
        let words = text.split_whitespace().count();
        if words == 0 {
            return Err(refuse("it is empty".into()));
        }
        let documents = &mut self.context.documents;
        let existing = documents.iter().position(|d| d.name == name);
        let replaced = existing.is_some();
        let document = Document {
            name: name.to_owned(),
            text,
        };
        match existing {
            Some(i) => documents[i] = document,
            None => documents.push(document),
        }
        Ok(DocumentAdded {
            name: name.to_owned(),
            words,
            documents: documents.len(),
            replaced,
        })
    }

    /// Top-level sections this build kept but did not read, for a message to the user.
    pub fn ignored_sections(&self) -> Vec<&str> {
        self.ignored.keys().map(String::as_str).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_fields_take_the_lesson_defaults() {
        let scene = Scene::from_json(r#"{ "version": 1 }"#).unwrap();
        assert_eq!(scene, Scene::default());
        let scene =
            Scene::from_json(r#"{ "version": 1, "attention": { "causal": true } }"#).unwrap();
        assert!(scene.attention.causal);
        assert_eq!(scene.attention.sentence, "the best database is");
    }

    #[test]
    fn save_then_load_round_trips_exactly() {
        let mut scene = Scene::default();
        scene.attention.sentence = "the best language is".into();
        scene.attention.positions = Positions::Rope;
        scene.attention.heads = 4;
        scene
            .ignored
            .insert("presenter".into(), serde_json::json!({ "zoom": 3 }));
        scene.context.level = 3;
        scene.context.examples[1].label = "positive".into();
        scene
            .context
            .set_document("faq.md", "Refunds take five days.".into());
        scene.rlhf.strength = 0.75;
        scene
            .corpus
            .add_row("the best language is", "python", 4)
            .unwrap();
        assert_eq!(Scene::from_json(&scene.to_json()).unwrap(), scene);
    }

    #[test]
    fn sections_not_read_yet_are_kept_and_reported() {
        let scene = Scene::from_json(
            r#"{ "version": 1, "presenter": { "level": 2 }, "rlhf": { "strength": 0.25 } }"#,
        )
        .unwrap();
        assert_eq!(scene.ignored_sections(), ["presenter"]);
        assert_eq!(scene.rlhf.strength, 0.25);
        assert!(
            scene.to_json().contains("\"level\": 2"),
            "nothing the user wrote is lost"
        );
    }

    #[test]
    fn corpus_and_rlhf_sections_are_read_and_checked() {
        let scene = Scene::from_json(
            r#"{ "version": 1, "corpus": { "rows": [ { "prefix": "p", "ending": "x", "count": 2 } ] },
                 "rlhf": { "preferred": "x", "strength": 1.0 } }"#,
        )
        .unwrap();
        assert_eq!(scene.corpus.rows[0].count, 2);
        assert_eq!(scene.rlhf.preferred, "x");
        let message = |text: &str| Scene::from_json(text).unwrap_err().to_string();
        assert!(message(r#"{ "version": 1, "rlhf": { "strength": 2 } }"#).contains("rlhf.strength"));
        let negative = r#"{ "version": 1, "corpus": { "rows": [ { "prefix": "p", "ending": "x", "count": -1 } ] } }"#;
        assert!(message(negative).contains("not valid"));
        let fraction = r#"{ "version": 1, "corpus": { "rows": [ { "prefix": "p", "ending": "x", "count": 1.5 } ] } }"#;
        assert!(message(fraction).contains("not valid"));
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let message = |text: &str| Scene::from_json(text).unwrap_err().to_string();
        assert!(message("{").contains("not valid"));
        assert!(message(r#"{ "step": 3 }"#).contains("\"version\""));
        assert!(message(r#"{ "version": 9 }"#).contains("version 9"));
        assert!(
            message(r#"{ "version": 1, "attention": { "heads": 3 } }"#).contains("attention.heads")
        );
        assert!(
            message(r#"{ "version": 1, "attention": { "positions": "alibi" } }"#).contains("alibi")
        );
        assert!(message(r#"{ "version": 1, "step": 7 }"#).contains("step"));
        assert!(message(r#"{ "version": 1, "context": { "level": 4 } }"#).contains("context.level"));
        assert!(
            message(r#"{ "version": 1, "context": { "budget_tokens": 20000 } }"#)
                .contains("context.budget_tokens")
        );
    }

    /// A scene with every section away from the lesson's defaults, documents and examples
    /// included, and a section this build does not read.
    fn everything_edited() -> Scene {
        let mut scene = Scene {
            step: 2,
            ..Scene::default()
        };
        scene
            .corpus
            .add_row("the best language is", "python", 4)
            .unwrap();
        scene.rlhf = RlhfScene {
            preferred: "mysql".into(),
            strength: 0.75,
            reward_chosen: 2.5,
            reward_winner: -0.25,
        };
        scene.attention = AttentionScene {
            sentence: "it is the best database".into(),
            focus: 1,
            heads: 4,
            positions: Positions::Rope,
            causal: true,
            residual_norm: true,
            weight_edits: vec![WeightEdit {
                head: 1,
                matrix: crate::model::lesson::Projection::WK,
                feature: "quality".into(),
                dim: "description".into(),
                value: 0.7,
            }],
        };
        scene.context.level = 3;
        scene.context.examples[1].label = "positive".into();
        scene
            .context
            .examples
            .push(Example::new("broke in a day", "negative"));
        scene.context.review = "arrived late".into();
        scene.context.question = "how long do refunds take?".into();
        scene.context.set_document(
            "faq.md",
            "Refunds take five days.\n\n# Returns\nAlways.".into(),
        );
        scene.context.budget_tokens = 2000;
        scene.context.archive = false;
        scene.ignored.insert(
            "presenter".into(),
            serde_json::json!({ "zoom": 3, "dark": [1, 2.5] }),
        );
        scene
    }

    #[test]
    fn save_then_open_round_trips_exactly() {
        let scene = everything_edited();
        let defaults = Scene::default();
        assert_ne!(scene.corpus, defaults.corpus);
        assert_ne!(scene.rlhf, defaults.rlhf);
        assert_ne!(scene.attention, defaults.attention);
        assert_ne!(scene.context, defaults.context);
        let text = scene.to_json();
        let opened = Scene::open(&text).unwrap();
        assert_eq!(opened.scene, scene);
        assert_eq!(
            opened.notes,
            [LoadNote::KeptSection {
                name: "presenter".into()
            }],
            "only the section this build does not read is mentioned"
        );
        assert_eq!(opened.scene.to_json(), text, "saved again, byte for byte");
    }

    #[test]
    fn a_scene_this_build_wrote_opens_without_notes() {
        let opened = Scene::open(&Scene::default().to_json()).unwrap();
        assert_eq!(opened.scene, Scene::default());
        assert!(opened.notes.is_empty(), "{:?}", opened.notes);
        assert_eq!(opened.notes_line(), None);
    }

    #[test]
    fn unknown_nested_fields_are_named_when_a_scene_opens() {
        let opened = Scene::open(
            r#"{ "version": 1, "presenter": { "zoom": 2 },
                 "attention": { "focus": 2, "colour": "red" },
                 "corpus": { "rows": [ { "prefix": "p", "ending": "a", "count": 1 },
                                       { "prefix": "p", "ending": "b", "count": 1 },
                                       { "prefix": "p", "ending": "c", "count": 1, "weight": 2 } ],
                             "source": "web" },
                 "context": { "examples": [ { "text": "loved it", "label": "positive", "mood": ":)" } ] } }"#,
        )
        .unwrap();
        assert_eq!(opened.scene.attention.focus, 2, "the known fields are read");
        assert_eq!(opened.scene.corpus.rows[2].ending, "c");
        let ignored = |path: &str| LoadNote::IgnoredField { path: path.into() };
        assert_eq!(
            opened.notes,
            [
                LoadNote::KeptSection {
                    name: "presenter".into()
                },
                ignored("attention.colour"),
                ignored("context.examples[0].mood"),
                ignored("corpus.rows[2].weight"),
                ignored("corpus.source"),
            ]
        );
        let line = opened.notes_line().unwrap();
        assert!(
            line.contains("\"attention.colour\"; it was ignored and will not be saved"),
            "{line}"
        );
        assert!(
            line.contains("\"presenter\"; it was kept as written"),
            "{line}"
        );
        assert!(
            !opened.scene.to_json().contains("colour"),
            "as the note says"
        );
    }

    #[test]
    fn an_older_or_newer_version_opens_with_a_note() {
        for (found, age) in [(0, "older"), (2, "newer")] {
            let text =
                format!(r#"{{ "version": {found}, "step": 2, "rlhf": {{ "strength": 0.25 }} }}"#);
            let opened = Scene::open(&text).unwrap();
            assert_eq!(opened.scene.step, 2);
            assert_eq!(opened.scene.rlhf.strength, 0.25);
            assert_eq!(
                opened.scene.version, SCENE_VERSION,
                "saving writes this build's version"
            );
            assert_eq!(opened.notes, [LoadNote::OtherVersion { found }]);
            let note = opened.notes[0].to_string();
            assert!(
                note.contains(&format!("version {found}, {age} than the version 1")),
                "{note}"
            );
            assert!(Scene::from_json(&text).is_err(), "from_json stays strict");
        }
    }

    #[test]
    fn a_scene_without_a_version_opens_as_version_one_with_a_note() {
        let opened = Scene::open(r#"{ "attention": { "causal": true } }"#).unwrap();
        assert!(opened.scene.attention.causal);
        assert_eq!(opened.scene.version, 1);
        assert_eq!(opened.notes, [LoadNote::NoVersion]);
        assert_eq!(
            opened.notes[0].to_string(),
            "the scene has no version; it was read as version 1"
        );
    }

    #[test]
    fn opening_still_refuses_broken_files_and_values_out_of_range() {
        let message = |text: &str| Scene::open(text).unwrap_err().to_string();
        assert!(message("{").contains("not valid"));
        assert!(message("[1, 2]").contains("not valid"));
        assert!(message(r#"{ "attention": { "heads": "two" } }"#).contains("not valid"));
        assert!(
            message(r#"{ "version": 3, "attention": { "heads": 3 } }"#).contains("attention.heads")
        );
        assert!(message(r#"{ "rlhf": { "strength": 1.5 } }"#).contains("rlhf.strength"));
        assert!(message(r#"{ "version": 1, "step": 0 }"#).contains("step"));
    }

    #[test]
    fn context_section_is_read_and_edited_samples_replace_the_shipped_ones() {
        let scene = Scene::from_json(
            r#"{ "version": 1, "context": { "level": 3, "question": "late delivery?",
                 "examples": [ { "text": "loved it", "label": "positive" } ],
                 "documents": [ { "name": "policy.md", "text": "Everything is refunded." },
                                { "name": "mine.txt", "text": "My notes." } ],
                 "budget_tokens": 2000, "archive": false } }"#,
        )
        .unwrap();
        assert!(scene.ignored_sections().is_empty());
        assert_eq!(scene.context.level(), Level::Rag);
        assert_eq!(scene.context.examples.len(), 1);
        let documents = scene.context.knowledge_base_documents("archive text");
        let names: Vec<&str> = documents.iter().map(|d| d.0.as_str()).collect();
        assert_eq!(names, ["policy.md", "tickets.md", "mine.txt"]);
        assert_eq!(documents[0].1, "Everything is refunded.");
        let mut with_archive = scene.context.clone();
        with_archive.archive = true;
        assert_eq!(
            with_archive.knowledge_base_documents("a")[2].0,
            ARCHIVE_NAME
        );
    }

    #[test]
    fn dropped_text_files_join_the_knowledge_base_and_others_are_refused() {
        let mut scene = Scene::default();
        let added = scene
            .add_document("policy.md", b"Refunds within 30 days.".to_vec())
            .unwrap();
        assert_eq!(added.words, 4);
        assert_eq!(added.documents, 1);
        let again = scene
            .add_document("policy.md", b"Refunds within 14 days, not 30.".to_vec())
            .unwrap();
        assert!(again.replaced && again.documents == 1);
        scene
            .add_document("TICKETS.TXT", b"#1 broken lid".to_vec())
            .unwrap();
        let before = scene.clone();
        let refused = |scene: &mut Scene, name: &str, bytes: Vec<u8>| {
            scene.add_document(name, bytes).unwrap_err().to_string()
        };
        assert!(refused(&mut scene, "photo.png", vec![1, 2]).contains(".md and .txt"));
        assert!(refused(&mut scene, "bad.md", vec![0xff, 0xfe]).contains("UTF-8"));
        assert!(refused(&mut scene, "empty.txt", b" \n".to_vec()).contains("empty"));
        let huge = vec![b'a'; MAX_DOCUMENT_BYTES + 1];
        assert!(refused(&mut scene, "huge.txt", huge).contains("bytes"));
        assert_eq!(scene, before, "a refused file changes nothing");
        // The documents are the public scene format's `context.documents`.
        let json: serde_json::Value = serde_json::from_str(&scene.to_json()).unwrap();
        let documents = json["context"]["documents"].as_array().unwrap();
        assert_eq!(documents[0]["name"], "policy.md");
        assert_eq!(documents[0]["text"], "Refunds within 14 days, not 30.");
        assert_eq!(documents[1]["name"], "TICKETS.TXT");
        assert!(Scene::from_json(r#"{ "version": 1, "context": 3 }"#)
            .unwrap_err()
            .to_string()
            .contains("not valid"));
    }
}
