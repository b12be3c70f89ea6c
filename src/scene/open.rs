//! The lenient opener: [`Scene::open`] reads a scene file as a person wrote it and names, in
//! [`LoadNote`]s, everything it did not read as written. Also here: the kind check both readings
//! start with ([`parse_checked`]), which names a wrong value by its path and its range before
//! serde reads the file.

use super::{RawScene, Scene, SceneError, COUNT_RANGE, MAX_SCENE_BYTES, SCENE_VERSION};

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

/// The kind of value each field of the scene format holds: what [`check_value`] holds a parsed
/// file to before serde reads it, so a wrong value is named by its path and its range
/// (`the scene's "corpus.rows[0].count" is -1: a whole number from 0 to 1000000000`) instead of
/// serde's `invalid value: integer -1, expected u64`.
#[derive(Clone, Copy)]
enum Shape {
    /// A string.
    Text,
    /// `true` or `false`.
    Flag,
    /// Any number (JSON has no NaN or infinity; ranges are [`Scene::validate`]'s).
    Number(&'static str),
    /// A whole number from 0 to the bound. A float with no fraction (`2.0`, `-0`) is read as
    /// the whole number it equals, as a script's JSON writer may print one.
    Whole(u64, &'static str),
    /// One of the names.
    Choice(&'static [&'static str], &'static str),
    /// An object whose fields may each be missing (a section: missing fields take defaults).
    Section(&'static [(&'static str, Shape)]),
    /// An object that needs every field (a row, an example…), described for the message.
    Record(&'static str, &'static [(&'static str, Shape)]),
    /// A list of one shape.
    List(&'static Shape),
    /// One of the names, or a value of the other shape (`"lesson"` or a model file).
    NameOr(&'static [&'static str], &'static Shape, &'static str),
}

const MODEL_FILE: Shape = Shape::Record(
    "a model file needs a \"file\" (its name) and a \"sha256\"",
    &[("file", Shape::Text), ("sha256", Shape::Text)],
);

const CORPUS_ROW: Shape = Shape::Record(
    "every row needs a \"prefix\", an \"ending\" and a \"count\"",
    &[
        ("prefix", Shape::Text),
        ("ending", Shape::Text),
        ("count", Shape::Whole(u64::MAX, COUNT_RANGE)),
    ],
);

const WEIGHT_EDIT: Shape = Shape::Record(
    "every weight edit needs \"head\", \"matrix\", \"feature\", \"dim\" and \"value\"",
    &[
        ("head", Shape::Whole(u64::MAX, "a head index from 0 to 3")),
        (
            "matrix",
            Shape::Choice(&["w_q", "w_k", "w_v"], "w_q, w_k or w_v"),
        ),
        ("feature", Shape::Text),
        ("dim", Shape::Text),
        ("value", Shape::Number("a weight from -10 to 10")),
    ],
);

const EXAMPLE: Shape = Shape::Record(
    "every example needs a \"text\" and a \"label\"",
    &[("text", Shape::Text), ("label", Shape::Text)],
);

const DOCUMENT: Shape = Shape::Record(
    "every document needs a \"name\" and a \"text\"",
    &[("name", Shape::Text), ("text", Shape::Text)],
);

/// The scene format's sections (DESIGN.md §6), field by field.
const SECTIONS: &[(&str, Shape)] = &[
    (
        "version",
        Shape::Whole(
            u32::MAX as u64,
            "a scene-file version, a whole number such as 1",
        ),
    ),
    (
        "model",
        Shape::NameOr(
            &["lesson"],
            &MODEL_FILE,
            "\"lesson\" or a model file { \"file\": …, \"sha256\": … }",
        ),
    ),
    (
        "step",
        Shape::Whole(u8::MAX as u64, "a lesson step from 1 to 4"),
    ),
    (
        "corpus",
        Shape::Section(&[("rows", Shape::List(&CORPUS_ROW))]),
    ),
    (
        "rlhf",
        Shape::Section(&[
            ("preferred", Shape::Text),
            ("strength", Shape::Number("a strength from 0 to 1")),
            ("reward_chosen", Shape::Number("a reward from -100 to 100")),
            ("reward_winner", Shape::Number("a reward from -100 to 100")),
        ]),
    ),
    (
        "attention",
        Shape::Section(&[
            ("sentence", Shape::Text),
            (
                "focus",
                Shape::Whole(u64::MAX, "a token index, 0 for the first"),
            ),
            ("heads", Shape::Whole(u64::MAX, "1, 2 or 4")),
            (
                "positions",
                Shape::Choice(&["none", "sinusoidal", "rope"], "none, sinusoidal or rope"),
            ),
            ("causal", Shape::Flag),
            ("residual_norm", Shape::Flag),
            ("weight_edits", Shape::List(&WEIGHT_EDIT)),
            (
                "layer",
                Shape::Whole(u64::MAX, "a layer index, 0 for the first"),
            ),
            (
                "head",
                Shape::Whole(u64::MAX, "a head index, 0 for the first"),
            ),
            (
                "scale",
                Shape::Choice(&["linear", "log", "row_max"], "linear, log or row_max"),
            ),
            ("hide_first_token", Shape::Flag),
        ]),
    ),
    (
        "context",
        Shape::Section(&[
            (
                "level",
                Shape::Whole(
                    u8::MAX as u64,
                    "1 (self-attention), 2 (in-context learning) or 3 (RAG)",
                ),
            ),
            ("examples", Shape::List(&EXAMPLE)),
            ("review", Shape::Text),
            ("question", Shape::Text),
            ("documents", Shape::List(&DOCUMENT)),
            (
                "budget_tokens",
                Shape::Whole(u64::MAX, "a budget from 1 to 16384 tokens"),
            ),
            ("archive", Shape::Flag),
        ]),
    ),
];

/// What a JSON value is, in words.
fn kind_of(value: &serde_json::Value) -> &'static str {
    use serde_json::Value;
    match value {
        Value::Null => "null",
        Value::Bool(_) => "true or false",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// `value` as the whole number it equals, if it is one from 0 to `max`.
fn whole_number(value: &serde_json::Value, max: u64) -> Option<u64> {
    let number = value.as_number()?;
    if let Some(whole) = number.as_u64() {
        return (whole <= max).then_some(whole);
    }
    // -0, 2.0: floats that are whole numbers. (Above 2^53 a float is whole whatever was
    // written, so only floats up to `max` that also fit a u64 exactly are taken.)
    let float = number.as_f64()?;
    let fits = float.fract() == 0.0 && float >= 0.0 && float <= max as f64 && float < 2f64.powi(53);
    // `fits` bounds it to [0, 2^53): the cast is exact.
    fits.then_some(float as u64)
}

/// Checks `value` at `path` against `shape`, turning whole-valued floats into integers.
fn check_value(value: &mut serde_json::Value, shape: Shape, path: &str) -> Result<(), SceneError> {
    use serde_json::Value;
    let wrong = |value: &Value, expected: &str| {
        Err(SceneError::invalid(path, &value.to_string(), expected))
    };
    match shape {
        Shape::Text if value.is_string() => Ok(()),
        Shape::Text => wrong(value, "text in double quotes"),
        Shape::Flag if value.is_boolean() => Ok(()),
        Shape::Flag => wrong(value, "true or false"),
        Shape::Number(_) if value.is_number() => Ok(()),
        Shape::Number(expected) => wrong(value, expected),
        Shape::Whole(max, expected) => match whole_number(value, max) {
            Some(whole) => {
                *value = Value::from(whole);
                Ok(())
            }
            None => wrong(value, expected),
        },
        Shape::Choice(names, expected) => match value.as_str() {
            Some(name) if names.contains(&name) => Ok(()),
            _ => wrong(value, expected),
        },
        Shape::Section(fields) => match value {
            Value::Object(object) => {
                for (name, shape) in fields {
                    if let Some(field) = object.get_mut(*name) {
                        check_value(field, *shape, &format!("{path}.{name}"))?;
                    }
                }
                Ok(())
            }
            _ => wrong(value, "a section, a JSON object { … }"),
        },
        Shape::Record(expected, fields) => match value {
            Value::Object(object) => {
                for (name, shape) in fields {
                    match object.get_mut(*name) {
                        Some(field) => check_value(field, *shape, &format!("{path}.{name}"))?,
                        None => {
                            return Err(SceneError::Missing {
                                field: path.to_owned(),
                                missing: name,
                                expected,
                            })
                        }
                    }
                }
                Ok(())
            }
            _ => wrong(value, expected),
        },
        Shape::List(item) => match value {
            Value::Array(items) => {
                for (index, entry) in items.iter_mut().enumerate() {
                    check_value(entry, *item, &format!("{path}[{index}]"))?;
                }
                Ok(())
            }
            _ => wrong(value, "a list [ … ]"),
        },
        Shape::NameOr(names, other, expected) => match value {
            Value::String(name) if names.contains(&name.as_str()) => Ok(()),
            Value::String(_) => wrong(value, expected),
            Value::Object(_) => check_value(value, *other, path),
            _ => wrong(value, expected),
        },
    }
}

/// Parses scene text into JSON and checks every known field's kind ([`Shape`]): what both
/// readings do first. Unknown fields are left for the caller (kept, noted or dropped). A
/// top-level `null` is a missing section, as serde reads it.
pub(super) fn parse_checked(text: &str) -> Result<serde_json::Value, SceneError> {
    if text.len() > MAX_SCENE_BYTES {
        return Err(SceneError::TooLarge { bytes: text.len() });
    }
    // Editors on Windows may start UTF-8 files with a byte-order mark; JSON has no place for it.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut value: serde_json::Value = serde_json::from_str(text)?;
    let serde_json::Value::Object(object) = &mut value else {
        return Err(SceneError::NotAnObject {
            found: kind_of(&value),
        });
    };
    for (name, shape) in SECTIONS {
        if let Some(field) = object.get_mut(*name).filter(|field| !field.is_null()) {
            check_value(field, *shape, name)?;
        }
    }
    Ok(value)
}

impl Scene {
    /// Opens a scene file as a person wrote it: reads everything this build knows and returns a
    /// [`LoadNote`] for everything else, so a file from another version, or with a field added
    /// by hand, still opens and says what was skipped. A missing `version` is read as
    /// [`SCENE_VERSION`]; another version is read as far as its fields match this one's. The
    /// scene comes back stamped with [`SCENE_VERSION`], which is what saving writes.
    ///
    /// Still refused, with nothing loaded: text that is not JSON ([`SceneError::Json`]) or not
    /// one object, more than [`MAX_SCENE_BYTES`], a known field of the wrong kind or a value out
    /// of range ([`SceneError::Invalid`], naming the field's path), and an entry of a list without
    /// a field it needs ([`SceneError::Missing`]).
    pub fn open(text: &str) -> Result<OpenedScene, SceneError> {
        let written = parse_checked(text)?;
        // Kept: the typed scene is compared against what was written to find the fields it
        // skipped.
        let raw: RawScene = serde_json::from_value(written.clone())?;
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::context::Example;
    use crate::model::lesson::WeightEdit;
    use crate::model::positions::Positions;
    use crate::scene::{AttentionScene, RlhfScene};

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
            layer: 12,
            head: 5,
            scale: crate::model::sink::MapScale::RowMax,
            hide_first_token: true,
        };
        scene.model = crate::scene::SceneModel::File(crate::scene::ModelFile {
            file: "SmolLM2-135M-Instruct.Q4_1.gguf".into(),
            sha256: "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53".into(),
        });
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
        assert_eq!(
            message(r#"{ "attention": { "heads": "two" } }"#),
            "the scene's \"attention.heads\" is \"two\": 1, 2 or 4"
        );
        assert!(
            message(r#"{ "version": 3, "attention": { "heads": 3 } }"#).contains("attention.heads")
        );
        assert!(message(r#"{ "rlhf": { "strength": 1.5 } }"#).contains("rlhf.strength"));
        assert!(message(r#"{ "version": 1, "step": 0 }"#).contains("step"));
    }

    #[test]
    fn a_scene_records_its_model_as_lesson_or_a_file_with_its_sha256() {
        let saved = Scene::default().to_json();
        assert!(saved.contains("\"model\": \"lesson\""), "{saved}");
        let text = r#"{ "version": 1, "model": { "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
            "sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53" },
            "attention": { "layer": 14, "head": 8, "scale": "row_max", "hide_first_token": true } }"#;
        let scene = Scene::from_json(text).unwrap();
        let crate::scene::SceneModel::File(file) = &scene.model else {
            panic!("a file: {:?}", scene.model);
        };
        assert_eq!(file.file, "SmolLM2-135M-Instruct.Q4_1.gguf");
        assert_eq!(
            (scene.attention.layer, scene.attention.head),
            (14, 8),
            "0-based in files"
        );
        assert_eq!(scene.attention.scale, crate::model::sink::MapScale::RowMax);
        assert!(scene.attention.hide_first_token);
        assert_eq!(Scene::from_json(&scene.to_json()).unwrap(), scene);
        assert_eq!(
            scene.model.to_string(),
            "SmolLM2-135M-Instruct.Q4_1.gguf (SHA-256 b179c9523d0e…)"
        );
        assert_eq!(
            Scene::from_json(r#"{ "version": 1, "model": "lesson" }"#)
                .unwrap()
                .model,
            crate::scene::SceneModel::Lesson
        );
    }

    #[test]
    fn a_bad_model_or_map_field_is_named_with_what_is_allowed() {
        let message = |text: &str| Scene::open(text).unwrap_err().to_string();
        let gpt = message(r#"{ "model": "gpt-4" }"#);
        assert!(
            gpt.contains("\"model\" is \"gpt-4\"") && gpt.contains("\"lesson\""),
            "{gpt}"
        );
        assert!(message(r#"{ "model": { "file": "m.gguf" } }"#).contains("sha256"));
        assert!(
            message(r#"{ "model": { "file": "m.gguf", "sha256": "abc" } }"#)
                .contains("model.sha256")
        );
        assert!(
            message(r#"{ "model": { "file": "/tmp/m.gguf", "sha256": "abc" } }"#)
                .contains("model.file")
        );
        assert_eq!(
            message(r#"{ "attention": { "scale": "cubic" } }"#),
            "the scene's \"attention.scale\" is \"cubic\": linear, log or row_max"
        );
        assert!(message(r#"{ "attention": { "layer": -1 } }"#).contains("attention.layer"));
        assert!(message(r#"{ "attention": { "head": 5000 } }"#).contains("attention.head"));
        assert!(message(r#"{ "attention": { "hide_first_token": 1 } }"#)
            .contains("attention.hide_first_token"));
    }
}
