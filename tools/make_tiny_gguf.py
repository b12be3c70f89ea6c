#!/usr/bin/env python3
"""Write tests/fixtures/llm_tiny.gguf: a tiny Llama-architecture GGUF with RANDOM weights.

Why: the Rust GGUF reader and forward pass need a model small enough to commit and to run in every
test, yet shaped like the real thing (SmolLM2-135M): grouped-query attention, RoPE, RMSNorm,
SwiGLU, tied embeddings, a byte-level BPE tokenizer in the metadata, and every tensor type the
reader supports (F32, F16, Q4_0, Q4_1, Q8_0). The weights mean nothing; tools/llm_reference.py
computes what a correct forward pass must produce from them (tests/fixtures/llm_tiny_reference.json).

    python3 tools/make_tiny_gguf.py [--out tests/fixtures/llm_tiny.gguf]

Deterministic: a seeded numpy RNG, and GGUFWriter writes no timestamps, so the same gguf/numpy
versions (tools/requirements-llm.txt) give the same bytes.

Shapes (GGUF convention): a matrix with ne = [in, out] stores `out` rows of `in` values, row-major;
as a numpy array that is shape (out, in), and y = W @ x maps an in-vector to an out-vector.
Quantised types cut each row into blocks of 32 values, so every in-dimension is a multiple of 32.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import sys

import numpy as np
import gguf
from gguf import GGMLQuantizationType as T

# ---- hyper-parameters ----------------------------------------------------------------------------
N_LAYER = 2
D_MODEL = 64          # embedding_length
N_HEAD = 4            # query heads
N_HEAD_KV = 2         # key/value heads (GQA: query head h reads kv head h // 2)
D_HEAD = D_MODEL // N_HEAD            # 16
D_FF = 96             # feed_forward_length (3 blocks of 32: exercises an odd block count)
ROPE_BASE = 10000.0
RMS_EPS = 1e-5
CONTEXT = 256
SEED = 20261201

# Tensor types per layer. Together they cover every type the reader supports.
LAYER_TYPES = [
    {   # blk.0
        "attn_q": T.Q4_0, "attn_k": T.Q4_1, "attn_v": T.Q8_0, "attn_output": T.F16,
        "ffn_gate": T.Q4_1, "ffn_up": T.Q4_1, "ffn_down": T.Q8_0,
    },
    {   # blk.1
        "attn_q": T.Q4_1, "attn_k": T.Q4_1, "attn_v": T.F32, "attn_output": T.Q4_1,
        "ffn_gate": T.Q4_1, "ffn_up": T.Q4_1, "ffn_down": T.F16,
    },
]
EMBD_TYPE = T.Q8_0

# ---- tokenizer: byte-level BPE, GPT-2 style -----------------------------------------------------


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's map from each byte 0..255 to a printable unicode char.

    Printable Latin-1 bytes map to themselves; the rest (control chars, space, ...) are shifted to
    256 + n, so e.g. space (0x20) becomes 'Ġ' (U+0120) and newline (0x0A) becomes 'Ċ' (U+010A).
    """
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) \
        + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


# Merges in priority order (rank 0 first). Each joins two tokens that already exist.
MERGES = [
    "Ġ t", "h e", "Ġt he", "i n", "Ġ a", "a t", "Ġ c", "Ġc at", "Ġ h", "Ġh at",
    "Ġ s", "Ġ i", "Ġ in", "Ġ o", "o n", "Ġo n", "n d", "Ġa nd", "e r", "r e",
    "Ġi s", "Ġs at", "Ġ m", "Ġm at", "o u", "Ġ w", "a s", "Ġw as", "e n", "Ġ d",
    "o g", "Ġd og", "Ġ b", "i g", "Ġb ig", "l l", "Ġ f", "Ġ T", "T he", "Ġ p",
    "in g", "e d", "Ġa t", "Ġo f",
]
CONTROL_TOKENS = ["<|im_start|>", "<|im_end|>"]


def build_vocab() -> tuple[list[str], list[int], list[str]]:
    """tokens (id order), token types (1 normal, 3 control), merges."""
    b2u = bytes_to_unicode()
    tokens = [b2u[b] for b in range(256)]          # ids 0..255: the bytes, in byte order
    for m in MERGES:                               # ids 256..: one new token per merge
        a, b = m.split(" ")
        assert a in tokens and b in tokens, f"merge {m!r} joins a token that does not exist"
        assert a + b not in tokens, f"merge {m!r} makes a token twice"
        tokens.append(a + b)
    types = [1] * len(tokens)
    for c in CONTROL_TOKENS:                       # the chat markers, last
        tokens.append(c)
        types.append(3)
    return tokens, types, MERGES


def bpe_encode(text: str, tokens: list[str], merges: list[str]) -> list[int]:
    """A minimal GPT-2 style encoder (ASCII pre-tokenizer), used only to pick the sample prompt."""
    b2u = bytes_to_unicode()
    rank = {tuple(m.split(" ")): i for i, m in enumerate(merges)}
    index = {t: i for i, t in enumerate(tokens)}
    ids = []
    for word in re.findall(r" ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+", text):
        parts = [b2u[b] for b in word.encode("utf-8")]
        while len(parts) > 1:                       # repeatedly apply the best-ranked merge
            pairs = [(rank.get((parts[i], parts[i + 1]), 1 << 30), i) for i in range(len(parts) - 1)]
            r, i = min(pairs)
            if r == 1 << 30:
                break
            parts[i:i + 2] = [parts[i] + parts[i + 1]]
        ids += [index[p] for p in parts]
    return ids


# ---- weights ------------------------------------------------------------------------------------


def quantize(w: np.ndarray, qtype: T) -> np.ndarray:
    """Encode float32 rows as qtype with gguf's reference quantizers (bit-exact with ggml's):
    Q8_0: d = max|x| / 127,            q = round(x / d)              (int8,  x ≈ d·q)
    Q4_0: d = x[argmax|x|] / -8,       q = clamp(trunc(x/d + 8.5), 0, 15)  (x ≈ d·(q − 8))
    Q4_1: d = (max − min) / 15, m = min, q = clamp(trunc((x − m)/d + 0.5), 0, 15)  (x ≈ d·q + m)
    with d (and m) stored as float16, per block of 32 values."""
    return gguf.quants.quantize(w.astype(np.float32), qtype)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "fixtures", "llm_tiny.gguf"))
    ap.add_argument("--pre", default="gpt2",
                    help="tokenizer.ggml.pre (default gpt2; llama.cpp only loads the file with its "
                         "own name for that split, gpt-2)")
    args = ap.parse_args()

    rng = np.random.default_rng(SEED)
    tokens, types, merges = build_vocab()
    vocab = len(tokens)

    def normal(shape, std):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def norm_weight():
        return (1.0 + normal((D_MODEL,), 0.1)).astype(np.float32)   # RMSNorm gains around 1.0

    # The order of the tensors mirrors the real file: embeddings, then each block, then the norm.
    tensors: list[tuple[str, np.ndarray, T]] = []
    tensors.append(("token_embd.weight", normal((vocab, D_MODEL), 1.0), EMBD_TYPE))
    kv_dim = N_HEAD_KV * D_HEAD
    for l, ty in enumerate(LAYER_TYPES):
        p = f"blk.{l}."
        shapes = {                         # numpy (out, in)
            "attn_q": (D_MODEL, D_MODEL),
            "attn_k": (kv_dim, D_MODEL),
            "attn_v": (kv_dim, D_MODEL),
            "attn_output": (D_MODEL, D_MODEL),
            "ffn_gate": (D_FF, D_MODEL),
            "ffn_up": (D_FF, D_MODEL),
            "ffn_down": (D_MODEL, D_FF),
        }
        tensors.append((p + "attn_norm.weight", norm_weight(), T.F32))
        for name in ["attn_q", "attn_k", "attn_v", "attn_output"]:
            tensors.append((p + name + ".weight", normal(shapes[name], 0.3), ty[name]))
        tensors.append((p + "ffn_norm.weight", norm_weight(), T.F32))
        for name in ["ffn_gate", "ffn_up", "ffn_down"]:
            tensors.append((p + name + ".weight", normal(shapes[name], 0.3), ty[name]))
    tensors.append(("output_norm.weight", norm_weight(), T.F32))
    # No output.weight: the embeddings are tied, logits = token_embd · h.

    out = os.path.abspath(args.out)
    os.makedirs(os.path.dirname(out), exist_ok=True)
    w = gguf.GGUFWriter(out, "llama")              # writes general.architecture = "llama"
    w.add_name("gaze-tiny-llama (random weights, test fixture)")
    w.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_1)
    w.add_context_length(CONTEXT)
    w.add_embedding_length(D_MODEL)
    w.add_block_count(N_LAYER)
    w.add_feed_forward_length(D_FF)
    w.add_head_count(N_HEAD)
    w.add_head_count_kv(N_HEAD_KV)
    w.add_rope_freq_base(ROPE_BASE)
    w.add_rope_dimension_count(D_HEAD)
    w.add_layer_norm_rms_eps(RMS_EPS)
    w.add_vocab_size(vocab)
    w.add_tokenizer_model("gpt2")
    w.add_tokenizer_pre(args.pre)
    w.add_token_list(tokens)
    w.add_token_types(types)
    w.add_token_merges(merges)
    w.add_bos_token_id(tokens.index("<|im_start|>"))
    w.add_eos_token_id(tokens.index("<|im_end|>"))
    w.add_add_bos_token(False)
    for name, data, qtype in tensors:
        if qtype in (T.F32, T.F16):
            w.add_tensor(name, data.astype(np.float32 if qtype == T.F32 else np.float16))
        else:
            w.add_tensor(name, quantize(data, qtype), raw_dtype=qtype)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()

    # ---- verify the round trip with the independent reader ----
    r = gguf.GGUFReader(out)
    by_name = {t.name: t for t in r.tensors}
    assert len(by_name) == len(tensors), (len(by_name), len(tensors))
    for name, data, qtype in tensors:
        t = by_name[name]
        assert t.tensor_type == qtype, (name, t.tensor_type, qtype)
        ne = [int(x) for x in t.shape]                      # GGUF ne: innermost (in) first
        assert ne == list(reversed(data.shape)), (name, ne, data.shape)
        back = gguf.quants.dequantize(t.data, t.tensor_type).reshape(data.shape)
        err = float(np.max(np.abs(back - data)) / (np.max(np.abs(data)) + 1e-12))
        limit = {T.F32: 0, T.F16: 1e-3, T.Q8_0: 1e-2, T.Q4_0: 0.2, T.Q4_1: 0.1}[qtype]
        assert err <= limit, (name, qtype.name, err)
    size = os.path.getsize(out)
    sha = hashlib.sha256(open(out, "rb").read()).hexdigest()
    print(f"wrote {out}: {size} bytes, {len(tensors)} tensors, vocab {vocab}, sha256 {sha}")
    types_used = sorted({q.name for _, _, q in tensors})
    print("tensor types:", ", ".join(types_used))
    sample = "The cat sat on the mat and the dog sat on the"
    ids = bpe_encode(sample, tokens, merges)
    print(f"sample prompt {sample!r} -> {len(ids)} ids {ids}")
    print("  tokens:", [tokens[i] for i in ids])
    return 0


if __name__ == "__main__":
    sys.exit(main())
