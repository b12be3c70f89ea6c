//! The arcs' easing kernel against its CPU twin, over several frames.

mod common;

use common::gpu;
use gaze::model::animation::{ease_arcs, ArcState};
use gaze::model::attention::{AttentionOptions, PackedAttention, QueryRows};
use gaze::model::sample::{random_input, SampleShape};
use gaze::render::arcs::{ArcFrame, ArcsPipelines, ArcsResources};

fn read_state(ctx: &gaze::gpu::GpuContext, arcs: &ArcsResources, len: usize) -> Vec<f32> {
    let bytes = (len * 4) as u64;
    let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: bytes,
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(arcs.state_buffer(), 0, &staging, 0, bytes);
    ctx.queue.submit([encoder.finish()]);
    staging.map_async(wgpu::MapMode::Read, .., |r| r.unwrap());
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
        .unwrap();
    let values = bytemuck::cast_slice::<u8, f32>(&staging.get_mapped_range(..).unwrap()).to_vec();
    values
}

#[test]
fn gpu_arc_easing_matches_cpu_twin_frame_by_frame() {
    let (ctx, kernels) = gpu();
    // 300 tokens: more than one workgroup's worth of lanes per head.
    let (n, heads, focus) = (300usize, 2usize, 123u32);
    let input = random_input(
        21,
        SampleShape::new(n, 16, 8, heads),
        AttentionOptions::default(),
        3.0,
    );
    let packed = PackedAttention::new(&input, QueryRows::All).unwrap();
    let buffers = kernels.prepare(ctx, &packed).unwrap();
    let weights = {
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        kernels.encode(&mut encoder, &buffers);
        gaze::gpu::attention::read_back(ctx, encoder, &buffers)
            .unwrap()
            .weights
    };

    let pipelines = ArcsPipelines::new(&ctx.device, wgpu::TextureFormat::Rgba8Unorm, true);
    let mut arcs = ArcsResources::new(
        &ctx.device,
        &pipelines,
        buffers.weights_buffer(),
        buffers.params(),
    )
    .expect("this adapter has compute: the arcs ease on the GPU");
    let mut cpu = ArcState::new(heads, n);
    for (step, dt) in [0.016f32, 0.016, 0.033, 0.1, 0.25].into_iter().enumerate() {
        let frame = ArcFrame {
            focus,
            dt,
            snap: false,
            particles: true,
            viewport_px: [400.0, 120.0],
            max_thickness: 10.0,
            colors: gaze::render::arcs::ARC_COLORS,
        };
        let mut encoder = ctx.device.create_command_encoder(&Default::default());
        arcs.advance(&ctx.queue, &mut encoder, &frame);
        ctx.queue.submit([encoder.finish()]);
        ease_arcs(
            &weights,
            n,
            focus as usize,
            focus as usize,
            n,
            dt,
            false,
            &mut cpu,
        );
        let gpu_state = read_state(ctx, &arcs, 4 * heads * n);
        let expected = cpu.to_buffer();
        let worst = gpu_state
            .iter()
            .zip(&expected)
            .map(|(a, b)| (a - b).abs())
            .fold(0.0f32, f32::max);
        assert!(
            worst <= 1e-5,
            "frame {step}: GPU and CPU arc state differ by {worst}"
        );
    }
    assert!(cpu.row_max.iter().all(|&m| m > 0.0));
}
