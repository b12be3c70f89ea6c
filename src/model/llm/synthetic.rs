//! Small random-weight Llama models written as GGUF files: what the tests and benchmarks run
//! when no real model is at hand. Each matrix takes the next of every tensor type Gaze reads, so
//! one small file exercises the reader, the repacking and every kernel's block format.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::gguf::{GgufWriter, TensorType};
use super::quant::quantize;

/// The shape of a synthetic model.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SyntheticSpec {
    /// Transformer blocks.
    pub layers: usize,
    /// Query heads.
    pub heads: usize,
    /// Key/value heads (fewer than `heads`: grouped-query attention).
    pub kv_heads: usize,
    /// Residual width (a multiple of 32).
    pub d_model: usize,
    /// Feed-forward width (a multiple of 32).
    pub ffn: usize,
    /// Context length the metadata declares.
    pub context: usize,
    /// Scale of the random weights: larger gives peakier attention.
    pub weight_scale: f32,
    /// Seeds every weight.
    pub seed: u64,
}

impl Default for SyntheticSpec {
    /// Two layers, 4 query heads over 2 key/value heads, d_model 64: a few hundred kilobytes.
    fn default() -> Self {
        Self {
            layers: 2,
            heads: 4,
            kv_heads: 2,
            d_model: 64,
            ffn: 96,
            context: 2048,
            weight_scale: 0.35,
            seed: 1,
        }
    }
}

/// The matrix types in the order matrices take them (the embedding is always Q8_0, as in
/// SmolLM2's file).
const MATRIX_TYPES: [TensorType; 5] = [
    TensorType::Q4_1,
    TensorType::Q4_0,
    TensorType::Q8_0,
    TensorType::F16,
    TensorType::F32,
];

/// Merges of the synthetic byte-level vocabulary (GPT-2's `Ġ` is a space).
const MERGES: [&str; 8] = ["Ġ t", "h e", "Ġt he", "i n", "e r", "a n", "Ġ a", "o n"];

/// The control tokens after the merged ones.
pub const SPECIAL_TOKENS: [&str; 2] = ["<|im_start|>", "<|im_end|>"];

/// GPT-2's byte-to-character table: printable bytes stand for themselves, the others are moved
/// to U+0100 onwards, so every byte has a visible one-character token.
fn byte_char(byte: u8) -> char {
    let printable = (b'!'..=b'~').contains(&byte) || (0xa1..=0xac).contains(&byte) || byte >= 0xae;
    if printable {
        return char::from(byte);
    }
    let shifted = (0..=byte)
        .filter(|&b| !((b'!'..=b'~').contains(&b) || (0xa1..=0xac).contains(&b) || b >= 0xae))
        .count() as u32
        - 1;
    char::from_u32(256 + shifted).unwrap_or('?')
}

/// The vocabulary: 256 byte tokens, the merged tokens, then the control tokens.
pub fn synthetic_vocabulary() -> (Vec<String>, Vec<String>, Vec<i32>) {
    let mut tokens: Vec<String> = (0..=255u8).map(|b| byte_char(b).to_string()).collect();
    let merges: Vec<String> = MERGES.iter().map(|m| (*m).to_owned()).collect();
    for merge in &merges {
        tokens.push(merge.replace(' ', ""));
    }
    let mut types = vec![1; tokens.len()];
    for special in SPECIAL_TOKENS {
        tokens.push(special.to_owned());
        types.push(3);
    }
    (tokens, merges, types)
}

/// A random-weight Llama model of `spec` as GGUF bytes.
pub fn synthetic_gguf(spec: &SyntheticSpec) -> Vec<u8> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let d_head = spec.d_model / spec.heads;
    let (tokens, merges, types) = synthetic_vocabulary();
    let vocab = tokens.len();
    let mut w = GgufWriter::new();
    w.string("general.architecture", "llama")
        .string("general.name", "gaze-synthetic")
        .u32("llama.block_count", spec.layers as u32)
        .u32("llama.context_length", spec.context as u32)
        .u32("llama.embedding_length", spec.d_model as u32)
        .u32("llama.feed_forward_length", spec.ffn as u32)
        .u32("llama.attention.head_count", spec.heads as u32)
        .u32("llama.attention.head_count_kv", spec.kv_heads as u32)
        .f32("llama.attention.layer_norm_rms_epsilon", 1e-5)
        .f32("llama.rope.freq_base", 10_000.0)
        .string("tokenizer.ggml.model", "gpt2")
        .string("tokenizer.ggml.pre", "gpt2")
        .strings("tokenizer.ggml.tokens", &tokens)
        .strings("tokenizer.ggml.merges", &merges)
        .i32s("tokenizer.ggml.token_type", &types)
        .u32("tokenizer.ggml.eos_token_id", (vocab - 1) as u32)
        .bool("tokenizer.ggml.add_bos_token", false);
    let mut random = |n: usize, scale: f32| -> Vec<f32> {
        (0..n).map(|_| rng.random_range(-scale..scale)).collect()
    };
    let mut next_type = 0usize;
    let mut matrix =
        |w: &mut GgufWriter, name: &str, cols: usize, rows: usize, values: Vec<f32>| {
            let kind = MATRIX_TYPES
                .get(next_type % MATRIX_TYPES.len())
                .copied()
                .unwrap_or(TensorType::F32);
            next_type += 1;
            w.tensor(
                name,
                &[cols as u64, rows as u64],
                kind,
                quantize(kind, &values),
            );
        };
    let (d, q, kv, f) = (
        spec.d_model,
        spec.heads * d_head,
        spec.kv_heads * d_head,
        spec.ffn,
    );
    let s = spec.weight_scale;
    let embedding = random(vocab * d, 1.0);
    w.tensor(
        "token_embd.weight",
        &[d as u64, vocab as u64],
        TensorType::Q8_0,
        quantize(TensorType::Q8_0, &embedding),
    );
    for l in 0..spec.layers {
        let n = |part: &str| format!("blk.{l}.{part}.weight");
        let norm: Vec<f32> = random(d, 0.2).iter().map(|v| 1.0 + v).collect();
        w.tensor(
            &n("attn_norm"),
            &[d as u64],
            TensorType::F32,
            quantize(TensorType::F32, &norm),
        );
        matrix(&mut w, &n("attn_q"), d, q, random(q * d, s));
        matrix(&mut w, &n("attn_k"), d, kv, random(kv * d, s));
        matrix(&mut w, &n("attn_v"), d, kv, random(kv * d, s));
        matrix(&mut w, &n("attn_output"), q, d, random(d * q, s));
        let norm: Vec<f32> = random(d, 0.2).iter().map(|v| 1.0 + v).collect();
        w.tensor(
            &n("ffn_norm"),
            &[d as u64],
            TensorType::F32,
            quantize(TensorType::F32, &norm),
        );
        matrix(&mut w, &n("ffn_gate"), d, f, random(f * d, s));
        matrix(&mut w, &n("ffn_up"), d, f, random(f * d, s));
        matrix(&mut w, &n("ffn_down"), f, d, random(d * f, s));
    }
    let norm: Vec<f32> = random(d, 0.2).iter().map(|v| 1.0 + v).collect();
    w.tensor(
        "output_norm.weight",
        &[d as u64],
        TensorType::F32,
        quantize(TensorType::F32, &norm),
    );
    w.to_bytes()
}

/// The model [`synthetic_gguf`] writes, read back (what unit tests run the lesson on).
pub fn synthetic_model(spec: &SyntheticSpec) -> Result<super::LlamaModel, super::LlmError> {
    let file = super::gguf::GgufFile::parse(synthetic_gguf(spec))?;
    super::LlamaModel::from_gguf(&file)
}
