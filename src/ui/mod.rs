//! egui panels, one per file. Each edits the [`Scene`](crate::scene::Scene) — never the GPU —
//! and reads what it shows from the derived state the app hands it.

pub mod step3_attention;
