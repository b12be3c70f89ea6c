//! The arcs renderer: from the focused token to every other token, one instanced curved strip
//! per key whose thickness is the attention weight, plus particles flowing toward the focus.
//!
//! Per frame: a compute pass (`shaders/arcs_ease.wgsl`) eases each arc's displayed weight toward
//! the attention-weights buffer and advances its particles; then the strips and particles are
//! drawn from that state (`shaders/arcs.wgsl`), each instance reading its arc's record as a
//! vertex attribute. The weights never leave the GPU.
//!
//! Where the adapter has no compute shaders (WebGL2 in a browser without WebGPU), the same
//! easing runs on the CPU twin, `model::animation::ease_arcs`, and its records are uploaded each
//! frame (16 bytes per arc); the drawing is the same.

use bytemuck::{Pod, Zeroable};
use wgpu::util::DeviceExt;

use super::{buffer_entry, instanced_pipeline};
use crate::model::animation::{ease_arcs, ArcState, EASE_TAU, PARTICLE_SPEED};
use crate::model::attention::AttentionParams;

// Each source is the shader's file followed by the shared pieces (shaders/shared/) named on its
// first line; the file comes first, so naga reports its errors at the file's own line numbers.

/// `shaders/arcs.wgsl`.
pub const ARCS_WGSL: &str = concat!(
    include_str!("../../shaders/arcs.wgsl"),
    include_str!("../../shaders/shared/arcs_uniform.wgsl"),
    include_str!("../../shaders/shared/color.wgsl"),
);
/// `shaders/arcs_ease.wgsl`.
pub const ARCS_EASE_WGSL: &str = concat!(
    include_str!("../../shaders/arcs_ease.wgsl"),
    include_str!("../../shaders/shared/arcs_uniform.wgsl"),
    include_str!("../../shaders/shared/reduce.wgsl"),
);

/// Segments per arc (keep in sync with `SEGMENTS` in `shaders/arcs.wgsl`).
const SEGMENTS: u32 = 24;
/// Particles riding each arc.
const PARTICLES: u32 = 3;

/// The arcs' colours, sRGB: strongest, notable (≥ ½ of the strongest), background. Read apart by
/// lightness as well as hue, so the classes survive colour blindness and greyscale projectors.
pub const ARC_COLORS: [[u8; 3]; 3] = [[253, 231, 37], [53, 183, 121], [90, 100, 140]];

/// The style buffer's contents for `colors` (strongest, notable, background).
fn arc_style(colors: [[u8; 3]; 3], target_format: wgpu::TextureFormat) -> ArcStyle {
    ArcStyle {
        strongest: rgba(colors[0]),
        notable: rgba(colors[1]),
        background: rgba(colors[2]),
        pad0: 0,
        particles: PARTICLES,
        srgb_target: u32::from(target_format.is_srgb()),
        pad: 0,
    }
}

/// Keep in sync with `struct Arcs` in `shaders/shared/arcs_uniform.wgsl` (both arc shaders are
/// joined with it).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct ArcsUniform {
    /// N.
    pub n_tokens: u32,
    /// Query rows per head in the weights buffer.
    pub rows: u32,
    /// The focus token's row in the weights buffer.
    pub focus_row: u32,
    /// 1 = jump to the targets.
    pub snap: u32,
    /// Seconds since the last step.
    pub dt: f32,
    /// Easing time constant.
    pub tau: f32,
    /// Particle laps per second at weight 1.
    pub particle_speed: f32,
    /// Heads in the buffers.
    pub heads: u32,
    /// The arc strip's size in pixels.
    pub viewport: [f32; 2],
    /// Thickness of an arc of weight 1, pixels.
    pub max_thickness: f32,
    /// The focus token.
    pub focus: u32,
}

/// Keep in sync with `struct Style` in `shaders/arcs.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
struct ArcStyle {
    strongest: [f32; 4],
    notable: [f32; 4],
    background: [f32; 4],
    pad0: u32,
    particles: u32,
    srgb_target: u32,
    pad: u32,
}

fn rgba([r, g, b]: [u8; 3]) -> [f32; 4] {
    [
        f32::from(r) / 255.0,
        f32::from(g) / 255.0,
        f32::from(b) / 255.0,
        1.0,
    ]
}

/// What one frame of arcs needs from the UI.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ArcFrame {
    /// The focus token.
    pub focus: u32,
    /// Seconds since the last frame.
    pub dt: f32,
    /// Jump to the targets (exports; reduced motion).
    pub snap: bool,
    /// Draw the particles (off for reduced motion).
    pub particles: bool,
    /// The strip's size in pixels.
    pub viewport_px: [f32; 2],
    /// Thickness of an arc of weight 1, pixels.
    pub max_thickness: f32,
    /// Colours of the strongest arc, the notable ones and the rest (the theme's).
    pub colors: [[u8; 3]; 3],
}

/// Who advances the arcs' animation.
#[derive(Debug)]
enum Easing {
    /// `shaders/arcs_ease.wgsl`, reading the attention-weights buffer.
    Gpu {
        pipeline: wgpu::ComputePipeline,
        group: wgpu::BindGroup,
    },
    /// The CPU twin, for adapters without compute shaders; `targets` is `[head][rows][N]`.
    Cpu {
        targets: Vec<f32>,
        state: ArcState,
        records: Vec<[f32; 4]>,
    },
}

/// Bytes of one arc's record, `vec4(displayed, phase, row_max, 0)`.
const RECORD_BYTES: u64 = 16;

/// The arc record, per instance.
const RECORD_ATTRIBUTE: [wgpu::VertexAttribute; 1] = wgpu::vertex_attr_array![0 => Float32x4];

/// The arcs' pipelines for one device and target format — the strips, the particles and (where
/// the adapter has compute shaders) the easing pass — built once and kept for the device's life
/// ([`Renderers`](super::Renderers)). A new sentence only gets new [`ArcsResources`].
#[derive(Clone, Debug)]
pub struct ArcsPipelines {
    arc: wgpu::RenderPipeline,
    particle: wgpu::RenderPipeline,
    draw_layout: wgpu::BindGroupLayout,
    /// The easing pass and its layout; `None` without compute shaders (WebGL2): the CPU twin
    /// eases there.
    ease: Option<(wgpu::ComputePipeline, wgpu::BindGroupLayout)>,
    target_format: wgpu::TextureFormat,
}

impl ArcsPipelines {
    /// Compiles `shaders/arcs.wgsl` (and `shaders/arcs_ease.wgsl` when `compute` is true) and
    /// builds the pipelines for `target_format`.
    pub fn new(device: &wgpu::Device, target_format: wgpu::TextureFormat, compute: bool) -> Self {
        use wgpu::BufferBindingType::Uniform;
        let vertex = wgpu::ShaderStages::VERTEX;
        let draw_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("arcs draw"),
            entries: &[
                buffer_entry(0, vertex, Uniform),
                buffer_entry(1, vertex, Uniform),
            ],
        });
        let draw_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("arcs"),
            source: wgpu::ShaderSource::Wgsl(ARCS_WGSL.into()),
        });
        let draw_pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("arcs draw"),
            bind_group_layouts: &[Some(&draw_layout)],
            immediate_size: 0,
        });
        let records = [Some(wgpu::VertexBufferLayout {
            array_stride: RECORD_BYTES,
            step_mode: wgpu::VertexStepMode::Instance,
            attributes: &RECORD_ATTRIBUTE,
        })];
        let pipeline = |entries| {
            instanced_pipeline(
                device,
                &draw_pipeline_layout,
                &draw_module,
                entries,
                &records,
                target_format,
                Some(wgpu::BlendState::ALPHA_BLENDING),
            )
        };
        Self {
            arc: pipeline(("vs_arc", "fs_arc")),
            particle: pipeline(("vs_particle", "fs_particle")),
            draw_layout,
            ease: compute.then(|| ease_pipeline(device)),
            target_format,
        }
    }

    /// The strips' pipeline (tests compare it by identity: the same object across edits).
    pub fn arc_pipeline(&self) -> &wgpu::RenderPipeline {
        &self.arc
    }
}

/// The arcs' GPU objects for one shape of attention buffers: the animation state, the uniforms
/// and the bind groups, drawn with the long-lived [`ArcsPipelines`].
#[derive(Debug)]
pub struct ArcsResources {
    params: AttentionParams,
    uniform: wgpu::Buffer,
    state: wgpu::Buffer,
    easing: Easing,
    arc_pipeline: wgpu::RenderPipeline,
    particle_pipeline: wgpu::RenderPipeline,
    draw_group: wgpu::BindGroup,
    /// The arcs' colours, rewritten when the theme changes them.
    style: wgpu::Buffer,
    colors: [[u8; 3]; 3],
    target_format: wgpu::TextureFormat,
}

/// Why arcs could not be bound.
#[derive(Debug, thiserror::Error)]
pub enum ArcsError {
    /// GPU easing was asked of pipelines built without compute shaders.
    #[error("the arcs were built without the compute easing pass (this adapter has no compute shaders): ease them on the CPU twin")]
    NoEasePipeline,
}

impl ArcsResources {
    /// The animation state over `weights` (`[head][rows][N]`, written by the compute kernels),
    /// eased on the GPU by `pipelines`' easing pass.
    pub fn new(
        device: &wgpu::Device,
        pipelines: &ArcsPipelines,
        weights: &wgpu::Buffer,
        params: &AttentionParams,
    ) -> Result<Self, ArcsError> {
        if pipelines.ease.is_none() {
            return Err(ArcsError::NoEasePipeline);
        }
        Ok(Self::build(device, pipelines, params, Some(weights)))
    }

    /// The same arcs for an adapter without compute shaders: the CPU twin eases toward
    /// `weights` (`[head][rows][N]`, computed by the CPU reference).
    pub fn new_cpu_eased(
        device: &wgpu::Device,
        pipelines: &ArcsPipelines,
        weights: &[f32],
        params: &AttentionParams,
    ) -> Self {
        let mut arcs = Self::build(device, pipelines, params, None);
        arcs.set_targets(weights);
        arcs
    }

    /// New targets for CPU easing (the CPU reference recomputed the same shape). The GPU path
    /// reads its targets from the weights buffer and ignores this.
    pub fn set_targets(&mut self, weights: &[f32]) {
        if let Easing::Cpu { targets, .. } = &mut self.easing {
            targets.clear();
            targets.extend_from_slice(weights);
        }
    }

    /// The strips' pipeline this state draws with (the long-lived one it was bound with).
    pub fn arc_pipeline(&self) -> &wgpu::RenderPipeline {
        &self.arc_pipeline
    }

    fn build(
        device: &wgpu::Device,
        pipelines: &ArcsPipelines,
        params: &AttentionParams,
        gpu_weights: Option<&wgpu::Buffer>,
    ) -> Self {
        let target_format = pipelines.target_format;
        let uniform = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("arcs"),
            size: std::mem::size_of::<ArcsUniform>() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let initial = ArcState::new(params.heads(), params.n());
        let mut usage = wgpu::BufferUsages::VERTEX
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST;
        if gpu_weights.is_some() {
            usage |= wgpu::BufferUsages::STORAGE;
        }
        let state = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("arc state"),
            // At least one record: a zero-sized vertex buffer cannot be bound.
            contents: bytemuck::cast_slice(&[initial.to_buffer(), vec![0.0; 4]].concat()),
            usage,
        });
        let easing = match (gpu_weights, &pipelines.ease) {
            (Some(weights), Some((pipeline, layout))) => Easing::Gpu {
                pipeline: pipeline.clone(),
                group: ease_group(device, layout, &uniform, weights, &state),
            },
            _ => Easing::Cpu {
                targets: Vec::new(),
                state: initial,
                records: Vec::new(),
            },
        };
        let style = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some("arc style"),
            contents: bytemuck::bytes_of(&arc_style(ARC_COLORS, target_format)),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        });
        let draw_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("arcs draw"),
            layout: &pipelines.draw_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: uniform.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: style.as_entire_binding(),
                },
            ],
        });
        Self {
            params: *params,
            uniform,
            state,
            easing,
            arc_pipeline: pipelines.arc.clone(),
            particle_pipeline: pipelines.particle.clone(),
            draw_group,
            style,
            colors: ARC_COLORS,
            target_format,
        }
    }

    /// The animation state buffer (`[head][N]` records), for tests.
    pub fn state_buffer(&self) -> &wgpu::Buffer {
        &self.state
    }

    /// Writes this frame's uniform and advances the easing: a compute pass recorded into
    /// `encoder`, or (without compute) the CPU twin and a 16-byte-per-arc upload.
    pub fn advance(
        &mut self,
        queue: &wgpu::Queue,
        encoder: &mut wgpu::CommandEncoder,
        frame: &ArcFrame,
    ) {
        let p = &self.params;
        let focus = frame.focus.min(p.n_tokens.saturating_sub(1));
        let uniform = ArcsUniform {
            n_tokens: p.n_tokens,
            rows: p.query_count,
            // The weights hold the window query_start..; the focus row is relative to it.
            focus_row: focus
                .saturating_sub(p.query_start)
                .min(p.query_count.saturating_sub(1)),
            snap: u32::from(frame.snap),
            dt: frame.dt.clamp(0.0, 0.5),
            tau: EASE_TAU,
            particle_speed: PARTICLE_SPEED,
            heads: p.n_heads,
            viewport: [frame.viewport_px[0].max(1.0), frame.viewport_px[1].max(1.0)],
            max_thickness: frame.max_thickness,
            focus,
        };
        queue.write_buffer(&self.uniform, 0, bytemuck::bytes_of(&uniform));
        if frame.colors != self.colors {
            let style = arc_style(frame.colors, self.target_format);
            queue.write_buffer(&self.style, 0, bytemuck::bytes_of(&style));
            self.colors = frame.colors;
        }
        match &mut self.easing {
            Easing::Gpu { pipeline, group } => {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("arcs ease"),
                    timestamp_writes: None,
                });
                pass.set_pipeline(pipeline);
                pass.set_bind_group(0, &*group, &[]);
                pass.dispatch_workgroups(p.n_heads, 1, 1);
            }
            Easing::Cpu {
                targets,
                state,
                records,
            } => {
                let (rows, n) = (p.query_count as usize, p.n_tokens as usize);
                if targets.len() != p.heads() * rows * n {
                    return;
                }
                ease_arcs(
                    targets,
                    rows,
                    uniform.focus_row as usize,
                    focus as usize,
                    n,
                    uniform.dt,
                    frame.snap,
                    state,
                );
                state.write_records(records);
                queue.write_buffer(&self.state, 0, bytemuck::cast_slice(records));
            }
        }
    }

    /// Draws `head`'s arcs, and its particles unless `particles` is off (reduced motion), into
    /// the current viewport.
    pub fn paint(&self, pass: &mut wgpu::RenderPass<'_>, head: usize, particles: bool) {
        let n = self.params.n_tokens;
        let Ok(head) = u32::try_from(head) else {
            return;
        };
        if head >= self.params.n_heads || n == 0 {
            return;
        }
        let block = u64::from(n) * RECORD_BYTES;
        let start = u64::from(head) * block;
        pass.set_bind_group(0, &self.draw_group, &[]);
        pass.set_vertex_buffer(0, self.state.slice(start..start + block));
        pass.set_pipeline(&self.arc_pipeline);
        pass.draw(0..SEGMENTS * 6, 0..n);
        if particles {
            pass.set_pipeline(&self.particle_pipeline);
            pass.draw(0..6 * PARTICLES, 0..n);
        }
    }
}

/// The GPU easing pass (`shaders/arcs_ease.wgsl`) and its bind-group layout.
fn ease_pipeline(device: &wgpu::Device) -> (wgpu::ComputePipeline, wgpu::BindGroupLayout) {
    use wgpu::BufferBindingType::{Storage, Uniform};
    let compute = wgpu::ShaderStages::COMPUTE;
    let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
        label: Some("arcs ease"),
        entries: &[
            buffer_entry(0, compute, Uniform),
            buffer_entry(1, compute, Storage { read_only: true }),
            buffer_entry(2, compute, Storage { read_only: false }),
        ],
    });
    let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some("arcs ease"),
        source: wgpu::ShaderSource::Wgsl(ARCS_EASE_WGSL.into()),
    });
    let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some("arcs ease"),
        layout: Some(
            &device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("arcs ease"),
                bind_group_layouts: &[Some(&layout)],
                immediate_size: 0,
            }),
        ),
        module: &module,
        entry_point: Some("main"),
        compilation_options: Default::default(),
        cache: None,
    });
    (pipeline, layout)
}

/// The easing pass's bind group over `weights` into `state`.
fn ease_group(
    device: &wgpu::Device,
    layout: &wgpu::BindGroupLayout,
    uniform: &wgpu::Buffer,
    weights: &wgpu::Buffer,
    state: &wgpu::Buffer,
) -> wgpu::BindGroup {
    device.create_bind_group(&wgpu::BindGroupDescriptor {
        label: Some("arcs ease"),
        layout,
        entries: &[
            wgpu::BindGroupEntry {
                binding: 0,
                resource: uniform.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 1,
                resource: weights.as_entire_binding(),
            },
            wgpu::BindGroupEntry {
                binding: 2,
                resource: state.as_entire_binding(),
            },
        ],
    })
}

/// An egui paint callback for one head's arc strip. The callback of head 0 also advances the
/// animation (once per frame for all heads).
pub struct ArcsCallback {
    /// Which head's arcs.
    pub head: usize,
    /// This frame's animation inputs.
    pub frame: ArcFrame,
}

impl egui_wgpu::CallbackTrait for ArcsCallback {
    fn prepare(
        &self,
        _device: &wgpu::Device,
        queue: &wgpu::Queue,
        _screen: &egui_wgpu::ScreenDescriptor,
        encoder: &mut wgpu::CommandEncoder,
        resources: &mut egui_wgpu::CallbackResources,
    ) -> Vec<wgpu::CommandBuffer> {
        if self.head == 0 {
            if let Some(arcs) = resources.get_mut::<ArcsResources>() {
                arcs.advance(queue, encoder, &self.frame);
            }
        }
        Vec::new()
    }

    fn paint(
        &self,
        _info: egui::PaintCallbackInfo,
        render_pass: &mut wgpu::RenderPass<'static>,
        resources: &egui_wgpu::CallbackResources,
    ) {
        if let Some(arcs) = resources.get::<ArcsResources>() {
            arcs.paint(render_pass, self.head, self.frame.particles);
        }
    }
}
