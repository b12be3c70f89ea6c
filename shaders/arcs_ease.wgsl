// Joined with shared/{arcs_uniform, reduce}.wgsl in src/render/arcs.rs.
// Arc animation state, advanced once per frame on the GPU: each arc's displayed weight eases
// toward the focus row's attention weight, and its particles' phase advances at a rate
// proportional to that weight. Also the row maximum of the displayed weights, which decides
// each arc's class (strongest / notable / background).
//
//   displayed += (target − displayed) · (1 − exp(−dt / τ))     (τ = 0.1 s: ~95% in 300 ms)
//   phase      = fract(phase + dt · PARTICLE_SPEED · displayed)
//
// One workgroup per head; lane t visits keys t, t+256, … and a tree reduction finds the maximum,
// which a second pass writes into every record of the head, so no invocation loops more than
// 2·⌈N/256⌉ + 8 times.
//
// The state is one record per arc, vec4(displayed, phase, row_max, 0), `[head][N]`: the draw
// (shaders/arcs.wgsl) reads it as a per-instance vertex attribute, which every backend can,
// WebGL2 included (it has no storage buffers).
// CPU twin: `model::animation::ease_arcs` — keep the two in step.

const LANES: u32 = 256u;

@group(0) @binding(0) var<uniform> arcs: Arcs;
@group(0) @binding(1) var<storage, read> weights: array<f32>;          // [head][rows][N]
@group(0) @binding(2) var<storage, read_write> state: array<vec4<f32>>;  // [head][N] records

var<workgroup> lanes: array<f32, LANES>;

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) t: u32, @builtin(workgroup_id) wid: vec3<u32>) {
    let n = arcs.n_tokens;
    let head = wid.x;
    let row = (head * arcs.rows + arcs.focus_row) * n;
    let base = head * n;
    let alpha = select(1.0 - exp(-arcs.dt / arcs.tau), 1.0, arcs.snap != 0u);

    var local_max = 0.0;
    for (var j = t; j < n; j += LANES) {
        let target_weight = weights[row + j];
        let record = state[base + j];
        let shown = record.x + (target_weight - record.x) * alpha;
        let phase = fract(record.y + arcs.dt * arcs.particle_speed * shown);
        state[base + j] = vec4<f32>(shown, phase, record.z, 0.0);
        if (j != arcs.focus) {
            local_max = max(local_max, shown);
        }
    }
    lanes[t] = local_max;
    workgroupBarrier();
    reduce_max(t);
    // Every lane wrote only its own records above, so it may rewrite them now.
    let row_max = lanes[0];
    for (var j = t; j < n; j += LANES) {
        state[base + j].z = row_max;
    }
}
