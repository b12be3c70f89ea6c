// Joined with shared/{llm_params, llm_layer_params}.wgsl in src/gpu/llm.rs.
// Every head's map reduced for the overview: cell (I, J) = the mean, over the query rows in row
// bin I, of the attention they pay to the keys in column bin J (the attention kernel already
// summed each row into its column bins). Each overview row still sums to 1. The prompt runs in
// chunks, so each chunk adds its rows' share: one invocation per cell, no two writing one cell.
//
// CPU twin: the overview loop of `model::llm::forward::LlamaModel::forward`.

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
