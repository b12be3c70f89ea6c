//! The forward pass of a Llama-family model on the CPU: the spec the GPU engine
//! (`crate::gpu::llm`) mirrors kernel by kernel, and its reference in tests.
//!
//! For the new tokens `t_1 … t_N` at positions `past … past + N − 1`:
//! ```text
//! x = E[t]                                             embedding rows
//! for each layer:
//!     h = RMSNorm(x) · g_attn                          RMSNorm(x) = x / √(mean(x²) + ε)
//!     q, k, v = W_Q h, W_K h, W_V h
//!     q, k = RoPE(q, pos), RoPE(k, pos)                 adjacent pairs rotated by pos · base^(−2i/d)
//!     K, V cache ← k, v
//!     a_h = softmax(q_h · K_g(h)ᵀ / √d_head, causal) · V_g(h)     g(h) = h / (heads / kv_heads)
//!     x = x + W_O a
//!     h = RMSNorm(x) · g_ffn
//!     x = x + W_down (silu(W_gate h) ⊙ W_up h)           silu(z) = z / (1 + e^−z)
//! logits = W_out · (RMSNorm(x_last) · g_out)             W_out = E when the file ties them
//! ```
//! Each step is one function below, named like its kernel in `shaders/llm_*.wgsl`.

// The twins of the kernels index the way the shaders do (token × width, layer × head × row), so
// the two read alike; every index is in bounds by the shapes `LlamaModel::from_gguf` checked and
// `LlamaModel::check_tokens` bounds.
#![allow(
    clippy::indexing_slicing,
    reason = "a CPU twin of a WGSL kernel: it indexes as the kernel does (the `model` module's docs, \"CPU twins\")"
)]

use super::llama::{LlamaConfig, LlamaModel, LlmError};
use super::quant::{dequant, words_per_block, QuantMatrix, BLOCK};

/// Lanes of the top-k kernel's workgroup: its twin sums the softmax's denominator over the same
/// 256 lanes (see [`top_k`]).
pub const TOP_K_LANES: usize = 256;

/// Bins per side of the reduced attention overview: every head's map shrunk to at most 64 × 64.
pub const OVERVIEW_BINS: usize = 64;

/// What the attention of a forward pass should keep for the views.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Capture {
    /// One layer × head whose full map (every new token's row) is kept.
    pub map: Option<(usize, usize)>,
    /// The new token (0-based among them) whose row is kept for every layer and head; the last
    /// one when `None`.
    pub focus: Option<usize>,
    /// Whether to keep every head's map reduced to [`OVERVIEW_BINS`]².
    pub overview: bool,
}

/// One head's full attention map.
#[derive(Clone, Debug, PartialEq)]
pub struct AttentionMap {
    /// Layer (0-based).
    pub layer: usize,
    /// Query head (0-based).
    pub head: usize,
    /// Rows: one per new token.
    pub rows: usize,
    /// Columns: every position in the context (`past + rows`).
    pub cols: usize,
    /// Row-major weights; row `i` sums to 1 and is 0 right of column `past + i`.
    pub weights: Vec<f32>,
}

impl AttentionMap {
    /// Row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        self.weights
            .get(i * self.cols..(i + 1) * self.cols)
            .unwrap_or(&[])
    }
}

/// Every head's map reduced: cell `(I, J)` is the mean over the query rows in row bin `I` of the
/// attention they pay to the keys in column bin `J`, so each overview row still sums to 1.
#[derive(Clone, Debug, PartialEq)]
pub struct Overview {
    /// Row bins (`min(64, new tokens)`).
    pub row_bins: usize,
    /// Column bins (`min(64, context)`).
    pub col_bins: usize,
    /// `[layer][head][row_bin][col_bin]`, flattened.
    pub cells: Vec<f32>,
}

/// What one forward pass hands back.
#[derive(Clone, Debug, PartialEq)]
pub struct ForwardOutput {
    /// Logits for the token after the last new one (`vocab` values).
    pub logits: Vec<f32>,
    /// Context length after this pass (`past + new tokens`).
    pub context: usize,
    /// The focus token (0-based among the new ones).
    pub focus: usize,
    /// The focus token's attention row for every layer and head: `[layer][head][context]`,
    /// flattened; zero right of the focus's position.
    pub focus_rows: Vec<f32>,
    /// The chosen head's full map, when asked for.
    pub map: Option<AttentionMap>,
    /// Every head's reduced map, when asked for.
    pub overview: Option<Overview>,
}

impl ForwardOutput {
    /// The focus row of `layer`, `head`.
    pub fn focus_row(&self, heads: usize, layer: usize, head: usize) -> &[f32] {
        let start = (layer * heads + head) * self.context;
        self.focus_rows
            .get(start..start + self.context)
            .unwrap_or(&[])
    }
}

/// The keys and values of every position so far, per layer: `[position][kv_head][d_head]`.
#[derive(Clone, Debug)]
pub struct KvCache {
    /// Positions filled.
    pub len: usize,
    k: Vec<Vec<f32>>,
    v: Vec<Vec<f32>>,
}

impl KvCache {
    /// An empty cache for `config`.
    pub fn new(config: &LlamaConfig) -> Self {
        Self {
            len: 0,
            k: vec![Vec::new(); config.layers],
            v: vec![Vec::new(); config.layers],
        }
    }
}

/// Checks a capture request against the model and the context it will see.
pub fn check_capture(
    config: &LlamaConfig,
    capture: &Capture,
    new_tokens: usize,
) -> Result<(), LlmError> {
    if let Some((layer, head)) = capture.map {
        check_index("layer", layer, config.layers)?;
        check_index("head", head, config.heads)?;
    }
    if let Some(focus) = capture.focus {
        check_index("focus token", focus, new_tokens)?;
    }
    Ok(())
}

fn check_index(what: &'static str, index: usize, count: usize) -> Result<(), LlmError> {
    if index >= count {
        return Err(LlmError::IndexOutOfRange { what, index, count });
    }
    Ok(())
}

impl LlamaModel {
    /// Runs `tokens` through the model after what `cache` holds, appending their keys and values,
    /// and returns the next token's logits and the attention `capture` asks for.
    pub fn forward(
        &self,
        cache: &mut KvCache,
        tokens: &[u32],
        capture: &Capture,
    ) -> Result<ForwardOutput, LlmError> {
        Ok(self
            .forward_keeping(cache, tokens, capture, Keep::default())?
            .0)
    }

    /// [`Self::forward`], also keeping what `keep` asks for: the views' extras that only the
    /// CPU reference computes so far (the logit lens's residual streams, every head of one
    /// layer).
    pub fn forward_keeping(
        &self,
        cache: &mut KvCache,
        tokens: &[u32],
        capture: &Capture,
        keep: Keep,
    ) -> Result<(ForwardOutput, Kept), LlmError> {
        let c = &self.config;
        self.check_tokens(tokens, cache.len, 0)?;
        check_capture(c, capture, tokens.len())?;
        let (n, past) = (tokens.len(), cache.len);
        let context = past + n;
        let focus = capture.focus.unwrap_or(n - 1);
        let (q_width, kv_width) = (c.q_width(), c.kv_width());

        // x: the residual stream, n × d_model.
        let mut x: Vec<f32> = tokens
            .iter()
            .flat_map(|&t| self.embedding.row(t as usize))
            .collect();
        let mut focus_rows = vec![0.0f32; c.layers * c.heads * context];
        let mut map = None;
        let (row_bins, col_bins) = (n.min(OVERVIEW_BINS), context.min(OVERVIEW_BINS));
        let mut overview_cells = capture
            .overview
            .then(|| vec![0.0f32; c.layers * c.heads * row_bins * col_bins]);
        if let Some(layer) = keep.layer_maps {
            check_index("layer", layer, c.layers)?;
        }
        let mut kept = Kept {
            residuals: Vec::with_capacity(if keep.lens { c.layers * c.d_model } else { 0 }),
            layer_maps: vec![
                0.0f32;
                if keep.layer_maps.is_some() {
                    c.heads * n * context
                } else {
                    0
                }
            ],
        };

        for (l, layer) in self.layers.iter().enumerate() {
            // Attention block.
            let h = rms_norm(&x, &layer.attn_norm, c.rms_eps);
            let mut q = matmul(&layer.wq, &h, n);
            let mut k = matmul(&layer.wk, &h, n);
            let v = matmul(&layer.wv, &h, n);
            for t in 0..n {
                let pos = (past + t) as u32;
                for head in 0..c.heads {
                    let at = t * q_width + head * c.d_head;
                    rope(&mut q[at..at + c.d_head], pos, c.rope_dim, c.rope_base);
                }
                for head in 0..c.kv_heads {
                    let at = t * kv_width + head * c.d_head;
                    rope(&mut k[at..at + c.d_head], pos, c.rope_dim, c.rope_base);
                }
            }
            cache.k[l].truncate(past * kv_width);
            cache.v[l].truncate(past * kv_width);
            cache.k[l].extend_from_slice(&k);
            cache.v[l].extend_from_slice(&v);

            let mut attended = vec![0.0f32; n * q_width];
            let mut weights = vec![0.0f32; context];
            let mut map_weights =
                (capture.map.map(|m| m.0) == Some(l)).then(|| vec![0.0f32; n * context]);
            for t in 0..n {
                for head in 0..c.heads {
                    let kv_head = head / c.group();
                    let q_row = &q[t * q_width + head * c.d_head..][..c.d_head];
                    let out = &mut attended[t * q_width + head * c.d_head..][..c.d_head];
                    attention_row(
                        q_row,
                        &cache.k[l],
                        &cache.v[l],
                        AttentionShape {
                            keys: past + t + 1,
                            kv_width,
                            kv_offset: kv_head * c.d_head,
                            d_head: c.d_head,
                        },
                        &mut weights,
                        out,
                    );
                    if t == focus {
                        let start = (l * c.heads + head) * context;
                        focus_rows[start..start + past + t + 1]
                            .copy_from_slice(&weights[..past + t + 1]);
                    }
                    if let (Some(m), Some((_, chosen))) = (map_weights.as_mut(), capture.map) {
                        if chosen == head {
                            m[t * context..t * context + past + t + 1]
                                .copy_from_slice(&weights[..past + t + 1]);
                        }
                    }
                    if keep.layer_maps == Some(l) {
                        let at = (head * n + t) * context;
                        kept.layer_maps[at..at + past + t + 1]
                            .copy_from_slice(&weights[..past + t + 1]);
                    }
                    if let Some(cells) = overview_cells.as_mut() {
                        let base = (l * c.heads + head) * row_bins * col_bins;
                        let row_bin = t * row_bins / n;
                        let rows_in_bin = bin_size(row_bin, row_bins, n);
                        for (j, w) in weights[..past + t + 1].iter().enumerate() {
                            let col_bin = j * col_bins / context;
                            cells[base + row_bin * col_bins + col_bin] += w / rows_in_bin as f32;
                        }
                    }
                }
            }
            if let (Some(weights), Some((layer_index, head))) = (map_weights, capture.map) {
                map = Some(AttentionMap {
                    layer: layer_index,
                    head,
                    rows: n,
                    cols: context,
                    weights,
                });
            }
            add_into(&mut x, &matmul(&layer.wo, &attended, n));

            // Feed-forward block.
            let h = rms_norm(&x, &layer.ffn_norm, c.rms_eps);
            let gate = matmul(&layer.w_gate, &h, n);
            let up = matmul(&layer.w_up, &h, n);
            add_into(&mut x, &matmul(&layer.w_down, &swiglu(&gate, &up), n));
            if keep.lens {
                kept.residuals
                    .extend_from_slice(&x[focus * c.d_model..(focus + 1) * c.d_model]);
            }
        }
        cache.len = context;

        let last = &x[(n - 1) * c.d_model..];
        let h = rms_norm(last, &self.output_norm, c.rms_eps);
        let output = ForwardOutput {
            logits: self.output_matrix().matvec(&h),
            context,
            focus,
            focus_rows,
            map,
            overview: overview_cells.map(|cells| Overview {
                row_bins,
                col_bins,
                cells,
            }),
        };
        Ok((output, kept))
    }
}

/// What the CPU reference keeps beyond a [`Capture`] (the GPU engine mirrors `Capture`; these
/// are the views' extras it does not compute yet).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Keep {
    /// The focus token's residual stream after every layer (the logit lens).
    pub lens: bool,
    /// Every head's full map of this layer.
    pub layer_maps: Option<usize>,
}

/// What [`Keep`] asked for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Kept {
    /// `[layer][d_model]`: the focus's residual stream after each layer; empty unless asked.
    pub residuals: Vec<f32>,
    /// `[head][row][context]`: the kept layer's every head, row-major like
    /// [`AttentionMap::weights`]; empty unless asked.
    pub layer_maps: Vec<f32>,
}

/// How many of `total` items fall in bin `bin` of `bins` when item `i` goes to `i · bins / total`.
pub fn bin_size(bin: usize, bins: usize, total: usize) -> usize {
    // Items i with floor(i·bins/total) = bin: i from ceil(bin·total/bins) to ceil((bin+1)·total/bins).
    let first = (bin * total).div_ceil(bins);
    let end = ((bin + 1) * total).div_ceil(bins);
    end.saturating_sub(first).max(1)
}

/// `x += y`, element by element: the residual connection.
fn add_into(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}

/// RMSNorm of each `weight.len()`-wide row of `x`: `x / √(mean(x²) + ε) · weight` — the twin of
/// `shaders/llm_rms_norm.wgsl`.
pub fn rms_norm(x: &[f32], weight: &[f32], eps: f32) -> Vec<f32> {
    let d = weight.len();
    let mut out = Vec::with_capacity(x.len());
    for row in x.chunks_exact(d) {
        let mean_square = row.iter().map(|v| v * v).sum::<f32>() / d as f32;
        let scale = 1.0 / (mean_square + eps).sqrt();
        out.extend(row.iter().zip(weight).map(|(v, g)| v * scale * g));
    }
    out
}

/// `y[t] = W · x[t]` for `n` rows of `x`: the twin of `shaders/llm_matmul.wgsl`. One row
/// (decoding) is the GEMV's block-by-block dot; several (a prompt) take each block of `W` once,
/// dequantised, against every row of `x`, as the tiled GEMM loads a tile.
pub fn matmul(w: &QuantMatrix, x: &[f32], n: usize) -> Vec<f32> {
    if n == 1 {
        return w.matvec(x);
    }
    let mut y = vec![0.0f32; n * w.rows];
    let per_block = words_per_block(w.kind);
    let mut tile = [0.0f32; BLOCK];
    for row in 0..w.rows {
        for block in 0..w.blocks_per_row() {
            let base = (row * w.blocks_per_row() + block) * per_block;
            for (j, slot) in tile.iter_mut().enumerate() {
                *slot = dequant(w.kind, &w.words, base, j);
            }
            for t in 0..n {
                let xs = &x[t * w.cols + block * BLOCK..][..BLOCK];
                let mut acc = 0.0;
                for j in 0..BLOCK {
                    acc += tile[j] * xs[j];
                }
                y[t * w.rows + row] += acc;
            }
        }
    }
    y
}

/// The angle RoPE turns pair `pair` of a head by at position `pos`: `pos · base^(−2·pair/dim)`,
/// reduced to [−π, π] (GPUs only promise accurate `cos`/`sin` there). The twin of `rope_angle`
/// in `shaders/llm_rope.wgsl`, operation for operation.
pub fn rope_angle(pos: u32, pair: usize, rope_dim: usize, base: f32) -> f32 {
    let inv_freq = (-(2.0 * pair as f32 / rope_dim as f32) * base.log2()).exp2();
    let angle = pos as f32 * inv_freq;
    let turns = (angle / std::f32::consts::TAU + 0.5).floor();
    angle - turns * std::f32::consts::TAU
}

/// Rotates one head's vector in place: each adjacent pair `(v[2i], v[2i+1])` by
/// `rope_angle(pos, i)` — GGUF's llama layout (the converter permuted W_Q and W_K so that adjacent
/// pairs, not halves, rotate together). The twin of `shaders/llm_rope.wgsl`.
pub fn rope(head: &mut [f32], pos: u32, rope_dim: usize, base: f32) {
    for pair in 0..rope_dim / 2 {
        let (sin, cos) = rope_angle(pos, pair, rope_dim, base).sin_cos();
        let (a, b) = (head[2 * pair], head[2 * pair + 1]);
        head[2 * pair] = a * cos - b * sin;
        head[2 * pair + 1] = a * sin + b * cos;
    }
}

/// Where one query's keys and values sit in a layer's cache.
#[derive(Clone, Copy, Debug)]
pub struct AttentionShape {
    /// Positions the query may attend to (causal: itself and everything before).
    pub keys: usize,
    /// Floats per position in the cache (`kv_heads · d_head`).
    pub kv_width: usize,
    /// Offset of this query's key/value head within a position.
    pub kv_offset: usize,
    /// Width of a head.
    pub d_head: usize,
}

/// One query row of causal attention: `w_j = softmax_j(q · k_j / √d_head)` over the first
/// `shape.keys` positions, then `out = Σ_j w_j v_j`. The twin of `shaders/llm_attention.wgsl`:
/// the row maximum and the sum of `exp(s_j − max)` are found in one pass (online: when a larger
/// score arrives the sum so far is rescaled by `exp(old_max − new_max)`), then the weights.
pub fn attention_row(
    q: &[f32],
    k_cache: &[f32],
    v_cache: &[f32],
    shape: AttentionShape,
    weights: &mut [f32],
    out: &mut [f32],
) {
    let scale = 1.0 / (shape.d_head as f32).sqrt();
    let score = |j: usize| {
        let k = &k_cache[j * shape.kv_width + shape.kv_offset..][..shape.d_head];
        q.iter().zip(k).map(|(a, b)| a * b).sum::<f32>() * scale
    };
    let (mut max, mut sum) = (f32::NEG_INFINITY, 0.0f32);
    for j in 0..shape.keys {
        let s = score(j);
        if s > max {
            sum = sum * (max - s).exp() + 1.0;
            max = s;
        } else {
            sum += (s - max).exp();
        }
    }
    out.iter_mut().for_each(|o| *o = 0.0);
    for j in 0..shape.keys {
        let w = (score(j) - max).exp() / sum;
        weights[j] = w;
        let v = &v_cache[j * shape.kv_width + shape.kv_offset..][..shape.d_head];
        for (o, vd) in out.iter_mut().zip(v) {
            *o += w * vd;
        }
    }
    weights[shape.keys..].iter_mut().for_each(|w| *w = 0.0);
}

/// SwiGLU: `silu(gate) ⊙ up`, with `silu(z) = z / (1 + e^−z)` — the twin of
/// `shaders/llm_swiglu.wgsl`.
pub fn swiglu(gate: &[f32], up: &[f32]) -> Vec<f32> {
    gate.iter()
        .zip(up)
        .map(|(g, u)| g / (1.0 + (-g).exp()) * u)
        .collect()
}

/// The `k` most likely next tokens, most likely first (ties: the lower id first), with their
/// probabilities `softmax(logits / temperature)` over the whole vocabulary — the twin of
/// `shaders/llm_top_k.wgsl`: the maximum, the sum of `exp((l − max)/T)`, then `k` rounds that each
/// take the largest logit below the last one taken.
pub fn top_k(logits: &[f32], k: usize, temperature: f32) -> Vec<(u32, f32)> {
    let t = if temperature > 0.0 { temperature } else { 1.0 };
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    // Summed as the kernel sums: 256 lanes each over every 256th logit, then a tree — a plain
    // running sum over 49,152 terms drifts by more than the kernel's tolerance.
    let mut lanes = [0.0f32; TOP_K_LANES];
    for (v, l) in logits.iter().enumerate() {
        lanes[v % TOP_K_LANES] += ((l - max) / t).exp();
    }
    let mut stride = TOP_K_LANES / 2;
    while stride > 0 {
        for lane in 0..stride {
            lanes[lane] += lanes[lane + stride];
        }
        stride /= 2;
    }
    let sum = lanes[0];
    let mut taken: Vec<(u32, f32)> = Vec::with_capacity(k);
    // (logit, id) of the last one taken: the next is the largest strictly "below" it in the
    // order (higher logit first, then lower id).
    let mut last: Option<(f32, usize)> = None;
    for _ in 0..k.min(logits.len()) {
        let mut best: Option<(f32, usize)> = None;
        for (id, &l) in logits.iter().enumerate() {
            let below_last = match last {
                None => true,
                Some((ll, li)) => l < ll || (l == ll && id > li),
            };
            let better = match best {
                None => true,
                Some((bl, _)) => l > bl,
            };
            if below_last && better {
                best = Some((l, id));
            }
        }
        let Some((l, id)) = best else { break };
        taken.push((id as u32, ((l - max) / t).exp() / sum));
        last = Some((l, id));
    }
    taken
}
