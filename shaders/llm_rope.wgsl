// Joined with shared/{llm_params, llm_layer_params}.wgsl in src/gpu/llm.rs.
// RoPE, and the KV cache filled: for each new token at position p = past + t, every adjacent pair
// (v[2i], v[2i+1]) of each query and key head is turned by the angle p · base^(−2i/rope_dim):
//   v'[2i]   = v[2i]·cos θ − v[2i+1]·sin θ
//   v'[2i+1] = v[2i]·sin θ + v[2i+1]·cos θ
// GGUF's llama layout rotates adjacent pairs (llama.cpp's converter permuted W_Q and W_K from
// the half-split layout of the Hugging Face checkpoints). The rotated queries go to `q`, the
// rotated keys and the values to this layer's cache at position p; on the captured layer the
// chosen head's queries are also kept (`q_capture`) for its full attention map.
//
// One invocation per pair: the fused q | k | v row of a token has (q_width + 2·kv_width)/2 pairs.
//
// CPU twin: `model::llm::forward::{rope, rope_angle}`.

const TAU: f32 = 6.283185307179586;

@group(0) @binding(0) var<uniform> params: LlmParams;
@group(0) @binding(1) var<uniform> layer: LayerParams;
@group(0) @binding(2) var<storage, read> qkv: array<f32>;                // [n_tokens][q | k | v]
@group(0) @binding(3) var<storage, read_write> q: array<f32>;            // [n_tokens][q_width]
@group(0) @binding(4) var<storage, read_write> k_cache: array<f32>;      // [position][kv_width]
@group(0) @binding(5) var<storage, read_write> v_cache: array<f32>;      // [position][kv_width]
@group(0) @binding(6) var<storage, read_write> q_capture: array<f32>;    // [position][d_head]

// Twin: `model::llm::forward::rope_angle` (reduced to [−π, π]: GPUs only promise accurate
// cos and sin there).
fn rope_angle(pos: u32, pair: u32) -> f32 {
    let inv_freq = exp2(-(2.0 * f32(pair) / f32(params.rope_dim)) * params.log2_rope_base);
    let angle = f32(pos) * inv_freq;
    let turns = floor(angle / TAU + 0.5);
    return angle - turns * TAU;
}

fn rotated(a: f32, b: f32, pos: u32, pair_in_head: u32) -> vec2<f32> {
    if (2u * pair_in_head >= params.rope_dim) {
        return vec2<f32>(a, b);
    }
    let theta = rope_angle(pos, pair_in_head);
    let c = cos(theta);
    let s = sin(theta);
    return vec2<f32>(a * c - b * s, a * s + b * c);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let t = id.y;
    let pair = id.x;
    let width = params.q_width + 2u * params.kv_width;
    if (t >= params.n_tokens || 2u * pair >= width) {
        return;
    }
    let pos = params.past + t;
    let c = 2u * pair;
    let a = qkv[t * width + c];
    let b = qkv[t * width + c + 1u];
    let half_head = params.d_head / 2u;
    if (c < params.q_width) {
        let r = rotated(a, b, pos, pair % half_head);
        q[t * params.q_width + c] = r.x;
        q[t * params.q_width + c + 1u] = r.y;
        let head = c / params.d_head;
        if (layer.map_layer != 0u && head == layer.map_head) {
            let d = c % params.d_head;
            q_capture[pos * params.d_head + d] = r.x;
            q_capture[pos * params.d_head + d + 1u] = r.y;
        }
    } else if (c < params.q_width + params.kv_width) {
        let ck = c - params.q_width;
        let r = rotated(a, b, pos, (ck / 2u) % half_head);
        k_cache[pos * params.kv_width + ck] = r.x;
        k_cache[pos * params.kv_width + ck + 1u] = r.y;
    } else {
        let cv = c - params.q_width - params.kv_width;
        v_cache[pos * params.kv_width + cv] = a;
        v_cache[pos * params.kv_width + cv + 1u] = b;
    }
}
