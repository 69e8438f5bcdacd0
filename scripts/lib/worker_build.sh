# worker_build ROOT: builds the Worker crate in the current directory the way talecast ships,
# with ROOT's own tools: `worker-build --release`, then wasm-opt -Oz. scripts/build.sh uses it
# for talecast and scripts/bench.sh for the minimal Worker it compares against, so both are
# built the same way. Prints the bundle's sizes to stderr.
worker_build() {
  local root=$1
  source "$root/scripts/lib/node.sh"
  # esbuild's binary comes in a package per platform; npm installs only this machine's.
  export ESBUILD_BIN="$root/node_modules/@esbuild/$(npm_platform)/bin/esbuild"
  export WASM_BINDGEN_BIN="$root/.tools/bin/wasm-bindgen"
  export WASM_OPT_BIN="$root/node_modules/binaryen/bin/wasm-opt"
  local b
  for b in "$ESBUILD_BIN" "$WASM_BINDGEN_BIN" "$WASM_OPT_BIN" "$root/.tools/bin/worker-build"; do
    [ -x "$b" ] || { echo "build: $b is missing; run scripts/setup.sh" >&2; return 1; }
  done
  "$root/.tools/bin/worker-build" --release >&2 || return 1

  local wasm
  wasm=$(find build -name '*.wasm' | head -n1)
  # wasm-opt here rather than in worker-build (Cargo.toml says why): -Oz, without --debuginfo,
  # so the function names stay out of the deployed Worker. The features are worker-build's own
  # list (what workerd supports, and the exception handling of wasm-bindgen's catch wrappers).
  # TALECAST_KEEP_NAMES=1 keeps the names, for size profiling (twiggy).
  "$WASM_OPT_BIN" "$wasm" -o "$wasm.opt" -Oz ${TALECAST_KEEP_NAMES:+--debuginfo} \
    --enable-mutable-globals --enable-sign-ext --enable-nontrapping-float-to-int --enable-bulk-memory \
    --enable-multivalue --enable-reference-types --enable-exception-handling || return 1
  mv "$wasm.opt" "$wasm"
  echo "build: $wasm $(( $(wc -c < "$wasm") / 1024 )) KiB raw, $(( $(gzip -9 -c "$wasm" | wc -c) / 1024 )) KiB gzip" >&2
}
