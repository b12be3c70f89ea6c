//! Perceptually uniform, colour-blind-safe colour maps for attention weights in [0, 1].
//!
//! Viridis (van der Walt & Smith, 2015) and cividis (Nuñez, Anderton & Renslow, 2018) as nine
//! evenly spaced stops, interpolated linearly in sRGB. The GPU reads the same stops from a uniform
//! (`ColormapUniform`), so the legend egui draws and the heatmap the shader draws cannot disagree.

use bytemuck::{Pod, Zeroable};
use serde::{Deserialize, Serialize};

/// Number of stops per map.
pub const STOPS: usize = 9;

/// A colour map for weights.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Colormap {
    /// Dark purple → teal → yellow.
    #[default]
    Viridis,
    /// Dark blue → grey → yellow; made for deuteranopia and protanopia.
    Cividis,
}

const VIRIDIS: [[u8; 3]; STOPS] = [
    [68, 1, 84],
    [72, 40, 120],
    [62, 73, 137],
    [49, 104, 142],
    [38, 130, 142],
    [31, 158, 137],
    [53, 183, 121],
    [109, 205, 89],
    [253, 231, 37],
];

const CIVIDIS: [[u8; 3]; STOPS] = [
    [0, 34, 78],
    [18, 53, 112],
    [59, 73, 108],
    [87, 93, 109],
    [112, 113, 115],
    [138, 135, 121],
    [166, 157, 117],
    [196, 181, 108],
    [254, 232, 56],
];

/// Where `weight` falls on a colour map: itself when `range` is empty (`[0, 0]`), else on a log
/// scale from `range[0]` (bottom) to `range[1]` (top), values below the range clamped to the
/// bottom. Mirrors `shaders/heatmap.wgsl`.
pub fn shade(weight: f32, range: [f32; 2]) -> f32 {
    let [lo, hi] = range;
    if lo > 0.0 && hi > lo {
        (weight.max(lo).log2() - lo.log2()) / (hi.log2() - lo.log2())
    } else {
        weight
    }
}

impl Colormap {
    /// Both maps, in the order a UI lists them.
    pub const ALL: [Colormap; 2] = [Colormap::Viridis, Colormap::Cividis];

    /// The name shown on screen.
    pub fn name(self) -> &'static str {
        match self {
            Colormap::Viridis => "viridis",
            Colormap::Cividis => "cividis",
        }
    }

    fn stops(self) -> &'static [[u8; 3]; STOPS] {
        match self {
            Colormap::Viridis => &VIRIDIS,
            Colormap::Cividis => &CIVIDIS,
        }
    }

    /// The sRGB colour of weight `t` (clamped to [0, 1]); mirrors `colormap` in
    /// `shaders/heatmap.wgsl`.
    pub fn sample(self, t: f32) -> [u8; 3] {
        let t = if t.is_finite() {
            t.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let x = t * (STOPS - 1) as f32;
        let i = (x.floor() as usize).min(STOPS - 2);
        let f = x - i as f32;
        let stops = self.stops();
        let (Some(a), Some(b)) = (stops.get(i), stops.get(i + 1)) else {
            return [0; 3];
        };
        let mix = |a: u8, b: u8| (f32::from(a) + (f32::from(b) - f32::from(a)) * f).round() as u8;
        [mix(a[0], b[0]), mix(a[1], b[1]), mix(a[2], b[2])]
    }

    /// Whether dark or light text reads better on the colour of weight `t`.
    pub fn text_is_dark_on(self, t: f32) -> bool {
        let [r, g, b] = self.sample(t);
        // Relative luminance, Rec. 709 weights on sRGB values (good enough to pick black/white).
        0.2126 * f32::from(r) + 0.7152 * f32::from(g) + 0.0722 * f32::from(b) > 140.0
    }

    /// The stops as the shader's uniform block.
    pub fn uniform(self) -> ColormapUniform {
        let mut stops = [[0.0f32; 4]; STOPS];
        for (out, stop) in stops.iter_mut().zip(self.stops()) {
            *out = [
                f32::from(stop[0]) / 255.0,
                f32::from(stop[1]) / 255.0,
                f32::from(stop[2]) / 255.0,
                1.0,
            ];
        }
        ColormapUniform { stops }
    }
}

/// Colour-map stops for a shader: sRGB values in [0, 1], alpha 1.
/// Keep in sync with `struct Colormap` in `shaders/heatmap.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct ColormapUniform {
    /// Evenly spaced stops from weight 0 to weight 1.
    pub stops: [[f32; 4]; STOPS],
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_are_the_published_end_colours() {
        assert_eq!(Colormap::Viridis.sample(0.0), [68, 1, 84]);
        assert_eq!(Colormap::Viridis.sample(1.0), [253, 231, 37]);
        assert_eq!(Colormap::Cividis.sample(1.0), [254, 232, 56]);
    }

    #[test]
    fn lightness_rises_monotonically_so_order_reads_without_hue() {
        for map in Colormap::ALL {
            let luminance = |t: f32| {
                let [r, g, b] = map.sample(t);
                0.2126 * f32::from(r) + 0.7152 * f32::from(g) + 0.0722 * f32::from(b)
            };
            for k in 0..100 {
                let (a, b) = (k as f32 / 100.0, (k + 1) as f32 / 100.0);
                assert!(
                    luminance(b) >= luminance(a) - 0.5,
                    "{}: {a} → {b}",
                    map.name()
                );
            }
        }
    }

    #[test]
    fn out_of_range_weights_are_clamped() {
        assert_eq!(
            Colormap::Viridis.sample(-3.0),
            Colormap::Viridis.sample(0.0)
        );
        assert_eq!(
            Colormap::Viridis.sample(f32::NAN),
            Colormap::Viridis.sample(0.0)
        );
        assert_eq!(Colormap::Viridis.sample(7.0), Colormap::Viridis.sample(1.0));
    }
}
