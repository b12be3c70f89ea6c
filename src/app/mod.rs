//! The application layer: what the `gaze` binary runs. The command-line tools (`inspect`,
//! `render`, `verify`) are native only; `window` runs on both; `web` is the browser's page.

pub mod context;
pub mod export;
pub mod faults;
#[cfg(not(target_arch = "wasm32"))]
pub mod inspect;
pub mod lesson;
#[cfg(not(target_arch = "wasm32"))]
pub mod llm;
pub mod recovery;
#[cfg(not(target_arch = "wasm32"))]
pub mod render;
#[cfg(not(target_arch = "wasm32"))]
pub mod scene_files;
pub mod training;
#[cfg(not(target_arch = "wasm32"))]
pub mod verify;
#[cfg(target_arch = "wasm32")]
pub mod web;
pub mod window;
