#!/usr/bin/env python3
"""Workload w2 (64 keep-alive connections, 1 KB body-routed POST) on 2 workers, repeated, with how
each proxy spread the 64 client connections over its workers.

Why: at 2 workers a closed-loop client's tail latency follows the busiest worker. A worker that
holds 40 of the 64 connections answers each of them at 40/32 of the mean rate's pace, so its
connections make the p99. This run counts, halfway through every measurement, the client
connections each worker serves: from the fdinfo of every epoll instance of the proxy (a
connection is registered in the epoll of the worker that serves it), so nothing is traced or
slowed down. Variants run in turn within each round, so background load falls on all alike.

  python3 bench/worker_split.py [rounds]          # default 5 rounds of 10 s per variant

Needs wrk, nginx, haproxy and the stream origin of bench/run.py (build/bench/stream_client, or
STREAM_CLIENT_BIN: ./bench/run.sh compiles one); runs w2 only, so the origin just idles.

Environment: those of bench/run.py (MODELGATE_BIN, STREAM_CLIENT_BIN, BENCH_DURATION, BENCH_TMP), and
  SPLIT_VARIANTS     e.g. "modelgate,nginx,haproxy" (default); "nginx-shared" is nginx without
                     reuseport (one listening socket shared by the workers); "modelgate-base"
                     runs the binary named by MODELGATE_BASE_BIN.
Prints one line per measurement and a summary per variant (medians over the rounds).
"""

import os
import re
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402  (bench/run.py: processes, backends, proxies)

WORKERS = 2
CONNECTIONS = 64


def socket_inodes(port):
    """Inodes of established TCP sockets whose local port is `port` (client connections)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    local_port = int(fields[1].rsplit(":", 1)[1], 16)
                    if local_port == port and fields[3] == "01":  # ESTABLISHED
                        inodes.add(fields[9])
        except OSError:
            pass
    return inodes


def split(pids, port):
    """Client connections per epoll instance of the processes `pids`, largest first."""
    clients = socket_inodes(port)
    counts = []
    for pid in pids:
        fd_dir = f"/proc/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue
        inode_of = {}
        epolls = []
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            m = re.match(r"socket:\[(\d+)\]", target)
            if m:
                inode_of[fd] = m.group(1)
            elif target == "anon_inode:[eventpoll]":
                epolls.append(fd)
        for ep in epolls:
            try:
                with open(f"/proc/{pid}/fdinfo/{ep}") as f:
                    tfds = re.findall(r"^tfd:\s+(\d+)", f.read(), re.M)
            except OSError:
                continue
            n = sum(1 for t in tfds if inode_of.get(t) in clients)
            if n:
                counts.append(n)
    return sorted(counts, reverse=True)


def thread_cpu(pids):
    """CPU seconds per thread of the processes `pids`."""
    out = {}
    for pid in pids:
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                out[tid] = (int(fields[11]) + int(fields[12])) / run.CLK_TCK
            except (OSError, IndexError):
                pass
    return out


def measure(px, duration):
    argv = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{duration}s", "--latency", "--timeout", "5s",
            "-s", os.path.join(run.BENCH, "wrk", "chat.lua"), px.url("routed")]
    env = dict(os.environ, WRK_MODELS="m-a,m-b")
    cpu0 = thread_cpu(px.pids)
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(duration / 2)
    counts = split(px.pids, px.ports["routed"])
    out, err = p.communicate(timeout=duration + 60)
    cpu1 = thread_cpu(px.pids)
    m = re.search(r"^WRKJSON (.*)$", out, re.M)
    if p.returncode != 0 or not m:
        raise RuntimeError(f"wrk failed: {err.strip()[:300]}")
    s = run.json.loads(m.group(1))
    busy = sorted((round(cpu1[t] - cpu0.get(t, 0), 2) for t in cpu1), reverse=True)
    return {"rps": s["requests"] / (s["duration_us"] / 1e6), "lat": s["latency_us"], "split": counts,
            "thread_cpu_s": [b for b in busy if b > 0.05]}


def start(variant, backends, tag):
    if variant == "nginx-shared":
        os.environ["BENCH_NGINX_REUSEPORT"] = "0"
        try:
            return run.Proxy("nginx", WORKERS, backends, tag)
        finally:
            del os.environ["BENCH_NGINX_REUSEPORT"]
    if variant == "modelgate-base":
        saved = run.MODELGATE
        run.MODELGATE = os.environ["MODELGATE_BASE_BIN"]
        try:
            return run.Proxy("modelgate", WORKERS, backends, tag)
        finally:
            run.MODELGATE = saved
    return run.Proxy(variant, WORKERS, backends, tag)


def main():
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    duration = run.env_int("BENCH_DURATION", 10)
    variants = os.environ.get("SPLIT_VARIANTS", "modelgate,nginx,haproxy").split(",")
    run.raise_nofile()
    backends = run.Backends()
    results = {v: [] for v in variants}
    print(f"load average at start: {os.getloadavg()}", flush=True)
    try:
        for r in range(rounds):
            for v in variants:
                px = start(v, backends, f"{v}-{r}")
                try:
                    run.check_routing(px)
                    run.wrk(px.url("routed"), run.P["models"], 1, CONNECTIONS, label=f"{v} warmup")
                    res = measure(px, duration)
                finally:
                    px.close()
                results[v].append(res)
                lat = res["lat"]
                print(f"round {r} {v:15} {res['rps']:8.0f} req/s  p50 {lat['p50'] / 1000:5.2f}  p90 "
                      f"{lat['p90'] / 1000:5.2f}  p99 {lat['p99'] / 1000:5.2f}  p99.9 {lat['p999'] / 1000:5.2f} ms  "
                      f"connections per worker {res['split']}  thread CPU s {res['thread_cpu_s']}", flush=True)
    finally:
        run.stop_all()
    print(f"load average at end: {os.getloadavg()}")
    print("median over rounds:")
    for v, rs in results.items():
        if not rs:
            continue
        med = lambda f: statistics.median(f(x) for x in rs)  # noqa: E731
        print(f"  {v:15} {med(lambda x: x['rps']):8.0f} req/s  p50 {med(lambda x: x['lat']['p50']) / 1000:5.2f}  "
              f"p99 {med(lambda x: x['lat']['p99']) / 1000:5.2f} ms  busiest worker's connections "
              f"{[x['split'][0] if x['split'] else None for x in rs]}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    main()
