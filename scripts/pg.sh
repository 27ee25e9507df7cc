#!/usr/bin/env bash
# Throwaway PostgreSQL 15 cluster for tests, the demo and benchmarks.
#   scripts/pg.sh start [PORT]   initdb + start on 127.0.0.1:PORT, print the DSN
#   scripts/pg.sh stop  [PORT]   stop it and remove its data directory
#   scripts/pg.sh dsn   [PORT]   print the DSN
#   scripts/pg.sh restart PORT [fast|immediate]
#                                stop with that shutdown mode (default fast), keep the
#                                data directory, start again and wait until ready (fault tests)
# The cluster runs as the OS user "postgres" (initdb refuses root), with
# wal_level=logical and a role "outbox" that has LOGIN and REPLICATION.
source "$(dirname "$0")/common.sh"

cmd=${1:-}; port=${2:-${OUTBOX_PG_PORT:-55432}}
dir="$OUTBOX_RUN_DIR/pg-$port"
os_user=${OUTBOX_PG_OS_USER:-postgres}
dsn="postgresql://outbox:outbox@127.0.0.1:$port/outbox"

as_user() { if [[ $(id -un) == "$os_user" ]]; then "$@"; else runuser -u "$os_user" -- "$@"; fi; }

ready() { "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" -d postgres -U postgres; }

stop() {
  if [[ -f $dir/data/postmaster.pid ]]; then
    as_user "$PG_BIN/pg_ctl" -D "$dir/data" -m "${OUTBOX_PG_STOP_MODE:-fast}" -w -t 30 stop >/dev/null 2>&1 \
      || as_user "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  fi
  # A cluster whose pid file is gone but whose postmaster still listens is killed by port.
  local pids; pids=$(pgrep -u "$os_user" -f -- "-D $dir/data" || true)
  [[ -z $pids ]] || kill -KILL $pids 2>/dev/null || true
  rm -rf "$dir"
}

start() {
  id "$os_user" >/dev/null 2>&1 || die "OS user '$os_user' does not exist; install postgresql (scripts/deps.sh)"
  [[ -x $PG_BIN/initdb ]] || die "$PG_BIN/initdb not found; install postgresql-15 (scripts/deps.sh)"
  stop  # a run that died earlier must not break this one
  reserve_ports "$port" "$((port + 400))"  # this cluster and the private ones at offsets from it
  port_open 127.0.0.1 "$port" && die "port $port is already taken by another process"
  mkdir -p "$dir"; chown "$os_user" "$dir"; chmod 700 "$dir"
  chmod o+x "$OUTBOX_RUN_DIR" 2>/dev/null || true
  as_user "$PG_BIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1 \
    || die "initdb failed; see $dir/initdb.log"
  cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$dir'
wal_level = logical
max_wal_senders = 16
max_replication_slots = 16
max_connections = 200
shared_buffers = 256MB
logging_collector = off
log_min_messages = warning
CONF
  echo "host all,replication all 127.0.0.1/32 trust" >"$dir/data/pg_hba.conf"
  echo "local all,replication all trust" >>"$dir/data/pg_hba.conf"
  as_user "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
    || die "postgres did not start; see $dir/server.log"
  wait_until 30 ready || die "postgres does not accept connections on 127.0.0.1:$port"
  psql -q -h 127.0.0.1 -p "$port" -U postgres -d postgres -v ON_ERROR_STOP=1 >/dev/null <<SQL \
    || die "could not create role and database"
CREATE ROLE outbox LOGIN REPLICATION PASSWORD 'outbox';
CREATE DATABASE outbox OWNER outbox;
SQL
  log "postgres ready at 127.0.0.1:$port"
  echo "$dsn"
}

# restart MODE: an immediate shutdown is a crash (recovery replays the WAL on start).
restart() {
  local mode=${1:-fast}
  [[ $mode == fast || $mode == immediate ]] || die "restart mode must be fast or immediate, got '$mode'"
  [[ -f $dir/data/PG_VERSION ]] || die "no cluster in $dir; use start"
  if [[ -f $dir/data/postmaster.pid ]]; then
    as_user "$PG_BIN/pg_ctl" -D "$dir/data" -m "$mode" -w -t 60 stop >/dev/null \
      || die "postgres on port $port did not stop ($mode); see $dir/server.log"
  fi
  as_user "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start >/dev/null \
    || die "postgres did not start again; see $dir/server.log"
  wait_until 30 ready || die "postgres does not accept connections on 127.0.0.1:$port"
  log "postgres on port $port restarted ($mode shutdown)"
}

case $cmd in
  start) start ;;
  restart) restart "${3:-fast}" ;;
  stop) stop; log "postgres on port $port stopped and removed" ;;
  dsn) echo "$dsn" ;;
  *) die "usage: $0 start|stop|dsn [PORT] | restart PORT [fast|immediate]" ;;
esac
