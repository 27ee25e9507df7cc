#!/usr/bin/env bash
# Builds and runs the fault suite (ctest -L fault; docs/faults.md).
#   scripts/fault.sh [ctest args...]           CI sizes: about 4-5 minutes on 2 cores
#   scripts/fault.sh --soak [ctest args...]    soak sizes: 300 relay kills, a 5-minute broker
#                                              outage, 10 poison rounds, ... about 20 minutes on 2 cores
# Any OUTBOX_FAULT_* variable set in the environment wins over both size sets;
# OUTBOX_FAULT_SEED=N replays the random schedule a test printed. BUILD_DIR
# (default build) picks the build directory, whose configured test ports are kept.
# Each scenario's result line is collected in $BUILD_DIR/fault-report.txt.
source "$(dirname "$0")/common.sh"

soak=0
if [[ ${1:-} == --soak ]]; then soak=1; shift; fi

"$OUTBOX_ROOT/scripts/deps.sh" >/dev/null

timeout=900
if ((soak)); then
  : "${OUTBOX_FAULT_KILLS:=300}" "${OUTBOX_FAULT_EVENTS:=50000}" "${OUTBOX_FAULT_BROKER_RESTARTS:=10}"
  : "${OUTBOX_FAULT_PG_RESTARTS:=20}" "${OUTBOX_FAULT_MOCK_ROUNDS:=10}" "${OUTBOX_FAULT_PAUSES:=3}"
  : "${OUTBOX_FAULT_OUTAGE_S:=300}" "${OUTBOX_FAULT_POISON_ROUNDS:=10}" "${OUTBOX_FAULT_DLQ_ROUNDS:=20}"
  : "${OUTBOX_FAULT_OPEN_TX_KILLS:=40}" "${OUTBOX_FAULT_OPEN_TX_MS:=8000}"
  : "${OUTBOX_FAULT_EOS_KILLS:=300}" "${OUTBOX_FAULT_EOS_POINTS:=10}" "${OUTBOX_FAULT_EOS_FAILOVERS:=10}"
  export OUTBOX_FAULT_KILLS OUTBOX_FAULT_EVENTS OUTBOX_FAULT_BROKER_RESTARTS OUTBOX_FAULT_PG_RESTARTS \
    OUTBOX_FAULT_MOCK_ROUNDS OUTBOX_FAULT_PAUSES OUTBOX_FAULT_OUTAGE_S OUTBOX_FAULT_POISON_ROUNDS \
    OUTBOX_FAULT_DLQ_ROUNDS OUTBOX_FAULT_OPEN_TX_KILLS OUTBOX_FAULT_OPEN_TX_MS \
    OUTBOX_FAULT_EOS_KILLS OUTBOX_FAULT_EOS_POINTS OUTBOX_FAULT_EOS_FAILOVERS
  timeout=7200
fi

build_dir=${BUILD_DIR:-$OUTBOX_ROOT/build}
cmake -S "$OUTBOX_ROOT" -B "$build_dir" -G Ninja -DOUTBOX_WERROR=ON -DOUTBOX_FAULT_TIMEOUT="$timeout" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"

export OUTBOX_FAULT_REPORT="$build_dir/fault-report.txt"
rm -f "$OUTBOX_FAULT_REPORT"
cd "$build_dir"
start=$SECONDS
rc=0
ctest --output-on-failure -L fault -j "${CTEST_PARALLEL_LEVEL:-2}" "$@" || rc=$?
log "fault suite ($( ((soak)) && echo soak || echo CI) sizes) finished in $((SECONDS - start)) s, exit $rc"
[[ -f $OUTBOX_FAULT_REPORT ]] && cat "$OUTBOX_FAULT_REPORT"
exit "$rc"
