#!/usr/bin/env bash
# The end-to-end demo: embedded PostgreSQL + Kafka, the relay, the example
# order service writing from concurrent connections, then the delivery check.
#   scripts/demo.sh [--orders N] [--connections C] [--updates-per-order M] [--keep]
# Exits 0 only when nothing was lost, nothing phantom and no per-key order was broken.
source "$(dirname "$0")/common.sh"

orders=10000 connections=8 updates=2 keep=0
while (($#)); do
  case $1 in
    --orders) orders=$2; shift 2 ;;
    --connections) connections=$2; shift 2 ;;
    --updates-per-order) updates=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) die "unknown argument '$1'; see --help" ;;
  esac
done

pg_port=${OUTBOX_DEMO_PG_PORT:-55433}
kafka_port=${OUTBOX_DEMO_KAFKA_PORT:-59292}
build_dir=${BUILD_DIR:-$OUTBOX_ROOT/build}
demo_dir="$OUTBOX_RUN_DIR/demo"
relay_pid=""

cleanup() {
  [[ -n $relay_pid ]] && kill -KILL "$relay_pid" 2>/dev/null || true
  if ((keep == 0)); then
    "$OUTBOX_ROOT/scripts/kafka.sh" stop "$kafka_port" >/dev/null 2>&1 || true
    "$OUTBOX_ROOT/scripts/pg.sh" stop "$pg_port" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

log "installing dependencies and building (first run: a few minutes)"
"$OUTBOX_ROOT/scripts/deps.sh" >/dev/null
cmake -S "$OUTBOX_ROOT" -B "$build_dir" -G Ninja >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target outbox-relay order-service >/dev/null

dsn=$("$OUTBOX_ROOT/scripts/pg.sh" start "$pg_port")
brokers=$("$OUTBOX_ROOT/scripts/kafka.sh" start "$kafka_port")
mkdir -p "$demo_dir"
config="$demo_dir/relay.toml"
cat >"$config" <<TOML
# Demo configuration: the defaults, except that rows are kept after publishing
# (cleanup = "mark") so that \`outbox-relay check\` can compare them with Kafka.
[postgres]
dsn = "$dsn"
[outbox]
cleanup = "mark"
[kafka]
brokers = "$brokers"
[log]
progress_interval_s = 2
TOML

relay=("$build_dir/relay/outbox-relay" -c "$config")
"${relay[@]}" migrate
"${relay[@]}" run 2>"$demo_dir/relay.log" &
relay_pid=$!
log "relay running (pid $relay_pid, log $demo_dir/relay.log)"

"$build_dir/examples/order_service/order-service" --dsn "$dsn" --orders "$orders" \
  --connections "$connections" --updates-per-order "$updates"

unpublished() { psql -Atq "$dsn" -c "SELECT count(*) FROM outbox.outbox WHERE published_at IS NULL"; }
wait_until 300 bash -c "[[ \$(psql -Atq '$dsn' -c 'SELECT count(*) FROM outbox.outbox WHERE published_at IS NULL') == 0 ]]" \
  || die "the relay did not publish everything within 300 s ($(unpublished) left); see $demo_dir/relay.log"
kill -TERM "$relay_pid"
wait "$relay_pid" || die "the relay did not exit 0 on SIGTERM; see $demo_dir/relay.log"
relay_pid=""
grep -E "progress:|stopped" "$demo_dir/relay.log" | tail -3 >&2

"${relay[@]}" check --json "$demo_dir/check.json"
