#!/usr/bin/env bash
# Throwaway single-node Apache Kafka broker (KRaft, combined broker+controller).
#   scripts/kafka.sh start [PORT]   format storage, start on 127.0.0.1:PORT, print bootstrap address
#   scripts/kafka.sh stop  [PORT]   stop it and remove its data directory
#   scripts/kafka.sh kill  [PORT]   SIGKILL the broker but keep its data (fault tests)
#   scripts/kafka.sh restart [PORT] start a killed/stopped broker again on its kept data
# The controller listens on PORT+1. Jars come from scripts/fetch-kafka.sh.
source "$(dirname "$0")/common.sh"

cmd=${1:-}; port=${2:-${OUTBOX_KAFKA_PORT:-59092}}
cport=$((port + 1))
dir="$OUTBOX_RUN_DIR/kafka-$port"
addr="127.0.0.1:$port"

broker_ready() {
  port_open 127.0.0.1 "$port" || return 1
  command -v kcat >/dev/null || return 0
  kcat -b "$addr" -L -m 3 2>/dev/null | grep -q "broker 1 at"
}

launch() {
  local lib; lib=$("$OUTBOX_ROOT/scripts/fetch-kafka.sh")
  port_open 127.0.0.1 "$port" && die "port $port is already taken by another process"
  port_open 127.0.0.1 "$cport" && die "port $cport is already taken by another process"
  # setsid: the broker must not die with the shell that started it, nor get its signals.
  setsid java -Xms256m -Xmx${OUTBOX_KAFKA_HEAP:-768m} -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$OUTBOX_ROOT/scripts/kafka/log4j2.properties" -Dkafka.logs.dir="$dir" \
    -cp "$lib/*" kafka.Kafka "$dir/server.properties" >"$dir/stdout.log" 2>&1 </dev/null &
  echo $! >"$dir/kafka.pid"
  if ! wait_until "${OUTBOX_KAFKA_START_TIMEOUT:-90}" broker_ready; then
    # Keep the evidence: stop removes $dir.
    local keep="$OUTBOX_RUN_DIR/kafka-$port.failed"
    rm -rf "$keep"; mkdir -p "$keep"; cp "$dir"/*.log "$dir/server.properties" "$keep/" 2>/dev/null || true
    tail -20 "$dir/server.log" "$dir/stdout.log" >&2 || true
    log "kafka did not become ready on $addr; logs kept in $keep"
    return 1
  fi
  log "kafka ready at $addr"
  echo "$addr"
}

stop() {
  kill_pidfile "$dir/kafka.pid" 30
  local pids; pids=$(pgrep -f -- "kafka.Kafka $dir/server.properties" || true)
  [[ -z $pids ]] || kill -KILL $pids 2>/dev/null || true
  rm -rf "$dir"
}

start() {
  command -v java >/dev/null || die "java is not installed; run scripts/deps.sh"
  stop
  reserve_ports "$port" "$((port + 401))"  # this broker, its controller and the private ones at offsets from it
  mkdir -p "$dir/data"
  cat >"$dir/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
controller.quorum.bootstrap.servers=127.0.0.1:$cport
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$dir/data
num.partitions=${OUTBOX_KAFKA_PARTITIONS:-3}
auto.create.topics.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
log.flush.interval.messages=9223372036854775807
PROPS
  local lib cluster_id; lib=$("$OUTBOX_ROOT/scripts/fetch-kafka.sh")
  cluster_id=$(java -cp "$lib/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)
  java -Dlog4j2.configurationFile="$OUTBOX_ROOT/scripts/kafka/log4j2.properties" -Dkafka.logs.dir="$dir" \
    -cp "$lib/*" kafka.tools.StorageTool format -t "$cluster_id" -c "$dir/server.properties" --standalone \
    >"$dir/format.log" 2>&1 || die "formatting Kafka storage failed; see $dir/format.log"
  launch
}

case $cmd in
  # A broker that does not come up (seen once on a heavily loaded machine) gets
  # one more try on fresh storage before the start counts as failed.
  start) start || { log "retrying once"; start; } || die "kafka did not start on $addr" ;;
  stop) stop; log "kafka on port $port stopped and removed" ;;
  kill) [[ -f $dir/kafka.pid ]] && kill -KILL "$(cat "$dir/kafka.pid")" 2>/dev/null; rm -f "$dir/kafka.pid"
        wait_until 30 bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null" || true ;;
  restart) [[ -f $dir/server.properties ]] || die "no broker data in $dir; use start"
           kill_pidfile "$dir/kafka.pid" 30; launch || die "kafka did not restart on $addr" ;;
  addr) echo "$addr" ;;
  *) die "usage: $0 start|stop|kill|restart|addr [PORT]" ;;
esac
