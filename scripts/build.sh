#!/usr/bin/env bash
# Builds the Worker (release, wasm-opt -Oz) into build/ with the project's own tools, and
# prints the bundle size. wrangler runs this as its [build] command.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${TALECAST_SKIP_BUILD:-}" = 1 ] && [ -f build/index.js ]; then exit 0; fi

source scripts/lib/node.sh
# esbuild's binary comes in a package per platform; npm installs only this machine's.
export ESBUILD_BIN="$PWD/node_modules/@esbuild/$(npm_platform)/bin/esbuild"
export WASM_BINDGEN_BIN="$PWD/.tools/bin/wasm-bindgen"
export WASM_OPT_BIN="$PWD/node_modules/binaryen/bin/wasm-opt"
for b in "$ESBUILD_BIN" "$WASM_BINDGEN_BIN" "$WASM_OPT_BIN" .tools/bin/worker-build; do
  [ -x "$b" ] || { echo "build: $b is missing; run scripts/setup.sh" >&2; exit 1; }
done
.tools/bin/worker-build --release >&2

wasm=$(find build -name '*.wasm' | head -n1)
# wasm-opt here rather than in worker-build (Cargo.toml says why): -Oz, without --debuginfo,
# so the function names stay out of the deployed Worker. The features are worker-build's own
# list (what workerd supports, and the exception handling of wasm-bindgen's catch wrappers).
# TALECAST_KEEP_NAMES=1 keeps the names, for size profiling (twiggy).
"$WASM_OPT_BIN" "$wasm" -o "$wasm.opt" -Oz ${TALECAST_KEEP_NAMES:+--debuginfo} \
  --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int --enable-bulk-memory \
  --enable-multivalue --enable-reference-types --enable-exception-handling
mv "$wasm.opt" "$wasm"
raw=$(wc -c < "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
echo "build: $wasm $((raw / 1024)) KiB raw, $((gz / 1024)) KiB gzip" >&2

# The page (web/, served as static assets; not web/api/, the OpenAPI document): what a first visit transfers, each file gzipped
# as a server would send it (_headers is configuration, not sent).
page_gz=0
while IFS= read -r f; do page_gz=$((page_gz + $(gzip -9 -n -c "$f" | wc -c))); done < <(find web -type f ! -name _headers ! -path 'web/api/*')
echo "build: page web/ $(find web -type f ! -name _headers ! -path 'web/api/*' | wc -l) files, $page_gz bytes gzip" >&2
