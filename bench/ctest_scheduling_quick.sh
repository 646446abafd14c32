#!/usr/bin/env bash
# ctest's bench_scheduling_quick: the scheduling table in its quick form (three strategies, every
# workload, a few requests each on four sims) and a check that it wrote complete, clean results.
# The environment (BENCH_QUICK, MODELGATE_BIN, BENCH_RESULTS_DIR) comes from bench/CMakeLists.txt.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
: "${BENCH_RESULTS_DIR:?set by bench/CMakeLists.txt}"
rm -f "$BENCH_RESULTS_DIR/scheduling-latest.json" "$BENCH_RESULTS_DIR/scheduling-latest.png"

status=0
"$here/run.sh" --scheduling || status=$?
if [ "$status" -ne 0 ]; then
  echo "bench_scheduling_quick: bench/run.sh --scheduling failed with status $status" >&2
  exit 1
fi

python3 - "$BENCH_RESULTS_DIR" <<'PY'
import json, os, sys
d = sys.argv[1]
path = os.path.join(d, "scheduling-latest.json")
if not os.path.exists(path):
    sys.exit(f"bench_scheduling_quick: no results: {path} was not written")
doc = json.load(open(path))
missing = [f"{w}/{s}" for w in doc["workloads"] for s in doc["strategies"]
           if not doc["results"].get(w, {}).get(s, {}).get("ok")]
if missing:
    sys.exit("bench_scheduling_quick: cells without answers: " + ", ".join(missing))
if not doc["ok"]:
    sys.exit("bench_scheduling_quick: problems: " + "; ".join(doc["problems"]))
for w in doc["workloads"]:
    for s, r in doc["results"][w].items():
        if r["sent"] != r["planned"] or len(r["servers"]) == 0:
            sys.exit(f"bench_scheduling_quick: {w}/{s} sent {r['sent']} of {r['planned']}")
# The oracle pins each session: with the engine model its hit rate is never below round robin's.
if doc["sim_kind"] == "engine":
    for w in ("shared-prefix", "multi-turn"):
        res = doc["results"].get(w, {})
        if "oracle" in res and "round_robin" in res and res["oracle"]["hit_rate"] < res["round_robin"]["hit_rate"]:
            sys.exit(f"bench_scheduling_quick: {w}: the oracle hit less than round robin")
if not os.path.getsize(os.path.join(d, "scheduling-latest.png")):
    sys.exit("bench_scheduling_quick: no chart")
print(f"bench_scheduling_quick: results complete in {path}")
PY
