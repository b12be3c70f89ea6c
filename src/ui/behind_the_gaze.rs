//! "Behind the gaze": the numbers under the focused token's arcs. For the focused row, each
//! `Q_i · K_j / √d_k` and its softmax; for every token, its Q, K and V as labelled bars; and the
//! head's `W_Q` / `W_K`, editable — drag a weight and the attention is recomputed before the
//! frame is drawn.

use egui::{Pos2, Rect, Sense, Vec2};

use crate::model::attention::{AttentionResult, FocusScores, HeadWeights, Matrix};
use crate::model::lesson::{Projection, WeightEdit, MAX_EDITED_WEIGHT};
use crate::model::residual::{carried_forward, CarriedForward};
use crate::model::transformer::Token;
use crate::scene::AttentionScene;
use crate::ui::theme::palette;

/// What the panel shows, derived by the app.
pub struct BehindView<'a> {
    /// The sentence's tokens.
    pub tokens: &'a [Token],
    /// The computed attention (readback); `None` while it is in flight.
    pub result: Option<&'a AttentionResult>,
    /// Names of the embedding features (rows of the weights).
    pub features: &'a [String],
    /// Names of the query/key dimensions.
    pub head_dims: &'a [String],
    /// Names of the value dimensions.
    pub value_dims: &'a [String],
    /// The weights in use (with the user's edits), one per head shown.
    pub weights: &'a [HeadWeights],
    /// Each token's residual-stream vector (`N × d_model`).
    pub stream: &'a Matrix,
    /// `W_O`: value dimensions → features.
    pub w_o: &'a Matrix,
    /// The focus's score row in every head, as read back (the kernels' result holds no scores:
    /// only this row is printed); `None` while on its way.
    pub focus_scores: Option<&'a FocusScores>,
    /// What the focus token carries on, as the app last computed it, with the focus and the
    /// residual switch it is for (`None`: computed here).
    pub carried: Option<(usize, bool, &'a CarriedForward)>,
}

/// A horizontal bar for `value` in `[-scale, scale]`: blue right of the centre line when positive,
/// orange left of it when negative (a colour-blind-safe pair; the side carries the sign too).
fn bar(ui: &mut egui::Ui, value: f32, scale: f32, width: f32) {
    let (rect, response) = ui.allocate_exact_size(Vec2::new(width, 12.0), Sense::hover());
    let mid = rect.center().x;
    let fraction = if scale > 0.0 {
        (value / scale).clamp(-1.0, 1.0)
    } else {
        0.0
    };
    let end = mid + fraction * rect.width() / 2.0;
    let (x0, x1) = if end >= mid { (mid, end) } else { (end, mid) };
    let colours = palette(ui);
    let color = if value >= 0.0 {
        colours.plus
    } else {
        colours.minus
    };
    let painter = ui.painter();
    painter.rect_filled(
        Rect::from_min_max(
            Pos2::new(x0, rect.min.y + 1.0),
            Pos2::new(x1, rect.max.y - 1.0),
        ),
        1.0,
        color,
    );
    painter.line_segment(
        [Pos2::new(mid, rect.min.y), Pos2::new(mid, rect.max.y)],
        ui.visuals().widgets.noninteractive.bg_stroke,
    );
    response.on_hover_text(format!("{value:.4}"));
}

/// Draws the panel for head `head` and applies weight drags to `scene`.
pub fn show(ui: &mut egui::Ui, scene: &mut AttentionScene, view: &BehindView<'_>, head: usize) {
    ui.heading("Behind the gaze");
    let Some(result) = view.result else {
        ui.label("computing…");
        return;
    };
    let n = view.tokens.len();
    let focus = scene.focus.min(n.saturating_sub(1));
    let Some(focus_token) = view.tokens.get(focus) else {
        return;
    };
    // The focus row as read back for this focus; a result holding every score (the CPU
    // reference's) answers for any focus.
    let scores = view
        .focus_scores
        .filter(|s| s.focus == focus)
        .and_then(|s| s.row(head))
        .or_else(|| result.scores_row(head, focus));
    let (Some(scores), Some(weights)) = (scores, result.weights_row(head, focus)) else {
        return;
    };

    ui.label(format!(
        "focus `{}`, head {}: each key's score Q·K/√d_k, then softmax",
        focus_token.text,
        head + 1
    ));
    egui::Grid::new("scores").striped(true).show(ui, |ui| {
        ui.strong("key");
        ui.strong("Q·K/√d_k");
        ui.strong("softmax");
        ui.end_row();
        for (j, token) in view.tokens.iter().enumerate() {
            ui.label(&token.text);
            match scores.get(j) {
                Some(s) if s.is_finite() => ui.monospace(format!("{s:+.3}")),
                _ => ui.monospace("−∞ (masked)"),
            };
            ui.horizontal(|ui| {
                let w = weights.get(j).copied().unwrap_or(0.0);
                bar(ui, w, 1.0, 120.0);
                ui.monospace(format!("{w:.3}"));
            });
            ui.end_row();
        }
    });

    ui.add_space(8.0);
    let d_k = result.params.dk();
    let scale = |data: &[f32]| data.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    let head_slice = |data: &'_ [f32]| -> Vec<f32> {
        data.get(head * n * d_k..(head + 1) * n * d_k)
            .map(<[f32]>::to_vec)
            .unwrap_or_default()
    };
    for (label, data, dims) in [
        (
            "Q (what each token looks for)",
            head_slice(&result.q),
            view.head_dims,
        ),
        (
            "K (what each token offers)",
            head_slice(&result.k),
            view.head_dims,
        ),
        (
            "V (what each token passes on)",
            head_slice(&result.v),
            view.value_dims,
        ),
    ] {
        egui::CollapsingHeader::new(label)
            .default_open(label.starts_with('K'))
            .show(ui, |ui| {
                let s = scale(&data);
                egui::Grid::new(label).show(ui, |ui| {
                    ui.label("");
                    for dim in dims {
                        ui.small(dim);
                    }
                    ui.end_row();
                    for (i, token) in view.tokens.iter().enumerate() {
                        ui.label(&token.text);
                        for c in 0..d_k {
                            bar(ui, data.get(i * d_k + c).copied().unwrap_or(0.0), s, 56.0);
                        }
                        ui.end_row();
                    }
                });
            });
    }

    carried(ui, scene, view, result, focus);

    if let Some(head_weights) = view.weights.get(head) {
        egui::CollapsingHeader::new(format!("edit head {}'s weights", head + 1)).show(ui, |ui| {
            ui.label("Drag a weight: attention is recomputed before the next frame is drawn.");
            for (projection, matrix) in [
                (Projection::WQ, &head_weights.w_q),
                (Projection::WK, &head_weights.w_k),
            ] {
                ui.strong(projection.name());
                edit_grid(
                    ui,
                    scene,
                    head,
                    projection,
                    matrix.data(),
                    view.features,
                    view.head_dims,
                );
            }
            if !scene.weight_edits.is_empty() && ui.button("reset the weights").clicked() {
                scene.weight_edits.clear();
            }
        });
    }
}

/// What the focus token carries to the next layer: its own vector, the heads' update, and the
/// result — with residual + layer norm on, `LayerNorm(x + update)`; off, the update alone.
fn carried(
    ui: &mut egui::Ui,
    scene: &AttentionScene,
    view: &BehindView<'_>,
    result: &AttentionResult,
    focus: usize,
) {
    let Some(stream) = view.stream.row(focus) else {
        return;
    };
    // The app's copy when it is for this focus and switch (every frame in a steady scene);
    // computed here only in the frame a click changed them, before the app catches up.
    let computed;
    let forward = match view.carried {
        Some((f, residual_norm, forward)) if f == focus && residual_norm == scene.residual_norm => {
            forward
        }
        _ => match carried_forward(stream, result, focus, view.w_o, scene.residual_norm) {
            Some(forward) => {
                computed = forward;
                &computed
            }
            None => return,
        },
    };
    let token = view.tokens.get(focus).map_or("", |t| t.text.as_str());
    ui.add_space(8.0);
    ui.strong(format!("what `{token}` carries to the next layer"));
    ui.label(if scene.residual_norm {
        "residual + layer norm on: LayerNorm(x + Σ O·W_O) — the word keeps its own meaning"
    } else {
        "residual + layer norm off: only Σ O·W_O goes on — the word's own meaning is lost"
    });
    let scale = forward
        .stream
        .iter()
        .chain(&forward.update)
        .chain(&forward.carried)
        .fold(0.0f32, |m, v| m.max(v.abs()))
        .max(1e-6);
    egui::Grid::new("carried").show(ui, |ui| {
        ui.label("");
        ui.small("x (itself)");
        ui.small("Σ O·W_O");
        ui.small("carried on");
        ui.end_row();
        for (f, feature) in view.features.iter().enumerate() {
            ui.small(feature);
            for values in [&forward.stream, &forward.update, &forward.carried] {
                bar(ui, values.get(f).copied().unwrap_or(0.0), scale, 64.0);
            }
            ui.end_row();
        }
    });
}

fn edit_grid(
    ui: &mut egui::Ui,
    scene: &mut AttentionScene,
    head: usize,
    projection: Projection,
    data: &[f32],
    features: &[String],
    dims: &[String],
) {
    egui::Grid::new((head, projection.name())).show(ui, |ui| {
        ui.label("");
        for dim in dims {
            ui.small(dim);
        }
        ui.end_row();
        for (r, feature) in features.iter().enumerate() {
            ui.small(feature);
            for (c, dim) in dims.iter().enumerate() {
                let mut value = data.get(r * dims.len() + c).copied().unwrap_or(0.0);
                let response = ui.add(
                    egui::DragValue::new(&mut value)
                        .speed(0.02)
                        .range(-MAX_EDITED_WEIGHT..=MAX_EDITED_WEIGHT)
                        .fixed_decimals(2),
                );
                // Named for screen readers and tests: "W_K thing -> subject". (The default fonts
                // have no arrow glyph.)
                let name = format!("{} {feature} -> {dim}", projection.name());
                response.widget_info(|| egui::WidgetInfo {
                    label: Some(name.clone()),
                    ..egui::WidgetInfo::drag_value(true, f64::from(value))
                });
                let response = response.on_hover_text(name);
                if response.changed() {
                    set_weight(scene, head, projection, feature, dim, value);
                }
            }
            ui.end_row();
        }
    });
}

/// Records an edit, replacing an earlier one of the same weight so scenes stay short.
fn set_weight(
    scene: &mut AttentionScene,
    head: usize,
    matrix: Projection,
    feature: &str,
    dim: &str,
    value: f32,
) {
    match scene
        .weight_edits
        .iter_mut()
        .find(|e| e.head == head && e.matrix == matrix && e.feature == feature && e.dim == dim)
    {
        Some(edit) => edit.value = value,
        None => scene.weight_edits.push(WeightEdit {
            head,
            matrix,
            feature: feature.to_owned(),
            dim: dim.to_owned(),
            value,
        }),
    }
}
