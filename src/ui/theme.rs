//! The two looks of the lesson, and the colours every panel draws with.
//!
//! - **dark**: a laptop screen in a dim room; egui's dark style.
//! - **projector**: high contrast on light — black text on white, since projectors wash out dark
//!   greys and a lit room flattens a dark screen — with large type (every glyph at least
//!   [`PROJECTOR_MIN_TEXT`] points, which is pixels on a 1080p projector) and thick arcs.
//!
//! A theme is entirely the egui [`egui::Style`] it installs: panels ask [`Theme::of`] (dark mode
//! or not) and [`text_size`] (the body font's size) instead of keeping a flag of their own, so an
//! offscreen export or a headless render in the same style draws exactly what the window shows.
//!
//! No meaning is carried by red against green: where two things must be told apart by colour the
//! pair differs in lightness too and comes from the Okabe–Ito palette (blue/vermillion, made for
//! the colour-blind), and the text or sign says it as well.

use egui::{Color32, FontId, Stroke, TextStyle};
use serde::{Deserialize, Serialize};

/// The smallest text the projector theme draws, in points: 18 px at 1080p is about 1/60 of the
/// picture's height, the size slide guides give for the back row of a lecture hall.
pub const PROJECTOR_MIN_TEXT: f32 = 18.0;

/// How much larger the projector theme draws every text than the dark theme.
pub const PROJECTOR_TEXT_SCALE: f32 = 1.4;

/// How much thicker the projector theme draws the arcs.
pub const PROJECTOR_ARC_SCALE: f32 = 1.6;

/// egui's body size, which the panels' hard-coded sizes were written against.
const DEFAULT_BODY: f32 = 13.0;

/// A look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Theme {
    /// egui's dark style.
    #[default]
    Dark,
    /// High contrast on light, large type, thick arcs.
    Projector,
}

impl Theme {
    /// Both, in the order a menu lists them.
    pub const ALL: [Theme; 2] = [Theme::Dark, Theme::Projector];

    /// The name a menu and the command line use.
    pub fn name(self) -> &'static str {
        match self {
            Theme::Dark => "dark",
            Theme::Projector => "projector",
        }
    }

    /// The theme the style of `ui` is in.
    pub fn of(ui: &egui::Ui) -> Theme {
        Self::of_visuals(ui.visuals())
    }

    /// The theme `visuals` belong to.
    pub fn of_visuals(visuals: &egui::Visuals) -> Theme {
        if visuals.dark_mode {
            Theme::Dark
        } else {
            Theme::Projector
        }
    }

    /// Installs this theme's style in `ctx` (from the next pass on).
    pub fn apply(self, ctx: &egui::Context) {
        match self {
            Theme::Dark => {
                ctx.set_style_of(egui::Theme::Dark, egui::Style::default());
                ctx.set_theme(egui::Theme::Dark);
            }
            Theme::Projector => {
                ctx.set_style_of(egui::Theme::Light, projector_style());
                ctx.set_theme(egui::Theme::Light);
            }
        }
    }

    /// The arcs' colours in this theme: strongest, notable (at least half the strongest), the rest.
    pub fn arc_colors(self) -> [[u8; 3]; 3] {
        match self {
            // Viridis's top and middle, and a grey-blue that recedes on dark.
            Theme::Dark => [[253, 231, 37], [53, 183, 121], [90, 100, 140]],
            // Okabe–Ito vermillion and blue, and a mid grey: all three hold their own on white,
            // and the first two differ for every kind of colour blindness.
            Theme::Projector => [[213, 94, 0], [0, 114, 178], [150, 150, 150]],
        }
    }

    /// How much thicker than the dark theme this theme draws the arcs.
    pub fn arc_scale(self) -> f32 {
        match self {
            Theme::Dark => 1.0,
            Theme::Projector => PROJECTOR_ARC_SCALE,
        }
    }

    /// The colours of the panels' meanings in this theme.
    pub fn palette(self) -> &'static Palette {
        match self {
            Theme::Dark => &DARK,
            Theme::Projector => &PROJECTOR,
        }
    }
}

/// What the panels colour by meaning. Each pair that must be told apart (plus/minus, winner/other)
/// differs in lightness and hue and is said in text as well.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Palette {
    /// A problem (a refused input).
    pub warning: Color32,
    /// Something done (a document added).
    pub info: Color32,
    /// A standing notice (attention on the CPU).
    pub notice: Color32,
    /// The winning answer's text.
    pub winner_text: Color32,
    /// The winning answer's bar.
    pub winner_fill: Color32,
    /// Any other probability bar.
    pub bar: Color32,
    /// A positive reward or feature.
    pub plus: Color32,
    /// A negative reward or feature.
    pub minus: Color32,
}

const DARK: Palette = Palette {
    warning: Color32::from_rgb(255, 170, 80),
    info: Color32::from_rgb(150, 210, 255),
    notice: Color32::from_rgb(255, 210, 120),
    winner_text: Color32::from_rgb(253, 231, 37),
    winner_fill: Color32::from_rgb(253, 231, 37),
    bar: Color32::from_rgb(90, 160, 230),
    plus: Color32::from_rgb(86, 180, 233),
    minus: Color32::from_rgb(230, 159, 0),
};

const PROJECTOR: Palette = Palette {
    warning: Color32::from_rgb(170, 60, 0),
    info: Color32::from_rgb(0, 80, 150),
    notice: Color32::from_rgb(120, 70, 0),
    // Viridis's yellow vanishes on white: the winner is dark amber text on a yellow bar with
    // a dark outline.
    winner_text: Color32::from_rgb(150, 90, 0),
    winner_fill: Color32::from_rgb(240, 200, 0),
    bar: Color32::from_rgb(0, 114, 178),
    plus: Color32::from_rgb(0, 94, 160),
    minus: Color32::from_rgb(190, 80, 0),
};

/// The palette of the theme `ui` is drawn in.
pub fn palette(ui: &egui::Ui) -> &'static Palette {
    Theme::of(ui).palette()
}

/// A text size the panels wrote in points for the dark theme, as this theme draws it: scaled
/// with the body font, and in the projector theme never under [`PROJECTOR_MIN_TEXT`].
pub fn text_size(ui: &egui::Ui, points: f32) -> f32 {
    scaled_text(ui.style(), points)
}

/// [`text_size`] for a style.
pub fn scaled_text(style: &egui::Style, points: f32) -> f32 {
    let body = style
        .text_styles
        .get(&TextStyle::Body)
        .map_or(DEFAULT_BODY, |f| f.size);
    let scaled = points * body / DEFAULT_BODY;
    if style.visuals.dark_mode {
        scaled
    } else {
        scaled.max(PROJECTOR_MIN_TEXT)
    }
}

/// A proportional font of `points` (dark-theme points) in the theme of `ui`.
pub fn font(ui: &egui::Ui, points: f32) -> FontId {
    FontId::proportional(text_size(ui, points))
}

/// The projector style: egui's light style with black text, darker outlines, white panels, every
/// text style [`PROJECTOR_TEXT_SCALE`] larger (none under [`PROJECTOR_MIN_TEXT`]) and the widgets
/// sized to match.
pub fn projector_style() -> egui::Style {
    let mut style = egui::Style {
        visuals: egui::Visuals::light(),
        ..egui::Style::default()
    };
    for font in style.text_styles.values_mut() {
        font.size = (font.size * PROJECTOR_TEXT_SCALE).max(PROJECTOR_MIN_TEXT);
    }
    let visuals = &mut style.visuals;
    visuals.panel_fill = Color32::WHITE;
    visuals.window_fill = Color32::WHITE;
    visuals.faint_bg_color = Color32::from_gray(238);
    visuals.extreme_bg_color = Color32::from_gray(244);
    visuals.window_stroke = Stroke::new(2.0, Color32::BLACK);
    let widgets = &mut visuals.widgets;
    widgets.noninteractive.fg_stroke = Stroke::new(1.5, Color32::BLACK);
    widgets.noninteractive.bg_stroke = Stroke::new(1.0, Color32::from_gray(120));
    for state in [
        &mut widgets.inactive,
        &mut widgets.hovered,
        &mut widgets.active,
        &mut widgets.open,
    ] {
        state.fg_stroke = Stroke::new(2.0, Color32::BLACK);
        state.bg_stroke = Stroke::new(1.5, Color32::from_gray(60));
    }
    visuals.selection.bg_fill = Color32::from_rgb(255, 214, 120);
    visuals.selection.stroke = Stroke::new(2.0, Color32::BLACK);
    visuals.hyperlink_color = Color32::from_rgb(0, 70, 160);
    // egui's light weak text is a mid grey that a projector washes out.
    visuals.weak_text_color = Some(Color32::from_gray(70));
    let spacing = &mut style.spacing;
    spacing.interact_size *= PROJECTOR_TEXT_SCALE;
    spacing.icon_width *= PROJECTOR_TEXT_SCALE;
    spacing.icon_width_inner *= PROJECTOR_TEXT_SCALE;
    spacing.icon_spacing *= PROJECTOR_TEXT_SCALE;
    spacing.button_padding *= PROJECTOR_TEXT_SCALE;
    spacing.item_spacing *= 1.2;
    style
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projector_theme_has_no_text_style_under_the_minimum() {
        let style = projector_style();
        for (name, font) in &style.text_styles {
            assert!(
                font.size >= PROJECTOR_MIN_TEXT,
                "{name:?} is {} points",
                font.size
            );
        }
        assert!(!style.visuals.dark_mode);
    }

    #[test]
    fn panel_sizes_scale_and_keep_the_projector_minimum() {
        let dark = egui::Style::default();
        // The dark theme is egui's own style: its body size is the base the panels' sizes were
        // written against (an egui upgrade that changes it must change DEFAULT_BODY too).
        assert_eq!(dark.text_styles[&TextStyle::Body].size, DEFAULT_BODY);
        assert_eq!(scaled_text(&dark, 13.0), 13.0);
        let projector = projector_style();
        assert!((scaled_text(&projector, 30.0) - 30.0 * PROJECTOR_TEXT_SCALE).abs() < 1e-4);
        assert_eq!(scaled_text(&projector, 10.0), PROJECTOR_MIN_TEXT);
    }

    /// Relative luminance (WCAG 2) of an sRGB colour.
    fn luminance(c: Color32) -> f32 {
        let channel = |v: u8| {
            let v = f32::from(v) / 255.0;
            if v <= 0.03928 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(c.r()) + 0.7152 * channel(c.g()) + 0.0722 * channel(c.b())
    }

    fn contrast(a: Color32, b: Color32) -> f32 {
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    /// WCAG AA for text: 4.5:1 against the panel it sits on.
    #[test]
    fn every_coloured_text_meets_wcag_aa_contrast_on_its_theme() {
        for (theme, background) in [
            (Theme::Dark, egui::Visuals::dark().panel_fill),
            (Theme::Projector, projector_style().visuals.panel_fill),
        ] {
            let p = theme.palette();
            for (what, colour) in [
                ("warning", p.warning),
                ("info", p.info),
                ("notice", p.notice),
                ("winner", p.winner_text),
                ("plus", p.plus),
                ("minus", p.minus),
            ] {
                let ratio = contrast(colour, background);
                assert!(ratio >= 4.5, "{} {what}: contrast {ratio:.2}", theme.name());
            }
        }
    }

    /// An sRGB colour as someone with protanopia or deuteranopia sees it (Viénot, Brettel &
    /// Mollon 1999: the simulation matrices in linear RGB), sRGB-encoded, each channel in [0, 1].
    fn as_seen_without(matrix: [[f32; 3]; 3], c: Color32) -> [f32; 3] {
        let linear = |v: u8| {
            let v = f32::from(v) / 255.0;
            if v <= 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            }
        };
        let encode = |v: f32| {
            let v = v.clamp(0.0, 1.0);
            if v <= 0.003_130_8 {
                12.92 * v
            } else {
                1.055 * v.powf(1.0 / 2.4) - 0.055
            }
        };
        let rgb = [linear(c.r()), linear(c.g()), linear(c.b())];
        matrix.map(|row| encode(row[0] * rgb[0] + row[1] * rgb[1] + row[2] * rgb[2]))
    }

    const PROTANOPIA: [[f32; 3]; 3] = [
        [0.112_38, 0.887_62, 0.0],
        [0.112_38, 0.887_62, 0.0],
        [0.004_01, -0.004_01, 1.0],
    ];
    const DEUTERANOPIA: [[f32; 3]; 3] = [
        [0.292_75, 0.707_25, 0.0],
        [0.292_75, 0.707_25, 0.0],
        [-0.022_34, 0.022_34, 1.0],
    ];

    /// How far apart two colours stay for the colour-blind: the smaller of their distances as
    /// seen with protanopia and with deuteranopia.
    fn colour_blind_distance(a: Color32, b: Color32) -> f32 {
        [PROTANOPIA, DEUTERANOPIA]
            .into_iter()
            .map(|m| {
                let (a, b) = (as_seen_without(m, a), as_seen_without(m, b));
                (0..3).map(|i| (a[i] - b[i]).powi(2)).sum::<f32>().sqrt()
            })
            .fold(f32::INFINITY, f32::min)
    }

    /// Plus against minus, the winner's bar against the others, and the strongest arc against
    /// the notable ones stay apart for the red/green colour-blind (a red/green pair does not).
    #[test]
    fn paired_meanings_stay_apart_for_the_red_green_colour_blind() {
        let red_green =
            colour_blind_distance(Color32::from_rgb(200, 0, 0), Color32::from_rgb(0, 160, 0));
        assert!(
            red_green < 0.4,
            "the check must reject red/green: {red_green}"
        );
        for theme in Theme::ALL {
            let p = theme.palette();
            let [strongest, notable, _] = theme
                .arc_colors()
                .map(|[r, g, b]| Color32::from_rgb(r, g, b));
            for (what, a, b) in [
                ("plus/minus", p.plus, p.minus),
                ("winner/bar", p.winner_fill, p.bar),
                ("strongest/notable arc", strongest, notable),
            ] {
                let d = colour_blind_distance(a, b);
                assert!(d >= 0.4, "{} {what}: {d:.3} apart", theme.name());
            }
        }
    }
}
