//! One compute pipeline and its bind group layout: what every kernel in `crate::gpu` is built from.

/// How a kernel sees one binding.
#[derive(Clone, Copy)]
pub(crate) enum Access {
    Uniform,
    Read,
    ReadWrite,
}

/// One compute pipeline and the layout of its bind group.
#[derive(Debug)]
pub(crate) struct Kernel {
    pub(crate) layout: wgpu::BindGroupLayout,
    pub(crate) pipeline: wgpu::ComputePipeline,
}

impl Kernel {
    pub(crate) fn new(
        device: &wgpu::Device,
        name: &str,
        source: &str,
        bindings: &[Access],
    ) -> Self {
        Self::with_entry(device, name, source, "main", bindings)
    }

    /// A pipeline for entry point `entry` of `source` (a shader with several entry points).
    pub(crate) fn with_entry(
        device: &wgpu::Device,
        name: &str,
        source: &str,
        entry: &str,
        bindings: &[Access],
    ) -> Self {
        let entries: Vec<wgpu::BindGroupLayoutEntry> = bindings
            .iter()
            .enumerate()
            .map(|(binding, access)| wgpu::BindGroupLayoutEntry {
                binding: binding as u32,
                visibility: wgpu::ShaderStages::COMPUTE,
                ty: wgpu::BindingType::Buffer {
                    ty: match access {
                        Access::Uniform => wgpu::BufferBindingType::Uniform,
                        Access::Read => wgpu::BufferBindingType::Storage { read_only: true },
                        Access::ReadWrite => wgpu::BufferBindingType::Storage { read_only: false },
                    },
                    has_dynamic_offset: false,
                    min_binding_size: None,
                },
                count: None,
            })
            .collect();
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(name),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(name),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline = compute_pipeline(device, name, &pipeline_layout, &module, entry);
        Self { layout, pipeline }
    }

    /// Another entry point of `source` over the same bind group layout, so one bind group
    /// serves both (the GEMV and the tiled GEMM of one matrix).
    pub(crate) fn sibling(
        &self,
        device: &wgpu::Device,
        name: &str,
        source: &str,
        entry: &str,
    ) -> Self {
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(name),
            bind_group_layouts: &[Some(&self.layout)],
            immediate_size: 0,
        });
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(name),
            source: wgpu::ShaderSource::Wgsl(source.into()),
        });
        let pipeline = compute_pipeline(device, name, &pipeline_layout, &module, entry);
        Self {
            layout: self.layout.clone(),
            pipeline,
        }
    }

    pub(crate) fn bind(&self, device: &wgpu::Device, buffers: &[&wgpu::Buffer]) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry> = buffers
            .iter()
            .enumerate()
            .map(|(binding, buffer)| wgpu::BindGroupEntry {
                binding: binding as u32,
                resource: buffer.as_entire_binding(),
            })
            .collect();
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &self.layout,
            entries: &entries,
        })
    }
}

fn compute_pipeline(
    device: &wgpu::Device,
    name: &str,
    layout: &wgpu::PipelineLayout,
    module: &wgpu::ShaderModule,
    entry: &str,
) -> wgpu::ComputePipeline {
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(name),
        layout: Some(layout),
        module,
        entry_point: Some(entry),
        compilation_options: Default::default(),
        cache: None,
    })
}
