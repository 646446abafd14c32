#!/usr/bin/env bash
# ctest's bench_harness_quick: runs the quick harness and checks that it wrote complete results.
# The environment (BENCH_QUICK, MODELGATE_BIN, STREAM_CLIENT_BIN, BENCH_RESULTS_DIR) comes from
# bench/CMakeLists.txt.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${BENCH_RESULTS_DIR:?set by bench/CMakeLists.txt}"
rm -f "$BENCH_RESULTS_DIR/latest.json" "$BENCH_RESULTS_DIR/latest.png"

status=0
"$here/run.sh" || status=$?
if [ "$status" -ne 0 ]; then
  echo "bench_harness_quick: bench/run.sh failed with status $status" >&2
  exit 1
fi

python3 - "$BENCH_RESULTS_DIR" <<'PY'
import json, os, sys
d = sys.argv[1]
path = os.path.join(d, "latest.json")
if not os.path.exists(path):
    sys.exit(f"bench_harness_quick: no results: {path} was not written")
doc = json.load(open(path))
missing = []
for w in doc["params"]["workers"]:
    res = doc["results"][str(w)]
    for wl, targets in (("w1", ["direct", "modelgate", "nginx", "haproxy"]),
                        ("w2", ["modelgate", "nginx", "haproxy"]),
                        ("w3", ["direct", "modelgate", "nginx", "haproxy"]),
                        ("w4", ["direct", "modelgate", "nginx", "haproxy"]),
                        ("w5", ["direct", "modelgate", "nginx", "haproxy"])):
        for t in targets:
            if not res.get(wl, {}).get(t):
                missing.append(f"{wl}/{t} ({w} worker)")
if missing:
    sys.exit("bench_harness_quick: measurements missing from the results: " + ", ".join(missing))
if not doc["ok"]:
    sys.exit("bench_harness_quick: problems: " + "; ".join(doc["problems"]))
if not os.path.getsize(os.path.join(d, "latest.png")):
    sys.exit("bench_harness_quick: no chart")
print(f"bench_harness_quick: results complete in {path}")
PY
