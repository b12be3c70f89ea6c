//! The command line over a real model: `gaze inspect --model`, `gaze generate`, and the model
//! half of `gaze verify`. Everything is computed by the GPU kernels when there is an adapter with
//! compute, or by the CPU reference when asked (`--cpu-reference`).

use std::io::Write;
use std::path::Path;

use serde::Serialize;
use thiserror::Error;

use crate::app::real_lesson::LoadedModel;
use crate::gpu::llm::{LlmGpu, Readback};
use crate::gpu::{GpuContext, GpuError};
use crate::model::llm::forward::top_k;
use crate::model::llm::gguf::{GgufFile, GgufOpenError};
use crate::model::llm::sample::{Sampler, MAX_TOP_K};
use crate::model::llm::{Capture, KvCache, LlamaModel, LlmError};
use crate::scene::ModelFile;

/// The longest prompt text read, in bytes, before it is tokenized: far past the 8,192 tokens of
/// SmolLM2's context (a token is about four bytes of English), so a longer one is refused
/// before any work, with this number in the message.
pub const MAX_PROMPT_BYTES: usize = 1 << 20;

/// What can go wrong running a real model from the command line.
#[derive(Debug, Error)]
pub enum LlmRunError {
    /// The file could not be read or is not a GGUF file Gaze reads.
    #[error(transparent)]
    Open(#[from] GgufOpenError),
    /// The file is GGUF but not a model Gaze runs, or the request does not fit it.
    #[error(transparent)]
    Model(#[from] LlmError),
    /// The GPU refused.
    #[error(transparent)]
    Gpu(#[from] GpuError),
    /// A request that makes no sense (named in the message).
    #[error("{0}")]
    Request(String),
    /// Writing the output failed (a closed pipe).
    #[error("writing the output failed: {0}")]
    Output(String),
}

/// Reads and loads the model at `path`.
pub fn load_model(path: &Path) -> Result<LlamaModel, LlmRunError> {
    let file = GgufFile::open(path)?;
    Ok(LlamaModel::from_gguf(&file)?)
}

/// Reads and loads the model at `path`, with the file's identity as a scene records it (its
/// name and the SHA-256 of its bytes).
pub fn load_model_file(path: &Path) -> Result<LoadedModel, LlmRunError> {
    let file = GgufFile::open(path)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(LoadedModel::from_gguf(&file, &name)?)
}

/// Where the numbers come from.
pub enum Engine {
    /// The WGSL kernels on this adapter.
    Gpu {
        /// The device.
        ctx: GpuContext,
        /// The model on it.
        gpu: Box<LlmGpu>,
    },
    /// The CPU reference (`model::llm::forward`).
    Cpu,
}

impl Engine {
    /// The GPU engine for `model` on `ctx`.
    pub fn gpu(ctx: GpuContext, model: &LlamaModel) -> Result<Self, LlmRunError> {
        let gpu = Box::new(LlmGpu::new(&ctx, model)?);
        Ok(Self::Gpu { ctx, gpu })
    }

    /// How this engine is named in the output.
    pub fn describe(&self) -> String {
        match self {
            Self::Gpu { ctx, .. } => format!("gpu: {}", ctx.summary()),
            Self::Cpu => "cpu-reference".into(),
        }
    }
}

/// The model's hyper-parameters as `gaze inspect` prints them.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ModelInfo {
    /// The file's name.
    pub file: String,
    /// The SHA-256 of the file's bytes (64 hex digits), as a scene's `model` records it.
    pub sha256: String,
    /// `general.architecture`.
    pub architecture: String,
    /// Transformer blocks.
    pub layers: usize,
    /// Query heads per layer.
    pub heads: usize,
    /// Key/value heads per layer.
    pub kv_heads: usize,
    /// Residual width.
    pub d_model: usize,
    /// Head width.
    pub d_head: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Context length.
    pub context: usize,
}

impl ModelInfo {
    /// The info of `model` loaded from the file `identity` names.
    pub fn new(model: &LlamaModel, identity: &ModelFile) -> Self {
        let c = &model.config;
        Self {
            file: identity.file.clone(),
            sha256: identity.sha256.clone(),
            architecture: c.architecture.clone(),
            layers: c.layers,
            heads: c.heads,
            kv_heads: c.kv_heads,
            d_model: c.d_model,
            d_head: c.d_head,
            vocab: c.vocab,
            context: c.context,
        }
    }
}

/// One candidate for the next token.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct NextToken {
    /// Its text (a leading space is part of it: `" Paris"`).
    pub token: String,
    /// Its id.
    pub id: u32,
    /// `softmax(logits)` over the whole vocabulary.
    pub probability: f32,
}

/// One head's full causal map.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct HeadMap {
    /// Layer (0-based).
    pub layer: usize,
    /// Query head (0-based).
    pub head: usize,
    /// Rows of N: row i is where token i spends its attention; zero right of the diagonal.
    pub weights: Vec<Vec<f32>>,
}

/// `gaze inspect --model FILE --prompt TEXT`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct ModelInspect {
    /// The model.
    pub model: ModelInfo,
    /// What computed the numbers: `gpu: <adapter>` or `cpu-reference`.
    pub engine: String,
    /// Each token's text.
    pub tokens: Vec<String>,
    /// Each token's id.
    pub token_ids: Vec<u32>,
    /// The most likely next tokens after the last one, most likely first.
    pub next_token: Vec<NextToken>,
    /// The chosen head's full map.
    pub attention: HeadMap,
    /// The last token's attention row for every layer and head: `[layer][head][N]`.
    pub focus_rows: Vec<Vec<Vec<f32>>>,
}

/// What `gaze inspect --model` asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InspectRequest {
    /// The layer of the full map (0-based).
    pub layer: usize,
    /// The head of the full map (0-based).
    pub head: usize,
    /// How many next-token candidates.
    pub top: usize,
}

/// The prompt's token ids, checked against the model: not empty, within the context (leaving
/// `extra` positions for a continuation).
pub fn tokenize_prompt(
    model: &LlamaModel,
    prompt: &str,
    extra: usize,
) -> Result<Vec<u32>, LlmRunError> {
    if prompt.len() > MAX_PROMPT_BYTES {
        return Err(LlmRunError::Request(format!(
            "the prompt is {} bytes; Gaze reads prompts of up to {MAX_PROMPT_BYTES} bytes",
            prompt.len()
        )));
    }
    let ids = model.tokenizer.encode(prompt);
    model.check_tokens(&ids, 0, extra)?;
    Ok(ids)
}

/// Runs `prompt` through `model` on `engine` and collects what `gaze inspect --model` prints.
pub fn inspect_model(
    model: &LlamaModel,
    identity: &ModelFile,
    prompt: &str,
    request: InspectRequest,
    engine: &mut Engine,
) -> Result<ModelInspect, LlmRunError> {
    if !(1..=MAX_TOP_K).contains(&request.top) {
        return Err(LlmRunError::Request(format!(
            "--top is 1 to {MAX_TOP_K}, not {}",
            request.top
        )));
    }
    let ids = tokenize_prompt(model, prompt, 0)?;
    let c = &model.config;
    let capture = Capture {
        map: Some((request.layer, request.head)),
        focus: None,
        overview: false,
    };
    crate::model::llm::forward::check_capture(c, &capture, ids.len())?;
    let n = ids.len();
    let (top, map, focus_rows) = match engine {
        Engine::Gpu { ctx, gpu } => {
            gpu.reset();
            let out = gpu
                .forward(
                    ctx,
                    &ids,
                    &capture,
                    Readback {
                        logits: false,
                        top_k: request.top,
                        temperature: 1.0,
                    },
                )?
                .wait(ctx)?;
            let map = gpu.read_map(ctx)?;
            (out.top, map, out.focus_rows)
        }
        Engine::Cpu => {
            let mut cache = KvCache::new(c);
            let out = model.forward(&mut cache, &ids, &capture)?;
            let map = out.map.map(|m| m.weights).unwrap_or_default();
            (top_k(&out.logits, request.top, 1.0), map, out.focus_rows)
        }
    };
    let rows =
        |flat: &[f32]| -> Vec<Vec<f32>> { flat.chunks(n.max(1)).map(<[f32]>::to_vec).collect() };
    let per_layer = c.heads * n;
    Ok(ModelInspect {
        model: ModelInfo::new(model, identity),
        engine: engine.describe(),
        tokens: ids
            .iter()
            .map(|&id| model.tokenizer.token_text(id))
            .collect(),
        token_ids: ids.clone(),
        next_token: top
            .into_iter()
            .map(|(id, probability)| NextToken {
                token: model.tokenizer.token_text(id),
                id,
                probability,
            })
            .collect(),
        attention: HeadMap {
            layer: request.layer,
            head: request.head,
            weights: rows(&map),
        },
        focus_rows: focus_rows.chunks(per_layer.max(1)).map(rows).collect(),
    })
}

/// What a generation did.
#[derive(Clone, Debug, PartialEq)]
pub struct Generated {
    /// The continuation's token ids.
    pub ids: Vec<u32>,
    /// Whether it stopped at the end-of-sequence token.
    pub stopped_at_eos: bool,
}

/// Streams up to `tokens` tokens after `prompt` to `out`, each as soon as it is chosen (bytes
/// of a character cut across tokens are held until the character is whole).
pub fn generate(
    model: &LlamaModel,
    prompt: &str,
    tokens: usize,
    mut sampler: Sampler,
    engine: &mut Engine,
    out: &mut dyn Write,
) -> Result<Generated, LlmRunError> {
    let ids = tokenize_prompt(model, prompt, tokens)?;
    let (k, temperature) = (sampler.candidates(), sampler.temperature());
    let mut cache = KvCache::new(&model.config);
    if let Engine::Gpu { ctx, gpu } = engine {
        gpu.reset();
        gpu.reserve(ctx, ids.len() + tokens)?;
    }
    let mut step = |feed: &[u32]| -> Result<Vec<(u32, f32)>, LlmRunError> {
        match engine {
            Engine::Gpu { ctx, gpu } => Ok(gpu
                .forward(
                    ctx,
                    feed,
                    &Capture::default(),
                    Readback {
                        logits: false,
                        top_k: k,
                        temperature,
                    },
                )?
                .wait(ctx)?
                .top),
            Engine::Cpu => {
                let logits = model.forward(&mut cache, feed, &Capture::default())?.logits;
                Ok(top_k(&logits, k, temperature))
            }
        }
    };
    let mut generated = Generated {
        ids: Vec::new(),
        stopped_at_eos: false,
    };
    let mut pending_bytes: Vec<u8> = Vec::new();
    let mut candidates = step(&ids)?;
    for _ in 0..tokens {
        let Some(next) = sampler.pick(&candidates) else {
            break;
        };
        if Some(next) == model.tokenizer.eos() {
            generated.stopped_at_eos = true;
            break;
        }
        generated.ids.push(next);
        pending_bytes.extend(model.tokenizer.token_bytes(next).unwrap_or_default());
        let whole = match std::str::from_utf8(&pending_bytes) {
            Ok(_) => pending_bytes.len(),
            // Write what is whole; keep an incomplete character's first bytes for the next token.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => pending_bytes.len(),
        };
        let text = String::from_utf8_lossy(pending_bytes.get(..whole).unwrap_or(&[])).into_owned();
        pending_bytes.drain(..whole);
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| LlmRunError::Output(e.to_string()))?;
        if generated.ids.len() == tokens {
            break;
        }
        candidates = step(&[next])?;
    }
    if !pending_bytes.is_empty() {
        out.write_all(String::from_utf8_lossy(&pending_bytes).as_bytes())
            .map_err(|e| LlmRunError::Output(e.to_string()))?;
    }
    Ok(generated)
}
