#!/usr/bin/env bash
# `make bench`: modelgate vs nginx vs HAProxy vs the backend directly (see docs/performance.md).
#
# Checks the tools, raises the open-file limit (workload 4 holds 10 000 connections), finds or
# builds bench/stream_client, then runs bench/run.py. Every process the run starts is stopped on
# exit, including on failure or Ctrl-C, and the scratch directory is removed.
#
#   ./bench/run.sh                 full run, about 7 minutes on 2 cores
#   BENCH_QUICK=1 ./bench/run.sh   one-minute smoke run (what ctest runs)
#   ./bench/run.sh --profile w1    perf profile of modelgate under workload w1 (or w2, w3)
#   ./bench/run.sh --scheduling    only the scheduling table (bench/scheduling.py, ~8 minutes with the two-gateway part)
#
# A full run measures the proxies (bench/run.py) and then the scheduling table (bench/scheduling.py;
# BENCH_SCHEDULING=0 leaves it out). The quick run leaves it out too: ctest runs its quick variant
# as a test of its own (bench_scheduling_quick).
#
# Environment: MODELGATE_BIN, STREAM_CLIENT_BIN, BENCH_RESULTS_DIR and the BENCH_* knobs listed
# at the top of bench/run.py.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
export MODELGATE_BIN="${MODELGATE_BIN:-$root/build/modelgate}"

tools=(python3 wrk nginx haproxy gnuplot openssl)
[ "${1:-}" = "--scheduling" ] && tools=(python3 gnuplot)
missing=()
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || [ -x "/usr/sbin/$tool" ] || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench: missing: ${missing[*]}; install them with: WITH_BENCH=1 ./scripts/install-deps.sh" >&2
  exit 2
fi
export PATH="$PATH:/usr/sbin"
if [ ! -x "$MODELGATE_BIN" ]; then
  echo "bench: $MODELGATE_BIN not found; build it first (make build) or set MODELGATE_BIN" >&2
  exit 2
fi

BENCH_TMP="$(mktemp -d "${TMPDIR:-/tmp}/modelgate-bench.XXXXXX")"
export BENCH_TMP
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  # run.py stops what it started; this catches what is left if it was killed.
  if [ -f "$BENCH_TMP/pids" ]; then
    while read -r pid; do
      [ -n "$pid" ] && kill -TERM -- "-$pid" 2>/dev/null || true
    done <"$BENCH_TMP/pids"
    sleep 0.5
    while read -r pid; do
      [ -n "$pid" ] && kill -KILL -- "-$pid" 2>/dev/null || true
    done <"$BENCH_TMP/pids"
  fi
  if [ -n "${BENCH_KEEP_TMP:-}" ]; then
    echo "bench: scratch kept in $BENCH_TMP" >&2
  else
    rm -rf "$BENCH_TMP"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 10 000 idle client connections in one process, and as many in each proxy.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# The streaming client: the CMake target when the build has it, else compiled here once (the
# scheduling table does not use it).
if [ -z "${STREAM_CLIENT_BIN:-}" ] && [ "${1:-}" != "--scheduling" ]; then
  build_dir="$(dirname "$MODELGATE_BIN")"
  if [ -x "$build_dir/bench/stream_client" ] && [ "$build_dir/bench/stream_client" -nt "$here/stream_client.cpp" ]; then
    STREAM_CLIENT_BIN="$build_dir/bench/stream_client"
  else
    STREAM_CLIENT_BIN="$BENCH_TMP/stream_client"
    echo "bench: compiling bench/stream_client.cpp" >&2
    "${CXX:-g++}" -std=c++20 -O2 -o "$STREAM_CLIENT_BIN" "$here/stream_client.cpp" -pthread
  fi
fi
export STREAM_CLIENT_BIN="${STREAM_CLIENT_BIN:-}"

# BENCH_NICE=-10 (root only) shields the measurement from other work on a shared machine.
prio=()
[ -n "${BENCH_NICE:-}" ] && prio=(nice -n "$BENCH_NICE")
# Runs one driver, forwarding INT/TERM to it so it stops its processes itself.
drive() {
  "${prio[@]}" python3 "$@" &
  child=$!
  trap 'kill -TERM "$child" 2>/dev/null; wait "$child"; exit 143' TERM
  trap 'kill -INT "$child" 2>/dev/null; wait "$child"; exit 130' INT
  local status=0
  wait "$child" || status=$?
  trap 'exit 143' TERM
  trap 'exit 130' INT
  return "$status"
}

if [ "${1:-}" = "--scheduling" ]; then
  drive "$here/scheduling.py"
  exit $?
fi
status=0
drive "$here/run.py" "$@" || status=$?
if [ $# -eq 0 ] && [ "${BENCH_SCHEDULING:-1}" != "0" ] && [ "${BENCH_QUICK:-0}" = "0" ] && [ "$status" -ne 2 ]; then
  sched=0
  drive "$here/scheduling.py" || sched=$?
  [ "$status" -eq 0 ] && status=$sched
fi
exit "$status"
