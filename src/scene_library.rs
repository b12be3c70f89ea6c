//! The lesson scenes shipped in `assets/scenes/`, compiled into the binary so the "scenes" menu
//! works the same natively and in the browser, with no file access.
//!
//! The order is the lesson's: one scene per step of the seed's story (DESIGN.md §1), then the
//! honesty-check demonstrations of step 3, then the other scenes the README and tests use. Each
//! `about` is the sentence a lecturer reads in the menu before clicking; it states what the scene
//! shows, and the tests hold the scene to it (`gaze inspect` computes the same numbers).

use crate::scene::{Scene, SceneError};

/// One scene file shipped with the app.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ShippedScene {
    /// The file name in `assets/scenes/`, e.g. `causal_mask.json`.
    pub file: &'static str,
    /// The menu entry. A story scene starts with its step number; a demonstration starts with
    /// "honesty check".
    pub title: &'static str,
    /// One sentence on what it shows, for the menu's hover text.
    pub about: &'static str,
    /// The file's text.
    pub json: &'static str,
}

/// Which part of the menu a shipped scene belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShippedKind {
    /// One step of the seed's story; its title starts with the step's number.
    Story,
    /// A step-3 honesty-check switch at work; its title starts with "honesty check".
    Demonstration,
    /// Anything else (the README's and tests' scenes).
    Other,
}

impl ShippedScene {
    /// Its group, read from the title (so the title and the group cannot disagree).
    pub fn kind(&self) -> ShippedKind {
        if self.title.starts_with(|c: char| c.is_ascii_digit()) {
            ShippedKind::Story
        } else if self.title.starts_with("honesty check") {
            ShippedKind::Demonstration
        } else {
            ShippedKind::Other
        }
    }

    /// The scene. Shipped files are checked by the tests to open with no notes, so a failure
    /// here means a broken build; it is still returned as an error, never a panic.
    pub fn open(&self) -> Result<Scene, SceneError> {
        Scene::open(self.json).map(|opened| opened.scene)
    }
}

macro_rules! shipped {
    ($file:literal, $title:expr, $about:expr $(,)?) => {
        ShippedScene {
            file: $file,
            title: $title,
            about: $about,
            json: include_str!(concat!("../assets/scenes/", $file)),
        }
    };
}

/// Every scene in `assets/scenes/`, in lesson order.
pub const SHIPPED: [ShippedScene; 12] = [
    shipped!(
        "1_pretraining.json",
        "1 pretraining: the corpus sets the odds",
        "the corpus of endings for \"the best database is\": mongodb is written 5 times in 11, so \
         it is the model's guess (45%)",
    ),
    shipped!(
        "2_rlhf.json",
        "2 RLHF: a preference flips the answer",
        "people prefer postgresql: at strength 0.25 that already turns the guess from mongodb \
         into postgresql (55%); below about 0.11 mongodb wins again",
    ),
    shipped!(
        "3_attention.json",
        "3 attention: \"is\" looks at \"database\"",
        "the seed's sentence \"the best database is\": \"is\" spends most of its attention on \
         \"database\" (46%), then on \"best\" (30%)",
    ),
    shipped!(
        "4_in_context.json",
        "4 in-context learning: the examples decide",
        "three labelled reviews, then \"it was okay\": attention on the examples reads off \
         neutral — relabel \"meh, it was fine\" and the answer changes with no training",
    ),
    shipped!(
        "4_rag.json",
        "4 RAG: the answer's source in 10k tokens",
        "\"what's our refund policy on damaged items?\" over the policy, the tickets and the \
         ticket archive: retrieval fills ~10k tokens and the answer comes from the \"items \
         damaged in transit\" paragraph",
    ),
    shipped!(
        "causal_mask.json",
        "honesty check: the causal mask",
        "the causal mask: a word can only look back — \"is\" cannot see \"database\", which comes \
         after it, so its attention falls on \"it\" and itself (switch the mask off: 39% goes to \
         \"database\")",
    ),
    shipped!(
        "positions.json",
        "honesty check: positions (RoPE)",
        "positions: without them \"is\" cannot tell the two copies of \"database\" apart (25% \
         each); with RoPE the copy next to it gets 14% and the far one 4%",
    ),
    shipped!(
        "multi_head.json",
        "honesty check: four heads",
        "four heads read \"database\" for four things: \"what describes it?\" finds \"best\", \
         \"same topic\" ties it to \"postgresql\", \"grammar\" finds \"the\", and \"who is it \
         about?\" has nothing to look for",
    ),
    shipped!(
        "default.json",
        "the app's starting scene",
        "the lesson as the app opens it: step 3 on \"the best database is\", the seed's corpus \
         and a preference for postgresql at strength 0.5",
    ),
    shipped!(
        "two_topics.json",
        "two topics in one corpus",
        "two prefixes, \"the best database is\" and \"the best language is\": train on step 1 and \
         what the last word attended to decides which endings win",
    ),
    shipped!(
        "in_context.json",
        "in-context learning: a warm review",
        "the three examples, then \"loved it, a great product\": classified positive",
    ),
    shipped!(
        "rag.json",
        "RAG: refunds for damaged items",
        "the refund question over the sample knowledge base and the ticket archive, ~10k tokens \
         of context",
    ),
];

/// The shipped scene whose title or file name is `name` (the file name with or without
/// `.json`), or `None`.
pub fn find_shipped(name: &str) -> Option<&'static ShippedScene> {
    SHIPPED
        .iter()
        .find(|s| s.title == name || s.file == name || s.file.strip_suffix(".json") == Some(name))
}

/// Opens the shipped scene named by its title or file name.
pub fn open_shipped(name: &str) -> Result<Scene, ShippedError> {
    find_shipped(name)
        .ok_or_else(|| ShippedError::Unknown(name.to_owned()))?
        .open()
        .map_err(ShippedError::Scene)
}

/// Why a shipped scene did not open.
#[derive(Debug, thiserror::Error)]
pub enum ShippedError {
    /// No shipped scene has that title or file name.
    #[error("there is no shipped scene called \"{0}\"")]
    Unknown(String),
    /// No shipped scene has that place in [`SHIPPED`].
    #[error("there is no shipped scene number {0}")]
    Index(usize),
    /// The shipped file does not open (a broken build).
    #[error(transparent)]
    Scene(#[from] SceneError),
}

#[cfg(test)]
#[cfg(feature = "app")]
mod tests {
    use super::*;
    use crate::model::positions::Positions;

    #[test]
    fn every_shipped_scene_opens_whole_with_no_notes() {
        for shipped in &SHIPPED {
            let opened =
                Scene::open(shipped.json).unwrap_or_else(|e| panic!("{}: {e}", shipped.file));
            assert!(
                opened.notes.is_empty(),
                "{}: {:?}",
                shipped.file,
                opened.notes
            );
            opened.scene.validate().unwrap();
            assert_eq!(
                Scene::from_json(shipped.json).unwrap(),
                opened.scene,
                "{}: the strict reading agrees",
                shipped.file
            );
        }
    }

    #[test]
    fn every_scene_file_in_assets_is_shipped_once() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/scenes");
        let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().into_string().unwrap())
            .filter(|name| name.ends_with(".json"))
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = SHIPPED.iter().map(|s| s.file.to_owned()).collect();
        listed.sort();
        assert_eq!(listed, on_disk);
        for shipped in &SHIPPED {
            let text = std::fs::read_to_string(dir.join(shipped.file)).unwrap();
            assert_eq!(text, shipped.json, "{}", shipped.file);
        }
        let mut titles: Vec<&str> = SHIPPED.iter().map(|s| s.title).collect();
        titles.sort();
        titles.dedup();
        assert_eq!(titles.len(), SHIPPED.len(), "titles tell the entries apart");
    }

    #[test]
    fn each_scene_opens_on_the_step_its_title_names_in_lesson_order() {
        let kinds: Vec<ShippedKind> = SHIPPED.iter().map(ShippedScene::kind).collect();
        let mut sorted = kinds.clone();
        sorted.sort_by_key(|kind| *kind as u8);
        assert_eq!(kinds, sorted, "story, then demonstrations, then the others");
        let mut story_steps = Vec::new();
        for shipped in &SHIPPED {
            let scene = shipped.open().unwrap();
            match shipped.kind() {
                ShippedKind::Story => {
                    let named = shipped.title[..1].parse::<u8>().unwrap();
                    assert_eq!(scene.step, named, "{}", shipped.title);
                    story_steps.push(named);
                }
                ShippedKind::Demonstration => {
                    assert_eq!(scene.step, 3, "{}: a step-3 switch", shipped.title)
                }
                ShippedKind::Other => {}
            }
            assert!(!shipped.about.is_empty());
        }
        assert_eq!(story_steps, [1, 2, 3, 4, 4], "every step, in order");
        let demonstrations = kinds
            .iter()
            .filter(|k| **k == ShippedKind::Demonstration)
            .count();
        assert_eq!(demonstrations, 3, "causal mask, positions, multi-head");
    }

    /// `gaze inspect`'s report of a scene, as the JSON lecturers script against.
    fn inspect(scene: &Scene) -> serde_json::Value {
        let model = crate::model::lesson::LessonModel::builtin().unwrap();
        serde_json::to_value(crate::app::inspect::inspect(scene, &model).unwrap()).unwrap()
    }

    /// Head `head`'s weights from the focus, as inspect reports them.
    fn focus_row(report: &serde_json::Value, head: usize) -> Vec<f64> {
        let focus = report["focus"].as_u64().unwrap() as usize;
        report["heads"][head]["weights"][focus]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| w.as_f64().unwrap())
            .collect()
    }

    fn argmax(row: &[f64]) -> usize {
        (0..row.len())
            .max_by(|&a, &b| row[a].total_cmp(&row[b]))
            .unwrap()
    }

    /// The menu's sentences are claims about numbers; these check each against inspect's report
    /// (the RAG scenes are checked by `tests/cli.rs` on the built binary, at 10k tokens).
    #[test]
    fn each_scene_shows_what_its_menu_sentence_says() {
        let pretraining = inspect(&open_shipped("1_pretraining").unwrap());
        assert_eq!(pretraining["corpus"]["prediction"], "mongodb");
        let p = pretraining["corpus"]["rows"][0]["probability"]
            .as_f64()
            .unwrap();
        assert!((p - 5.0 / 11.0).abs() < 1e-9);

        let mut rlhf = open_shipped("2_rlhf").unwrap();
        let report = inspect(&rlhf);
        assert_eq!(report["corpus"]["prediction"], "mongodb");
        assert_eq!(
            report["rlhf"]["prediction"], "postgresql",
            "flipped at 0.25"
        );
        rlhf.rlhf.strength = 0.1;
        assert_eq!(
            inspect(&rlhf)["rlhf"]["prediction"],
            "mongodb",
            "not at 0.1"
        );

        let story = inspect(&open_shipped("3_attention").unwrap());
        let row = focus_row(&story, 0);
        assert_eq!(story["tokens"][argmax(&row)], "database");
        assert!(row[1] > row[0] && row[1] > row[3], "then best: {row:?}");

        let mut learning = open_shipped("4_in_context").unwrap();
        assert_eq!(inspect(&learning)["context"]["prediction"], "neutral");
        learning.context.examples[2].label = "positive".into();
        assert_eq!(
            inspect(&learning)["context"]["prediction"],
            "positive",
            "a relabelled example changes the answer"
        );

        let mut causal = open_shipped("causal_mask").unwrap();
        let report = inspect(&causal);
        let focus = causal.attention.focus;
        let row = focus_row(&report, 0);
        assert!(row[focus + 1..].iter().all(|w| *w == 0.0), "{row:?}");
        causal.attention.causal = false;
        let unmasked = focus_row(&inspect(&causal), 0);
        assert_eq!(report["tokens"][4], "database");
        assert!(unmasked[4] > 0.35, "the mask visibly matters: {unmasked:?}");

        let mut positions = open_shipped("positions").unwrap();
        let report = inspect(&positions);
        let tokens = report["tokens"].as_array().unwrap();
        let copies: Vec<usize> = (0..tokens.len())
            .filter(|&i| tokens[i] == "database")
            .collect();
        assert_eq!(copies, [2, 6]);
        let row = focus_row(&report, 0);
        assert!(
            row[2] > 3.0 * row[6],
            "RoPE tells the copies apart: {row:?}"
        );
        positions.attention.positions = Positions::None;
        let row = focus_row(&inspect(&positions), 0);
        assert!(
            (row[2] - row[6]).abs() < 1e-6,
            "without positions they tie: {row:?}"
        );

        let report = inspect(&open_shipped("multi_head").unwrap());
        let tokens = report["tokens"].as_array().unwrap();
        let heads: Vec<Vec<f64>> = (0..4).map(|h| focus_row(&report, h)).collect();
        let spread = |row: &[f64]| row[argmax(row)] - row.iter().cloned().fold(1.0, f64::min);
        assert!(
            spread(&heads[0]) < 1e-6,
            "who is it about? has nothing to look for"
        );
        assert_eq!(tokens[argmax(&heads[1])], "best");
        assert_eq!(tokens[4], "postgresql");
        assert!(heads[2][4] > heads[2][0] && heads[2][4] > heads[2][1] && heads[2][4] > 0.25);
        assert_eq!(tokens[argmax(&heads[3])], "the");
    }

    #[test]
    fn the_demonstrations_turn_on_the_switch_they_show() {
        let scene = open_shipped("causal_mask").unwrap();
        assert!(scene.attention.causal);
        assert!(
            scene.attention.focus + 1 < scene.attention.sentence.split_whitespace().count(),
            "the focus has words after it for the mask to hide"
        );
        assert_eq!(
            open_shipped("positions.json").unwrap().attention.positions,
            Positions::Rope
        );
        assert_eq!(
            open_shipped("honesty check: four heads")
                .unwrap()
                .attention
                .heads,
            4
        );
        let rag = open_shipped("4_rag").unwrap();
        assert_eq!((rag.step, rag.context.level), (4, 3));
        assert_eq!(open_shipped("4_in_context").unwrap().context.level, 2);
        assert!(open_shipped("nonsense")
            .unwrap_err()
            .to_string()
            .contains("no shipped scene called \"nonsense\""));
    }
}
