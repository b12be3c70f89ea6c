//! The application layer: what the `gaze` binary runs.

pub mod inspect;
pub mod lesson;
pub mod render;
pub mod verify;
pub mod window;
