//! Step 4 (in-context learning / RAG) end to end, CPU reference vs GPU, at 1k, 10k and 16k
//! context tokens: retrieve → assemble (`context::rag_input`) → focus row → chunk masses → the
//! 128 × 128 overview, and the overview reduction alone.
//!
//! The knowledge base is the two sample files plus a 450-ticket generated archive (~18k tokens),
//! chunked and embedded once, as the app caches it; the question is the lesson's default. Each
//! end-to-end iteration retrieves, assembles and builds the engine input, then either runs
//! `context::compute` (the whole CPU reference, overview included — the app itself skips it past
//! `CPU_OVERVIEW_MAX_TOKENS`) or prepares the GPU buffers, records one submission and waits for
//! the readback of the focus row and the masses, as the app does. The kernels are built once.
//! `…_without_overview` is the same pipeline with `bins = 0`, so the overview's share can be read
//! off by difference; `overview` times the reduction alone (two passes over every score: the row
//! statistics, then the bins) on buffers already holding Q and K.
//!
//! On a machine without a GPU the adapter is Mesa's lavapipe, which runs the shaders on the CPU:
//! its figures are not GPU figures. There the GPU overview at 10k and 16k tokens takes ~11 s and
//! ~28 s a run on a quiet machine (up to three times that when another process holds one of the
//! two cores), so criterion's ten samples (eleven runs each) would add ~15 minutes, far more
//! under load: those four cases are timed once each and printed instead (`GAZE_BENCH_SLOW=1`
//! benches them anyway). On a hardware adapter every case is benched.

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode};

use gaze::gpu::long_context::LongContext;
use gaze::gpu::overview::OverviewKernels;
use gaze::gpu::{AttentionKernels, GpuContext};
use gaze::model::attention::{self, PackedAttention};
use gaze::model::context::{
    self, ContextInput, KnowledgeBase, ARCHIVE_NAME, DEFAULT_QUESTION, MAX_CONTEXT_TOKENS,
    OVERVIEW_BINS, SAMPLE_DOCUMENTS,
};
use gaze::model::lesson::LessonModel;
use gaze::model::overview::{self, OverviewParams};

/// Budgets in tokens and their names in the benchmark ids.
const SIZES: [(usize, &str); 3] = [(1_000, "1k"), (10_000, "10k"), (MAX_CONTEXT_TOKENS, "16k")];
/// Enough generated tickets that a 16,384-token budget fills (300 are ~12k tokens).
const TICKETS: usize = 450;
/// Above this many tokens a software adapter's GPU overview is timed once, not benched.
const SOFTWARE_BENCH_MAX_TOKENS: usize = 1_000;
/// WebGPU's default `max_storage_buffer_binding_size`.
const WEBGPU_DEFAULT_BINDING: u64 = 128 << 20;

/// Everything built once: the device, the kernels, the lesson model and the knowledge base.
struct Setup {
    ctx: GpuContext,
    attention: AttentionKernels,
    overview: OverviewKernels,
    model: LessonModel,
    kb: KnowledgeBase,
    /// Bench the GPU overview at every size (a hardware adapter, or `GAZE_BENCH_SLOW` set).
    bench_slow: bool,
}

impl Setup {
    fn new(name: &str) -> Self {
        let ctx = GpuContext::headless()
            .unwrap_or_else(|e| panic!("the GPU benchmarks need an adapter: {e}"));
        let attention = AttentionKernels::new(&ctx).unwrap_or_else(|e| panic!("{e}"));
        let overview = OverviewKernels::new(&ctx).unwrap_or_else(|e| panic!("{e}"));
        let summary = ctx.summary();
        eprintln!("{name}: adapter {summary}");
        let model = LessonModel::builtin().unwrap_or_else(|e| panic!("{e}"));
        let archive = context::ticket_archive(TICKETS);
        let kb = KnowledgeBase::new(
            SAMPLE_DOCUMENTS
                .iter()
                .copied()
                .chain([(ARCHIVE_NAME, archive.as_str())]),
        );
        assert!(kb.tokens() > MAX_CONTEXT_TOKENS, "{}", kb.tokens());
        let bench_slow = !summary.is_software() || std::env::var_os("GAZE_BENCH_SLOW").is_some();
        Self {
            ctx,
            attention,
            overview,
            model,
            kb,
            bench_slow,
        }
    }

    fn rag(&self, budget: usize) -> ContextInput {
        context::rag_input(&self.model, &self.kb, DEFAULT_QUESTION, budget)
            .unwrap_or_else(|e| panic!("{e}"))
            .0
    }

    /// The GPU buffers for one context, allocated and filled with its input (nothing run).
    fn prepare(&self, input: &ContextInput, bins: u32) -> (LongContext, PackedAttention) {
        let packed = input.packed().unwrap_or_else(|e| panic!("{e}"));
        let bins = context::overview_bins(input.tokens.len(), bins);
        let run = LongContext::prepare(
            &self.ctx,
            &self.attention,
            &self.overview,
            &packed,
            &input.span_bounds(),
            bins,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        (run, packed)
    }

    /// What the app does for one context on the GPU: prepare, record, submit, read back.
    fn gpu(&self, input: &ContextInput, bins: u32) -> (LongContext, (Vec<f32>, Vec<f32>)) {
        let (run, _) = self.prepare(input, bins);
        let mut encoder = self.ctx.device.create_command_encoder(&Default::default());
        run.encode(&mut encoder, &self.attention, &self.overview);
        let values = run
            .start_read_back(&self.ctx, encoder)
            .and_then(|pending| pending.wait(&self.ctx))
            .unwrap_or_else(|e| panic!("{e}"));
        (run, values)
    }

    /// Retrieval to readback, GPU.
    fn gpu_end_to_end(&self, budget: usize, bins: u32) -> (LongContext, (Vec<f32>, Vec<f32>)) {
        self.gpu(&self.rag(budget), bins)
    }

    /// Retrieval to outcome, CPU reference.
    fn cpu_end_to_end(&self, budget: usize, bins: u32) -> context::ContextOutcome {
        context::compute(&self.rag(budget), bins).unwrap_or_else(|e| panic!("{e}"))
    }
}

fn wait(ctx: &GpuContext) {
    ctx.device
        .poll(wgpu::PollType::wait_indefinitely())
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Times `f` once, for the cases too slow to sample ten times on a software adapter — unless
/// the command line names a filter (`cargo bench --bench context -- cpu/1k`) that `id` does not
/// contain.
fn once(id: &str, f: impl FnOnce()) {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if !filters.is_empty() && !filters.iter().any(|filter| id.contains(filter.as_str())) {
        return;
    }
    let started = Instant::now();
    f();
    eprintln!(
        "{id}: one run {:.2} s (software adapter: timed once, not benched; GAZE_BENCH_SLOW=1 \
         benches it)",
        started.elapsed().as_secs_f64()
    );
}

fn end_to_end(c: &mut Criterion) {
    let s = Setup::new("context/end_to_end");
    for &(budget, name) in &SIZES {
        // One checked run per size: the GPU's focus row and masses match the CPU reference's, so
        // nothing below times a wrong answer (lavapipe truncates long loops silently).
        let input = s.rag(budget);
        let cpu = context::compute(&input, 0).unwrap_or_else(|e| panic!("{e}"));
        let (_, (weights, masses)) = s.gpu(&input, 0);
        let worst = |a: &[f32], b: &[f32]| {
            assert_eq!(a.len(), b.len());
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max)
        };
        let (dw, dm) = (worst(&weights, &cpu.weights), worst(&masses, &cpu.masses));
        assert!(
            dw < 1e-5 && dm < 1e-4,
            "{name}: weights {dw:e}, masses {dm:e}"
        );
        eprintln!(
            "context/end_to_end/{name}: {} context tokens, {} chunks, {} left out",
            input.context_tokens(),
            input.spans.len(),
            input.left_out
        );
        if budget == MAX_CONTEXT_TOKENS {
            let (run, _) = s.prepare(&input, OVERVIEW_BINS);
            let limit = s.ctx.limits().max_storage_buffer_binding_size;
            eprintln!(
                "context/end_to_end/{name}: GPU memory {} bytes in all, largest buffer {} bytes \
                 (WebGPU's default per-binding limit {WEBGPU_DEFAULT_BINDING}; this device's \
                 {limit})",
                run.gpu_bytes(),
                run.largest_buffer()
            );
        }
    }

    let mut group = c.benchmark_group("context/end_to_end");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    // At most ten times the slowest iteration: criterion then runs one iteration per sample
    // (and says it wanted longer) instead of several.
    group.measurement_time(Duration::from_secs(10));
    for &(budget, name) in &SIZES {
        group.bench_function(BenchmarkId::new("cpu", name), |b| {
            b.iter(|| s.cpu_end_to_end(budget, OVERVIEW_BINS));
        });
        if s.bench_slow || budget <= SOFTWARE_BENCH_MAX_TOKENS {
            group.bench_function(BenchmarkId::new("gpu", name), |b| {
                b.iter(|| s.gpu_end_to_end(budget, OVERVIEW_BINS));
            });
        } else {
            once(&format!("context/end_to_end/gpu/{name}"), || {
                s.gpu_end_to_end(budget, OVERVIEW_BINS);
            });
        }
        group.bench_function(BenchmarkId::new("cpu_without_overview", name), |b| {
            b.iter(|| s.cpu_end_to_end(budget, 0));
        });
        group.bench_function(BenchmarkId::new("gpu_without_overview", name), |b| {
            b.iter(|| s.gpu_end_to_end(budget, 0));
        });
    }
    group.finish();
}

fn overview_alone(c: &mut Criterion) {
    let s = Setup::new("context/overview");
    let mut group = c.benchmark_group("context/overview");
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(10));
    for &(budget, name) in &SIZES {
        let input = s.rag(budget);
        // Q and K go into their buffers once (the attention kernels alone); then only the two
        // overview passes are timed.
        let (run, packed) = s.prepare(&input, OVERVIEW_BINS);
        let mut encoder = s.ctx.device.create_command_encoder(&Default::default());
        s.attention.encode(&mut encoder, &run.attention);
        s.ctx.queue.submit([encoder.finish()]);
        wait(&s.ctx);
        let params = packed.params();
        let bins = context::overview_bins(params.n(), OVERVIEW_BINS);
        // The CPU overview at 16k is nearly all of `end_to_end/cpu/16k` (~8 s a run here): not
        // timed twice.
        if budget < MAX_CONTEXT_TOKENS {
            let projections = attention::project(&packed);
            // Zeroed past `bins`: the whole map, from row 0.
            let overview_params = OverviewParams {
                bins,
                ..bytemuck::Zeroable::zeroed()
            };
            group.bench_function(BenchmarkId::new("cpu", name), |b| {
                b.iter(|| {
                    let (q, k) = (&projections.q, &projections.k);
                    let stats = overview::row_stats(params, q, k, packed.key_mask());
                    overview::bins(params, &overview_params, q, k, packed.key_mask(), &stats)
                });
            });
        }
        let map = run
            .overview
            .as_ref()
            .unwrap_or_else(|| panic!("no overview"));
        let reduce = || {
            let mut encoder = s.ctx.device.create_command_encoder(&Default::default());
            s.overview.encode(&mut encoder, map);
            s.ctx.queue.submit([encoder.finish()]);
            wait(&s.ctx);
        };
        if s.bench_slow || budget <= SOFTWARE_BENCH_MAX_TOKENS {
            group.bench_function(BenchmarkId::new("gpu", name), |b| b.iter(reduce));
        } else {
            once(&format!("context/overview/gpu/{name}"), reduce);
        }
    }
    group.finish();
}

criterion_group!(benches, end_to_end, overview_alone);
criterion_main!(benches);
