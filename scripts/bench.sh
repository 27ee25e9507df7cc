#!/usr/bin/env bash
# Relay benchmarks against the machine's own ceilings, with plots.
#   scripts/bench.sh [--quick] [--no-profile] [--only drain|latency|10m] [--report-only]
# Builds (Release) into build-bench/, starts a throwaway Postgres and Kafka on
# private ports, runs bench/relay/'s executables and writes
# bench/results/{results.json,table.md,*.png,profile-drain-100k.txt}.
# docs/benchmarks.md explains every figure. --quick: smaller backlogs
# (10k, 100k) and 4 s latency runs, a couple of minutes in all. --only: run
# one part and merge it with the other part's figures from the previous run.
# --report-only: rebuild results.json, table.md and the plots from the last run.
# --only 10m: only the 10M-event drain and its ceilings (the other figures kept).
# Environment: OUTBOX_BENCH_PG_PORT (55500), OUTBOX_BENCH_KAFKA_PORT (59500),
# BUILD_DIR (build-bench), OUTBOX_BENCH_SOURCE (the source tree to build; the
# repository by default), OUTBOX_BENCH_SOURCE_COMMIT (the commit that tree
# holds, recorded in results.json when it is not a git checkout),
# OUTBOX_BENCH_MODES (source modes of the latency runs: "poll tail"),
# OUTBOX_BENCH_RUNS (runs of each drain and ceiling: 5, --quick 3; tables give
# the median and min-max), OUTBOX_BENCH_10M (1: add one 10M-event poll drain
# to the full run, bounded by --timeout 1800).
source "$(dirname "$0")/common.sh"

quick=0 profile=1 only="" report_only=0
while (($#)); do
  case $1 in
    --quick) quick=1; shift ;;
    --no-profile) profile=0; shift ;;
    --report-only) report_only=1; shift ;;
    --only) only=${2:-}; [[ $only == drain || $only == latency || $only == 10m ]] || die "--only: drain, latency or 10m"; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) die "unknown argument '$1'; see --help" ;;
  esac
done

pg_port=${OUTBOX_BENCH_PG_PORT:-55500}
kafka_port=${OUTBOX_BENCH_KAFKA_PORT:-59500}
src=${OUTBOX_BENCH_SOURCE:-$OUTBOX_ROOT}
build_dir=${BUILD_DIR:-$OUTBOX_ROOT/build-bench}
results=$OUTBOX_ROOT/bench/results
work=$OUTBOX_RUN_DIR/bench-$pg_port
if ((quick)); then
  sizes=(10000 100000); lat_seconds=4; lat_warmup=1; runs=${OUTBOX_BENCH_RUNS:-3}
else
  sizes=(10000 100000 1000000); lat_seconds=15; lat_warmup=2; runs=${OUTBOX_BENCH_RUNS:-5}
fi
rates=(1000 5000 20000)

cleanup() {
  "$OUTBOX_ROOT/scripts/kafka.sh" stop "$kafka_port" >/dev/null 2>&1 || true
  "$OUTBOX_ROOT/scripts/pg.sh" stop "$pg_port" >/dev/null 2>&1 || true
}
trap cleanup EXIT

lines=$work/results.jsonl
if ((report_only == 0)); then
log "dependencies"
"$OUTBOX_ROOT/scripts/deps.sh" >/dev/null
extra=()
command -v gnuplot >/dev/null || extra+=(gnuplot-nox)
command -v jq >/dev/null || extra+=(jq)
((profile == 0)) || command -v perf >/dev/null || extra+=(linux-perf)
if ((${#extra[@]})); then
  [[ $(id -u) == 0 ]] || die "missing packages (${extra[*]}); install them or run as root"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${extra[@]}" >/dev/null \
    || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${extra[@]}" >/dev/null; }
fi
if ((profile)) && ! perf record -q -e cpu-clock -o /dev/null true >/dev/null 2>&1; then
  log "perf cannot record here (perf_event_paranoid?); skipping the profile"
  profile=0
fi

log "building (Release) in $build_dir"
cmake -S "$src" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DOUTBOX_BUILD_TESTS=OFF >/dev/null
cmake --build "$build_dir" -j "$(nproc)" \
  --target outbox-relay relay-drain-bench kafka-ceiling-bench pg-ceiling-bench relay-latency-bench >/dev/null
bin=$build_dir/bench/relay
relay=$build_dir/relay/outbox-relay

dsn=$("$OUTBOX_ROOT/scripts/pg.sh" start "$pg_port")
brokers=$("$OUTBOX_ROOT/scripts/kafka.sh" start "$kafka_port")
pg_pid=$(head -1 "$OUTBOX_RUN_DIR/pg-$pg_port/data/postmaster.pid")
kafka_pid=$(cat "$OUTBOX_RUN_DIR/kafka-$kafka_port/kafka.pid")
mkdir -p "$work" "$results"
lines=$work/results.jsonl
# Keep the other part's figures when only one part runs.
if [[ -n $only && -f $lines ]]; then
  if [[ $only == 10m ]]; then
    keep='select(.events != 10000000 or (.kind as $k | ["drain","kafka_ceiling","pg_ceiling"] | index($k) | not))'
  else
    drop=$([[ $only == drain ]] && echo '"drain","kafka_ceiling","pg_ceiling"' || echo '"latency"')
    keep="select(.kind as \$k | [$drop] | index(\$k) | not)"
  fi
  jq -c "$keep" "$lines" >"$lines.keep"
  mv "$lines.keep" "$lines"
else
  : >"$lines"
fi

# Warm-up, not recorded: the broker's first idempotent producer waits for its
# coordinator, and a fresh broker spends 3-4x the CPU per record until its JIT
# has compiled the produce path (the first 10k drains of a run measured that).
"$bin/kafka-ceiling-bench" --brokers "$brokers" --events 200000 >/dev/null

if [[ $only != latency ]]; then
drain=("$bin/relay-drain-bench" --dsn "$dsn" --brokers "$brokers" --relay "$relay" --json "$lines"
  --pg-pid "$pg_pid" --kafka-pid "$kafka_pid" --work-dir "$work")
if [[ $only != 10m ]]; then
log "drain and ceilings: ${sizes[*]} events, $runs runs each"
for n in "${sizes[@]}"; do
  # Interleaved, so a noisy minute spreads over all three figures.
  for ((run = 1; run <= runs; run++)); do
    "$bin/kafka-ceiling-bench" --brokers "$brokers" --events "$n" --json "$lines"
    "$bin/pg-ceiling-bench" --dsn "$dsn" --events "$n" --json "$lines"
    "${drain[@]}" --events "$n"
    "${drain[@]}" --events "$n" --delivery exactly_once
  done
  # The Postgres ceiling with the seq-list acknowledgement only (before range deletes).
  "$bin/pg-ceiling-bench" --dsn "$dsn" --events "$n" --ack any --json "$lines"
done
log "tail-mode drains of 100k events streamed from the WAL: 100 per transaction, and one transaction"
for ((run = 1; run <= runs; run++)); do
  "${drain[@]}" --events 100000 --mode tail --stream 1 --per-tx 100
  "${drain[@]}" --events 100000 --mode tail --stream 1
done
fi  # not --only 10m
if [[ $only == 10m ]] || { ((quick == 0)) && [[ ${OUTBOX_BENCH_10M:-0} == 1 ]]; }; then
  log "one 10M-event poll drain (cost per event from 10k to 10M)"
  "$bin/kafka-ceiling-bench" --brokers "$brokers" --events 10000000 --json "$lines"
  "$bin/pg-ceiling-bench" --dsn "$dsn" --events 10000000 --json "$lines"
  "${drain[@]}" --events 10000000 --timeout 1800
fi

if ((profile)) && [[ $only != 10m ]]; then
  log "profiling a 100k drain (perf record, cpu-clock, dwarf call graphs)"
  "$bin/relay-drain-bench" --dsn "$dsn" --brokers "$brokers" --relay "$relay" --events 100000 \
    --work-dir "$work" --perf "$work/perf.data" >"$work/profile-run.txt"
  cat "$work/profile-run.txt"
  set +o pipefail  # head closes the pipes early
  {
    echo "# perf record -e cpu-clock -F 999 --call-graph dwarf of outbox-relay draining 100k events"
    sed 's/^/# /' "$work/profile-run.txt"
    echo "## self time by shared object"
    perf report -i "$work/perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -v '^#' | grep -v '^$' | head -15
    echo "## self time by symbol"
    perf report -i "$work/perf.data" --no-children --sort dso,sym --stdio -g none 2>/dev/null \
      | grep -v '^#' | grep -v '^$' | head -40
    echo "## inclusive time by symbol (children)"
    perf report -i "$work/perf.data" --children --sort sym --stdio -g none 2>/dev/null \
      | grep -v '^#' | grep -v '^$' | head -40
  } >"$results/profile-drain-100k.txt" || true
  set -o pipefail
fi
fi

if [[ $only != drain && $only != 10m ]]; then
read -r -a modes <<<"${OUTBOX_BENCH_MODES:-poll tail}"
log "latency (${modes[*]}): ${rates[*]} events/s, 1 and 10 events per transaction, ${lat_seconds} s each"
for mode in "${modes[@]}"; do
  for per_tx in 1 10; do
    for rate in "${rates[@]}"; do
      "$bin/relay-latency-bench" --dsn "$dsn" --brokers "$brokers" --relay "$relay" --rate "$rate" \
        --per-tx "$per_tx" --mode "$mode" --seconds "$lat_seconds" --warmup "$lat_warmup" --json "$lines" \
        --work-dir "$work" || log "latency run incomplete"
    done
  done
done
log "latency with kafka.delivery = exactly_once (poll): ${rates[*]} events/s, 10 events per transaction"
for rate in "${rates[@]}"; do
  "$bin/relay-latency-bench" --dsn "$dsn" --brokers "$brokers" --relay "$relay" --rate "$rate" \
    --per-tx 10 --mode poll --delivery exactly_once --seconds "$lat_seconds" --warmup "$lat_warmup" \
    --json "$lines" --work-dir "$work" || log "latency run incomplete"
done
fi

# ---- consumer SDK (bench/consumer/consumer_bench.cpp) -----------------------
# IdempotentConsumer against plain batched inserts without dedup, and its
# latency at 1k records/s, measured in the same run; writes
# bench/results/consumer.txt. Skipped with --only, or OUTBOX_BENCH_CONSUMER=0.
if [[ -z $only && ${OUTBOX_BENCH_CONSUMER:-1} != 0 ]]; then
  log "consumer SDK: batches of 500 against plain batched inserts; latency at 1k records/s"
  cmake --build "$build_dir" -j "$(nproc)" --target consumer-bench >/dev/null
  if ((quick)); then
    consumer_args=(--records 20000 --runs 3 --latency-seconds 5 --latency-runs 1)
  else
    consumer_args=(--records 100000 --runs 5 --latency-seconds 15 --latency-runs 3)
  fi
  "$build_dir/bench/consumer/consumer-bench" --dsn "$dsn" --brokers "$brokers" "${consumer_args[@]}" \
    --json "$work/consumer.jsonl" | tee "$results/consumer.txt" || log "consumer benchmark failed"
fi
# ---- end of the consumer SDK block ------------------------------------------
fi  # report_only

log "results"
kafka_version=$(basename "$(dirname "$("$OUTBOX_ROOT/scripts/fetch-kafka.sh")")")
machine=$(jq -n \
  --arg nproc "$(nproc)" \
  --arg cpu "$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)" \
  --arg mem "$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)" \
  --arg kernel "$(uname -r)" \
  --arg postgres "$("$PG_BIN/postgres" --version)" \
  --arg kafka "$kafka_version" \
  --arg librdkafka "$(pkg-config --modversion rdkafka)" \
  --arg libpqxx "$(pkg-config --modversion libpqxx)" \
  --arg compiler "$(c++ --version | head -1)" \
  --arg commit "${OUTBOX_BENCH_SOURCE_COMMIT:-$(git -C "$src" rev-parse --short HEAD 2>/dev/null || echo unknown)}" \
  --arg source "$src" \
  --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
  --arg quick "$quick" \
  '{nproc: ($nproc|tonumber), cpu: $cpu, memory: $mem, kernel: $kernel, postgres: $postgres, kafka: $kafka,
    librdkafka: $librdkafka, libpqxx: $libpqxx, compiler: $compiler, commit: $commit, source: $source,
    date: $date, quick: ($quick == "1"), source_modes: "drain: poll; latency: \(env.OUTBOX_BENCH_MODES // "poll tail")",
    note: "Postgres, Kafka, the relay and the benchmark share this machine with other workloads"}')
jq -s --argjson machine "$machine" '
  def by(k): map(select(.kind == k));
  def median: sort | if length == 0 then null
    elif length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def runs(f): map(f) | {median: median, min: min, max: max};
  {machine: $machine,
   drain: (by("drain") | map(select(.profiled | not))),
   kafka_ceiling: by("kafka_ceiling"),
   pg_ceiling: by("pg_ceiling"),
   pg_ceiling_any: by("pg_ceiling_any"),
   latency: by("latency")}
  | . as $all
  | .summary = [$all.drain | map(select((.source_mode // "poll") == "poll" and (.delivery // "at_least_once") == "at_least_once"))
      | group_by(.events)[]
      | .[0].events as $n
      | runs(.events_per_s) as $r
      | ($all.kafka_ceiling | map(select(.events == $n)) | runs(.events_per_s).median) as $k
      | ($all.pg_ceiling | map(select(.events == $n)) | runs(.events_per_s).median) as $p
      | ($all.pg_ceiling_any | map(select(.events == $n)) | runs(.events_per_s).median) as $pa
      | ($all.kafka_ceiling | map(select(.events == $n)) | runs(.producer_cpu_s * 1e6 / .events).median) as $pf
      | (map(select(.postgres_cpu_s >= 0 and .kafka_cpu_s >= 0))
         | runs($machine.nproc * .events / (.relay_cpu_s + .postgres_cpu_s + .kafka_cpu_s)).median) as $cb
      | {events: $n, runs: length,
         relay_events_per_s: $r.median, relay_events_per_s_min: $r.min, relay_events_per_s_max: $r.max,
         kafka_ceiling_events_per_s: $k, pg_ceiling_events_per_s: $p, pg_ceiling_seq_list_events_per_s: $pa,
         relay_over_ceiling: (if $k and $p then $r.median / ([$k, $p] | min) else null end),
         binding: (if $k and $p then (if $k < $p then "kafka" else "postgres" end) else null end),
         cpu_bound_events_per_s: $cb,
         relay_over_cpu_bound: (if $cb then $r.median / $cb else null end),
         producer_floor_cpu_us_per_event: $pf,
         events_per_s_after_first_ack: runs(.events_per_s_after_first_ack).median,
         relay_cpu_us_per_event: runs(.relay_cpu_us_per_event).median,
         relay_cpu_us_per_event_min: runs(.relay_cpu_us_per_event).min,
         relay_cpu_us_per_event_max: runs(.relay_cpu_us_per_event).max,
         relay_peak_rss_mb: runs(.relay_peak_rss_mb).max,
         load_avg_1m_at_start: runs(.load_avg_1m_at_start).median}]
  | .tail_summary = [$all.drain | map(select(.source_mode == "tail")) | group_by([.events, .streamed, .events_per_tx])[]
      | runs(.events_per_s) as $r
      | {events: .[0].events, streamed: .[0].streamed, events_per_tx: .[0].events_per_tx, runs: length,
         relay_events_per_s: $r.median, relay_events_per_s_min: $r.min, relay_events_per_s_max: $r.max,
         writer_events_per_s: (if .[0].events_per_tx < .[0].events then runs(.events / .prefill_seconds).median else null end),
         done_after_last_commit_ms: (if .[0].events_per_tx < .[0].events
           then runs((.seconds - .prefill_seconds) * 1000).median else null end),
         relay_cpu_us_per_event: runs(.relay_cpu_us_per_event).median,
         relay_peak_rss_mb: runs(.relay_peak_rss_mb).max}]
  | .exactly_once_summary = [$all.drain | map(select(.delivery == "exactly_once")) | group_by(.events)[]
      | .[0].events as $n
      | runs(.events_per_s) as $r
      | ($all.drain | map(select(.events == $n and (.source_mode // "poll") == "poll" and (.delivery // "at_least_once") == "at_least_once"))
         | runs(.events_per_s).median) as $alo
      | {events: $n, runs: length,
         relay_events_per_s: $r.median, relay_events_per_s_min: $r.min, relay_events_per_s_max: $r.max,
         at_least_once_events_per_s: $alo,
         ratio_to_at_least_once: (if $alo then $r.median / $alo else null end),
         relay_cpu_us_per_event: runs(.relay_cpu_us_per_event).median,
         relay_peak_rss_mb: runs(.relay_peak_rss_mb).max}]' "$lines" >"$results/results.json"

# Tables (markdown) and plot data.
jq -r '
  def n: if . == null then "–" else floor end;
  def r2: if . == null then "–" else .*100|floor/100 end;
  def r1: if . == null then "–" else .*10|floor/10 end;
  "| backlog | runs | relay events/s, median (min–max) | after first ack | Kafka ceiling | Postgres ceiling (seq list only) | relay / min | binds | CPU bound | relay / CPU bound | relay CPU µs/event, median (min–max) | plain producer CPU µs/event | peak RSS MB | load |",
  "|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
  (.summary[] | "| \(.events) | \(.runs) | \(.relay_events_per_s|n) (\(.relay_events_per_s_min|n)–\(.relay_events_per_s_max|n)) | \(.events_per_s_after_first_ack|n) | \(.kafka_ceiling_events_per_s|n) | \(.pg_ceiling_events_per_s|n) (\(.pg_ceiling_seq_list_events_per_s|n)) | \(.relay_over_ceiling|r2) | \(.binding // "–") | \(.cpu_bound_events_per_s|n) | \(.relay_over_cpu_bound|r2) | \(.relay_cpu_us_per_event|r1) (\(.relay_cpu_us_per_event_min|r1)–\(.relay_cpu_us_per_event_max|r1)) | \(.producer_floor_cpu_us_per_event|r1) | \(.relay_peak_rss_mb|r1) | \(.load_avg_1m_at_start) |"),
  "",
  "| tail-mode drain | runs | relay events/s, median (min–max) | writing rate, events/s | done after the last commit, ms | relay CPU µs/event | peak RSS MB |",
  "|---|---:|---:|---:|---:|---:|---:|",
  (.tail_summary[] | "| \(.events) events, \(if .streamed then "streamed, \(if .events_per_tx == .events then "one transaction" else "\(.events_per_tx) per transaction" end)" else "caught up" end) | \(.runs) | \(.relay_events_per_s|n) (\(.relay_events_per_s_min|n)–\(.relay_events_per_s_max|n)) | \(.writer_events_per_s|n) | \(.done_after_last_commit_ms|n) | \(.relay_cpu_us_per_event|r1) | \(.relay_peak_rss_mb|r1) |"),
  "",
  "| exactly-once drain | runs | events/s, median (min–max) | at-least-once events/s (same run) | ratio | relay CPU µs/event | peak RSS MB |",
  "|---:|---:|---:|---:|---:|---:|---:|",
  (.exactly_once_summary[] | "| \(.events) | \(.runs) | \(.relay_events_per_s|n) (\(.relay_events_per_s_min|n)–\(.relay_events_per_s_max|n)) | \(.at_least_once_events_per_s|n) | \(if .ratio_to_at_least_once then .ratio_to_at_least_once*100|floor/100 else "–" end) | \(.relay_cpu_us_per_event*10|floor/10) | \(.relay_peak_rss_mb*10|floor/10) |"),
  "",
  "| mode | offered events/s | events/tx | achieved events/s | p50 ms | p99 ms | p99.9 ms | relay histogram p50 / p99 ms | missing | load |",
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  (.latency[] | "| \(.source_mode // "poll")\(if .delivery == "exactly_once" then ", exactly once (commit to read_committed receipt)" else "" end) | \(.offered_events_per_s|floor) | \(.events_per_tx) | \(.achieved_events_per_s|floor) | \(.p50_ms*100|floor/100) | \(.p99_ms*100|floor/100) | \(.p999_ms*100|floor/100) | \((.relay_histogram_p50_ms // 0)*10|floor/10) / \((.relay_histogram_p99_ms // 0)*10|floor/10) | \(.missing) | \(.load_avg_1m_at_start) |")
' "$results/results.json" >"$results/table.md"
jq -r '.summary[] | "\(.events) \(.relay_events_per_s) \(.kafka_ceiling_events_per_s) \(.pg_ceiling_events_per_s) \(.relay_cpu_us_per_event) \(.relay_peak_rss_mb) \(.cpu_bound_events_per_s // "NaN") \(.producer_floor_cpu_us_per_event // "NaN")"' \
  "$results/results.json" >"$work/drain.dat"
for mode in poll tail; do
  for per_tx in 1 10; do
    jq -r --argjson t "$per_tx" --arg m "$mode" '.latency[] | select(.events_per_tx == $t and (.source_mode // "poll") == $m and (.delivery // "at_least_once") == "at_least_once") | "\(.offered_events_per_s) \(.p50_ms) \(.p99_ms) \(.p999_ms) \(.achieved_events_per_s)"' \
      "$results/results.json" >"$work/latency-$mode-$per_tx.dat"
  done
done

gnuplot <<GP
set terminal pngcairo size 900,540 font ",10" noenhanced
set grid
set key top left
set logscale x
set xlabel "backlog (events)"
set output "$results/drain_throughput.png"
set title "Drain throughput vs ceilings (poll mode; $(nproc) CPUs shared with Postgres and Kafka)"
set ylabel "events/s"
set yrange [0:*]
set offsets 0, 0, graph 0.1, 0
plot "$work/drain.dat" using 1:2 with linespoints lw 2 title "relay", \
     "$work/drain.dat" using 1:3 with linespoints title "Kafka ceiling (plain librdkafka)", \
     "$work/drain.dat" using 1:4 with linespoints title "Postgres ceiling (relay SQL, no Kafka)", \
     "$work/drain.dat" using 1:7 with linespoints title "CPU bound (CPUs / CPU per event of relay + Postgres + Kafka)", \
     100000 with lines dt 2 title "target 100k/s"
set offsets 0, 0, 0, 0
set output "$results/drain_cost.png"
set title "Relay cost per event and peak RSS vs backlog"
set ylabel "CPU µs per event"
set y2label "peak RSS (MB)"
set y2tics
set ytics nomirror
set y2range [0:*]
plot "$work/drain.dat" using 1:5 with linespoints lw 2 title "relay CPU µs/event", \
     "$work/drain.dat" using 1:8 with linespoints title "plain librdkafka producer CPU µs/event (same records)", \
     4 with lines dt 2 title "CPU target 4 µs/event", \
     "$work/drain.dat" using 1:6 axes x1y2 with linespoints title "relay peak RSS MB", \
     64 axes x1y2 with lines dt 2 title "RSS target 64 MB"
unset y2label
unset y2tics
set ytics mirror
set output "$results/latency.png"
set title "Commit-to-broker-ack latency vs offered load"
set xlabel "offered events/s"
set ylabel "ms"
set logscale y
set xrange [500:40000]
set yrange [1:*]
set key outside right
plot "$work/latency-poll-1.dat" using 1:2 with linespoints lc 1 title "poll p50, 1 event/tx", \
     "$work/latency-poll-1.dat" using 1:3 with linespoints lc 2 title "poll p99, 1 event/tx", \
     "$work/latency-poll-10.dat" using 1:2 with linespoints lc 1 dt 3 title "poll p50, 10 events/tx", \
     "$work/latency-poll-10.dat" using 1:3 with linespoints lc 2 dt 3 title "poll p99, 10 events/tx", \
     "$work/latency-tail-1.dat" using 1:2 with linespoints lc 3 title "tail p50, 1 event/tx", \
     "$work/latency-tail-1.dat" using 1:3 with linespoints lc 4 title "tail p99, 1 event/tx", \
     "$work/latency-tail-10.dat" using 1:2 with linespoints lc 3 dt 3 title "tail p50, 10 events/tx", \
     "$work/latency-tail-10.dat" using 1:3 with linespoints lc 4 dt 3 title "tail p99, 10 events/tx", \
     10 with lines dt 2 lc 7 title "p99 target 10 ms"
GP

echo
echo "machine: $(jq -r '.machine | "\(.nproc) CPUs (\(.cpu)), \(.memory), \(.postgres), \(.kafka), librdkafka \(.librdkafka)"' "$results/results.json")"
cat "$results/table.md"
log "wrote $results/results.json, table.md and plots"
