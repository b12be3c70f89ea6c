// Every head's map reduced for the overview: cell (I, J) = the mean, over the query rows in row
// bin I, of the attention they pay to the keys in column bin J (the attention kernel already
// summed each row into its column bins). Each overview row still sums to 1. The prompt runs in
// chunks, so each chunk adds its rows' share: one invocation per cell, no two writing one cell.
//
// CPU twin: the overview loop of `model::llm::forward::LlamaModel::forward`.

// Keep in sync with `LayerParams` in src/gpu/llm.rs.
struct LayerParams {
    layer: u32,
    map_layer: u32,
    map_head: u32,
    pad0: u32,
}

// Keep in sync with `LlmParams` in src/gpu/llm.rs.
struct LlmParams {
    d_model: u32,
    q_width: u32,
    kv_width: u32,
    ffn: u32,
    heads: u32,
    kv_heads: u32,
    d_head: u32,
    group: u32,
    rope_dim: u32,
    vocab: u32,
    n_tokens: u32,
    past: u32,
    context: u32,
    focus: u32,
    capture: u32,
    row_bins: u32,
    col_bins: u32,
    total_rows: u32,
    rows_start: u32,
    top_k: u32,
    rms_eps: f32,
    log2_rope_base: f32,
    scale: f32,
    temperature: f32,
}

@group(0) @binding(0) var<uniform> params: LlmParams;
@group(0) @binding(1) var<uniform> layer: LayerParams;
@group(0) @binding(2) var<storage, read> row_bins: array<f32>;        // [head][n_tokens][col_bins]
@group(0) @binding(3) var<storage, read_write> overview: array<f32>;  // [layer][head][row_bins][col_bins]

// Rows of the whole prompt that fall in row bin `bin` (row i goes to bin i · row_bins / total).
fn rows_in_bin(bin: u32) -> u32 {
    let first = (bin * params.total_rows + params.row_bins - 1u) / params.row_bins;
    let end = ((bin + 1u) * params.total_rows + params.row_bins - 1u) / params.row_bins;
    return max(end - first, 1u);
}

@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) lane: u32) {
    let row_bin = wg.x;
    let head = wg.y;
    let col_bin = lane;
    if (col_bin >= params.col_bins) {
        return;
    }
    var sum = 0.0;
    for (var t = 0u; t < params.n_tokens; t++) {
        let row = params.rows_start + t;
        if (row * params.row_bins / params.total_rows == row_bin) {
            sum += row_bins[(head * params.n_tokens + t) * params.col_bins + col_bin];
        }
    }
    let cell = ((layer.layer * params.heads + head) * params.row_bins + row_bin) * params.col_bins + col_bin;
    overview[cell] += sum / f32(rows_in_bin(row_bin));
}
