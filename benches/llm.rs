//! The real-model engine (`model::llm` on the CPU, `gpu::llm` on the GPU): prefill and decode.
//!
//! `llm_prefill/{gpu,cpu}/{16,128,1024}`: a whole prompt of n tokens from an empty cache, to the
//! next token's top candidate (throughput in tokens/s). `llm_decode/{gpu,cpu}/{128,1024}`: one
//! token after a prefill of 128 or 1,024 tokens, and only that step is timed: the CPU clones the
//! prefilled cache before each step, the GPU rewinds its cache to the prefill
//! (`LlmGpu::rewind`), so every step sees exactly that context. Each decode context has a GPU
//! engine of its own, prefilled once during setup.
//!
//! Each GPU pass includes what the app waits for: the top-1 readback and the focus rows of every
//! layer and head (`layers × heads × context` floats). The model is `GAZE_MODEL` when set
//! (SmolLM2-135M: `tools/fetch-models.sh smollm2` prints its path); otherwise a random-weight
//! model of SmolLM2's shape (`synthetic_gguf`, whose own vocabulary is ~266 tokens and whose
//! matrices mix block types), rebuilt here with SmolLM2's block types and vocabulary size: every
//! layer matrix Q4_1, a tied Q8_0 embedding of 49,152 rows (so the logits GEMV, the largest
//! matrix, is as wide as the real one). Its timings stand for the real file's — the same shapes,
//! block types and bytes — but it is not the real model: its tokenizer is the synthetic one
//! (unused here) and its attention patterns are noise. That is what runs where the 98 MB file
//! cannot travel (`tools/device-bench.sh`); `GAZE_BENCH_SYNTHETIC=plain` keeps the small
//! vocabulary and mixed block types of `synthetic_gguf` as they are.
//!
//! Before the groups the bench prints the adapter, the weight bytes, the GPU memory at contexts
//! 1,024 and 8,192, one timed run of every prefill that setup needs (128 and 1,024 tokens, both
//! engines), and a quick loop of decode steps at 128 and 1,024 with the weight bandwidth it
//! implies (weight bytes ÷ time per token: each decoded token reads every weight once).
//!
//! On a software adapter (Mesa's lavapipe, running the shaders on the CPU; its figures are not GPU
//! figures) a 128-token GPU prefill takes ~25 s and a 1,024-token one minutes: there the GPU
//! prefills past 16 tokens are not sampled — their one timed run during setup stands for them —
//! and the quick loop runs `QUICK_STEPS_SOFTWARE` steps. The CPU reference's 1,024-token prefill
//! (tens of seconds, single-threaded, whatever the adapter) is never sampled either. So the whole
//! bench fits in about ten minutes on 2 cores. `GAZE_BENCH_SLOW=1` samples every case; on a
//! hardware adapter every GPU case is sampled. `GAZE_BENCH_ENGINES=gpu` (or `cpu`) runs one engine
//! only, setup included (a GPU machine's run need not spend a minute on the CPU reference).
//!
//! `GAZE_BENCH_STAGES=1` (or a list of token counts, `GAZE_BENCH_STAGES=1,128,512`; default 1 and
//! 128) also prints a per-kernel breakdown of one layer from `LlmGpu::probe`: the time to stop
//! after each stage of layer 0 minus the time to the stage before (each probe reads back every
//! activation buffer, the same for every stop, so that cancels). Probes start from an empty cache,
//! so attention there sees only the probe's own tokens.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};

use gaze::gpu::llm::{LlmGpu, Readback, Stage, Stop};
use gaze::gpu::GpuContext;
use gaze::model::llm::quant::{quantize, QuantMatrix};
use gaze::model::llm::synthetic::{synthetic_gguf, SyntheticSpec};
use gaze::model::llm::{Capture, GgufFile, KvCache, LlamaModel, TensorType};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const PREFILL: [usize; 3] = [16, 128, 1024];
const DECODE: [usize; 2] = [128, 1024];
/// Decode steps of the quick loop printed before the groups, on a hardware adapter.
const QUICK_STEPS: usize = 20;
/// The same on a software adapter (a step takes seconds there).
const QUICK_STEPS_SOFTWARE: usize = 5;
/// On a software adapter, the longest GPU prefill that is sampled.
const GPU_SOFTWARE_SAMPLED_MAX: usize = 16;
/// The longest CPU prefill that is sampled (unless `GAZE_BENCH_SLOW` is set).
const CPU_SAMPLED_MAX: usize = 128;
/// SmolLM2-135M's vocabulary.
const SMOLLM2_VOCAB: usize = 49_152;
/// Token counts of the per-kernel breakdown when `GAZE_BENCH_STAGES` gives none.
const STAGE_SIZES: [usize; 2] = [1, 128];

const READBACK: Readback = Readback {
    logits: false,
    top_k: 1,
    temperature: 1.0,
};

/// Deterministic token ids spread over the vocabulary.
fn tokens(n: usize, vocab: usize) -> Vec<u32> {
    (0..n).map(|i| ((i * 7919 + 13) % vocab) as u32).collect()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// A prefill of `len` tokens held for the decode group: a GPU engine and the CPU reference's
/// cache (each only when its engine runs), and the token the prefill chose next.
struct Decoder {
    len: usize,
    next: u32,
    gpu: Option<LlmGpu>,
    cpu: Option<KvCache>,
}

struct Setup {
    ctx: GpuContext,
    model: LlamaModel,
    /// The prefill group's engine.
    gpu: LlmGpu,
    decoders: Vec<Decoder>,
    /// Sample every GPU case (a hardware adapter, or `GAZE_BENCH_SLOW` set).
    gpu_slow: bool,
    /// Sample every CPU case (`GAZE_BENCH_SLOW` set).
    cpu_slow: bool,
    /// Which engines run (`GAZE_BENCH_ENGINES`).
    gpu_on: bool,
    cpu_on: bool,
}

/// A random matrix of `rows × cols` in `kind`'s blocks, uniform in ±`scale`.
fn random_matrix(
    rng: &mut StdRng,
    kind: TensorType,
    rows: usize,
    cols: usize,
    scale: f32,
) -> QuantMatrix {
    let values: Vec<f32> = (0..rows * cols)
        .map(|_| rng.random_range(-scale..scale))
        .collect();
    QuantMatrix::from_gguf("synthetic", kind, rows, cols, &quantize(kind, &values))
        .unwrap_or_else(|e| panic!("synthetic matrix: {e}"))
}

/// `synthetic_gguf`'s SmolLM2-shaped model with SmolLM2's block types (every layer matrix Q4_1)
/// and a tied Q8_0 embedding of SmolLM2's 49,152 rows, unless `GAZE_BENCH_SYNTHETIC=plain`.
fn synthetic_model() -> LlamaModel {
    let spec = SyntheticSpec {
        layers: 30,
        heads: 9,
        kv_heads: 3,
        d_model: 576,
        ffn: 1536,
        context: 8192,
        ..SyntheticSpec::default()
    };
    let file =
        GgufFile::parse(synthetic_gguf(&spec)).unwrap_or_else(|e| panic!("synthetic model: {e}"));
    let mut model = LlamaModel::from_gguf(&file).unwrap_or_else(|e| panic!("synthetic model: {e}"));
    if std::env::var("GAZE_BENCH_SYNTHETIC").is_ok_and(|v| v == "plain") {
        eprintln!(
            "llm: GAZE_BENCH_SYNTHETIC=plain: vocabulary {} tokens, block types mixed (Q4_1, Q4_0, \
             Q8_0, F16, F32): the logits GEMV and the weight bytes are NOT SmolLM2's",
            model.config.vocab
        );
        return model;
    }
    let mut rng = StdRng::seed_from_u64(spec.seed + 1);
    let s = spec.weight_scale;
    let q4 = TensorType::Q4_1;
    for layer in &mut model.layers {
        for m in [
            &mut layer.wq,
            &mut layer.wk,
            &mut layer.wv,
            &mut layer.wo,
            &mut layer.w_gate,
            &mut layer.w_up,
            &mut layer.w_down,
        ] {
            *m = random_matrix(&mut rng, q4, m.rows, m.cols, s);
        }
    }
    model.embedding = random_matrix(&mut rng, TensorType::Q8_0, SMOLLM2_VOCAB, spec.d_model, 1.0);
    model.output = None;
    model.config.vocab = SMOLLM2_VOCAB;
    model
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
                 llm: shape (30 layers, 9 heads / 3 KV heads, d_model 576, ffn 1536), with its block\n\
                 llm: types (Q4_1 layers, tied Q8_0 embedding) and its 49,152-token vocabulary: the\n\
                 llm: same shapes and bytes, so the timings stand for it, but NOT the real model.\n\
                 llm: For the real one: export GAZE_MODEL=$(tools/fetch-models.sh smollm2)\n\
                 llm: ************************************************************************"
            );
            synthetic_model()
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

fn new_engine(ctx: &GpuContext, model: &LlamaModel, capacity: usize) -> LlmGpu {
    let mut gpu = LlmGpu::new(ctx, model).unwrap_or_else(|e| panic!("{e}"));
    gpu.reserve(ctx, capacity)
        .unwrap_or_else(|e| panic!("reserve {capacity}: {e}"));
    gpu
}

impl Setup {
    fn new() -> Self {
        let started = Instant::now();
        let ctx = GpuContext::headless()
            .unwrap_or_else(|e| panic!("the GPU benchmarks need an adapter: {e}"));
        let summary = ctx.summary();
        let software = summary.is_software();
        if software {
            eprintln!(
                "llm: adapter {summary} — SOFTWARE (the shaders run on this machine's CPU cores): \
                 the GPU figures below are not GPU figures"
            );
        } else {
            eprintln!("llm: adapter {summary}");
        }
        let slow = std::env::var_os("GAZE_BENCH_SLOW").is_some();
        let engines = std::env::var("GAZE_BENCH_ENGINES").unwrap_or_default();
        let (gpu_on, cpu_on) = match engines.as_str() {
            "gpu" => (true, false),
            "cpu" => (false, true),
            _ => (true, true),
        };
        if !(gpu_on && cpu_on) {
            eprintln!("llm: GAZE_BENCH_ENGINES={engines}: the other engine is not run");
        }
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

        let capacity = PREFILL.iter().copied().max().unwrap_or(1);
        let mut gpu = new_engine(&ctx, &model, capacity);
        if gpu_on {
            // Compile and warm every pipeline once (the gemm and the gemv paths).
            gpu_forward(&ctx, &mut gpu, &tokens(16, c.vocab));
            gpu_forward(&ctx, &mut gpu, &[1]);
            gpu.reset();
        }

        let mut setup = Self {
            ctx,
            model,
            gpu,
            decoders: Vec::new(),
            gpu_slow: !software || slow,
            cpu_slow: slow,
            gpu_on,
            cpu_on,
        };
        let steps = if software {
            QUICK_STEPS_SOFTWARE
        } else {
            QUICK_STEPS
        };
        if let (Ok(value), true) = (std::env::var("GAZE_BENCH_STAGES"), gpu_on) {
            let mut sizes: Vec<usize> = value
                .split(',')
                .filter_map(|s| s.trim().parse().ok())
                .filter(|&n| n >= 1)
                .collect();
            if sizes.is_empty() || value.trim() == "1" {
                sizes = STAGE_SIZES.to_vec();
            }
            for n in sizes {
                setup.stages(n);
            }
        }
        setup.prefill_decoders(steps);
        eprintln!("llm: setup took {:.1} s", started.elapsed().as_secs_f64());
        setup
    }

    /// Prefills each decode context on each engine that runs (printing the one-run prefill
    /// times), then decodes `steps` tokens on each and prints tokens/s and the weight bandwidth.
    fn prefill_decoders(&mut self, steps: usize) {
        let vocab = self.model.config.vocab;
        let weights = self.gpu.weight_bytes() as f64;
        let report = |n: usize, engine: &str, prefill: f64, step: f64| {
            eprintln!(
                "llm prefill @{n} (one run): {engine} {prefill:.3} s ({:.1} tokens/s)",
                n as f64 / prefill
            );
            eprintln!(
                "llm decode @{n}: {engine} {:.2} tokens/s ({:.2} ms/token), {:.3} GB/s of weights \
                 read ({steps} steps)",
                1.0 / step,
                step * 1e3,
                weights / step / 1e9,
            );
        };
        for &n in &DECODE {
            let prompt = tokens(n, vocab);
            let mut decoder = Decoder {
                len: n,
                next: 0,
                gpu: None,
                cpu: None,
            };
            if self.gpu_on {
                let mut gpu = new_engine(&self.ctx, &self.model, n + steps);
                let started = Instant::now();
                decoder.next = gpu_forward(&self.ctx, &mut gpu, &prompt);
                let prefill = started.elapsed().as_secs_f64();
                // Steps fed their own greedy token, as generation does (contexts n .. n + steps).
                let started = Instant::now();
                let mut token = decoder.next;
                for _ in 0..steps {
                    token = gpu_forward(&self.ctx, &mut gpu, &[token]);
                }
                let step = started.elapsed().as_secs_f64() / steps as f64;
                gpu.rewind(n);
                report(n, "GPU", prefill, step);
                decoder.gpu = Some(gpu);
            }
            if self.cpu_on {
                let mut cpu = KvCache::new(&self.model.config);
                let started = Instant::now();
                cpu_forward(&self.model, &mut cpu, &prompt);
                let prefill = started.elapsed().as_secs_f64();
                let mut scratch = cpu.clone();
                let started = Instant::now();
                for i in 0..steps {
                    let token = ((decoder.next as usize + i) % vocab) as u32;
                    cpu_forward(&self.model, &mut scratch, &[token]);
                }
                let step = started.elapsed().as_secs_f64() / steps as f64;
                report(n, "CPU", prefill, step);
                decoder.cpu = Some(cpu);
            }
            self.decoders.push(decoder);
        }
    }

    /// Per-kernel cost of one layer on the GPU for a pass of `n` tokens from an empty cache, by
    /// difference: the time to probe up to each stage of layer 0 minus the time to the stage
    /// before. Medians of 5 (3 on a software adapter past 16 tokens).
    fn stages(&mut self, n: usize) {
        let c = self.model.config.clone();
        let prompt = tokens(n, c.vocab);
        let stops = [
            (Stage::Embed, "embed (+ probe readback)"),
            (Stage::AttnNorm, "rms_norm"),
            (Stage::Qkv, "W_Q|K|V (gemm/gemv)"),
            (Stage::Rope, "rope + cache store"),
            (Stage::Attention, "attention"),
            (Stage::Wo, "W_O (gemm/gemv)"),
            (Stage::FfnNorm, "rms_norm"),
            (Stage::GateUp, "W_gate|up (gemm/gemv)"),
            (Stage::Swiglu, "swiglu"),
            (Stage::Down, "W_down (gemm/gemv)"),
        ];
        let reps = if self.gpu_slow || n <= 16 { 5 } else { 3 };
        let mut times = Vec::new();
        for &(stage, _) in &stops {
            let stop = Stop { layer: 0, stage };
            let mut runs: Vec<f64> = (0..reps)
                .map(|_| {
                    let started = Instant::now();
                    self.gpu
                        .probe(&self.ctx, &prompt, stop)
                        .unwrap_or_else(|e| panic!("probe: {e}"));
                    started.elapsed().as_secs_f64()
                })
                .collect();
            runs.sort_by(f64::total_cmp);
            times.push(runs[reps / 2]);
        }
        let layer = times[times.len() - 1] - times[0];
        eprintln!(
            "llm stages @{n} tokens: one layer {:.3} ms by difference (× {} layers = {:.1} ms); \
             a probe to the embedding alone {:.3} ms",
            layer * 1e3,
            c.layers,
            layer * 1e3 * c.layers as f64,
            times[0] * 1e3,
        );
        for i in 1..stops.len() {
            let dt = times[i] - times[i - 1];
            eprintln!(
                "llm stages @{n}:   {:<24} {:10.3} ms  {:5.1}%",
                stops[i].1,
                dt * 1e3,
                100.0 * dt / layer
            );
        }
        self.gpu.reset();
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
    let not_sampled = |engine: &str, n: usize, why: &str| {
        eprintln!(
            "llm_prefill/{engine}/{n}: not sampled ({why}; GAZE_BENCH_SLOW=1 samples it): see \
             `llm prefill @{n} (one run)` above"
        );
    };
    for &n in &PREFILL {
        let prompt = tokens(n, vocab);
        group.throughput(Throughput::Elements(n as u64));
        if s.gpu_on && (s.gpu_slow || n <= GPU_SOFTWARE_SAMPLED_MAX) {
            group.bench_with_input(BenchmarkId::new("gpu", n), &prompt, |b, prompt| {
                b.iter(|| {
                    s.gpu.reset();
                    gpu_forward(&s.ctx, &mut s.gpu, prompt)
                });
            });
        } else if s.gpu_on {
            not_sampled("gpu", n, "a software adapter");
        }
        if s.cpu_on && (s.cpu_slow || n <= CPU_SAMPLED_MAX) {
            group.bench_with_input(BenchmarkId::new("cpu", n), &prompt, |b, prompt| {
                b.iter(|| {
                    let mut cache = KvCache::new(&s.model.config);
                    cpu_forward(&s.model, &mut cache, prompt);
                    cache
                });
            });
        } else if s.cpu_on {
            not_sampled("cpu", n, "tens of seconds a run");
        }
    }
    group.finish();

    let mut group = c.benchmark_group("llm_decode");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(5));
    group.throughput(Throughput::Elements(1));
    let ctx = &s.ctx;
    let model = &s.model;
    for d in &mut s.decoders {
        let (len, next) = (d.len, d.next);
        if let Some(gpu) = d.gpu.as_mut() {
            group.bench_function(BenchmarkId::new("gpu", len), |b| {
                b.iter(|| {
                    gpu.rewind(len);
                    gpu_forward(ctx, gpu, &[next])
                });
            });
        }
        if let Some(base) = d.cpu.as_ref() {
            group.bench_function(BenchmarkId::new("cpu", len), |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let mut cache = base.clone();
                        let started = Instant::now();
                        cpu_forward(model, &mut cache, &[next]);
                        total += started.elapsed();
                    }
                    total
                });
            });
        }
    }
    group.finish();
}

criterion_group!(benches, llm);
criterion_main!(benches);
