#!/usr/bin/env bash
# tools/peer-llama-cpp.sh — compare Gaze's SmolLM2 numbers and speed with llama.cpp, a peer.
#
# NOT RUN IN CI: it builds llama.cpp from source (~6 min on 2 cores, needs a C++ compiler; pip
# fetches cmake) and takes a few minutes more to measure. Run it by hand on the machine you care
# about:
#
#     tools/peer-llama-cpp.sh                 # model from $GAZE_MODEL, else tools/fetch-models.sh
#     GAZE_BIN=path/to/gaze tools/peer-llama-cpp.sh
#
# What it does:
#   1. makes a venv under ${GAZE_PEER_DIR:-$HOME/.cache/gaze/peer} and pip-installs
#      llama-cpp-python==0.3.36 there (once; later runs reuse it);
#   2. with n_threads = nproc, measures llama.cpp's prefill tokens/s for prompts of 16, 128 and
#      1024 tokens (a fixed English paragraph, tokenised by llama.cpp itself, repeated and cut to
#      length) and its greedy decode tokens/s (32 new tokens) at contexts 128 and 1024; prints a
#      table;
#   3. prints llama.cpp's top-5 next tokens for "The capital of France is", beside the float64
#      reference in tests/fixtures/smollm2_reference.json (tools/llm_reference.py). llama.cpp
#      quantises activations to 8 bits for its dot products, so expect ~1e-2 differences in
#      probabilities, not 1e-6;
#   4. if a gaze binary exists (target/release/gaze, or $GAZE_BIN), runs
#      `gaze inspect --model $GAZE_MODEL --prompt "The capital of France is" --top 5`
#      (JSON: next_token: [{token, id, probability}]) and says whether its top-5 ids agree with
#      llama.cpp's, and times `gaze generate` when that subcommand exists. Missing binary or
#      subcommands are skipped with a note, never an error.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PEER="${GAZE_PEER_DIR:-$HOME/.cache/gaze/peer}"
LLAMA_CPP_PY_VERSION="0.3.36"
VENV="$PEER/venv-llama-cpp-python-$LLAMA_CPP_PY_VERSION"
PYTHON="${PYTHON:-python3}"

log() { printf 'peer-llama-cpp: %s\n' "$*" >&2; }

# ---- 1. llama.cpp, via its Python binding ------------------------------------------------------
have_llama_cpp() {
    [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" - "$LLAMA_CPP_PY_VERSION" <<'PY' 2>/dev/null
import sys, llama_cpp
sys.exit(0 if llama_cpp.__version__ == sys.argv[1] else 1)
PY
}
if ! have_llama_cpp; then
    log "installing llama-cpp-python==$LLAMA_CPP_PY_VERSION into $VENV (builds llama.cpp: ~6 min on 2 cores) ..."
    mkdir -p "$PEER"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/pip" install --disable-pip-version-check --quiet "llama-cpp-python==$LLAMA_CPP_PY_VERSION"
    have_llama_cpp || { log "llama-cpp-python did not import after installing"; exit 1; }
fi

# ---- the model and the gaze binary -------------------------------------------------------------
if [[ -z "${GAZE_MODEL:-}" ]]; then
    GAZE_MODEL="$("$ROOT/tools/fetch-models.sh" smollm2)"
fi
[[ -f "$GAZE_MODEL" ]] || { log "no model file at $GAZE_MODEL"; exit 1; }
GAZE_BIN="${GAZE_BIN:-$ROOT/target/release/gaze}"
NPROC="$(nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)"
log "model $GAZE_MODEL, $NPROC threads, gaze binary $GAZE_BIN"

export GAZE_MODEL GAZE_BIN NPROC
export GAZE_REFERENCE="$ROOT/tests/fixtures/smollm2_reference.json"

# ---- 2-4. the measurements (Python, in the venv) ------------------------------------------------
exec "$VENV/bin/python" - <<'PY'
import json, os, shutil, subprocess, sys, time
import numpy as np
from llama_cpp import Llama

MODEL = os.environ["GAZE_MODEL"]
GAZE_BIN = os.environ["GAZE_BIN"]
NPROC = int(os.environ["NPROC"])
REFERENCE = os.environ["GAZE_REFERENCE"]
PROMPT = "The capital of France is"
# A fixed English paragraph; its tokens are repeated and cut to each prompt length.
PARAGRAPH = (
    "Attention lets every token in a sentence look back at the tokens before it and decide how "
    "much each one matters. A language model reads the words one at a time, and at each step it "
    "mixes what it has seen, weighted by attention, into a guess about the next word. Small models "
    "can run on a laptop, which makes them good for teaching: the numbers are real, and a class "
    "can watch them change when a single word in the prompt is edited. "
)

llm = Llama(model_path=MODEL, n_ctx=2048, n_batch=1024, n_threads=NPROC,
            n_threads_batch=NPROC, logits_all=False, verbose=False, seed=0)
para = llm.tokenize(PARAGRAPH.encode(), add_bos=False, special=False)
tokens = (para * (1024 // len(para) + 2))[:1024 + 64]


N_VOCAB = llm.n_vocab()


def last_logits() -> np.ndarray:
    # the logits of the last evaluated token, straight from llama.cpp (llama_get_logits_ith(-1));
    # llama-cpp-python 0.3.36 no longer copies them into llm.scores unless logits_all=True
    ptr = llm._ctx.get_logits_ith(-1)
    return np.ctypeslib.as_array(ptr, shape=(N_VOCAB,)).astype(np.float64)


def prefill(n: int) -> float:
    """seconds to evaluate the first n tokens from an empty cache"""
    llm.reset()
    t = time.perf_counter()
    llm.eval(tokens[:n])
    return time.perf_counter() - t


def decode(context: int, new: int = 32) -> float:
    """seconds for `new` greedy one-token steps after a context of `context` tokens"""
    llm.reset()
    llm.eval(tokens[:context])
    t = time.perf_counter()
    for _ in range(new):
        llm.eval([int(np.argmax(last_logits()))])
    return time.perf_counter() - t


def median(xs):
    return float(np.median(xs))


prefill(16)                                       # warm up (page in the weights)
rows = []
for n in (16, 128, 1024):
    reps = 5 if n < 1024 else 3
    dt = median([prefill(n) for _ in range(reps)])
    rows.append(("prefill", n, n / dt, dt))
for c in (128, 1024):
    dt = median([decode(c) for _ in range(3)])
    rows.append(("decode", c, 32 / dt, dt))

print(f"\nllama.cpp (llama-cpp-python 0.3.36), {os.path.basename(MODEL)}, {NPROC} threads")
print(f"{'phase':8s} {'tokens/context':>15s} {'tokens/s':>10s} {'seconds':>9s}")
for phase, n, tps, dt in rows:
    print(f"{phase:8s} {n:15d} {tps:10.1f} {dt:9.3f}")

# ---- top-5 next tokens ----
ids = llm.tokenize(PROMPT.encode(), add_bos=False, special=False)
llm.reset()
llm.eval(ids)
z = last_logits()
p = np.exp(z - z.max())
p /= p.sum()
top5 = [int(i) for i in np.argsort(-p)[:5]]

ref = None
if os.path.exists(REFERENCE):
    r = json.load(open(REFERENCE))["prompts"][0]
    if r["token_ids"] == ids:
        lse = r["logsumexp"]
        ref = {i: float(np.exp(v - lse)) for i, v in zip(r["last_logits"]["ids"], r["last_logits"]["values"])}
print(f"\n{PROMPT!r} -> ids {ids}; llama.cpp's top 5 next tokens"
      + (" (beside the float64 reference)" if ref else ""))
for rank, i in enumerate(top5):
    tok = llm.detokenize([i]).decode("utf-8", "replace")
    extra = f"   reference p {ref[i]:.4f}" if ref and i in ref else ""
    print(f"  {rank + 1}. id {i:6d} {tok!r:14s} p {p[i]:.4f}{extra}")

# ---- gaze, when there is one ----
def run_gaze(args, timeout=600):
    return subprocess.run([GAZE_BIN, *args], capture_output=True, text=True, timeout=timeout)


if not (os.path.isfile(GAZE_BIN) and os.access(GAZE_BIN, os.X_OK)):
    print(f"\nno gaze binary at {GAZE_BIN} (cargo build --release, or set GAZE_BIN): skipped")
    sys.exit(0)

print(f"\ngaze: {GAZE_BIN}")
try:
    res = run_gaze(["inspect", "--model", MODEL, "--prompt", PROMPT, "--top", "5"])
    if res.returncode != 0:
        raise RuntimeError(res.stderr.strip().splitlines()[-1] if res.stderr.strip() else f"exit {res.returncode}")
    nxt = json.loads(res.stdout)["next_token"]
    gaze_ids = [int(e["id"]) for e in nxt[:5]]
    for e in nxt[:5]:
        print(f"  gaze  id {int(e['id']):6d} {e['token']!r:14s} p {float(e['probability']):.4f}")
    print("  top-5 ids agree with llama.cpp:", "yes" if gaze_ids == top5 else
          ("same set, other order" if set(gaze_ids) == set(top5) else f"NO (gaze {gaze_ids}, llama.cpp {top5})"))
except Exception as e:                                      # noqa: BLE001
    print(f"  `gaze inspect --model` not usable here ({e}): skipped")

try:
    h = run_gaze(["generate", "--help"], timeout=60)
    if h.returncode != 0:
        raise RuntimeError("no `generate` subcommand")
    flag = next((f for f in ("--max-tokens", "--tokens", "-n") if f in h.stdout), None)
    if flag is None:
        raise RuntimeError("`gaze generate --help` names no token-count flag this script knows")
    for context in (128, 1024):
        prompt = llm.detokenize(tokens[:context]).decode("utf-8", "replace")
        t = time.perf_counter()
        g = run_gaze(["generate", "--model", MODEL, "--prompt", prompt, flag, "32"])
        dt = time.perf_counter() - t
        if g.returncode != 0:
            raise RuntimeError(g.stderr.strip()[-300:])
        print(f"  gaze generate: ~{context}-token prompt + 32 tokens in {dt:.2f} s wall "
              f"(includes loading the model)")
        tail = g.stderr.strip().splitlines()[-3:]          # gaze may report its own rates there
        for line in tail:
            print(f"    {line}")
except Exception as e:                                      # noqa: BLE001
    print(f"  `gaze generate` timing skipped ({e})")
PY
