#!/usr/bin/env bash
# Starts a throwaway PostgreSQL server on loopback for the tests and prints one line,
#   export KEYLESS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:PORT/keyless_test
# for the caller to eval:  eval "$(bash scripts/ci-postgres.sh)"
#
# Installs PostgreSQL from Debian's packages if absent. Idempotent and quick: a server this script
# already started (same KEYLESS_PG_DIR) is reused; a stopped one is started again on a free port.
# Everything but the export line goes to standard error.
#   KEYLESS_PG_DIR   where the cluster lives (default /tmp/keyless-pg)
#   stop             as the first argument: stop that server and exit
set -euo pipefail
cd /  # the postgres user may not be able to enter the caller's directory

dir=${KEYLESS_PG_DIR:-/tmp/keyless-pg}
db=keyless_test
log() { echo "ci-postgres: $*" >&2; }

bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
if [ ! -x "$(bindir)/initdb" ] || [ ! -x "$(bindir)/pg_ctl" ]; then
  log "installing PostgreSQL from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq postgresql >&2
fi
bin=$(bindir)

# The server refuses to run as root: as root, run it as the `postgres` user the package creates.
if [ "$(id -u)" = 0 ]; then
  id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql --shell /bin/sh postgres
  as_pg() { runuser -u postgres -- "$@"; }
else
  as_pg() { "$@"; }
fi

if [ "${1:-}" = stop ]; then
  [ -f "$dir/data/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$dir/data" -m fast stop >&2 || true
  exit 0
fi

running() {
  [ -f "$dir/port" ] && "$bin/pg_isready" -q -h 127.0.0.1 -p "$(cat "$dir/port")" -t 3
}

free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$(( 20000 + RANDOM % 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      echo "$p"
      return 0
    fi
  done
  return 1
}

if running; then
  port=$(cat "$dir/port")
  log "reusing the server on 127.0.0.1:$port ($dir)"
else
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    log "initdb in $dir/data"
    as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 \
      || { cat "$dir/initdb.log" >&2; exit 1; }
  fi
  # Keep the previous port when it is free, so URLs handed out before stay valid.
  # A server killed with its session (SIGKILL) leaves a lock file behind; a live one is stopped.
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_pg "$bin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -f "$dir/data/postmaster.pid"
  fi
  port=$(cat "$dir/port" 2>/dev/null || true)
  if [ -z "$port" ] || (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    port=$(free_port)
  fi
  log "starting PostgreSQL on 127.0.0.1:$port"
  as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$dir -c max_connections=300" \
    start >&2 || { tail -n 30 "$dir/server.log" >&2; exit 1; }
  echo "$port" >"$dir/port"
fi

exists=$(as_pg "$bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
  "SELECT 1 FROM pg_database WHERE datname = '$db'")
if [ "$exists" != 1 ]; then
  as_pg "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$db"
fi
echo "export KEYLESS_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/$db"
