//! A real language model on the GPU: the forward pass of `model::llm` as WGSL compute kernels
//! (`shaders/llm_*.wgsl`), over a KV cache, with the attention captures the views read.
//!
//! One forward pass, for a chunk of at most [`CHUNK`] new tokens (a longer prompt runs chunk by
//! chunk over the cache, so the scratch buffers stay small whatever the context):
//! ```text
//! embed ─┬─ for each layer: rms_norm → gemm/gemv W_QKV → rope (+ cache) → attention (+ captures)
//!        │                  → gemm/gemv W_O (+= x) → rms_norm → gemm/gemv W_gate|up → swiglu
//!        │                  → gemm/gemv W_down (+= x)
//!        └─ last chunk: rms_norm (last token) → gemv W_out → top_k
//! ```
//! W_Q, W_K and W_V are stacked into one matrix at load (as are W_gate and W_up), so each token
//! reads its input once per block. Weights stay in their GGUF blocks; nothing is dequantised to a
//! float copy. Every pipeline and every weight buffer is made once; the activation buffers and
//! their bind groups once per context capacity.
//!
//! Nothing here waits: results come back through [`PendingFloats`], which a frame polls and the
//! command line waits on.

use bytemuck::{Pod, Zeroable};
use wgpu::util::DeviceExt;

use super::context::GpuContext;
use super::error::GpuError;
use super::kernel::{Access, Kernel};
use super::readback::PendingFloats;
use crate::model::llm::forward::{Capture, OVERVIEW_BINS};
use crate::model::llm::quant::{words_per_block, QuantMatrix};
use crate::model::llm::{LlamaConfig, LlamaModel};

// Each source is the shader's file followed by the shared pieces (shaders/shared/) named on its
// first line; the file comes first, so naga reports its errors at the file's own line numbers.

/// The matrix kernels (GEMV, tiled GEMM, embedding lookup).
pub const MATMUL_WGSL: &str = concat!(
    include_str!("../../shaders/llm_matmul.wgsl"),
    include_str!("../../shaders/shared/llm_params.wgsl"),
);
/// RMSNorm.
pub const RMS_NORM_WGSL: &str = concat!(
    include_str!("../../shaders/llm_rms_norm.wgsl"),
    include_str!("../../shaders/shared/llm_params.wgsl"),
    include_str!("../../shaders/shared/reduce.wgsl"),
);
/// RoPE and the KV cache store.
pub const ROPE_WGSL: &str = concat!(
    include_str!("../../shaders/llm_rope.wgsl"),
    include_str!("../../shaders/shared/llm_params.wgsl"),
    include_str!("../../shaders/shared/llm_layer_params.wgsl"),
);
/// Causal grouped-query attention with captures.
pub const ATTENTION_WGSL: &str = concat!(
    include_str!("../../shaders/llm_attention.wgsl"),
    include_str!("../../shaders/shared/llm_params.wgsl"),
    include_str!("../../shaders/shared/llm_layer_params.wgsl"),
    include_str!("../../shaders/shared/lowest_finite.wgsl"),
    include_str!("../../shaders/shared/online_softmax.wgsl"),
);
/// One head's full map, by bands.
pub const ATTENTION_MAP_WGSL: &str = concat!(
    include_str!("../../shaders/llm_attention_map.wgsl"),
    include_str!("../../shaders/shared/lowest_finite.wgsl"),
    include_str!("../../shaders/shared/online_softmax.wgsl"),
);
/// The overview's reduction.
pub const OVERVIEW_WGSL: &str = concat!(
    include_str!("../../shaders/llm_overview.wgsl"),
    include_str!("../../shaders/shared/llm_params.wgsl"),
    include_str!("../../shaders/shared/llm_layer_params.wgsl"),
);
/// SwiGLU.
pub const SWIGLU_WGSL: &str = concat!(
    include_str!("../../shaders/llm_swiglu.wgsl"),
    include_str!("../../shaders/shared/llm_params.wgsl"),
);
/// Softmax and top-k of the logits.
pub const TOP_K_WGSL: &str = concat!(
    include_str!("../../shaders/llm_top_k.wgsl"),
    include_str!("../../shaders/shared/llm_params.wgsl"),
    include_str!("../../shaders/shared/lowest_finite.wgsl"),
    include_str!("../../shaders/shared/reduce.wgsl"),
);

/// Lanes of the row kernels (RMSNorm, attention, the map, the overview): one per output
/// dimension of a 64-wide head; the loop bounds below assume it.
pub const LANES: usize = 64;
/// New tokens per forward chunk.
pub const CHUNK: usize = 512;
/// Loop iterations one invocation may run: Mesa's lavapipe silently stops an invocation after
/// 65,535 (../shared/TESTING.md); every request is checked against this before it is dispatched.
pub const LOOP_BOUND: u64 = 65_535;
/// Candidates the top-k kernel can return.
pub const MAX_TOP_K: usize = crate::model::llm::sample::MAX_TOP_K;
const CAPTURE_FOCUS: u32 = 1;
const CAPTURE_OVERVIEW: u32 = 2;

/// The per-pass uniform every LLM kernel reads. Keep in sync with `LlmParams` in
/// `shaders/shared/llm_params.wgsl` (tests/shaders.rs checks the layout).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct LlmParams {
    pub d_model: u32,
    pub q_width: u32,
    pub kv_width: u32,
    pub ffn: u32,
    pub heads: u32,
    pub kv_heads: u32,
    pub d_head: u32,
    pub group: u32,
    pub rope_dim: u32,
    pub vocab: u32,
    /// New tokens in this chunk.
    pub n_tokens: u32,
    /// Positions before this chunk.
    pub past: u32,
    /// Positions the whole pass ends with (the captures' column count).
    pub context: u32,
    /// Position of the focus token.
    pub focus: u32,
    /// Bit 0: the focus rows; bit 1: the overview.
    pub capture: u32,
    pub row_bins: u32,
    pub col_bins: u32,
    /// New tokens of the whole pass (the overview's row binning).
    pub total_rows: u32,
    /// Index of this chunk's first token among them.
    pub rows_start: u32,
    pub top_k: u32,
    pub rms_eps: f32,
    pub log2_rope_base: f32,
    /// 1 / √d_head.
    pub scale: f32,
    pub temperature: f32,
}

/// One matrix's shape. Keep in sync with `MatmulShape` in `shaders/llm_matmul.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct MatmulShape {
    pub rows: u32,
    pub cols: u32,
    pub blocks_per_row: u32,
    pub kind: u32,
    pub words_per_block: u32,
    pub accumulate: u32,
    /// Floats per token row of the output.
    pub y_stride: u32,
    /// Where this matrix's rows start in an output row.
    pub y_offset: u32,
}

/// Which rows a norm normalises. Keep in sync with `NormShape` in `shaders/llm_rms_norm.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct NormShape {
    pub last_only: u32,
    pub pad0: u32,
    pub pad1: u32,
    pub pad2: u32,
}

/// One layer's constants. Keep in sync with `LayerParams` in
/// `shaders/shared/llm_layer_params.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct LayerParams {
    pub layer: u32,
    pub map_layer: u32,
    pub map_head: u32,
    pub pad0: u32,
}

/// A band of one head's map. Keep in sync with `MapParams` in `shaders/llm_attention_map.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, Pod, Zeroable)]
pub struct MapParams {
    pub band_start: u32,
    pub band_rows: u32,
    pub cols: u32,
    pub d_head: u32,
    pub kv_width: u32,
    pub kv_offset: u32,
    pub scale: f32,
    pub pad0: u32,
}

/// Every LLM pipeline, built once per device.
#[derive(Debug)]
struct Pipelines {
    gemv: Kernel,
    gemm: Kernel,
    embed: Kernel,
    rms_norm: Kernel,
    rope: Kernel,
    attention: Kernel,
    attention_map: Kernel,
    overview: Kernel,
    swiglu: Kernel,
    top_k: Kernel,
}

impl Pipelines {
    fn new(device: &wgpu::Device) -> Self {
        use Access::{Read, ReadWrite, Uniform};
        let gemv = Kernel::with_entry(
            device,
            "llm_gemv",
            MATMUL_WGSL,
            "gemv",
            &[Uniform, Read, Read, ReadWrite, Uniform],
        );
        let gemm = gemv.sibling(device, "llm_gemm", MATMUL_WGSL, "gemm");
        Self {
            gemv,
            gemm,
            embed: Kernel::with_entry(
                device,
                "llm_embed",
                MATMUL_WGSL,
                "embed",
                &[Uniform, Read, Read, ReadWrite, Uniform, Read],
            ),
            rms_norm: Kernel::new(
                device,
                "llm_rms_norm",
                RMS_NORM_WGSL,
                &[Uniform, Uniform, Read, Read, ReadWrite],
            ),
            rope: Kernel::new(
                device,
                "llm_rope",
                ROPE_WGSL,
                &[
                    Uniform, Uniform, Read, ReadWrite, ReadWrite, ReadWrite, ReadWrite,
                ],
            ),
            attention: Kernel::new(
                device,
                "llm_attention",
                ATTENTION_WGSL,
                &[
                    Uniform, Uniform, Read, Read, Read, ReadWrite, ReadWrite, ReadWrite,
                ],
            ),
            attention_map: Kernel::new(
                device,
                "llm_attention_map",
                ATTENTION_MAP_WGSL,
                &[Uniform, Read, Read, ReadWrite],
            ),
            overview: Kernel::new(
                device,
                "llm_overview",
                OVERVIEW_WGSL,
                &[Uniform, Uniform, Read, ReadWrite],
            ),
            swiglu: Kernel::new(
                device,
                "llm_swiglu",
                SWIGLU_WGSL,
                &[Uniform, Read, ReadWrite],
            ),
            top_k: Kernel::new(device, "llm_top_k", TOP_K_WGSL, &[Uniform, Read, ReadWrite]),
        }
    }
}

/// A matrix on the GPU: its repacked words and its shape uniform.
#[derive(Debug)]
struct GpuMatrix {
    shape: MatmulShape,
    shape_buffer: wgpu::Buffer,
    words: wgpu::Buffer,
}

/// One layer's weights on the GPU.
#[derive(Debug)]
struct GpuLayer {
    params: wgpu::Buffer,
    attn_norm: wgpu::Buffer,
    /// W_Q|W_K|W_V: one stacked matrix, or three writing into one q|k|v row when their types
    /// differ.
    qkv: Vec<GpuMatrix>,
    wo: GpuMatrix,
    ffn_norm: wgpu::Buffer,
    /// W_gate|W_up, likewise.
    gate_up: Vec<GpuMatrix>,
    down: GpuMatrix,
}

/// The activations, the KV cache and the capture buffers for one context capacity, with the
/// bind groups that tie them to the weights. Some buffers are only ever read through the bind
/// groups; they are held here anyway so that what a capacity costs is in one place.
#[derive(Debug)]
#[allow(dead_code)]
struct State {
    capacity: usize,
    token_ids: wgpu::Buffer,
    x: wgpu::Buffer,
    h: wgpu::Buffer,
    qkv: wgpu::Buffer,
    q: wgpu::Buffer,
    attended: wgpu::Buffer,
    gate_up: wgpu::Buffer,
    ffn_h: wgpu::Buffer,
    k_cache: Vec<wgpu::Buffer>,
    v_cache: Vec<wgpu::Buffer>,
    q_capture: wgpu::Buffer,
    focus_rows: wgpu::Buffer,
    row_bins: wgpu::Buffer,
    overview: wgpu::Buffer,
    final_h: wgpu::Buffer,
    logits: wgpu::Buffer,
    top: wgpu::Buffer,
    groups: Groups,
    bytes: u64,
}

/// Bind groups, made once per capacity.
#[derive(Debug)]
struct Groups {
    embed: wgpu::BindGroup,
    layers: Vec<LayerGroups>,
    final_norm: wgpu::BindGroup,
    logits: wgpu::BindGroup,
    top_k: wgpu::BindGroup,
}

#[derive(Debug)]
struct LayerGroups {
    attn_norm: wgpu::BindGroup,
    qkv: Vec<wgpu::BindGroup>,
    rope: wgpu::BindGroup,
    attention: wgpu::BindGroup,
    overview: wgpu::BindGroup,
    wo: wgpu::BindGroup,
    ffn_norm: wgpu::BindGroup,
    gate_up: Vec<wgpu::BindGroup>,
    swiglu: wgpu::BindGroup,
    down: wgpu::BindGroup,
}

/// A step of one layer's forward pass (where a probe stops).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// The embedding lookup (before layer 0).
    Embed,
    /// RMSNorm before attention.
    AttnNorm,
    /// The q|k|v projection.
    Qkv,
    /// RoPE and the cache store.
    Rope,
    /// Attention.
    Attention,
    /// The output projection added to the residual stream.
    Wo,
    /// RMSNorm before the feed-forward block.
    FfnNorm,
    /// The gate|up projection.
    GateUp,
    /// SwiGLU.
    Swiglu,
    /// The down projection added to the residual stream.
    Down,
}

/// Where a probe stops: after `stage` of `layer`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stop {
    /// The layer (0 for [`Stage::Embed`]).
    pub layer: usize,
    /// The step.
    pub stage: Stage,
}

/// Every activation buffer of a probe, read back (`[token][width]` each; the caches
/// `[position][kv_width]` of the probed layer).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Probe {
    pub x: Vec<f32>,
    pub h: Vec<f32>,
    pub qkv: Vec<f32>,
    pub q: Vec<f32>,
    pub attended: Vec<f32>,
    pub gate_up: Vec<f32>,
    pub ffn_h: Vec<f32>,
    pub k_cache: Vec<f32>,
    pub v_cache: Vec<f32>,
}

/// What a pass should read back.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Readback {
    /// The whole logit vector (`gaze inspect`, `gaze verify`), not only the top k.
    pub logits: bool,
    /// Candidates for the next token (1 to [`MAX_TOP_K`]).
    pub top_k: usize,
    /// Softmax temperature of the candidates' probabilities.
    pub temperature: f32,
}

impl Default for Readback {
    fn default() -> Self {
        Self {
            logits: false,
            top_k: 10,
            temperature: 1.0,
        }
    }
}

/// The results of a GPU forward pass, once read back.
#[derive(Clone, Debug, PartialEq)]
pub struct GpuForward {
    /// The next token's candidates (id, probability), most likely first.
    pub top: Vec<(u32, f32)>,
    /// Every logit, when asked for.
    pub logits: Option<Vec<f32>>,
    /// Positions after this pass.
    pub context: usize,
    /// The focus token (0-based among the new ones).
    pub focus: usize,
    /// `[layer][head][context]`: the focus token's attention row, every layer and head.
    pub focus_rows: Vec<f32>,
    /// `[layer][head][row_bin][col_bin]`, when asked for, with its bin counts.
    pub overview: Option<(usize, usize, Vec<f32>)>,
}

/// A forward pass whose results are on their way back.
#[derive(Debug)]
pub struct PendingForward {
    floats: PendingFloats,
    layout: ForwardLayout,
}

/// What a pending pass's buffers hold, in order.
#[derive(Clone, Copy, Debug)]
struct ForwardLayout {
    top_k: usize,
    logits: bool,
    context: usize,
    focus: usize,
    overview: Option<(usize, usize)>,
}

impl PendingForward {
    /// Polls once without waiting (a frame's call): true when the results are in.
    pub fn poll(&self, ctx: &GpuContext) -> Result<bool, GpuError> {
        self.floats.poll(ctx)
    }

    /// The results, once [`Self::poll`] said so.
    pub fn take(self) -> Result<GpuForward, GpuError> {
        self.layout.decode(self.floats.take()?)
    }

    /// Blocks until the results are in (command line and tests; never in a frame).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn wait(self, ctx: &GpuContext) -> Result<GpuForward, GpuError> {
        self.layout.decode(self.floats.wait(ctx)?)
    }
}

impl ForwardLayout {
    fn decode(self, values: Vec<Vec<f32>>) -> Result<GpuForward, GpuError> {
        let mut values = values.into_iter();
        let short = || GpuError::Readback("a forward pass came back short".into());
        let top_words = values.next().ok_or_else(short)?;
        // Ids travel as the bits of f32 words; u32::MAX marks "no candidate" (a tiny vocabulary).
        let top = top_words
            .chunks_exact(2)
            .take(self.top_k)
            .filter_map(|pair| match pair {
                [id, p] if id.to_bits() != u32::MAX => Some((id.to_bits(), *p)),
                _ => None,
            })
            .collect();
        let focus_rows = values.next().ok_or_else(short)?;
        let logits = if self.logits {
            Some(values.next().ok_or_else(short)?)
        } else {
            None
        };
        let overview = match self.overview {
            Some((rows, cols)) => Some((rows, cols, values.next().ok_or_else(short)?)),
            None => None,
        };
        Ok(GpuForward {
            top,
            logits,
            context: self.context,
            focus: self.focus,
            focus_rows,
            overview,
        })
    }
}

/// A model on one device: its weights, its pipelines, and its KV cache.
#[derive(Debug)]
pub struct LlmGpu {
    config: LlamaConfig,
    pipelines: Pipelines,
    params: wgpu::Buffer,
    embedding: GpuMatrix,
    output: Option<GpuMatrix>,
    output_norm: wgpu::Buffer,
    layers: Vec<GpuLayer>,
    norm_all: wgpu::Buffer,
    norm_last: wgpu::Buffer,
    weight_bytes: u64,
    state: Option<State>,
    /// Positions in the KV cache.
    cache_len: usize,
    /// The layer whose queries `q_capture` holds, and the head, after a pass that captured.
    captured_map: Option<(usize, usize, usize)>,
}

impl LlmGpu {
    /// Uploads `model`'s weights (stacking W_Q|W_K|W_V and W_gate|W_up) and builds the pipelines.
    pub fn new(ctx: &GpuContext, model: &LlamaModel) -> Result<Self, GpuError> {
        let c = &model.config;
        check_model_limits(ctx, c)?;
        ctx.scoped(|| -> Result<Self, GpuError> {
            let device = &ctx.device;
            let upload_part = |name: &str,
                               m: &QuantMatrix,
                               accumulate: bool,
                               y_stride: usize,
                               y_offset: usize| {
                let shape = MatmulShape {
                    rows: m.rows as u32,
                    cols: m.cols as u32,
                    blocks_per_row: m.blocks_per_row() as u32,
                    kind: m.kind.ggml_id(),
                    words_per_block: words_per_block(m.kind) as u32,
                    accumulate: u32::from(accumulate),
                    y_stride: y_stride as u32,
                    y_offset: y_offset as u32,
                };
                upload_matrix(ctx, name, shape, &m.words)
            };
            let upload_fused =
                |name: &str, parts: &[&QuantMatrix]| -> Result<Vec<GpuMatrix>, GpuError> {
                    let stride: usize = parts.iter().map(|m| m.rows).sum();
                    let mut offset = 0;
                    fuse(parts)
                        .iter()
                        .map(|m| {
                            let gpu = upload_part(name, m, false, stride, offset);
                            offset += m.rows;
                            gpu
                        })
                        .collect()
                };
            let mut layers = Vec::with_capacity(c.layers);
            for (l, layer) in model.layers.iter().enumerate() {
                let qkv = upload_fused(
                    &format!("blk.{l} W_Q|W_K|W_V"),
                    &[&layer.wq, &layer.wk, &layer.wv],
                )?;
                let gate_up = upload_fused(
                    &format!("blk.{l} W_gate|W_up"),
                    &[&layer.w_gate, &layer.w_up],
                )?;
                let single = |m: &QuantMatrix| (m.rows, 0);
                layers.push(GpuLayer {
                    params: uniform(
                        device,
                        "llm layer",
                        &LayerParams {
                            layer: l as u32,
                            ..Default::default()
                        },
                    ),
                    attn_norm: storage_init(device, "attn_norm", &layer.attn_norm),
                    qkv,
                    wo: {
                        let (stride, offset) = single(&layer.wo);
                        upload_part("wo", &layer.wo, true, stride, offset)?
                    },
                    ffn_norm: storage_init(device, "ffn_norm", &layer.ffn_norm),
                    gate_up,
                    down: {
                        let (stride, offset) = single(&layer.w_down);
                        upload_part("down", &layer.w_down, true, stride, offset)?
                    },
                });
            }
            let embedding = upload_part(
                "token_embd",
                &model.embedding,
                false,
                model.embedding.rows,
                0,
            )?;
            let output = match &model.output {
                Some(m) => Some(upload_part("output", m, false, m.rows, 0)?),
                None => None,
            };
            Ok(Self {
                config: c.clone(),
                pipelines: Pipelines::new(device),
                params: device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("llm params"),
                    size: std::mem::size_of::<LlmParams>() as u64,
                    usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                }),
                embedding,
                output,
                output_norm: storage_init(device, "output_norm", &model.output_norm),
                layers,
                norm_all: uniform(device, "norm all", &NormShape::default()),
                norm_last: uniform(
                    device,
                    "norm last",
                    &NormShape {
                        last_only: 1,
                        ..Default::default()
                    },
                ),
                weight_bytes: model.weight_bytes() as u64,
                state: None,
                cache_len: 0,
                captured_map: None,
            })
        })?
    }

    /// The hyper-parameters.
    pub fn config(&self) -> &LlamaConfig {
        &self.config
    }

    /// Bytes of GPU memory this model holds now: weights, cache, activations and captures.
    pub fn bytes_allocated(&self) -> u64 {
        self.weight_bytes + self.state.as_ref().map_or(0, |s| s.bytes)
    }

    /// Bytes of the weights alone (what decoding one token reads).
    pub fn weight_bytes(&self) -> u64 {
        self.weight_bytes
    }

    /// Positions in the KV cache.
    pub fn cache_len(&self) -> usize {
        self.cache_len
    }

    /// Forgets the cache: the next pass starts at position 0.
    pub fn reset(&mut self) {
        self.cache_len = 0;
        self.captured_map = None;
    }

    /// Forgets every position from `len` on (a decode step can then be run again from there);
    /// a longer `len` than the cache holds changes nothing.
    pub fn rewind(&mut self, len: usize) {
        self.cache_len = self.cache_len.min(len);
        self.captured_map = None;
    }

    /// Makes room for `capacity` positions (the prompt and everything generated after it);
    /// what the cache held is kept only when the capacity does not change.
    pub fn reserve(&mut self, ctx: &GpuContext, capacity: usize) -> Result<(), GpuError> {
        if self.state.as_ref().is_some_and(|s| s.capacity >= capacity) {
            return Ok(());
        }
        if capacity > self.config.context {
            return Err(GpuError::Model(format!(
                "the prompt and continuation need {capacity} tokens, but this model's context is {}",
                self.config.context
            )));
        }
        self.state = None;
        self.cache_len = 0;
        self.captured_map = None;
        let state = self.allocate(ctx, capacity)?;
        self.state = Some(state);
        Ok(())
    }

    /// Runs `tokens` after what the cache holds, and starts reading back what `readback` asks
    /// for plus the captures `capture` asks for. Records one submission per [`CHUNK`] of tokens.
    pub fn forward(
        &mut self,
        ctx: &GpuContext,
        tokens: &[u32],
        capture: &Capture,
        readback: Readback,
    ) -> Result<PendingForward, GpuError> {
        let c = self.config.clone();
        let past0 = self.cache_len;
        let n = tokens.len();
        if n == 0 {
            return Err(GpuError::Model(
                "the prompt is empty: give the model at least one token".into(),
            ));
        }
        if let Some(&id) = tokens.iter().find(|&&t| t as usize >= c.vocab) {
            return Err(GpuError::Model(format!(
                "token id {id} is past the vocabulary ({} tokens)",
                c.vocab
            )));
        }
        crate::model::llm::forward::check_capture(&c, capture, n)
            .map_err(|e| GpuError::Model(e.to_string()))?;
        if !(1..=MAX_TOP_K).contains(&readback.top_k) {
            return Err(GpuError::Model(format!(
                "top-k is 1 to {MAX_TOP_K}, not {}",
                readback.top_k
            )));
        }
        let context = past0 + n;
        // Growing the buffers drops the cache, so only a pass from position 0 may grow them: a
        // pass after cached positions that would not fit is refused, never run over a cache
        // that was silently emptied (its logits would be those of a different prompt).
        let capacity = self.state.as_ref().map_or(0, |s| s.capacity);
        if past0 > 0 && context > capacity {
            return Err(GpuError::Model(format!(
                "{n} more tokens after the {past0} cached ones need room for {context} \
                 positions, but the cache was reserved for {capacity}: reserve the prompt and \
                 its whole continuation before the first pass (or reset and run it again)"
            )));
        }
        self.reserve(ctx, context)?;
        self.check_loop_bounds(context, readback.top_k)?;
        let focus = capture.focus.unwrap_or(n - 1);
        let (row_bins, col_bins) = (n.min(OVERVIEW_BINS), context.min(OVERVIEW_BINS));
        let map_layer = capture.map;
        let Some(state) = self.state.as_ref() else {
            return Err(GpuError::Readback("no GPU state after reserve".into()));
        };
        // The captured layer's constants say whether to keep its queries.
        for (l, layer) in self.layers.iter().enumerate() {
            let params = LayerParams {
                layer: l as u32,
                map_layer: u32::from(map_layer.is_some_and(|(ml, _)| ml == l)),
                map_head: map_layer.map_or(0, |(_, h)| h as u32),
                pad0: 0,
            };
            ctx.queue
                .write_buffer(&layer.params, 0, bytemuck::bytes_of(&params));
        }
        let mut capture_bits = CAPTURE_FOCUS;
        if capture.overview {
            capture_bits |= CAPTURE_OVERVIEW;
        }
        let base = LlmParams {
            context: context as u32,
            focus: (past0 + focus) as u32,
            capture: capture_bits,
            row_bins: row_bins as u32,
            col_bins: col_bins as u32,
            ..self.base_params(n, readback.top_k, readback.temperature)
        };
        let focus_len = (c.layers * c.heads * context) as u64 * 4;
        let overview_len = (c.layers * c.heads * row_bins * col_bins) as u64 * 4;
        let chunks: Vec<(usize, usize)> = (0..n)
            .step_by(CHUNK)
            .map(|s| (s, (s + CHUNK).min(n)))
            .collect();
        let last_chunk = chunks.len().saturating_sub(1);
        let mut final_encoder = None;
        for (index, &(start, end)) in chunks.iter().enumerate() {
            let rows = end - start;
            let params = LlmParams {
                n_tokens: rows as u32,
                past: (past0 + start) as u32,
                rows_start: start as u32,
                ..base
            };
            ctx.queue
                .write_buffer(&self.params, 0, bytemuck::bytes_of(&params));
            let chunk_ids = tokens.get(start..end).unwrap_or(&[]);
            ctx.queue
                .write_buffer(&state.token_ids, 0, bytemuck::cast_slice(chunk_ids));
            let mut encoder = ctx
                .device
                .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                    label: Some("llm forward"),
                });
            if index == 0 {
                encoder.clear_buffer(&state.focus_rows, 0, Some(focus_len.max(4)));
                if capture.overview {
                    encoder.clear_buffer(&state.overview, 0, Some(overview_len.max(4)));
                }
            }
            let overview_rows = capture.overview.then_some(row_bins as u32);
            self.encode_chunk(
                &mut encoder,
                state,
                rows,
                overview_rows,
                index == last_chunk,
                None,
            );
            if index == last_chunk {
                final_encoder = Some(encoder);
            } else {
                ctx.queue.submit([encoder.finish()]);
            }
        }
        let encoder = final_encoder.ok_or_else(|| GpuError::Readback("no chunk to run".into()))?;
        let mut sources: Vec<(&wgpu::Buffer, usize)> = vec![
            (&state.top, 2 * readback.top_k),
            (&state.focus_rows, c.layers * c.heads * context),
        ];
        if readback.logits {
            sources.push((&state.logits, c.vocab));
        }
        if capture.overview {
            sources.push((&state.overview, c.layers * c.heads * row_bins * col_bins));
        }
        let floats = PendingFloats::start(ctx, encoder, &sources)?;
        self.cache_len = context;
        self.captured_map = map_layer.map(|(l, h)| (l, h, context));
        Ok(PendingForward {
            floats,
            layout: ForwardLayout {
                top_k: readback.top_k,
                logits: readback.logits,
                context,
                focus,
                overview: capture.overview.then_some((row_bins, col_bins)),
            },
        })
    }

    /// Records one chunk of `rows` tokens (the params uniform already says which).
    fn encode_chunk(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        state: &State,
        rows: usize,
        overview_rows: Option<u32>,
        last: bool,
        stop: Option<Stop>,
    ) {
        let reached = |layer: usize, stage: Stage| stop == Some(Stop { layer, stage });
        let c = &self.config;
        let p = &self.pipelines;
        let g = &state.groups;
        let rows32 = rows as u32;
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("llm forward"),
            timestamp_writes: None,
        });
        let mut run = |kernel: &Kernel, group: &wgpu::BindGroup, x: u32, y: u32| {
            pass.set_pipeline(&kernel.pipeline);
            pass.set_bind_group(0, group, &[]);
            pass.dispatch_workgroups(x.max(1), y.max(1), 1);
        };
        let matmul = |run: &mut dyn FnMut(&Kernel, &wgpu::BindGroup, u32, u32),
                      m: &GpuMatrix,
                      group: &wgpu::BindGroup| {
            if rows == 1 {
                let (x, y) = split_groups(m.shape.rows.div_ceil(8));
                run(&p.gemv, group, x, y);
            } else {
                run(
                    &p.gemm,
                    group,
                    m.shape.rows.div_ceil(64),
                    rows32.div_ceil(32),
                );
            }
        };
        run(&p.embed, &g.embed, (c.d_model as u32).div_ceil(256), rows32);
        if reached(0, Stage::Embed) {
            return;
        }
        let qkv_pairs = ((c.q_width() + 2 * c.kv_width()) / 2) as u32;
        for (l, (layer, lg)) in self.layers.iter().zip(&g.layers).enumerate() {
            run(&p.rms_norm, &lg.attn_norm, rows32, 1);
            if reached(l, Stage::AttnNorm) {
                return;
            }
            for (m, group) in layer.qkv.iter().zip(&lg.qkv) {
                matmul(&mut run, m, group);
            }
            if reached(l, Stage::Qkv) {
                return;
            }
            run(&p.rope, &lg.rope, qkv_pairs.div_ceil(64), rows32);
            if reached(l, Stage::Rope) {
                return;
            }
            run(&p.attention, &lg.attention, rows32, c.heads as u32);
            if let Some(row_bins) = overview_rows {
                run(&p.overview, &lg.overview, row_bins, c.heads as u32);
            }
            if reached(l, Stage::Attention) {
                return;
            }
            matmul(&mut run, &layer.wo, &lg.wo);
            if reached(l, Stage::Wo) {
                return;
            }
            run(&p.rms_norm, &lg.ffn_norm, rows32, 1);
            if reached(l, Stage::FfnNorm) {
                return;
            }
            for (m, group) in layer.gate_up.iter().zip(&lg.gate_up) {
                matmul(&mut run, m, group);
            }
            if reached(l, Stage::GateUp) {
                return;
            }
            run(&p.swiglu, &lg.swiglu, (c.ffn as u32).div_ceil(256), rows32);
            if reached(l, Stage::Swiglu) {
                return;
            }
            matmul(&mut run, &layer.down, &lg.down);
            if reached(l, Stage::Down) {
                return;
            }
        }
        if last {
            run(&p.rms_norm, &g.final_norm, 1, 1);
            let out = self.output.as_ref().unwrap_or(&self.embedding);
            let (x, y) = split_groups(out.shape.rows.div_ceil(8));
            run(&p.gemv, &g.logits, x, y);
            run(&p.top_k, &g.top_k, 1, 1);
        }
    }

    /// Runs `tokens` (one chunk, from an empty cache) up to and including `stop`, and reads back
    /// every activation buffer as it is then: what `gaze verify --model` compares kernel by
    /// kernel with the CPU twins (command line and tests; it waits).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn probe(
        &mut self,
        ctx: &GpuContext,
        tokens: &[u32],
        stop: Stop,
    ) -> Result<Probe, GpuError> {
        let c = self.config.clone();
        let n = tokens.len();
        if n == 0 || n > CHUNK {
            return Err(GpuError::Model(format!(
                "a probe runs 1 to {CHUNK} tokens, not {n}"
            )));
        }
        if stop.layer >= c.layers {
            return Err(GpuError::Model(format!(
                "layer {} of {}",
                stop.layer, c.layers
            )));
        }
        self.reset();
        self.reserve(ctx, n)?;
        let Some(state) = self.state.as_ref() else {
            return Err(GpuError::Readback("no GPU state after reserve".into()));
        };
        let params = LlmParams {
            n_tokens: n as u32,
            context: n as u32,
            focus: u32::MAX,
            capture: 0,
            total_rows: n as u32,
            top_k: 1,
            ..self.base_params(n, 1, 1.0)
        };
        ctx.queue
            .write_buffer(&self.params, 0, bytemuck::bytes_of(&params));
        ctx.queue
            .write_buffer(&state.token_ids, 0, bytemuck::cast_slice(tokens));
        let mut encoder = ctx
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("llm probe"),
            });
        self.encode_chunk(&mut encoder, state, n, None, false, Some(stop));
        let (k, v) = match (state.k_cache.get(stop.layer), state.v_cache.get(stop.layer)) {
            (Some(k), Some(v)) => (k, v),
            _ => {
                return Err(GpuError::Model(format!(
                    "layer {} has no cache",
                    stop.layer
                )))
            }
        };
        let sources = [
            (&state.x, n * c.d_model),
            (&state.h, n * c.d_model),
            (&state.qkv, n * (c.q_width() + 2 * c.kv_width())),
            (&state.q, n * c.q_width()),
            (&state.attended, n * c.q_width()),
            (&state.gate_up, n * 2 * c.ffn),
            (&state.ffn_h, n * c.ffn),
            (k, n * c.kv_width()),
            (v, n * c.kv_width()),
        ];
        let mut values = PendingFloats::start(ctx, encoder, &sources)?
            .wait(ctx)?
            .into_iter();
        let mut next = || values.next().unwrap_or_default();
        Ok(Probe {
            x: next(),
            h: next(),
            qkv: next(),
            q: next(),
            attended: next(),
            gate_up: next(),
            ffn_h: next(),
            k_cache: next(),
            v_cache: next(),
        })
    }

    /// The uniform's model-wide fields (the per-chunk ones zero).
    fn base_params(&self, n: usize, top_k: usize, temperature: f32) -> LlmParams {
        let c = &self.config;
        LlmParams {
            d_model: c.d_model as u32,
            q_width: c.q_width() as u32,
            kv_width: c.kv_width() as u32,
            ffn: c.ffn as u32,
            heads: c.heads as u32,
            kv_heads: c.kv_heads as u32,
            d_head: c.d_head as u32,
            group: c.group() as u32,
            rope_dim: c.rope_dim as u32,
            vocab: c.vocab as u32,
            total_rows: n as u32,
            top_k: top_k as u32,
            rms_eps: c.rms_eps,
            log2_rope_base: c.rope_base.log2(),
            scale: 1.0 / (c.d_head as f32).sqrt(),
            temperature: if temperature > 0.0 { temperature } else { 1.0 },
            ..LlmParams::default()
        }
    }

    /// Reads back rows `band_start .. band_start + band_rows` of the captured head's full map
    /// (every row has `context` columns). The last pass must have captured a map.
    pub fn map_band(
        &self,
        ctx: &GpuContext,
        band_start: usize,
        band_rows: usize,
    ) -> Result<PendingFloats, GpuError> {
        let (layer, head, context) = self.captured_map.ok_or_else(|| {
            GpuError::Model("no attention map was captured by the last pass".into())
        })?;
        let state = self
            .state
            .as_ref()
            .ok_or_else(|| GpuError::Model("nothing has run yet".into()))?;
        if band_rows == 0 || band_start + band_rows > context {
            return Err(GpuError::Model(format!(
                "rows {band_start}..{} of a {context}-row map",
                band_start + band_rows
            )));
        }
        let c = &self.config;
        let bytes = (band_rows * context) as u64 * 4;
        check_binding(
            ctx,
            "one band of the attention map (rows × context f32)",
            bytes,
        )?;
        let k_cache = state
            .k_cache
            .get(layer)
            .ok_or_else(|| GpuError::Model(format!("layer {layer} has no cache")))?;
        let params = MapParams {
            band_start: band_start as u32,
            band_rows: band_rows as u32,
            cols: context as u32,
            d_head: c.d_head as u32,
            kv_width: c.kv_width() as u32,
            kv_offset: ((head / c.group()) * c.d_head) as u32,
            scale: 1.0 / (c.d_head as f32).sqrt(),
            pad0: 0,
        };
        let iterations = 2 * (context as u64).div_ceil(64) * c.d_head as u64 + 32;
        check_loop("llm_attention_map", iterations)?;
        ctx.scoped(|| {
            let device = &ctx.device;
            let params = uniform(device, "map params", &params);
            let band = storage(device, "map band", bytes);
            let group = self
                .pipelines
                .attention_map
                .bind(device, &[&params, &state.q_capture, k_cache, &band]);
            let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("llm map"),
            });
            {
                let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("llm map"),
                    timestamp_writes: None,
                });
                pass.set_pipeline(&self.pipelines.attention_map.pipeline);
                pass.set_bind_group(0, &group, &[]);
                pass.dispatch_workgroups(band_rows as u32, 1, 1);
            }
            PendingFloats::start(ctx, encoder, &[(&band, band_rows * context)])
        })?
    }

    /// The whole captured map, band by band (command line and tests; never in a frame).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn read_map(&self, ctx: &GpuContext) -> Result<Vec<f32>, GpuError> {
        let (_, _, context) = self.captured_map.ok_or_else(|| {
            GpuError::Model("no attention map was captured by the last pass".into())
        })?;
        let limit = ctx.limits().max_storage_buffer_binding_size as usize / 4;
        let band_rows = (limit / context.max(1)).clamp(1, context).min(4096);
        let mut map = Vec::with_capacity(context * context);
        let mut start = 0;
        while start < context {
            let rows = band_rows.min(context - start);
            let band = self.map_band(ctx, start, rows)?.wait(ctx)?;
            map.extend(band.into_iter().flatten());
            start += rows;
        }
        Ok(map)
    }

    fn check_loop_bounds(&self, context: usize, top_k: usize) -> Result<(), GpuError> {
        let c = &self.config;
        let chunks = (context as u64).div_ceil(64);
        let dims = (c.d_head as u64).div_ceil(64);
        let d_head = c.d_head as u64;
        // Pass 1 scores, then per chunk of 64 keys: a score, the weighted values, the bins.
        check_loop(
            "llm_attention",
            chunks * d_head + chunks * (d_head + 64 * dims + 64) + 8,
        )?;
        check_loop(
            "llm_top_k",
            (top_k as u64 + 2) * (c.vocab as u64).div_ceil(256) + 32,
        )?;
        let widest = c.d_model.max(c.ffn).max(c.q_width()) as u64 / 32;
        check_loop("llm_gemm", widest * (8 + 4 + 32 * 8))?;
        Ok(())
    }

    fn allocate(&self, ctx: &GpuContext, capacity: usize) -> Result<State, GpuError> {
        let c = &self.config;
        let chunk = CHUNK.min(capacity).max(1);
        let f = 4u64;
        let sizes = [
            (
                "the residual stream (chunk × d_model f32)",
                (chunk * c.d_model) as u64 * f,
            ),
            (
                "the fused q|k|v (chunk × (q + 2 kv) f32)",
                (chunk * (c.q_width() + 2 * c.kv_width())) as u64 * f,
            ),
            (
                "the fused gate|up (chunk × 2 ffn f32)",
                (chunk * 2 * c.ffn) as u64 * f,
            ),
            (
                "one layer's key cache (context × kv_width f32)",
                (capacity * c.kv_width()) as u64 * f,
            ),
            (
                "the focus rows (layers × heads × context f32)",
                (c.layers * c.heads * capacity) as u64 * f,
            ),
            (
                "the overview rows (heads × chunk × 64 f32)",
                (c.heads * chunk * OVERVIEW_BINS) as u64 * f,
            ),
            (
                "the overview (layers × heads × 64 × 64 f32)",
                (c.layers * c.heads * OVERVIEW_BINS * OVERVIEW_BINS) as u64 * f,
            ),
            ("the logits (vocab f32)", c.vocab as u64 * f),
        ];
        for (what, bytes) in sizes {
            check_binding(ctx, what, bytes)?;
        }
        ctx.scoped(|| {
            let device = &ctx.device;
            let mut bytes = 0u64;
            let mut make = |label: &str, len: usize| {
                let size = (len as u64 * 4).max(16);
                bytes += size;
                storage(device, label, size)
            };
            let token_ids = make("token ids", chunk);
            let x = make("x", chunk * c.d_model);
            let h = make("h", chunk * c.d_model);
            let qkv = make("qkv", chunk * (c.q_width() + 2 * c.kv_width()));
            let q = make("q", chunk * c.q_width());
            let attended = make("attended", chunk * c.q_width());
            let gate_up = make("gate_up", chunk * 2 * c.ffn);
            let ffn_h = make("ffn_h", chunk * c.ffn);
            let k_cache: Vec<_> = (0..c.layers)
                .map(|_| make("k cache", capacity * c.kv_width()))
                .collect();
            let v_cache: Vec<_> = (0..c.layers)
                .map(|_| make("v cache", capacity * c.kv_width()))
                .collect();
            let q_capture = make("q capture", capacity * c.d_head);
            let focus_rows = make("focus rows", c.layers * c.heads * capacity);
            let row_bins = make("row bins", c.heads * chunk * OVERVIEW_BINS);
            let overview = make(
                "overview",
                c.layers * c.heads * OVERVIEW_BINS * OVERVIEW_BINS,
            );
            let final_h = make("final h", c.d_model);
            let logits = make("logits", c.vocab);
            let top = make("top", 2 * MAX_TOP_K);
            let p = &self.pipelines;
            let params = &self.params;
            let matmul_group = |m: &GpuMatrix, input: &wgpu::Buffer, output: &wgpu::Buffer| {
                p.gemv
                    .bind(device, &[&m.shape_buffer, &m.words, input, output, params])
            };
            let layers = self
                .layers
                .iter()
                .zip(k_cache.iter().zip(&v_cache))
                .map(|(layer, (k, v))| LayerGroups {
                    attn_norm: p
                        .rms_norm
                        .bind(device, &[&self.norm_all, params, &x, &layer.attn_norm, &h]),
                    qkv: layer
                        .qkv
                        .iter()
                        .map(|m| matmul_group(m, &h, &qkv))
                        .collect(),
                    rope: p
                        .rope
                        .bind(device, &[params, &layer.params, &qkv, &q, k, v, &q_capture]),
                    attention: p.attention.bind(
                        device,
                        &[
                            params,
                            &layer.params,
                            &q,
                            k,
                            v,
                            &attended,
                            &focus_rows,
                            &row_bins,
                        ],
                    ),
                    overview: p
                        .overview
                        .bind(device, &[params, &layer.params, &row_bins, &overview]),
                    wo: matmul_group(&layer.wo, &attended, &x),
                    ffn_norm: p
                        .rms_norm
                        .bind(device, &[&self.norm_all, params, &x, &layer.ffn_norm, &h]),
                    gate_up: layer
                        .gate_up
                        .iter()
                        .map(|m| matmul_group(m, &h, &gate_up))
                        .collect(),
                    swiglu: p.swiglu.bind(device, &[params, &gate_up, &ffn_h]),
                    down: matmul_group(&layer.down, &ffn_h, &x),
                })
                .collect();
            let out = self.output.as_ref().unwrap_or(&self.embedding);
            let groups = Groups {
                embed: p.embed.bind(
                    device,
                    &[
                        &self.embedding.shape_buffer,
                        &self.embedding.words,
                        &h,
                        &x,
                        params,
                        &token_ids,
                    ],
                ),
                layers,
                final_norm: p.rms_norm.bind(
                    device,
                    &[&self.norm_last, params, &x, &self.output_norm, &final_h],
                ),
                logits: matmul_group(out, &final_h, &logits),
                top_k: p.top_k.bind(device, &[params, &logits, &top]),
            };
            State {
                capacity,
                token_ids,
                x,
                h,
                qkv,
                q,
                attended,
                gate_up,
                ffn_h,
                k_cache,
                v_cache,
                q_capture,
                focus_rows,
                row_bins,
                overview,
                final_h,
                logits,
                top,
                groups,
                bytes,
            }
        })
    }
}

/// Matrices that read one input, as the GPU multiplies them: stacked row-wise into one when
/// they share a type (rows are independent, so their words simply follow each other), else each
/// on its own.
fn fuse(parts: &[&QuantMatrix]) -> Vec<QuantMatrix> {
    let same = parts
        .windows(2)
        .all(|w| matches!(w, [a, b] if a.kind == b.kind && a.cols == b.cols));
    match parts.first() {
        Some(first) if same => vec![QuantMatrix {
            kind: first.kind,
            rows: parts.iter().map(|m| m.rows).sum(),
            cols: first.cols,
            words: parts.iter().flat_map(|m| m.words.iter().copied()).collect(),
        }],
        _ => parts.iter().map(|m| (*m).clone()).collect(),
    }
}

/// A 1-D count of workgroups split into (x, y) when it passes the 65,535 a dimension allows.
fn split_groups(groups: u32) -> (u32, u32) {
    if groups <= 65_535 {
        (groups, 1)
    } else {
        let y = groups.div_ceil(65_535);
        (groups.div_ceil(y), y)
    }
}

fn check_loop(kernel: &'static str, iterations: u64) -> Result<(), GpuError> {
    if iterations > LOOP_BOUND {
        return Err(GpuError::LoopBound {
            kernel,
            iterations,
            bound: LOOP_BOUND,
        });
    }
    Ok(())
}

fn check_binding(ctx: &GpuContext, what: &str, bytes: u64) -> Result<(), GpuError> {
    let limits = ctx.limits();
    let allowed = limits
        .max_storage_buffer_binding_size
        .min(limits.max_buffer_size);
    if bytes > allowed {
        return Err(GpuError::LimitExceeded {
            limit: "max_storage_buffer_binding_size",
            what: what.to_owned(),
            requested: bytes,
            allowed,
        });
    }
    Ok(())
}

/// The shapes a model needs of the device, checked before anything is uploaded.
fn check_model_limits(ctx: &GpuContext, c: &LlamaConfig) -> Result<(), GpuError> {
    if !ctx.has_compute() {
        return Err(GpuError::Model(
            "this adapter has no compute shaders (WebGL2): the real model runs on the CPU reference".into(),
        ));
    }
    if c.d_head > 256 {
        return Err(GpuError::Model(format!(
            "heads {} wide: the kernels take up to 256",
            c.d_head
        )));
    }
    Ok(())
}

fn upload_matrix(
    ctx: &GpuContext,
    name: &str,
    shape: MatmulShape,
    words: &[u32],
) -> Result<GpuMatrix, GpuError> {
    check_binding(
        ctx,
        &format!("the weights of {name}"),
        words.len() as u64 * 4,
    )?;
    Ok(GpuMatrix {
        shape,
        shape_buffer: uniform(&ctx.device, name, &shape),
        words: storage_init(&ctx.device, name, words),
    })
}

fn uniform<T: Pod>(device: &wgpu::Device, label: &str, value: &T) -> wgpu::Buffer {
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: bytemuck::bytes_of(value),
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
    })
}

fn storage_init<T: Pod>(device: &wgpu::Device, label: &str, values: &[T]) -> wgpu::Buffer {
    device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: Some(label),
        contents: bytemuck::cast_slice(values),
        usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
    })
}

fn storage(device: &wgpu::Device, label: &str, size: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size: size.max(16),
        usage: wgpu::BufferUsages::STORAGE
            | wgpu::BufferUsages::COPY_SRC
            | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}
