#!/usr/bin/env bash
# Sets up and starts the whole local stack in the foreground:
#   PostgreSQL (.local/pg, port 54329) → devstack (Neon protocol on :4444, OpenAI/ElevenLabs
#   stand-ins on :4445) → migrations → `wrangler dev` on http://127.0.0.1:8787.
# Ctrl-C stops everything. State (database, R2, Durable Objects) persists under .local/ and
# .wrangler/state between runs.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bash scripts/setup.sh
source scripts/lib/pg.sh
PG_PORT="${TALECAST_PG_PORT:-54329}"
NEON_ADDR=127.0.0.1:4444
PROVIDERS_ADDR=127.0.0.1:4445
WORKER_PORT="${TALECAST_PORT:-8787}"

pg_start "$ROOT/.local/pg" "$PG_PORT"

# Local secrets: made once from the example, with a fresh admin token, link signing key and password
# for the database role the Worker logs in as (`talecast`: it owns the database, and is no
# superuser). A .dev.vars from before, which logged in as the superuser, gets the role too.
app_url() { echo "postgresql://talecast:$(pg_new_password)@127.0.0.1:$PG_PORT/talecast"; }
link_key() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; }
if [ ! -f .dev.vars ]; then
  token="tc_admin_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  (umask 077; sed -e "s|^DATABASE_URL=.*|DATABASE_URL=$(app_url)|" \
      -e "s|^ADMIN_TOKEN=.*|ADMIN_TOKEN=$token|" \
      -e "s|^LINK_SIGNING_KEY=.*|LINK_SIGNING_KEY=$(link_key)|" .dev.vars.example > .dev.vars)
  echo "dev: wrote .dev.vars (ADMIN_TOKEN is in it)"
elif grep -q '^DATABASE_URL=postgresql://postgres:' .dev.vars; then
  sed -i -e "s|^DATABASE_URL=.*|DATABASE_URL=$(app_url)|" .dev.vars
  echo "dev: .dev.vars now logs in as the role talecast, with a generated password (was the superuser)"
fi
# A .dev.vars from before signed links gets a key of its own.
if ! grep -q '^LINK_SIGNING_KEY=' .dev.vars; then
  echo "LINK_SIGNING_KEY=$(link_key)" >> .dev.vars
  echo "dev: added a generated LINK_SIGNING_KEY to .dev.vars"
fi
# DATABASE_URL names the role, its password and the database: make them so.
db_url=$(sed -n 's/^DATABASE_URL=//p' .dev.vars)
if [[ $db_url =~ ^postgres(ql)?://([^:@/]+):([^@/]+)@[^/]+/([^?]+) ]]; then
  PG_APP_PASSWORD="${BASH_REMATCH[3]}" pg_app_db "$ROOT/.local/pg" "$PG_PORT" "${BASH_REMATCH[4]}" "${BASH_REMATCH[2]}"
else
  echo "dev: DATABASE_URL in .dev.vars is not postgresql://role:password@host:port/database" >&2; exit 1
fi
set -a; source .dev.vars; set +a

cargo build --quiet -p devstack
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  pg_stop "$ROOT/.local/pg"
}
trap cleanup EXIT INT TERM
target/debug/devstack serve --neon-addr "$NEON_ADDR" --providers-addr "$PROVIDERS_ADDR" \
  --pg-addr "127.0.0.1:$PG_PORT" > .local/devstack.log 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q '"ready":true' .local/devstack.log 2>/dev/null && break; sleep 0.1; done
grep -q '"ready":true' .local/devstack.log || { cat .local/devstack.log; exit 1; }

target/debug/devstack migrate --endpoint "http://$NEON_ADDR/sql"

bash scripts/build.sh
source scripts/lib/node.sh
use_node "$ROOT"
export TALECAST_SKIP_BUILD=1
echo "dev: talecast on http://127.0.0.1:$WORKER_PORT (try: curl http://127.0.0.1:$WORKER_PORT/health)"
node_modules/.bin/wrangler dev --ip 127.0.0.1 --port "$WORKER_PORT" --persist-to .wrangler/state \
  --test-scheduled --show-interactive-dev-session=false \
  --var "NEON_HTTP_ENDPOINT:http://$NEON_ADDR/sql" --var "OPENAI_BASE_URL:http://$PROVIDERS_ADDR/v1" \
  --var "ELEVENLABS_BASE_URL:http://$PROVIDERS_ADDR" \
  --var "CORS_ALLOWED_ORIGINS:${TALECAST_CORS_ORIGINS:-http://localhost:5173}" &
pids+=($!)
# Local queue messages do not survive a restart: once the Worker answers, run the sweeper
# once so that tasks left active by the last run continue.
for _ in $(seq 120); do curl -fsS "http://127.0.0.1:$WORKER_PORT/health" >/dev/null 2>&1 && break; sleep 1; done
curl -fsS "http://127.0.0.1:$WORKER_PORT/__scheduled?cron=*/10+*+*+*+*" >/dev/null 2>&1 || true
# A local reader, so the page at / can be used at once: its API key is made once (again if the
# database no longer knows it) and kept in .local/dev-api-key, to paste into the page. The
# admin token travels in a header file, not on a command line.
key_file=.local/dev-api-key
if ! { [ -s "$key_file" ] && curl -fsS -o /dev/null -H @<(printf 'Authorization: Bearer %s' "$(cat "$key_file")") \
    "http://127.0.0.1:$WORKER_PORT/api/v1/me" 2>/dev/null; }; then
  (umask 077; curl -fsS -H @<(printf 'Authorization: Bearer %s' "$ADMIN_TOKEN") -H 'Content-Type: application/json' \
    -d '{"name": "local reader"}' "http://127.0.0.1:$WORKER_PORT/api/v1/users" |
    sed -n 's/.*"api_key":"\([^"]*\)".*/\1/p' > "$key_file") || true
fi
echo "dev: open http://127.0.0.1:$WORKER_PORT/ and paste the API key in $key_file"
wait "${pids[-1]}"
