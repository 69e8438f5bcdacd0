#!/usr/bin/env bash
# Builds the Worker (release, wasm-opt on) into build/ with the project's own tools, and
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
raw=$(wc -c < "$wasm")
gz=$(gzip -9 -c "$wasm" | wc -c)
echo "build: $wasm $((raw / 1024)) KiB raw, $((gz / 1024)) KiB gzip" >&2

# The page (web/, served as static assets; not web/api/, the OpenAPI document): what a first visit transfers, each file gzipped
# as a server would send it (_headers is configuration, not sent).
page_gz=0
while IFS= read -r f; do page_gz=$((page_gz + $(gzip -9 -n -c "$f" | wc -c))); done < <(find web -type f ! -name _headers ! -path 'web/api/*')
echo "build: page web/ $(find web -type f ! -name _headers ! -path 'web/api/*' | wc -l) files, $page_gz bytes gzip" >&2
