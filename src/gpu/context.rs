//! The wgpu context: one adapter, device and queue, for a window surface or headless.

use std::fmt;
use std::sync::{Arc, Mutex};

use super::error::GpuError;

/// The adapter as a user should see it: `gaze verify` prints this.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdapterSummary {
    /// Adapter name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub name: String,
    /// Backend, e.g. `Vulkan`.
    pub backend: String,
    /// Device type, e.g. `Cpu` (a software rasteriser) or `DiscreteGpu`.
    pub device_type: String,
    /// Driver name and version when the backend reports them.
    pub driver: String,
}

impl AdapterSummary {
    fn from_info(info: &wgpu::AdapterInfo) -> Self {
        let driver = [info.driver.as_str(), info.driver_info.as_str()]
            .iter()
            .filter(|s| !s.is_empty())
            .copied()
            .collect::<Vec<_>>()
            .join(" ");
        Self {
            name: info.name.clone(),
            backend: format!("{:?}", info.backend),
            device_type: format!("{:?}", info.device_type),
            driver,
        }
    }

    /// Whether this is a software adapter (lavapipe, SwiftShader, WARP): figures measured on it
    /// are CPU figures, not GPU ones.
    pub fn is_software(&self) -> bool {
        self.device_type == format!("{:?}", wgpu::DeviceType::Cpu)
    }
}

impl fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (backend {}, device type {})",
            self.name, self.backend, self.device_type
        )?;
        if !self.driver.is_empty() {
            write!(f, ", driver {}", self.driver)?;
        }
        Ok(())
    }
}

/// One adapter, device and queue. Cloning shares them.
#[derive(Clone, Debug)]
pub struct GpuContext {
    /// The instance the adapter came from (a window's surface must be created from it).
    pub instance: wgpu::Instance,
    /// The chosen adapter.
    pub adapter: wgpu::Adapter,
    /// The logical device.
    pub device: wgpu::Device,
    /// Its queue.
    pub queue: wgpu::Queue,
    /// Set by the device-lost callback: why the device is gone (a driver reset, the browser's
    /// GPU process restarting, `destroy`). Everything made on this device is then dead; the
    /// window builds a new context and recomputes the scene from scratch.
    lost: Arc<Mutex<Option<String>>>,
}

impl GpuContext {
    /// A context with no window, for `gaze verify`, tests and benchmarks. Honours `WGPU_BACKEND`
    /// and `WGPU_ADAPTER_NAME`.
    pub fn headless() -> Result<Self, GpuError> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        pollster::block_on(Self::new(instance, None))
    }

    /// A context on `instance`, able to present to `compatible_surface` when one is given (the
    /// window's surface must come from the same instance). Async so the web build can await it.
    pub async fn new(
        instance: wgpu::Instance,
        compatible_surface: Option<&wgpu::Surface<'_>>,
    ) -> Result<Self, GpuError> {
        Self::with_limits(instance, compatible_surface, |offered| offered).await
    }

    /// A headless context whose device is opened with `limits(adapter's limits)`: tests use it
    /// to stand in for a smaller GPU (a 1 MiB storage binding, say) on the one they have.
    pub fn headless_with_limits(
        limits: impl FnOnce(wgpu::Limits) -> wgpu::Limits,
    ) -> Result<Self, GpuError> {
        let instance =
            wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
        pollster::block_on(Self::with_limits(instance, None, limits))
    }

    async fn with_limits(
        instance: wgpu::Instance,
        compatible_surface: Option<&wgpu::Surface<'_>>,
        limits: impl FnOnce(wgpu::Limits) -> wgpu::Limits,
    ) -> Result<Self, GpuError> {
        let adapter =
            wgpu::util::initialize_adapter_from_env_or_default(&instance, compatible_surface)
                .await
                .map_err(|e| GpuError::NoAdapter(e.to_string()))?;
        // Ask for everything the adapter offers: the focus-row mode over 16k tokens needs more
        // than WebGPU's default 128 MiB storage binding on some adapters, and every request is
        // checked against these limits before it is dispatched.
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("gaze"),
                required_features: wgpu::Features::empty(),
                required_limits: limits(adapter.limits()),
                ..Default::default()
            })
            .await?;
        // Errors that no error scope catches are reported, not turned into a panic: a lecture
        // must not stop because of one bad command.
        device.on_uncaptured_error(Arc::new(|error| {
            report(&format!("gaze: uncaptured GPU error: {error}"));
        }));
        let lost = Arc::new(Mutex::new(None));
        let lost_slot = Arc::clone(&lost);
        device.set_device_lost_callback(move |reason, message| {
            let what = match reason {
                wgpu::DeviceLostReason::Destroyed => "the device was destroyed",
                wgpu::DeviceLostReason::Unknown => "the driver lost the device",
            };
            let why = if message.is_empty() {
                what.to_owned()
            } else {
                format!("{what}: {message}")
            };
            report(&format!("gaze: GPU device lost: {why}"));
            // A poisoned lock only means another thread panicked while holding it; the slot is
            // a plain Option and still meaningful.
            let mut slot = lost_slot.lock().unwrap_or_else(|p| p.into_inner());
            *slot = Some(why);
        });
        Ok(Self {
            instance,
            adapter,
            device,
            queue,
            lost,
        })
    }

    /// Why the device was lost, once it has been (`None` while it works).
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Destroys the device, as a driver reset would lose it: for testing recovery
    /// (`--inject-fault device-lost@N`). The lost callback runs and [`GpuContext::lost`] says so.
    pub fn simulate_device_loss(&self) {
        self.device.destroy();
        // Natively the callback runs when the device is next polled.
        let _ = self.device.poll(wgpu::PollType::Poll);
    }

    /// The adapter, for people.
    pub fn summary(&self) -> AdapterSummary {
        AdapterSummary::from_info(&self.adapter.get_info())
    }

    /// Whether the attention kernels can run here: compute shaders with 256-lane workgroups and
    /// the eight storage buffers `attention_project.wgsl` binds. WebGL2 has none of these; the
    /// lesson then computes on the CPU reference.
    pub fn has_compute(&self) -> bool {
        let limits = self.limits();
        self.adapter
            .get_downlevel_capabilities()
            .flags
            .contains(wgpu::DownlevelFlags::COMPUTE_SHADERS)
            && limits.max_compute_invocations_per_workgroup >= 256
            && limits.max_storage_buffers_per_shader_stage >= 8
    }

    /// The device's limits.
    pub fn limits(&self) -> wgpu::Limits {
        self.device.limits()
    }

    /// Runs `f` inside validation and out-of-memory error scopes and turns what they catch into
    /// a typed error, so a bad command becomes a message instead of a crash.
    ///
    /// In the browser nothing may block, and an error scope only answers through a promise: there
    /// the work runs unscoped and a GPU error reaches the uncaptured-error handler instead (every
    /// request was already checked against the device's limits before it got here).
    #[cfg(target_arch = "wasm32")]
    pub fn scoped<T>(&self, f: impl FnOnce() -> T) -> Result<T, GpuError> {
        Ok(f())
    }

    /// Runs `f` inside validation and out-of-memory error scopes and turns what they catch into
    /// a typed error, so a bad command becomes a message instead of a crash.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn scoped<T>(&self, f: impl FnOnce() -> T) -> Result<T, GpuError> {
        let out_of_memory = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let value = f();
        // Scopes pop in the reverse order they were pushed.
        let validation_error = pollster::block_on(validation.pop());
        let memory_error = pollster::block_on(out_of_memory.pop());
        if let Some(error) = validation_error {
            return Err(GpuError::Validation(error.to_string()));
        }
        if let Some(error) = memory_error {
            return Err(GpuError::OutOfMemory(error.to_string()));
        }
        Ok(value)
    }
}

/// Reports an error nobody asked for: stderr natively, the console in the browser.
pub fn report(message: &str) {
    #[cfg(target_arch = "wasm32")]
    web_sys::console::error_1(&message.into());
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{message}");
}
