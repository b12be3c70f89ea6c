// Joined with shared/{llm_params, lowest_finite, reduce}.wgsl in src/gpu/llm.rs.
// The next token's distribution: p = softmax(logits / T) over the whole vocabulary, and the
// top k tokens with their probabilities, most likely first (ties: the lower id first).
// One workgroup of 256 lanes: the maximum and the sum of exp((l − max)/T) by tree reductions,
// then k rounds, each taking the largest logit ranked below the previous round's pick — no
// sorting, no scratch buffer. Per invocation (k + 2) · vocab / 256 iterations: 19,600 for
// SmolLM2's 49,152 tokens and k = 100, under lavapipe's 65,535.
//
// CPU twin: `model::llm::forward::top_k`.

const LANES: u32 = 256u;
const NONE: u32 = 0xffffffffu;

@group(0) @binding(0) var<uniform> params: LlmParams;
@group(0) @binding(1) var<storage, read> logits: array<f32>;        // [vocab]
@group(0) @binding(2) var<storage, read_write> top: array<u32>;     // [k][id, bits of probability]

var<workgroup> best_logit: array<f32, LANES>;
var<workgroup> best_id: array<u32, LANES>;
var<workgroup> lanes: array<f32, LANES>;

// Whether (l1, id1) ranks before (l2, id2): the higher logit, then the lower id.
fn ranks_before(l1: f32, id1: u32, l2: f32, id2: u32) -> bool {
    return id2 == NONE || (id1 != NONE && (l1 > l2 || (l1 == l2 && id1 < id2)));
}

fn reduce_best(lane: u32) {
    for (var stride = LANES / 2u; stride > 0u; stride /= 2u) {
        if (lane < stride) {
            let other = lane + stride;
            if (ranks_before(best_logit[other], best_id[other], best_logit[lane], best_id[lane])) {
                best_logit[lane] = best_logit[other];
                best_id[lane] = best_id[other];
            }
        }
        workgroupBarrier();
    }
}

@compute @workgroup_size(256)
fn main(@builtin(local_invocation_index) lane: u32) {
    let vocab = params.vocab;
    let inv_t = 1.0 / params.temperature;

    // The largest logit (round 0's pick).
    var my_logit = LOWEST_FINITE;
    var my_id = NONE;
    for (var v = lane; v < vocab; v += LANES) {
        if (ranks_before(logits[v], v, my_logit, my_id)) {
            my_logit = logits[v];
            my_id = v;
        }
    }
    best_logit[lane] = my_logit;
    best_id[lane] = my_id;
    workgroupBarrier();
    reduce_best(lane);
    let max_logit = best_logit[0];
    workgroupBarrier();

    var sum = 0.0;
    for (var v = lane; v < vocab; v += LANES) {
        sum += exp((logits[v] - max_logit) * inv_t);
    }
    lanes[lane] = sum;
    workgroupBarrier();
    reduce_sum(lane);
    let total = lanes[0];

    var last_logit = 0.0;
    var last_id = NONE;
    for (var round = 0u; round < params.top_k; round++) {
        my_logit = LOWEST_FINITE;
        my_id = NONE;
        for (var v = lane; v < vocab; v += LANES) {
            let l = logits[v];
            let below_last = last_id == NONE || ranks_before(last_logit, last_id, l, v);
            if (below_last && ranks_before(l, v, my_logit, my_id)) {
                my_logit = l;
                my_id = v;
            }
        }
        workgroupBarrier();
        best_logit[lane] = my_logit;
        best_id[lane] = my_id;
        workgroupBarrier();
        reduce_best(lane);
        last_logit = best_logit[0];
        last_id = best_id[0];
        if (lane == 0u) {
            top[2u * round] = last_id;
            var p = 0.0;
            if (last_id != NONE) {
                p = exp((last_logit - max_logit) * inv_t) / total;
            }
            top[2u * round + 1u] = bitcast<u32>(p);
        }
    }
}
