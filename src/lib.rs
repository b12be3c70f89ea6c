//! Gaze: teach how a transformer turns a sentence into a guess.
//!
//! Layers depend one way, downward (see DESIGN.md §4):
//! - [`app`]: command line (`gaze verify`);
//! - [`gpu`]: a wgpu context and compute kernels that mirror `model`;
//! - [`model`]: pure Rust — the spec and the CPU reference; no wgpu, no egui.

pub mod app;
pub mod gpu;
pub mod model;
