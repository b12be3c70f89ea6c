// Joined with shared/{attention_params, attention_mask, overview, reduce}.wgsl in src/gpu/overview.rs.
// Pass 2 of the long-context overview: the attention map reduced to R × R bins,
//
//   O[a, b] = (1 / |rows(a)|) · Σ_{i ∈ rows(a)} Σ_{j ∈ cols(b)} exp(S_ij − m_i) / l_i
//
// with (m_i, l_i) from pass 1 and bin a covering tokens ⌊a·N/R⌋ .. ⌊(a+1)·N/R⌋. Each overview row
// sums to 1, like a row of the full map; the N × N map itself is never stored.
//
// One workgroup per (bin column b, bin row a, head), its 256 lanes a 16 × 16 grid over the block:
// lane (u, v) visits rows i = start + u, u + 16, … and, for each, keys j = start + v, v + 16, …,
// recomputing each score from Q and K (row i's m and l are loaded once per row, and no pair needs
// an integer division); the lanes' sums meet in a tree reduction. Per invocation:
// ⌈side/16⌉ · (1 + ⌈side/16⌉ · (d_k + 1)) iterations, side = ⌈N/R⌉ — the host checks the bound.
//
// CPU twin: `model::overview::bins` — keep the two in step.

// Keep in sync with `model::overview::LANES` and `GRID` (GRID² = LANES).
const LANES: u32 = 256u;
const GRID: u32 = 16u;

@group(0) @binding(0) var<uniform> params: AttentionParams;
@group(0) @binding(1) var<uniform> overview: OverviewParams;
@group(0) @binding(2) var<storage, read> q: array<f32>;                 // [head][N][d_k]
@group(0) @binding(3) var<storage, read> k: array<f32>;                 // [head][N][d_k]
@group(0) @binding(4) var<storage, read> key_mask: array<u32>;          // [N], 1 = padding
@group(0) @binding(5) var<storage, read> stats: array<f32>;             // [head][N][2]: m, l
@group(0) @binding(6) var<storage, read_write> bins: array<f32>;        // [head][R][R]

var<workgroup> lanes: array<f32, LANES>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let n = params.n_tokens;
    let r = overview.bins;
    let b = wid.x;
    let a = wid.y + overview.row_offset;
    let head = wid.z;
    // Mirrors `model::overview::bin_range`.
    let row_start = a * n / r;
    let row_end = (a + 1u) * n / r;
    let col_start = b * n / r;
    let col_end = (b + 1u) * n / r;
    let u = t / GRID;
    let v = t % GRID;

    var sum = 0.0;
    for (var i = row_start + u; i < row_end; i += GRID) {
        let m = stats[(head * n + i) * 2u];
        let l = stats[(head * n + i) * 2u + 1u];
        if (l > 0.0) {
            var row = 0.0;
            for (var j = col_start + v; j < col_end; j += GRID) {
                if (is_attendable(i, j)) {
                    row += exp(qk_score(head, i, j) - m);
                }
            }
            sum += row / l;
        }
    }
    lanes[t] = sum;
    workgroupBarrier();
    reduce_sum(t);
    if (t == 0u) {
        bins[(head * r + a) * r + b] = lanes[0] / f32(max(row_end - row_start, 1u));
    }
}
