//! Multi-head scaled dot-product attention: the spec and the CPU reference.
//!
//! For every head `h` with projections `W_Q, W_K, W_V` (each `d_model × d_k`):
//!
//! ```text
//! Q = X W_Q,  K = X W_K,  V = X W_V          (RoPE, when on, rotates Q and K)
//! S = Q Kᵀ / √d_k                            (masked entries are −∞)
//! P = softmax_rows(S)                        (each row sums to 1; a row masked whole is 0)
//! O = P V
//! ```
//!
//! Row `i` of `P` is where token `i` spends its attention budget. A mask removes keys from a row:
//! the causal mask hides the future (`j > i`) and the key-padding mask hides chosen keys entirely.
//!
//! The four functions [`project`], [`scores`], [`softmax_rows`] and [`weighted_values`] are the
//! CPU twins of `shaders/attention_project.wgsl`, `attention_scores.wgsl`, `attention_softmax.wgsl`
//! and `attention_output.wgsl`. They are written to read like the shaders — same buffer layouts,
//! same loops, the same 256-lane strided reductions — so the two can be compared by eye and agree
//! to the last few bits. Keep them in step with the shaders.
//!
//! Every function works on a *window* of query rows `query_start .. query_start + query_count`:
//! the whole matrix is the window `0 .. N`, and the focus-row mode — one query against all `N`
//! keys, the path for 10k-token contexts — is the window of one row. Nothing in the focus-row mode
//! is `N × N`: it needs `O(N · d_k)` memory.
//!
//! Buffer layouts (all row-major, f32):
//! - `x`: `[N][d_model]`; `w_qkv`: `[head][3 = Q, K, V][d_model][d_k]`
//! - `q`, `k`, `v`: `[head][N][d_k]`
//! - `scores`, `weights`: `[head][query_count][N]`; `output`: `[head][query_count][d_k]`
//! - `key_mask`: `[N]` of u32, 1 = that key is padding and masked out (empty when unused)

#![allow(
    clippy::indexing_slicing,
    reason = "a CPU twin of a WGSL kernel: it indexes as the kernel does (the `model` module's docs, \"CPU twins\")"
)]

use std::ops::Range;

use bytemuck::{Pod, Zeroable};
use thiserror::Error;

use super::positions::{self, Positions};

/// Invocations per workgroup in the row kernels (softmax, output): each row is split across this
/// many lanes, and the lanes' partial results are combined by a tree reduction.
/// Keep in sync with `LANES` in `shaders/attention_softmax.wgsl` and `attention_output.wgsl`.
pub const LANES: usize = 256;

/// The starting value of a running maximum: the most negative finite f32. The kernels never
/// compute with infinities (WGSL lets implementations assume there are none), so they start here.
pub const LOWEST_FINITE: f32 = f32::MIN;

/// Largest head count a request may ask for.
pub const MAX_HEADS: usize = 64;
/// Largest embedding width.
pub const MAX_D_MODEL: usize = 4096;
/// Largest head width.
pub const MAX_D_K: usize = 1024;
/// Largest number of tokens in one request (the focus-row mode's ceiling; the full matrix is also
/// bounded by the device's buffer limits).
pub const MAX_TOKENS: usize = 1 << 20;

/// Errors from malformed attention input. Each says what was wrong and with which sizes.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum AttentionError {
    /// There is nothing to attend over.
    #[error("attention needs at least one token")]
    NoTokens,
    /// No heads were given.
    #[error("attention needs at least one head")]
    NoHeads,
    /// A matrix's data does not match its declared shape.
    #[error("{what} is declared {rows}×{cols} but holds {len} values")]
    MatrixData {
        /// Which matrix.
        what: String,
        /// Declared rows.
        rows: usize,
        /// Declared columns.
        cols: usize,
        /// Values actually present.
        len: usize,
    },
    /// A weight matrix has the wrong shape.
    #[error("head {head}: {which} is {rows}×{cols}, expected {expected_rows}×{expected_cols}")]
    WeightShape {
        /// Head index.
        head: usize,
        /// `W_Q`, `W_K` or `W_V`.
        which: &'static str,
        /// Its rows.
        rows: usize,
        /// Its columns.
        cols: usize,
        /// Rows expected (`d_model`).
        expected_rows: usize,
        /// Columns expected (`d_k` of head 0).
        expected_cols: usize,
    },
    /// A dimension is zero or above the documented maximum.
    #[error("{what} = {value} is outside 1..={max}")]
    OutOfRange {
        /// Which dimension.
        what: &'static str,
        /// Its value.
        value: usize,
        /// The largest allowed.
        max: usize,
    },
    /// The focus token is not in the sentence.
    #[error("focus token {focus} is outside the sentence of {n_tokens} tokens")]
    FocusOutOfRange {
        /// Requested focus.
        focus: usize,
        /// Tokens available.
        n_tokens: usize,
    },
    /// The key-padding mask does not have one entry per token.
    #[error("the key-padding mask has {found} entries for {n_tokens} tokens")]
    MaskLength {
        /// Entries given.
        found: usize,
        /// Tokens.
        n_tokens: usize,
    },
    /// An input holds NaN or ±∞.
    #[error("{what} holds a non-finite value ({value}) at index {index}")]
    NonFinite {
        /// Which input.
        what: String,
        /// Flat index of the first bad value.
        index: usize,
        /// The value.
        value: f32,
    },
}

/// A dense row-major matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct Matrix {
    rows: usize,
    cols: usize,
    data: Vec<f32>,
}

impl Matrix {
    /// A matrix from row-major data; the length must be `rows × cols`.
    pub fn new(rows: usize, cols: usize, data: Vec<f32>) -> Result<Self, AttentionError> {
        if rows.checked_mul(cols) != Some(data.len()) {
            return Err(AttentionError::MatrixData {
                what: "matrix".into(),
                rows,
                cols,
                len: data.len(),
            });
        }
        Ok(Self { rows, cols, data })
    }

    /// A matrix of zeros.
    pub fn zeros(rows: usize, cols: usize) -> Self {
        Self {
            rows,
            cols,
            data: vec![0.0; rows * cols],
        }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Number of columns.
    pub fn cols(&self) -> usize {
        self.cols
    }

    /// The row-major values.
    pub fn data(&self) -> &[f32] {
        &self.data
    }

    /// The row-major values, mutable (the shape stays fixed).
    pub fn data_mut(&mut self) -> &mut [f32] {
        &mut self.data
    }

    /// Row `r`, or `None` past the end.
    pub fn row(&self, r: usize) -> Option<&[f32]> {
        self.data.get(r * self.cols..(r + 1) * self.cols)
    }
}

/// One head's projections, each `d_model × d_k`.
#[derive(Clone, Debug, PartialEq)]
pub struct HeadWeights {
    /// Query projection.
    pub w_q: Matrix,
    /// Key projection.
    pub w_k: Matrix,
    /// Value projection.
    pub w_v: Matrix,
}

/// Switches that change what attention may see.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AttentionOptions {
    /// Hide the future: `S_ij = −∞` for `j > i`.
    pub causal: bool,
    /// Positional encoding.
    pub positions: Positions,
    /// Keys to hide from every query (`true` = padding, masked out), one entry per token.
    pub key_padding_mask: Option<Vec<bool>>,
}

/// Everything attention is computed from.
#[derive(Clone, Debug, PartialEq)]
pub struct AttentionInput {
    /// Token embeddings, `N × d_model`.
    pub x: Matrix,
    /// One entry per head.
    pub heads: Vec<HeadWeights>,
    /// Masks and positions.
    pub options: AttentionOptions,
}

/// Which query rows to compute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueryRows {
    /// The full `N × N` matrix.
    All,
    /// One query row against all `N` keys, in `O(N · d_k)` memory.
    Focus(usize),
}

/// The uniform block every attention kernel reads.
/// Keep in sync with `struct AttentionParams` in `shaders/shared/attention_params.wgsl`, which
/// every attention and overview kernel is joined with (a test compares the field names and
/// offsets with each joined shader's).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
pub struct AttentionParams {
    /// N, the number of tokens (keys).
    pub n_tokens: u32,
    /// Embedding width.
    pub d_model: u32,
    /// Head width.
    pub d_k: u32,
    /// Number of heads.
    pub n_heads: u32,
    /// First query row of the window.
    pub query_start: u32,
    /// Query rows in the window.
    pub query_count: u32,
    /// 1 = causal mask on.
    pub causal: u32,
    /// One of the `positions::POSITIONS_*` codes.
    pub positions: u32,
    /// 1 = the key mask buffer is in use.
    pub use_key_mask: u32,
    /// `1 / √d_k`.
    pub scale: f32,
    /// Padding to 16 bytes.
    pub pad0: u32,
    /// Padding to 16 bytes.
    pub pad1: u32,
}

impl AttentionParams {
    /// Field names in declaration order, as the shaders spell them.
    pub const FIELDS: [&'static str; 12] = [
        "n_tokens",
        "d_model",
        "d_k",
        "n_heads",
        "query_start",
        "query_count",
        "causal",
        "positions",
        "use_key_mask",
        "scale",
        "pad0",
        "pad1",
    ];

    /// N as usize.
    pub fn n(&self) -> usize {
        self.n_tokens as usize
    }

    /// d_k as usize.
    pub fn dk(&self) -> usize {
        self.d_k as usize
    }

    /// Head count as usize.
    pub fn heads(&self) -> usize {
        self.n_heads as usize
    }

    /// Query rows in the window as usize.
    pub fn rows(&self) -> usize {
        self.query_count as usize
    }

    /// The window of query rows.
    pub fn query_range(&self) -> Range<usize> {
        let start = self.query_start as usize;
        start..start + self.rows()
    }

    /// Length of `q`, `k`, `v`: `heads × N × d_k`.
    pub fn projection_len(&self) -> usize {
        self.heads() * self.n() * self.dk()
    }

    /// Length of `scores` and `weights`: `heads × query_count × N`.
    pub fn matrix_len(&self) -> usize {
        self.heads() * self.rows() * self.n()
    }

    /// Length of `output`: `heads × query_count × d_k`.
    pub fn output_len(&self) -> usize {
        self.heads() * self.rows() * self.dk()
    }

    /// Floating-point operations of one pass (a multiply-add counts as 2): the projections
    /// `2 · 3 · N · d_model · d_k` per head, the scores `2 · rows · N · d_k` and the weighted sum
    /// `2 · rows · N · d_k`. The softmax's `exp`s and divisions are left out.
    pub fn flop_count(&self) -> u64 {
        let (n, rows, d_k, heads) = (
            u64::from(self.n_tokens),
            u64::from(self.query_count),
            u64::from(self.d_k),
            u64::from(self.n_heads),
        );
        let projections = 2 * 3 * n * u64::from(self.d_model) * d_k;
        let attention = 2 * 2 * rows * n * d_k;
        heads * (projections + attention)
    }
}

/// The kernels' inputs, validated and laid out flat, ready for the CPU twins or an upload.
///
/// Only [`PackedAttention::new`] makes one, so its arrays always have the lengths its `params`
/// promise — the twins and the GPU upload index them without further checks.
#[derive(Clone, Debug, PartialEq)]
pub struct PackedAttention {
    params: AttentionParams,
    x: Vec<f32>,
    w_qkv: Vec<f32>,
    sinusoid: Vec<f32>,
    rope: Vec<f32>,
    key_mask: Vec<u32>,
}

impl PackedAttention {
    /// Shapes and switches.
    pub fn params(&self) -> &AttentionParams {
        &self.params
    }

    /// Embeddings, `[N][d_model]`.
    pub fn x(&self) -> &[f32] {
        &self.x
    }

    /// Projection weights, `[head][3][d_model][d_k]`.
    pub fn w_qkv(&self) -> &[f32] {
        &self.w_qkv
    }

    /// Sinusoidal table `[N][d_model]` when sinusoidal positions are on, else empty.
    pub fn sinusoid(&self) -> &[f32] {
        &self.sinusoid
    }

    /// RoPE table `[N][d_k / 2][2]` (cos, sin) when RoPE is on, else empty.
    pub fn rope(&self) -> &[f32] {
        &self.rope
    }

    /// Key-padding mask `[N]` (1 = masked) when one is in use, else empty.
    pub fn key_mask(&self) -> &[u32] {
        &self.key_mask
    }
}

fn check_range(what: &'static str, value: usize, max: usize) -> Result<u32, AttentionError> {
    if value == 0 || value > max {
        return Err(AttentionError::OutOfRange { what, value, max });
    }
    // `max` is far below u32::MAX for every caller, so this cannot truncate.
    Ok(value as u32)
}

fn check_finite(what: impl Fn() -> String, values: &[f32]) -> Result<(), AttentionError> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(AttentionError::NonFinite {
            what: what(),
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}

impl PackedAttention {
    /// Validates `input` and lays it out for the kernels, computing the window `rows`.
    pub fn new(input: &AttentionInput, rows: QueryRows) -> Result<Self, AttentionError> {
        let n = input.x.rows();
        let d_model = input.x.cols();
        if n == 0 {
            return Err(AttentionError::NoTokens);
        }
        let first = input.heads.first().ok_or(AttentionError::NoHeads)?;
        let d_k = first.w_q.cols();
        let n_tokens = check_range("N (tokens)", n, MAX_TOKENS)?;
        let d_model_u = check_range("d_model", d_model, MAX_D_MODEL)?;
        let d_k_u = check_range("d_k", d_k, MAX_D_K)?;
        let n_heads = check_range("heads", input.heads.len(), MAX_HEADS)?;
        check_finite(|| "X (embeddings)".into(), input.x.data())?;

        let mut w_qkv = Vec::with_capacity(input.heads.len() * 3 * d_model * d_k);
        for (head, weights) in input.heads.iter().enumerate() {
            for (which, w) in [
                ("W_Q", &weights.w_q),
                ("W_K", &weights.w_k),
                ("W_V", &weights.w_v),
            ] {
                if w.rows() != d_model || w.cols() != d_k {
                    return Err(AttentionError::WeightShape {
                        head,
                        which,
                        rows: w.rows(),
                        cols: w.cols(),
                        expected_rows: d_model,
                        expected_cols: d_k,
                    });
                }
                check_finite(|| format!("head {head} {which}"), w.data())?;
                w_qkv.extend_from_slice(w.data());
            }
        }

        let key_mask = match &input.options.key_padding_mask {
            Some(mask) if mask.len() != n => {
                return Err(AttentionError::MaskLength {
                    found: mask.len(),
                    n_tokens: n,
                })
            }
            Some(mask) => mask.iter().map(|&masked| u32::from(masked)).collect(),
            None => Vec::new(),
        };

        let (query_start, query_count) = match rows {
            QueryRows::All => (0, n_tokens),
            QueryRows::Focus(focus) if focus < n => (focus as u32, 1),
            QueryRows::Focus(focus) => {
                return Err(AttentionError::FocusOutOfRange { focus, n_tokens: n })
            }
        };

        let positions = input.options.positions;
        let sinusoid = match positions {
            Positions::Sinusoidal => positions::sinusoidal_table(n, d_model),
            _ => Vec::new(),
        };
        let rope = match positions {
            Positions::Rope => positions::rope_table(n, d_k),
            _ => Vec::new(),
        };

        Ok(Self {
            params: AttentionParams {
                n_tokens,
                d_model: d_model_u,
                d_k: d_k_u,
                n_heads,
                query_start,
                query_count,
                causal: u32::from(input.options.causal),
                positions: positions.code(),
                use_key_mask: u32::from(!key_mask.is_empty()),
                scale: 1.0 / (d_k as f32).sqrt(),
                pad0: 0,
                pad1: 0,
            },
            x: input.x.data().to_vec(),
            w_qkv,
            sinusoid,
            rope,
            key_mask,
        })
    }
}

/// Q, K and V of every head, `[head][N][d_k]` each.
#[derive(Clone, Debug, PartialEq)]
pub struct Projections {
    /// Queries (after RoPE when on).
    pub q: Vec<f32>,
    /// Keys (after RoPE when on).
    pub k: Vec<f32>,
    /// Values.
    pub v: Vec<f32>,
}

/// Everything one attention pass computes, for the window of query rows in `params`.
/// The CPU reference and the GPU readback both produce this.
#[derive(Clone, Debug, PartialEq)]
pub struct AttentionResult {
    /// The shapes and switches it was computed with.
    pub params: AttentionParams,
    /// `[head][N][d_k]`.
    pub q: Vec<f32>,
    /// `[head][N][d_k]`.
    pub k: Vec<f32>,
    /// `[head][N][d_k]`.
    pub v: Vec<f32>,
    /// `[head][query_count][N]`, masked entries −∞.
    pub scores: Vec<f32>,
    /// `[head][query_count][N]`, rows sum to 1 (or are all 0 when masked whole).
    pub weights: Vec<f32>,
    /// `[head][query_count][d_k]`.
    pub output: Vec<f32>,
}

/// One query's scores `S[focus, ·] = q_focus·Kᵀ/√d_k` in every head: all step 3 prints of the
/// scores (the whole matrix is as large as the weights, and only the focus row is shown).
#[derive(Clone, Debug, PartialEq)]
pub struct FocusScores {
    /// The query (a token index).
    pub focus: usize,
    /// Keys per row (`N`).
    pub n: usize,
    /// `[head][N]`, masked entries −∞.
    pub rows: Vec<f32>,
}

impl FocusScores {
    /// `focus`'s rows taken from a result that holds every score (the CPU reference's);
    /// `None` when it does not hold that row.
    pub fn of(result: &AttentionResult, focus: usize) -> Option<Self> {
        let mut rows = Vec::with_capacity(result.params.heads() * result.params.n());
        for head in 0..result.params.heads() {
            rows.extend_from_slice(result.scores_row(head, focus)?);
        }
        Some(Self {
            focus,
            n: result.params.n(),
            rows,
        })
    }

    /// Head `head`'s row.
    pub fn row(&self, head: usize) -> Option<&[f32]> {
        let start = head.checked_mul(self.n)?;
        self.rows.get(start..start.checked_add(self.n)?)
    }
}

impl AttentionResult {
    /// A result that carries only weights, `[head][n][n]`: a map computed elsewhere (a real
    /// model's head, `model::transformer`) as the step-3 view reads one. Q, K, V, the scores and
    /// the output are empty, so the views that print them show nothing.
    pub fn from_weights(
        n: usize,
        heads: usize,
        causal: bool,
        weights: Vec<f32>,
    ) -> Result<Self, AttentionError> {
        if n == 0 {
            return Err(AttentionError::NoTokens);
        }
        if heads == 0 {
            return Err(AttentionError::NoHeads);
        }
        if weights.len() != heads.saturating_mul(n).saturating_mul(n) {
            return Err(AttentionError::MatrixData {
                what: "the attention weights".into(),
                rows: heads.saturating_mul(n),
                cols: n,
                len: weights.len(),
            });
        }
        let count = |v: usize| u32::try_from(v).unwrap_or(u32::MAX);
        Ok(Self {
            params: AttentionParams {
                n_tokens: count(n),
                d_model: 0,
                d_k: 0,
                n_heads: count(heads),
                query_start: 0,
                query_count: count(n),
                causal: u32::from(causal),
                positions: 0,
                use_key_mask: 0,
                scale: 1.0,
                pad0: 0,
                pad1: 0,
            },
            q: Vec::new(),
            k: Vec::new(),
            v: Vec::new(),
            scores: Vec::new(),
            weights,
            output: Vec::new(),
        })
    }

    fn matrix_row<'a>(&self, data: &'a [f32], head: usize, query: usize) -> Option<&'a [f32]> {
        let window = query.checked_sub(self.params.query_start as usize)?;
        if window >= self.params.rows() || head >= self.params.heads() {
            return None;
        }
        let n = self.params.n();
        let start = (head * self.params.rows() + window) * n;
        data.get(start..start + n)
    }

    /// Scores `S[query, ·]` of one head; `query` is a token index inside the window.
    pub fn scores_row(&self, head: usize, query: usize) -> Option<&[f32]> {
        self.matrix_row(&self.scores, head, query)
    }

    /// Weights `P[query, ·]` of one head; `query` is a token index inside the window.
    pub fn weights_row(&self, head: usize, query: usize) -> Option<&[f32]> {
        self.matrix_row(&self.weights, head, query)
    }

    /// Output `O[query, ·]` of one head.
    pub fn output_row(&self, head: usize, query: usize) -> Option<&[f32]> {
        let window = query.checked_sub(self.params.query_start as usize)?;
        if window >= self.params.rows() || head >= self.params.heads() {
            return None;
        }
        let d_k = self.params.dk();
        let start = (head * self.params.rows() + window) * d_k;
        self.output.get(start..start + d_k)
    }
}

/// Whether query `i` may attend to key `j`: not in the future under the causal mask, and not a
/// padding key. The scores, softmax and output kernels all use this one rule.
#[inline]
pub fn is_attendable(params: &AttentionParams, key_mask: &[u32], i: usize, j: usize) -> bool {
    let future = params.causal != 0 && j > i;
    let padding = params.use_key_mask != 0 && key_mask.get(j).is_some_and(|&m| m != 0);
    !(future || padding)
}

/// Twin of `attention_project.wgsl`: `Q = X W_Q`, `K = X W_K`, `V = X W_V` for every head, with the
/// sinusoidal vectors added to X first or RoPE applied to Q and K after, when on.
///
/// One GPU invocation computes one `(head, token, component)`; the loop below is its body.
pub fn project(packed: &PackedAttention) -> Projections {
    let p = &packed.params;
    let (n, d_model, d_k) = (p.n(), p.d_model as usize, p.dk());
    let pairs = positions::rope_pairs(d_k);
    let len = p.projection_len();
    let (mut q, mut k, mut v) = (vec![0.0; len], vec![0.0; len], vec![0.0; len]);
    for head in 0..p.heads() {
        for token in 0..n {
            for c in 0..d_k {
                // With RoPE, component c is rotated together with its partner in the pair
                // (2m, 2m+1), so the invocation also computes the partner's projection.
                let rotated = p.positions == positions::POSITIONS_ROPE && c < 2 * pairs;
                let partner = c ^ 1;
                let w_base = head * 3 * d_model * d_k;
                let (mut q_c, mut k_c, mut v_c, mut q_p, mut k_p) = (0.0f32, 0.0, 0.0, 0.0, 0.0);
                for m in 0..d_model {
                    let mut x_m = packed.x[token * d_model + m];
                    if p.positions == positions::POSITIONS_SINUSOIDAL {
                        x_m += packed.sinusoid[token * d_model + m];
                    }
                    let row = w_base + m * d_k;
                    q_c += x_m * packed.w_qkv[row + c];
                    k_c += x_m * packed.w_qkv[row + d_model * d_k + c];
                    v_c += x_m * packed.w_qkv[row + 2 * d_model * d_k + c];
                    if rotated {
                        q_p += x_m * packed.w_qkv[row + partner];
                        k_p += x_m * packed.w_qkv[row + d_model * d_k + partner];
                    }
                }
                if rotated {
                    // Rotate the pair (x_{2m}, x_{2m+1}) by the angle pos·θ_m:
                    //   x'_{2m}   = x_{2m} cos − x_{2m+1} sin
                    //   x'_{2m+1} = x_{2m} sin + x_{2m+1} cos
                    let at = (token * pairs + c / 2) * 2;
                    let (cos, sin) = (packed.rope[at], packed.rope[at + 1]);
                    if c % 2 == 0 {
                        q_c = q_c * cos - q_p * sin;
                        k_c = k_c * cos - k_p * sin;
                    } else {
                        q_c = q_p * sin + q_c * cos;
                        k_c = k_p * sin + k_c * cos;
                    }
                }
                let out = (head * n + token) * d_k + c;
                q[out] = q_c;
                k[out] = k_c;
                v[out] = v_c;
            }
        }
    }
    Projections { q, k, v }
}

/// Twin of `attention_scores.wgsl`: `S_ij = (Q_i · K_j) / √d_k`, or −∞ where `j` is masked.
///
/// One GPU invocation computes one `(head, query row, key)`.
pub fn scores(params: &AttentionParams, q: &[f32], k: &[f32], key_mask: &[u32]) -> Vec<f32> {
    let (n, d_k, rows) = (params.n(), params.dk(), params.rows());
    let mut s = vec![0.0; params.matrix_len()];
    for head in 0..params.heads() {
        for row in 0..rows {
            let i = params.query_start as usize + row;
            for j in 0..n {
                let out = (head * rows + row) * n + j;
                if !is_attendable(params, key_mask, i, j) {
                    s[out] = f32::NEG_INFINITY;
                    continue;
                }
                let (qi, kj) = ((head * n + i) * d_k, (head * n + j) * d_k);
                let mut dot = 0.0f32;
                for c in 0..d_k {
                    dot += q[qi + c] * k[kj + c];
                }
                s[out] = dot * params.scale;
            }
        }
    }
    s
}

/// The workgroup's tree reduction: after it, `lanes[0]` combines all `LANES` values.
/// Same pairing as the shaders (stride 128, 64, …, 1), so the rounding matches theirs.
fn tree_reduce(lanes: &mut [f32; LANES], combine: impl Fn(f32, f32) -> f32) {
    let mut stride = LANES / 2;
    while stride > 0 {
        for t in 0..stride {
            lanes[t] = combine(lanes[t], lanes[t + stride]);
        }
        stride /= 2;
    }
}

/// Twin of `attention_softmax.wgsl`: `P_ij = exp(S_ij − m_i) / Σ_j' exp(S_ij' − m_i)` with
/// `m_i = max_j S_ij` over the attendable keys.
///
/// Subtracting the row maximum changes nothing mathematically (it cancels in the ratio) but keeps
/// every `exp` argument ≤ 0, so logits in the thousands cannot overflow. A row with no attendable
/// key has total 0 and is written as zeros, never NaN.
///
/// One GPU workgroup handles one `(head, query row)`: lane `t` visits keys `t, t+256, …`, so no
/// invocation loops more than `⌈N/256⌉` times per pass.
pub fn softmax_rows(params: &AttentionParams, scores: &[f32], key_mask: &[u32]) -> Vec<f32> {
    let (n, rows) = (params.n(), params.rows());
    let mut weights = vec![0.0; params.matrix_len()];
    let mut lanes = [0.0f32; LANES];
    for head in 0..params.heads() {
        for row in 0..rows {
            let i = params.query_start as usize + row;
            let base = (head * rows + row) * n;

            // Pass 1: the row maximum.
            for (t, lane) in lanes.iter_mut().enumerate() {
                let mut local_max = LOWEST_FINITE;
                let mut j = t;
                while j < n {
                    if is_attendable(params, key_mask, i, j) {
                        local_max = local_max.max(scores[base + j]);
                    }
                    j += LANES;
                }
                *lane = local_max;
            }
            tree_reduce(&mut lanes, f32::max);
            let row_max = lanes[0];

            // Pass 2: the normaliser Σ exp(S_ij − max).
            for (t, lane) in lanes.iter_mut().enumerate() {
                let mut local_sum = 0.0f32;
                let mut j = t;
                while j < n {
                    if is_attendable(params, key_mask, i, j) {
                        local_sum += (scores[base + j] - row_max).exp();
                    }
                    j += LANES;
                }
                *lane = local_sum;
            }
            tree_reduce(&mut lanes, |a, b| a + b);
            let total = lanes[0];

            // Pass 3: normalise.
            for j in 0..n {
                weights[base + j] = if is_attendable(params, key_mask, i, j) && total > 0.0 {
                    (scores[base + j] - row_max).exp() / total
                } else {
                    0.0
                };
            }
        }
    }
    weights
}

/// Components the output kernel handles per pass: `d_k` rounded up to a power of two, at most
/// 64. The other factor of the 256 lanes, `256 / width`, is the number of key groups.
/// Mirrors `tile_width` in `shaders/attention_output.wgsl`.
pub fn output_tile_width(d_k: usize) -> usize {
    d_k.next_power_of_two().min(64)
}

/// Twin of `attention_output.wgsl`: `O_ic = Σ_j P_ij V_jc`.
///
/// One GPU workgroup handles one `(head, query row)` as a tile of `width` components × `groups`
/// key groups; lane `t = g · width + c` sums the keys `j ≡ g (mod groups)` and a tree reduction
/// adds the groups. An invocation loops `⌈d_k/width⌉ · (⌈N/groups⌉ + log2 groups)` times at most.
pub fn weighted_values(params: &AttentionParams, weights: &[f32], v: &[f32]) -> Vec<f32> {
    let (n, d_k, rows) = (params.n(), params.dk(), params.rows());
    let width = output_tile_width(d_k);
    let groups = LANES / width;
    let mut output = vec![0.0; params.output_len()];
    let mut lanes = [0.0f32; LANES];
    for head in 0..params.heads() {
        for row in 0..rows {
            let p_base = (head * rows + row) * n;
            let v_base = head * n * d_k;
            for c0 in (0..d_k).step_by(width) {
                for (t, lane) in lanes.iter_mut().enumerate() {
                    let (c, group) = (c0 + t % width, t / width);
                    let mut acc = 0.0f32;
                    if c < d_k {
                        let mut j = group;
                        while j < n {
                            acc += weights[p_base + j] * v[v_base + j * d_k + c];
                            j += groups;
                        }
                    }
                    *lane = acc;
                }
                let mut stride = LANES / 2;
                while stride >= width {
                    for t in 0..stride {
                        lanes[t] += lanes[t + stride];
                    }
                    stride /= 2;
                }
                for (t, &sum) in lanes.iter().enumerate().take(width) {
                    if c0 + t < d_k {
                        output[(head * rows + row) * d_k + c0 + t] = sum;
                    }
                }
            }
        }
    }
    output
}

/// The CPU reference: the four twins in the order the GPU runs its kernels.
pub fn run(packed: &PackedAttention) -> AttentionResult {
    let p = &packed.params;
    let Projections { q, k, v } = project(packed);
    let s = scores(p, &q, &k, &packed.key_mask);
    let weights = softmax_rows(p, &s, &packed.key_mask);
    let output = weighted_values(p, &weights, &v);
    AttentionResult {
        params: *p,
        q,
        k,
        v,
        scores: s,
        weights,
        output,
    }
}

/// Computes attention on the CPU: validates, packs and runs the reference.
pub fn attend(input: &AttentionInput, rows: QueryRows) -> Result<AttentionResult, AttentionError> {
    Ok(run(&PackedAttention::new(input, rows)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::sample::{random_input, SampleShape};

    /// The textbook formula in f64, written independently of the twins' structure.
    fn textbook_weights(input: &AttentionInput, head: usize) -> Vec<Vec<f64>> {
        let n = input.x.rows();
        let w = &input.heads[head];
        let proj = |m: &Matrix| -> Vec<Vec<f64>> {
            (0..n)
                .map(|i| {
                    (0..m.cols())
                        .map(|c| {
                            (0..m.rows())
                                .map(|r| {
                                    input.x.data()[i * m.rows() + r] as f64
                                        * m.data()[r * m.cols() + c] as f64
                                })
                                .sum()
                        })
                        .collect()
                })
                .collect()
        };
        let (q, k) = (proj(&w.w_q), proj(&w.w_k));
        let d_k = w.w_q.cols() as f64;
        (0..n)
            .map(|i| {
                let s: Vec<f64> = (0..n)
                    .map(|j| {
                        if input.options.causal && j > i {
                            f64::NEG_INFINITY
                        } else {
                            q[i].iter().zip(&k[j]).map(|(a, b)| a * b).sum::<f64>() / d_k.sqrt()
                        }
                    })
                    .collect();
                let max = s.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = s.iter().map(|v| (v - max).exp()).collect();
                let total: f64 = e.iter().sum();
                e.iter().map(|v| v / total).collect()
            })
            .collect()
    }

    #[test]
    fn reference_matches_textbook_formula_in_f64() {
        for (seed, causal) in [(1, false), (2, true)] {
            let shape = SampleShape::new(37, 12, 8, 2);
            let options = AttentionOptions {
                causal,
                ..Default::default()
            };
            let input = random_input(seed, shape, options, 1.0);
            let result = attend(&input, QueryRows::All).unwrap();
            for head in 0..2 {
                let expected = textbook_weights(&input, head);
                for (i, row) in expected.iter().enumerate() {
                    let got = result.weights_row(head, i).unwrap();
                    for (g, e) in got.iter().zip(row) {
                        assert!(
                            (*g as f64 - e).abs() < 1e-6,
                            "head {head} row {i}: {g} vs {e}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn focus_row_equals_row_of_full_matrix() {
        let input = random_input(
            3,
            SampleShape::new(300, 16, 8, 2),
            AttentionOptions::default(),
            1.0,
        );
        let full = attend(&input, QueryRows::All).unwrap();
        for focus in [0, 150, 299] {
            let row = attend(&input, QueryRows::Focus(focus)).unwrap();
            for head in 0..2 {
                assert_eq!(row.weights_row(head, focus), full.weights_row(head, focus));
                assert_eq!(row.output_row(head, focus), full.output_row(head, focus));
            }
            assert_eq!(
                row.weights.len(),
                2 * 300,
                "focus mode holds one row per head"
            );
        }
    }

    #[test]
    fn huge_logits_give_finite_weights() {
        let input = random_input(
            4,
            SampleShape::new(64, 16, 16, 1),
            AttentionOptions::default(),
            1000.0,
        );
        let result = attend(&input, QueryRows::All).unwrap();
        assert!(
            result.scores.iter().any(|s| s.abs() > 100.0),
            "logits are large"
        );
        assert!(result.weights.iter().all(|w| w.is_finite()));
    }

    #[test]
    fn wrong_weight_shape_is_a_typed_error() {
        let mut input = random_input(
            5,
            SampleShape::new(4, 8, 4, 1),
            AttentionOptions::default(),
            1.0,
        );
        input.heads[0].w_v = Matrix::zeros(8, 3);
        assert_eq!(
            attend(&input, QueryRows::All).unwrap_err(),
            AttentionError::WeightShape {
                head: 0,
                which: "W_V",
                rows: 8,
                cols: 3,
                expected_rows: 8,
                expected_cols: 4
            }
        );
    }

    #[test]
    fn non_finite_embedding_is_refused() {
        let mut input = random_input(
            6,
            SampleShape::new(4, 8, 4, 1),
            AttentionOptions::default(),
            1.0,
        );
        input.x.data_mut()[5] = f32::NAN;
        let err = attend(&input, QueryRows::All).unwrap_err();
        assert!(
            matches!(err, AttentionError::NonFinite { index: 5, .. }),
            "{err}"
        );
    }

    #[test]
    fn focus_outside_sentence_is_refused() {
        let input = random_input(
            7,
            SampleShape::new(4, 8, 4, 1),
            AttentionOptions::default(),
            1.0,
        );
        assert_eq!(
            attend(&input, QueryRows::Focus(4)).unwrap_err(),
            AttentionError::FocusOutOfRange {
                focus: 4,
                n_tokens: 4
            }
        );
    }

    #[test]
    fn mask_of_wrong_length_is_refused() {
        let options = AttentionOptions {
            key_padding_mask: Some(vec![false; 3]),
            ..Default::default()
        };
        let input = random_input(8, SampleShape::new(4, 8, 4, 1), options, 1.0);
        assert_eq!(
            attend(&input, QueryRows::All).unwrap_err(),
            AttentionError::MaskLength {
                found: 3,
                n_tokens: 4
            }
        );
    }

    #[test]
    fn rope_scores_depend_only_on_relative_position() {
        // With RoPE and the same embedding at every position, S_ij depends on i − j only.
        let shape = SampleShape::new(12, 8, 8, 1);
        let options = AttentionOptions {
            positions: Positions::Rope,
            ..Default::default()
        };
        let mut input = random_input(9, shape, options, 1.0);
        let first: Vec<f32> = input.x.row(0).unwrap().to_vec();
        for r in 0..12 {
            input.x.data_mut()[r * 8..(r + 1) * 8].copy_from_slice(&first);
        }
        let result = attend(&input, QueryRows::All).unwrap();
        let s = |i: usize, j: usize| result.scores_row(0, i).unwrap()[j];
        for (i, j) in [(5, 2), (9, 6), (11, 8)] {
            assert!(
                (s(i, j) - s(3, 0)).abs() < 1e-4,
                "S[{i}][{j}] = {} vs S[3][0] = {}",
                s(i, j),
                s(3, 0)
            );
        }
    }
}
