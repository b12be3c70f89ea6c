//! The GPU context on a real window's surface: a winit window gets a wgpu surface, the context
//! opens a device compatible with it, the attention kernels run on that device and match the CPU
//! reference, and a frame is presented.
//!
//! winit wants its event loop on the main thread, so this test has its own `main`
//! (`harness = false`). Without a display it re-runs itself under `xvfb-run`.

use std::process::{Command, ExitCode};
use std::sync::Arc;

use gaze::gpu::verify::compare_end_to_end;
use gaze::gpu::{AttentionKernels, GpuContext};
use gaze::model::attention::{self, AttentionOptions, PackedAttention, QueryRows};
use gaze::model::sample::{random_input, SampleShape};
use winit::application::ApplicationHandler;
use winit::dpi::PhysicalSize;
use winit::event::WindowEvent;
use winit::event_loop::{ActiveEventLoop, EventLoop};
use winit::window::{Window, WindowId};

#[derive(Default)]
struct SurfaceCheck {
    outcome: Option<Result<String, String>>,
}

fn open_and_present(event_loop: &ActiveEventLoop) -> Result<String, String> {
    let attributes = Window::default_attributes()
        .with_title("gaze: surface check")
        .with_inner_size(PhysicalSize::new(320, 240));
    let window = Arc::new(
        event_loop
            .create_window(attributes)
            .map_err(|e| format!("window: {e}"))?,
    );
    let instance = wgpu::Instance::new(wgpu::InstanceDescriptor::new_with_display_handle(
        Box::new(event_loop.owned_display_handle()),
    ));
    let surface = instance
        .create_surface(window.clone())
        .map_err(|e| format!("surface: {e}"))?;
    let ctx =
        pollster::block_on(GpuContext::new(instance, Some(&surface))).map_err(|e| e.to_string())?;
    let size = window.inner_size();
    let config = surface
        .get_default_config(&ctx.adapter, size.width.max(1), size.height.max(1))
        .ok_or("the adapter cannot present to this surface")?;
    surface.configure(&ctx.device, &config);

    // The kernels on the window's device agree with the CPU reference.
    let kernels = AttentionKernels::new(&ctx).map_err(|e| e.to_string())?;
    let input = random_input(
        1,
        SampleShape::new(9, 16, 8, 2),
        AttentionOptions::default(),
        1.0,
    );
    let packed = PackedAttention::new(&input, QueryRows::All).map_err(|e| e.to_string())?;
    let gpu = kernels
        .run_blocking(&ctx, &packed)
        .map_err(|e| e.to_string())?;
    for check in compare_end_to_end(&attention::run(&packed), &gpu) {
        if !check.passed() {
            return Err(format!(
                "{} error {:e} on the window's device",
                check.kernel, check.max_abs_error
            ));
        }
    }

    // And the surface takes a frame.
    let frame = match surface.get_current_texture() {
        wgpu::CurrentSurfaceTexture::Success(frame)
        | wgpu::CurrentSurfaceTexture::Suboptimal(frame) => frame,
        _ => return Err("the surface gave no frame".into()),
    };
    let view = frame.texture.create_view(&Default::default());
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    drop(encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
        label: Some("clear"),
        color_attachments: &[Some(wgpu::RenderPassColorAttachment {
            view: &view,
            depth_slice: None,
            resolve_target: None,
            ops: wgpu::Operations {
                load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                store: wgpu::StoreOp::Store,
            },
        })],
        ..Default::default()
    }));
    ctx.queue.submit([encoder.finish()]);
    ctx.queue.present(frame);
    Ok(ctx.summary().to_string())
}

impl ApplicationHandler for SurfaceCheck {
    fn resumed(&mut self, event_loop: &ActiveEventLoop) {
        if self.outcome.is_none() {
            self.outcome = Some(open_and_present(event_loop));
        }
        event_loop.exit();
    }

    fn window_event(&mut self, _: &ActiveEventLoop, _: WindowId, _: WindowEvent) {}
}

fn rerun_under_xvfb() -> ExitCode {
    let Ok(exe) = std::env::current_exe() else {
        eprintln!("window_surface: cannot find the test binary to re-run");
        return ExitCode::FAILURE;
    };
    match Command::new("xvfb-run")
        .args(["-a", "-s", "-screen 0 1280x800x24"])
        .arg(exe)
        .status()
    {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(_) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("window_surface: no display and no xvfb-run ({e}); install it with `apt-get install xvfb xauth`");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
        return rerun_under_xvfb();
    }
    let event_loop = match EventLoop::new() {
        Ok(event_loop) => event_loop,
        Err(e) => {
            eprintln!("window_surface: no event loop: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut check = SurfaceCheck::default();
    if let Err(e) = event_loop.run_app(&mut check) {
        eprintln!("window_surface: event loop failed: {e}");
        return ExitCode::FAILURE;
    }
    match check.outcome {
        Some(Ok(adapter)) => {
            println!("test gpu_context_opens_on_a_window_surface_and_presents ... ok ({adapter})");
            ExitCode::SUCCESS
        }
        Some(Err(e)) => {
            eprintln!("test gpu_context_opens_on_a_window_surface_and_presents ... FAILED: {e}");
            ExitCode::FAILURE
        }
        None => {
            eprintln!(
                "test gpu_context_opens_on_a_window_surface_and_presents ... FAILED: never resumed"
            );
            ExitCode::FAILURE
        }
    }
}
