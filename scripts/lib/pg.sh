# PostgreSQL cluster helpers, sourced by scripts/dev.sh and scripts/test.sh.
# A cluster lives in a folder of the project's (.local/...), listens on loopback only and
# uses password auth (scram-sha-256), so the Neon-protocol server's password checks are real.
# PostgreSQL refuses to run as root, so as root the cluster runs as the `postgres` user that
# Debian's package creates.
#
# No password is a well-known string: the superuser's is generated when the cluster is made
# and kept in the cluster's folder (DIR/superuser.password, readable by its owner only), and
# the app's role, which the Worker logs in as, is no superuser and gets the password its
# caller generated (pg_app_db). A web page that reaches a local port still cannot log in.

PG_BIN="${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)}"
# Set by pg_start: the superuser password of the cluster it started.
PG_SUPERPASS=

pg_as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_new_password() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

# pg_start DIR PORT [LISTEN]: create the cluster in DIR when it does not exist, then start it.
# It listens on LISTEN (default 127.0.0.1) and on a unix socket in DIR (DIR/.s.PGSQL.PORT);
# LISTEN "none" means the socket only: no TCP port, so parallel clusters cannot collide.
# Afterwards PG_SUPERPASS holds the cluster's superuser password (for pg_url).
pg_start() {
  local dir="$1" port="$2" listen="${3:-127.0.0.1}"
  [ "$listen" = none ] && listen="''"
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
  chmod 700 "$dir"
  if [ ! -f "$dir/PG_VERSION" ]; then
    local pw; pw=$(mktemp); pg_new_password > "$pw"
    [ "$(id -u)" = 0 ] && chown postgres "$pw"
    pg_as_owner "$PG_BIN/initdb" -D "$dir" -U postgres --auth=scram-sha-256 --pwfile="$pw" \
      --encoding=UTF8 --locale=C.UTF-8 >"$dir.initdb.log" 2>&1 \
      || { cat "$dir.initdb.log" >&2; rm -f "$pw"; return 1; }
    mv "$pw" "$dir/superuser.password"; chmod 600 "$dir/superuser.password"
  fi
  if ! pg_as_owner "$PG_BIN/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
    pg_as_owner "$PG_BIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses=$listen -p $port -k $dir -c fsync=off -c max_connections=200" start >/dev/null \
      || return 1
  fi
  if [ ! -f "$dir/superuser.password" ]; then
    # A cluster made before passwords were generated has the old fixed one: replace it.
    local new; new=$(pg_new_password)
    echo "ALTER ROLE postgres PASSWORD '$new'" | PGPASSWORD=postgres pg_psql_at "$dir" "$port" postgres >/dev/null || return 1
    printf '%s\n' "$new" > "$dir/superuser.password"; chmod 600 "$dir/superuser.password"
    [ "$(id -u)" = 0 ] && chown postgres "$dir/superuser.password"
  fi
  PG_SUPERPASS=$(cat "$dir/superuser.password")
}

pg_stop() {
  local dir="$1"
  [ -f "$dir/PG_VERSION" ] || return 0
  pg_as_owner "$PG_BIN/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
}

# pg_psql_at DIR PORT DB: psql as the superuser over the cluster's unix socket, SQL on stdin,
# the password in PGPASSWORD (never on a command line). Statements are not logged: they may
# set a password.
pg_psql_at() {
  { echo "SET log_statement = 'none'; SET log_min_error_statement = 'panic';"; cat; } \
    | "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$1" -p "$2" -U postgres -d "$3" -tA
}

# pg_app_db DIR PORT DB ROLE: makes ROLE (LOGIN, no superuser, cannot create databases or
# roles) with the password in PG_APP_PASSWORD, and database DB owned by it, so the migrations
# and the Worker run as ROLE; sets the password again when they exist. A database made by the
# superuser before (older scripts/dev.sh) is handed to ROLE with its tables.
pg_app_db() {
  local dir="$1" port="$2" db="$3" role="$4" pw="${PG_APP_PASSWORD:?PG_APP_PASSWORD is not set}"
  local ident='^[a-z_][a-z0-9_]*$'
  [[ $db =~ $ident && $role =~ $ident ]] || { echo "pg_app_db: bad name: $db / $role" >&2; return 1; }
  [[ $role != postgres ]] || { echo "pg_app_db: the app role must not be the superuser" >&2; return 1; }
  [[ $pw =~ ^[A-Za-z0-9_.~-]+$ ]] || { echo "pg_app_db: the password must be URL-safe (letters, digits, _ . ~ -)" >&2; return 1; }
  export PGPASSWORD="$PG_SUPERPASS"
  local verb=CREATE
  [ -n "$(echo "SELECT 1 FROM pg_roles WHERE rolname = '$role'" | pg_psql_at "$dir" "$port" postgres)" ] && verb=ALTER
  echo "$verb ROLE $role WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS PASSWORD '$pw'" \
    | pg_psql_at "$dir" "$port" postgres >/dev/null || { unset PGPASSWORD; return 1; }
  if [ -z "$(echo "SELECT 1 FROM pg_database WHERE datname = '$db'" | pg_psql_at "$dir" "$port" postgres)" ]; then
    echo "CREATE DATABASE $db OWNER $role" | pg_psql_at "$dir" "$port" postgres >/dev/null || { unset PGPASSWORD; return 1; }
  else
    pg_psql_at "$dir" "$port" "$db" >/dev/null <<SQL || { unset PGPASSWORD; return 1; }
ALTER DATABASE $db OWNER TO $role;
DO \$\$ DECLARE t regclass; BEGIN
  FOR t IN SELECT c.oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relowner <> '$role'::regrole LOOP
    EXECUTE format('ALTER TABLE %s OWNER TO $role', t);
  END LOOP;
END \$\$;
SQL
  fi
  unset PGPASSWORD
}

# pg_url PORT [DB]: a superuser connection string for the cluster pg_start started last.
pg_url() { echo "postgresql://postgres:${PG_SUPERPASS}@127.0.0.1:$1/${2:-postgres}"; }
