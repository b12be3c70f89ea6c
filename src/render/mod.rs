//! The render layer: instanced geometry drawn straight from the compute output buffers — no
//! weight travels GPU → CPU → GPU to be drawn.

pub mod arcs;
pub mod colormap;
pub mod heatmap;
