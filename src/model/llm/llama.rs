//! A Llama-family model as a GGUF file describes it: the hyper-parameters from its metadata and
//! the weights from its tensors, every shape checked against them.
//!
//! Nothing here is hard-coded for one model: SmolLM2-135M (30 layers, 9 query heads over 3
//! key/value heads, d_model 576), SmolLM2-360M or TinyLlama load the same way.

use thiserror::Error;

use super::gguf::{GgufError, GgufFile, TensorInfo, TensorType};
use super::quant::{QuantError, QuantMatrix};
use super::tokenizer::{BpeTokenizer, TokenizerError, TokenizerSpec};

/// Everything that can keep a model file from running.
#[derive(Debug, Error)]
pub enum LlmError {
    /// The file is not a GGUF file Gaze reads.
    #[error(transparent)]
    Gguf(#[from] GgufError),
    /// A tensor could not be repacked.
    #[error(transparent)]
    Quant(#[from] QuantError),
    /// The tokenizer the file describes.
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// Not a Llama-family model.
    #[error(
        "this file's architecture is `{arch}`; Gaze runs Llama-family models (`llama`) only",
        arch = super::gguf::quoted(.0)
    )]
    UnsupportedArchitecture(String),
    /// A tensor whose shape disagrees with the hyper-parameters.
    #[error(
        "tensor {name} has dims {found:?}, but the file's hyper-parameters ask for {expected:?}"
    )]
    Shape {
        /// Tensor name.
        name: String,
        /// What the metadata implies.
        expected: Vec<u64>,
        /// What the tensor table says.
        found: Vec<u64>,
    },
    /// Hyper-parameters that cannot describe a model.
    #[error("the file's hyper-parameters make no sense: {0}")]
    BadHyperParameters(String),
    /// A prompt past the model's context.
    #[error(
        "the prompt and continuation need {tokens} tokens, but this model's context is {context}"
    )]
    ContextTooLong {
        /// Tokens asked for.
        tokens: usize,
        /// The model's context length.
        context: usize,
    },
    /// Nothing to run.
    #[error("the prompt is empty: give the model at least one token")]
    EmptyPrompt,
    /// A token id past the vocabulary.
    #[error("token id {id} is past the vocabulary ({vocab} tokens)")]
    TokenOutOfRange {
        /// The id.
        id: u32,
        /// The vocabulary size.
        vocab: usize,
    },
    /// A layer or head index past the model.
    #[error("{what} {index} does not exist: this model has {count} (0-based: 0 to {last})", last = count.saturating_sub(1))]
    IndexOutOfRange {
        /// "layer" or "head".
        what: &'static str,
        /// The index asked for.
        index: usize,
        /// How many there are.
        count: usize,
    },
}

/// The hyper-parameters, all read from the file's metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
    /// `general.architecture` (`llama`).
    pub architecture: String,
    /// Transformer blocks (`llama.block_count`).
    pub layers: usize,
    /// Query heads (`llama.attention.head_count`).
    pub heads: usize,
    /// Key/value heads (`llama.attention.head_count_kv`; fewer than `heads` is grouped-query
    /// attention: query head `h` reads key/value head `h / (heads / kv_heads)`).
    pub kv_heads: usize,
    /// Width of the residual stream (`llama.embedding_length`).
    pub d_model: usize,
    /// Width of one head (`d_model / heads` unless `llama.attention.key_length` says).
    pub d_head: usize,
    /// Hidden width of the SwiGLU feed-forward block (`llama.feed_forward_length`).
    pub ffn: usize,
    /// Tokens in the vocabulary.
    pub vocab: usize,
    /// Longest context the model was trained for (`llama.context_length`).
    pub context: usize,
    /// RMSNorm's ε (`llama.attention.layer_norm_rms_epsilon`).
    pub rms_eps: f32,
    /// RoPE's frequency base (`llama.rope.freq_base`, 10000 when absent).
    pub rope_base: f32,
    /// Dimensions of each head RoPE rotates (`llama.rope.dimension_count`, `d_head` when absent).
    pub rope_dim: usize,
}

impl LlamaConfig {
    /// Reads the hyper-parameters of `file`.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, LlmError> {
        let architecture = file.require_str("general.architecture")?.to_owned();
        if architecture != "llama" {
            return Err(LlmError::UnsupportedArchitecture(architecture));
        }
        let key = |k: &str| format!("{architecture}.{k}");
        let small = |k: &str, max: u64| -> Result<usize, LlmError> {
            let v = file.require_u64(&key(k))?;
            if v == 0 || v > max {
                return Err(LlmError::BadHyperParameters(format!(
                    "{} is {v} (1 to {max} expected)",
                    key(k)
                )));
            }
            Ok(v as usize)
        };
        let layers = small("block_count", 512)?;
        let d_model = small("embedding_length", 65_536)?;
        let ffn = small("feed_forward_length", 262_144)?;
        let heads = small("attention.head_count", 1024)?;
        let kv_heads = match file.get(&key("attention.head_count_kv")) {
            None => heads,
            Some(_) => small("attention.head_count_kv", 1024)?,
        };
        let d_head = match file.get(&key("attention.key_length")) {
            None => d_model / heads,
            Some(_) => small("attention.key_length", 1024)?,
        };
        let context = small("context_length", 1 << 20)?;
        let rms_eps = file.require_f64(&key("attention.layer_norm_rms_epsilon"))? as f32;
        let rope_base = match file.get(&key("rope.freq_base")) {
            None => 10_000.0,
            Some(_) => file.require_f64(&key("rope.freq_base"))? as f32,
        };
        let rope_dim = match file.get(&key("rope.dimension_count")) {
            None => d_head,
            Some(_) => small("rope.dimension_count", 1024)?,
        };
        let vocab = file
            .get("tokenizer.ggml.tokens")
            .and_then(|v| v.as_array())
            .map(<[_]>::len)
            .ok_or(GgufError::MissingKey {
                key: "tokenizer.ggml.tokens".into(),
                why: "absent or not an array".into(),
            })?;
        let config = Self {
            architecture,
            layers,
            heads,
            kv_heads,
            d_model,
            d_head,
            ffn,
            vocab,
            context,
            rms_eps,
            rope_base,
            rope_dim,
        };
        config.check()?;
        Ok(config)
    }

    fn check(&self) -> Result<(), LlmError> {
        let bad = |why: String| Err(LlmError::BadHyperParameters(why));
        if !self.heads.is_multiple_of(self.kv_heads) {
            return bad(format!(
                "{} query heads do not share {} key/value heads evenly",
                self.heads, self.kv_heads
            ));
        }
        if self.d_head == 0 || !self.d_head.is_multiple_of(2) || self.d_head > 256 {
            return bad(format!(
                "a head is {} wide (an even width up to 256 expected)",
                self.d_head
            ));
        }
        if self.rope_dim > self.d_head || !self.rope_dim.is_multiple_of(2) {
            return bad(format!(
                "RoPE rotates {} of a head's {} dimensions",
                self.rope_dim, self.d_head
            ));
        }
        if !(self.rms_eps.is_finite() && self.rms_eps > 0.0) {
            return bad(format!("RMSNorm's ε is {}", self.rms_eps));
        }
        if !(self.rope_base.is_finite() && self.rope_base > 1.0) {
            return bad(format!("RoPE's frequency base is {}", self.rope_base));
        }
        if self.vocab == 0 {
            return bad("the vocabulary is empty".into());
        }
        Ok(())
    }

    /// Query heads per key/value head.
    pub fn group(&self) -> usize {
        self.heads / self.kv_heads
    }

    /// Width of all query heads together.
    pub fn q_width(&self) -> usize {
        self.heads * self.d_head
    }

    /// Width of all key (or value) heads together.
    pub fn kv_width(&self) -> usize {
        self.kv_heads * self.d_head
    }
}

/// One transformer block's weights.
#[derive(Clone, Debug)]
pub struct LayerWeights {
    /// RMSNorm scale before attention.
    pub attn_norm: Vec<f32>,
    /// `W_Q`: `heads · d_head × d_model`.
    pub wq: QuantMatrix,
    /// `W_K`: `kv_heads · d_head × d_model`.
    pub wk: QuantMatrix,
    /// `W_V`: `kv_heads · d_head × d_model`.
    pub wv: QuantMatrix,
    /// `W_O`: `d_model × heads · d_head`.
    pub wo: QuantMatrix,
    /// RMSNorm scale before the feed-forward block.
    pub ffn_norm: Vec<f32>,
    /// SwiGLU gate: `ffn × d_model`.
    pub w_gate: QuantMatrix,
    /// SwiGLU up: `ffn × d_model`.
    pub w_up: QuantMatrix,
    /// SwiGLU down: `d_model × ffn`.
    pub w_down: QuantMatrix,
}

/// A loaded model: hyper-parameters, weights and tokenizer.
#[derive(Clone, Debug)]
pub struct LlamaModel {
    /// The hyper-parameters.
    pub config: LlamaConfig,
    /// The token embedding, `vocab × d_model`.
    pub embedding: QuantMatrix,
    /// The blocks.
    pub layers: Vec<LayerWeights>,
    /// The final RMSNorm's scale.
    pub output_norm: Vec<f32>,
    /// The output projection, `vocab × d_model`; `None` when tied to the embedding (SmolLM2).
    pub output: Option<QuantMatrix>,
    /// The tokenizer the file describes.
    pub tokenizer: BpeTokenizer,
}

impl LlamaModel {
    /// Loads a model from a parsed GGUF file, checking every tensor's shape.
    pub fn from_gguf(file: &GgufFile) -> Result<Self, LlmError> {
        let config = LlamaConfig::from_gguf(file)?;
        let tokenizer = BpeTokenizer::new(tokenizer_spec(file)?)?;
        let c = &config;
        let (d, q, kv, f) = (
            c.d_model as u64,
            c.q_width() as u64,
            c.kv_width() as u64,
            c.ffn as u64,
        );
        let matrix = |name: &str, cols: u64, rows: u64| -> Result<QuantMatrix, LlmError> {
            let info = tensor(file, name, &[cols, rows])?;
            Ok(QuantMatrix::from_gguf(
                name,
                info.kind,
                rows as usize,
                cols as usize,
                file.tensor_bytes(info),
            )?)
        };
        let vector = |name: &str, len: u64| -> Result<Vec<f32>, LlmError> {
            let info = tensor(file, name, &[len])?;
            vector_values(info, file.tensor_bytes(info))
        };
        let mut layers = Vec::with_capacity(c.layers);
        for l in 0..c.layers {
            let n = |part: &str| format!("blk.{l}.{part}.weight");
            layers.push(LayerWeights {
                attn_norm: vector(&n("attn_norm"), d)?,
                wq: matrix(&n("attn_q"), d, q)?,
                wk: matrix(&n("attn_k"), d, kv)?,
                wv: matrix(&n("attn_v"), d, kv)?,
                wo: matrix(&n("attn_output"), q, d)?,
                ffn_norm: vector(&n("ffn_norm"), d)?,
                w_gate: matrix(&n("ffn_gate"), d, f)?,
                w_up: matrix(&n("ffn_up"), d, f)?,
                w_down: matrix(&n("ffn_down"), f, d)?,
            });
        }
        let embedding = matrix("token_embd.weight", d, c.vocab as u64)?;
        let output = match file.tensor("output.weight") {
            None => None,
            Some(_) => Some(matrix("output.weight", d, c.vocab as u64)?),
        };
        Ok(Self {
            output_norm: vector("output_norm.weight", d)?,
            config,
            embedding,
            layers,
            output,
            tokenizer,
        })
    }

    /// The matrix the logits come from: `output.weight`, or the embedding when tied.
    pub fn output_matrix(&self) -> &QuantMatrix {
        self.output.as_ref().unwrap_or(&self.embedding)
    }

    /// Bytes of all weights as Gaze holds them (repacked blocks and f32 norms).
    pub fn weight_bytes(&self) -> usize {
        let layer_bytes: usize = self
            .layers
            .iter()
            .map(|l| {
                [&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down]
                    .iter()
                    .map(|m| m.byte_len())
                    .sum::<usize>()
                    + 4 * (l.attn_norm.len() + l.ffn_norm.len())
            })
            .sum();
        layer_bytes
            + self.embedding.byte_len()
            + self.output.as_ref().map_or(0, QuantMatrix::byte_len)
            + 4 * self.output_norm.len()
    }

    /// Checks that `tokens` can run from position `past`, leaving room for `extra` more.
    pub fn check_tokens(&self, tokens: &[u32], past: usize, extra: usize) -> Result<(), LlmError> {
        if tokens.is_empty() {
            return Err(LlmError::EmptyPrompt);
        }
        // Saturating: `extra` may be a caller's "as many as fit" (usize::MAX).
        let total = past.saturating_add(tokens.len()).saturating_add(extra);
        if total > self.config.context {
            return Err(LlmError::ContextTooLong {
                tokens: total,
                context: self.config.context,
            });
        }
        if let Some(&id) = tokens.iter().find(|&&t| t as usize >= self.config.vocab) {
            return Err(LlmError::TokenOutOfRange {
                id,
                vocab: self.config.vocab,
            });
        }
        Ok(())
    }
}

/// The tensor `name`, which must have exactly `dims`.
fn tensor<'a>(file: &'a GgufFile, name: &str, dims: &[u64]) -> Result<&'a TensorInfo, LlmError> {
    let info = file
        .tensor(name)
        .ok_or_else(|| GgufError::MissingTensor(name.to_owned()))?;
    if info.dims != dims {
        return Err(LlmError::Shape {
            name: name.to_owned(),
            expected: dims.to_vec(),
            found: info.dims.clone(),
        });
    }
    Ok(info)
}

/// A norm's scale as floats (stored F32, or F16 in some files).
fn vector_values(info: &TensorInfo, bytes: &[u8]) -> Result<Vec<f32>, LlmError> {
    match info.kind {
        TensorType::F32 => Ok(bytes
            .chunks_exact(4)
            .map(|c| <[u8; 4]>::try_from(c).map_or(0.0, f32::from_le_bytes))
            .collect()),
        TensorType::F16 => Ok(bytes
            .chunks_exact(2)
            .map(|c| <[u8; 2]>::try_from(c).map_or(0.0, |b| half::f16::from_le_bytes(b).to_f32()))
            .collect()),
        other => Err(LlmError::Gguf(GgufError::UnsupportedTensorType {
            name: info.name.clone(),
            kind: format!("{} (a norm must be F32 or F16)", other.name()),
        })),
    }
}

/// What the file says about its tokenizer.
pub fn tokenizer_spec(file: &GgufFile) -> Result<TokenizerSpec, LlmError> {
    let id = |key: &str| {
        file.get(key)
            .and_then(|v| v.as_u64())
            .and_then(|v| u32::try_from(v).ok())
    };
    let token_types = match file.get("tokenizer.ggml.token_type") {
        None => Vec::new(),
        Some(value) => value
            .as_array()
            .unwrap_or(&[])
            .iter()
            .map(|v| match v {
                super::gguf::Value::I64(i) => *i as i32,
                super::gguf::Value::U64(u) => *u as i32,
                _ => 1,
            })
            .collect(),
    };
    Ok(TokenizerSpec {
        model: file.require_str("tokenizer.ggml.model")?.to_owned(),
        pre: file
            .get("tokenizer.ggml.pre")
            .and_then(|v| v.as_str())
            .map(str::to_owned),
        tokens: file.string_array("tokenizer.ggml.tokens")?,
        merges: match file.get("tokenizer.ggml.merges") {
            None => Vec::new(),
            Some(_) => file.string_array("tokenizer.ggml.merges")?,
        },
        token_types,
        bos: id("tokenizer.ggml.bos_token_id"),
        eos: id("tokenizer.ggml.eos_token_id"),
        add_bos: file
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.as_bool())
            .unwrap_or(false),
    })
}
