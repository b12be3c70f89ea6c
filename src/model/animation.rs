//! Arc animation: how the drawn arcs follow the attention weights.
//!
//! Each frame, each arc's displayed weight moves a fraction of the way to its target (the focus
//! row's attention weight), and its particles advance at a speed proportional to it:
//!
//! ```text
//! displayed += (target − displayed) · (1 − exp(−dt / τ))      τ = 0.1 s: ~95% in 300 ms
//! phase      = fract(phase + dt · speed · displayed)
//! ```
//!
//! The exponential form makes the motion independent of the frame rate: two steps of `dt/2` land
//! where one step of `dt` does. [`ease_arcs`] is the CPU twin of `shaders/arcs_ease.wgsl`.

#![allow(
    clippy::indexing_slicing,
    reason = "a CPU twin of a WGSL kernel: it indexes as the kernel does (the `model` module's docs, \"CPU twins\")"
)]

use super::attention::LANES;

/// The easing time constant, seconds.
pub const EASE_TAU: f32 = 0.1;
/// Particle laps per second along an arc of weight 1.
pub const PARTICLE_SPEED: f32 = 2.0;

/// The animation state of every head's arcs: `displayed` and `phase` are `[head][N]`, `row_max`
/// is `[head]` (the largest displayed weight other than the focus's own). On the GPU this is one
/// record per arc, `[head][N]` of `vec4(displayed, phase, row_max of its head, 0)`: the arcs are
/// drawn with the record as a per-instance vertex attribute, which WebGL2 (no storage buffers in
/// vertex shaders) can read as well as WebGPU and Vulkan.
#[derive(Clone, Debug, PartialEq)]
pub struct ArcState {
    /// Displayed weights.
    pub displayed: Vec<f32>,
    /// Particle phases in [0, 1).
    pub phase: Vec<f32>,
    /// Per head, the largest displayed weight among the arcs drawn.
    pub row_max: Vec<f32>,
}

impl ArcState {
    /// All zeros for `heads` heads of `n` tokens.
    pub fn new(heads: usize, n: usize) -> Self {
        Self {
            displayed: vec![0.0; heads * n],
            phase: vec![0.0; heads * n],
            row_max: vec![0.0; heads],
        }
    }

    /// The GPU buffer's layout: one `[displayed, phase, row_max, 0]` record per `[head][N]`.
    pub fn to_buffer(&self) -> Vec<f32> {
        let mut records = Vec::new();
        self.write_records(&mut records);
        records.into_iter().flatten().collect()
    }

    /// Writes the GPU records into `records`, reusing its allocation (the CPU easing path
    /// uploads these every frame).
    pub fn write_records(&self, records: &mut Vec<[f32; 4]>) {
        let heads = self.row_max.len();
        let n = self.displayed.len().checked_div(heads).unwrap_or(0);
        records.clear();
        for head in 0..heads {
            let row_max = self.row_max[head];
            for j in 0..n {
                let i = head * n + j;
                records.push([self.displayed[i], self.phase[i], row_max, 0.0]);
            }
        }
    }
}

/// One easing step (twin of `shaders/arcs_ease.wgsl`). `weights` is `[head][rows][N]`; the target
/// of head `h` is its row `focus_row`; `focus` is the focus token, whose own weight is not an arc.
#[allow(clippy::too_many_arguments)]
pub fn ease_arcs(
    weights: &[f32],
    rows: usize,
    focus_row: usize,
    focus: usize,
    n: usize,
    dt: f32,
    snap: bool,
    state: &mut ArcState,
) {
    let heads = state.row_max.len();
    let alpha = if snap {
        1.0
    } else {
        1.0 - (-dt / EASE_TAU).exp()
    };
    for head in 0..heads {
        let row = (head * rows + focus_row) * n;
        let mut lanes = [0.0f32; LANES];
        for (t, lane) in lanes.iter_mut().enumerate() {
            let mut local_max = 0.0f32;
            let mut j = t;
            while j < n {
                let previous = state.displayed[head * n + j];
                let shown = previous + (weights[row + j] - previous) * alpha;
                state.displayed[head * n + j] = shown;
                let phase = state.phase[head * n + j] + dt * PARTICLE_SPEED * shown;
                state.phase[head * n + j] = phase - phase.floor();
                if j != focus {
                    local_max = local_max.max(shown);
                }
                j += LANES;
            }
            *lane = local_max;
        }
        state.row_max[head] = lanes.iter().copied().fold(0.0, f32::max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn easing_reaches_95_percent_in_300_ms_at_any_frame_rate() {
        for fps in [30.0f32, 60.0, 144.0] {
            let mut state = ArcState::new(1, 2);
            let frames = (0.3 * fps).round() as usize;
            for _ in 0..frames {
                ease_arcs(&[0.0, 1.0], 1, 0, 0, 2, 1.0 / fps, false, &mut state);
            }
            assert!(
                (state.displayed[1] - 0.95).abs() < 0.01,
                "{fps} fps: {}",
                state.displayed[1]
            );
        }
    }

    #[test]
    fn snap_jumps_to_the_targets_and_row_max_skips_the_focus() {
        let mut state = ArcState::new(1, 3);
        ease_arcs(&[0.7, 0.2, 0.1], 1, 0, 0, 3, 0.0, true, &mut state);
        assert_eq!(state.displayed, [0.7, 0.2, 0.1]);
        assert_eq!(
            state.row_max,
            [0.2],
            "the focus's weight on itself is not an arc"
        );
    }

    #[test]
    fn heavier_arcs_move_their_particles_faster() {
        let mut state = ArcState::new(1, 3);
        ease_arcs(&[0.0, 0.1, 0.3], 1, 0, 0, 3, 0.0, true, &mut state);
        ease_arcs(&[0.0, 0.1, 0.3], 1, 0, 0, 3, 0.25, false, &mut state);
        assert!(state.phase[2] > state.phase[1] && state.phase[1] > state.phase[0]);
        assert!(
            (state.phase[2] / state.phase[1] - 3.0).abs() < 1e-4,
            "rate ∝ weight"
        );
    }
}
