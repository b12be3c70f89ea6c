#!/usr/bin/env bash
# Builds the web version of Gaze into web/dist (or $1): the same crate compiled to wasm32, bound
# with wasm-bindgen, optimised with wasm-opt, beside index.html and the assets it fetches.
#
#   bash web/build.sh            # then: python3 -m http.server -d web/dist 8080 --bind 127.0.0.1
#
# Needs: rustup target wasm32-unknown-unknown; wasm-bindgen-cli at the version Cargo.lock pins
# (cargo install wasm-bindgen-cli --version <it>); wasm-opt (Debian's `binaryen`).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-web/dist}"

want=$(grep -A1 '^name = "wasm-bindgen"$' Cargo.lock | sed -n 's/^version = "\(.*\)"/\1/p')
have=$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')
if [ "$have" != "$want" ]; then
  echo "web/build.sh: wasm-bindgen $want is needed (found '${have:-none}'):" >&2
  echo "  cargo install wasm-bindgen-cli --version $want" >&2
  exit 1
fi

cargo build --locked --profile web --target wasm32-unknown-unknown --bin gaze
wasm=target/wasm32-unknown-unknown/web/gaze.wasm
rm -rf "$out"
mkdir -p "$out/assets"
if command -v wasm-opt >/dev/null; then
  # wasm-opt runs *before* wasm-bindgen: Debian 12's binaryen (108) rewrites the externref table
  # wasm-bindgen adds so that the page fails at start ("Table.set(): ... function-typed object");
  # on rustc's output it is safe. Rust's wasm32 target emits these post-MVP features by default.
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext \
    --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$wasm" -o target/wasm32-unknown-unknown/web/gaze.opt.wasm
  wasm=target/wasm32-unknown-unknown/web/gaze.opt.wasm
else
  echo "web/build.sh: wasm-opt not found (Debian: binaryen); the wasm is left unoptimised" >&2
fi
wasm-bindgen --target web --no-typescript --out-dir "$out" --out-name gaze "$wasm"
cp web/index.html "$out/"
cp assets/estimated_embeddings.txt "$out/assets/"
raw=$(stat -c %s "$out/gaze_bg.wasm")
gz=$(gzip -9 -c "$out/gaze_bg.wasm" | wc -c)
echo "web/build.sh: $out ready; gaze_bg.wasm $raw bytes ($gz gzipped)"
