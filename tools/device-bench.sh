#!/usr/bin/env bash
# tools/device-bench.sh — Gaze's real-model figures on a lent GPU machine (one NVIDIA H200, no
# network, no Rust toolchain, 10 minutes a command, 15 minutes of device time per session).
#
# Two halves:
#
#   tools/device-bench.sh prepare     HERE, on the development machine (network for apt only):
#       builds the release binaries (`gaze`, and the `llm` bench's executable), strips copies of
#       them into target/device/ (ignored by git, so they travel only when carried), downloads
#       the Vulkan loader packages the device image lacks into target/device/gl/, and prints the
#       device call to make. Measured 2026-12-01: 34 MB (gaze 24.5 MB, llm-bench 10.6 MB, the
#       debs 0.4 MB) plus a ~7 MB working tree, under the 64 MiB the device tool moves (working
#       tree + carried paths together). ~2.5 min here. Run it just before the device call: the
#       binaries are built from the working tree as it is then.
#
#   bash tools/device-bench.sh        THERE, from the repository root (the device tool's cwd):
#       run(command="bash tools/device-bench.sh", carry=["target/device"], timeout_s=540)
#       Records nvidia-smi, `gaze verify` (every attention kernel against the CPU reference on
#       that GPU) and `gaze verify --model` on a model file (every LLM kernel and the end-to-end
#       logits), then the `llm` bench, GPU engine only (prefill tokens/s at 16/128/1024, decode
#       tokens/s at 128/1024, GPU bytes at 1024 and 8192, GB/s of weights read per decode step,
#       and the per-kernel breakdown of one layer). Everything lands in $OUT (default
#       ./device-out): summary.txt, nvidia-smi.txt, verify.txt, verify-model.txt,
#       bench-llm.txt, setup.txt — at most 8 files come back. The whole run should take 2-4
#       minutes on the GPU (not yet measured there); the bench is stopped DEVICE_BENCH_SECONDS
#       (default 480) after the script starts, inside the 540 s the call allows.
#
# The model. SmolLM2-135M's GGUF is 98 MB: more than the 64 MiB the device tool moves, so it
# cannot travel at present. The script uses $GAZE_MODEL or models/SmolLM2-135M-Instruct.Q4_1.gguf
# if one is there (copy it in with `mkdir -p models && cp "$(tools/fetch-models.sh smollm2)"
# models/` where the limits allow); otherwise the bench runs its random-weight stand-in with
# SmolLM2's shapes, block types (Q4_1 layers, tied Q8_0 embedding) and 49,152-token vocabulary —
# the same bytes and shapes, so the same timings — and `verify --model` checks the kernels on
# tests/fixtures/llm_tiny.gguf (tracked, so it travels; every block type Gaze reads).
#
# Building there instead: if `cargo` is on the PATH the script first tries
# `cargo build --release --offline` and `cargo bench --bench llm --no-run --offline`, which need
# the crates already on that machine (`cargo vendor` output or a filled CARGO_HOME carried in);
# when that fails it says so and falls back to the binaries in target/device/.
set -uo pipefail

DEV_DIR="target/device"
REAL_MODEL="models/SmolLM2-135M-Instruct.Q4_1.gguf"
TINY_MODEL="tests/fixtures/llm_tiny.gguf"

# ---- prepare (development machine) -------------------------------------------------------------
if [ "${1:-}" = "prepare" ]; then
    set -e
    [ "$(uname -m)" = x86_64 ] || { echo "prepare: the device is x86-64; build there instead" >&2; exit 1; }
    mkdir -p "$DEV_DIR/gl"
    cargo build --release --bin gaze
    bench_exe=$(cargo bench --bench llm --no-run 2>&1 | tee /dev/stderr |
        sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -n 1)
    [ -x "$bench_exe" ] || { echo "prepare: no bench executable found" >&2; exit 1; }
    cp target/release/gaze "$DEV_DIR/gaze"
    cp "$bench_exe" "$DEV_DIR/llm-bench"
    strip "$DEV_DIR/gaze" "$DEV_DIR/llm-bench" 2>/dev/null || true
    # The Vulkan loader (wgpu opens libvulkan.so.1 at run time); the NVIDIA driver's ICD is on
    # the device already. Same recipe as the device tool's README.
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    mkdir -p /tmp/amd64/partial
    # shellcheck disable=SC2086
    apt-get $o update >/dev/null
    # shellcheck disable=SC2086
    (cd "$DEV_DIR/gl" && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
    du -sh "$DEV_DIR"
    echo "prepare: done. The device call:"
    echo '  run(command="bash tools/device-bench.sh", carry=["target/device"], timeout_s=540)'
    exit 0
fi

# ---- run (device machine) ----------------------------------------------------------------------
OUT="${OUT:-$PWD/device-out}"
mkdir -p "$OUT"
export CARGO_TERM_COLOR=never
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"
chmod 700 "$XDG_RUNTIME_DIR" 2>/dev/null || true
log() { echo "== $*" | tee -a "$OUT/summary.txt"; }
started=$(date +%s)

log "date: $(date -u); host $(uname -srm); $(nproc) cores"
{ nvidia-smi; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm,clocks.max.mem --format=csv; } \
    >"$OUT/nvidia-smi.txt" 2>&1 || log "nvidia-smi failed (see nvidia-smi.txt)"
head -n 12 "$OUT/nvidia-smi.txt" >>"$OUT/summary.txt"

# The Vulkan loader, when carried (the image has the NVIDIA driver but maybe no libvulkan.so.1);
# never unpacked over one that is there.
export PATH="$PATH:/usr/sbin:/sbin"
has_vulkan() {
    ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1' && return 0
    for f in /usr/lib/x86_64-linux-gnu/libvulkan.so.1 /usr/lib64/libvulkan.so.1 /usr/lib/libvulkan.so.1; do
        [ -e "$f" ] && return 0
    done
    return 1
}
if ! has_vulkan; then
    if ls "$DEV_DIR"/gl/*.deb >/dev/null 2>&1; then
        for f in "$DEV_DIR"/gl/*.deb; do dpkg -x "$f" /; done
        ldconfig
        log "Vulkan loader unpacked from $DEV_DIR/gl"
    else
        log "no libvulkan.so.1 and no $DEV_DIR/gl/*.deb: run 'tools/device-bench.sh prepare' here first"
    fi
fi
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [ -z "${VK_DRIVER_FILES:-}" ] && [ -f "$icd" ] && ! ls /usr/share/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
    export VK_DRIVER_FILES="$icd"
    export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
    log "VK_DRIVER_FILES=$icd"
fi

# The binaries: built here offline when a toolchain is there, else the carried ones.
GAZE="" BENCH=""
if command -v cargo >/dev/null 2>&1; then
    log "cargo found: trying an offline release build"
    if timeout 300 cargo build --release --offline --bin gaze >"$OUT/setup.txt" 2>&1 &&
        bench_exe=$(timeout 240 cargo bench --offline --bench llm --no-run 2>&1 | tee -a "$OUT/setup.txt" |
            sed -n 's/.*Executable .*(\(.*\)).*/\1/p' | tail -n 1) && [ -x "$bench_exe" ]; then
        GAZE=target/release/gaze BENCH=$bench_exe
    else
        log "the offline build failed (no vendored crates or CARGO_HOME here?): see setup.txt;" \
            "falling back to $DEV_DIR/"
    fi
fi
if [ -z "$GAZE" ]; then
    if [ -x "$DEV_DIR/gaze" ] && [ -x "$DEV_DIR/llm-bench" ]; then
        GAZE=$DEV_DIR/gaze BENCH=$DEV_DIR/llm-bench
        log "using the carried binaries in $DEV_DIR/"
    else
        log "no binaries: run 'tools/device-bench.sh prepare' on the development machine and" \
            "carry $DEV_DIR (run(..., carry=[\"$DEV_DIR\"]))"
        exit 2
    fi
fi

# The model: the real one if it is here, else the bench's stand-in (see the top).
MODEL="${GAZE_MODEL:-$REAL_MODEL}"
if [ -f "$MODEL" ]; then
    export GAZE_MODEL="$MODEL"
    VERIFY_MODEL="$MODEL"
    log "model: $MODEL"
else
    unset GAZE_MODEL
    VERIFY_MODEL="$TINY_MODEL"
    log "no model file at $MODEL (98 MB: over the device tool's 64 MiB): the bench runs its" \
        "SmolLM2-shaped random-weight stand-in; verify --model uses $TINY_MODEL"
fi

log "gaze verify"
timeout 120 "$GAZE" verify >"$OUT/verify.txt" 2>&1
log "verify exit $?"
tail -n 20 "$OUT/verify.txt" >>"$OUT/summary.txt"
if [ -f "$VERIFY_MODEL" ]; then
    log "gaze verify --model $VERIFY_MODEL"
    timeout 180 "$GAZE" verify --model "$VERIFY_MODEL" >"$OUT/verify-model.txt" 2>&1
    log "verify --model exit $?"
    tail -n 20 "$OUT/verify-model.txt" >>"$OUT/summary.txt"
fi

if [ -n "${GAZE_MODEL:-}" ]; then
    log "gaze generate (64 tokens, greedy)"
    { time timeout 60 "$GAZE" generate --model "$GAZE_MODEL" --prompt "The capital of France is" \
        --tokens 64; } >>"$OUT/verify-model.txt" 2>&1
    log "generate exit $?"
fi

# The bench, GPU engine only (the CPU reference is measured on the development machine), with the
# per-kernel breakdown; criterion needs --bench when run without cargo.
left=$((${DEVICE_BENCH_SECONDS:-480} - ($(date +%s) - started)))
[ "$left" -gt 60 ] || left=60
log "bench llm (GPU engine; timeout ${left} s)"
GAZE_BENCH_ENGINES="${GAZE_BENCH_ENGINES:-gpu}" GAZE_BENCH_STAGES="${GAZE_BENCH_STAGES:-1,128,512}" \
    timeout "$left" "$BENCH" --bench >"$OUT/bench-llm.txt" 2>&1
log "bench exit $?"
grep -E '^llm|time:|thrpt:' "$OUT/bench-llm.txt" >>"$OUT/summary.txt"
log "done in $(($(date +%s) - started)) s"
