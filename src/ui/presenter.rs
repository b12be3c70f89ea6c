//! Presenter chrome: the keys a lecturer runs the lesson with, the "view" menu that does the same
//! by mouse, and the help overlay that lists every key.
//!
//! The keys act only while no text box has the keyboard (typing "f" into a sentence must not
//! go full screen). Zoom (Ctrl +, Ctrl −, Ctrl 0) is egui's own: it scales the whole UI, maps
//! and arcs included, the way a browser zooms a page.

use crate::render::colormap::Colormap;
use crate::ui::theme::Theme;

/// How the lesson is being shown. Not part of the scene: the same scene file opens on a laptop
/// and on a projector.
#[derive(Clone, Debug, PartialEq)]
pub struct Presenter {
    /// The look.
    pub theme: Theme,
    /// The weights' colour map.
    pub colormap: Colormap,
    /// No animation: arcs jump to their weights, no particles, no easing.
    pub reduced_motion: bool,
    /// The editing controls are shown (H hides them, leaving the lesson's pictures and numbers).
    pub controls: bool,
    /// The help overlay is open.
    pub help: bool,
    /// S saves the view at this many pixels per point of the window's (1, 2 or 4).
    pub export_scale: u32,
    /// The window is full screen (as last asked; the window manager has the final word).
    pub fullscreen: bool,
}

impl Default for Presenter {
    fn default() -> Self {
        Self {
            theme: Theme::Dark,
            colormap: Colormap::Viridis,
            reduced_motion: false,
            controls: true,
            help: false,
            export_scale: 1,
            fullscreen: false,
        }
    }
}

/// Export scales offered: the window's size, and twice and four times it for slides.
pub const EXPORT_SCALES: [u32; 3] = [1, 2, 4];

/// What the presenter asked of the window this frame (only the window can do these).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PresenterRequests {
    /// Go full screen (`true`) or back to a window.
    pub fullscreen: Option<bool>,
    /// Save a PNG of the view at this scale.
    pub export: Option<u32>,
}

/// Every key, as the help overlay lists it.
pub const KEYS: [(&str, &str); 16] = [
    ("1  2  3  4", "go to that step"),
    ("<-  ->", "previous / next step"),
    ("F", "full screen on / off"),
    ("H", "hide / show the editing controls"),
    (
        "P",
        "projector theme (high contrast, large type) / dark theme",
    ),
    ("C", "colour map: viridis / cividis"),
    ("M", "motion on / off (reduced motion)"),
    ("S", "save a PNG of this view, at the export scale"),
    ("Ctrl +   Ctrl -   Ctrl 0", "zoom in / out / back to 100%"),
    ("T", "train (step 1) / fine-tune (step 2)"),
    ("Ctrl O", "open a scene file (desktop)"),
    ("Ctrl S", "save the scene to a file (desktop)"),
    ("Tab   Shift+Tab", "move between controls"),
    ("Space   Enter", "press the control in focus"),
    ("?", "this list of keys"),
    ("Esc", "close this list / leave full screen"),
];

fn controls_id() -> egui::Id {
    egui::Id::unique("gaze.presenter.controls")
}

/// Whether the panels show their editing controls (H hides them).
pub fn controls_shown(ui: &egui::Ui) -> bool {
    ui.ctx()
        .data(|d| d.get_temp::<bool>(controls_id()))
        .unwrap_or(true)
}

impl Presenter {
    /// Installs the theme (when it changed) and tells the panels whether to show their
    /// controls. Call before the frame's panels.
    pub fn apply(&self, ctx: &egui::Context) {
        let current = Theme::of_visuals(&ctx.global_style().visuals);
        if current != self.theme {
            self.theme.apply(ctx);
        }
        ctx.data_mut(|d| d.insert_temp(controls_id(), self.controls));
    }

    /// The presenter's keys, read from this frame's input. Text boxes keep their letters.
    pub fn handle_keys(&mut self, ctx: &egui::Context) -> PresenterRequests {
        let mut requests = PresenterRequests::default();
        if ctx.egui_wants_keyboard_input() {
            return requests;
        }
        let pressed = |key| ctx.input(|i| i.key_pressed(key) && !i.modifiers.command);
        if pressed(egui::Key::F) {
            self.fullscreen = !self.fullscreen;
            requests.fullscreen = Some(self.fullscreen);
        }
        if pressed(egui::Key::H) {
            self.controls = !self.controls;
        }
        if pressed(egui::Key::P) {
            self.theme = match self.theme {
                Theme::Dark => Theme::Projector,
                Theme::Projector => Theme::Dark,
            };
        }
        if pressed(egui::Key::C) {
            self.colormap = match self.colormap {
                Colormap::Viridis => Colormap::Cividis,
                Colormap::Cividis => Colormap::Viridis,
            };
        }
        if pressed(egui::Key::M) {
            self.reduced_motion = !self.reduced_motion;
        }
        if pressed(egui::Key::S) {
            requests.export = Some(self.export_scale);
        }
        // "?" is Shift+/ on most layouts; some report the slash.
        if ctx.input(|i| {
            i.key_pressed(egui::Key::Questionmark)
                || (i.key_pressed(egui::Key::Slash) && i.modifiers.shift)
        }) {
            self.help = !self.help;
        }
        if pressed(egui::Key::Escape) {
            if self.help {
                self.help = false;
            } else if self.fullscreen {
                self.fullscreen = false;
                requests.fullscreen = Some(false);
            }
        }
        requests
    }

    /// The "view" menu: everything the keys do, by mouse (and by Tab and Enter).
    pub fn menu(&mut self, ui: &mut egui::Ui, requests: &mut PresenterRequests) {
        ui.menu_button("view", |ui| {
            ui.label("theme (P)");
            for theme in Theme::ALL {
                ui.selectable_value(&mut self.theme, theme, theme.name());
            }
            ui.separator();
            ui.label("colour map (C)");
            for colormap in Colormap::ALL {
                ui.selectable_value(&mut self.colormap, colormap, colormap.name());
            }
            ui.separator();
            ui.checkbox(&mut self.reduced_motion, "reduced motion (M)");
            ui.checkbox(&mut self.controls, "editing controls (H)");
            ui.separator();
            ui.label("export scale");
            for scale in EXPORT_SCALES {
                ui.selectable_value(&mut self.export_scale, scale, format!("{scale}x"));
            }
            if ui.button("save PNG of this view (S)").clicked() {
                requests.export = Some(self.export_scale);
                ui.close();
            }
            let fullscreen = if self.fullscreen {
                "leave full screen (F)"
            } else {
                "full screen (F)"
            };
            if ui.button(fullscreen).clicked() {
                self.fullscreen = !self.fullscreen;
                requests.fullscreen = Some(self.fullscreen);
                ui.close();
            }
        });
        if ui
            .button("keys (?)")
            .on_hover_text("every key Gaze answers to")
            .clicked()
        {
            self.help = !self.help;
        }
    }

    /// The help overlay, while open: every key and what it does, in the middle of the screen.
    pub fn help_overlay(&mut self, ctx: &egui::Context) {
        if !self.help {
            return;
        }
        let mut open = true;
        egui::Window::new("keys")
            .open(&mut open)
            .collapsible(false)
            .resizable(false)
            .anchor(egui::Align2::CENTER_CENTER, egui::Vec2::ZERO)
            .show(ctx, |ui| {
                egui::Grid::new("keys grid")
                    .num_columns(2)
                    .spacing([24.0, 8.0])
                    .striped(true)
                    .show(ui, |ui| {
                        for (keys, what) in KEYS {
                            ui.label(egui::RichText::new(keys).strong().monospace());
                            ui.label(what);
                            ui.end_row();
                        }
                    });
            });
        self.help = open;
    }
}
