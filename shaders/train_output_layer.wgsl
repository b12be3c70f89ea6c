// Joined with shared/{lowest_finite, reduce}.wgsl in src/gpu/training.rs.
// One step of full-batch gradient descent on the output layer (step 1's live training):
//
//   logits_p = W_out · h_p + b                 π_p = softmax(logits_p)
//   loss     = − Σ_p Σ_y (count(p, y) / C) · ln π_p(y)
//   g_p(y)   = (n_p / C) · π_p(y) − count(p, y) / C          (∂loss/∂logits_p(y))
//   W_out   ← W_out − η Σ_p g_p h_pᵀ           b ← b − η Σ_p g_p
//
// One dispatch = one step, one workgroup of 64 lanes: lane t owns endings t, t+64, …, so it
// alone reads and writes those rows of W_out — no races — and the softmax's max and sum and the
// loss are combined by tree reductions in workgroup memory. Per invocation the loops stay far
// below Mesa lavapipe's silent 65,535-iteration cut-off (`TrainParams::loop_iterations`).
// The step number lives in `step_counter`, so many dispatches can run in one pass: lane 0 bumps
// it after writing the step's loss.
//
// CPU twin: `model::train::train_step` — keep the two in step.

// Keep in sync with `TrainParams` in src/model/train.rs.
struct TrainParams {
    prefixes: u32,
    vocabulary: u32,
    features: u32,
    max_steps: u32,
    learning_rate: f32,
    pad0: u32,
    pad1: u32,
    pad2: u32,
}

// Keep in sync with `model::train::LANES`.
const LANES: u32 = 64u;

@group(0) @binding(0) var<uniform> params: TrainParams;
@group(0) @binding(1) var<storage, read> hidden: array<f32>;              // [P][d]: ĥ_p, standardised h_p
@group(0) @binding(2) var<storage, read> corpus_share: array<f32>;        // [P][V]: count / C
@group(0) @binding(3) var<storage, read> prefix_share: array<f32>;        // [P]: n_p / C
@group(0) @binding(4) var<storage, read_write> weights: array<f32>;       // [V][d] W_out, then [V] b
@group(0) @binding(5) var<storage, read_write> logits: array<f32>;        // [P][V]
@group(0) @binding(6) var<storage, read_write> probabilities: array<f32>; // [P][V]: π_p
@group(0) @binding(7) var<storage, read_write> losses: array<f32>;        // [max_steps]
@group(0) @binding(8) var<storage, read_write> step_counter: array<u32>;  // [1]

var<workgroup> lanes: array<f32, LANES>;

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) t: u32) {
    let v_count = params.vocabulary;
    let d = params.features;
    let bias = v_count * d;
    let step = step_counter[0];
    var loss_part = 0.0;

    for (var p = 0u; p < params.prefixes; p = p + 1u) {
        // Logits and this lane's maximum.
        var partial = LOWEST_FINITE;
        for (var v = t; v < v_count; v = v + LANES) {
            var z = weights[bias + v];
            for (var k = 0u; k < d; k = k + 1u) {
                z = z + weights[v * d + k] * hidden[p * d + k];
            }
            logits[p * v_count + v] = z;
            partial = max(partial, z);
        }
        lanes[t] = partial;
        workgroupBarrier();
        reduce_max(t);
        let row_max = lanes[0];
        workgroupBarrier();

        var sum_part = 0.0;
        for (var v = t; v < v_count; v = v + LANES) {
            let e = exp(logits[p * v_count + v] - row_max);
            probabilities[p * v_count + v] = e;
            sum_part = sum_part + e;
        }
        lanes[t] = sum_part;
        workgroupBarrier();
        reduce_sum(t);
        let sum = lanes[0];
        workgroupBarrier();

        let log_sum = log(sum);
        for (var v = t; v < v_count; v = v + LANES) {
            let i = p * v_count + v;
            probabilities[i] = probabilities[i] / sum;
            let share = corpus_share[i];
            if (share > 0.0) {
                loss_part = loss_part - share * (logits[i] - row_max - log_sum);
            }
        }
    }

    // The update: each lane only touches its own endings' rows, after its own forward pass.
    for (var v = t; v < v_count; v = v + LANES) {
        for (var k = 0u; k < d; k = k + 1u) {
            var g = 0.0;
            for (var p = 0u; p < params.prefixes; p = p + 1u) {
                let i = p * v_count + v;
                g = g + (prefix_share[p] * probabilities[i] - corpus_share[i]) * hidden[p * d + k];
            }
            weights[v * d + k] = weights[v * d + k] - params.learning_rate * g;
        }
        var g = 0.0;
        for (var p = 0u; p < params.prefixes; p = p + 1u) {
            let i = p * v_count + v;
            g = g + (prefix_share[p] * probabilities[i] - corpus_share[i]);
        }
        weights[bias + v] = weights[bias + v] - params.learning_rate * g;
    }

    lanes[t] = loss_part;
    workgroupBarrier();
    reduce_sum(t);
    if (t == 0u) {
        if (step < params.max_steps) {
            losses[step] = lanes[0];
        }
        step_counter[0] = step + 1u;
    }
}
