//! The application layer: what the `gaze` binary runs.
//!
//! - [`session`]: the scene's derived state and the screen around it, with no window in sight;
//!   [`paint`]: the one way a screen reaches pixels. The window, its export, the web page,
//!   `gaze render` ([`headless`]) and the UI tests all drive these two.
//! - [`lesson`], [`context_lesson`], [`training`]: what a session derives (steps 3, 4, and 1–2),
//!   each kept by a [`stage::Stage`] (recompute only what changed, refusals not retried, a
//!   result shown only once its numbers landed, shrink-to-fit) and computed by the one
//!   [`engine::Engine`] of the device (the kernels, or their CPU twins).
//! - [`window`]: the shell around a session, native or in a browser's canvas; `web` is the page
//!   around that canvas and `browser` its web-sys helpers (wasm only; `web` → `window` →
//!   `browser`, never back).
//! - The command-line tools (`inspect`, `render`, `verify`, `llm`) are native only.

pub mod background;
#[cfg(target_arch = "wasm32")]
pub mod browser;
pub mod context_lesson;
pub mod engine;
pub mod export;
pub mod faults;
#[cfg(not(target_arch = "wasm32"))]
pub mod headless;
#[cfg(not(target_arch = "wasm32"))]
pub mod inspect;
#[cfg(not(target_arch = "wasm32"))]
pub mod inspect_model;
pub mod lesson;
#[cfg(not(target_arch = "wasm32"))]
pub mod llm;
pub mod model_slot;
pub mod paint;
pub mod real_lesson;
pub mod recovery;
#[cfg(not(target_arch = "wasm32"))]
pub mod scene_files;
pub mod session;
pub mod stage;
pub mod training;
#[cfg(not(target_arch = "wasm32"))]
pub mod verify;
#[cfg(target_arch = "wasm32")]
pub mod web;
pub mod window;
