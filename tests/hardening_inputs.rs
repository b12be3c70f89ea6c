//! Every way input reaches Gaze (docs/inputs.md), fed what people and files really send: nothing,
//! far too much, bytes that are not UTF-8, every corner of Unicode, numbers JSON should not hold,
//! fields nobody asked for, the same thing twice, links cut short, bad command lines. Each test
//! checks the three promises of issue #8: no panic, a message that says what is wrong (its key
//! words asserted), and the previous state kept.
//!
//! Model, scene and link inputs go through the public API; panels are driven like a user
//! (egui_kittest) — steps 1 and 2 with no GPU, step 4 and the step-3 lesson on the shared test
//! GPU (`tests/common`); the command line through the built binary, with no window.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use gaze::app::lesson::Lesson;
use gaze::app::scene_files::{read_scene_file, write_scene_file};
use gaze::link::MAX_FRAGMENT_BYTES;
use gaze::model::attention::{attend, AttentionOptions, QueryRows};
use gaze::model::context::{
    self, in_context_input, parse_examples, rag_input, Example, KnowledgeBase, MAX_EXAMPLES,
    MAX_PASTE_BYTES,
};
use gaze::model::corpus::{
    parse_count, Corpus, CorpusError, DEFAULT_PREFIX, MAX_COUNT, MAX_ENDING_CHARS, MAX_ROWS,
};
use gaze::model::lesson::{
    sentence_tokens, LessonError, LessonModel, Projection, WeightEdit, MAX_SENTENCE_TOKENS,
};
use gaze::model::rlhf::{apply, Rewards};
use gaze::model::tokenizer::{tokenize, MAX_LINE_CHARS};
use gaze::scene::{
    LoadNote, RlhfScene, Scene, SceneError, MAX_DOCUMENTS, MAX_DOCUMENT_BYTES,
    MAX_KNOWLEDGE_BASE_BYTES, MAX_SCENE_BYTES,
};
use gaze::ui::{step1_pretraining, step2_rlhf};

// ---------------------------------------------------------------------------------------------
// Helpers

fn model() -> LessonModel {
    LessonModel::builtin().unwrap()
}

/// A fresh folder for one test's files.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("gaze-hardening-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// What `Scene::open` says about `text`; the caller keeps its scene when it is an error (the
/// window and `gaze` replace theirs only on `Ok`).
fn open_error(text: &str) -> String {
    match Scene::open(text) {
        Ok(opened) => panic!("accepted: {text:.200}\n{:?}", opened.notes),
        Err(error) => error.to_string(),
    }
}

fn assert_contains(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{part:?} not in {message:?}");
    }
}

/// Step 4's panel as the window runs it (text the fonts lack drawn as boxes, as the app does).
fn step4_harness(scene: Scene) -> Harness<'static, common::step4::Screen> {
    common::step4::harness(scene, true)
}

/// Clicks the box labelled `label`, selects all of it and pastes `text` over it.
fn paste_into<S>(harness: &mut Harness<'static, S>, label: &str, text: &str) {
    harness.get_by_label(label).click();
    harness.run();
    harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    harness.run();
    harness.event(egui::Event::Paste(text.to_owned()));
    harness.run();
}

/// Step 1's panel alone (no fit, so no GPU): the corpus and the panel's own row being typed.
fn step1_harness(corpus: Corpus) -> Harness<'static, (Corpus, step1_pretraining::NewRow)> {
    Harness::builder()
        .with_size(egui::vec2(1200.0, 900.0))
        .build_ui_state(
            |ui, (corpus, new_row): &mut (Corpus, step1_pretraining::NewRow)| {
                let mut train = false;
                step1_pretraining::show(ui, corpus, new_row, None, None, &mut train);
            },
            (corpus, step1_pretraining::NewRow::default()),
        )
}

/// Step 2's panel alone: the corpus, the preference and the "or type one" box.
type Step2Screen = (Corpus, RlhfScene, String);

fn step2_harness() -> Harness<'static, Step2Screen> {
    Harness::builder()
        .with_size(egui::vec2(1200.0, 900.0))
        // The app draws a box ("tofu") for a character its fonts lack, egui's default; kittest
        // would panic on one instead.
        .allow_missing_glyphs()
        .build_ui_state(
            |ui, (corpus, rlhf, typed): &mut Step2Screen| {
                let mut request = false;
                step2_rlhf::show(ui, corpus, rlhf, typed, None, None, &mut request);
            },
            (Corpus::default(), RlhfScene::default(), String::new()),
        )
}

/// Types `word` into step 2's "or type one" box and leaves it (Enter).
fn type_preference(harness: &mut Harness<'static, Step2Screen>, word: &str) {
    harness.get_by_label("or type one:").click();
    harness.run();
    harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    harness.get_by_label("or type one:").type_text(word);
    harness.run();
    harness.key_press(Key::Enter);
    harness.run();
    harness.run();
}

// ---------------------------------------------------------------------------------------------
// Empty

#[test]
fn empty_inputs_are_refused_with_their_reason_and_change_nothing() {
    // The sentence (step 3, step 4 level 1, every corpus prefix trained on).
    for blank in ["", "   ", "\t\n", "\u{3000}"] {
        assert!(matches!(
            sentence_tokens(blank),
            Err(LessonError::EmptySentence)
        ));
    }
    assert_eq!(
        LessonError::EmptySentence.to_string(),
        "the sentence has no words"
    );

    // Step 1: an empty ending, an empty sentence start, an empty count.
    let mut corpus = Corpus::default();
    let before = corpus.clone();
    let refused = |result: Result<(), CorpusError>| result.unwrap_err().to_string();
    assert_eq!(
        refused(corpus.add_row(DEFAULT_PREFIX, " ", 1)),
        "an ending needs at least one word"
    );
    assert_eq!(
        refused(corpus.add_row("  ", "redis", 1)),
        "a sentence start needs at least one word"
    );
    assert_contains(
        &refused(corpus.set_count(0, "")),
        &["is not a whole number"],
    );
    assert_eq!(corpus, before);

    // Step 4: no examples, an empty review, an empty question, an empty paste, an empty file.
    let model = model();
    let error = |r: Result<_, context::ContextError>| r.map(|_| ()).unwrap_err().to_string();
    assert_contains(
        &error(in_context_input(&model, &[], "fine", 100)),
        &["there are no examples"],
    );
    assert_eq!(
        error(in_context_input(
            &model,
            &context::default_examples(),
            " ",
            100
        )),
        "the review has no words"
    );
    let kb = KnowledgeBase::new(context::SAMPLE_DOCUMENTS);
    assert_eq!(
        error(rag_input(&model, &kb, "?!", 100).map(|(input, _)| input)),
        "the question has no words"
    );
    assert_eq!(parse_examples("").unwrap(), (Vec::new(), Vec::new()));
    let mut scene = Scene::default();
    let before = scene.clone();
    let message = scene.add_document("notes.md", Vec::new()).unwrap_err();
    assert_eq!(
        message.to_string(),
        "notes.md was not added to the knowledge base: it is empty"
    );
    assert_eq!(scene, before);

    // Scene text and links: nothing at all is not a scene; an empty object or link is the
    // lesson's default (every field optional), said so where a version is missing.
    assert_contains(&open_error(""), &["not valid JSON", "EOF"]);
    let opened = Scene::open("{}").unwrap();
    assert_eq!(opened.scene, Scene::default());
    assert_eq!(opened.notes, [LoadNote::NoVersion]);
    assert!(matches!(
        Scene::from_json("{}"),
        Err(SceneError::MissingVersion)
    ));
    for link in ["", "#", "&&", "#&"] {
        assert_eq!(
            Scene::from_fragment(link).unwrap(),
            (Scene::default(), Vec::new())
        );
    }
    let dir = scratch("empty");
    let path = dir.join("empty.json");
    std::fs::write(&path, "").unwrap();
    assert_contains(
        &read_scene_file(&path).unwrap_err().to_string(),
        &["empty.json", "not valid JSON"],
    );
}

// ---------------------------------------------------------------------------------------------
// Enormous

#[test]
fn million_character_sentence_is_refused_and_keeps_the_previous_sentence() {
    let ctx = &common::gpu().0;
    let lesson = Lesson::new(ctx).unwrap();
    let mut scene = Scene::default();
    let mut stage = gaze::app::lesson::AttentionLesson::default();
    assert!(lesson.update(ctx, &scene.attention, &mut stage).unwrap());
    stage.wait(ctx, &lesson).unwrap();
    let tokens = |stage: &gaze::app::lesson::AttentionLesson| -> Vec<String> {
        stage
            .shown()
            .unwrap()
            .tokens
            .iter()
            .map(|t| t.text.clone())
            .collect()
    };
    let seed = ["the", "best", "database", "is"];
    assert_eq!(tokens(&stage), seed);

    // A megabyte of text is refused before it is tokenized; the last sentence stays computed.
    scene.attention.sentence = "word ".repeat(200_000);
    let message = lesson
        .update(ctx, &scene.attention, &mut stage)
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "the sentence is 1000000 characters long; the longest taken is 4096"
    );
    assert_eq!(
        tokens(&stage),
        seed,
        "the previous sentence stays on screen"
    );

    // Under the character cap but over the token cap: refused the same way.
    scene.attention.sentence = "a ".repeat(MAX_SENTENCE_TOKENS + 1);
    let message = lesson
        .update(ctx, &scene.attention, &mut stage)
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "the sentence has 513 tokens; attention is drawn for at most 512"
    );
    assert_eq!(tokens(&stage), seed);

    // At the cap it computes.
    scene.attention.sentence = "a ".repeat(MAX_SENTENCE_TOKENS);
    assert!(lesson.update(ctx, &scene.attention, &mut stage).unwrap());
    stage.wait(ctx, &lesson).unwrap();
    assert_eq!(tokens(&stage).len(), MAX_SENTENCE_TOKENS);

    // A scene file with such a sentence is refused whole, its message quoting a short start.
    let mut long = Scene::default();
    long.attention.sentence = "word ".repeat(200_000);
    let message = open_error(&long.to_json());
    assert_contains(
        &message,
        &[
            "\"attention.sentence\"",
            "(1000002 characters)",
            "the longest taken is 4096",
        ],
    );
    assert!(message.len() < 400, "{} bytes", message.len());
}

#[test]
fn million_token_paste_into_step_four_is_refused_and_keeps_the_last_answer() {
    // One token per character, a megabyte in all: under the paste cap, far over every other.
    let million_tokens = "!".repeat(1_000_000);
    assert!(million_tokens.len() < MAX_PASTE_BYTES);

    let mut harness = step4_harness(common::step4::at_level(2));
    harness.get_by_label("prediction: neutral");
    paste_into(&mut harness, "review to classify:", &million_tokens);
    harness.get_by_label("the review is 1000000 characters long; the longest taken is 4096");
    harness.get_by_label("prediction: neutral");

    // Pasted examples past the most step 4 holds: all refused, the three examples kept.
    let before = harness.state().0.context.examples.clone();
    let lines = "great -> positive\n".repeat(58_000);
    assert!(lines.len() < MAX_PASTE_BYTES);
    paste_into(
        &mut harness,
        "paste examples, one per line: text -> label",
        &lines,
    );
    harness.get_by_label("add pasted examples").click();
    harness.run();
    harness.get_by_label_contains(
        "the paste has 58000 examples and there are 3; step 4 holds at most 10000, so nothing was added",
    );
    assert_eq!(harness.state().0.context.examples, before);

    // Level 1: the same paste into the sentence.
    let mut harness = step4_harness(common::step4::at_level(1));
    harness.get_by_label("focus: is");
    paste_into(&mut harness, "sentence:", &million_tokens);
    harness.get_by_label("the sentence is 1000000 characters long; the longest taken is 4096");
    harness.get_by_label("focus: is");
}

#[test]
fn enormous_files_links_and_lists_are_refused_whole_and_change_nothing() {
    // A scene's text, and a file past the cap (read no further than the cap).
    let huge = format!(
        "{{ \"version\": 1, \"x\": \"{}\" }}",
        "a".repeat(MAX_SCENE_BYTES)
    );
    assert_contains(
        &open_error(&huge),
        &["the largest scene read is 67108864 (64 MiB)"],
    );
    let dir = scratch("enormous");
    let path = dir.join("huge.json");
    std::fs::write(&path, &huge).unwrap();
    assert_contains(
        &read_scene_file(&path).unwrap_err().to_string(),
        &["huge.json is over 67108864 bytes"],
    );

    // A link past what a browser keeps.
    let link = format!("sentence={}", "a".repeat(MAX_FRAGMENT_BYTES));
    assert_contains(
        &Scene::from_fragment(&link).unwrap_err().to_string(),
        &["\"link\"", "at most 2097152 bytes"],
    );

    // Step 1: an ending, a prefix, the rows.
    let mut corpus = Corpus::default();
    let before = corpus.clone();
    let long_ending = "x".repeat(1_000_000);
    assert_eq!(
        corpus.add_row(DEFAULT_PREFIX, &long_ending, 1),
        Err(CorpusError::EndingTooLong { chars: 1_000_000 })
    );
    assert_contains(
        &CorpusError::EndingTooLong { chars: 1_000_000 }.to_string(),
        &["1000000 characters", "at most 100"],
    );
    assert_eq!(
        corpus.add_row(&"word ".repeat(200_000), "x", 1),
        Err(CorpusError::PrefixTooLong { chars: 999_999 }),
        "counted after trimming"
    );
    assert_eq!(corpus, before);
    let mut full = Corpus { rows: Vec::new() };
    for i in 0..MAX_ROWS {
        full.add_row(DEFAULT_PREFIX, &format!("db{i}"), 1).unwrap();
    }
    let rows = full.clone();
    assert_eq!(
        full.add_row(DEFAULT_PREFIX, "one more", 1)
            .unwrap_err()
            .to_string(),
        "the corpus already has 1000 rows, the most it takes"
    );
    assert_eq!(full, rows);
    let mut over = Scene {
        corpus: full,
        ..Scene::default()
    };
    over.corpus.rows.push(over.corpus.rows[0].clone());
    over.corpus.rows.last_mut().unwrap().ending = "one more".into();
    assert_contains(
        &open_error(&over.to_json()),
        &["\"corpus.rows\" is 1001 rows", "1000 rows, the most"],
    );
    let mut long_preference = Scene::default();
    long_preference.rlhf.preferred = "p".repeat(MAX_ENDING_CHARS + 1);
    assert_contains(
        &open_error(&long_preference.to_json()),
        &["\"rlhf.preferred\"", "at most 100 characters (this is 101)"],
    );

    // Step 4: the paste box, the examples, a review, a question.
    let paste = "great -> positive\n".repeat(300_000);
    assert_eq!(
        parse_examples(&paste).unwrap_err().to_string(),
        "the paste is 5400000 bytes; the largest taken is 1048576 (1 MiB), so nothing was added"
    );
    let mut many = Scene::default();
    many.context.examples = vec![Example::new("ok", "neutral"); MAX_EXAMPLES + 1];
    assert_contains(
        &open_error(&many.to_json()),
        &["\"context.examples\" is 10001 examples", "at most 10000"],
    );
    let model = model();
    let long = "w".repeat(MAX_LINE_CHARS + 1);
    let error = |r: Result<_, context::ContextError>| r.map(|_| ()).unwrap_err().to_string();
    assert_eq!(
        error(in_context_input(
            &model,
            &context::default_examples(),
            &long,
            100
        )),
        "the review is 4097 characters long; the longest taken is 4096"
    );
    assert_eq!(
        error(in_context_input(
            &model,
            &[Example::new(&long, "positive")],
            "fine",
            100
        )),
        "the text of example 1 is 4097 characters long; the longest taken is 4096"
    );
    let kb = KnowledgeBase::new(context::SAMPLE_DOCUMENTS);
    assert_eq!(
        error(rag_input(&model, &kb, &long, 100).map(|(input, _)| input)),
        "the question is 4097 characters long; the longest taken is 4096"
    );

    // Documents: one too large, one too many, too many bytes in all.
    let mut scene = Scene::default();
    let before = scene.clone();
    let refused = |scene: &mut Scene, name: &str, bytes: Vec<u8>| {
        scene.add_document(name, bytes).unwrap_err().to_string()
    };
    assert_eq!(
        refused(&mut scene, "big.md", vec![b'a'; MAX_DOCUMENT_BYTES + 1]),
        "big.md was not added to the knowledge base: it is 2097153 bytes; the largest is 2097152 (2 MiB)"
    );
    assert_eq!(scene, before);
    for i in 0..MAX_KNOWLEDGE_BASE_BYTES / MAX_DOCUMENT_BYTES {
        scene
            .add_document(&format!("part{i}.md"), vec![b'a'; MAX_DOCUMENT_BYTES])
            .unwrap();
    }
    let full = scene.clone();
    assert_contains(
        &refused(&mut scene, "one-more.md", b"a few more words".to_vec()),
        &[
            "one-more.md was not added",
            "would hold 16777232 bytes",
            "16777216 (16 MiB) in all",
        ],
    );
    assert_eq!(scene, full);
    let mut scene = Scene::default();
    for i in 0..MAX_DOCUMENTS {
        scene
            .add_document(&format!("note{i}.txt"), b"a note".to_vec())
            .unwrap();
    }
    let full = scene.clone();
    assert_contains(
        &refused(&mut scene, "note-extra.txt", b"a note".to_vec()),
        &["already holds 256 documents, the most it takes"],
    );
    // Replacing one by name is still allowed when full.
    scene
        .add_document("note0.txt", b"a new note".to_vec())
        .unwrap();
    assert_eq!(scene.context.documents.len(), full.context.documents.len());
}

#[test]
fn counts_at_u32_max_and_beyond_are_refused_and_the_count_kept() {
    for text in [
        "4294967295",
        "4294967296",
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999999999999",
    ] {
        assert_eq!(
            parse_count(text),
            Err(CorpusError::TooLarge(text.into())),
            "{text}"
        );
    }
    for text in ["1e9", "+5", "0x10", "５", "٣", "NaN", "inf", "-0.0"] {
        assert_eq!(
            parse_count(text),
            Err(CorpusError::NotAnInteger(text.into())),
            "{text}"
        );
    }
    assert_eq!(
        parse_count("-4294967296"),
        Err(CorpusError::Negative("-4294967296".into()))
    );
    assert_eq!(parse_count("1000000000"), Ok(MAX_COUNT));

    let mut corpus = Corpus::default();
    let before = corpus.clone();
    assert!(corpus.set_count(0, "4294967296").is_err());
    assert_eq!(
        corpus.add_row(DEFAULT_PREFIX, "redis", u64::MAX),
        Err(CorpusError::TooLarge(u64::MAX.to_string()))
    );
    assert_eq!(corpus, before);

    // A scene file or a link holding such a count names the row.
    for count in ["4294967295", "4294967296", "18446744073709551615"] {
        let text = format!(
            r#"{{ "version": 1, "corpus": {{ "rows": [ {{ "prefix": "p", "ending": "x", "count": {count} }} ] }} }}"#
        );
        assert_eq!(
            open_error(&text),
            format!("the scene's \"corpus.rows[0].count\" is {count}: a whole number from 0 to 1000000000")
        );
    }
    assert_contains(
        &Scene::from_fragment("corpus=p:x*4294967296")
            .unwrap_err()
            .to_string(),
        &["\"corpus.rows[0].count\" is 4294967296"],
    );
    assert_contains(
        &Scene::from_fragment("corpus=p:x*18446744073709551616")
            .unwrap_err()
            .to_string(),
        &["\"corpus\"", "a whole number of times"],
    );

    // Typed into step 1's table: refused with the reason, the count kept; + stops at the most.
    let mut harness = step1_harness(Corpus::default());
    for typed in ["4294967296", "18446744073709551616"] {
        harness.get_by_label("count of mysql").click();
        harness.run();
        harness.get_by_label("count of mysql").type_text(typed);
        harness.key_press(Key::Enter);
        harness.run();
        harness.get_by_label_contains(&format!(
            "count of mysql: `{typed}` is above the largest count, 1000000000"
        ));
        assert_eq!(harness.state().0.rows[2].count, 2, "after {typed}");
    }
    let mut one_row = Corpus { rows: Vec::new() };
    one_row
        .add_row(DEFAULT_PREFIX, "mongodb", MAX_COUNT)
        .unwrap();
    let mut harness = step1_harness(one_row);
    harness.get_by_label("+").click();
    harness.run();
    assert_eq!(harness.state().0.rows[0].count, MAX_COUNT);
}

// ---------------------------------------------------------------------------------------------
// Not UTF-8

#[test]
fn non_utf8_scene_files_and_documents_are_refused_and_change_nothing() {
    let dir = scratch("non-utf8");
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "binary.json",
            &[0x00, 0x9f, 0x92, 0x96, 0xff],
            "binary.json is not UTF-8 text",
        ),
        (
            "latin1.json",
            b"{ \"attention\": { \"sentence\": \"caf\xe9\" } }",
            "latin1.json is not UTF-8 text",
        ),
        (
            "utf16.json",
            &[0xff, 0xfe, b'{', 0, b'}', 0],
            "utf16.json is not UTF-8 text (it looks like UTF-16: save it as UTF-8)",
        ),
        (
            "truncated.json",
            b"{ \"attention\": { \"sentence\": \"\xe2\x82\" } }",
            "truncated.json is not UTF-8 text",
        ),
    ];
    for (name, bytes, expected) in cases {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        let message = read_scene_file(&path).unwrap_err().to_string();
        assert_eq!(
            message,
            format!(
                "the scene file {} {}",
                path.display(),
                &expected[name.len() + 1..]
            )
        );
        assert!(message.contains(expected), "{message}");
    }
    // A UTF-8 byte-order mark (Windows' Notepad) is not an error.
    let path = dir.join("bom.json");
    std::fs::write(&path, b"\xef\xbb\xbf{ \"version\": 1, \"step\": 2 }").unwrap();
    assert_eq!(read_scene_file(&path).unwrap().scene.step, 2);

    // Dropped documents: refused by name, the knowledge base unchanged.
    let mut scene = Scene::default();
    scene
        .add_document("kept.md", b"Refunds in 30 days.".to_vec())
        .unwrap();
    let before = scene.clone();
    for bytes in [
        b"caf\xe9 au lait".to_vec(),
        vec![0xff, 0xfe, b'h', 0, b'i', 0],
        vec![0x89, b'P', b'N', b'G'],
    ] {
        assert_eq!(
            scene
                .add_document("notes.md", bytes)
                .unwrap_err()
                .to_string(),
            "notes.md was not added to the knowledge base: it is not UTF-8 text"
        );
    }
    assert_eq!(scene, before);
    // A BOM is dropped, so the heading on the first line is still a heading.
    scene
        .add_document("bom.md", b"\xef\xbb\xbf# Shipping\n\nTwo days.".to_vec())
        .unwrap();
    let added = scene.context.documents.last().unwrap();
    assert!(added.text.starts_with("# Shipping"), "{:?}", added.text);
}

// ---------------------------------------------------------------------------------------------
// Unicode

/// Emoji (a ZWJ family, a flag, skin tone), combining marks (decomposed é), right-to-left
/// Arabic and Hebrew, a zero-width joiner and non-joiner inside words, CJK, and a BiDi override.
const UNICODE: [&str; 8] = [
    "🐘 postgres",
    "👩\u{200d}👩\u{200d}👧 family 🇫🇷 👍🏽",
    "cafe\u{301} crème",
    "قاعدة البيانات",
    "מסד נתונים",
    "zero\u{200d}width\u{200c}joiners",
    "データベース",
    "\u{202e}desrever\u{202c}",
];

#[test]
fn unicode_text_is_read_whole_in_every_input() {
    let model = model();
    // The sentence: the tokens are the text's characters, lowercased, nothing lost or added;
    // attention computes (unknown words have no features) and every row sums to 1.
    for text in UNICODE {
        let tokens = tokenize(text);
        let expected: String = text
            .chars()
            .filter(|c| !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect();
        assert_eq!(tokens.concat(), expected, "{text}");
        let (_, input) = model
            .attention_input(text, 4, AttentionOptions::default())
            .unwrap();
        let result = attend(&input, QueryRows::All).unwrap();
        for row in result.weights.chunks(tokens.len()) {
            let sum: f32 = row.iter().sum();
            assert!(
                (sum - 1.0).abs() < 1e-4 && row.iter().all(|w| w.is_finite()),
                "{text}: {row:?}"
            );
        }
    }

    // Corpus endings and prefixes, and the preference over them.
    let mut corpus = Corpus { rows: Vec::new() };
    for (i, ending) in UNICODE.iter().enumerate() {
        corpus
            .add_row("la meilleure base est", ending, i as u64 + 1)
            .unwrap();
    }
    corpus.add_row("最好的数据库是", "🐘", 3).unwrap();
    let distribution = corpus.distribution("la meilleure base est");
    assert_eq!(distribution.prediction.as_deref(), Some(UNICODE[7]));
    let outcome = apply(&distribution, UNICODE[1], 1.0, Rewards::default()).unwrap();
    assert_eq!(outcome.prediction, UNICODE[1]);
    // é composed and é decomposed are different strings, so different endings.
    corpus
        .add_row("la meilleure base est", "café crème", 1)
        .unwrap();

    // Examples and a review, documents and a question.
    let examples: Vec<Example> = UNICODE
        .iter()
        .map(|text| Example::new(text, "😀 positive"))
        .collect();
    let input = in_context_input(&model, &examples, "👍🏽 loved it", 1000).unwrap();
    let outcome = context::compute(&input, 0).unwrap();
    assert!((outcome.masses.iter().sum::<f32>() - 1.0).abs() < 1e-3);
    let mut scene = Scene::default();
    scene.context.archive = false;
    for (i, text) in UNICODE.iter().enumerate() {
        scene
            .add_document(
                &format!("doc {i} {}.md", text.replace('\u{202e}', "")),
                format!("# {text}\n\n{text} refund").into_bytes(),
            )
            .unwrap();
    }
    let documents = scene.context.knowledge_base_documents("");
    let kb = KnowledgeBase::new(documents.iter().map(|(n, t)| (n.as_str(), t.as_str())));
    assert!(kb.empty.is_empty(), "{:?}", kb.empty);
    rag_input(&model, &kb, "قاعدة refund 👩\u{200d}👩\u{200d}👧?", 2000).unwrap();

    // All of it survives a scene file (with a Unicode name) and a link, unchanged.
    scene.corpus = corpus;
    scene.rlhf.preferred = UNICODE[1].into();
    scene.attention.sentence = UNICODE.join(" ");
    scene.context.examples = examples;
    scene.context.review = UNICODE[3].into();
    scene.context.question = UNICODE[2].into();
    let dir = scratch("unicode");
    let path = dir.join("场景 🎬 مشهد.json");
    write_scene_file(&path, &scene).unwrap();
    let opened = read_scene_file(&path).unwrap();
    assert_eq!(opened.scene, scene);
    assert!(opened.notes.is_empty());
    let (linked, unknown) = Scene::from_fragment(&scene.to_fragment()).unwrap();
    assert!(unknown.is_empty());
    let mut expected = scene.clone();
    expected.context.documents.clear(); // documents stay out of links
    assert_eq!(linked, expected);
}

// ---------------------------------------------------------------------------------------------
// Numbers in scene files

#[test]
fn scene_file_numbers_out_of_range_are_refused_naming_the_field() {
    let row = |count: &str| {
        format!(
            r#"{{ "version": 1, "corpus": {{ "rows": [ {{ "prefix": "p", "ending": "x", "count": {count} }} ] }} }}"#
        )
    };
    let edit = |value: &str| {
        format!(
            r#"{{ "version": 1, "attention": {{ "weight_edits": [ {{ "head": 0, "matrix": "w_k", "feature": "thing", "dim": "subject", "value": {value} }} ] }} }}"#
        )
    };
    let cases: Vec<(String, String)> = vec![
        // JSON has no NaN or infinity; a number too large for a float is a syntax error.
        (
            r#"{ "version": 1, "rlhf": { "strength": 1e999 } }"#.into(),
            "the scene is not valid JSON: the number at line 1, column 43 is too large (JSON numbers must fit a 64-bit float; 1e999 does not)".into(),
        ),
        (row("-1"), "the scene's \"corpus.rows[0].count\" is -1: a whole number from 0 to 1000000000".into()),
        (row("4294967296"), "the scene's \"corpus.rows[0].count\" is 4294967296: a whole number from 0 to 1000000000".into()),
        (row("2.5"), "the scene's \"corpus.rows[0].count\" is 2.5: a whole number from 0 to 1000000000".into()),
        (row("1e300"), "the scene's \"corpus.rows[0].count\" is 1e+300: a whole number from 0 to 1000000000".into()),
        (row("\"5\""), "the scene's \"corpus.rows[0].count\" is \"5\": a whole number from 0 to 1000000000".into()),
        (row("null"), "the scene's \"corpus.rows[0].count\" is null: a whole number from 0 to 1000000000".into()),
        (
            r#"{ "version": 1, "step": 300 }"#.into(),
            "the scene's \"step\" is 300: a lesson step from 1 to 4".into(),
        ),
        (
            r#"{ "version": -1 }"#.into(),
            "the scene's \"version\" is -1: a scene-file version, a whole number such as 1".into(),
        ),
        (
            r#"{ "version": 4294967296 }"#.into(),
            "the scene's \"version\" is 4294967296: a scene-file version, a whole number such as 1".into(),
        ),
        (
            r#"{ "rlhf": { "strength": "NaN" } }"#.into(),
            "the scene's \"rlhf.strength\" is \"NaN\": a strength from 0 to 1".into(),
        ),
        (
            r#"{ "rlhf": { "strength": 1.0000001 } }"#.into(),
            "the scene's \"rlhf.strength\" is 1.0000001: a strength from 0 to 1".into(),
        ),
        (
            r#"{ "rlhf": { "reward_chosen": 1e308 } }"#.into(),
            "the scene's \"rlhf.reward_chosen\" is 1e308: a reward from -100 to 100".into(),
        ),
        (
            r#"{ "attention": { "focus": 3.5 } }"#.into(),
            "the scene's \"attention.focus\" is 3.5: a token index, 0 for the first".into(),
        ),
        (
            r#"{ "attention": { "heads": -4 } }"#.into(),
            "the scene's \"attention.heads\" is -4: 1, 2 or 4".into(),
        ),
        (
            r#"{ "attention": { "causal": 1 } }"#.into(),
            "the scene's \"attention.causal\" is 1: true or false".into(),
        ),
        (
            r#"{ "context": { "budget_tokens": 1e5 } }"#.into(),
            "the scene's \"context.budget_tokens\" is 100000: a budget from 1 to 16384 tokens".into(),
        ),
        (
            r#"{ "context": { "level": 2.5 } }"#.into(),
            "the scene's \"context.level\" is 2.5: 1 (self-attention), 2 (in-context learning) or 3 (RAG)".into(),
        ),
        // An f32 weight: 1e39 is a fine f64 but infinite as f32.
        (edit("1e39"), "the scene's \"attention.weight_edits[0].value\" is inf: a weight from -10 to 10".into()),
        (edit("10.5"), "the scene's \"attention.weight_edits[0].value\" is 10.5: a weight from -10 to 10".into()),
        (edit("\"big\""), "the scene's \"attention.weight_edits[0].value\" is \"big\": a weight from -10 to 10".into()),
    ];
    for (text, expected) in &cases {
        assert_eq!(&open_error(text), expected, "{text}");
        assert_eq!(
            &Scene::from_json(
                &text
                    .replace(r#"{ "rlhf""#, r#"{ "version": 1, "rlhf""#)
                    .replace(r#"{ "attention""#, r#"{ "version": 1, "attention""#)
                    .replace(r#"{ "context""#, r#"{ "version": 1, "context""#)
            )
            .unwrap_err()
            .to_string(),
            expected,
            "the strict reading says the same: {text}"
        );
    }

    // Whole numbers written as floats, and -0, read as the numbers they are.
    let scene = Scene::open(&row("-0")).unwrap().scene;
    assert_eq!(scene.corpus.rows[0].count, 0);
    let scene = Scene::open(&row("2.0")).unwrap().scene;
    assert_eq!(scene.corpus.rows[0].count, 2);
    let scene = Scene::open(r#"{ "step": 2.0, "rlhf": { "strength": -0 } }"#)
        .unwrap()
        .scene;
    assert_eq!((scene.step, scene.rlhf.strength), (2, 0.0));
    // The refused value is quoted short, however long it was.
    let message = open_error(&format!(
        r#"{{ "rlhf": {{ "strength": "{}" }} }}"#,
        "9".repeat(100_000)
    ));
    assert!(message.len() < 200, "{message}");
    assert_contains(&message, &["(100002 characters)"]);
}

// ---------------------------------------------------------------------------------------------
// Unknown and missing fields

#[test]
fn unknown_fields_are_named_by_open_and_dropped_by_from_json_and_missing_fields_take_defaults() {
    let text = r#"{ "version": 1, "theme": "dark",
        "attention": { "sentence": "it is the best database", "colour": "red" },
        "corpus": { "rows": [ { "prefix": "p", "ending": "x", "count": 1, "weight": 2 } ] },
        "context": { "documents": [ { "name": "a.md", "text": "hi", "author": "me" } ] } }"#;
    let opened = Scene::open(text).unwrap();
    let line = opened.notes_line().unwrap();
    assert_contains(
        &line,
        &[
            "\"theme\"; it was kept as written",
            "\"attention.colour\"; it was ignored",
            "\"corpus.rows[0].weight\"",
            "\"context.documents[0].author\"",
        ],
    );
    let strict = Scene::from_json(text).unwrap();
    assert_eq!(
        strict, opened.scene,
        "the strict reading drops the same fields, silently"
    );
    assert_eq!(strict.attention.sentence, "it is the best database");
    assert_eq!(
        strict.attention.focus, 3,
        "a missing field takes the lesson's default"
    );

    // Missing: sections and their fields take the defaults; a corpus without rows is the seed's;
    // a row, example, document or edit without a field it needs is refused by name.
    let opened =
        Scene::open(r#"{ "version": 1, "corpus": {}, "rlhf": null, "context": {} }"#).unwrap();
    assert_eq!(opened.scene, Scene::default());
    let cases = [
        (
            r#"{ "corpus": { "rows": [ { "prefix": "p", "ending": "x" } ] } }"#,
            "the scene's \"corpus.rows[0]\" has no \"count\": every row needs a \"prefix\", an \"ending\" and a \"count\"",
        ),
        (
            r#"{ "context": { "examples": [ { "text": "ok", "label": "neutral" }, { "text": "loved it" } ] } }"#,
            "the scene's \"context.examples[1]\" has no \"label\": every example needs a \"text\" and a \"label\"",
        ),
        (
            r#"{ "context": { "documents": [ { "text": "hi" } ] } }"#,
            "the scene's \"context.documents[0]\" has no \"name\": every document needs a \"name\" and a \"text\"",
        ),
        (
            r#"{ "attention": { "weight_edits": [ { "head": 0 } ] } }"#,
            "the scene's \"attention.weight_edits[0]\" has no \"matrix\"",
        ),
        (
            r#"{ "corpus": [ "mongodb" ] }"#,
            "the scene's \"corpus\" is [\"mongodb\"]: a section, a JSON object { … }",
        ),
        (
            r#"{ "context": { "examples": { "text": "ok" } } }"#,
            "the scene's \"context.examples\" is {\"text\":\"ok\"}: a list [ … ]",
        ),
        (
            r#"{ "attention": { "positions": "alibi" } }"#,
            "the scene's \"attention.positions\" is \"alibi\": none, sinusoidal or rope",
        ),
        (
            "[1, 2]",
            "the scene is not valid: a scene file is one JSON object, like { \"version\": 1 }, and this is a list",
        ),
        ("\"scene\"", "and this is text"),
    ];
    for (text, expected) in cases {
        assert_contains(&open_error(text), &[expected]);
    }
    assert!(matches!(
        Scene::from_json(r#"{ "step": 2 }"#),
        Err(SceneError::MissingVersion)
    ));
}

// ---------------------------------------------------------------------------------------------
// Duplicates

#[test]
fn duplicate_endings_are_refused_and_a_prefix_spelt_twice_is_one_prefix() {
    let mut corpus = Corpus::default();
    let before = corpus.clone();
    assert_eq!(
        corpus
            .add_row(DEFAULT_PREFIX, " mongodb ", 1)
            .unwrap_err()
            .to_string(),
        "`mongodb` is already an ending of `the best database is`"
    );
    // The same words spelt another way join the prefix the corpus has…
    corpus
        .add_row("  The BEST  database is ", "redis", 2)
        .unwrap();
    assert_eq!(corpus.prefixes(), [DEFAULT_PREFIX]);
    assert_eq!(corpus.rows.last().unwrap().prefix, DEFAULT_PREFIX);
    // …so a duplicate ending is caught under any spelling.
    assert!(matches!(
        corpus.add_row("THE BEST DATABASE IS", "mongodb", 1),
        Err(CorpusError::DuplicateEnding { .. })
    ));
    assert_eq!(corpus.rows.len(), before.rows.len() + 1);

    // A file or link with either is refused, naming the row.
    let file = |rows: &str| format!(r#"{{ "version": 1, "corpus": {{ "rows": [ {rows} ] }} }}"#);
    assert_eq!(
        open_error(&file(
            r#"{ "prefix": "p", "ending": "x", "count": 1 }, { "prefix": "p", "ending": "x", "count": 2 }"#
        )),
        "the scene's \"corpus.rows[1].ending\" is \"x\": `x` is already an ending of `p`"
    );
    assert_eq!(
        open_error(&file(
            r#"{ "prefix": "the best db", "ending": "x", "count": 1 }, { "prefix": "The best  DB", "ending": "y", "count": 2 }"#
        )),
        "the scene's \"corpus.rows[1].prefix\" is \"The best  DB\": `The best  DB` has the same words as the sentence start `the best db`; write it one way"
    );
    assert_contains(
        &Scene::from_fragment("corpus=p:x*1,x*2")
            .unwrap_err()
            .to_string(),
        &["\"corpus.rows[1].ending\"", "already an ending"],
    );
    // The same prefix in rows apart is one prefix (ties still go to the row listed first) and
    // survives a file and a link.
    let (scene, _) = Scene::from_fragment("corpus=p:x*2;q:y*1;p:z*2").unwrap();
    assert_eq!(scene.corpus.prefixes(), ["p", "q"]);
    assert_eq!(
        scene.corpus.distribution("p").prediction.as_deref(),
        Some("x")
    );
    assert_eq!(Scene::from_json(&scene.to_json()).unwrap(), scene);
    assert_eq!(Scene::from_fragment(&scene.to_fragment()).unwrap().0, scene);
}

#[test]
fn duplicate_examples_each_count_and_duplicate_document_names_replace_or_are_refused() {
    // The same example twice is two examples: each takes its own share of attention.
    let model = model();
    let mut examples = context::default_examples();
    examples.push(examples[0].clone());
    let input = in_context_input(&model, &examples, "loved it", 1000).unwrap();
    assert_eq!(input.spans.len(), 4);
    let masses = context::compute(&input, 0).unwrap().masses;
    assert!((masses[0] - masses[3]).abs() < 1e-6, "{masses:?}");
    let scores = context::label_scores(&input.spans, &masses);
    assert_eq!(scores[0].0, "positive");
    assert!((scores[0].1 - (masses[0] + masses[3])).abs() < 1e-6);

    // A dropped file of a name already there replaces it, and says so.
    let mut scene = Scene::default();
    scene
        .add_document("faq.md", b"Refunds in 30 days.".to_vec())
        .unwrap();
    let again = scene
        .add_document("faq.md", b"Refunds in 14 days.".to_vec())
        .unwrap();
    assert!(again.replaced);
    assert_eq!(
        again.to_string(),
        "updated faq.md (4 words) in the knowledge base: 1 document for step 4's retrieval"
    );
    assert_eq!(scene.context.documents.len(), 1);

    // A scene file with two documents of one name is ambiguous: refused.
    let text = r#"{ "version": 1, "context": { "documents": [
        { "name": "faq.md", "text": "one" }, { "name": "faq.md", "text": "two" } ] } }"#;
    assert_eq!(
        open_error(text),
        "the scene's \"context.documents[1].name\" is \"faq.md\": a name no other document has (the knowledge base finds documents by name)"
    );
    let text = r#"{ "version": 1, "context": { "documents": [
        { "name": "ticket-archive.md (generated)", "text": "mine" } ] } }"#;
    assert_contains(
        &open_error(text),
        &[
            "\"context.documents[0].name\"",
            "a name no other document has",
        ],
    );
}

// ---------------------------------------------------------------------------------------------
// Links

#[test]
fn malformed_links_are_refused_naming_the_field() {
    let refused = |link: &str| Scene::from_fragment(link).unwrap_err().to_string();
    let cut_short =
        "percent-encoded text, each % followed by two hex digits (was the link cut short?)";
    assert_eq!(
        refused("sentence=the%20best%2"),
        format!("the scene's \"attention.sentence\" is the%20best%2: {cut_short}")
    );
    assert_contains(&refused("question=%"), &["\"context.question\"", cut_short]);
    assert_contains(&refused("prefer=%zz"), &["\"rlhf.preferred\"", cut_short]);
    // Escapes that decode to bytes that are not UTF-8 (a multi-byte letter cut in half).
    assert_eq!(
        refused("sentence=caf%C3"),
        "the scene's \"attention.sentence\" is caf%C3: percent-encoded UTF-8 text"
    );
    assert_contains(&refused("review=%FF%FE"), &["\"context.review\"", "UTF-8"]);
    // JSON values cut short or not JSON.
    assert_contains(
        &refused("examples=%5B%7B%22text"),
        &["\"context.examples\"", "a JSON list of examples"],
    );
    assert_contains(
        &refused("edits=oops"),
        &["\"attention.weight_edits\"", "a JSON list of weight edits"],
    );
    // A key with no value, numbers that are not numbers.
    assert_contains(&refused("causal"), &["\"attention.causal\"", "1 or 0"]);
    assert_contains(
        &refused("focus=-1"),
        &["\"attention.focus\"", "a token index"],
    );
    assert_contains(
        &refused("focus=18446744073709551616"),
        &["\"attention.focus\""],
    );
    assert_contains(
        &refused("strength=NaN"),
        &["\"rlhf.strength\"", "from 0 to 1"],
    );
    assert_contains(&refused("reward_chosen=inf"), &["\"rlhf.reward_chosen\""]);
    assert_contains(
        &refused("corpus=p:x"),
        &["\"corpus\"", "prefix:ending*count"],
    );
    // Huge.
    let huge = format!("step=2&question={}", "q".repeat(MAX_FRAGMENT_BYTES));
    assert_contains(
        &refused(&huge),
        &["\"link\"", "at most 2097152 bytes (2 MiB)"],
    );
    let long_question = format!("question={}", "q".repeat(MAX_LINE_CHARS + 1));
    assert_contains(
        &refused(&long_question),
        &["\"context.question\"", "(this is 4097)"],
    );

    // Unknown keys, even of bytes that are not UTF-8, are reported, never fatal; a repeated
    // key takes its last value.
    let (scene, unknown) = Scene::from_fragment("%FF=1&zoom=2&step=1&step=2").unwrap();
    assert_eq!(unknown, ["\u{fffd}", "zoom"]);
    assert_eq!(scene.step, 2);
}

// ---------------------------------------------------------------------------------------------
// Step 2's preference and strength

#[test]
fn a_preference_the_model_cannot_say_is_refused_and_the_preference_kept() {
    let mut harness = step2_harness();
    type_preference(&mut harness, "oracle");
    harness.get_by_label("pretraining never saw 'oracle' — no finite reward can reach it");
    harness.get_by_label("the preference stays postgresql");
    assert_eq!(harness.state().1.preferred, "postgresql");
    harness.get_by_label("at this strength the model now predicts");

    type_preference(&mut harness, &"x".repeat(1_000));
    harness.get_by_label("that is 1000 characters; an ending is at most 100");
    assert_eq!(harness.state().1.preferred, "postgresql");

    type_preference(&mut harness, "🐘");
    harness.get_by_label("pretraining never saw '🐘' — no finite reward can reach it");

    // A word the model can say is taken, and the refusal goes.
    type_preference(&mut harness, "sqlite");
    assert_eq!(harness.state().1.preferred, "sqlite");
    assert!(harness
        .query_by_label_contains("pretraining never saw")
        .is_none());
}

#[test]
fn the_strength_stays_between_zero_and_one_and_huge_rewards_stay_finite() {
    // The slider, set past its ends the way assistive technology can set it.
    let mut harness = step2_harness();
    for (asked, expected) in [(5.0, 1.0), (-3.0, 0.0), (1e300, 1.0)] {
        harness
            .get_by_role(egui::accesskit::Role::Slider)
            .set_value_accesskit(asked);
        harness.run();
        assert_eq!(harness.state().1.strength, expected, "set to {asked}");
    }
    harness
        .get_by_role(egui::accesskit::Role::Slider)
        .set_value_accesskit(f64::NAN);
    harness.run();
    let strength = harness.state().1.strength;
    assert!((0.0..=1.0).contains(&strength), "NaN gave {strength}");

    // Rewards JSON can hold but the lesson never needs: refused by field in a scene…
    assert_eq!(
        open_error(r#"{ "rlhf": { "reward_winner": -1e6 } }"#),
        "the scene's \"rlhf.reward_winner\" is -1000000.0: a reward from -100 to 100"
    );
    // …and, given to the model directly, the odds stay finite: a logit that overflows to +inf
    // (a huge reward over a tiny β) takes all the mass instead of turning the softmax to NaN.
    let distribution = Corpus::default().distribution(DEFAULT_PREFIX);
    let rewards = Rewards {
        chosen: 1e300,
        winner: -1e300,
    };
    let outcome = apply(&distribution, "sqlite", 1.0 - 1e-12, rewards).unwrap();
    assert_eq!(outcome.prediction, "sqlite");
    let total: f64 = outcome.rows.iter().map(|r| r.probability).sum();
    assert!(outcome.rows.iter().all(|r| r.probability.is_finite()));
    assert!((total - 1.0).abs() < 1e-12, "{total}");
}

// ---------------------------------------------------------------------------------------------
// Step 3's weight edits

#[test]
fn weight_edits_out_of_range_or_naming_nothing_are_refused() {
    let file = |edit: &str| {
        format!(r#"{{ "version": 1, "attention": {{ "weight_edits": [ {edit} ] }} }}"#)
    };
    let cases = [
        (
            r#"{ "head": 4, "matrix": "w_q", "feature": "thing", "dim": "subject", "value": 1 }"#,
            "the scene's \"attention.weight_edits[0].head\" is 4: a head index from 0 to 3",
        ),
        (
            r#"{ "head": 0, "matrix": "w_o", "feature": "thing", "dim": "subject", "value": 1 }"#,
            "the scene's \"attention.weight_edits[0].matrix\" is \"w_o\": w_q, w_k or w_v",
        ),
        (
            r#"{ "head": 0, "matrix": "w_q", "feature": "colour", "dim": "subject", "value": 1 }"#,
            "the scene's \"attention.weight_edits[0].feature\" is \"colour\": one of the lesson model's features: function word, thing,",
        ),
        (
            r#"{ "head": 0, "matrix": "w_v", "feature": "thing", "dim": "subject", "value": 1 }"#,
            "the scene's \"attention.weight_edits[0].dim\" is \"subject\": one of W_V's dimensions: thing, quality, topic, sentiment, programming",
        ),
        (
            r#"{ "head": 0, "matrix": "w_k", "feature": "thing", "dim": "subject", "value": -10.001 }"#,
            "is -10.001: a weight from -10 to 10",
        ),
    ];
    for (edit, expected) in cases {
        assert_contains(&open_error(&file(edit)), &[expected]);
    }
    // The edge of the range is taken.
    let edge = file(
        r#"{ "head": 3, "matrix": "w_k", "feature": "thing", "dim": "subject", "value": -10 }"#,
    );
    assert_eq!(
        Scene::open(&edge).unwrap().scene.attention.weight_edits[0].value,
        -10.0
    );

    // The model refuses the same edits when handed them directly, with its reason.
    let model = model();
    let edit = WeightEdit {
        head: 0,
        matrix: Projection::WK,
        feature: "thing".into(),
        dim: "subject".into(),
        value: 50.0,
    };
    assert_eq!(
        model
            .edited_weights(0, std::slice::from_ref(&edit))
            .unwrap_err()
            .to_string(),
        "a weight edit of head 0 W_K sets 50; a weight is edited from -10 to 10"
    );
    let nan = WeightEdit {
        value: f32::NAN,
        ..edit
    };
    assert_contains(
        &model.edited_weights(0, &[nan]).unwrap_err().to_string(),
        &["non-finite"],
    );
    assert_contains(
        &model
            .edited_weights(usize::MAX, &[])
            .unwrap_err()
            .to_string(),
        &["the lesson model has 4 heads"],
    );
}

// ---------------------------------------------------------------------------------------------
// Scene files as files

#[test]
fn scene_files_that_cannot_be_read_or_would_not_reopen_are_named_and_nothing_is_written() {
    let dir = scratch("files");
    // A folder, a missing file.
    assert_contains(
        &read_scene_file(&dir).unwrap_err().to_string(),
        &["cannot read the scene file", "Is a directory"],
    );
    assert_contains(
        &read_scene_file(&dir.join("gone.json"))
            .unwrap_err()
            .to_string(),
        &["cannot read the scene file", "gone.json"],
    );
    // A scene that holds what a file may not (a sentence past the longest taken, typed into
    // step 3) is not saved: it would not open again. The file there is kept.
    let path = dir.join("lesson.json");
    write_scene_file(&path, &Scene::default()).unwrap();
    let saved = std::fs::read(&path).unwrap();
    let mut scene = Scene::default();
    scene.attention.sentence = "word ".repeat(1_000);
    let message = write_scene_file(&path, &scene).unwrap_err().to_string();
    assert_contains(
        &message,
        &[
            "cannot save the scene to",
            "lesson.json: it would not open again, because the scene's \"attention.sentence\"",
            "nothing was written",
        ],
    );
    assert_eq!(std::fs::read(&path).unwrap(), saved);
}

// ---------------------------------------------------------------------------------------------
// The command line

/// Runs the built `gaze` with `args` (no window opens: each fails before one would).
fn gaze(args: &[&std::ffi::OsStr]) -> (Option<i32>, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gaze"))
        .args(args)
        .env_remove("GAZE_MODEL")
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn os(text: &str) -> &std::ffi::OsStr {
    std::ffi::OsStr::new(text)
}

#[test]
fn bad_command_lines_exit_non_zero_with_a_one_line_reason_and_no_panic() {
    let dir = scratch("cli");
    let write = |name: &str, bytes: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, bytes).unwrap();
        path
    };
    let binary = write("binary.json", &[0xff, 0xfe, 0x00, 0x80]);
    let negative = write(
        "negative.json",
        br#"{ "version": 1, "corpus": { "rows": [ { "prefix": "p", "ending": "x", "count": -1 } ] } }"#,
    );
    let mut long = Scene::default();
    long.attention.sentence = "word ".repeat(200_000);
    let long = write("long.json", long.to_json().as_bytes());
    let missing = dir.join("missing.json");
    let path = |p: &Path| p.as_os_str().to_owned();

    // Our own refusals: exactly one line, `gaze…: ` and the reason.
    let own: Vec<(Vec<std::ffi::OsString>, Vec<&str>)> = vec![
        (
            vec!["--scene".into(), path(&missing)],
            vec![
                "gaze: cannot read the scene file",
                "missing.json",
                "No such file",
            ],
        ),
        (
            vec!["--scene".into(), path(&binary)],
            vec!["gaze: the scene file", "is not UTF-8 text"],
        ),
        (
            vec!["--scene".into(), path(&dir)],
            vec!["gaze: cannot read the scene file", "Is a directory"],
        ),
        (
            vec!["inspect".into(), "--scene".into(), path(&negative)],
            vec!["gaze inspect: in", "\"corpus.rows[0].count\" is -1"],
        ),
        (
            vec!["inspect".into(), "--scene".into(), path(&long)],
            vec![
                "gaze inspect: in",
                "\"attention.sentence\"",
                "the longest taken is 4096",
            ],
        ),
        (
            vec!["inspect".into(), "--scene".into(), path(&dir)],
            vec!["gaze inspect: cannot read the scene file", "Is a directory"],
        ),
    ];
    for (args, expected) in own {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        let (code, stderr) = gaze(&args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked at"), "{args:?}: {stderr}");
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert_contains(&stderr, &expected);
    }

    // A path that is not UTF-8 (Unix file names are bytes): named as well as it can be.
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = dir.join(std::ffi::OsStr::from_bytes(b"sc\xe8ne.json"));
        let (code, stderr) = gaze(&[os("inspect"), os("--scene"), name.as_os_str()]);
        assert_eq!(code, Some(2), "{stderr}");
        assert_contains(
            &stderr,
            &["cannot read the scene file", "sc\u{fffd}ne.json"],
        );
        assert!(!stderr.contains("panicked at"), "{stderr}");
    }

    // Argument errors (clap's): the reason on the first line, then a pointer to --help.
    let usage: [(&[&str], &str); 5] = [
        (
            &["--frames", "abc"],
            "invalid value 'abc' for '--frames <N>'",
        ),
        (&["--frames", "-1"], "unexpected argument '-1'"),
        (&["--bogus"], "unexpected argument '--bogus'"),
        (
            &["--theme", "neon"],
            "unknown theme `neon` (dark or projector)",
        ),
        (
            &["--export-scale", "3"],
            "the export scale is 1, 2 or 4, not `3`",
        ),
    ];
    for (args, expected) in usage {
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| os(a)).collect();
        let (code, stderr) = gaze(&args);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked at"), "{args:?}: {stderr}");
        let first = stderr.lines().next().unwrap_or_default();
        assert!(
            first.starts_with("error: ") && first.contains(expected),
            "{args:?}: {stderr}"
        );
    }
}

/// `gaze render` with a scale that is no scale (0, -1, NaN, inf, 1e30): refused by name before
/// anything is drawn (NaN used to panic inside egui, the others were clamped without a word).
#[test]
fn render_with_a_scale_that_is_no_scale_exits_non_zero_without_a_panic() {
    let out =
        std::env::temp_dir().join(format!("gaze-hardening-{}-render.png", std::process::id()));
    for scale in ["0", "-1", "NaN", "inf", "1e30"] {
        let scale_arg = format!("--scale={scale}");
        let (code, stderr) = gaze(&[os("render"), os(&scale_arg), os("--out"), out.as_os_str()]);
        assert!(!stderr.contains("panicked at"), "{scale}: {stderr}");
        assert_eq!(code, Some(2), "{scale}: {stderr}");
        assert_contains(&stderr, &["scale"]);
    }
}

/// A dropped or listed file far larger than a document may be (a 3 GB sparse file here) is
/// refused by its size on disk, naming it, before a byte of it is read into memory.
#[test]
fn a_huge_dropped_file_is_refused_by_its_size_without_being_read() {
    let dir = std::env::temp_dir().join(format!("gaze-hardening-{}-huge", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("huge.txt");
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(3 << 30).unwrap();
    let error = gaze::app::context_lesson::read_document(&path, "huge.txt").unwrap_err();
    assert!(
        error.contains("huge.txt") && error.contains("3221225472 bytes"),
        "{error}"
    );
    let mut scene = gaze::scene::Scene::default();
    let before = scene.clone();
    let report = gaze::app::context_lesson::add_folder(&mut scene, dir.to_str().unwrap());
    assert!(report.contains("3221225472 bytes"), "{report}");
    assert_eq!(scene, before, "nothing was added, nothing lost");
    std::fs::remove_dir_all(&dir).unwrap();
}
