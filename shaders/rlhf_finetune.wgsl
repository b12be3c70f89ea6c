// Joined with shared/{lowest_finite, reduce}.wgsl in src/gpu/training.rs.
// One step of step 2's "fine-tune for real": natural-gradient ascent on the RLHF objective over
// the logits, scaled by s (β = (1 − s)/s):
//
//   J_s = s · Σ π R − (1 − s) · KL(π ‖ π_ref),        π = softmax(z)
//   z_k ← z_k + η · [ s · (R_k − Σ π R) − (1 − s) · (ln π_k − ln π_ref(k) − KL) ]
//
// Its fixed point is the closed form z = base_logit + R/β (`model::rlhf`). One dispatch = one
// step, one workgroup of 64 lanes: lane t owns candidates t, t+64, …; the softmax's max and sum,
// the expected reward and the KL are tree reductions in workgroup memory. Each step writes π
// (before the update) as row `step` of `path`; lane 0 then bumps `step_counter`.
//
// CPU twin: `model::finetune::fine_tune_step` — keep the two in step.

// Keep in sync with `FineTuneParams` in src/model/finetune.rs.
struct FineTuneParams {
    vocabulary: u32,
    max_steps: u32,
    strength: f32,
    learning_rate: f32,
}

// Keep in sync with `model::train::LANES`.
const LANES: u32 = 64u;

@group(0) @binding(0) var<uniform> params: FineTuneParams;
@group(0) @binding(1) var<storage, read> reference_log_probs: array<f32>; // [V]: ln π_ref
@group(0) @binding(2) var<storage, read> rewards: array<f32>;             // [V]: R
@group(0) @binding(3) var<storage, read_write> logits: array<f32>;        // [V]: z
@group(0) @binding(4) var<storage, read_write> path: array<f32>;          // [max_steps][V]: π
@group(0) @binding(5) var<storage, read_write> step_counter: array<u32>;  // [1]

var<workgroup> lanes: array<f32, LANES>;

// Sums one value per lane across the workgroup; every lane gets the total.
fn total(t: u32, value: f32) -> f32 {
    lanes[t] = value;
    workgroupBarrier();
    reduce_sum(t);
    let result = lanes[0];
    workgroupBarrier();
    return result;
}

@compute @workgroup_size(64)
fn main(@builtin(local_invocation_index) t: u32) {
    let v_count = params.vocabulary;
    let step = step_counter[0];

    var partial = LOWEST_FINITE;
    for (var v = t; v < v_count; v = v + LANES) {
        partial = max(partial, logits[v]);
    }
    lanes[t] = partial;
    workgroupBarrier();
    reduce_max(t);
    let row_max = lanes[0];
    workgroupBarrier();

    var sum_part = 0.0;
    for (var v = t; v < v_count; v = v + LANES) {
        sum_part = sum_part + exp(logits[v] - row_max);
    }
    let log_sum = log(total(t, sum_part));

    var reward_part = 0.0;
    var kl_part = 0.0;
    for (var v = t; v < v_count; v = v + LANES) {
        let log_pi = logits[v] - row_max - log_sum;
        let pi = exp(log_pi);
        reward_part = reward_part + pi * rewards[v];
        kl_part = kl_part + pi * (log_pi - reference_log_probs[v]);
    }
    let expected_reward = total(t, reward_part);
    let kl = total(t, kl_part);

    let s = params.strength;
    for (var v = t; v < v_count; v = v + LANES) {
        let log_pi = logits[v] - row_max - log_sum;
        if (step < params.max_steps) {
            path[step * v_count + v] = exp(log_pi);
        }
        let climb = s * (rewards[v] - expected_reward)
            - (1.0 - s) * (log_pi - reference_log_probs[v] - kl);
        logits[v] = logits[v] + params.learning_rate * climb;
    }
    if (t == 0u) {
        step_counter[0] = step + 1u;
    }
}
