//! The render layer: instanced geometry drawn straight from the compute output buffers — no
//! weight travels GPU → CPU → GPU to be drawn.

pub mod arcs;
pub mod colormap;
pub mod heatmap;

/// Every pipeline the render layer draws with, for one device and one target format. Built once,
/// when a window (or a headless render) connects, and kept for the device's life — the way
/// rerun's `re_renderer` keeps its renderers: data that changes (a new sentence, a longer
/// context) only gets new buffers and bind groups, bound against these.
#[derive(Clone, Debug)]
pub struct Renderers {
    /// Step 3's heatmap and step 4's overview map.
    pub heatmap: heatmap::HeatmapPipeline,
    /// Step 3's arcs and particles.
    pub arcs: arcs::ArcsPipelines,
}

impl Renderers {
    /// Compiles the shaders and builds every pipeline for `target_format`; the arcs' easing pass
    /// only where the adapter has `compute` shaders (elsewhere the CPU twin eases).
    pub fn new(device: &wgpu::Device, target_format: wgpu::TextureFormat, compute: bool) -> Self {
        Self {
            heatmap: heatmap::HeatmapPipeline::new(device, target_format),
            arcs: arcs::ArcsPipelines::new(device, target_format, compute),
        }
    }
}

/// A buffer binding of a bind-group layout.
pub(crate) fn buffer_entry(
    binding: u32,
    visibility: wgpu::ShaderStages,
    ty: wgpu::BufferBindingType,
) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility,
        ty: wgpu::BindingType::Buffer {
            ty,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

/// An instanced render pipeline: the vertex shader builds its geometry from `vertex_index` /
/// `instance_index` and reads per-instance data from `buffers` (slices of the compute buffers),
/// drawing into `format`. No storage buffers, so it runs on WebGL2 as well.
pub(crate) fn instanced_pipeline(
    device: &wgpu::Device,
    layout: &wgpu::PipelineLayout,
    module: &wgpu::ShaderModule,
    (vertex_entry, fragment_entry): (&str, &str),
    buffers: &[Option<wgpu::VertexBufferLayout<'_>>],
    format: wgpu::TextureFormat,
    blend: Option<wgpu::BlendState>,
) -> wgpu::RenderPipeline {
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(vertex_entry),
        layout: Some(layout),
        vertex: wgpu::VertexState {
            module,
            entry_point: Some(vertex_entry),
            compilation_options: Default::default(),
            buffers,
        },
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: None,
        multisample: wgpu::MultisampleState::default(),
        fragment: Some(wgpu::FragmentState {
            module,
            entry_point: Some(fragment_entry),
            compilation_options: Default::default(),
            targets: &[Some(wgpu::ColorTargetState {
                format,
                blend,
                write_mask: wgpu::ColorWrites::ALL,
            })],
        }),
        multiview_mask: None,
        cache: None,
    })
}
