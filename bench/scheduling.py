#!/usr/bin/env python3
"""`make bench`, scheduling table: every balancing strategy x every scheduling workload on a fleet of
four engine sims behind the gateway, plus the oracle (docs/scheduling.md explains the method).

Each cell is one `modelgate bench` run against a fresh fleet (four `modelgate sim --engine ...`,
cold caches) and a fresh gateway with that strategy. The oracle is `consistent_hash` on the
X-Session-ID header the load client sends: each group or conversation pinned to one server, the
affinity-only upper bound of the hit rate. The load client connects each session from one of 64
loopback addresses, so `ip_hash` and `consistent_hash` on the client address see "users" too.

Started by bench/run.sh (after the proxy comparison, or alone with `./bench/run.sh --scheduling`);
reuses run.py's process handling. Python 3 stdlib only.

Environment:
  BENCH_QUICK=1              a few requests per cell and three strategies (ctest bench_scheduling_quick)
  BENCH_SCHED_STRATEGIES     subset, e.g. "round_robin,least_request,oracle" (default: all)
  BENCH_SCHED_WORKLOADS      subset, e.g. "shared-prefix,multi-turn" (default: all five)
  BENCH_SCHED_SIM_ARGS       the engine sims' options (default: ENGINE_ARGS below)
  BENCH_SCHED_TWO_GATEWAYS   strategies also run behind two gateways (default: cache_aware,session;
                             "none" leaves the two-gateway table out); on the workloads of
                             TWO_GATEWAY_WORKLOADS that BENCH_SCHED_WORKLOADS keeps
  BENCH_RESULTS_DIR, MODELGATE_BIN, BENCH_TMP as for run.py
Writes bench/results/scheduling-<timestamp>.json, scheduling-latest.json and scheduling-latest.png.
`bench/scheduling.py --report FILE` re-renders the table and the chart of a results file.
Exit status 0 when every run was clean, 1 when one had errors, 2 when the setup failed.
"""

import datetime
import json
import os
import shlex
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as harness  # noqa: E402  (process handling, logging, machine description)

QUICK = harness.QUICK
STRATEGIES_ALL = ["round_robin", "weighted_round_robin", "least_request", "p2c", "random", "ip_hash",
                  "consistent_hash", "session", "least_load", "cache_aware", "oracle"]
WORKLOADS_ALL = ["shared-prefix", "shared-prefix-saturated", "multi-turn", "hot-prefix", "uniform"]
FLEET = 4
# Two gateways in front of the same four sims, the client sending each request to the next one in
# turn (as DNS round robin or a virtual IP spreads connections): do they agree on placement?
TWO_GATEWAY_STRATEGIES = ["cache_aware", "session"]
TWO_GATEWAY_WORKLOADS = ["shared-prefix", "multi-turn", "hot-prefix"]
MODEL = "Qwen2.5-0.5B-Instruct"

# A small GPU each (docs/sim.md): continuous batching, 8 000 prefill tokens/s, decode step 6 ms +
# 0.35 ms per running sequence, and a KV cache of 8 192 tokens, which holds the system prompts of
# 4 to 8 groups. The workloads below hold 16 groups (or 32 conversations): a fleet that pins them
# holds every prefix; one that sprays them over all four servers does not.
ENGINE_ARGS = ("--engine vllm --kv-cache-tokens 8192 --block-tokens 16 --max-running 64 "
               "--prefill-tokens-per-s 8000 --decode-step-ms 6 --decode-ms-per-running 0.35")
# Today's sim without an engine model (fixed timing): the table still runs, without hit rates.
PLAIN_ARGS = "--ttft-ms 50 --tpot-ms 8"

# Per workload: `modelgate bench` options. Open loop (Poisson arrivals) at a rate the fleet
# serves when placement is good and queues at when it is not; about 8 s per run. An open loop
# cannot show throughput (every strategy serves the offered rate), so shared-prefix-saturated runs
# the shared-prefix workload closed loop: 64 users, each sending its next request as soon as the
# last is answered, more than the fleet serves without its caches; its req/s is the fleet's
# capacity under that strategy.
WORKLOAD_ARGS = {
    "shared-prefix": "--groups 16 --prompts 8 --system-tokens 1024 --question-tokens 64 --output-tokens 32 --rate 16",
    "hot-prefix": "--groups 16 --prompts 8 --system-tokens 1024 --question-tokens 64 --output-tokens 32 --zipf 1.1 --rate 16",
    "shared-prefix-saturated": "--groups 16 --prompts 32 --system-tokens 1024 --question-tokens 64 --output-tokens 32 --rate 0 --concurrency 64",
    "multi-turn": "--conversations 32 --turns 4 --system-tokens 512 --question-tokens 64 --output-tokens 32 --think-ms 500 --rate 16",
    "uniform": "--groups 16 --prompts 8 --system-tokens 1024 --question-tokens 64 --output-tokens 32 --rate 16",
}
QUICK_ARGS = {
    "shared-prefix": "--groups 4 --prompts 4 --system-tokens 256 --question-tokens 16 --output-tokens 8 --rate 40",
    "hot-prefix": "--groups 4 --prompts 4 --system-tokens 256 --question-tokens 16 --output-tokens 8 --rate 40",
    "shared-prefix-saturated": "--groups 4 --prompts 8 --system-tokens 256 --question-tokens 16 --output-tokens 8 --rate 0 --concurrency 8",
    "multi-turn": "--conversations 4 --turns 3 --system-tokens 128 --question-tokens 16 --output-tokens 8 --think-ms 50 --rate 40",
    "uniform": "--groups 4 --prompts 4 --system-tokens 256 --question-tokens 16 --output-tokens 8 --rate 40",
}


def env_list(name, default):
    v = os.environ.get(name, "").strip()
    return [x for x in v.split(",") if x] if v else default


def sim_args():
    if os.environ.get("BENCH_SCHED_SIM_ARGS"):
        return shlex.split(os.environ["BENCH_SCHED_SIM_ARGS"]), "BENCH_SCHED_SIM_ARGS"
    help_text = subprocess.run([harness.MODELGATE, "sim", "--help"], capture_output=True, text=True).stdout
    if "--engine" in help_text:
        return shlex.split(ENGINE_ARGS), "engine"
    harness.log("this modelgate sim has no --engine: fixed timing, no prefix cache, no hit rates")
    return shlex.split(PLAIN_ARGS), "plain"


def gateway_yaml(port, strategy, sims, gateways=1):
    # cache_aware: the engines' KV size from their /metrics (vllm:cache_config_info); behind several
    # gateways the new-prefix slack docs/scheduling.md asks for ("Several gateways").
    slack = 2 if gateways > 1 else 0
    hash_key = {"oracle": "        hashKey: header:X-Session-ID\n",
                # the engines' load, scraped from the sims' /metrics
                "least_load": "        serverMetrics: {interval: 200ms}\n",
                "cache_aware": f"        cacheAware: {{newPrefixSlack: {slack}}}\n        serverMetrics: {{interval: 200ms}}\n"}.get(strategy, "")
    servers = "".join(f"          - url: http://127.0.0.1:{p}\n" for p in sims)
    return (f"entryPoints:\n  web:\n    address: \"127.0.0.1:{port}\"\n"
            "http:\n  routers:\n    all:\n      rule: \"PathPrefix(`/`)\"\n      service: fleet\n"
            "  services:\n    fleet:\n      loadBalancer:\n"
            f"        strategy: {'consistent_hash' if strategy == 'oracle' else strategy}\n{hash_key}"
            f"        servers:\n{servers}")


def one_cell(strategy, workload, engine, gateways=1):
    """A fresh fleet and `gateways` fresh gateways, one `modelgate bench` run; returns its JSON report."""
    sims, procs = [], []
    try:
        for i in range(FLEET):
            name = f"s{i + 1}"
            p, m = harness.start(f"sched-{name}", [harness.MODELGATE, "sim", "--listen", "127.0.0.1:0",
                                                  "--name", name, "--models", MODEL, *engine],
                                 ready=r"listening on \S+:(\d+)")
            procs.append(p)
            sims.append(int(m.group(1)))
        urls = []
        for g in range(gateways):
            port = harness.free_port()
            config = os.path.join(harness.TMP, f"sched-gateway{g}.yaml")
            with open(config, "w") as f:
                f.write(gateway_yaml(port, strategy, sims, gateways))
            gw, _ = harness.start(f"sched-gateway{g}", [harness.MODELGATE, "serve", "-c", config, "--workers", "1"],
                                  ports=[port])
            procs.append(gw)
            urls.append(f"http://127.0.0.1:{port}")
        out = os.path.join(harness.TMP, f"sched-{strategy}-{workload}-{gateways}.json")
        args = (QUICK_ARGS if QUICK else WORKLOAD_ARGS)[workload]
        cmd = [harness.MODELGATE, "bench", "--url", ",".join(urls), "--model", MODEL,
               "--workload", workload.removesuffix("-saturated"), *shlex.split(args), "--fleet-size", str(FLEET),
               "--source-addresses", "64", "--duration", "60", "--timeout", "60", "--json", out]
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
        if not os.path.exists(out):
            raise harness.SetupError(f"modelgate bench wrote no report ({r.returncode}): {r.stderr[-500:]}")
        with open(out) as f:
            res = json.load(f)
        res["command"] = " ".join(cmd[1:])
        res["gateways"] = gateways
        if r.returncode != 0:
            harness.problems.append(f"{strategy}/{workload}/{gateways} gateways: {res['errors']} errors "
                                    f"{res['error_kinds']}")
        return res
    finally:
        for p in reversed(procs):
            harness.stop(p)


def fmt(v, spec=".0f", scale=1.0):
    return "-" if v is None else format(v * scale, spec)


def render(results, strategies, workloads):
    head = (f"{'workload':<24}{'strategy':<22}{'req/s':>7}{'tok/s':>7}{'TTFT p50':>10}{'p90':>8}{'p99':>8}"
            f"{'TPOT p50':>10}{'p99':>7}{'e2e p50':>9}{'p99':>8}{'hit %':>7}{'max/min':>9}{'err':>5}")
    lines = [head, "-" * len(head)]
    for w in workloads:
        for s in strategies:
            r = results.get(w, {}).get(s)
            if not r:
                continue
            lines.append(f"{w:<24}{s:<22}{fmt(r['requests_per_s'], '.1f'):>7}{fmt(r['output_tokens_per_s']):>7}"
                         f"{fmt(r['ttft_ms']['p50']):>10}{fmt(r['ttft_ms']['p90']):>8}{fmt(r['ttft_ms']['p99']):>8}"
                         f"{fmt(r['tpot_ms']['p50'], '.1f'):>10}{fmt(r['tpot_ms']['p99'], '.1f'):>7}"
                         f"{fmt(r['e2e_ms']['p50']):>9}{fmt(r['e2e_ms']['p99']):>8}"
                         f"{fmt(r['hit_rate'], '.1f', 100):>7}{fmt(r['load_ratio'], '.2f') if r['load_ratio'] else 'inf':>9}"
                         f"{r['errors']:>5}")
        lines.append("")
    later = [(w, s, r["ttft_later_turns_ms"]) for w in workloads for s in strategies
             if (r := results.get(w, {}).get(s)) and r.get("ttft_later_turns_ms")]
    if later:
        lines.append("TTFT of the turns after each conversation's first (ms):")
        lines.append(f"{'workload':<14}{'strategy':<22}{'p50':>8}{'p99':>8}{'requests':>10}")
        for w, s, t in later:
            lines.append(f"{w:<14}{s:<22}{fmt(t['p50']):>8}{fmt(t['p99']):>8}{t['count']:>10}")
        lines.append("")
    return "\n".join(lines)


def render_two(two, results):
    """One gateway against two splitting the load, per strategy and workload."""
    if not two:
        return ""
    head = (f"{'workload':<14}{'strategy':<14}{'gateways':>9}{'hit %':>7}{'TTFT p50':>10}{'p99':>8}"
            f"{'later p99':>11}{'e2e p99':>9}{'max/min':>9}{'err':>5}")
    lines = ["One gateway against two splitting the load (requests alternate between them):", head, "-" * len(head)]
    for w, by_strategy in two.items():
        for s, r2 in by_strategy.items():
            for n, r in ((1, results.get(w, {}).get(s)), (2, r2)):
                if not r:
                    continue
                later = r.get("ttft_later_turns_ms") or {}
                lines.append(f"{w:<14}{s:<14}{n:>9}{fmt(r['hit_rate'], '.1f', 100):>7}{fmt(r['ttft_ms']['p50']):>10}"
                             f"{fmt(r['ttft_ms']['p99']):>8}{fmt(later.get('p99')):>11}{fmt(r['e2e_ms']['p99']):>9}"
                             f"{fmt(r['load_ratio'], '.2f') if r['load_ratio'] else 'inf':>9}{r['errors']:>5}")
        lines.append("")
    return "\n".join(lines)


def chart(results, strategies, workloads, png):
    """Three panels: the fleet's hit rate, TTFT p50 and p99 per workload, one bar per strategy."""
    d = os.path.join(harness.TMP, "sched-chart")
    os.makedirs(d, exist_ok=True)
    plots = []
    for i, (title, get) in enumerate([("prefix-cache hit rate, % (higher is better)",
                                       lambda r: None if r["hit_rate"] is None else 100 * r["hit_rate"]),
                                      ("TTFT p50, ms (lower is better)", lambda r: r["ttft_ms"]["p50"]),
                                      ("TTFT p99, ms (lower is better)", lambda r: r["ttft_ms"]["p99"])]):
        rows = {w: [get(results[w][s]) if results.get(w, {}).get(s) else None for s in strategies]
                for w in workloads}
        if all(v is None for vals in rows.values() for v in vals):
            continue  # e.g. no hit rates from sims without an engine model
        path = os.path.join(d, f"p{i}.dat")
        with open(path, "w") as f:
            f.write("workload " + " ".join(strategies) + "\n")
            for w, vals in rows.items():
                f.write(f"{w} " + " ".join("?" if v is None else f"{v:.3f}" for v in vals) + "\n")
        cols = ", ".join(f"'{path}' using {j + 2}:xtic(1)" if j == 0 else f"'' using {j + 2}"
                         for j in range(len(strategies)))
        plots.append(f"set key outside below maxrows 3 font ',8'\nset title \"{title}\"\nplot {cols}\n")
    harness.bar_chart(png, "scheduling on four sims", f"1,{len(plots)}", f"{500 * len(plots)},560", plots,
                      name="sched-chart")


def main():
    started = time.time()
    if not os.access(harness.MODELGATE, os.X_OK):
        raise harness.SetupError(f"{harness.MODELGATE} is not an executable (MODELGATE_BIN)")
    strategies = env_list("BENCH_SCHED_STRATEGIES",
                          ["round_robin", "least_request", "oracle"] if QUICK else STRATEGIES_ALL)
    workloads = env_list("BENCH_SCHED_WORKLOADS", WORKLOADS_ALL)
    for s in strategies:
        if s not in STRATEGIES_ALL:
            raise harness.SetupError(f"BENCH_SCHED_STRATEGIES: unknown {s!r}; one of {', '.join(STRATEGIES_ALL)}")
    for w in workloads:
        if w not in WORKLOADS_ALL:
            raise harness.SetupError(f"BENCH_SCHED_WORKLOADS: unknown {w!r}; one of {', '.join(WORKLOADS_ALL)}")
    engine, engine_kind = sim_args()
    machine = harness.machine_info()
    machine["loadavg_before"] = os.getloadavg()
    harness.log(f"scheduling: {len(strategies)} strategies x {len(workloads)} workloads on {FLEET} sims "
                f"({' '.join(engine)})")
    two_strategies = env_list("BENCH_SCHED_TWO_GATEWAYS", ["cache_aware"] if QUICK else TWO_GATEWAY_STRATEGIES)
    two_strategies = [] if two_strategies == ["none"] else two_strategies
    for s in two_strategies:
        if s not in STRATEGIES_ALL:
            raise harness.SetupError(f"BENCH_SCHED_TWO_GATEWAYS: unknown {s!r}; one of {', '.join(STRATEGIES_ALL)}")
    two_workloads = [w for w in (["shared-prefix"] if QUICK else TWO_GATEWAY_WORKLOADS) if w in workloads]

    def cell(s, w, gateways):
        r = one_cell(s, w, engine, gateways)
        harness.log(f"{w} / {s} / {gateways} gateway(s): hit {fmt(r['hit_rate'], '.1f', 100)} %, TTFT p50 "
                    f"{fmt(r['ttft_ms']['p50'])} ms, p99 {fmt(r['ttft_ms']['p99'])} ms, {r['errors']} errors")
        return r

    results = {w: {} for w in workloads}
    for w in workloads:
        for s in strategies:
            results[w][s] = cell(s, w, 1)
    two = {w: {} for w in two_workloads}
    for w in two_workloads:
        for s in two_strategies:
            two[w][s] = cell(s, w, 2)
    machine["loadavg_after"] = os.getloadavg()
    table = render(results, strategies, workloads) + render_two(two, results)
    os.makedirs(harness.RESULTS_DIR, exist_ok=True)
    png = os.path.join(harness.RESULTS_DIR, "scheduling-latest.png")
    chart(results, strategies, workloads, png)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    doc = {"timestamp": datetime.datetime.now().isoformat(timespec="seconds"),
           "elapsed_s": round(time.time() - started), "ok": not harness.problems, "problems": harness.problems,
           "machine": machine, "quick": QUICK, "fleet": FLEET, "sim_args": engine, "sim_kind": engine_kind,
           "workload_args": QUICK_ARGS if QUICK else WORKLOAD_ARGS, "strategies": strategies,
           "workloads": workloads, "results": results, "two_gateways": two, "table_text": table}
    for name in (f"scheduling-{stamp}.json", "scheduling-latest.json"):
        with open(os.path.join(harness.RESULTS_DIR, name), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    print(table)
    print(f"results: {os.path.join(harness.RESULTS_DIR, f'scheduling-{stamp}.json')} (and scheduling-latest.json, "
          f"scheduling-latest.png); {round(time.time() - started)} s")
    if harness.problems:
        print("\nproblems:\n  " + "\n  ".join(harness.problems), file=sys.stderr)
        return 1
    return 0


def report(path):
    """Re-renders the table and the chart (next to the file) of a results file."""
    with open(path) as f:
        doc = json.load(f)
    print(render(doc["results"], doc["strategies"], doc["workloads"]) + render_two(doc.get("two_gateways"), doc["results"]))
    chart(doc["results"], doc["strategies"], doc["workloads"],
          os.path.join(os.path.dirname(os.path.abspath(path)), "scheduling-latest.png"))
    return 1 if harness.problems else 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, harness._on_signal)
    signal.signal(signal.SIGINT, harness._on_signal)
    try:
        code = report(sys.argv[2]) if len(sys.argv) == 3 and sys.argv[1] == "--report" else main()
    except harness.SetupError as e:
        print(f"bench: {e}", file=sys.stderr)
        code = 2
    finally:
        harness.stop_all()
    sys.exit(code)
