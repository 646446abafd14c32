#!/usr/bin/env bash
# Resident memory of the gateway before, right after, and a short idle after a burst of large
# requests (docs/performance.md, "Memory after a burst").
#
# One sim behind the gateway (2 workers), routed by a `Model(...)` rule so that every body is read
# whole and parsed for its model. 20 small requests warm it up; then BURST requests (default 100)
# with bodies of BODY_MIB MiB (default 8) go out, 4 at a time; then the gateway idles IDLE_S
# seconds (default 3). VmRSS is read from /proc at each of the three points.
#
#   ./bench/memory_after_burst.sh                    # build/modelgate
#   MODELGATE_BIN=/path/to/modelgate ./bench/memory_after_burst.sh
#   SMAPS_OUT=/tmp/smaps ./bench/memory_after_burst.sh   # also keep /proc/PID/smaps after the idle
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${MODELGATE_BIN:-$here/../build/modelgate}"
burst="${BURST:-100}"
body_mib="${BODY_MIB:-8}"
idle_s="${IDLE_S:-3}"
for tool in curl python3; do
  command -v "$tool" >/dev/null || { echo "memory_after_burst: $tool is needed" >&2; exit 1; }
done
[ -x "$bin" ] || { echo "memory_after_burst: no modelgate binary at $bin (set MODELGATE_BIN)" >&2; exit 1; }

scratch="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$scratch"
}
trap cleanup EXIT

# Waits for a line matching $2 in file $1 and prints the last number of that line (a port).
port_from() {
  for _ in $(seq 100); do
    if line="$(grep -m1 -E "$2" "$1")"; then
      echo "${line##*:}"
      return
    fi
    sleep 0.1
  done
  echo "memory_after_burst: no \"$2\" in $1:" >&2
  cat "$1" >&2
  exit 1
}

"$bin" sim --listen 127.0.0.1:0 --name mem >"$scratch/sim.log" 2>&1 &
pids+=($!)
sim_port="$(port_from "$scratch/sim.log" 'listening on')"

cat >"$scratch/gw.yaml" <<YAML
admin: {enabled: false}
entryPoints:
  web:
    address: "127.0.0.1:0"
    limits: {maxBodyBytes: 64MiB}
http:
  routers:
    chat: {rule: "Model(\`Qwen2.5-0.5B-Instruct\`)", service: sim}
  services:
    sim:
      loadBalancer: {servers: [{url: "http://127.0.0.1:$sim_port"}]}
YAML
"$bin" serve --config "$scratch/gw.yaml" --workers 2 >"$scratch/gw.log" 2>&1 &
gw_pid=$!
pids+=($gw_pid)
gw_port="$(port_from "$scratch/gw.log" 'entry point web listening on')"

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$gw_pid/status"; }

python3 - "$scratch/big.json" "$body_mib" <<'PY'
import sys
size = int(sys.argv[2]) * 1024 * 1024
head = '{"model":"Qwen2.5-0.5B-Instruct","max_tokens":2,"messages":[{"role":"user","content":"'
tail = '"}]}'
with open(sys.argv[1], "w") as f:
    f.write(head + "x" * (size - len(head) - len(tail)) + tail)
PY
small='{"model":"Qwen2.5-0.5B-Instruct","max_tokens":2,"messages":[{"role":"user","content":"hi"}]}'
url="http://127.0.0.1:$gw_port/v1/chat/completions"

for _ in $(seq 20); do
  curl -sf -o /dev/null -H 'Content-Type: application/json' -d "$small" "$url"
done
before="$(rss_kib)"
seq "$burst" | xargs -P 4 -I{} curl -sf -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' \
  --data-binary @"$scratch/big.json" "$url" >"$scratch/codes"
peak="$(rss_kib)"
sleep "$idle_s"
after="$(rss_kib)"
ok="$(grep -c '^200$' "$scratch/codes" || true)"

[ -n "${SMAPS_OUT:-}" ] && cp "/proc/$gw_pid/smaps" "$SMAPS_OUT"
printf 'memory_after_burst: %s requests of %s MiB (%s answered 200), 2 workers\n' "$burst" "$body_mib" "$ok"
printf '  VmRSS before the burst     %7d KiB\n' "$before"
printf '  VmRSS right after it       %7d KiB\n' "$peak"
printf '  VmRSS after %ss idle        %7d KiB\n' "$idle_s" "$after"
[ "$ok" -eq "$burst" ] || { echo "memory_after_burst: some requests failed" >&2; exit 1; }
