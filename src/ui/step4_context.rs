//! Step 4 — in-context learning and RAG: "same equation, same softmax; only the neighbours
//! change". The level selector, each level's context (editable examples; the question and the
//! knowledge base), and what the focus's attention over it says: the prediction read off
//! attention mass, the retrieval table with each chunk's mass and "the answer's source", arcs to
//! the top tokens, and the overview map of the whole context (drawn on the GPU by
//! [`OverviewCallback`] from the compute pass's map buffer).

use egui::{Color32, Pos2, RichText, Sense, Stroke, Vec2};

use crate::model::context::{
    self, argmax, label_scores, ContextInput, KnowledgeBase, Level, MAX_CONTEXT_TOKENS,
    MAX_PASTE_BYTES,
};
use crate::model::retrieval::Retrieved;
use crate::render::colormap::Colormap;
use crate::render::heatmap::{overview_shade, OverviewCallback};
use crate::scene::{ContextScene, MAX_DOCUMENT_BYTES, MAX_KNOWLEDGE_BASE_BYTES};
use crate::ui::presenter::controls_shown;
use crate::ui::theme::{font, palette, text_size};

/// What the panel shows, derived by the app (`app::context_lesson`).
#[derive(Clone, Copy, Debug)]
pub struct ContextView<'a> {
    /// The level's context as last built (`None` before the first).
    pub input: Option<&'a ContextInput>,
    /// Level 3: every chunk, best first.
    pub retrieved: &'a [Retrieved],
    /// Level 3: each knowledge-base chunk's span in the context, if it made the budget.
    pub span_of_chunk: &'a [Option<usize>],
    /// The knowledge base the retrieval ran over.
    pub kb: &'a KnowledgeBase,
    /// The focus row, `None` while the readback is in flight.
    pub weights: Option<&'a [f32]>,
    /// Each span's share of it.
    pub masses: Option<&'a [f32]>,
    /// The tokens the focus attends to most, largest first (the arcs' targets).
    pub top: &'a [(usize, f32)],
    /// The overview map's values, `bins × bins` (empty until read back).
    pub overview: &'a [f32],
    /// Its colour range.
    pub range: [f32; 2],
    /// Edit to the overview on screen, ms (it follows the numbers, a slice per frame).
    pub overview_ms: Option<f64>,
    /// How much of the overview is computed, 0–1.
    pub overview_fraction: f32,
    /// Edit to numbers on screen, ms.
    pub latency_ms: Option<f64>,
    /// Bins per side of the overview map; 0 when there is none.
    pub bins: u32,
    /// Whether the GPU computed it.
    pub on_gpu: bool,
    /// GPU memory the context's buffers take.
    pub gpu_bytes: u64,
    /// Why the current state was refused (the last good one stays on screen).
    pub refusal: Option<&'a str>,
    /// The colour map of the overview and its legend.
    pub colormap: Colormap,
}

/// What step 4 keeps between frames that is not part of the scene.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ContextPanel {
    /// The "paste examples" box.
    pub paste: String,
    /// What the last paste or folder did, or why it was refused.
    pub report: Option<String>,
    /// The document open in the editor.
    pub selected_document: String,
    /// The "add a folder" path box (native).
    pub folder: String,
    /// A folder to read, for the app (the panel does no file I/O).
    pub folder_requested: Option<String>,
}

/// The panel; returns where the overview map was drawn (for the page's tests).
pub fn show(
    ui: &mut egui::Ui,
    scene: &mut ContextScene,
    sentence: &mut String,
    focus: &mut usize,
    panel: &mut ContextPanel,
    view: &ContextView<'_>,
) -> Option<egui::Rect> {
    refuse_oversized_pastes(ui, panel);
    ui.heading("Step 4 — Same attention, new neighbours");
    ui.label(
        "Same equation, same softmax: softmax(QK^T / sqrt(d_k)) V. Only the context the focus \
         attends over changes - a sentence, a few-shot prompt, retrieved documents.",
    );
    ui.horizontal(|ui| {
        for level in Level::ALL {
            let text = RichText::new(format!("{} {}", level as u8, level.name()))
                .size(text_size(ui, 17.0));
            if ui
                .add(egui::Button::selectable(scene.level == level as u8, text))
                .clicked()
            {
                scene.level = level as u8;
            }
        }
    });
    header(ui, scene.level(), view);
    if let Some(refusal) = view.refusal {
        ui.colored_label(palette(ui).warning, refusal);
    }
    if let Some(report) = &panel.report {
        ui.colored_label(palette(ui).info, report);
    }
    ui.separator();
    let mut map_rect = None;
    ui.columns(2, |columns| {
        let [left, right] = columns else {
            return;
        };
        match scene.level() {
            Level::SelfAttention => sentence_controls(left, sentence, focus, view),
            Level::InContext => examples_controls(left, scene, panel, view),
            Level::Rag => knowledge_base_controls(left, scene, panel, view),
        }
        map_rect = results(right, scene.level(), view);
    });
    map_rect
}

/// "focus: … / context: … — N tokens", the seed's way of saying what attends to what.
fn header(ui: &mut egui::Ui, level: Level, view: &ContextView<'_>) {
    let Some(input) = view.input else {
        ui.label("computing…");
        return;
    };
    let context = match level {
        Level::SelfAttention => "the other words of the sentence".to_owned(),
        Level::InContext => format!("the examples ({} of them)", input.spans.len()),
        Level::Rag => format!("retrieved chunks ({} of them)", input.spans.len()),
    };
    ui.label(
        RichText::new(format!("focus: {}", input.focus_text))
            .size(text_size(ui, 20.0))
            .strong(),
    );
    let mut line = format!(
        "context: {context} - {} tokens",
        thousands(input.context_tokens())
    );
    if input.left_out > 0 {
        line.push_str(&format!("; {} left out (over the budget)", input.left_out));
    }
    ui.label(RichText::new(line).size(text_size(ui, 18.0)));
    let engine = if view.on_gpu {
        format!(
            "focus row, chunk masses and overview computed on the GPU ({} of buffers)",
            bytes(view.gpu_bytes)
        )
    } else {
        "computed on the CPU reference".to_owned()
    };
    let latency = view
        .latency_ms
        .map_or(String::new(), |ms| format!("; edit to numbers {ms:.0} ms"));
    let latency = match view.overview_ms {
        Some(ms) => format!("{latency}, to overview {ms:.0} ms"),
        None => latency,
    };
    ui.weak(format!("{engine}{latency}"));
}

/// Level 1: step 3's sentence and focus.
fn sentence_controls(
    ui: &mut egui::Ui,
    sentence: &mut String,
    focus: &mut usize,
    view: &ContextView<'_>,
) {
    ui.label(
        RichText::new("Level 1: self-attention")
            .size(text_size(ui, 18.0))
            .strong(),
    );
    ui.horizontal(|ui| {
        let label = ui.label("sentence:");
        ui.text_edit_singleline(sentence).labelled_by(label.id);
    });
    let words = view.input.map_or(0, |i| i.tokens.len());
    if words > 0 {
        ui.horizontal_wrapped(|ui| {
            ui.label("focus:");
            if let Some(input) = view.input {
                for (i, token) in input.tokens.iter().enumerate() {
                    if ui.selectable_label(*focus == i, token).clicked() {
                        *focus = i;
                    }
                }
            }
        });
    }
    ui.label(
        "Step 3's view of the same thing: press 3 for the full map, heads and switches. Levels 2 \
         and 3 run the very same kernels over a thousand and ten thousand tokens.",
    );
}

/// Level 2: the few-shot examples and the review.
fn examples_controls(
    ui: &mut egui::Ui,
    scene: &mut ContextScene,
    panel: &mut ContextPanel,
    view: &ContextView<'_>,
) {
    ui.label(
        RichText::new("Level 2: in-context learning")
            .size(text_size(ui, 18.0))
            .strong(),
    );
    ui.horizontal(|ui| {
        let label = ui.label("review to classify:");
        ui.add(egui::TextEdit::singleline(&mut scene.review).desired_width(260.0))
            .labelled_by(label.id);
    });
    ui.label(format!("examples ({}):", scene.examples.len()));
    let masses = view.masses.unwrap_or(&[]);
    let mut remove = None;
    let row_height = ui.spacing().interact_size.y + 4.0;
    egui::ScrollArea::vertical()
        .id_salt("examples")
        .max_height(300.0)
        .auto_shrink([false, true])
        .show_rows(ui, row_height, scene.examples.len(), |ui, rows| {
            for i in rows {
                let Some(example) = scene.examples.get_mut(i) else {
                    continue;
                };
                ui.horizontal(|ui| {
                    named_text(ui, &mut example.text, 200.0, || {
                        format!("text of example {}", i + 1)
                    });
                    ui.label("->");
                    named_text(ui, &mut example.label, 90.0, || {
                        format!("label of example {}", i + 1)
                    });
                    // Only examples that made the budget have a mass (they come first).
                    if let Some(mass) = masses.get(i) {
                        ui.label(format!("{:.1}%", mass * 100.0));
                    }
                    if ui
                        .small_button("x")
                        .on_hover_text("remove this example")
                        .clicked()
                    {
                        remove = Some(i);
                    }
                });
            }
        });
    if let Some(i) = remove.filter(|&i| i < scene.examples.len()) {
        scene.examples.remove(i);
    }
    // Presenting (H): the examples stay, the tools to make more go.
    if !controls_shown(ui) {
        return;
    }
    ui.horizontal_wrapped(|ui| {
        if ui.button("add example").clicked() {
            if scene.examples.len() < context::MAX_EXAMPLES {
                scene.examples.push(context::Example::new("", "positive"));
            } else {
                panel.report = Some(format!(
                    "step 4 holds at most {} examples: remove one to add another",
                    context::MAX_EXAMPLES
                ));
            }
        }
        if ui.button("generate 120 examples (~1k tokens)").clicked() {
            scene.examples = context::generate_examples(120, scene.examples.len() as u64);
        }
        if ui.button("the seed's 3 examples").clicked() {
            scene.examples = context::default_examples();
        }
    });
    let label = ui.label("paste examples, one per line: text -> label");
    // Scrolled, so a paste of thousands of lines keeps the button below it in view.
    egui::ScrollArea::vertical()
        .id_salt("paste")
        .max_height(120.0)
        .show(ui, |ui| {
            ui.add(
                egui::TextEdit::multiline(&mut panel.paste)
                    .desired_rows(3)
                    .desired_width(f32::INFINITY)
                    .hint_text("\"great value\" -> positive"),
            )
            .labelled_by(label.id);
        });
    if ui.button("add pasted examples").clicked() {
        let parsed = context::parse_examples(&panel.paste).and_then(|(examples, bad)| {
            // All or none: a paste that would pass the most examples adds nothing.
            let added = context::add_examples(&mut scene.examples, examples)?;
            Ok((added, bad))
        });
        match parsed {
            Ok((added, bad)) => {
                let mut report = format!("added {added} examples");
                if !bad.is_empty() {
                    let lines: Vec<String> = bad.iter().take(10).map(usize::to_string).collect();
                    report.push_str(&format!(
                        "; {} lines had no '->' between text and label and were skipped \
                         (lines {}{})",
                        bad.len(),
                        lines.join(", "),
                        if bad.len() > 10 { ", …" } else { "" }
                    ));
                }
                panel.report = Some(report);
                panel.paste.clear();
            }
            Err(error) => panel.report = Some(error.to_string()),
        }
    }
    budget(ui, scene);
}

/// Level 3: the question, the knowledge base and its documents.
fn knowledge_base_controls(
    ui: &mut egui::Ui,
    scene: &mut ContextScene,
    panel: &mut ContextPanel,
    view: &ContextView<'_>,
) {
    ui.label(
        RichText::new("Level 3: retrieval-augmented generation")
            .size(text_size(ui, 18.0))
            .strong(),
    );
    ui.horizontal(|ui| {
        let label = ui.label("question:");
        ui.add(egui::TextEdit::singleline(&mut scene.question).desired_width(320.0))
            .labelled_by(label.id);
    });
    if controls_shown(ui) {
        ui.checkbox(
            &mut scene.archive,
            "include the generated ticket archive (300 tickets, ~12k tokens)",
        );
        budget(ui, scene);
    }
    ui.label(format!(
        "knowledge base: {} chunks, {} tokens",
        view.kb.chunks.len(),
        thousands(view.kb.tokens())
    ));
    if !view.kb.empty.is_empty() {
        ui.colored_label(
            palette(ui).warning,
            format!(
                "no text in {}: left out of retrieval",
                view.kb.empty.join(", ")
            ),
        );
    }
    // The documents one can edit: the shipped samples and the user's own (the generated archive
    // is switched on and off above, not edited).
    let mut names: Vec<String> = context::SAMPLE_DOCUMENTS
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    for document in &scene.documents {
        if !names.contains(&document.name) {
            names.push(document.name.clone());
        }
    }
    if !names.contains(&panel.selected_document) {
        panel.selected_document = names.first().cloned().unwrap_or_default();
    }
    // Presenting (H): the question and the retrieval stay, the document editor goes.
    if !controls_shown(ui) {
        return;
    }
    ui.horizontal_wrapped(|ui| {
        ui.label("edit a document:");
        for name in &names {
            ui.selectable_value(&mut panel.selected_document, name.clone(), name);
        }
    });
    let name = panel.selected_document.clone();
    let stored = scene.documents.iter().position(|d| d.name == name);
    // A shipped sample is copied into the scene only once it is edited.
    let mut sample = String::new();
    if stored.is_none() {
        if let Some((_, text)) = context::SAMPLE_DOCUMENTS.iter().find(|(n, _)| *n == name) {
            sample.push_str(text);
        }
    }
    // What this document may grow to: its own cap, and what the others leave of the knowledge
    // base's. An edit past it (a paste, most likely) is undone and the reason shown.
    let others: usize = scene
        .documents
        .iter()
        .filter(|d| d.name != name)
        .map(|d| d.text.len())
        .sum();
    let room = MAX_DOCUMENT_BYTES.min(MAX_KNOWLEDGE_BASE_BYTES.saturating_sub(others));
    let changed = {
        let text = match stored.and_then(|i| scene.documents.get_mut(i)) {
            Some(document) => &mut document.text,
            None => &mut sample,
        };
        // One frame's edit adds at most one paste (larger ones never reach the box), so a copy
        // to undo to is only needed near the cap.
        let before =
            (text.len().saturating_add(MAX_PASTE_BYTES + 4096) > room).then(|| text.clone());
        let changed = egui::ScrollArea::vertical()
            .id_salt("document")
            .max_height(260.0)
            .show(ui, |ui| {
                let response = ui.add(
                    egui::TextEdit::multiline(text)
                        .desired_width(f32::INFINITY)
                        .desired_rows(10),
                );
                response.widget_info(|| egui::WidgetInfo {
                    label: Some(format!("text of {name}")),
                    ..egui::WidgetInfo::new(egui::Role::TextInput)
                });
                response.changed()
            })
            .inner;
        if changed && text.len() > room {
            let grown = text.len();
            match before {
                Some(before) => *text = before,
                None => truncate_to(text, room),
            }
            panel.report = Some(format!(
                "{name} would be {grown} bytes: a document holds at most {MAX_DOCUMENT_BYTES} \
                 (2 MiB) and your documents {MAX_KNOWLEDGE_BASE_BYTES} (16 MiB) in all, so the \
                 edit was undone"
            ));
        }
        changed
    };
    if changed && stored.is_none() {
        scene.set_document(&name, sample);
    }
    if cfg!(not(target_arch = "wasm32")) {
        ui.horizontal(|ui| {
            let label = ui.label("add a folder:");
            ui.add(egui::TextEdit::singleline(&mut panel.folder).desired_width(220.0))
                .labelled_by(label.id);
            if ui.button("add its .md and .txt files").clicked() {
                panel.folder_requested = Some(panel.folder.trim().to_owned());
            }
        });
    }
    ui.weak("or drop .md / .txt files on the window");
}

/// The context budget, at levels 2 and 3.
fn budget(ui: &mut egui::Ui, scene: &mut ContextScene) {
    ui.horizontal(|ui| {
        ui.label("context budget:");
        let value = scene.budget_tokens as f64;
        ui.add(
            egui::DragValue::new(&mut scene.budget_tokens)
                .range(100..=MAX_CONTEXT_TOKENS)
                .speed(50.0)
                .suffix(" tokens"),
        )
        .widget_info(|| egui::WidgetInfo {
            label: Some("context budget".into()),
            ..egui::WidgetInfo::drag_value(true, value)
        });
    });
}

/// The right column: what the focus's attention says, then where it goes.
fn results(ui: &mut egui::Ui, level: Level, view: &ContextView<'_>) -> Option<egui::Rect> {
    let (Some(input), Some(_), Some(masses)) = (view.input, view.weights, view.masses) else {
        ui.label("computing…");
        return None;
    };
    match level {
        Level::SelfAttention => {
            ui.label(
                RichText::new("where the focus looks")
                    .size(text_size(ui, 18.0))
                    .strong(),
            );
        }
        Level::InContext => prediction(ui, input, masses),
        Level::Rag => answer_source(ui, input, view, masses),
    }
    arcs(ui, input, view);
    overview(ui, input, view)
}

/// Level 2's prediction: each label's attention mass.
fn prediction(ui: &mut egui::Ui, input: &ContextInput, masses: &[f32]) {
    let scores = label_scores(&input.spans, masses);
    let values: Vec<f32> = scores.iter().map(|s| s.1).collect();
    let Some(best) = argmax(&values) else {
        return;
    };
    let Some((label, _)) = scores.get(best) else {
        return;
    };
    ui.label(
        RichText::new(format!("prediction: {label}"))
            .size(text_size(ui, 26.0))
            .strong()
            .color(palette(ui).winner_text),
    );
    ui.label(
        "read off attention: each label's score is the attention mass on the examples carrying \
         it. No weight was trained - relabel an example and watch.",
    );
    egui::Grid::new("label scores").show(ui, |ui| {
        for (i, (label, score)) in scores.iter().enumerate() {
            ui.label(RichText::new(label).size(text_size(ui, 17.0)));
            crate::ui::probability_bar(ui, f64::from(*score), i == best, 240.0);
            ui.end_row();
        }
    });
}

/// Level 3: the answer's source and the retrieval table.
fn answer_source(ui: &mut egui::Ui, input: &ContextInput, view: &ContextView<'_>, masses: &[f32]) {
    let source = argmax(masses).and_then(|i| Some((i, input.spans.get(i)?, *masses.get(i)?)));
    if let Some((_, span, mass)) = source {
        ui.label(RichText::new("the answer's source:").size(text_size(ui, 17.0)));
        ui.label(
            RichText::new(&span.name)
                .size(text_size(ui, 22.0))
                .strong()
                .color(palette(ui).winner_text),
        );
        ui.label(format!(
            "{:.1}% of the focus's attention - the most of any chunk",
            mass * 100.0
        ));
    }
    ui.label(RichText::new("retrieval (BM25 + cosine, fused by reciprocal rank, k = 60)").strong());
    let span_of = |chunk: usize| view.span_of_chunk.get(chunk).copied().flatten();
    let source_span = source.map(|(i, _, _)| i);
    egui::ScrollArea::vertical()
        .id_salt("retrieval")
        .max_height(220.0)
        .show(ui, |ui| {
            egui::Grid::new("retrieval table")
                .striped(true)
                .show(ui, |ui| {
                    for heading in ["rank", "chunk", "BM25", "cosine", "in context", "attention"] {
                        ui.label(RichText::new(heading).strong());
                    }
                    ui.end_row();
                    for r in view.retrieved.iter().take(40) {
                        let Some(chunk) = view.kb.chunks.get(r.chunk) else {
                            continue;
                        };
                        let name = context::chunk_name(chunk);
                        let colour = if source_span.is_some() && span_of(r.chunk) == source_span {
                            palette(ui).winner_text
                        } else {
                            ui.visuals().text_color()
                        };
                        ui.label(r.fused_rank.to_string());
                        ui.colored_label(colour, truncate(&name, 44));
                        ui.label(format!("{:.2} (#{})", r.bm25, r.bm25_rank));
                        ui.label(format!("{:.3} (#{})", r.cosine, r.cosine_rank));
                        let mass = span_of(r.chunk).and_then(|i| masses.get(i).copied());
                        ui.label(if mass.is_some() { "yes" } else { "no" });
                        ui.label(mass.map_or("-".to_owned(), |m| format!("{:.2}%", m * 100.0)));
                        ui.end_row();
                    }
                });
        });
}

/// Arcs from the focus to the tokens it attends to most, thickness and colour by weight.
fn arcs(ui: &mut egui::Ui, input: &ContextInput, view: &ContextView<'_>) {
    let top = view.top;
    let Some(&(_, strongest)) = top.first() else {
        return;
    };
    ui.label(RichText::new(format!("top {} tokens the focus attends to", top.len())).strong());
    let row = text_size(ui, 22.0);
    let width = ui.available_width().min(text_size(ui, 560.0));
    let theme = crate::ui::theme::Theme::of(ui);
    let (rect, response) = ui.allocate_exact_size(
        Vec2::new(width, row * top.len() as f32 + 8.0),
        Sense::hover(),
    );
    response.widget_info(|| {
        let summary: Vec<String> = top
            .iter()
            .map(|(j, w)| {
                let token = shown(input.tokens.get(*j).map_or("", String::as_str));
                format!("{token} {:.2}%", w * 100.0)
            })
            .collect();
        egui::WidgetInfo::labeled(
            egui::Role::Image,
            true,
            format!("arcs: {}", summary.join(", ")),
        )
    });
    let painter = ui.painter_at(rect);
    let focus = Pos2::new(rect.left() + 70.0, rect.center().y);
    painter.text(
        focus,
        egui::Align2::CENTER_CENTER,
        "focus",
        font(ui, 17.0),
        ui.visuals().strong_text_color(),
    );
    let label_x = rect.left() + width * 0.45;
    for (k, (j, w)) in top.iter().enumerate() {
        let y = rect.top() + 4.0 + row * (k as f32 + 0.5);
        let t = w / strongest;
        let [r, g, b] = view.colormap.sample(t);
        let colour = Color32::from_rgb(r, g, b);
        let start = focus + Vec2::new(34.0, 0.0);
        let end = Pos2::new(label_x - 6.0, y);
        let bend = (end.x - start.x) * 0.5;
        let points = [
            start,
            start + Vec2::new(bend, 0.0),
            end - Vec2::new(bend, 0.0),
            end,
        ];
        let thickness = (1.0 + 7.0 * t) * theme.arc_scale();
        if theme == crate::ui::theme::Theme::Projector {
            // On white, the colour map's light end needs an edge to be seen.
            painter.add(egui::epaint::CubicBezierShape::from_points_stroke(
                points,
                false,
                Color32::TRANSPARENT,
                Stroke::new(thickness + 2.0, Color32::from_gray(60)),
            ));
        }
        painter.add(egui::epaint::CubicBezierShape::from_points_stroke(
            points,
            false,
            Color32::TRANSPARENT,
            Stroke::new(thickness, colour),
        ));
        let span = input
            .spans
            .iter()
            .find(|s| s.range.contains(j))
            .map_or("", |s| s.name.as_str());
        let token = shown(input.tokens.get(*j).map_or("", String::as_str));
        painter.text(
            Pos2::new(label_x, y),
            egui::Align2::LEFT_CENTER,
            format!("{token}  {:.2}%  {}", w * 100.0, truncate(span, 28)),
            font(ui, 15.0),
            ui.visuals().text_color(),
        );
    }
    if view.weights.is_some_and(|w| w.len() > 1000) {
        ui.weak(format!(
            "of {} tokens: an even share would be {:.3}%",
            thousands(input.context_tokens()),
            100.0 / input.context_tokens().max(1) as f64
        ));
    }
}

/// The overview map: every row of the context's attention, reduced to `bins × bins` on the GPU.
fn overview(ui: &mut egui::Ui, input: &ContextInput, view: &ContextView<'_>) -> Option<egui::Rect> {
    ui.label(RichText::new("overview: the whole context's attention map").strong());
    if view.bins == 0 {
        ui.weak(format!(
            "(the CPU reference skips the overview past {} tokens: it is O(N^2); WebGPU draws it \
             at any size)",
            context::CPU_OVERVIEW_MAX_TOKENS
        ));
        return None;
    }
    if view.overview.is_empty() {
        // Slices of the overview are still running (a software GPU takes seconds at 10k tokens).
        ui.add(
            egui::ProgressBar::new(view.overview_fraction)
                .desired_width(300.0)
                .text(format!(
                    "computing the overview: {:.0}%",
                    view.overview_fraction * 100.0
                )),
        );
        return None;
    }
    let side = ui.available_width().min(300.0);
    let (rect, response) = ui.allocate_exact_size(Vec2::splat(side), Sense::hover());
    response.widget_info(|| {
        egui::WidgetInfo::labeled(
            egui::Role::Image,
            true,
            format!("overview map, {0} x {0} bins", view.bins),
        )
    });
    ui.painter().add(egui_wgpu::Callback::new_paint_callback(
        rect,
        OverviewCallback,
    ));
    // Hover: which tokens a cell covers, and its value (read back with the numbers).
    let bins = view.bins as usize;
    if let Some(pos) = response.hover_pos() {
        let cell = |v: f32| ((v * bins as f32) as usize).min(bins.saturating_sub(1));
        let (a, b) = (
            cell((pos.y - rect.top()) / rect.height()),
            cell((pos.x - rect.left()) / rect.width()),
        );
        let n = input.tokens.len();
        let (rows, cols) = (
            crate::model::overview::bin_range(n, bins, a),
            crate::model::overview::bin_range(n, bins, b),
        );
        if let Some(value) = view.overview.get(a * bins + b) {
            response.on_hover_text_at_pointer(format!(
                "queries {}..{} -> keys {}..{}: {:.3}% of their attention",
                rows.start,
                rows.end,
                cols.start,
                cols.end,
                value * 100.0
            ));
        }
    }
    let [lo, hi] = view.range;
    ui.weak(format!(
        "{0} x {0} bins; rows = queries, columns = keys. Log colour over this map's own range: \
         dark = {1:.3}%, yellow = {2:.3}% of a row's attention (an even share is {3:.3}%)",
        view.bins,
        lo * 100.0,
        hi * 100.0,
        100.0 / view.bins.max(1) as f64
    ));
    legend(ui, view.range, view.colormap);
    Some(rect)
}

/// The log scale's ticks, coloured by the same mapping the shader uses.
fn legend(ui: &mut egui::Ui, range: [f32; 2], colormap: Colormap) {
    let [lo, hi] = range;
    if !(lo > 0.0 && hi > lo) {
        return;
    }
    ui.horizontal(|ui| {
        for t in [0.0f32, 0.25, 0.5, 0.75, 1.0] {
            // Geometric steps: what equal colour steps mean on a log scale.
            let weight = lo * (hi / lo).powf(t);
            let [r, g, b] = colormap.sample(overview_shade(weight, range));
            let (rect, _) = ui.allocate_exact_size(Vec2::splat(14.0), Sense::hover());
            ui.painter()
                .rect_filled(rect, 2.0, Color32::from_rgb(r, g, b));
            ui.label(format!("{:.3}%", weight * 100.0));
        }
    });
}

/// A text box whose accessible name is `name()` (read by screen readers and the UI tests).
fn named_text(
    ui: &mut egui::Ui,
    text: &mut String,
    width: f32,
    name: impl Fn() -> String,
) -> egui::Response {
    let response = ui.add(egui::TextEdit::singleline(text).desired_width(width));
    response.widget_info(|| egui::WidgetInfo {
        label: Some(name()),
        current_text_value: Some(text.clone()),
        ..egui::WidgetInfo::new(egui::Role::TextInput)
    });
    response
}

/// Drops a paste larger than [`MAX_PASTE_BYTES`] before any text box sees it (laying out 5 MB of
/// text would freeze the frame), and says so.
fn refuse_oversized_pastes(ui: &mut egui::Ui, panel: &mut ContextPanel) {
    let refused = ui.input_mut(|input| {
        let mut refused = None;
        input.events.retain(|event| match event {
            egui::Event::Paste(text) if text.len() > MAX_PASTE_BYTES => {
                refused = Some(text.len());
                false
            }
            _ => true,
        });
        refused
    });
    if let Some(bytes) = refused {
        panel.report = Some(context::ContextError::TooLarge { bytes }.to_string());
    }
}

/// A token as drawn: the arrow the examples are joined with is spelt `->` (egui's fonts have no
/// `→`).
fn shown(token: &str) -> &str {
    if token == "→" {
        "->"
    } else {
        token
    }
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn bytes(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MiB", n as f64 / f64::from(1 << 20))
    } else {
        format!("{:.1} KiB", n as f64 / 1024.0)
    }
}

/// Cuts `text` to at most `bytes` bytes, at a character boundary.
fn truncate_to(text: &mut String, bytes: usize) {
    let end = (0..=bytes.min(text.len()))
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    text.truncate(end);
}

fn truncate(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(chars.saturating_sub(1)).collect();
        format!("{cut}…")
    }
}
