//! The top bar's model menu: which model is live — the lesson model (one layer, 96 curated
//! words) or a real one (its file, layers × heads, size) — and the way to switch, load or open
//! one. The choice is the scene's (`Scene::model`); the app applies what is picked.

use crate::scene::ModelFile;

use super::theme::palette;

/// A real model, as the menu names it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ModelSummary<'a> {
    /// Its file.
    pub name: &'a str,
    /// Transformer blocks.
    pub layers: usize,
    /// Query heads per layer.
    pub heads: usize,
    /// Key/value heads per layer (grouped-query attention when fewer than `heads`).
    pub kv_heads: usize,
    /// The file's size.
    pub bytes: u64,
}

impl ModelSummary<'_> {
    /// `SmolLM2-135M-Instruct.Q4_1.gguf — 30 layers × 9 heads, 98 MB`.
    pub fn describe(&self) -> String {
        format!(
            "{} — {} layers × {} heads, {}",
            self.name,
            self.layers,
            self.heads,
            megabytes(self.bytes)
        )
    }
}

/// `98 MB`; `0.31 MB` for a small file.
pub fn megabytes(bytes: u64) -> String {
    let mb = bytes as f64 / 1e6;
    if mb >= 10.0 {
        format!("{mb:.0} MB")
    } else {
        format!("{mb:.2} MB")
    }
}

/// The model's name without its file's quantisation and extension (`SmolLM2-135M-Instruct`).
pub fn short_name(file: &str) -> &str {
    let stem = file.strip_suffix(".gguf").unwrap_or(file);
    stem.split_once('.').map_or(stem, |(name, _)| name)
}

/// What the menu shows.
#[derive(Clone, Debug, Default)]
pub struct ModelView<'a> {
    /// The real model live now; `None`: the lesson model.
    pub live: Option<ModelSummary<'a>>,
    /// The real model loaded (live or not).
    pub loaded: Option<ModelSummary<'a>>,
    /// A model file being read: its name, and for how many seconds.
    pub loading: Option<(&'a str, f64)>,
    /// A model file offered to load (`GAZE_MODEL`), when none is loaded.
    pub available: Option<&'a str>,
    /// The model the scene was made on, when it is not loaded (the lesson model is shown).
    pub missing: Option<&'a ModelFile>,
    /// "open model…" can show a file dialog (native).
    pub can_open: bool,
}

/// What was picked this frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ModelAction {
    /// Show the lesson model.
    UseLesson,
    /// Show the loaded real model.
    UseLoaded,
    /// Load the offered file and show it.
    LoadAvailable,
    /// Choose a model file (the shell shows the dialog).
    Open,
}

/// The lesson model's line in the menu and the top bar.
pub const LESSON_MODEL_LABEL: &str = "lesson model (1 layer, 96 named words)";

/// Draws the menu button (its text names the live model) and returns what was picked.
pub fn show(ui: &mut egui::Ui, view: &ModelView<'_>) -> Option<ModelAction> {
    let mut action = None;
    let (full, short) = match (view.loading, &view.live) {
        (Some((name, seconds)), _) => (
            format!("model: reading {name}… {seconds:.0} s"),
            format!("model: reading… {seconds:.0} s"),
        ),
        (None, Some(live)) => (
            format!("model: {}", live.describe()),
            format!("model: {}", short_name(live.name)),
        ),
        (None, None) => (
            format!("model: {LESSON_MODEL_LABEL}"),
            "model: lesson".to_owned(),
        ),
    };
    // The whole description where the bar has room for it (the step buttons keep theirs: a
    // projector's large text leaves less), else the short name; the menu says the rest.
    let font = super::theme::font(ui, 16.0);
    let room = ui.available_width() - 2.0 * ui.spacing().button_padding.x - 8.0;
    let fits = ui
        .painter()
        .layout_no_wrap(full.clone(), font.clone(), egui::Color32::WHITE)
        .size()
        .x
        <= room;
    let title = egui::RichText::new(if fits { full } else { short }).size(font.size);
    ui.menu_button(title, |ui| {
        let lesson = view.live.is_none();
        if ui
            .selectable_label(lesson, LESSON_MODEL_LABEL)
            .on_hover_text("the readable picture: one layer, heads you can edit, named features")
            .clicked()
        {
            action = Some(ModelAction::UseLesson);
            ui.close();
        }
        if let Some(loaded) = &view.loaded {
            let heads = format!(
                "{} query heads share {} key/value heads in each layer (grouped-query attention)",
                loaded.heads, loaded.kv_heads
            );
            if ui
                .selectable_label(!lesson, loaded.describe())
                .on_hover_text(heads)
                .clicked()
            {
                action = Some(ModelAction::UseLoaded);
                ui.close();
            }
        }
        if let Some(name) = view.available {
            if ui
                .button(format!("load {name}"))
                .on_hover_text("the model file GAZE_MODEL names; read now, off the frame")
                .clicked()
            {
                action = Some(ModelAction::LoadAvailable);
                ui.close();
            }
        }
        if view.can_open {
            if ui
                .button("open model…")
                .on_hover_text(
                    "a Llama-family GGUF file (tools/fetch-models.sh smollm2 fetches SmolLM2-135M); \
                     or drop one on the window",
                )
                .clicked()
            {
                action = Some(ModelAction::Open);
                ui.close();
            }
        } else {
            ui.weak("drop a .gguf model file on the page to load it");
        }
    });
    action
}

/// The line under the top bar while the model menu has something to say: the scene's model is
/// not loaded, or the real model is live but this step (4) still shows the lesson model.
pub fn note(ui: &mut egui::Ui, view: &ModelView<'_>, step: u8) {
    let text = if let Some(missing) = view.missing {
        format!(
            "This scene was made on {missing}, which is not loaded: the lesson model is shown. \
             Load it (--model FILE, open model…, or drop it on the window) to see the scene on it."
        )
    } else if let (Some(live), true) = (&view.live, step >= 4) {
        format!(
            "{} is live on steps 1 to 3; step {step} still shows the lesson model's in-context \
             learning and retrieval (the real model's step 4 is the next issue).",
            live.name
        )
    } else {
        return;
    };
    egui::Panel::top("model note").show(ui, |ui| {
        ui.colored_label(palette(ui).notice, text);
    });
}
