#!/usr/bin/env bash
# Builds everything and runs every test suite against real servers.
#   scripts/test.sh [ctest args...]    e.g. scripts/test.sh -L pg
# Installs missing dependencies first (scripts/deps.sh). ctest fixtures start a
# throwaway PostgreSQL and Kafka broker and remove them afterwards, also after
# a failing test. Environment: BUILD_DIR (default build), OUTBOX_SANITIZE=1 or
# OUTBOX_TSAN=1 for a sanitizer build in its own build directory.
source "$(dirname "$0")/common.sh"

"$OUTBOX_ROOT/scripts/deps.sh" >/dev/null

build_dir=${BUILD_DIR:-$OUTBOX_ROOT/build}
flags=(-DOUTBOX_WERROR=ON)
if [[ ${OUTBOX_SANITIZE:-0} == 1 ]]; then build_dir=${BUILD_DIR:-$OUTBOX_ROOT/build-asan}; flags+=(-DOUTBOX_SANITIZE=ON); fi
if [[ ${OUTBOX_TSAN:-0} == 1 ]]; then build_dir=${BUILD_DIR:-$OUTBOX_ROOT/build-tsan}; flags+=(-DOUTBOX_TSAN=ON); fi

cmake -S "$OUTBOX_ROOT" -B "$build_dir" -G Ninja "${flags[@]}" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
cd "$build_dir"
# Tests use their own schemas and topics, so they run two at a time (fixtures still start each server once).
ctest --output-on-failure --timeout 900 -j "${CTEST_PARALLEL_LEVEL:-2}" "$@"
