//! Gaze: teach how a transformer turns a sentence into a guess.
//!
//! Layers depend one way, downward (see DESIGN.md §4):
//! - [`app`]: command line (`gaze verify`, `gaze inspect`);
//! - [`gpu`]: a wgpu context and compute kernels that mirror `model`;
//! - [`model`]: pure Rust — the spec and the CPU reference; no wgpu, no egui;
//! - [`scene`]: the serializable state every layer reads (the public scene-file format).

pub mod app;
pub mod gpu;
pub mod model;
pub mod scene;
