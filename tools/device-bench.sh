#!/usr/bin/env bash
# tools/device-bench.sh — record Gaze's real-model figures on a lent GPU machine (one command,
# no network there). Run from the repository root; results go to $OUT (default ./device-out).
#
# Before the call, on the development machine:
#   - put the model in the tree, untracked and not ignored, so it travels with the working tree
#     (98 MB: more than the device tool's 64 MiB for carried ignored paths):
#       mkdir -p models && cp "$(tools/fetch-models.sh smollm2)" models/
#   - vendor the crates so the build needs no network:
#       mkdir -p .cargo && cargo vendor --locked vendor > .cargo/config.toml
#     (or carry a target/ built for the same OS, and the script then only runs it).
# On the device:  bash tools/device-bench.sh   (about 6-8 minutes: a release build, then the runs)
#
# It records: the adapter (`gaze verify --model`, every LLM kernel against its CPU twin on this
# GPU), `cargo bench --bench llm` (prefill tokens/s at 16/128/1024, decode tokens/s at 128 and
# 1024, GPU bytes, achieved GB/s of weights per decode step), and nvidia-smi.
set -uo pipefail

OUT="${OUT:-$PWD/device-out}"
mkdir -p "$OUT"
export GAZE_MODEL="${GAZE_MODEL:-$PWD/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
export CARGO_TERM_COLOR=never
log() { echo "== $*" | tee -a "$OUT/summary.txt"; }

log "date: $(date -u)"
{ nvidia-smi || true; } >"$OUT/nvidia-smi.txt" 2>&1
if [ ! -f "$GAZE_MODEL" ]; then
    log "no model at $GAZE_MODEL: copy it into models/ first (see the top of this script)"
    exit 2
fi
OFFLINE="--offline"
if ! timeout 420 cargo build --release $OFFLINE --bins --benches >"$OUT/build.log" 2>&1; then
    log "the offline release build failed (no vendored crates?): see build.log"
    tail -n 30 "$OUT/build.log"
    exit 2
fi
log "verify"
timeout 120 ./target/release/gaze verify --model "$GAZE_MODEL" >"$OUT/verify.txt" 2>&1
log "verify exit $? (tail:)"
tail -n 5 "$OUT/verify.txt" | tee -a "$OUT/summary.txt"
log "generate"
( time timeout 60 ./target/release/gaze generate --model "$GAZE_MODEL" \
    --prompt "The capital of France is" --tokens 64 ) >"$OUT/generate.txt" 2>&1
log "bench llm"
timeout 300 cargo bench $OFFLINE --bench llm >"$OUT/bench-llm.txt" 2>&1
log "bench exit $?"
grep -E "adapter|GPU memory|decode @|timed|time:|thrpt:|^llm_" "$OUT/bench-llm.txt" | tee -a "$OUT/summary.txt"
