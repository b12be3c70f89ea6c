//! Step 2 — RLHF: humans push back. Pick the human-preferred answer, set how much the model
//! should listen, and read what it now predicts — with every number of
//! `new_logit(y) = base_logit(y) + R(y)/β`, `β = (1 − s)/s`, one click away.
//!
//! The math is `model::rlhf::apply` on the closed form of step 1's corpus (the default prefix):
//! what is printed is what the model computed, not a separate calculation.

use egui::{Color32, RichText};

use crate::model::corpus::{Corpus, Distribution, MAX_ENDING_CHARS};
use crate::model::llm::lesson::rlhf_on_model;
use crate::model::rlhf::{apply, Rewards, RlhfError, RlhfOutcome};
use crate::scene::RlhfScene;

use super::theme::{palette, text_size};
use super::{probability_bar, RealOddsView};

/// The fine-tune's climb, running or landed (`model::finetune`, on the GPU or its CPU twin).
#[derive(Clone, Debug, PartialEq)]
pub struct FineTuneView<'a> {
    /// The candidates, in corpus order.
    pub endings: &'a [String],
    /// The closed form's probabilities: where the climb must land.
    pub closed_form: &'a [f64],
    /// π before each step, steps × candidates (empty until the numbers are in).
    pub path: &'a [f32],
    /// How much of the path to draw, 0–1 (it draws itself once the numbers are in).
    pub revealed: f32,
    /// Steps the climb runs.
    pub steps: u32,
    /// Whether it ran on the GPU.
    pub on_gpu: bool,
    /// `KL(closed form ‖ fine-tuned)` once landed.
    pub kl_to_closed_form: Option<f64>,
    /// The strength it ran at.
    pub strength: f64,
}

/// One colour per candidate in the path plot, told apart by more than hue (viridis stops).
const PATH_COLOURS: [Color32; 6] = [
    Color32::from_rgb(253, 231, 37),
    Color32::from_rgb(53, 183, 121),
    Color32::from_rgb(49, 104, 142),
    Color32::from_rgb(180, 120, 230),
    Color32::from_rgb(230, 110, 90),
    Color32::from_rgb(150, 210, 255),
];

/// The prefix step 2 fine-tunes: the default one when the corpus has it, else its first
/// ([`Corpus::rlhf_prefix`]).
pub fn prefix_of(corpus: &Corpus) -> String {
    corpus.rlhf_prefix().to_owned()
}

/// Where the panel keeps why the last typed preference was refused (egui's memory: it is the
/// panel's own state, gone when the app closes).
fn refusal_id() -> egui::Id {
    egui::Id::unique("gaze.step2.typed_preference_refusal")
}

/// Why a typed preference is refused, or `None` when the model can say it: a word longer than
/// any ending, or (for the lesson model) one outside the vocabulary (the design's message). A
/// real model can say any word: its tokens spell it.
fn refuse_typed(distribution: &Distribution, word: &str, real: bool) -> Option<String> {
    let chars = word.chars().count();
    if chars > MAX_ENDING_CHARS {
        return Some(format!(
            "that is {chars} characters; an ending is at most {MAX_ENDING_CHARS}"
        ));
    }
    (!real && !distribution.vocabulary().any(|odds| odds.ending == word))
        .then(|| RlhfError::Unreachable(word.to_owned()).to_string())
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
/// preferred word outside the list (kept by the caller between frames). `fine_tune` is the latest
/// climb, if any; a click on "fine-tune for real" sets `request`. With `real` (a live real
/// model) the base is the model's own `log p(ending | prefix)` instead of the corpus's counts.
pub fn show(
    ui: &mut egui::Ui,
    corpus: &Corpus,
    rlhf: &mut RlhfScene,
    typed: &mut String,
    fine_tune: Option<&FineTuneView<'_>>,
    real: Option<&RealOddsView<'_>>,
    request: &mut bool,
) {
    ui.heading("Step 2 — RLHF: humans push back");
    let prefix = prefix_of(corpus);
    let distribution = corpus.distribution(&prefix);
    let real_odds = real.and_then(|r| r.prefix(&prefix));
    // The pretrained answer: the corpus's, or the real model's likeliest ending.
    let pretrained = match real {
        None => distribution.prediction.clone().unwrap_or_default(),
        Some(_) => real_odds
            .and_then(|o| o.prediction())
            .map(|e| e.ending.clone())
            .unwrap_or_default(),
    };
    if let Some(real) = real {
        ui.label(
            RichText::new(format!(
                "The base is {}'s own odds: base_logit(y) = ln p_model(y | \"{prefix}\"), each \
                 ending by the chain rule over its tokens (step 1).",
                real.model
            ))
            .size(text_size(ui, 16.0)),
        );
    }

    ui.horizontal_wrapped(|ui| {
        ui.label(RichText::new("human-preferred answer:").size(text_size(ui, 18.0)));
        for odds in distribution.vocabulary() {
            let picked =
                ui.selectable_value(&mut rlhf.preferred, odds.ending.clone(), &odds.ending);
            if picked.clicked() {
                // A pick answers the last refusal.
                ui.data_mut(|d| d.remove::<Option<String>>(refusal_id()));
            }
        }
        if crate::ui::presenter::controls_shown(ui) {
            let label = ui.label("or type one:");
            let response = ui
                .add(egui::TextEdit::singleline(typed).desired_width(120.0))
                .labelled_by(label.id);
            if response.lost_focus() && !typed.trim().is_empty() {
                let refusal = refuse_typed(&distribution, typed.trim(), real.is_some());
                if refusal.is_none() {
                    rlhf.preferred = typed.trim().to_owned();
                }
                ui.data_mut(|d| d.insert_temp(refusal_id(), refusal));
            } else if response.changed() {
                ui.data_mut(|d| d.remove::<Option<String>>(refusal_id()));
            }
        }
    });
    // A typed word the model cannot say is refused where it was typed; the preference keeps
    // its value (the design's "nothing else changes").
    let typed_refusal = ui.data(|d| d.get_temp::<Option<String>>(refusal_id()).flatten());
    if let Some(refusal) = typed_refusal {
        ui.colored_label(palette(ui).warning, refusal);
        ui.label(format!("the preference stays {}", rlhf.preferred));
    }

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
            ui.colored_label(palette(ui).plus, format!("{:+.1}", rlhf.reward_chosen));
            ui.end_row();
            if pretrained != rlhf.preferred && !pretrained.is_empty() {
                ui.label(format!("{prefix} {pretrained}"));
                ui.colored_label(palette(ui).minus, format!("{:+.1}", rlhf.reward_winner));
                ui.end_row();
            }
        });

    ui.add_space(10.0);
    let question = ui.label(
        RichText::new("how much should the model listen to humans?").size(text_size(ui, 18.0)),
    );
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
        ui.label(
            RichText::new(format!("{:.0}%   β = {beta}", rlhf.strength * 100.0))
                .size(text_size(ui, 18.0)),
        );
    });

    let outcome: Result<RlhfOutcome, RlhfError> = match (real, real_odds) {
        (None, _) => apply(&distribution, &rlhf.preferred, rlhf.strength, rewards),
        (Some(_), Some(odds)) => rlhf_on_model(odds, &rlhf.preferred, rlhf.strength, rewards),
        (Some(real), None) => {
            ui.add_space(8.0);
            ui.colored_label(palette(ui).notice, real.waiting());
            return;
        }
    };
    let outcome = match outcome {
        Ok(outcome) => outcome,
        Err(error) => {
            ui.colored_label(palette(ui).warning, error.to_string());
            return;
        }
    };
    ui.add_space(8.0);
    ui.horizontal(|ui| {
        ui.label(
            RichText::new("at this strength the model now predicts").size(text_size(ui, 22.0)),
        );
        ui.label(
            RichText::new(&outcome.prediction)
                .size(text_size(ui, 30.0))
                .strong()
                .color(palette(ui).winner_text),
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
                ui.label(RichText::new(&row.ending).size(text_size(ui, 18.0)));
                let colour = match row.reward {
                    r if r > 0.0 => palette(ui).plus,
                    r if r < 0.0 => palette(ui).minus,
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
                let base = if real.is_some() {
                    "base_logit = ln p_model(y | prefix)"
                } else {
                    "base_logit = ln count"
                };
                for heading in ["y", base, "R", "R / β", "new_logit", "p"] {
                    ui.strong(heading);
                }
                if real.is_some() {
                    ui.strong("R / β to win").on_hover_text(
                        "how far its base logit is below the best other ending's: the reward \
                         over β it would need (the others at 0) to win",
                    );
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
                    if real.is_some() {
                        ui.monospace(match row.reward_to_win {
                            Some(0.0) => "wins already".to_owned(),
                            Some(nats) => format!("{nats:.2} nats"),
                            None => "never".to_owned(),
                        });
                    }
                    ui.end_row();
                }
            });
        if let Some(real) = real {
            ui.label(format!(
                "Under {} every ending has a finite log-probability, so a large enough R/β makes \
                 any of them win — a candidate it finds 1e-8 likely needs about 18 nats. The \
                 lesson's unseen word (count 0, base logit -inf) has no counterpart in a real \
                 model.",
                real.model
            ));
        }
    });

    ui.add_space(8.0);
    if real.is_some() {
        // The climb runs on the lesson's corpus logits; on the real base it would be the same
        // closed form, but the optimiser lives in the lesson's kernels.
        ui.weak(
            "\"fine-tune for real\" climbs the lesson model's logits: pick the lesson model in the \
             top bar to run it",
        );
        return;
    }
    fine_tune_section(ui, fine_tune, request);
}

/// "Fine-tune for real": the button, then the optimiser's path drawn onto the closed form.
fn fine_tune_section(ui: &mut egui::Ui, view: Option<&FineTuneView<'_>>, request: &mut bool) {
    let running = view.is_some_and(|v| v.kl_to_closed_form.is_none());
    // T runs it, as on step 1, so the lecture goes on from the keyboard.
    if !running
        && !ui.ctx().egui_wants_keyboard_input()
        && ui.input(|i| i.key_pressed(egui::Key::T))
    {
        *request = true;
    }
    ui.horizontal(|ui| {
        let label = RichText::new(if running {
            "fine-tuning…"
        } else {
            "fine-tune for real"
        })
        .size(text_size(ui, 20.0));
        if ui
            .add_enabled(!running, egui::Button::new(label))
            .on_hover_text(
                "(key T) climb Σ π(y) R(y) - β · KL(π || π_ref) by gradient ascent over the logits, \
                 starting from pretraining, and watch where it lands",
            )
            .clicked()
        {
            *request = true;
        }
        match view.and_then(|v| v.kl_to_closed_form.map(|kl| (v, kl))) {
            None => {
                ui.label("the real optimiser, not the formula: does it land on the closed form?");
            }
            Some((view, kl)) => {
                let verdict = if view.strength >= 1.0 {
                    "β = 0: the closed form is the limit it climbs toward".to_owned()
                } else if kl < 1e-4 {
                    "lands on the closed form".to_owned()
                } else {
                    "not there yet".to_owned()
                };
                ui.label(
                    RichText::new(format!(
                        "{} steps on the {}: KL(closed form || fine-tuned) = {kl:.1e} — {verdict}",
                        view.steps,
                        if view.on_gpu { "GPU" } else { "CPU" },
                    ))
                    .size(text_size(ui, 16.0)),
                );
            }
        }
    });
    let Some(view) = view else {
        return;
    };
    let candidates = view.endings.len().max(1);
    let rows = view.path.len() / candidates;
    let shown = ((rows as f32 * view.revealed).ceil() as usize).min(rows);
    // Where the path stops moving (every probability within 1e-4 of the last row's): the plot
    // spans that and a little more, so a fast climb is not squeezed against the axis.
    let last = view
        .path
        .get(rows.saturating_sub(1) * candidates..)
        .unwrap_or(&[]);
    let settled = (0..rows)
        .rev()
        .find(|&step| {
            let row = view.path.get(step * candidates..(step + 1) * candidates);
            row.is_some_and(|row| row.iter().zip(last).any(|(a, b)| (a - b).abs() > 1e-4))
        })
        .map_or(0, |step| step + 1);
    let span = ((settled as f64) * 1.5).clamp(20.0, view.steps as f64);
    let response = egui_plot::Plot::new("fine-tune path")
        .height(220.0)
        .width(640.0)
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .include_x(0.0)
        .include_x(span)
        .include_y(0.0)
        .include_y(1.0)
        .default_x_bounds(0.0, span)
        .x_axis_label("step")
        .y_axis_label("probability")
        .legend(egui_plot::Legend::default().position(egui_plot::Corner::RightTop))
        .show(ui, |plot| {
            for (c, ending) in view.endings.iter().enumerate() {
                let colour = PATH_COLOURS
                    .get(c % PATH_COLOURS.len())
                    .copied()
                    .unwrap_or(Color32::GRAY);
                let points: egui_plot::PlotPoints<'_> = (0..shown)
                    .filter_map(|step| {
                        let p = view.path.get(step * candidates + c)?;
                        Some([step as f64, *p as f64])
                    })
                    .collect();
                plot.line(
                    egui_plot::Line::new(ending.as_str(), points)
                        .width(3.0)
                        .color(colour),
                );
                if let Some(&target) = view.closed_form.get(c) {
                    plot.hline(
                        // Same name as the path: one legend entry per candidate.
                        egui_plot::HLine::new(ending.as_str(), target)
                            .color(colour)
                            .style(egui_plot::LineStyle::dashed_loose()),
                    );
                }
            }
        })
        .response;
    let summary = format!("the optimiser's path: {shown} of {rows} steps drawn");
    if shown == rows && rows > 0 {
        ui.label(format!(
            "solid: the optimiser's probabilities, step by step; dashed: the closed form. \
             It settles after {settled} of {rows} steps."
        ));
    }
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, &summary));
}
