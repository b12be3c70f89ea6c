//! The real-model engine (`model::llm` on the CPU, `gpu::llm` on the GPU): prefill and decode.
//!
//! `llm_prefill/{gpu,cpu}/{16,128,1024}`: a whole prompt of n tokens from an empty cache, to the
//! next token's top candidate (throughput in tokens/s). `llm_decode/{gpu,cpu}/{128,1024}`: one
//! token after a prefill of 128 or 1,024 tokens — only the step is timed. The CPU decode clones a
//! prefilled cache before each step (untimed), so every step sees exactly that context; the GPU
//! cache cannot be cloned or cut, so the GPU decodes step after step and is reset and prefilled
//! again (untimed) once it holds `DECODE_WINDOW` more positions than the prefill: its steps see
//! contexts n … n + n/16.
//!
//! Each GPU pass includes what the app waits for: the top-1 readback and the focus rows of every
//! layer and head (`layers × heads × context` floats). The model is `GAZE_MODEL` when set
//! (SmolLM2-135M: `tools/fetch-models.sh smollm2` prints its path); otherwise a random-weight
//! model of SmolLM2's shape whose vocabulary is only ~266 tokens, so its logits GEMV (49,152 rows
//! in the real model, the largest matrix) is not representative and its matrices are a mix of
//! block types rather than Q4_1.
//!
//! Before the groups the bench prints the adapter, the weight bytes, the GPU memory at contexts
//! 1,024 and 8,192, and a quick decode loop of `QUICK_STEPS` steps at 128 and 1,024 with the
//! weight bandwidth it implies (weight bytes ÷ time per token: each decoded token reads every
//! weight once). The CPU prefill at 1,024 takes tens of seconds on the 2-core development machine:
//! there it is timed once during setup and printed, not sampled (`GAZE_BENCH_SLOW=1` samples it;
//! on a hardware adapter it is always sampled). `GAZE_BENCH_STAGES=1` also prints a per-kernel
//! breakdown from `LlmGpu::probe` (time to stop after each stage of the last layer, by
//! difference). On a machine without a GPU the adapter is Mesa's lavapipe, which runs the shaders
//! on the CPU: its figures are not GPU figures.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};

use gaze::gpu::llm::{LlmGpu, Readback, Stage, Stop};
use gaze::gpu::GpuContext;
use gaze::model::llm::synthetic::{synthetic_gguf, SyntheticSpec};
use gaze::model::llm::{Capture, GgufFile, KvCache, LlamaModel};

const PREFILL: [usize; 3] = [16, 128, 1024];
const DECODE: [usize; 2] = [128, 1024];
/// Decode steps of the quick loop printed before the groups.
const QUICK_STEPS: usize = 20;
/// Above this many tokens a CPU prefill is timed once on a software adapter's machine.
const CPU_SAMPLED_MAX: usize = 128;

const READBACK: Readback = Readback {
    logits: false,
    top_k: 1,
    temperature: 1.0,
};

/// The GPU's decode window after a prefill of `n`: steps run at contexts n .. n + window.
fn decode_window(n: usize) -> usize {
    (n / 16).max(QUICK_STEPS)
}

/// Deterministic token ids spread over the vocabulary.
fn tokens(n: usize, vocab: usize) -> Vec<u32> {
    (0..n).map(|i| ((i * 7919 + 13) % vocab) as u32).collect()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

struct Setup {
    ctx: GpuContext,
    model: LlamaModel,
    gpu: LlmGpu,
    /// Sample every case (a hardware adapter, or `GAZE_BENCH_SLOW` set).
    bench_slow: bool,
    /// A CPU cache after each decode prefill.
    cpu_caches: Vec<(usize, KvCache)>,
}

fn load_model() -> LlamaModel {
    match std::env::var_os("GAZE_MODEL") {
        Some(path) => {
            let path = PathBuf::from(path);
            eprintln!("llm: model {} (GAZE_MODEL)", path.display());
            let file = GgufFile::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            LlamaModel::from_gguf(&file).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        }
        None => {
            eprintln!(
                "llm: ************************************************************************\n\
                 llm: GAZE_MODEL is not set: benchmarking a RANDOM-WEIGHT model of SmolLM2-135M's\n\
                 llm: shape (30 layers, 9 heads / 3 KV heads, d_model 576, ffn 1536). Its vocabulary\n\
                 llm: is ~266 tokens, not 49,152, so the logits GEMV is NOT representative, and its\n\
                 llm: matrices mix block types. For real figures:\n\
                 llm:   export GAZE_MODEL=$(tools/fetch-models.sh smollm2)\n\
                 llm: ************************************************************************"
            );
            let bytes = synthetic_gguf(&SyntheticSpec {
                layers: 30,
                heads: 9,
                kv_heads: 3,
                d_model: 576,
                ffn: 1536,
                context: 8192,
                ..SyntheticSpec::default()
            });
            let file = GgufFile::parse(bytes).unwrap_or_else(|e| panic!("synthetic model: {e}"));
            LlamaModel::from_gguf(&file).unwrap_or_else(|e| panic!("synthetic model: {e}"))
        }
    }
}

/// Runs `tokens` on the GPU after what its cache holds and waits for the readback.
fn gpu_forward(ctx: &GpuContext, gpu: &mut LlmGpu, tokens: &[u32]) -> u32 {
    let out = gpu
        .forward(ctx, tokens, &Capture::default(), READBACK)
        .and_then(|pending| pending.wait(ctx))
        .unwrap_or_else(|e| panic!("GPU forward: {e}"));
    out.top.first().map_or(0, |&(id, _)| id)
}

fn cpu_forward(model: &LlamaModel, cache: &mut KvCache, tokens: &[u32]) {
    model
        .forward(cache, tokens, &Capture::default())
        .unwrap_or_else(|e| panic!("CPU forward: {e}"));
}

/// Whether the command line's filters (`cargo bench --bench llm -- decode`) leave `id` in.
fn selected(id: &str) -> bool {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    filters.is_empty() || filters.iter().any(|f| id.contains(f.as_str()))
}

impl Setup {
    fn new() -> Self {
        let ctx = GpuContext::headless()
            .unwrap_or_else(|e| panic!("the GPU benchmarks need an adapter: {e}"));
        let summary = ctx.summary();
        if summary.is_software() {
            eprintln!(
                "llm: adapter {summary} — SOFTWARE (the shaders run on this machine's CPU cores): \
                 the GPU figures below are not GPU figures"
            );
        } else {
            eprintln!("llm: adapter {summary}");
        }
        let bench_slow = !summary.is_software() || std::env::var_os("GAZE_BENCH_SLOW").is_some();
        let model = load_model();
        let c = &model.config;
        eprintln!(
            "llm: {} layers, {} heads / {} KV heads, d_model {}, ffn {}, vocab {}",
            c.layers, c.heads, c.kv_heads, c.d_model, c.ffn, c.vocab
        );

        // Memory, on an engine of its own (reserve only grows).
        {
            let mut gpu = LlmGpu::new(&ctx, &model).unwrap_or_else(|e| panic!("{e}"));
            let weights = gpu.weight_bytes();
            eprintln!("llm: weight bytes {weights} ({:.1} MiB)", mib(weights));
            for capacity in [1024, 8192] {
                gpu.reserve(&ctx, capacity)
                    .unwrap_or_else(|e| panic!("reserve {capacity}: {e}"));
                let bytes = gpu.bytes_allocated();
                eprintln!(
                    "llm: GPU bytes allocated at context {capacity}: {bytes} ({:.1} MiB; {:.1} MiB \
                     past the weights)",
                    mib(bytes),
                    mib(bytes - weights)
                );
            }
        }

        let mut gpu = LlmGpu::new(&ctx, &model).unwrap_or_else(|e| panic!("{e}"));
        let largest = DECODE
            .iter()
            .map(|&n| n + decode_window(n))
            .max()
            .unwrap_or(0);
        let capacity = largest.max(PREFILL.iter().copied().max().unwrap_or(0));
        gpu.reserve(&ctx, capacity)
            .unwrap_or_else(|e| panic!("reserve {capacity}: {e}"));
        // Compile and warm every pipeline once.
        gpu_forward(&ctx, &mut gpu, &tokens(16, c.vocab));
        gpu_forward(&ctx, &mut gpu, &[1]);
        gpu.reset();

        let mut setup = Self {
            ctx,
            model,
            gpu,
            bench_slow,
            cpu_caches: Vec::new(),
        };
        setup.quick_decode();
        if std::env::var_os("GAZE_BENCH_STAGES").is_some() {
            setup.stages(1);
            setup.stages(512);
        }
        setup
    }

    /// Prefills each decode context on both engines, prints the one-run prefill times, then
    /// decodes `QUICK_STEPS` tokens and prints tokens/s and the weight bandwidth.
    fn quick_decode(&mut self) {
        let vocab = self.model.config.vocab;
        let weights = self.gpu.weight_bytes() as f64;
        for &n in &DECODE {
            let prompt = tokens(n, vocab);
            // GPU: prefill, then QUICK_STEPS steps fed their own greedy token.
            self.gpu.reset();
            let started = Instant::now();
            let mut next = gpu_forward(&self.ctx, &mut self.gpu, &prompt);
            let gpu_prefill = started.elapsed();
            let started = Instant::now();
            for _ in 0..QUICK_STEPS {
                next = gpu_forward(&self.ctx, &mut self.gpu, &[next]);
            }
            let gpu_step = started.elapsed().as_secs_f64() / QUICK_STEPS as f64;
            self.gpu.reset();

            // CPU: the prefill (kept for the decode group), then the same steps on a clone.
            let mut cache = KvCache::new(&self.model.config);
            let started = Instant::now();
            cpu_forward(&self.model, &mut cache, &prompt);
            let cpu_prefill = started.elapsed();
            let mut scratch = cache.clone();
            let started = Instant::now();
            for i in 0..QUICK_STEPS {
                cpu_forward(&self.model, &mut scratch, &[(i % vocab) as u32]);
            }
            let cpu_step = started.elapsed().as_secs_f64() / QUICK_STEPS as f64;
            self.cpu_caches.push((n, cache));

            eprintln!(
                "llm prefill @{n} (one run): GPU {:.3} s ({:.1} tokens/s), CPU {:.3} s ({:.1} \
                 tokens/s)",
                gpu_prefill.as_secs_f64(),
                n as f64 / gpu_prefill.as_secs_f64(),
                cpu_prefill.as_secs_f64(),
                n as f64 / cpu_prefill.as_secs_f64(),
            );
            for (engine, step) in [("GPU", gpu_step), ("CPU", cpu_step)] {
                eprintln!(
                    "llm decode @{n}: {engine} {:.2} tokens/s ({:.1} ms/token), {:.3} GB/s of \
                     weights read ({QUICK_STEPS} steps)",
                    1.0 / step,
                    step * 1e3,
                    weights / step / 1e9,
                );
            }
        }
    }

    /// Per-kernel cost on the GPU for a pass of `n` tokens from an empty cache, by difference:
    /// the time to probe up to each stage of the last layer minus the time to the stage before.
    /// Each probe reads back every activation buffer; that cost is the same for every stop and
    /// cancels. Medians of 5.
    fn stages(&mut self, n: usize) {
        let c = self.model.config.clone();
        let prompt = tokens(n, c.vocab);
        let last = c.layers - 1;
        let stops = [
            (
                Stop {
                    layer: last - 1,
                    stage: Stage::Down,
                },
                "(previous layer done)",
            ),
            (
                Stop {
                    layer: last,
                    stage: Stage::AttnNorm,
                },
                "rms_norm",
            ),
            (
                Stop {
                    layer: last,
                    stage: Stage::Qkv,
                },
                "W_QKV (gemm/gemv)",
            ),
            (
                Stop {
                    layer: last,
                    stage: Stage::Rope,
                },
                "rope + cache store",
            ),
            (
                Stop {
                    layer: last,
                    stage: Stage::Attention,
                },
                "attention",
            ),
            (
                Stop {
                    layer: last,
                    stage: Stage::Wo,
                },
                "W_O (gemm/gemv)",
            ),
            (
                Stop {
                    layer: last,
                    stage: Stage::FfnNorm,
                },
                "rms_norm",
            ),
            (
                Stop {
                    layer: last,
                    stage: Stage::GateUp,
                },
                "W_gate|up (gemm/gemv)",
            ),
            (
                Stop {
                    layer: last,
                    stage: Stage::Swiglu,
                },
                "swiglu",
            ),
            (
                Stop {
                    layer: last,
                    stage: Stage::Down,
                },
                "W_down (gemm/gemv)",
            ),
        ];
        let mut times = Vec::new();
        for &(stop, _) in &stops {
            let mut runs: Vec<f64> = (0..5)
                .map(|_| {
                    let started = Instant::now();
                    self.gpu
                        .probe(&self.ctx, &prompt, stop)
                        .unwrap_or_else(|e| panic!("probe: {e}"));
                    started.elapsed().as_secs_f64()
                })
                .collect();
            runs.sort_by(f64::total_cmp);
            times.push(runs[2]);
        }
        let layer = times[times.len() - 1] - times[0];
        eprintln!(
            "llm stages @{n} tokens (one layer, by difference; {:.1} ms a layer, {:.1} ms for \
             {} layers):",
            layer * 1e3,
            times[0] * 1e3,
            c.layers - 1
        );
        for i in 1..stops.len() {
            let dt = times[i] - times[i - 1];
            eprintln!(
                "llm stages @{n}:   {:<24} {:8.2} ms  {:5.1}%",
                stops[i].1,
                dt * 1e3,
                100.0 * dt / layer
            );
        }
        self.gpu.reset();
        let capacity = DECODE
            .iter()
            .map(|&n| n + decode_window(n))
            .max()
            .unwrap_or(0);
        self.gpu
            .reserve(&self.ctx, capacity)
            .unwrap_or_else(|e| panic!("reserve {capacity}: {e}"));
    }
}

fn llm(c: &mut Criterion) {
    let mut s = Setup::new();
    let vocab = s.model.config.vocab;

    let mut group = c.benchmark_group("llm_prefill");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    for &n in &PREFILL {
        let prompt = tokens(n, vocab);
        group.throughput(Throughput::Elements(n as u64));
        // On a software adapter a 1,024-token GPU prefill takes minutes a run: the one run
        // printed during setup stands for it.
        if s.bench_slow || n <= CPU_SAMPLED_MAX {
            group.bench_with_input(BenchmarkId::new("gpu", n), &prompt, |b, prompt| {
                b.iter(|| {
                    s.gpu.reset();
                    gpu_forward(&s.ctx, &mut s.gpu, prompt)
                });
            });
        }
        if s.bench_slow || n <= CPU_SAMPLED_MAX {
            group.bench_with_input(BenchmarkId::new("cpu", n), &prompt, |b, prompt| {
                b.iter(|| {
                    let mut cache = KvCache::new(&s.model.config);
                    cpu_forward(&s.model, &mut cache, prompt);
                    cache
                });
            });
        } else if selected(&format!("llm_prefill/cpu/{n}")) {
            eprintln!(
                "llm_prefill/cpu/{n}: not sampled on a software adapter's machine (tens of \
                 seconds a run; GAZE_BENCH_SLOW=1 samples it): see `llm prefill @{n} (one run)` \
                 above"
            );
        }
    }
    group.finish();
    s.gpu.reset();

    let mut group = c.benchmark_group("llm_decode");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    for &n in &DECODE {
        let prompt = tokens(n, vocab);
        let window = decode_window(n);
        group.throughput(Throughput::Elements(1));
        group.bench_function(BenchmarkId::new("gpu", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut next = 1;
                for _ in 0..iters {
                    if s.gpu.cache_len() < n || s.gpu.cache_len() >= n + window {
                        s.gpu.reset();
                        next = gpu_forward(&s.ctx, &mut s.gpu, &prompt);
                    }
                    let started = Instant::now();
                    next = gpu_forward(&s.ctx, &mut s.gpu, &[next]);
                    total += started.elapsed();
                }
                total
            });
        });
        let base = s
            .cpu_caches
            .iter()
            .find(|(len, _)| *len == n)
            .map(|(_, cache)| cache.clone())
            .unwrap_or_else(|| panic!("no CPU cache at {n}"));
        group.bench_function(BenchmarkId::new("cpu", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for i in 0..iters {
                    let mut cache = base.clone();
                    let started = Instant::now();
                    cpu_forward(&s.model, &mut cache, &[(i as usize % vocab) as u32]);
                    total += started.elapsed();
                }
                total
            });
        });
        s.gpu.reset();
    }
    group.finish();
}

criterion_group!(benches, llm);
criterion_main!(benches);
