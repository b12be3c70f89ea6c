//! Step 3 on a real model: any head of any layer, with grouped-query attention made visible,
//! the attention sink (hide the first token, colour scales) and the logit lens.
//!
//! Each row of a head's map is `softmax(q_i · k_j / √d_head)` over the tokens `j ≤ i` (the
//! causal mask), q and k rotated by RoPE; the numbers come from the CPU reference
//! (`model::llm`), computed off the frame for the sentence, focus and layer on screen. The map is
//! drawn by the same instanced heatmap renderer as the lesson's, fed the brightness of each cell
//! under the chosen scale (`model::sink::brightness`).

use egui::{Align2, Pos2, Rect, RichText, Sense, Vec2};

use crate::model::llm::lesson::RealLayer;
use crate::model::sink::MapScale;
use crate::render::colormap::Colormap;
use crate::render::heatmap::RealMapCallback;
use crate::scene::AttentionScene;

use super::step1_pretraining::token_text;
use super::theme::{font, palette, text_size};

/// What the panel shows, derived by the app from the scene.
#[derive(Clone, Debug)]
pub struct RealAttentionView<'a> {
    /// The model's file.
    pub model: &'a str,
    /// Its layers.
    pub layers: usize,
    /// Query heads per layer.
    pub heads: usize,
    /// Key/value heads per layer.
    pub kv_heads: usize,
    /// Width of a head.
    pub d_head: usize,
    /// RoPE's base.
    pub rope_base: f32,
    /// The layer computed for the scene as it is now (`None` meanwhile: a stale map is never
    /// shown).
    pub layer: Option<&'a RealLayer>,
    /// The chosen head's map as drawn: renormalised over all but the first token when it is
    /// hidden, `n × n`.
    pub shown: &'a [f32],
    /// With the first token hidden: each row's true weight on it.
    pub first_share: &'a [f32],
    /// Why the layer could not be computed.
    pub error: Option<&'a str>,
    /// Seconds the next layer has been computing, if it is.
    pub computing: Option<f64>,
    /// How long the layer on screen took.
    pub seconds: Option<f64>,
    /// The colour map (the presenter's).
    pub colormap: Colormap,
}

/// Draws step 3 for a real model and applies the user's edits to `scene`.
pub fn show(ui: &mut egui::Ui, scene: &mut AttentionScene, view: &RealAttentionView<'_>) {
    ui.heading(format!("Step 3 — where {}'s heads look", view.model));
    ui.label(
        RichText::new(format!(
            "softmax(q·K^T/√{} + causal mask) per head; this model's facts, all on: {} layers × \
             {} heads sharing {} key/value heads (grouped-query attention), RoPE (base {}) on q \
             and k, residual + RMSNorm around every block, the causal mask.",
            view.d_head, view.layers, view.heads, view.kv_heads, view.rope_base
        ))
        .size(text_size(ui, 15.0)),
    );
    ui.horizontal(|ui| {
        let label = ui.label("sentence:");
        ui.add(egui::TextEdit::singleline(&mut scene.sentence).desired_width(480.0))
            .labelled_by(label.id);
    });
    pickers(ui, scene, view);
    ui.horizontal(|ui| {
        ui.checkbox(&mut scene.hide_first_token, "hide the first token")
            .on_hover_text(
                "drop the first token's column and renormalise each row over the rest: most \
                 heads park their attention there (the attention sink), which washes the map out",
            );
        ui.label("colour:");
        for scale in MapScale::ALL {
            ui.selectable_value(&mut scene.scale, scale, scale.label());
        }
    });
    let Some(layer) = view.layer else {
        let said = match (view.error, view.computing) {
            (Some(error), _) => format!("this layer could not be computed: {error}"),
            (None, Some(seconds)) => format!("computing layer {}… {seconds:.1} s", scene.layer + 1),
            (None, None) => "the layer is on its way".to_owned(),
        };
        ui.colored_label(palette(ui).notice, said);
        return;
    };
    focus_picker(ui, scene, layer);
    if let Some(seconds) = view.seconds {
        ui.weak(format!(
            "layer {} on the CPU reference in {seconds:.2} s: every head kept, {} tokens",
            layer.layer + 1,
            layer.n()
        ));
    }
    ui.horizontal_top(|ui| {
        ui.vertical(|ui| map(ui, scene, view, layer));
        ui.add_space(16.0);
        ui.vertical(|ui| lens(ui, layer));
    });
}

/// Layer 1–L and head 1–H, the heads grouped by the key/value head they share.
fn pickers(ui: &mut egui::Ui, scene: &mut AttentionScene, view: &RealAttentionView<'_>) {
    let group = (view.heads / view.kv_heads.max(1)).max(1);
    ui.horizontal(|ui| {
        let mut layer = scene.layer.min(view.layers.saturating_sub(1)) + 1;
        let label = ui.label("layer");
        let slider = ui
            .add(egui::Slider::new(&mut layer, 1..=view.layers.max(1)))
            .labelled_by(label.id);
        if slider.changed() {
            scene.layer = layer - 1;
        }
        ui.add_space(12.0);
        ui.label("head");
        for kv in 0..view.kv_heads {
            ui.add_space(6.0);
            ui.weak(format!("K/V {}:", kv + 1));
            for head in kv * group..((kv + 1) * group).min(view.heads) {
                ui.selectable_value(&mut scene.head, head, format!("{}", head + 1))
                    .on_hover_text(format!(
                        "query head {} reads key/value head {}",
                        head + 1,
                        kv + 1
                    ));
            }
        }
    });
    let head = scene.head.min(view.heads.saturating_sub(1));
    let kv = head / group;
    ui.weak(format!(
        "grouped-query attention: query heads {}–{} share key/value head {} (one K and one V \
         serve {group} queries)",
        kv * group + 1,
        (kv + 1) * group,
        kv + 1
    ));
}

/// The focus: one button per token as the model reads the sentence.
fn focus_picker(ui: &mut egui::Ui, scene: &mut AttentionScene, layer: &RealLayer) {
    ui.horizontal_wrapped(|ui| {
        ui.label("focus:");
        for (index, token) in layer.tokens.iter().enumerate() {
            let chosen = index == layer.focus;
            let text = RichText::new(token_text(token)).size(text_size(ui, 18.0));
            if ui.selectable_label(chosen, text).clicked() {
                scene.focus = index;
            }
        }
    });
}

/// The chosen head's map, drawn by the GPU heatmap renderer, its labels and the sink line.
fn map(ui: &mut egui::Ui, scene: &AttentionScene, view: &RealAttentionView<'_>, layer: &RealLayer) {
    let n = layer.n();
    let head = scene.head.min(view.heads.saturating_sub(1));
    ui.label(
        RichText::new(format!(
            "layer {} head {} (K/V head {})",
            layer.layer + 1,
            head + 1,
            head / layer.group.max(1) + 1
        ))
        .size(text_size(ui, 18.0)),
    );
    let label_room = 90.0;
    // The map fits the screen below it: egui-wgpu clamps a paint callback's viewport to the
    // frame, so a map running past the bottom would be drawn squeezed, not cut.
    let below = ui.ctx().content_rect().bottom() - ui.cursor().top() - label_room - 70.0;
    let side = (ui.available_width() - label_room)
        .min(below)
        .clamp(160.0, 560.0);
    let (outer, _) = ui.allocate_exact_size(Vec2::splat(side + label_room), Sense::hover());
    let rect = Rect::from_min_size(outer.min + Vec2::splat(label_room), Vec2::splat(side));
    ui.painter().add(egui_wgpu::Callback::new_paint_callback(
        rect,
        RealMapCallback,
    ));
    let cell = side / n.max(1) as f32;
    let painter = ui.painter();
    let colour = ui.visuals().text_color();
    if cell >= 9.0 {
        let label_font = font(ui, (cell * 0.45).clamp(9.0, 16.0));
        for (i, token) in layer.tokens.iter().enumerate() {
            let at = (i as f32 + 0.5) * cell;
            let text = token_text(token);
            painter.text(
                Pos2::new(rect.min.x - 4.0, rect.min.y + at),
                Align2::RIGHT_CENTER,
                &text,
                label_font.clone(),
                colour,
            );
            painter.text(
                Pos2::new(rect.min.x + at, rect.min.y - 4.0),
                Align2::CENTER_BOTTOM,
                &text,
                label_font.clone(),
                colour,
            );
        }
    }
    // The values themselves where they fit, in the colour that reads on the cell.
    if cell >= 34.0 {
        let value_font = font(ui, (cell * 0.3).clamp(9.0, 15.0));
        for (index, &weight) in view.shown.iter().enumerate() {
            let (row, col) = (index / n, index % n);
            if col > row {
                continue;
            }
            let row_max = row_max(view.shown, n, row);
            let t = crate::model::sink::brightness(weight, row_max, scene.scale);
            let text_colour = if view.colormap.text_is_dark_on(t) {
                egui::Color32::BLACK
            } else {
                egui::Color32::WHITE
            };
            // The hidden column is not a weight any more; a tiny weight keeps its size.
            let text = if scene.hide_first_token && col == 0 {
                "hidden".to_owned()
            } else if weight > 0.0 && weight < 0.005 {
                format!("{weight:.0e}")
            } else {
                format!("{weight:.2}")
            };
            painter.text(
                rect.min + Vec2::new((col as f32 + 0.5) * cell, (row as f32 + 0.5) * cell),
                Align2::CENTER_CENTER,
                text,
                value_font.clone(),
                text_colour,
            );
        }
    }
    // The focus row, outlined.
    let focus = layer.focus.min(n.saturating_sub(1));
    painter.rect_stroke(
        Rect::from_min_size(
            rect.min + Vec2::new(0.0, focus as f32 * cell),
            Vec2::new(side, cell),
        ),
        0.0,
        egui::Stroke::new(2.0, ui.visuals().strong_text_color()),
        egui::StrokeKind::Outside,
    );
    ui.label(match scene.scale {
        MapScale::Linear => "colour: the weight, 0 to 1",
        MapScale::Log => "colour: log10 of the weight, from 1e-4 (dark) to 1",
        MapScale::RowMax => "colour: the weight ÷ its row's largest (each row's own 0 to 1)",
    });
    if scene.hide_first_token {
        let share = view.first_share.get(focus).copied().unwrap_or(0.0);
        ui.colored_label(
            palette(ui).notice,
            format!(
                "first token hidden: each row renormalised over the rest. Its true share of \
                 the focus's row: {share:.3}"
            ),
        );
    } else if let Some(&first) = view.shown.get(focus * n) {
        ui.label(format!(
            "the focus's row puts {first:.3} on the first token {}",
            layer
                .tokens
                .first()
                .map(|t| token_text(t))
                .unwrap_or_default()
        ));
    }
}

fn row_max(map: &[f32], n: usize, row: usize) -> f32 {
    map.get(row * n..(row + 1) * n)
        .map_or(0.0, |r| r.iter().copied().fold(0.0, f32::max))
}

/// The logit lens: what the focus's residual stream would predict after each layer.
fn lens(ui: &mut egui::Ui, layer: &RealLayer) {
    let focus = layer.tokens.get(layer.focus).map(|t| token_text(t));
    ui.label(
        RichText::new(format!(
            "logit lens at {}: the final RMSNorm and output matrix applied after each layer",
            focus.unwrap_or_default()
        ))
        .size(text_size(ui, 16.0)),
    );
    egui::ScrollArea::vertical()
        .id_salt("logit lens")
        .max_height(560.0)
        .show(ui, |ui| {
            egui::Grid::new("logit lens rungs")
                .spacing([10.0, 2.0])
                .striped(true)
                .show(ui, |ui| {
                    ui.strong("layer");
                    ui.strong("would predict (top 3)");
                    ui.end_row();
                    for rung in &layer.lens {
                        ui.monospace(format!("{:>2}", rung.layer + 1));
                        let top = rung
                            .top
                            .iter()
                            .map(|t| format!("{} {:.2}", token_text(&t.token), t.probability))
                            .collect::<Vec<_>>()
                            .join("   ");
                        ui.monospace(top);
                        ui.end_row();
                    }
                });
        });
}
