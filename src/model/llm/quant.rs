//! Quantised matrices: GGUF's blocks of 32 values, repacked into whole `u32` words so a WGSL
//! kernel can read them from an `array<u32>`, and the CPU twins of the kernels' block reads.
//!
//! GGUF stores a matrix with dims `[cols, rows]` as `rows` rows of `cols / 32` blocks. The file's
//! Q8_0 (34 bytes) and Q4_0 (18 bytes) blocks are not 4-byte aligned, so every block is repacked
//! at load into a whole number of words, scale first (`shaders/llm_matmul.wgsl` reads the same):
//!
//! | type | words | word 0 | words 1.. |
//! |------|-------|--------|-----------|
//! | Q4_1 | 5 | `d` (f16, low half), `m` (f16, high half) | 16 bytes: byte `b` holds values `b` (low nibble) and `b + 16` (high); value = d·q + m |
//! | Q4_0 | 5 | `d` (f16, low half) | the same nibbles; value = d·(q − 8) |
//! | Q8_0 | 9 | `d` (f16, low half) | 32 × i8, four to a word; value = d·q |
//! | F16  | 16 | — | two halves per word, low half first |
//! | F32  | 32 | — | one value per word |
//!
//! The dot product of a row with a vector takes each block whole: for Q4_1,
//! `Σ_j (d·q_j + m)·x_j = d·Σ_j q_j·x_j + m·Σ_j x_j` — one multiply by `d` per block, not 32.
//! [`block_dot`] is the twin of `block_dot` in the shader, loop for loop.

// The twin of `shaders/llm_matmul.wgsl`: it indexes words the way the shader does, so the two
// read alike line by line. Every index is in bounds by construction: `QuantMatrix::new` checks
// that the words hold `rows × cols / 32` whole blocks, and callers pass `x` of `cols` values.
#![allow(
    clippy::indexing_slicing,
    reason = "a CPU twin of a WGSL kernel: it indexes as the kernel does (the `model` module's docs, \"CPU twins\")"
)]

use half::f16;

use super::gguf::TensorType;

/// Values per quantisation block (every matrix type Gaze reads is read in blocks of 32).
pub const BLOCK: usize = 32;

/// `u32` words one block of `kind` takes once repacked.
pub fn words_per_block(kind: TensorType) -> usize {
    match kind {
        TensorType::F32 => 32,
        TensorType::F16 => 16,
        TensorType::Q4_0 | TensorType::Q4_1 => 5,
        TensorType::Q8_0 => 9,
    }
}

/// Why a tensor could not be repacked.
#[derive(Debug, thiserror::Error, Clone, PartialEq)]
#[error("tensor {name}: {why}")]
pub struct QuantError {
    /// Tensor name.
    pub name: String,
    /// What was wrong.
    pub why: String,
}

/// A `rows × cols` matrix in its repacked block encoding.
#[derive(Clone, Debug, PartialEq)]
pub struct QuantMatrix {
    /// Block encoding.
    pub kind: TensorType,
    /// Output rows.
    pub rows: usize,
    /// Input columns (a multiple of 32).
    pub cols: usize,
    /// `rows × cols / 32` blocks of [`words_per_block`] words, row by row.
    pub words: Vec<u32>,
}

impl QuantMatrix {
    /// Repacks a tensor's GGUF bytes (`rows` rows of `cols` values of type `kind`).
    pub fn from_gguf(
        name: &str,
        kind: TensorType,
        rows: usize,
        cols: usize,
        bytes: &[u8],
    ) -> Result<Self, QuantError> {
        let fail = |why: String| QuantError {
            name: name.to_owned(),
            why,
        };
        if !cols.is_multiple_of(BLOCK) || cols == 0 || rows == 0 {
            return Err(fail(format!(
                "a {rows} × {cols} matrix: Gaze multiplies matrices whose rows are whole blocks of {BLOCK}"
            )));
        }
        let blocks = rows * cols / BLOCK;
        let file_block = (kind.block_bytes() * (BLOCK as u64 / kind.block_len())) as usize;
        if bytes.len() != blocks * file_block {
            return Err(fail(format!(
                "{} bytes for a {rows} × {cols} {} matrix, which needs {}",
                bytes.len(),
                kind.name(),
                blocks * file_block
            )));
        }
        let per_block = words_per_block(kind);
        let mut words = Vec::with_capacity(blocks * per_block);
        for block in bytes.chunks_exact(file_block) {
            repack_block(kind, block, &mut words);
        }
        Ok(Self {
            kind,
            rows,
            cols,
            words,
        })
    }

    /// Blocks in one row.
    pub fn blocks_per_row(&self) -> usize {
        self.cols / BLOCK
    }

    /// `Σ_c W[row][c] · x[c]`, block by block, as the GEMV kernel sums one row.
    pub fn row_dot(&self, row: usize, x: &[f32]) -> f32 {
        let per_block = words_per_block(self.kind);
        let mut acc = 0.0f32;
        for block in 0..self.blocks_per_row() {
            let base = (row * self.blocks_per_row() + block) * per_block;
            acc += block_dot(self.kind, &self.words, base, x, block * BLOCK);
        }
        acc
    }

    /// `y = W · x` for one vector `x` of `cols` values.
    pub fn matvec(&self, x: &[f32]) -> Vec<f32> {
        (0..self.rows).map(|row| self.row_dot(row, x)).collect()
    }

    /// Row `row` as floats (an embedding lookup).
    pub fn row(&self, row: usize) -> Vec<f32> {
        let per_block = words_per_block(self.kind);
        (0..self.cols)
            .map(|c| {
                let base = (row * self.blocks_per_row() + c / BLOCK) * per_block;
                dequant(self.kind, &self.words, base, c % BLOCK)
            })
            .collect()
    }

    /// Bytes of the repacked words (what the GPU holds).
    pub fn byte_len(&self) -> usize {
        self.words.len() * 4
    }
}

/// Appends one GGUF block of `kind` (its file bytes) as repacked words.
fn repack_block(kind: TensorType, block: &[u8], words: &mut Vec<u32>) {
    let word_at = |bytes: &[u8], i: usize| {
        let mut w = [0u8; 4];
        for (k, slot) in w.iter_mut().enumerate() {
            *slot = bytes.get(i + k).copied().unwrap_or(0);
        }
        u32::from_le_bytes(w)
    };
    match kind {
        TensorType::F32 | TensorType::F16 => {
            for i in (0..block.len()).step_by(4) {
                words.push(word_at(block, i));
            }
        }
        // d (2 bytes) then 16 bytes of nibbles: d in the low half of word 0.
        TensorType::Q4_0 => {
            words.push(u32::from(u16::from_le_bytes([block[0], block[1]])));
            for i in 0..4 {
                words.push(word_at(block, 2 + 4 * i));
            }
        }
        // d, m (2 bytes each) then 16 bytes: the file's layout is already whole words.
        TensorType::Q4_1 => {
            for i in 0..5 {
                words.push(word_at(block, 4 * i));
            }
        }
        // d (2 bytes) then 32 signed bytes.
        TensorType::Q8_0 => {
            words.push(u32::from(u16::from_le_bytes([block[0], block[1]])));
            for i in 0..8 {
                words.push(word_at(block, 2 + 4 * i));
            }
        }
    }
}

/// The f16 in the low half of `word`.
fn low_half(word: u32) -> f32 {
    f16::from_bits((word & 0xffff) as u16).to_f32()
}

/// The f16 in the high half of `word`.
fn high_half(word: u32) -> f32 {
    f16::from_bits((word >> 16) as u16).to_f32()
}

/// `Σ_{j<32} W_j · x[x_base + j]` for the block whose words start at `base`: the twin of
/// `block_dot` in `shaders/llm_matmul.wgsl`.
pub fn block_dot(kind: TensorType, words: &[u32], base: usize, x: &[f32], x_base: usize) -> f32 {
    match kind {
        TensorType::F32 => {
            let mut acc = 0.0;
            for j in 0..32 {
                acc += f32::from_bits(words[base + j]) * x[x_base + j];
            }
            acc
        }
        TensorType::F16 => {
            let mut acc = 0.0;
            for w in 0..16 {
                let word = words[base + w];
                acc += low_half(word) * x[x_base + 2 * w] + high_half(word) * x[x_base + 2 * w + 1];
            }
            acc
        }
        TensorType::Q4_0 | TensorType::Q4_1 => {
            // Byte b of the 16 holds value b (low nibble) and value b + 16 (high nibble).
            let mut acc_q = 0.0;
            let mut acc_x = 0.0;
            for w in 0..4 {
                let word = words[base + 1 + w];
                for b in 0..4 {
                    let byte = (word >> (8 * b)) & 0xff;
                    let j = x_base + 4 * w + b;
                    acc_q += (byte & 0xf) as f32 * x[j] + (byte >> 4) as f32 * x[j + 16];
                    acc_x += x[j] + x[j + 16];
                }
            }
            let header = words[base];
            if kind == TensorType::Q4_1 {
                // value = d·q + m
                low_half(header) * acc_q + high_half(header) * acc_x
            } else {
                // value = d·(q − 8)
                low_half(header) * (acc_q - 8.0 * acc_x)
            }
        }
        TensorType::Q8_0 => {
            let mut acc = 0.0;
            for w in 0..8 {
                let word = words[base + 1 + w];
                for b in 0..4 {
                    let q = ((word >> (8 * b)) & 0xff) as u8 as i8;
                    acc += f32::from(q) * x[x_base + 4 * w + b];
                }
            }
            low_half(words[base]) * acc
        }
    }
}

/// Value `j` (0..32) of the block whose words start at `base`: the twin of `dequant` in
/// `shaders/llm_matmul.wgsl` (the tiled GEMM reads its tiles this way).
pub fn dequant(kind: TensorType, words: &[u32], base: usize, j: usize) -> f32 {
    match kind {
        TensorType::F32 => f32::from_bits(words[base + j]),
        TensorType::F16 => {
            let word = words[base + j / 2];
            if j.is_multiple_of(2) {
                low_half(word)
            } else {
                high_half(word)
            }
        }
        TensorType::Q4_0 | TensorType::Q4_1 => {
            let byte_index = j % 16;
            let byte = (words[base + 1 + byte_index / 4] >> (8 * (byte_index % 4))) & 0xff;
            let q = if j < 16 { byte & 0xf } else { byte >> 4 } as f32;
            let header = words[base];
            if kind == TensorType::Q4_1 {
                low_half(header) * q + high_half(header)
            } else {
                low_half(header) * (q - 8.0)
            }
        }
        TensorType::Q8_0 => {
            let q = ((words[base + 1 + j / 4] >> (8 * (j % 4))) & 0xff) as u8 as i8;
            low_half(words[base]) * f32::from(q)
        }
    }
}

/// Quantises `values` (a whole number of blocks) into GGUF's file encoding of `kind`, as ggml's
/// reference quantisers do: what the tests use to write small models. Q8_0: `d = max|x| / 127`,
/// `q = round(x / d)`; Q4_0: `d = x_absmax / −8` (the signed value of largest magnitude),
/// `q = clamp(round(x / d + 8), 0, 15)`; Q4_1: `d = (max − min) / 15`, `m = min`,
/// `q = clamp(round((x − m) / d), 0, 15)`.
pub fn quantize(kind: TensorType, values: &[f32]) -> Vec<u8> {
    let mut out = Vec::new();
    match kind {
        TensorType::F32 => values
            .iter()
            .for_each(|v| out.extend_from_slice(&v.to_le_bytes())),
        TensorType::F16 => values
            .iter()
            .for_each(|v| out.extend_from_slice(&f16::from_f32(*v).to_le_bytes())),
        TensorType::Q8_0 => {
            for block in values.chunks(BLOCK) {
                let amax = block.iter().fold(0.0f32, |a, v| a.max(v.abs()));
                let d = amax / 127.0;
                let inv = if d == 0.0 { 0.0 } else { 1.0 / d };
                out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
                for v in block {
                    out.push(((v * inv).round() as i8) as u8);
                }
            }
        }
        TensorType::Q4_0 => {
            for block in values.chunks(BLOCK) {
                let max = block
                    .iter()
                    .fold(0.0f32, |a, &v| if v.abs() > a.abs() { v } else { a });
                let d = max / -8.0;
                let inv = if d == 0.0 { 0.0 } else { 1.0 / d };
                out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
                let q = |v: f32| ((v * inv + 8.5) as i32).clamp(0, 15) as u8;
                for b in 0..16 {
                    out.push(q(block[b]) | (q(block[b + 16]) << 4));
                }
            }
        }
        TensorType::Q4_1 => {
            for block in values.chunks(BLOCK) {
                let min = block.iter().fold(f32::INFINITY, |a, &v| a.min(v));
                let max = block.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v));
                let d = (max - min) / 15.0;
                let inv = if d == 0.0 { 0.0 } else { 1.0 / d };
                out.extend_from_slice(&f16::from_f32(d).to_le_bytes());
                out.extend_from_slice(&f16::from_f32(min).to_le_bytes());
                let q = |v: f32| (((v - min) * inv + 0.5) as i32).clamp(0, 15) as u8;
                for b in 0..16 {
                    out.push(q(block[b]) | (q(block[b + 16]) << 4));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KINDS: [TensorType; 5] = [
        TensorType::F32,
        TensorType::F16,
        TensorType::Q8_0,
        TensorType::Q4_0,
        TensorType::Q4_1,
    ];

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2654435761) ^ seed) % 1000) as f32 / 500.0 - 1.0)
            .collect()
    }

    #[test]
    fn block_dot_equals_the_dot_of_the_dequantised_row_for_every_type() {
        for kind in KINDS {
            let (rows, cols) = (3, 96);
            let w = values(rows * cols, 7);
            let m = QuantMatrix::from_gguf("w", kind, rows, cols, &quantize(kind, &w)).unwrap();
            let x = values(cols, 11);
            for r in 0..rows {
                let row = m.row(r);
                let expected: f32 = row.iter().zip(&x).map(|(a, b)| a * b).sum();
                let got = m.row_dot(r, &x);
                assert!(
                    (got - expected).abs() < 1e-4,
                    "{kind:?}: {got} vs {expected}"
                );
            }
        }
    }

    #[test]
    fn quantised_values_stay_within_half_a_step_of_the_originals() {
        for kind in KINDS {
            let w = values(64, 3);
            let m = QuantMatrix::from_gguf("w", kind, 1, 64, &quantize(kind, &w)).unwrap();
            let back = m.row(0);
            // Q4: 16 levels over a range of 2 → steps of 2/15; Q8: 255 levels.
            let tolerance = match kind {
                TensorType::F32 => 0.0,
                TensorType::F16 => 1e-3,
                TensorType::Q8_0 => 1.0 / 127.0,
                TensorType::Q4_0 => 1.0 / 8.0 + 1e-3,
                TensorType::Q4_1 => 1.0 / 15.0 + 1e-3,
            };
            for (a, b) in w.iter().zip(&back) {
                assert!((a - b).abs() <= tolerance, "{kind:?}: {a} came back {b}");
            }
        }
    }

    #[test]
    fn q4_1_block_reads_low_nibbles_first_then_high() {
        // d = 1, m = 0.5; byte b = (b % 16) | ((15 − b % 16) << 4).
        let mut block = Vec::new();
        block.extend_from_slice(&f16::from_f32(1.0).to_le_bytes());
        block.extend_from_slice(&f16::from_f32(0.5).to_le_bytes());
        for b in 0..16u8 {
            block.push(b | ((15 - b) << 4));
        }
        let m = QuantMatrix::from_gguf("w", TensorType::Q4_1, 1, 32, &block).unwrap();
        let row = m.row(0);
        for b in 0..16 {
            assert_eq!(row[b], b as f32 + 0.5);
            assert_eq!(row[b + 16], (15 - b) as f32 + 0.5);
        }
    }

    #[test]
    fn a_tensor_of_the_wrong_size_is_refused_by_name() {
        let err = QuantMatrix::from_gguf("blk.0.attn_q.weight", TensorType::Q8_0, 2, 32, &[0; 34])
            .unwrap_err();
        assert!(err.to_string().contains("blk.0.attn_q.weight"), "{err}");
        let err = QuantMatrix::from_gguf("w", TensorType::F32, 1, 30, &[0; 120]).unwrap_err();
        assert!(err.to_string().contains("whole blocks"), "{err}");
    }
}
