# PostgreSQL cluster helpers, sourced by scripts/dev.sh and scripts/test.sh.
# A cluster lives in a folder of the project's (.local/...), listens on loopback only and
# uses password auth (scram-sha-256), so the Neon-protocol server's password checks are real.
# PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user that
# Debian's package creates.

PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}"
PG_SUPERPASS="${PG_SUPERPASS:-postgres}"

pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# pg_start DIR PORT [LISTEN]: create the cluster in DIR when it does not exist, then start it.
# It listens on LISTEN (default 127.0.0.1) and on a unix socket in DIR (DIR/.s.PGSQL.PORT);
# LISTEN "none" means the socket only: no TCP port, so parallel clusters cannot collide.
pg_start() {
  local dir="$1" port="$2" listen="${3:-127.0.0.1}"
  [ "$listen" = none ] && listen="''"
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  chmod 700 "$dir"
  if [ ! -f "$dir/PG_VERSION" ]; then
    local pw; pw=$(mktemp); printf '%s\n' "$PG_SUPERPASS" > "$pw"
    [ "$(id -u)" = 0 ] && chown postgres "$pw"
    pg_as_owner "$PG_BIN/initdb" -D "$dir" -U postgres --auth=scram-sha-256 --pwfile="$pw" \
      --encoding=UTF8 --locale=C.UTF-8 >"$dir.initdb.log" 2>&1 \
      || { cat "$dir.initdb.log" >&2; rm -f "$pw"; return 1; }
    rm -f "$pw"
  fi
  if pg_as_owner "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then return 0; fi
  pg_as_owner "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=$listen -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null
}

pg_stop() {
  local dir="$1"
  [ -f "$dir/PG_VERSION" ] || return 0
  pg_as_owner "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
}

# pg_url PORT [DB]: a superuser connection string for the cluster on PORT.
pg_url() { echo "postgresql://postgres:${PG_SUPERPASS}@127.0.0.1:$1/${2:-postgres}"; }
