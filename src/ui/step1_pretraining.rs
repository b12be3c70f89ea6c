//! Step 1 — pretraining: the corpus sets the odds. An editable table of `prefix ___ ending × count`
//! rows; per prefix a bar per ending with its probability and the predicted word, large.
//!
//! The closed form (`model::corpus`): `base_logit = ln count`, `p = count / total`, prediction =
//! argmax, ties to the row listed first. Every number shown is computed from the table as it is
//! this frame.

use egui::{Color32, RichText};

use crate::model::corpus::{Corpus, DEFAULT_PREFIX, MAX_COUNT};

/// The panel's own editing state (the row being typed in), kept between frames by the caller.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NewRow {
    /// The prefix of the row to add; empty means the first prefix.
    pub prefix: String,
    /// Its ending.
    pub ending: String,
    /// Its count.
    pub count: u64,
    /// Why the last add was refused.
    pub error: Option<String>,
}

use super::{probability_bar, WINNER};

/// Draws step 1 and applies the user's edits to `corpus`.
pub fn show(ui: &mut egui::Ui, corpus: &mut Corpus, new_row: &mut NewRow) {
    ui.heading("Step 1 — Pretraining: the training data sets the odds");
    ui.label(
        "Each row is how often an ending followed its sentence start in the training text. \
         The model's odds are the counts' shares: p = count / total, logit = ln count.",
    );
    ui.add_space(8.0);
    let prefixes: Vec<String> = corpus.prefixes().into_iter().map(str::to_owned).collect();
    let mut remove = None;
    for prefix in &prefixes {
        let distribution = corpus.distribution(prefix);
        ui.separator();
        ui.horizontal(|ui| {
            ui.label(RichText::new(format!("{prefix} ___")).size(22.0));
            let prediction = distribution
                .prediction
                .as_deref()
                .unwrap_or("(nothing: all counts are 0)");
            ui.label(RichText::new("->").size(22.0));
            ui.label(RichText::new(prediction).size(30.0).strong().color(WINNER))
                .on_hover_text("the prediction: the ending with the highest count");
        });
        egui::Grid::new(("corpus", prefix))
            .num_columns(5)
            .spacing([12.0, 6.0])
            .show(ui, |ui| {
                ui.strong("ending");
                ui.strong("count");
                ui.strong("");
                ui.strong("probability");
                ui.strong("");
                ui.end_row();
                for (index, row) in corpus.rows.iter_mut().enumerate() {
                    if &row.prefix != prefix {
                        continue;
                    }
                    let p = distribution
                        .rows
                        .iter()
                        .find(|o| o.ending == row.ending)
                        .map_or(0.0, |o| o.probability);
                    ui.label(RichText::new(&row.ending).size(18.0));
                    let label = format!("count of {}", row.ending);
                    let drag = ui.add(
                        egui::DragValue::new(&mut row.count)
                            .range(0..=MAX_COUNT)
                            .speed(0.1),
                    );
                    let count = row.count as f64;
                    drag.widget_info(|| egui::WidgetInfo {
                        label: Some(label.clone()),
                        ..egui::WidgetInfo::drag_value(true, count)
                    });
                    ui.horizontal(|ui| {
                        if ui.button("-").on_hover_text("one fewer").clicked() {
                            row.count = row.count.saturating_sub(1);
                        }
                        if ui.button("+").on_hover_text("one more").clicked() {
                            row.count = (row.count + 1).min(MAX_COUNT);
                        }
                    });
                    let winner = distribution.prediction.as_deref() == Some(row.ending.as_str());
                    probability_bar(ui, p, winner, 260.0);
                    if ui
                        .button("remove")
                        .on_hover_text(format!("remove {}", row.ending))
                        .clicked()
                    {
                        remove = Some(index);
                    }
                    ui.end_row();
                }
            });
    }
    if let Some(index) = remove {
        corpus.rows.remove(index);
    }
    ui.separator();
    add_row(
        ui,
        corpus,
        new_row,
        prefixes.first().map_or(DEFAULT_PREFIX, String::as_str),
    );
}

/// The "add a row" line: another ending, or a row with another sentence start.
fn add_row(ui: &mut egui::Ui, corpus: &mut Corpus, new_row: &mut NewRow, first_prefix: &str) {
    ui.horizontal(|ui| {
        if new_row.prefix.is_empty() {
            new_row.prefix = first_prefix.to_owned();
        }
        let label = ui.label("add:");
        ui.add(egui::TextEdit::singleline(&mut new_row.prefix).desired_width(200.0))
            .labelled_by(label.id);
        ui.label("___");
        let ending = ui.label("new ending");
        ui.add(egui::TextEdit::singleline(&mut new_row.ending).desired_width(120.0))
            .labelled_by(ending.id);
        ui.label("x");
        let count = new_row.count as f64;
        ui.add(egui::DragValue::new(&mut new_row.count).range(0..=MAX_COUNT))
            .widget_info(|| egui::WidgetInfo {
                label: Some("new count".into()),
                ..egui::WidgetInfo::drag_value(true, count)
            });
        if ui.button("add row").clicked() {
            let prefix = new_row.prefix.trim().to_owned();
            match corpus.add_row(&prefix, &new_row.ending, new_row.count) {
                Ok(()) => {
                    new_row.ending.clear();
                    new_row.error = None;
                }
                Err(error) => new_row.error = Some(error.to_string()),
            }
        }
    });
    if let Some(error) = &new_row.error {
        ui.colored_label(Color32::from_rgb(255, 170, 80), error);
    }
}
