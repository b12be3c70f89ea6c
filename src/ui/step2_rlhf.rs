//! Step 2 — RLHF: humans push back. Pick the human-preferred answer, set how much the model
//! should listen, and read what it now predicts — with every number of
//! `new_logit(y) = base_logit(y) + R(y)/β`, `β = (1 − s)/s`, one click away.
//!
//! The math is `model::rlhf::apply` on the closed form of step 1's corpus (the default prefix):
//! what is printed is what the model computed, not a separate calculation.

use egui::{Color32, RichText};

use crate::model::corpus::{Corpus, DEFAULT_PREFIX};
use crate::model::rlhf::{apply, Rewards};
use crate::scene::RlhfScene;

use super::{probability_bar, WINNER};

const PLUS: Color32 = Color32::from_rgb(53, 183, 121);
const MINUS: Color32 = Color32::from_rgb(230, 110, 90);

/// The prefix step 2 fine-tunes: the default one when the corpus has it, else its first.
fn prefix_of(corpus: &Corpus) -> String {
    let prefixes = corpus.prefixes();
    if prefixes.contains(&DEFAULT_PREFIX) || prefixes.is_empty() {
        DEFAULT_PREFIX.to_owned()
    } else {
        prefixes[0].to_owned()
    }
}

/// `x` with an explicit sign, `∞` for infinities.
fn signed(x: f64) -> String {
    if x.is_infinite() {
        if x > 0.0 { "+inf" } else { "-inf" }.to_owned()
    } else {
        format!("{x:+.3}")
    }
}

/// Draws step 2 and applies the user's edits to `rlhf`; `typed` is the panel's text box for a
/// preferred word outside the list (kept by the caller between frames).
pub fn show(ui: &mut egui::Ui, corpus: &Corpus, rlhf: &mut RlhfScene, typed: &mut String) {
    ui.heading("Step 2 — RLHF: humans push back");
    let prefix = prefix_of(corpus);
    let distribution = corpus.distribution(&prefix);
    let pretrained = distribution.prediction.clone().unwrap_or_default();

    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("human-preferred answer:").size(18.0));
        for odds in distribution.vocabulary() {
            ui.selectable_value(&mut rlhf.preferred, odds.ending.clone(), &odds.ending);
        }
        let label = ui.label("or type one:");
        let response = ui
            .add(egui::TextEdit::singleline(typed).desired_width(120.0))
            .labelled_by(label.id);
        if response.lost_focus() && !typed.trim().is_empty() {
            rlhf.preferred = typed.trim().to_owned();
        }
    });

    let rewards = Rewards {
        chosen: rlhf.reward_chosen,
        winner: rlhf.reward_winner,
    };
    // The synthetic preference data, as a table.
    ui.add_space(6.0);
    ui.label("the preference data (synthetic):");
    egui::Grid::new("preferences")
        .spacing([16.0, 4.0])
        .show(ui, |ui| {
            ui.label(format!("{prefix} {}", rlhf.preferred));
            ui.colored_label(PLUS, format!("{:+.1}", rlhf.reward_chosen));
            ui.end_row();
            if pretrained != rlhf.preferred && !pretrained.is_empty() {
                ui.label(format!("{prefix} {pretrained}"));
                ui.colored_label(MINUS, format!("{:+.1}", rlhf.reward_winner));
                ui.end_row();
            }
        });

    ui.add_space(10.0);
    let question =
        ui.label(RichText::new("how much should the model listen to humans?").size(18.0));
    ui.horizontal(|ui| {
        ui.label("pretraining wins");
        ui.spacing_mut().slider_width = 360.0;
        ui.add(egui::Slider::new(&mut rlhf.strength, 0.0..=1.0).show_value(false))
            .labelled_by(question.id);
        ui.label("humans win");
        let beta = crate::model::rlhf::beta(rlhf.strength);
        let beta = if beta.is_infinite() {
            "inf".to_owned()
        } else {
            format!("{beta:.3}")
        };
        ui.label(RichText::new(format!("{:.0}%   β = {beta}", rlhf.strength * 100.0)).size(18.0));
    });

    let outcome = match apply(&distribution, &rlhf.preferred, rlhf.strength, rewards) {
        Ok(outcome) => outcome,
        Err(error) => {
            ui.colored_label(Color32::from_rgb(255, 170, 80), error.to_string());
            return;
        }
    };
    ui.add_space(8.0);
    ui.horizontal(|ui| {
        ui.label(RichText::new("at this strength the model now predicts").size(22.0));
        ui.label(
            RichText::new(&outcome.prediction)
                .size(30.0)
                .strong()
                .color(WINNER),
        );
    });

    ui.add_space(6.0);
    egui::Grid::new("rlhf rows")
        .spacing([14.0, 4.0])
        .show(ui, |ui| {
            ui.strong("ending");
            ui.strong("reward R");
            ui.strong("probability now");
            ui.end_row();
            for row in &outcome.rows {
                ui.label(RichText::new(&row.ending).size(18.0));
                let colour = match row.reward {
                    r if r > 0.0 => PLUS,
                    r if r < 0.0 => MINUS,
                    _ => ui.visuals().text_color(),
                };
                ui.colored_label(colour, format!("{:+.1}", row.reward));
                probability_bar(ui, row.probability, row.ending == outcome.prediction, 240.0);
                ui.end_row();
            }
        });

    egui::CollapsingHeader::new("show the math").show(ui, |ui| {
        ui.label(
            "new_logit(y) = base_logit(y) + R(y) / β,   β = (1 - s) / s,   p = softmax(new_logit)",
        );
        let beta = outcome.beta;
        egui::Grid::new("rlhf math")
            .spacing([14.0, 2.0])
            .show(ui, |ui| {
                for heading in ["y", "base_logit = ln count", "R", "R / β", "new_logit", "p"] {
                    ui.strong(heading);
                }
                ui.end_row();
                for row in &outcome.rows {
                    ui.label(&row.ending);
                    ui.monospace(signed(row.base_logit));
                    ui.monospace(format!("{:+.1}", row.reward));
                    match (beta, row.new_logit) {
                        (Some(b), Some(new)) if b > 0.0 => {
                            ui.monospace(signed(row.reward / b));
                            ui.monospace(signed(new));
                        }
                        (Some(_), Some(new)) => {
                            ui.monospace("0");
                            ui.monospace(signed(new));
                        }
                        // β = 0: the reward alone ranks (the limit β -> 0).
                        _ => {
                            ui.monospace(if row.reward > 0.0 { "+inf" } else { "R only" });
                            ui.monospace("-");
                        }
                    }
                    ui.monospace(format!("{:.4}", row.probability));
                    ui.end_row();
                }
            });
    });
}
