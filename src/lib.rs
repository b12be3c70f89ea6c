//! Gaze: teach how a transformer turns a sentence into a guess.
//!
//! Layers depend one way, downward (see DESIGN.md §4):
//! - [`app`]: command line (`gaze verify`, `gaze inspect`, `gaze render`), derived lesson state;
//! - [`ui`]: egui panels, one per file; they edit the scene, never the GPU;
//! - [`render`]: instanced drawing straight from the compute buffers;
//! - [`gpu`]: a wgpu context and compute kernels that mirror `model`;
//! - [`link`]: a scene as a URL fragment (the web build's address bar);
//! - [`scene`]: the serializable state every layer above reads (the public scene-file format);
//!   it is made of `model`'s types and its validation asks the model's shape — `scene` imports
//!   `model`, never the reverse;
//! - [`model`]: pure Rust — the spec and the CPU reference; no wgpu, no egui.
//!
//! `model`, `scene`, `scene_library` and `link` build without the `app` feature (no GPU, no
//! window): the fuzzers in `fuzz/` use that build.

// Library code does not panic on what a user or a file can send it: no `unwrap`/`expect`, no
// `panic!`, no indexing that could be out of bounds (use `get`, iterators, checked splits).
// Tests are exempt (`clippy.toml`); the CPU twins of the kernels opt out module by module, with
// the reason written there. `.ci/run` runs clippy with `-D warnings`.
#![deny(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[cfg(feature = "app")]
pub mod app;
#[cfg(feature = "app")]
pub mod gpu;
pub mod link;
pub mod model;
#[cfg(feature = "app")]
pub mod render;
pub mod scene;
pub mod scene_library;
#[cfg(feature = "app")]
pub mod ui;
