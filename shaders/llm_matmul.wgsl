// Joined with shared/llm_params.wgsl in src/gpu/llm.rs.
// y = W · x for a quantised W, dequantising GGUF blocks as they are read — never a float copy of
// the weights. Three entry points share the block readers:
//   gemv  one token (decoding): 32 lanes per row, 8 rows per workgroup; lane l sums blocks
//         l, l+32, … of its row (consecutive lanes read consecutive blocks: coalesced), then the
//         32 partial sums meet in a tree in workgroup memory.
//   gemm  a prompt: a workgroup computes a 64-row × 32-token tile of y, stepping through the
//         inner dimension one 32-value block at a time: the tile of W is dequantised once into
//         workgroup memory and reused by all 32 tokens, the tile of x by all 64 rows.
//   embed x[t] = E[token_t], the embedding row dequantised.
// Matrices of different types that share an input (W_Q, W_K, W_V in a mixed-quant file) each
// write their rows at `y_offset` of a shared output row; of one type, they are stacked at load
// into one matrix.
// Blocks are repacked at load into whole u32 words (src/model/llm/quant.rs has the table):
//   Q4_1: [d | m<<16][16 bytes of nibbles]  value = d·q + m   (byte b: values b and b+16)
//   Q4_0: [d][16 bytes]                      value = d·(q − 8)
//   Q8_0: [d][32 × i8]                       value = d·q
//   F16: 16 words of two halves; F32: 32 words.
// Every invocation's loops stay bounded by the block count of one row (≤ 8,192 blocks for the
// widest matrix Gaze accepts), far under the 65,535 iterations lavapipe runs faithfully.
//
// CPU twins: `model::llm::quant::{block_dot, dequant}` and `model::llm::forward::matmul`.

// Keep in sync with `MatmulShape` in src/gpu/llm.rs.
struct MatmulShape {
    rows: u32,
    cols: u32,
    blocks_per_row: u32,
    kind: u32,              // 0 F32, 1 F16, 2 Q4_0, 3 Q4_1, 8 Q8_0 (ggml's ids)
    words_per_block: u32,
    accumulate: u32,        // 1: y += W·x (the residual connection), 0: y = W·x
    y_stride: u32,          // floats per token row of y (W_Q, W_K and W_V share one q|k|v row)
    y_offset: u32,          // where this matrix's rows start in that row
}

const F32: u32 = 0u;
const F16: u32 = 1u;
const Q4_0: u32 = 2u;
const Q4_1: u32 = 3u;
const Q8_0: u32 = 8u;

@group(0) @binding(0) var<uniform> shape: MatmulShape;
@group(0) @binding(1) var<storage, read> weights: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;          // [n_tokens][cols]
@group(0) @binding(3) var<storage, read_write> y: array<f32>;    // [n_tokens][y_stride]
@group(0) @binding(4) var<uniform> params: LlmParams;
@group(0) @binding(5) var<storage, read> token_ids: array<u32>;  // embed only

// The signed byte b (0..3) of `word`.
fn signed_byte(word: u32, b: u32) -> f32 {
    return f32(i32(word << (24u - 8u * b)) >> 24u);
}

// Σ_{j<32} W_j · x[x_base + j] for the block whose words start at `base`.
// Twin: `model::llm::quant::block_dot`.
fn block_dot(base: u32, x_base: u32) -> f32 {
    switch shape.kind {
        case 0u: {
            var acc = 0.0;
            for (var j = 0u; j < 32u; j++) {
                acc += bitcast<f32>(weights[base + j]) * x[x_base + j];
            }
            return acc;
        }
        case 1u: {
            var acc = 0.0;
            for (var w = 0u; w < 16u; w++) {
                let pair = unpack2x16float(weights[base + w]);
                acc += pair.x * x[x_base + 2u * w] + pair.y * x[x_base + 2u * w + 1u];
            }
            return acc;
        }
        case 2u, 3u: {
            // Σ (d·q + m)·x = d·Σ q·x + m·Σ x: one multiply by d per block, not 32.
            var acc_q = 0.0;
            var acc_x = 0.0;
            for (var w = 0u; w < 4u; w++) {
                let word = weights[base + 1u + w];
                for (var b = 0u; b < 4u; b++) {
                    let byte = (word >> (8u * b)) & 0xffu;
                    let j = x_base + 4u * w + b;
                    acc_q += f32(byte & 0xfu) * x[j] + f32(byte >> 4u) * x[j + 16u];
                    acc_x += x[j] + x[j + 16u];
                }
            }
            let header = unpack2x16float(weights[base]);
            if (shape.kind == Q4_1) {
                return header.x * acc_q + header.y * acc_x;
            }
            return header.x * (acc_q - 8.0 * acc_x);
        }
        default: {
            var acc = 0.0;
            for (var w = 0u; w < 8u; w++) {
                let word = weights[base + 1u + w];
                for (var b = 0u; b < 4u; b++) {
                    acc += signed_byte(word, b) * x[x_base + 4u * w + b];
                }
            }
            return unpack2x16float(weights[base]).x * acc;
        }
    }
}

// Value j (0..31) of the block whose words start at `base`. Twin: `model::llm::quant::dequant`.
fn dequant(base: u32, j: u32) -> f32 {
    switch shape.kind {
        case 0u: {
            return bitcast<f32>(weights[base + j]);
        }
        case 1u: {
            let pair = unpack2x16float(weights[base + j / 2u]);
            return select(pair.y, pair.x, j % 2u == 0u);
        }
        case 2u, 3u: {
            let byte_index = j % 16u;
            let byte = (weights[base + 1u + byte_index / 4u] >> (8u * (byte_index % 4u))) & 0xffu;
            let q = f32(select(byte >> 4u, byte & 0xfu, j < 16u));
            let header = unpack2x16float(weights[base]);
            if (shape.kind == Q4_1) {
                return header.x * q + header.y;
            }
            return header.x * (q - 8.0);
        }
        default: {
            let word = weights[base + 1u + j / 4u];
            return unpack2x16float(weights[base]).x * signed_byte(word, j % 4u);
        }
    }
}

fn store(token: u32, row: u32, value: f32) {
    let index = token * shape.y_stride + shape.y_offset + row;
    if (shape.accumulate != 0u) {
        y[index] += value;
    } else {
        y[index] = value;
    }
}

// ---- gemv: one token ----------------------------------------------------------------------

const GEMV_LANES: u32 = 32u;
const GEMV_ROWS: u32 = 8u;
var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(256)
fn gemv(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>,
        @builtin(local_invocation_index) local: u32) {
    let lane = local % GEMV_LANES;
    let slot = local / GEMV_LANES;
    // Workgroups past 65,535 wrap into y (a vocabulary of 128k rows needs 16k workgroups).
    let row = (wg.y * groups.x + wg.x) * GEMV_ROWS + slot;
    var acc = 0.0;
    if (row < shape.rows) {
        for (var block = lane; block < shape.blocks_per_row; block += GEMV_LANES) {
            acc += block_dot((row * shape.blocks_per_row + block) * shape.words_per_block, block * 32u);
        }
    }
    partial[local] = acc;
    workgroupBarrier();
    for (var stride = GEMV_LANES / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) {
            partial[local] += partial[local + stride];
        }
        workgroupBarrier();
    }
    if (lane == 0u && row < shape.rows) {
        store(0u, row, partial[local]);
    }
}

// ---- gemm: a prompt -----------------------------------------------------------------------

const TILE_ROWS: u32 = 64u;
const TILE_TOKENS: u32 = 32u;
var<workgroup> w_tile: array<f32, 2048>;   // [64 rows][32 values]
var<workgroup> x_tile: array<f32, 1024>;   // [32 tokens][32 values]

@compute @workgroup_size(256)
fn gemm(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) local: u32) {
    let row0 = wg.x * TILE_ROWS;
    let token0 = wg.y * TILE_TOKENS;
    // This lane's outputs: token `token0 + local % 32`, rows `row0 + (local / 32)·8 + 0..7`.
    let my_token = local % TILE_TOKENS;
    let my_rows = (local / TILE_TOKENS) * 8u;
    var acc: array<f32, 8>;
    for (var block = 0u; block < shape.blocks_per_row; block++) {
        // Load: 2,048 weights (8 per lane) and 1,024 inputs (4 per lane).
        for (var e = 0u; e < 8u; e++) {
            let index = local * 8u + e;
            let r = index / 32u;
            let row = row0 + r;
            var value = 0.0;
            if (row < shape.rows) {
                value = dequant((row * shape.blocks_per_row + block) * shape.words_per_block, index % 32u);
            }
            w_tile[index] = value;
        }
        for (var e = 0u; e < 4u; e++) {
            let index = local * 4u + e;
            let token = token0 + index / 32u;
            var value = 0.0;
            if (token < params.n_tokens) {
                value = x[token * shape.cols + block * 32u + index % 32u];
            }
            x_tile[index] = value;
        }
        workgroupBarrier();
        for (var j = 0u; j < 32u; j++) {
            let xv = x_tile[my_token * 32u + j];
            for (var r = 0u; r < 8u; r++) {
                acc[r] += w_tile[(my_rows + r) * 32u + j] * xv;
            }
        }
        workgroupBarrier();
    }
    let token = token0 + my_token;
    if (token < params.n_tokens) {
        for (var r = 0u; r < 8u; r++) {
            let row = row0 + my_rows + r;
            if (row < shape.rows) {
                store(token, row, acc[r]);
            }
        }
    }
}

// ---- embed: x[t] = E[token_t] -------------------------------------------------------------

@compute @workgroup_size(256)
fn embed(@builtin(global_invocation_id) id: vec3<u32>) {
    let t = id.y;
    let c = id.x;
    if (t >= params.n_tokens || c >= shape.cols) {
        return;
    }
    let row = token_ids[t];
    let base = (row * shape.blocks_per_row + c / 32u) * shape.words_per_block;
    y[t * shape.cols + c] = dequant(base, c % 32u);
}
