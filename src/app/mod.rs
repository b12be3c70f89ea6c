//! The application layer: what the `gaze` binary runs.

pub mod inspect;
pub mod verify;
