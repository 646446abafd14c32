#!/usr/bin/env bash
# Runs libFuzzer targets for a bounded time each, one process at a time (make fuzz, and ctest's
# short runs). New inputs go to BIN_DIR/corpus/<target>; the seeds in fuzz/corpus/<target> are
# only read. A crash, leak, UB report or failed invariant is saved as
# BIN_DIR/artifacts/<target>-crash-<sha1> and makes this script fail.
#
#   fuzz/run.sh BIN_DIR SECONDS [TARGET...]     (no TARGET: every fuzz_* in BIN_DIR)
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 BIN_DIR SECONDS [TARGET...]" >&2
  exit 2
fi
bin_dir=$(cd "$1" && pwd)
seconds=$2
shift 2
seeds=$(cd "$(dirname "$0")" && pwd)/corpus

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for exe in "$bin_dir"/fuzz_*; do
    [ -x "$exe" ] && targets+=("$(basename "$exe" | sed 's/^fuzz_//')")
  done
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "no fuzz targets in $bin_dir (build them first: cmake --build build --target fuzz_targets)" >&2
  exit 1
fi

status=0
for t in "${targets[@]}"; do
  mkdir -p "$bin_dir/corpus/$t" "$bin_dir/artifacts"
  echo "== fuzz_$t for ${seconds}s"
  log="$bin_dir/artifacts/$t.log"
  rc=0
  "$bin_dir/fuzz_$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -max_len=8192 \
    -print_final_stats=1 -artifact_prefix="$bin_dir/artifacts/$t-" \
    "$bin_dir/corpus/$t" "$seeds/$t" >"$log" 2>&1 || rc=$?
  # The progress lines are many; the summary, the final stats and any report are what matter.
  grep -v -E '^#[0-9]+[[:space:]]+(NEW|REDUCE|pulse)' "$log" || true
  if [ $rc -ne 0 ]; then
    echo "fuzz_$t FAILED (exit $rc): the input is in $bin_dir/artifacts/$t-*, the log in $log" >&2
    status=1
  fi
done
exit $status
