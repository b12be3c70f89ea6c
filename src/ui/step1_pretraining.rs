//! Step 1 — pretraining: the corpus sets the odds. An editable table of `prefix ___ ending × count`
//! rows; per prefix a bar per ending with its probability and the predicted word, large.
//!
//! The closed form (`model::corpus`): `base_logit = ln count`, `p = count / total`, prediction =
//! argmax, ties to the row listed first. Every number shown is computed from the table as it is
//! this frame.

use egui::RichText;

use crate::model::corpus::{parse_count, Corpus, DEFAULT_PREFIX, MAX_COUNT};

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
    /// Why the last typed count was refused (the count kept its value).
    pub count_error: Option<String>,
}

use super::model_picker::short_name;
use super::theme::{palette, text_size};
use super::{probability_bar, RealOddsView};
use crate::model::llm::lesson::{EndingChain, PrefixOdds};

/// A fit of the output layer, running or run (`model::train`, on the GPU or its CPU twin).
#[derive(Clone, Debug, PartialEq)]
pub struct FitView<'a> {
    /// The sentence starts, in corpus order.
    pub prefixes: &'a [String],
    /// The endings the output layer can say.
    pub vocabulary: &'a [String],
    /// The fitted π, prefixes × vocabulary.
    pub probabilities: &'a [f32],
    /// The loss before each step so far.
    pub losses: &'a [f32],
    /// The lowest loss possible: the corpus's own entropy.
    pub loss_floor: f64,
    /// Steps run and read back.
    pub steps: u32,
    /// Steps the fit will run.
    pub total_steps: u32,
    /// Whether the steps run on the GPU.
    pub on_gpu: bool,
    /// Per prefix: `KL(counts' shares ‖ fitted π)`.
    pub kl_to_counts: &'a [f64],
    /// Per prefix: how many of the vocabulary's endings never followed it (count 0 there).
    pub unseen_endings: &'a [usize],
}

impl FitView<'_> {
    /// The fitted probability of `ending` after `prefix`; `None` outside the vocabulary.
    fn probability(&self, prefix: &str, ending: &str) -> Option<f32> {
        let p = self.prefixes.iter().position(|x| x == prefix)?;
        let v = self.vocabulary.iter().position(|x| x == ending)?;
        self.probabilities
            .get(p * self.vocabulary.len() + v)
            .copied()
    }
}

/// Draws step 1 and applies the user's edits to `corpus`. `fit` is the latest training run, if
/// any; `real` a live real model's own odds, shown beside the corpus's; a click on Train sets
/// `train`.
pub fn show(
    ui: &mut egui::Ui,
    corpus: &mut Corpus,
    new_row: &mut NewRow,
    fit: Option<&FitView<'_>>,
    real: Option<&RealOddsView<'_>>,
    train: &mut bool,
) {
    ui.heading("Step 1 — Pretraining: the training data sets the odds");
    ui.label(
        "Each row is how often an ending followed its sentence start in the training text. \
         The model's odds are the counts' shares: p = count / total, logit = ln count.",
    );
    if let Some(real) = real {
        real_intro(ui, real);
    }
    ui.add_space(8.0);
    training(ui, fit, train);
    ui.add_space(8.0);
    let prefixes: Vec<String> = corpus.prefixes().into_iter().map(str::to_owned).collect();
    let mut remove = None;
    for prefix in &prefixes {
        let distribution = corpus.distribution(prefix);
        let real_odds = real.and_then(|r| r.prefix(prefix));
        // The model's odds renormalised over this start's corpus endings, in row order.
        let real_shares: Vec<Option<f64>> = {
            let among: Vec<&str> = corpus
                .rows
                .iter()
                .filter(|r| &r.prefix == prefix)
                .map(|r| r.ending.as_str())
                .collect();
            among
                .iter()
                .map(|e| real_odds.and_then(|o| o.share_among(e, among.iter().copied())))
                .collect()
        };
        ui.separator();
        ui.horizontal(|ui| {
            ui.label(RichText::new(format!("{prefix} ___")).size(text_size(ui, 22.0)));
            let prediction = distribution
                .prediction
                .as_deref()
                .unwrap_or("(nothing: all counts are 0)");
            ui.label(RichText::new("->").size(text_size(ui, 22.0)));
            ui.label(
                RichText::new(prediction)
                    .size(text_size(ui, 30.0))
                    .strong()
                    .color(palette(ui).winner_text),
            )
            .on_hover_text("the prediction: the ending with the highest count");
            if let Some(real) = real {
                real_prediction(ui, real, real_odds);
            }
        });
        let mut real_row = 0;
        egui::Grid::new(("corpus", prefix))
            .num_columns(5 + usize::from(fit.is_some()) + 3 * usize::from(real.is_some()))
            .spacing([12.0, 6.0])
            .show(ui, |ui| {
                ui.strong("ending");
                ui.strong("count");
                ui.strong("");
                ui.strong("probability");
                if fit.is_some() {
                    ui.strong("trained model");
                }
                if let Some(real) = real {
                    ui.strong(format!(
                        "{}: share among these endings",
                        short_name(real.model)
                    ))
                    .on_hover_text(
                        "the real model's p(ending | start) renormalised over this start's \
                             endings: p(y) / Σ p(e)",
                    );
                    ui.strong("p(ending | start)").on_hover_text(
                        "the real model's own probability of the ending (with its leading space), \
                         by the chain rule: the product of each token's probability given \
                         everything before it",
                    );
                    ui.strong("its tokens");
                }
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
                    ui.label(RichText::new(&row.ending).size(text_size(ui, 18.0)));
                    let label = format!("count of {}", row.ending);
                    // A typed count goes through `parse_count`: text that is not a whole number
                    // from 0 to MAX_COUNT is refused with its reason, and the count is kept.
                    let refused = std::cell::RefCell::new(None);
                    let ending = row.ending.clone();
                    let drag = ui.add(
                        egui::DragValue::new(&mut row.count)
                            .range(0..=MAX_COUNT)
                            .speed(0.1)
                            .update_while_editing(false)
                            .custom_parser(|text| match parse_count(text) {
                                Ok(count) => Some(count as f64),
                                Err(error) => {
                                    *refused.borrow_mut() =
                                        Some(format!("count of {ending}: {error}"));
                                    None
                                }
                            }),
                    );
                    if let Some(message) = refused.into_inner() {
                        new_row.count_error = Some(message);
                    } else if drag.changed() {
                        new_row.count_error = None;
                    }
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
                            row.count = row.count.saturating_add(1).min(MAX_COUNT);
                        }
                    });
                    let winner = distribution.prediction.as_deref() == Some(row.ending.as_str());
                    probability_bar(ui, p, winner, 260.0);
                    if let Some(fit) = fit {
                        match fit.probability(prefix, &row.ending) {
                            Some(trained) => {
                                let best = fit_winner(fit, prefix).as_deref() == Some(&row.ending);
                                probability_bar(ui, trained as f64, best, 200.0);
                            }
                            None => {
                                ui.label("never said (count 0)");
                            }
                        }
                    }
                    if real.is_some() {
                        let share = real_shares.get(real_row).copied().flatten();
                        real_row += 1;
                        let chain = real_odds
                            .and_then(|o| o.endings.iter().find(|e| e.ending == row.ending));
                        match (share, chain) {
                            (Some(share), Some(chain)) => {
                                let best = real_odds
                                    .and_then(|o| o.prediction())
                                    .is_some_and(|b| b.ending == chain.ending);
                                probability_bar(ui, share, best, 220.0);
                                ui.monospace(scientific(chain.log_probability.exp()))
                                    .on_hover_text(format!(
                                        "log p = {:.3} nats",
                                        chain.log_probability
                                    ));
                                chain_tokens(ui, chain);
                            }
                            _ => {
                                ui.weak("…");
                                ui.weak("…");
                                ui.weak("…");
                            }
                        }
                    }
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
        if let Some(odds) = real_odds {
            top_next_tokens(ui, real.map_or("", |r| r.model), odds);
        }
    }
    if let Some(index) = remove.filter(|&i| i < corpus.rows.len()) {
        corpus.rows.remove(index);
    }
    if let Some(error) = &new_row.count_error {
        ui.colored_label(palette(ui).warning, error);
    }
    // Presenting (H): the corpus stays, the form to add to it goes.
    if crate::ui::presenter::controls_shown(ui) {
        ui.separator();
        add_row(
            ui,
            corpus,
            new_row,
            prefixes.first().map_or(DEFAULT_PREFIX, String::as_str),
        );
    }
}

/// The fitted model's guess after `prefix`: its most likely ending (ties to the first).
fn fit_winner(fit: &FitView<'_>, prefix: &str) -> Option<String> {
    let p = fit.prefixes.iter().position(|x| x == prefix)?;
    let v = fit.vocabulary.len();
    let row = fit.probabilities.get(p * v..(p + 1) * v)?;
    let (best, _) = row
        .iter()
        .enumerate()
        .reduce(|best, next| if next.1 > best.1 { next } else { best })?;
    fit.vocabulary.get(best).cloned()
}

/// The Train control: a button, and while or after a fit the loss curve falling toward its
/// floor, with how close the fitted odds are to the counts.
fn training(ui: &mut egui::Ui, fit: Option<&FitView<'_>>, train: &mut bool) {
    let running = fit.is_some_and(|f| f.steps < f.total_steps);
    // T trains, so a lecturer can run the step from the keyboard.
    if !running
        && !ui.ctx().egui_wants_keyboard_input()
        && ui.input(|i| i.key_pressed(egui::Key::T))
    {
        *train = true;
    }
    ui.horizontal(|ui| {
        let label =
            RichText::new(if running { "training…" } else { "Train" }).size(text_size(ui, 20.0));
        if ui
            .add_enabled(!running, egui::Button::new(label))
            .on_hover_text(
                "(key T) fit the model's output layer, logits = W_out · h + b, to the corpus by \
                 gradient descent on the cross-entropy (h: what the sentence's last word \
                 carries forward after attention, step 3)",
            )
            .clicked()
        {
            *train = true;
        }
        match fit {
            None => {
                ui.label("the real thing: fit the output layer to these counts, live");
            }
            Some(fit) => {
                // Until the first batch lands there is no loss to show (not a NaN).
                let loss = fit
                    .losses
                    .last()
                    .map_or_else(|| "-".to_owned(), |l| format!("{l:.4}"));
                ui.label(
                    RichText::new(format!(
                        "step {} / {} on the {}   loss {loss}   floor {:.4}",
                        fit.steps,
                        fit.total_steps,
                        if fit.on_gpu { "GPU" } else { "CPU" },
                        fit.loss_floor
                    ))
                    .size(text_size(ui, 16.0)),
                );
            }
        }
    });
    let Some(fit) = fit else {
        return;
    };
    let points: egui_plot::PlotPoints<'_> = fit
        .losses
        .iter()
        .enumerate()
        .map(|(i, &loss)| [i as f64, loss as f64])
        .collect();
    let colours = palette(ui);
    let response = egui_plot::Plot::new("loss curve")
        .height(170.0)
        .width(560.0)
        .allow_zoom(false)
        .allow_drag(false)
        .allow_scroll(false)
        .allow_boxed_zoom(false)
        .include_x(0.0)
        .include_x(fit.total_steps as f64)
        .include_y(0.0)
        .x_axis_label("step")
        .y_axis_label("loss")
        .legend(egui_plot::Legend::default())
        .show(ui, |plot| {
            plot.line(
                egui_plot::Line::new("loss (cross-entropy)", points)
                    .width(3.0)
                    .color(colours.bar),
            );
            plot.hline(
                egui_plot::HLine::new("floor: the corpus's own entropy", fit.loss_floor)
                    .color(colours.winner_text)
                    .style(egui_plot::LineStyle::dashed_loose()),
            );
        })
        .response;
    let summary = match fit.losses.last() {
        Some(last) => format!(
            "loss curve: {} steps, last loss {last:.4}",
            fit.losses.len()
        ),
        None => "loss curve: no step has landed yet".to_owned(),
    };
    response.widget_info(|| egui::WidgetInfo::labeled(egui::Role::Image, true, &summary));
    for ((prefix, kl), unseen) in fit
        .prefixes
        .iter()
        .zip(fit.kl_to_counts)
        .zip(fit.unseen_endings)
    {
        let verdict = if *kl < 1e-3 {
            "  — matches the counts"
        } else if *unseen > 0 {
            "  — still closing in: endings never seen after this start reach 0 only at logit -inf"
        } else {
            ""
        };
        ui.label(format!(
            "{prefix} ___: KL(counts || trained) = {kl:.2e}{verdict}"
        ));
    }
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
        ui.colored_label(palette(ui).warning, error);
    }
}

/// What the real model is and was trained on, and how its column is computed.
fn real_intro(ui: &mut egui::Ui, real: &RealOddsView<'_>) {
    ui.add_space(4.0);
    ui.label(
        RichText::new(format!(
            "Beside your corpus: {}'s own odds. An ending's probability is the chain rule over \
             its tokens — p(\" mongodb\") = p(\" m\") · p(\"ong\" | \" m\") · p(\"odb\" | \" mong\").",
            real.model
        ))
        .size(text_size(ui, 16.0)),
    );
    ui.label(
        RichText::new(real.trained_on.unwrap_or(
            "What this model was trained on is not recorded in its file: its odds come from that \
         training text, not from your corpus.",
        ))
        .size(text_size(ui, 16.0))
        .color(palette(ui).info),
    );
    match (real.odds, real.seconds) {
        (Some(_), Some(seconds)) => {
            ui.weak(format!(
                "computed on the CPU reference in {seconds:.1} s: a forward pass per sentence \
                 start, then a token at a time per ending"
            ));
        }
        _ => {
            ui.colored_label(palette(ui).notice, real.waiting());
        }
    }
}

/// `-> mysql` in the real model's name: its likeliest ending among this start's.
fn real_prediction(ui: &mut egui::Ui, real: &RealOddsView<'_>, odds: Option<&PrefixOdds>) {
    ui.add_space(24.0);
    ui.label(RichText::new(format!("{}:", short_name(real.model))).size(text_size(ui, 18.0)));
    let said = odds.and_then(|o| o.prediction());
    ui.label(
        RichText::new(said.map_or("…", |e| e.ending.as_str()))
            .size(text_size(ui, 26.0))
            .strong(),
    )
    .on_hover_text("the real model's likeliest ending among this start's endings");
}

/// A probability as the table prints it: `0.231`, or `1.9e-8` when tiny.
fn scientific(p: f64) -> String {
    if p >= 1e-3 {
        format!("{p:.3}")
    } else {
        format!("{p:.1e}")
    }
}

/// A token as the tables print it: quoted, so its leading space shows (`" m"`), escapes
/// spelled out, and a byte that is only part of a character (byte-level BPE decodes it to
/// U+FFFD) named as such.
pub fn token_text(token: &str) -> String {
    format!("{token:?}").replace('\u{FFFD}', "<byte>")
}

/// ` m`·`ong`·`odb`, each token's conditional probability on hover.
fn chain_tokens(ui: &mut egui::Ui, chain: &EndingChain) {
    let text = chain
        .tokens
        .iter()
        .map(|t| token_text(&t.token))
        .collect::<Vec<_>>()
        .join(" · ");
    let hover = chain
        .tokens
        .iter()
        .map(|t| {
            format!(
                "p({} | before) = {}",
                token_text(&t.token),
                scientific(t.probability as f64)
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    ui.monospace(text).on_hover_text(hover);
}

/// The real model's own top next tokens after the start, over its whole vocabulary.
fn top_next_tokens(ui: &mut egui::Ui, model: &str, odds: &PrefixOdds) {
    egui::CollapsingHeader::new(format!(
        "{}'s own top {} next tokens after \"{}\" (its whole vocabulary)",
        short_name(model),
        odds.top.len(),
        odds.prefix
    ))
    .id_salt(("top next tokens", &odds.prefix))
    .default_open(true)
    .show(ui, |ui| {
        egui::Grid::new(("top next", &odds.prefix))
            .spacing([12.0, 3.0])
            .show(ui, |ui| {
                for (rank, token) in odds.top.iter().enumerate() {
                    ui.monospace(token_text(&token.token));
                    probability_bar(ui, token.probability as f64, rank == 0, 200.0);
                    if rank % 2 == 1 {
                        ui.end_row();
                    }
                }
            });
    });
}
