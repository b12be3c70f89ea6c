//! The heatmap renderer: `heads × N × N` instanced cells whose colours the vertex shader reads
//! from the attention-weights buffer the compute kernels wrote (`shaders/heatmap.wgsl`). The
//! weights are a per-instance vertex attribute — head h's slice of the buffer is bound — so the
//! same pipeline draws on WebGL2, which has no storage buffers.
//!
//! The pipeline lives as long as the device ([`HeatmapPipeline`], held by
//! [`Renderers`](super::Renderers)); the bind group and uniforms are built when the attention
//! buffers are (re)allocated, not per frame; a frame only records a draw. Inside egui
//! it is drawn by a [`HeatmapCallback`], so it lands in the panel's rectangle and clip.

use bytemuck::{Pod, Zeroable};
use wgpu::util::DeviceExt;

use super::colormap::{shade, Colormap};
use super::{buffer_entry, instanced_pipeline};
use crate::model::attention::AttentionParams;

// Each source is the shader's file followed by the shared pieces (shaders/shared/) named on its
// first line; the file comes first, so naga reports its errors at the file's own line numbers.

/// `shaders/heatmap.wgsl`.
pub const HEATMAP_WGSL: &str = concat!(
    include_str!("../../shaders/heatmap.wgsl"),
    include_str!("../../shaders/shared/color.wgsl"),
);

/// Keep in sync with `struct Heatmap` in `shaders/heatmap.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct HeatmapUniform {
    /// N: columns and row stride.
    pub n_tokens: u32,
    /// Query rows per head in the weights buffer.
    pub rows: u32,
    /// Padding (the head is chosen by the bound slice of the weights buffer).
    pub pad3: u32,
    /// 1 when the target format is sRGB-encoded.
    pub srgb_target: u32,
    /// Fraction of a cell left as a gap.
    pub gap: f32,
    /// With `range_hi > range_lo > 0`, colours are logarithmic over that range ([`shade`]).
    pub range_lo: f32,
    /// Top of the range.
    pub range_hi: f32,
    /// Padding.
    pub pad2: u32,
}

/// Gap between cells, as a fraction of a cell, so neighbouring equal weights stay countable.
/// Large maps (N > 64) drop it: the gaps would be sub-pixel.
fn gap_for(n_tokens: u32) -> f32 {
    if n_tokens <= 64 {
        0.06
    } else {
        0.0
    }
}

/// The heatmap's pipeline for one device and target format: built once, kept for the device's
/// life ([`Renderers`](super::Renderers)). A new shape of attention buffers only gets a new
/// [`HeatmapResources`] — two small uniform buffers and a bind group — never a new pipeline.
#[derive(Clone, Debug)]
pub struct HeatmapPipeline {
    pipeline: wgpu::RenderPipeline,
    layout: wgpu::BindGroupLayout,
    target_format: wgpu::TextureFormat,
}

impl HeatmapPipeline {
    /// Compiles `shaders/heatmap.wgsl` and builds its pipeline for `target_format`.
    pub fn new(device: &wgpu::Device, target_format: wgpu::TextureFormat) -> Self {
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("heatmap"),
            entries: &[
                buffer_entry(
                    0,
                    wgpu::ShaderStages::VERTEX,
                    wgpu::BufferBindingType::Uniform,
                ),
                buffer_entry(
                    1,
                    wgpu::ShaderStages::VERTEX,
                    wgpu::BufferBindingType::Uniform,
                ),
            ],
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("heatmap"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("heatmap"),
            source: wgpu::ShaderSource::Wgsl(HEATMAP_WGSL.into()),
        });
        // Cells are opaque: no blending.
        let pipeline = instanced_pipeline(
            device,
            &pipeline_layout,
            &module,
            ("vs_main", "fs_main"),
            &[Some(wgpu::VertexBufferLayout {
                array_stride: std::mem::size_of::<f32>() as u64,
                step_mode: wgpu::VertexStepMode::Instance,
                attributes: &WEIGHT_ATTRIBUTE,
            })],
            target_format,
            None,
        );
        Self {
            pipeline,
            layout,
            target_format,
        }
    }

    /// The pipeline (tests compare it by identity: the same object across edits).
    pub fn pipeline(&self) -> &wgpu::RenderPipeline {
        &self.pipeline
    }
}

/// The heatmap's GPU objects for one shape of attention buffers: the uniforms and bind group
/// over the weights, drawn with the long-lived [`HeatmapPipeline`].
#[derive(Debug)]
pub struct HeatmapResources {
    pipeline: wgpu::RenderPipeline,
    colormap: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    weights: wgpu::Buffer,
    uniform: wgpu::Buffer,
    settings: HeatmapUniform,
    heads: u32,
    cells: u32,
}

/// One `f32` weight per instance.
const WEIGHT_ATTRIBUTE: [wgpu::VertexAttribute; 1] = wgpu::vertex_attr_array![0 => Float32];

impl HeatmapResources {
    /// Binds `weights` (`[head][rows][N]`, shaped by `params`; it must have `VERTEX` usage) for
    /// drawing with `pipeline`.
    pub fn new(
        device: &wgpu::Device,
        pipeline: &HeatmapPipeline,
        weights: &wgpu::Buffer,
        params: &AttentionParams,
        colormap: Colormap,
    ) -> Self {
        Self::with_scale(device, pipeline, weights, params, colormap, [0.0; 2])
    }

    /// Step 4's overview map (`bins × bins` f32 per head, `VERTEX` usage), coloured on a log
    /// scale over `range` ([`overview_range`]; `[0, 0]` until the values are known).
    pub fn overview(
        device: &wgpu::Device,
        pipeline: &HeatmapPipeline,
        map: &wgpu::Buffer,
        bins: u32,
        colormap: Colormap,
        range: [f32; 2],
    ) -> Self {
        let params = AttentionParams {
            n_tokens: bins,
            d_model: 1,
            d_k: 1,
            n_heads: 1,
            query_start: 0,
            query_count: bins,
            causal: 0,
            positions: 0,
            use_key_mask: 0,
            scale: 1.0,
            pad0: 0,
            pad1: 0,
        };
        Self::with_scale(device, pipeline, map, &params, colormap, range)
    }

    fn with_scale(
        device: &wgpu::Device,
        pipeline: &HeatmapPipeline,
        weights: &wgpu::Buffer,
        params: &AttentionParams,
        colormap: Colormap,
        range: [f32; 2],
    ) -> Self {
        let colormap_buffer = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("heatmap colour map"),
            contents: bytemuck::bytes_of(&colormap.uniform()),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        });
        let settings = HeatmapUniform {
            n_tokens: params.n_tokens,
            rows: params.query_count,
            pad3: 0,
            srgb_target: u32::from(pipeline.target_format.is_srgb()),
            gap: gap_for(params.n_tokens),
            range_lo: range[0],
            range_hi: range[1],
            pad2: 0,
        };
        let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("heatmap"),
            contents: bytemuck::bytes_of(&settings),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        });
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("heatmap"),
            layout: &pipeline.layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: uniform.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: colormap_buffer.as_entire_binding(),
                },
            ],
        });
        Self {
            pipeline: pipeline.pipeline.clone(),
            colormap: colormap_buffer,
            bind_group,
            weights: weights.clone(),
            uniform,
            settings,
            heads: params.n_heads,
            cells: params.query_count.saturating_mul(params.n_tokens),
        }
    }

    /// The pipeline this map draws with (the long-lived one it was bound with).
    pub fn pipeline(&self) -> &wgpu::RenderPipeline {
        &self.pipeline
    }

    /// Switches the colour map (a 144-byte upload; nothing is rebuilt).
    pub fn set_colormap(&self, queue: &wgpu::Queue, colormap: Colormap) {
        queue.write_buffer(&self.colormap, 0, bytemuck::bytes_of(&colormap.uniform()));
    }

    /// Sets the log-scale range (a 32-byte upload; nothing is rebuilt). `[0, 0]`: linear.
    pub fn set_range(&mut self, queue: &wgpu::Queue, range: [f32; 2]) {
        self.settings.range_lo = range[0];
        self.settings.range_hi = range[1];
        queue.write_buffer(&self.uniform, 0, bytemuck::bytes_of(&self.settings));
    }

    /// Draws `head`'s map into the current viewport. A head the buffers do not hold draws nothing.
    pub fn paint(&self, pass: &mut wgpu::RenderPass<'_>, head: usize) {
        let Ok(head) = u32::try_from(head) else {
            return;
        };
        if head >= self.heads || self.cells == 0 {
            return;
        }
        // Head h's matrix is the h-th `rows × N` block of the buffer.
        let block = u64::from(self.cells) * std::mem::size_of::<f32>() as u64;
        let start = u64::from(head) * block;
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.set_vertex_buffer(0, self.weights.slice(start..start + block));
        pass.draw(0..6, 0..self.cells);
    }
}

/// The overview's colour range: from its largest cell down to its smallest non-zero one (never
/// below 10⁻⁴ of the largest). A long context's map is nearly even — every cell within a few
/// percent of `1/bins` — so a fixed scale would draw it one flat colour; the legend prints the
/// range. `[0, 0]` (linear) for an empty or all-zero map.
pub fn overview_range(map: &[f32]) -> [f32; 2] {
    let hi = map.iter().copied().fold(0.0f32, f32::max);
    let lo = map
        .iter()
        .copied()
        .filter(|&w| w > 0.0)
        .fold(hi, f32::min)
        .max(hi * 1e-4);
    if hi > 0.0 && lo < hi {
        [lo, hi]
    } else {
        [0.0; 2]
    }
}

/// The colour-map position of an overview cell: the CPU mirror of the shader (the legend, the
/// page's report and the tests use it).
pub fn overview_shade(weight: f32, range: [f32; 2]) -> f32 {
    shade(weight, range)
}

/// Step 4's overview map in egui-wgpu's callback resources (a second [`HeatmapResources`],
/// kept apart from step 3's).
#[derive(Debug)]
pub struct OverviewMap(pub HeatmapResources);

/// Draws [`OverviewMap`] into its rectangle.
pub struct OverviewCallback;

impl egui_wgpu::CallbackTrait for OverviewCallback {
    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        render_pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        if let Some(map) = resources.get::<OverviewMap>() {
            map.0.paint(render_pass, 0);
        }
    }
}

/// Step 3's map of a real model's head: one `n × n` map of brightness values in `[0, 1]`
/// (`model::sink::brightness` under the chosen scale, so the colour map reads them linearly),
/// kept apart from the lesson's.
#[derive(Debug)]
pub struct RealMap(pub HeatmapResources);

impl RealMap {
    /// Binds `cells` (`n × n` brightness values, `VERTEX` usage).
    pub fn new(
        device: &wgpu::Device,
        pipeline: &HeatmapPipeline,
        cells: &wgpu::Buffer,
        n: u32,
        colormap: Colormap,
    ) -> Self {
        let params = AttentionParams {
            n_tokens: n,
            d_model: 1,
            d_k: 1,
            n_heads: 1,
            query_start: 0,
            query_count: n,
            causal: 1,
            positions: 0,
            use_key_mask: 0,
            scale: 1.0,
            pad0: 0,
            pad1: 0,
        };
        Self(HeatmapResources::new(
            device, pipeline, cells, &params, colormap,
        ))
    }
}

/// Draws [`RealMap`] into its rectangle.
pub struct RealMapCallback;

impl egui_wgpu::CallbackTrait for RealMapCallback {
    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        render_pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        if let Some(map) = resources.get::<RealMap>() {
            map.0.paint(render_pass, 0);
        }
    }
}

/// An egui paint callback that draws one head's heatmap into its rectangle, using the
/// [`HeatmapResources`] stored in egui-wgpu's callback resources.
pub struct HeatmapCallback {
    /// Which head.
    pub head: usize,
}

impl egui_wgpu::CallbackTrait for HeatmapCallback {
    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        render_pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        if let Some(heatmap) = resources.get::<HeatmapResources>() {
            heatmap.paint(render_pass, self.head);
        }
    }
}
