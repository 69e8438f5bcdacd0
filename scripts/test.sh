#!/usr/bin/env bash
# Sets up and runs every test: native unit tests (core, devstack), the Neon-protocol and
# provider stand-in tests, the official Neon driver's conformance test, the end-to-end
# tests that start the whole stack (PostgreSQL, devstack, `wrangler dev`) per test, and
# `wrangler deploy --dry-run --env production`, and the benchmark's short form.
#
# Every suite runs even when an earlier one fails. The closing line counts every test that
# passed and every one that failed; a test binary that did not build or ended without its
# `test result:` line (a crash) counts as one failure, so do node's cancelled tests and a
# failed Worker build. Suites that ran no test at all are named. The exit code is non-zero
# whenever anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bash scripts/setup.sh || { echo "test: scripts/setup.sh failed" >&2; echo; echo "tests: 0 passed, 1 failed"; exit 1; }

RUN="$ROOT/target/test-run"
rm -rf "$RUN"; mkdir -p "$RUN"
# The end-to-end drills append their figures here (see tests/api/drills.rs).
rm -f "$ROOT/target/drill-figures.txt"
extra_failed=0
failures=()
note_failure() { extra_failed=$((extra_failed + 1)); failures+=("$1"); }

# The end-to-end tests refuse a build/ older than src/, so a failed build shows up as their
# failures too rather than as a pass against stale code.
bash scripts/build.sh || note_failure "Worker build (scripts/build.sh)"
cargo build --quiet -p devstack || note_failure "devstack build"

source scripts/lib/pg.sh
source scripts/lib/node.sh
use_node "$ROOT" || note_failure "Node 22 for wrangler (scripts/lib/node.sh)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pg_stop "$RUN/pg"
}
trap cleanup EXIT

# One cluster for the tests that bring their own databases (devstack's and the driver's);
# the end-to-end tests start a cluster each, on a unix socket. This one needs TCP (its URL is
# host:port), so a port taken between the pick and PostgreSQL's bind is retried.
PG_PORT=
for _ in 1 2 3 4 5; do
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  if pg_start "$RUN/pg" "$port"; then PG_PORT=$port; break; fi
  echo "test: PostgreSQL could not start on port $port; trying another" >&2
  pg_stop "$RUN/pg"
done
[ -n "$PG_PORT" ] || { cat "$RUN/pg/server.log" >&2 2>/dev/null; note_failure "PostgreSQL for the shared tests"; PG_PORT=1; }
export TALECAST_PG_ADMIN_URL; TALECAST_PG_ADMIN_URL=$(pg_url "$PG_PORT")

# Each end-to-end test runs a whole stack; two at a time suits a 2-core machine.
cargo test --workspace --no-fail-fast -- --test-threads=2 2>&1 | tee "$RUN/cargo.log"
cargo_rc=${PIPESTATUS[0]}
# One target that does not compile stops cargo before any test runs (`--no-fail-fast` only
# covers running). Then every target goes on its own, so the others still run.
if grep -q '^error: could not compile ' "$RUN/cargo.log"; then
  echo "test: a target did not compile; running each target on its own" >&2
  : > "$RUN/cargo.log"
  cargo_rc=0
  while read -r pkg kind name; do
    case $kind in
      lib) sel=(--lib) ;; doc) sel=(--doc) ;; bin) sel=(--bin "$name") ;; test) sel=(--test "$name") ;;
      example) cargo build --quiet -p "$pkg" --example "$name" < /dev/null 2>&1 | tee -a "$RUN/cargo.log" || cargo_rc=101; continue ;;
      *) continue ;;
    esac
    cargo test -p "$pkg" "${sel[@]}" --no-fail-fast -- --test-threads=2 < /dev/null 2>&1 | tee -a "$RUN/cargo.log"
    [ "${PIPESTATUS[0]}" = 0 ] || cargo_rc=101
  done < <(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
for p in json.load(sys.stdin)["packages"]:
    for t in p["targets"]:
        kinds = set(t["kind"])
        if kinds & {"lib", "rlib", "cdylib"}:
            print(p["name"], "lib", t["name"]); print(p["name"], "doc", t["name"])
        elif kinds & {"bin", "test", "example"}:
            print(p["name"], next(iter(kinds & {"bin", "test", "example"})), t["name"])
')
fi

# The driver's conformance test talks to devstack's Neon endpoint.
OPENAI_API_KEY=sk-test ELEVENLABS_API_KEY=xi-test target/debug/devstack serve \
  --neon-addr 127.0.0.1:0 --providers-addr 127.0.0.1:0 --pg-addr "127.0.0.1:$PG_PORT" > "$RUN/devstack.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '"ready":true' "$RUN/devstack.log" && break; sleep 0.1; done
NEON_ADDR=$(sed -n 's/.*"neon":"\([^"]*\)".*/\1/p' "$RUN/devstack.log")
node_rc=1
if [ -z "$NEON_ADDR" ]; then
  cat "$RUN/devstack.log"
  : > "$RUN/node.log"
elif ! PGPASSWORD="$PG_SUPERPASS" "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres driver_conformance; then
  : > "$RUN/node.log"
else
  NEON_ENDPOINT="http://$NEON_ADDR/sql" DATABASE_URL="$(pg_url "$PG_PORT" driver_conformance)" \
    node --test --test-reporter=spec tests/neon-driver/conformance.test.mjs 2>&1 | tee "$RUN/node.log"
  node_rc=${PIPESTATUS[0]}
fi

# The production configuration, as `wrangler deploy --env production` sees it (no account
# needed): one test.
deploy_passed=0
if bash scripts/deploy-dry-run.sh 2>&1 | tee "$RUN/deploy.log"; then deploy_passed=1; else note_failure "wrangler deploy --dry-run --env production (scripts/deploy-dry-run.sh)"; fi

# The benchmark's short form (scripts/bench.sh --short: tiny sizes, the same code paths): one
# test, failed only when the bench itself breaks, never by its figures.
bench_passed=0
if TALECAST_SKIP_BUILD=1 bash scripts/bench.sh --short > "$RUN/bench.log" 2>&1; then
  bench_passed=1
  sed -n '/^bench: .* UTC, /,$p' "$RUN/bench.log"
else
  tail -n 40 "$RUN/bench.log"
  note_failure "scripts/bench.sh --short (log: $RUN/bench.log)"
fi
if [ -f "$ROOT/target/drill-figures.txt" ]; then
  echo "drill figures (measured by the end-to-end drills in this run):"
  sed 's/^/  /' "$ROOT/target/drill-figures.txt"
fi

# Cargo: every suite starts with `Running ...` or `Doc-tests ...` and ends with its
# `test result:` line; one without it crashed. A target that did not compile never starts.
# Prints: passed failed, then one line per problem.
cargo_counts() {
  awk '
    function close_suite() {
      if (suite != "" && !result) { f += 1; print "crashed (no test result): " suite > "/dev/stderr" }
      suite = ""; result = 0
    }
    /^ *Running / { close_suite(); suite = $0; sub(/^ *Running /, "", suite); next }
    /^ *Doc-tests / { close_suite(); suite = $0; sub(/^ *Doc-tests /, "doc-tests ", suite); next }
    /^test result:/ {
      result = 1; p0 = 0; f0 = 0
      for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p0 = $i; if ($(i+1) ~ /^failed/) f0 = $i }
      p += p0; f += f0
      if (p0 + f0 == 0) print "ran 0 tests: " suite > "/dev/stderr"
      next
    }
    /^error: could not compile / { f += 1; print "did not build: " substr($0, 8) > "/dev/stderr" }
    END { close_suite(); print p + 0, f + 0 }
  ' "$1"
}
read -r passed failed < <(cargo_counts "$RUN/cargo.log" 2> "$RUN/suites.txt")
# Cargo failed without any failure to show for it (e.g. it could not even start a build).
if [ "$cargo_rc" != 0 ] && [ "$failed" = 0 ]; then note_failure "cargo test exited $cargo_rc"; fi

node_num() { awk -v k="$1" '$1 == "ℹ" && $2 == k {print $3}' "$RUN/node.log"; }
npass=$(node_num pass); nfail=$(node_num fail); ncancel=$(node_num cancelled)
npass=${npass:-0}; nfail=${nfail:-0}; ncancel=${ncancel:-0}
if [ -z "$(node_num tests)" ]; then
  note_failure "node driver conformance (did not run or crashed)"
elif [ "$node_rc" != 0 ] && [ $((nfail + ncancel)) = 0 ]; then
  note_failure "node driver conformance (exited $node_rc)"
elif [ "$(node_num tests)" = 0 ]; then
  echo "ran 0 tests: tests/neon-driver/conformance.test.mjs" >> "$RUN/suites.txt"
fi

echo
cat "$RUN/suites.txt"
for f in "${failures[@]}"; do echo "failed: $f"; done
total_pass=$((passed + npass + deploy_passed + bench_passed))
total_fail=$((failed + nfail + ncancel + extra_failed))
echo "tests: $total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ] && [ "$cargo_rc" = 0 ] && [ "$node_rc" = 0 ]
