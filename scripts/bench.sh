#!/usr/bin/env bash
# Measures where talecast stands, in one run, and prints a table (also target/bench.md, and
# every figure in target/bench.json):
# the Worker's bundle against a minimal workers-rs Worker built the same way, the story and
# audio jobs against the stand-ins' latency, status reads against a route that touches
# nothing, progress latency from commit to SSE subscriber, chapter assembly's peak memory,
# Neon round trips per route and per job call, and Neon requests of an idle cron. Figures
# are ratios taken in the same run (machines are shared and noisy), absolutes beside them.
# README.md ("Benchmarks") says how each is measured.
#
#   scripts/bench.sh           full size, release builds (a few minutes on 2 cores)
#   scripts/bench.sh --short   tiny sizes, same code paths, debug builds (scripts/test.sh
#                              runs it so the bench cannot break; it never fails on figures)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

short=0
case "${1:-}" in
  --short) short=1 ;;
  "") ;;
  *) echo "usage: scripts/bench.sh [--short]" >&2; exit 2 ;;
esac

OUT=target/bench
mkdir -p "$OUT"
rm -f "$OUT"/*.json target/bench.json target/bench.md
began=$(date +%s)

bash scripts/setup.sh >&2
bash scripts/build.sh

# ---- bundle: the minimal Worker, built with talecast's own settings and tools ----
MW="$OUT/minimal-worker"
mkdir -p "$MW/src"
cp bench/minimal-worker/src/lib.rs "$MW/src/lib.rs"
cp bench/minimal-worker/wrangler.toml "$MW/wrangler.toml"
python3 scripts/lib/minimal_worker.py Cargo.toml bench/minimal-worker/Cargo.toml "$MW/Cargo.toml"
# Talecast's lock: the same worker, wasm-bindgen and their dependencies, to the patch.
cp Cargo.lock "$MW/Cargo.lock"
# Rebuilt when an input changes: the manifest (with the copied settings), the code, the lock,
# the build steps, the worker-build binary.
key=$( { cat "$MW/Cargo.toml" "$MW/src/lib.rs" Cargo.lock scripts/lib/worker_build.sh; readlink -f .tools/bin/worker-build; } | sha256sum | cut -c1-16)
if [ "$(cat "$MW/build.key" 2>/dev/null)" != "$key" ] || [ -z "$(find "$MW/build" -name '*.wasm' 2>/dev/null | head -n1)" ]; then
  echo "bench: building the minimal Worker in $MW" >&2
  (
    # Built in talecast's target folder, cached with the rest of it.
    export CARGO_TARGET_DIR="$ROOT/target"
    cd "$MW"
    source "$ROOT/scripts/lib/worker_build.sh"
    worker_build "$ROOT"
  )
  echo "$key" > "$MW/build.key"
fi
bundle_json() { # wasm
  printf '{"wasm": "%s", "raw": %s, "gzip": %s}' "$1" "$(wc -c < "$1")" "$(gzip -9 -c "$1" | wc -c)"
}
talecast_wasm=$(find build -name '*.wasm' | head -n1)
minimal_wasm=$(find "$MW/build" -name '*.wasm' | head -n1)
printf '{"talecast": %s, "minimal": %s}\n' "$(bundle_json "$talecast_wasm")" "$(bundle_json "$minimal_wasm")" > "$OUT/bundle.json"

# ---- chapter assembly: native, a counting allocator around core::mp3 ----
if [ "$short" = 1 ]; then profile=(); asm_args=(6 1); else profile=(--release); asm_args=(); fi
cargo run --quiet "${profile[@]}" --example bench_assembly -- "${asm_args[@]}" "--json=$OUT/assembly.json" >&2

# ---- the stack: jobs, progress latency, status reads, round trips, idle ----
if [ "$short" = 1 ]; then
  cargo build --quiet -p devstack
  devstack=target/debug/devstack
else
  cargo build --quiet --release -p devstack
  devstack=target/release/devstack
fi
DEVSTACK_BIN="$PWD/$devstack" TALECAST_BENCH_SHORT=$short TALECAST_BENCH_OUT="$PWD/$OUT/stack.json" \
  cargo test --quiet "${profile[@]}" --test api bench_stack -- --ignored --nocapture --test-threads=1 >&2

python3 scripts/lib/bench_table.py "$OUT" target/bench.json "$short" "$(( $(date +%s) - began ))"
