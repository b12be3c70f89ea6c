//! Step 3 — how attention shaped the question: the sentence as clickable tokens, the formula,
//! and each head's attention map with a 0–1 legend.
//!
//! The map's cells are drawn on the GPU from the attention-weights buffer
//! ([`HeatmapCallback`]); this panel adds what is text: token labels, the value in each cell
//! when the cell is large enough to hold it, the hover tooltip `row → column: weight`, and the
//! focus row's outline. Clicking a token, or a row of a map, focuses that token.

use egui::{Align2, Color32, FontId, Pos2, Rect, Sense, Stroke, StrokeKind, Vec2};

use crate::model::attention::AttentionResult;
use crate::model::positions::Positions;
use crate::model::tokenizer::MAX_LINE_CHARS;
use crate::model::transformer::{ShownHead, Token};
use crate::render::arcs::{ArcFrame, ArcsCallback};
use crate::render::colormap::Colormap;
use crate::render::heatmap::HeatmapCallback;
use crate::scene::{AttentionScene, HEAD_CHOICES};
use crate::ui::theme::{font, text_size, Theme};

/// A paste into the sentence box longer than this many bytes is refused before the box sees it:
/// at 4 bytes a character at most, it cannot be a sentence of [`MAX_LINE_CHARS`] characters.
const MAX_PASTE_INTO_SENTENCE: usize = MAX_LINE_CHARS * 4;

/// What the panel shows, derived from the scene by the app.
pub struct AttentionView<'a> {
    /// The sentence's tokens.
    pub tokens: &'a [Token],
    /// The heads shown, one map each: which head of the model, and its heading.
    pub heads: &'a [ShownHead],
    /// The computed attention (a readback, for the printed numbers); `None` until it arrives.
    pub result: Option<&'a AttentionResult>,
    /// Colour map of the cells and the legend.
    pub colormap: Colormap,
    /// Seconds since the last frame, for the arcs' easing and particles.
    pub dt: f32,
    /// Show final positions at once (exports; reduced motion).
    pub snap: bool,
    /// Particles flow along the arcs (off when the user asked for reduced motion).
    pub particles: bool,
}

/// Where the panel put each head's map, in points (tests and exports use it).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttentionLayout {
    /// One rectangle per head shown.
    pub heatmaps: Vec<Rect>,
    /// The arc strip above each map.
    pub arc_strips: Vec<Rect>,
}

/// The smallest cell, in points, that gets its value printed.
const MIN_LABELLED_CELL: f32 = 34.0;
/// Room for the row labels left of a map.
const ROW_LABEL_WIDTH: f32 = 96.0;

/// [`ROW_LABEL_WIDTH`] and [`COLUMN_LABEL_HEIGHT`] as the theme draws text (the projector's
/// labels are larger).
fn label_room(ui: &egui::Ui) -> (f32, f32) {
    (
        text_size(ui, ROW_LABEL_WIDTH),
        text_size(ui, COLUMN_LABEL_HEIGHT),
    )
}
/// Room for the column labels above a map.
const COLUMN_LABEL_HEIGHT: f32 = 24.0;

/// Draws the panel and applies the user's clicks to `scene`.
pub fn show(
    ui: &mut egui::Ui,
    scene: &mut AttentionScene,
    view: &AttentionView<'_>,
) -> AttentionLayout {
    let n = view.tokens.len();
    if n > 0 && scene.focus >= n {
        // The sentence got shorter: keep the focus on its last token.
        scene.focus = n - 1;
    }
    ui.heading("Step 3 — How attention shaped the question");
    if crate::ui::presenter::controls_shown(ui) {
        controls(ui, scene);
    }
    ui.label(formula(ui));
    ui.add_space(6.0);

    if n <= MAX_TOKEN_BUTTONS {
        ui.horizontal_wrapped(|ui| {
            ui.label("focus:");
            for (index, token) in view.tokens.iter().enumerate() {
                token_button(ui, scene, index, token);
            }
        });
    } else {
        // A long context: a row of buttons would bury the map. Pick by index (or click a row).
        ui.horizontal(|ui| {
            ui.label("focus:");
            ui.add(egui::Slider::new(&mut scene.focus, 0..=n - 1).text("token"));
            if let Some(token) = view.tokens.get(scene.focus) {
                token_button(ui, scene, scene.focus, token);
            }
            ui.label(format!(
                "of {n} tokens · click a row of the map to focus it"
            ));
        });
    }
    if view.tokens.iter().any(|t| t.note.is_some()) {
        ui.label(egui::RichText::new("italic = estimated embedding").small());
    }
    ui.add_space(8.0);

    let mut layout = AttentionLayout::default();
    if n == 0 {
        return layout;
    }
    let heads = view.heads.len().max(1);
    let available = ui.available_size();
    let legend_height = 72.0;
    let spacing = ui.spacing().item_spacing.x;
    let (row_label_width, column_label_height) = label_room(ui);
    let per_head_width =
        ((available.x - spacing * heads as f32) / heads as f32 - row_label_width).max(40.0);
    let side = per_head_width
        .min((available.y - legend_height - 64.0 - column_label_height) / 1.45)
        .max(40.0);
    ui.horizontal(|ui| {
        for head in 0..heads {
            ui.vertical(|ui| {
                let label = view.heads.get(head).map_or("head", |h| h.label.as_str());
                ui.label(egui::RichText::new(label).strong());
                let rect = heatmap(ui, scene, view, head, side, &mut layout);
                layout.heatmaps.push(rect);
            });
        }
    });
    ui.add_space(4.0);
    legend(ui, view.colormap);
    layout
}

/// Above this many tokens the focus picker is a slider instead of a row of buttons.
const MAX_TOKEN_BUTTONS: usize = 40;

fn token_button(ui: &mut egui::Ui, scene: &mut AttentionScene, index: usize, token: &Token) {
    let mut text = egui::RichText::new(&token.text).size(text_size(ui, 20.0));
    if token.note.is_some() {
        text = text.italics();
    }
    let response = ui.selectable_label(scene.focus == index, text);
    let response = match &token.note {
        Some(note) => response.on_hover_text(note),
        None => response,
    };
    if response.clicked() {
        scene.focus = index;
    }
}

/// The sentence box and the honesty-check switches.
fn controls(ui: &mut egui::Ui, scene: &mut AttentionScene) {
    // A paste far past what a sentence may hold never reaches the box: laying out megabytes of
    // text every frame would freeze the lesson. The box keeps its text and a note says why.
    let note_id = ui.scope_id().with("refused sentence paste");
    let refused = ui.input_mut(|input| {
        let mut refused = None;
        input.events.retain(|event| match event {
            egui::Event::Paste(text) if text.len() > MAX_PASTE_INTO_SENTENCE => {
                refused = Some(text.chars().count());
                false
            }
            _ => true,
        });
        refused
    });
    if let Some(chars) = refused {
        let note = format!(
            "the paste is {chars} characters; a sentence takes at most {MAX_LINE_CHARS}, so it \
             was not pasted (step 4 attends over long texts)"
        );
        ui.data_mut(|data| data.insert_temp(note_id, note));
    }
    ui.horizontal_wrapped(|ui| {
        let label = ui.label("sentence:");
        let edited = ui
            .add(
                egui::TextEdit::singleline(&mut scene.sentence)
                    .desired_width(420.0)
                    .hint_text("type any sentence"),
            )
            .labelled_by(label.id)
            .changed();
        if edited {
            ui.data_mut(|data| data.remove::<String>(note_id));
        }
        if let Some(note) = ui.data(|data| data.get_temp::<String>(note_id)) {
            ui.colored_label(crate::ui::theme::palette(ui).warning, note);
        }
        ui.checkbox(&mut scene.causal, "causal mask")
            .on_hover_text("hide the future: a token may only attend to itself and earlier tokens");
        ui.checkbox(&mut scene.residual_norm, "residual + layer norm")
            .on_hover_text("add attention's output to the word's own vector, then normalise");
        ui.label("positions:");
        for mode in Positions::ALL {
            ui.selectable_value(&mut scene.positions, mode, mode.name());
        }
        ui.label("heads:");
        for heads in HEAD_CHOICES {
            ui.selectable_value(
                &mut scene.heads,
                heads,
                format!("{heads} head{}", if heads == 1 { "" } else { "s" }),
            );
        }
    });
}

/// Height of the arc strip above a map of side `side`.
fn arc_strip_height(side: f32) -> f32 {
    (side * 0.45).clamp(60.0, 160.0)
}

fn heatmap(
    ui: &mut egui::Ui,
    scene: &mut AttentionScene,
    view: &AttentionView<'_>,
    head: usize,
    side: f32,
    layout: &mut AttentionLayout,
) -> Rect {
    let n = view.tokens.len();
    let strip_height = arc_strip_height(side);
    let (row_label_width, column_label_height) = label_room(ui);
    let (outer, response) = ui.allocate_exact_size(
        Vec2::new(
            row_label_width + side,
            strip_height + column_label_height + side,
        ),
        Sense::click(),
    );
    // Arcs above the map: token j's end of an arc sits over column j, so each arc joins a key's
    // column to the focus's.
    let strip = Rect::from_min_size(
        Pos2::new(outer.min.x + row_label_width, outer.min.y),
        Vec2::new(side, strip_height),
    );
    let ppp = ui.ctx().pixels_per_point();
    ui.painter().add(egui_wgpu::Callback::new_paint_callback(
        strip,
        ArcsCallback {
            head,
            frame: ArcFrame {
                focus: scene.focus as u32,
                dt: view.dt,
                snap: view.snap,
                particles: view.particles,
                viewport_px: [strip.width() * ppp, strip.height() * ppp],
                max_thickness: (side / n as f32 * 0.5).clamp(4.0, 28.0)
                    * Theme::of(ui).arc_scale()
                    * ppp,
                colors: Theme::of(ui).arc_colors(),
            },
        },
    ));
    let rect = Rect::from_min_size(
        Pos2::new(
            outer.min.x + row_label_width,
            outer.min.y + strip_height + column_label_height,
        ),
        Vec2::splat(side),
    );
    layout.arc_strips.push(strip);
    ui.painter().add(egui_wgpu::Callback::new_paint_callback(
        rect,
        HeatmapCallback { head },
    ));

    let cell = side / n as f32;
    let painter = ui.painter();
    let label_font = font(ui, (cell * 0.45).clamp(10.0, 18.0));
    for (i, token) in view.tokens.iter().enumerate() {
        let y = rect.min.y + (i as f32 + 0.5) * cell;
        let x = rect.min.x + (i as f32 + 0.5) * cell;
        if cell >= 10.0 {
            let color = ui.visuals().text_color();
            painter.text(
                Pos2::new(rect.min.x - 6.0, y),
                Align2::RIGHT_CENTER,
                &token.text,
                label_font.clone(),
                color,
            );
            // Column labels fit inside their column: a long word is set smaller rather than
            // dropped (`database` is the lesson's answer), down to the theme's smallest text.
            let mut galley = painter.layout_no_wrap(token.text.clone(), label_font.clone(), color);
            let width = galley.size().x;
            if width > cell - 2.0 && width > 0.0 {
                let fitted = label_font.size * (cell - 2.0) / width;
                if fitted >= text_size(ui, 10.0) {
                    let smaller = FontId::new(fitted, label_font.family.clone());
                    galley = painter.layout_no_wrap(token.text.clone(), smaller, color);
                }
            }
            if galley.size().x <= cell - 2.0 {
                let pos = Pos2::new(
                    x - galley.size().x / 2.0,
                    rect.min.y - 4.0 - galley.size().y,
                );
                painter.galley(pos, galley, color);
            }
        }
    }
    let row_of = |pos: Pos2| ((pos.y - rect.min.y) / cell).floor() as usize;
    let col_of = |pos: Pos2| ((pos.x - rect.min.x) / cell).floor() as usize;

    if let Some(result) = view.result {
        // As large as the theme draws text, shrunk to fit "0.00" in the cell (a monospace digit
        // is ~0.6 of the size wide), never under the theme's smallest text; printed only where
        // it then fits.
        let smallest = text_size(ui, 10.0);
        let size = text_size(ui, (cell * 0.3).clamp(10.0, 16.0))
            .min((cell - 4.0) / 2.5)
            .max(smallest);
        if cell >= MIN_LABELLED_CELL.max(size * 2.5 + 4.0) {
            let font = FontId::monospace(size);
            for i in 0..n {
                let Some(row) = result.weights_row(head, i) else {
                    continue;
                };
                for (j, &w) in row.iter().enumerate() {
                    let center = Pos2::new(
                        rect.min.x + (j as f32 + 0.5) * cell,
                        rect.min.y + (i as f32 + 0.5) * cell,
                    );
                    let color = if view.colormap.text_is_dark_on(w) {
                        Color32::BLACK
                    } else {
                        Color32::WHITE
                    };
                    painter.text(
                        center,
                        Align2::CENTER_CENTER,
                        format!("{w:.2}"),
                        font.clone(),
                        color,
                    );
                }
            }
        }
        if let Some(pos) = response.hover_pos().filter(|p| rect.contains(*p)) {
            let (i, j) = (row_of(pos).min(n - 1), col_of(pos).min(n - 1));
            let weight = result.weights_row(head, i).and_then(|row| row.get(j));
            if let (Some(w), Some(row), Some(column)) =
                (weight, view.tokens.get(i), view.tokens.get(j))
            {
                // "row -> column: weight" (the default fonts have no arrow glyph).
                let text = format!("{} -> {}: {w:.4}", row.text, column.text);
                response.clone().on_hover_text_at_pointer(text);
            }
        }
    }

    // The focus row's outline.
    if scene.focus < n {
        let row = Rect::from_min_size(
            Pos2::new(rect.min.x, rect.min.y + scene.focus as f32 * cell),
            Vec2::new(side, cell),
        );
        painter.rect_stroke(
            row,
            0.0,
            Stroke::new(2.0, ui.visuals().strong_text_color()),
            StrokeKind::Outside,
        );
    }
    if response.clicked() {
        if let Some(pos) = response
            .interact_pointer_pos()
            .filter(|p| rect.contains(*p))
        {
            scene.focus = row_of(pos).min(n - 1);
        }
    }
    rect
}

/// `softmax(QKᵀ / √d_k) · V` with a real superscript (the default fonts have no `ᵀ` glyph).
fn formula(ui: &egui::Ui) -> egui::text::LayoutJob {
    let color = ui.visuals().strong_text_color();
    let body = egui::TextFormat::simple(font(ui, 22.0), color);
    let sup = egui::TextFormat {
        font_id: font(ui, 13.0),
        valign: egui::Align::TOP,
        ..body.clone()
    };
    let mut job = egui::text::LayoutJob::default();
    job.append("softmax(QK", 0.0, body.clone());
    job.append("T", 0.0, sup);
    job.append(" / √d", 0.0, body.clone());
    job.append(
        "k",
        0.0,
        egui::TextFormat {
            valign: egui::Align::BOTTOM,
            font_id: font(ui, 13.0),
            ..body.clone()
        },
    );
    job.append(") · V", 0.0, body);
    job
}

fn legend(ui: &mut egui::Ui, colormap: Colormap) {
    ui.horizontal(|ui| {
        ui.label("weight 0");
        let (rect, _) = ui.allocate_exact_size(Vec2::new(240.0, 18.0), Sense::hover());
        let steps = 64;
        for k in 0..steps {
            let t = (k as f32 + 0.5) / steps as f32;
            let [r, g, b] = colormap.sample(t);
            let x0 = rect.min.x + rect.width() * k as f32 / steps as f32;
            let x1 = rect.min.x + rect.width() * (k + 1) as f32 / steps as f32;
            ui.painter().rect_filled(
                Rect::from_min_max(Pos2::new(x0, rect.min.y), Pos2::new(x1 + 0.5, rect.max.y)),
                0.0,
                Color32::from_rgb(r, g, b),
            );
        }
        ui.label(format!("1   ({}; each row sums to 1)", colormap.name()));
    });
    ui.horizontal(|ui| {
        ui.label("arcs:");
        for (name, [r, g, b]) in ["strongest", "notable (≥ ½ of the strongest)", "background"]
            .into_iter()
            .zip(Theme::of(ui).arc_colors())
        {
            let (swatch, _) = ui.allocate_exact_size(Vec2::new(28.0, 8.0), Sense::hover());
            ui.painter()
                .rect_filled(swatch, 2.0, Color32::from_rgb(r, g, b));
            ui.label(name);
        }
        ui.label("· thickness = weight · particles flow toward the focus");
    });
}
