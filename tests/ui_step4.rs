//! Step 4 driven like a user (egui_kittest): switch levels, relabel an example, edit a document,
//! paste too much, ask an empty question — and read what the panel says. Attention runs on the
//! GPU kernels each time, as in the window.

mod common;

use common::step4::{at_level, Screen};
use egui::{Key, Modifiers};
use egui_kittest::kittest::Queryable;
use egui_kittest::Harness;
use gaze::scene::Scene;

fn harness(scene: Scene) -> Harness<'static, Screen> {
    common::step4::harness(scene, false)
}

/// Selects everything in the box labelled `label` and types `text` over it.
fn replace_text(harness: &mut Harness<'static, Screen>, label: &str, text: &str) {
    harness.get_by_label(label).click();
    harness.run();
    harness.key_press_modifiers(Modifiers::COMMAND, Key::A);
    harness.run();
    harness.get_by_label(label).type_text(text);
    harness.run();
}

#[test]
fn switching_levels_changes_the_focus_and_the_context() {
    let mut harness = harness(at_level(2));
    harness.get_by_label("focus: classify this review -> \"it was okay\"");
    harness.get_by_label("prediction: neutral");
    harness.get_by_label("3 RAG (~10k tokens)").click();
    harness.run();
    assert_eq!(harness.state().0.context.level, 3);
    harness.get_by_label("focus: what's our refund policy on damaged items?");
    harness.get_by_label("the answer's source:");
    harness
        .get_by_label("1 self-attention (~10 tokens)")
        .click();
    harness.run();
    harness.get_by_label("focus: is");
    harness.get_by_label_contains("context: the other words of the sentence - 4 tokens");
}

#[test]
fn relabelling_an_example_flips_the_prediction_with_no_training() {
    let mut harness = harness(at_level(2));
    replace_text(
        &mut harness,
        "review to classify:",
        "loved it, a great product",
    );
    harness.get_by_label("prediction: positive");
    replace_text(&mut harness, "label of example 1", "negative");
    assert_eq!(harness.state().0.context.examples[0].label, "negative");
    harness.get_by_label("prediction: negative");
}

#[test]
fn generating_examples_gives_about_a_thousand_tokens_of_context() {
    let mut harness = harness(at_level(2));
    harness
        .get_by_label("generate 120 examples (~1k tokens)")
        .click();
    harness.run();
    let (scene, _, step4, _) = harness.state();
    assert_eq!(scene.context.examples.len(), 120);
    let tokens = step4.shown().unwrap().input.context_tokens();
    assert!((900..1400).contains(&tokens), "{tokens}");
    harness.get_by_label_contains("context: the examples (120 of them)");
}

#[test]
fn editing_a_document_moves_the_answers_source() {
    let mut harness = harness(at_level(3));
    // The answer's source is named twice: under "the answer's source:" and in the table.
    let shown =
        |harness: &Harness<'static, Screen>, name: &str| harness.query_all_by_label(name).count();
    assert_eq!(shown(&harness, "policy.md § Items damaged in transit"), 2);
    harness.get_by_label("tickets.md").click();
    harness.run();
    replace_text(
        &mut harness,
        "text of tickets.md",
        "## Damaged items and refunds\n\nRefund policy for damaged items: every damaged item \
         gets a refund; a damaged order, a damaged return, a damaged ticket - refund the items, \
         refund the order, refund the return, refund the ticket.",
    );
    let scene = &harness.state().0;
    assert_eq!(
        scene.context.documents.len(),
        1,
        "the edit is kept in the scene"
    );
    // The new paragraph takes the most attention: the source moves, highlighted.
    assert_eq!(shown(&harness, "tickets.md § Damaged items and refunds"), 2);
    assert_eq!(shown(&harness, "policy.md § Items damaged in transit"), 1);
}

#[test]
fn a_five_megabyte_paste_is_refused_and_nothing_is_lost() {
    let mut harness = harness(at_level(2));
    let before = harness.state().0.context.examples.clone();
    harness
        .get_by_label("paste examples, one per line: text -> label")
        .click();
    harness.run();
    harness.event(egui::Event::Paste("great -> positive\n".repeat(300_000)));
    harness.run();
    harness.get_by_label_contains("the paste is 5400000 bytes");
    assert_eq!(harness.state().0.context.examples, before);
    assert!(harness.state().1.context.paste.is_empty());
}

#[test]
fn pasted_examples_are_added_and_bad_lines_named() {
    let mut harness = harness(at_level(2));
    harness
        .get_by_label("paste examples, one per line: text -> label")
        .click();
    harness.run();
    harness.event(egui::Event::Paste(
        "great value -> positive\nthis line has no label\nawful -> negative".into(),
    ));
    harness.run();
    harness.get_by_label("add pasted examples").click();
    harness.run();
    assert_eq!(harness.state().0.context.examples.len(), 5);
    harness.get_by_label_contains("added 2 examples; 1 lines had no '->'");
}

#[test]
fn an_empty_question_says_why_and_keeps_the_last_answer() {
    let mut harness = harness(at_level(3));
    replace_text(&mut harness, "question:", "?");
    harness.get_by_label("the question has no words");
    // The last good answer stays on screen (named as the source and in the table).
    assert_eq!(
        harness
            .query_all_by_label("policy.md § Items damaged in transit")
            .count(),
        2
    );
}

#[test]
fn a_folder_adds_its_text_files_and_names_the_ones_it_refused() {
    let folder = std::env::temp_dir().join(format!("gaze-kb-{}", std::process::id()));
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("faq.md"), "## Shipping\n\nWe ship in two days.").unwrap();
    std::fs::write(folder.join("notes.txt"), "Refunds need a receipt.").unwrap();
    std::fs::write(folder.join("binary.md"), [0u8, 159, 146, 150, 255]).unwrap();
    std::fs::write(folder.join("empty.txt"), "   \n").unwrap();
    std::fs::write(folder.join("photo.png"), [137u8, 80, 78, 71]).unwrap();
    let mut harness = harness(at_level(3));
    replace_text(&mut harness, "add a folder:", folder.to_str().unwrap());
    harness.get_by_label("add its .md and .txt files").click();
    harness.run();
    let report = harness.state().1.context.report.clone().unwrap_or_default();
    assert!(report.starts_with("added 2 documents"), "{report}");
    assert!(
        report.contains("binary.md was not added") && report.contains("UTF-8"),
        "{report}"
    );
    assert!(report.contains("empty.txt was not added"), "{report}");
    let names: Vec<&str> = harness
        .state()
        .0
        .context
        .documents
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(names, ["faq.md", "notes.txt"]);
    // They joined retrieval: the knowledge base has their chunks.
    let kb = &harness.state().2.kb();
    assert!(kb.chunks.iter().any(|c| c.document == "faq.md"));
    std::fs::remove_dir_all(&folder).ok();
}
