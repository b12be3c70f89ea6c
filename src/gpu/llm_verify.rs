//! Every LLM kernel on this adapter against its CPU twin, on the model's own weights: the GPU
//! runs a prompt up to a step ([`LlmGpu::probe`]), the twin recomputes that step from the very
//! buffers the GPU read, and the largest difference is recorded. Then the end-to-end logits of
//! the GPU against the CPU reference's full forward pass.
//!
//! Tolerances are relative to the largest magnitude of the expected values: f32 sums over a few
//! thousand products in another order differ by a few ulps of the total, and the residual stream
//! of a real model reaches the hundreds.

use std::fmt;

use super::context::GpuContext;
use super::error::GpuError;
use super::llm::{LlmGpu, Probe, Readback, Stage, Stop, CHUNK};
use crate::model::llm::forward::{
    attention_row, matmul, rms_norm, rope, swiglu, top_k, AttentionShape,
};
use crate::model::llm::{Capture, KvCache, LlamaModel};

/// Relative tolerance of one kernel's output.
pub const KERNEL_TOLERANCE: f32 = 1e-4;
/// Relative tolerance of the end-to-end logits (30 layers of f32 in another order).
pub const LOGITS_TOLERANCE: f32 = 2e-3;

/// One comparison.
#[derive(Clone, Debug, PartialEq)]
pub struct LlmCheck {
    /// What was compared, e.g. `gemm Q4_1 (blk.0 W_Q|W_K|W_V, 33 tokens)`.
    pub what: String,
    /// The largest absolute difference.
    pub max_error: f32,
    /// The largest magnitude among the expected values.
    pub scale: f32,
    /// The relative tolerance.
    pub tolerance: f32,
}

impl LlmCheck {
    fn new(what: String, gpu: &[f32], cpu: &[f32], tolerance: f32) -> Self {
        let scale = cpu.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let max_error = if gpu.len() == cpu.len() {
            gpu.iter()
                .zip(cpu)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max)
        } else {
            f32::INFINITY
        };
        Self {
            what,
            max_error,
            scale,
            tolerance,
        }
    }

    /// Whether the error is within tolerance (NaN never is).
    pub fn passed(&self) -> bool {
        self.max_error <= self.tolerance * self.scale
    }
}

/// Every check of one model.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LlmVerifyReport {
    /// The checks, in order.
    pub checks: Vec<LlmCheck>,
    /// Whether the GPU's top-10 next tokens are the reference's.
    pub top_agrees: bool,
}

impl LlmVerifyReport {
    /// Whether every check passed.
    pub fn passed(&self) -> bool {
        self.top_agrees && self.checks.iter().all(LlmCheck::passed)
    }
}

impl fmt::Display for LlmVerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for check in &self.checks {
            writeln!(
                f,
                "  {:<58} max error {:.3e} (scale {:.3e}, tolerance {:.0e} × scale) {}",
                check.what,
                check.max_error,
                check.scale,
                check.tolerance,
                if check.passed() { "ok" } else { "FAILED" }
            )?;
        }
        write!(
            f,
            "  top-10 next tokens {}",
            if self.top_agrees { "agree" } else { "DISAGREE" }
        )
    }
}

/// Compares every kernel on layers 0 and the last, at one token (the GEMV path) and at
/// `tokens.len()` tokens (the tiled GEMM), then the end-to-end logits of `tokens`.
pub fn verify_model(
    ctx: &GpuContext,
    gpu: &mut LlmGpu,
    model: &LlamaModel,
    tokens: &[u32],
) -> Result<LlmVerifyReport, GpuError> {
    let mut report = LlmVerifyReport::default();
    let prompt = tokens.get(..tokens.len().min(CHUNK)).unwrap_or(&[]);
    let last = model.config.layers.saturating_sub(1);
    for n in [1, prompt.len()] {
        let Some(part) = prompt.get(..n) else {
            continue;
        };
        if part.is_empty() {
            continue;
        }
        // Layer 0 on both paths; the last layer (the largest activations) on the GEMV path,
        // whose probes are cheap: each probe reruns every layer before the one it stops in.
        verify_layer(ctx, gpu, model, part, 0, &mut report)?;
        if n == 1 && last > 0 {
            verify_layer(ctx, gpu, model, part, last, &mut report)?;
        }
        if n == prompt.len() {
            break;
        }
    }
    // End to end: the GPU's logits and top 10 against the CPU reference's forward pass.
    gpu.reset();
    let out = gpu
        .forward(
            ctx,
            tokens,
            &Capture::default(),
            Readback {
                logits: true,
                top_k: 10,
                temperature: 1.0,
            },
        )?
        .wait(ctx)?;
    let mut cache = KvCache::new(&model.config);
    let cpu = model
        .forward(&mut cache, tokens, &Capture::default())
        .map_err(|e| GpuError::Model(e.to_string()))?;
    let gpu_logits = out.logits.unwrap_or_default();
    report.checks.push(LlmCheck::new(
        format!("end-to-end logits ({} tokens)", tokens.len()),
        &gpu_logits,
        &cpu.logits,
        LOGITS_TOLERANCE,
    ));
    report.checks.push(LlmCheck::new(
        "end-to-end attention, last token, every layer and head".into(),
        &out.focus_rows,
        &cpu.focus_rows,
        LOGITS_TOLERANCE,
    ));
    // The top-k kernel against its twin on the GPU's own logits; then the ranking against the
    // reference's (a near-tie may swap two neighbours, so compare the sets of ids).
    let twin = top_k(&gpu_logits, 10, 1.0);
    let gpu_p: Vec<f32> = out.top.iter().map(|t| t.1).collect();
    let twin_p: Vec<f32> = twin.iter().map(|t| t.1).collect();
    let mut check = LlmCheck::new(
        "top_k (softmax of the logits, top 10)".into(),
        &gpu_p,
        &twin_p,
        KERNEL_TOLERANCE,
    );
    if out.top.iter().map(|t| t.0).ne(twin.iter().map(|t| t.0)) {
        check.max_error = f32::INFINITY;
    }
    report.checks.push(check);
    let mut gpu_ids: Vec<u32> = out.top.iter().map(|t| t.0).collect();
    let mut cpu_ids: Vec<u32> = top_k(&cpu.logits, 10, 1.0).iter().map(|t| t.0).collect();
    gpu_ids.sort_unstable();
    cpu_ids.sort_unstable();
    report.top_agrees =
        gpu_ids == cpu_ids && out.top.first().map(|t| t.0) == cpu_ids_first(&cpu.logits);
    gpu.reset();
    Ok(report)
}

fn cpu_ids_first(logits: &[f32]) -> Option<u32> {
    top_k(logits, 1, 1.0).first().map(|t| t.0)
}

/// Every step of `layer` for `tokens`: the twin computes each step from the GPU's own inputs.
fn verify_layer(
    ctx: &GpuContext,
    gpu: &mut LlmGpu,
    model: &LlamaModel,
    tokens: &[u32],
    layer: usize,
    report: &mut LlmVerifyReport,
) -> Result<(), GpuError> {
    let c = model.config.clone();
    let n = tokens.len();
    let Some(weights) = model.layers.get(layer) else {
        return Ok(());
    };
    let path = if n == 1 { "gemv" } else { "gemm" };
    let label = |what: &str| {
        format!(
            "{what} (blk.{layer}, {n} token{})",
            if n == 1 { "" } else { "s" }
        )
    };
    let mut probe = |stage: Stage| gpu.probe(ctx, tokens, Stop { layer, stage });
    let before_layer: Probe = if layer == 0 {
        let embedded = probe(Stage::Embed)?;
        let expected: Vec<f32> = tokens
            .iter()
            .flat_map(|&t| model.embedding.row(t as usize))
            .collect();
        report.checks.push(LlmCheck::new(
            format!(
                "embed {} (token_embd, {n} tokens)",
                model.embedding.kind.name()
            ),
            &embedded.x,
            &expected,
            KERNEL_TOLERANCE,
        ));
        embedded
    } else {
        probe_previous_layer_end(ctx, gpu, tokens, layer)?
    };
    let mut probe = |stage: Stage| gpu.probe(ctx, tokens, Stop { layer, stage });

    let attn_norm = probe(Stage::AttnNorm)?;
    report.checks.push(LlmCheck::new(
        label("rms_norm attn_norm"),
        &attn_norm.h,
        &rms_norm(&before_layer.x, &weights.attn_norm, c.rms_eps),
        KERNEL_TOLERANCE,
    ));

    let qkv = probe(Stage::Qkv)?;
    let expected_qkv = interleave(
        &[
            matmul(&weights.wq, &attn_norm.h, n),
            matmul(&weights.wk, &attn_norm.h, n),
            matmul(&weights.wv, &attn_norm.h, n),
        ],
        n,
    );
    let kinds = format!(
        "{}/{}/{}",
        weights.wq.kind.name(),
        weights.wk.kind.name(),
        weights.wv.kind.name()
    );
    report.checks.push(LlmCheck::new(
        label(&format!("{path} {kinds} W_Q|W_K|W_V")),
        &qkv.qkv,
        &expected_qkv,
        KERNEL_TOLERANCE,
    ));

    let roped = probe(Stage::Rope)?;
    let (q_width, kv_width) = (c.q_width(), c.kv_width());
    let width = q_width + 2 * kv_width;
    let mut expected_q = Vec::with_capacity(n * q_width);
    let mut expected_k = Vec::with_capacity(n * kv_width);
    let mut expected_v = Vec::with_capacity(n * kv_width);
    for (t, row) in qkv.qkv.chunks_exact(width).enumerate() {
        let (q, rest) = row.split_at(q_width);
        let (k, v) = rest.split_at(kv_width);
        let mut q = q.to_vec();
        let mut k = k.to_vec();
        for head in q.chunks_exact_mut(c.d_head) {
            rope(head, t as u32, c.rope_dim, c.rope_base);
        }
        for head in k.chunks_exact_mut(c.d_head) {
            rope(head, t as u32, c.rope_dim, c.rope_base);
        }
        expected_q.extend(q);
        expected_k.extend(k);
        expected_v.extend_from_slice(v);
    }
    let mut got = roped.q.clone();
    got.extend_from_slice(&roped.k_cache);
    got.extend_from_slice(&roped.v_cache);
    expected_q.extend(expected_k);
    expected_q.extend(expected_v);
    report.checks.push(LlmCheck::new(
        label("rope + cache store"),
        &got,
        &expected_q,
        KERNEL_TOLERANCE,
    ));

    let attended = probe(Stage::Attention)?;
    let mut expected = vec![0.0f32; n * q_width];
    let mut weights_row = vec![0.0f32; n];
    for t in 0..n {
        for head in 0..c.heads {
            let at = t * q_width + head * c.d_head;
            let (Some(q_row), Some(out)) = (
                roped.q.get(at..at + c.d_head),
                expected.get_mut(at..at + c.d_head),
            ) else {
                continue;
            };
            attention_row(
                q_row,
                &roped.k_cache,
                &roped.v_cache,
                AttentionShape {
                    keys: t + 1,
                    kv_width,
                    kv_offset: (head / c.group()) * c.d_head,
                    d_head: c.d_head,
                },
                &mut weights_row,
                out,
            );
        }
    }
    report.checks.push(LlmCheck::new(
        label("attention (causal, grouped-query)"),
        &attended.attended,
        &expected,
        KERNEL_TOLERANCE,
    ));

    let after_wo = probe(Stage::Wo)?;
    let mut expected = attended.x.clone();
    add(&mut expected, &matmul(&weights.wo, &attended.attended, n));
    report.checks.push(LlmCheck::new(
        label(&format!(
            "{path} {} W_O (+= residual)",
            weights.wo.kind.name()
        )),
        &after_wo.x,
        &expected,
        KERNEL_TOLERANCE,
    ));

    let ffn_norm = probe(Stage::FfnNorm)?;
    report.checks.push(LlmCheck::new(
        label("rms_norm ffn_norm"),
        &ffn_norm.h,
        &rms_norm(&after_wo.x, &weights.ffn_norm, c.rms_eps),
        KERNEL_TOLERANCE,
    ));

    let gate_up = probe(Stage::GateUp)?;
    let expected = interleave(
        &[
            matmul(&weights.w_gate, &ffn_norm.h, n),
            matmul(&weights.w_up, &ffn_norm.h, n),
        ],
        n,
    );
    report.checks.push(LlmCheck::new(
        label(&format!(
            "{path} {}/{} W_gate|W_up",
            weights.w_gate.kind.name(),
            weights.w_up.kind.name()
        )),
        &gate_up.gate_up,
        &expected,
        KERNEL_TOLERANCE,
    ));

    let swiglu_out = probe(Stage::Swiglu)?;
    let (gate, up): (Vec<f32>, Vec<f32>) = {
        let mut gate = Vec::with_capacity(n * c.ffn);
        let mut up = Vec::with_capacity(n * c.ffn);
        for row in gate_up.gate_up.chunks_exact(2 * c.ffn) {
            let (g, u) = row.split_at(c.ffn);
            gate.extend_from_slice(g);
            up.extend_from_slice(u);
        }
        (gate, up)
    };
    report.checks.push(LlmCheck::new(
        label("swiglu"),
        &swiglu_out.ffn_h,
        &swiglu(&gate, &up),
        KERNEL_TOLERANCE,
    ));

    let down = probe(Stage::Down)?;
    let mut expected = swiglu_out.x.clone();
    add(
        &mut expected,
        &matmul(&weights.w_down, &swiglu_out.ffn_h, n),
    );
    report.checks.push(LlmCheck::new(
        label(&format!(
            "{path} {} W_down (+= residual)",
            weights.w_down.kind.name()
        )),
        &down.x,
        &expected,
        KERNEL_TOLERANCE,
    ));
    Ok(())
}

/// The residual stream entering `layer` (after the previous layer's last step).
fn probe_previous_layer_end(
    ctx: &GpuContext,
    gpu: &mut LlmGpu,
    tokens: &[u32],
    layer: usize,
) -> Result<Probe, GpuError> {
    gpu.probe(
        ctx,
        tokens,
        Stop {
            layer: layer - 1,
            stage: Stage::Down,
        },
    )
}

/// Rows of several `[n][width_i]` outputs side by side, `[n][Σ width_i]`: the fused layout.
fn interleave(parts: &[Vec<f32>], n: usize) -> Vec<f32> {
    let mut out = Vec::new();
    for t in 0..n {
        for part in parts {
            let width = part.len() / n.max(1);
            out.extend_from_slice(part.get(t * width..(t + 1) * width).unwrap_or(&[]));
        }
    }
    out
}

fn add(x: &mut [f32], y: &[f32]) {
    for (a, b) in x.iter_mut().zip(y) {
        *a += b;
    }
}
