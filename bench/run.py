#!/usr/bin/env python3
"""`make bench`: modelgate against nginx, HAProxy and the backend directly, same machine, same run.

Started by bench/run.sh, which checks the tools, raises the file limit, finds or builds
bench/stream_client and removes every process and the temp dir on exit. Python 3 stdlib only.

Workloads (docs/performance.md explains each in full):
  w1  ~1 KB non-streaming chat completion POST, keep-alive, 64 connections (wrk)
  w2  the same, alternating two models routed to two pools by the body's model field
      (nginx cannot read the body: it routes on an X-Model header the script also sends)
  w3  1000 concurrent SSE streams of 120 chunks (bench/stream_client): added delay per chunk,
      memory per stream
  w4  10 000 idle keep-alive client connections: memory per connection
  w5  a new connection per request (Connection: close)
  w6  w1 with an API key on every request (auth + all five limits, none reached): modelgate only,
      its CPU per request against w1's (docs/auth.md; the target is at most 10 % more);
      BENCH_LIMITS_STORE=redis://HOST:PORT shares the limits through that Redis (auth.store)
  w7  w1 over TLS (an ECDSA P-256 certificate made with `openssl`; keep-alive, so one handshake
      per connection); the proxies only, the backend has no TLS

Environment:
  MODELGATE_BIN       the modelgate binary (default: build/modelgate)
  STREAM_CLIENT_BIN   the bench/stream_client binary (run.sh provides it)
  BENCH_QUICK=1       one-minute smoke run (used by ctest)
  BENCH_RESULTS_DIR   where results go (default: bench/results)
  BENCH_TMP           scratch dir for configs and logs (run.sh provides and removes it)
  BENCH_PROXIES       subset, e.g. "modelgate,nginx" (default: all three)
  BENCH_WORKERS       worker counts, e.g. "1,2" (default "1,2"; quick: "1")
  BENCH_WORKLOADS     subset, e.g. "w1,w3" (default: all)
  BENCH_DURATION      seconds per wrk measurement (default 10; quick 3)
  BENCH_STREAMS, BENCH_STREAM_CHUNKS, BENCH_STREAM_INTERVAL_MS
                      w3's concurrent streams, chunks per stream, time between chunks
                      (default 1000, 120, 100 ms; quick: 100, 30, 20 ms)
  BENCH_SIM_THREADS   event-loop threads of each sim backend (default 1)
  BENCH_WRK_THREADS   wrk threads (default 1)
  BENCH_NICE          run everything at this nice value, e.g. -10 on a shared machine (run.sh)
Exit status: 0 when every measurement ran cleanly, 1 when one failed (results are still written,
with "ok": false and the list of problems), 2 when the setup itself failed.
"""

import ctypes
import datetime
import http.client
import json
import os
import platform
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
PROXIES_ALL = ["modelgate", "nginx", "haproxy"]
TARGETS = ["direct"] + PROXIES_ALL
WORKLOADS_ALL = ["w1", "w2", "w3", "w4", "w5", "w6", "w7"]
BENCH_KEY = "sk-bench-keyed-path"


def env_int(name, default):
    v = os.environ.get(name, "")
    return int(v) if v.strip() else default


QUICK = os.environ.get("BENCH_QUICK", "0") not in ("", "0")
P = {
    "quick": QUICK,
    "duration_s": env_int("BENCH_DURATION", 3 if QUICK else 10),
    "warmup_s": 1 if QUICK else 2,
    "connections": 16 if QUICK else 64,
    "wrk_threads": env_int("BENCH_WRK_THREADS", 1),
    "sim_threads": env_int("BENCH_SIM_THREADS", 1),
    "streams": env_int("BENCH_STREAMS", 100 if QUICK else 1000),
    "stream_chunks": env_int("BENCH_STREAM_CHUNKS", 30 if QUICK else 120),
    "stream_interval_ms": env_int("BENCH_STREAM_INTERVAL_MS", 20 if QUICK else 100),
    "stream_ramp_ms": 200 if QUICK else 1000,
    "idle_connections": 1000 if QUICK else 10000,
    "workers": [int(w) for w in os.environ.get("BENCH_WORKERS", "1" if QUICK else "1,2").split(",") if w],
    "proxies": [p for p in os.environ.get("BENCH_PROXIES", ",".join(PROXIES_ALL)).split(",") if p],
    "workloads": [w for w in os.environ.get("BENCH_WORKLOADS", ",".join(WORKLOADS_ALL)).split(",") if w],
    "models": ["m-a", "m-b"],
}

MODELGATE = os.environ.get("MODELGATE_BIN") or os.path.join(ROOT, "build", "modelgate")
STREAM_CLIENT = os.environ.get("STREAM_CLIENT_BIN") or os.path.join(ROOT, "build", "bench", "stream_client")
RESULTS_DIR = os.environ.get("BENCH_RESULTS_DIR") or os.path.join(BENCH, "results")
TMP = os.environ.get("BENCH_TMP") or tempfile.mkdtemp(prefix="modelgate-bench-")
# w7's certificate and key (and both in one file, as HAProxy takes them), made once per run.
CERT, KEY, PEM = (os.path.join(TMP, n) for n in ("tls-cert.pem", "tls-key.pem", "tls-both.pem"))


def ensure_certificate():
    if os.path.exists(PEM):
        return
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-days", "2", "-subj", "/CN=localhost", "-addext",
                    "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", KEY, "-out", CERT],
                   check=True, capture_output=True)
    with open(PEM, "w") as out:
        out.write(open(CERT).read() + open(KEY).read())
CLK_TCK = os.sysconf("SC_CLK_TCK")

problems = []  # measurements that did not run cleanly; the run exits 1 when there are any


def log(msg):
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class SetupError(Exception):
    pass


# ------------------------------------------------------------------------------------------------
# Processes: every one is started in its own process group, recorded in $BENCH_TMP/pids (run.sh's
# trap kills what is listed there even if this script is killed), and gets SIGTERM if this script
# dies (PR_SET_PDEATHSIG).

_libc = ctypes.CDLL(None, use_errno=True)
PR_SET_PDEATHSIG = 1
children = []


def _child_setup():
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def start(name, argv, ready=None, ports=(), timeout=15.0):
    """Starts argv, output in $TMP/NAME.log; waits for the regex `ready` in that log and for every
    port in `ports` to accept a connection. Returns (Popen, match)."""
    logpath = os.path.join(TMP, f"{name}.log")
    out = open(logpath, "wb")
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                         start_new_session=True, preexec_fn=_child_setup, cwd=TMP)
    out.close()
    p.bench_name = name
    children.append(p)
    write_pidfile()
    deadline = time.time() + timeout
    match = None
    while True:
        if p.poll() is not None:
            raise SetupError(f"{name} exited with {p.returncode} while starting; its output:\n"
                             + tail(logpath))
        if ready and match is None:
            with open(logpath, errors="replace") as f:
                match = re.search(ready, f.read())
        if (not ready or match) and all(port_open(port) for port in ports):
            return p, match
        if time.time() > deadline:
            raise SetupError(f"{name} did not become ready within {timeout:.0f} s; its output:\n"
                             + tail(logpath))
        time.sleep(0.05)


def stop(p):
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            p.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(p.pid, signal.SIGKILL)  # whatever is left of the group (nginx workers)
    except ProcessLookupError:
        pass
    p.wait()
    if p in children:
        children.remove(p)
        write_pidfile()


def write_pidfile():
    """The process groups still running, for run.sh's trap."""
    with open(os.path.join(TMP, "pids"), "w") as f:
        f.write("".join(f"{c.pid}\n" for c in children))


def stop_all():
    for p in list(reversed(children)):
        stop(p)


def tail(path, lines=30):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return "(no output)"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def process_tree(pid):
    """pid and all its descendants (nginx: master and workers)."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                parents.setdefault(int(fields[1]), []).append(int(entry))
            except (OSError, IndexError):
                pass
    out, todo = [], [pid]
    while todo:
        q = todo.pop()
        out.append(q)
        todo.extend(parents.get(q, []))
    return out


def cpu_seconds(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
        except (OSError, IndexError):
            pass
    return total / CLK_TCK


def rss_kib(pids):
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


# ------------------------------------------------------------------------------------------------
# Backends and proxies


class Backends:
    """Two sims (sim-a serves m-a, sim-b serves m-b) and the streaming origin, for the whole run."""

    def __init__(self):
        self.ports = {}
        for name, model in (("a", "m-a"), ("b", "m-b")):
            argv = [MODELGATE, "sim", "--listen", "127.0.0.1:0", "--name", name, "--models", model,
                    "--ttft-ms", "0", "--tpot-ms", "0", "--threads", str(P["sim_threads"])]
            p, m = start(f"sim-{name}", argv, ready=r"sim \S+ listening on 127\.0\.0\.1:(\d+)")
            self.ports[name] = int(m.group(1))
            setattr(self, f"sim_{name}", p)
        argv = [STREAM_CLIENT, "origin", "--listen", "127.0.0.1:0", "--interval-ms", str(P["stream_interval_ms"]),
                "--chunks", str(P["stream_chunks"])]
        self.origin, m = start("origin", argv, ready=r"origin listening on 127\.0\.0\.1:(\d+)")
        self.ports["s"] = int(m.group(1))


class Proxy:
    """One proxy instance with three listeners: w1/w4/w5 (plain, one pool), w2 (routed by model)
    and w3 (streams)."""

    def __init__(self, kind, workers, backends, tag, keyed=False):
        self.kind, self.workers, self.backends, self.tag, self.keyed = kind, workers, backends, tag, keyed
        self.ports = {"plain": free_port(), "routed": free_port(), "stream": free_port(), "tls": free_port()}
        self.dir = os.path.join(TMP, f"{kind}-{workers}-{tag}")
        os.makedirs(self.dir, exist_ok=True)
        os.chmod(self.dir, 0o755)
        ensure_certificate()
        getattr(self, f"_start_{kind}")()
        self.pids = process_tree(self.proc.pid)

    def url(self, listener, path="/v1/chat/completions"):
        scheme = "https" if listener == "tls" else "http"
        return f"{scheme}://127.0.0.1:{self.ports[listener]}{path}"

    def close(self):
        stop(self.proc)

    def _start_modelgate(self):
        b, p = self.backends.ports, self.ports
        cfg = f"""# generated by bench/run.py
log: {{level: warn}}
admin: {{enabled: false}}
shutdown: {{drainTimeout: 1s}}
entryPoints:
  plain:  {{address: "127.0.0.1:{p['plain']}", timeouts: {{idle: 300s}}}}
  routed: {{address: "127.0.0.1:{p['routed']}", timeouts: {{idle: 300s}}}}
  stream: {{address: "127.0.0.1:{p['stream']}", timeouts: {{idle: 300s}}}}
  tls:    {{address: "127.0.0.1:{p['tls']}", timeouts: {{idle: 300s}}, http: {{tls: {{}}}}}}
tls:
  certificates: [{{certFile: "{CERT}", keyFile: "{KEY}"}}]
http:
  routers:
    plain:  {{rule: "PathPrefix(`/`)", service: pool-a, entryPoints: [plain, tls]}}
    model-a: {{rule: "Model(`m-a`)", service: pool-a, entryPoints: [routed]}}
    model-b: {{rule: "Model(`m-b`)", service: pool-b, entryPoints: [routed]}}
    stream: {{rule: "PathPrefix(`/`)", service: pool-s, entryPoints: [stream]}}
  services:
    pool-a: {{loadBalancer: {{servers: [{{url: "http://127.0.0.1:{b['a']}"}}]}}}}
    pool-b: {{loadBalancer: {{servers: [{{url: "http://127.0.0.1:{b['b']}"}}]}}}}
    pool-s: {{loadBalancer: {{servers: [{{url: "http://127.0.0.1:{b['s']}"}}]}}}}
"""
        if self.keyed:  # w6: every limit set, far above what the run reaches
            store = os.environ.get("BENCH_LIMITS_STORE", "")  # redis://...: the limits shared through it
            cfg += f"""auth:
  budgetsFile: {self.dir}/budgets.sqlite
{f'  store: "{store}"' if store else ''}
  keys:
    - name: bench
      key: {BENCH_KEY}
      limits: {{requestsPerMinute: 1000000000, tokensPerMinute: 100000000000, tokensPerDay: 100000000000,
                tokensPerMonth: 100000000000, concurrency: 100000}}
"""
        path = os.path.join(self.dir, "modelgate.yaml")
        with open(path, "w") as f:
            f.write(cfg)
        self.proc, _ = start(f"modelgate-{self.workers}-{self.tag}", [MODELGATE, "serve", "--config", path, "--workers",
                                                         str(self.workers)],
                             ready=r"modelgate: ready", ports=self.ports.values())

    def _start_nginx(self):
        b, p, d = self.backends.ports, self.ports, self.dir
        upstreams = "".join(
            f"  upstream pool_{n} {{ server 127.0.0.1:{b[n]}; keepalive 64; keepalive_requests 1000000; "
            f"keepalive_timeout 300s; }}\n" for n in ("a", "b", "s"))
        # BENCH_NGINX_REUSEPORT=0: one listening socket shared by the workers (bench/worker_split.py)
        listen = "reuseport backlog=4096" if os.environ.get("BENCH_NGINX_REUSEPORT", "1") != "0" else "backlog=4096"
        cfg = f"""# generated by bench/run.py
daemon off;
master_process on;
user root root;
worker_processes {self.workers};
worker_rlimit_nofile {min(resource.getrlimit(resource.RLIMIT_NOFILE)[1], 65536)};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 20000; use epoll; }}
http {{
  access_log off;
  client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fastcgi;
  uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;
  keepalive_timeout 300s; keepalive_requests 1000000;
{upstreams}
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  proxy_set_header Host $http_host;
  proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
  proxy_set_header X-Forwarded-Proto $scheme;
  proxy_set_header X-Forwarded-Host $http_host;
  proxy_read_timeout 300s;
  map $http_x_model $model_pool {{ default ""; m-a pool_a; m-b pool_b; }}
  server {{ listen 127.0.0.1:{p['plain']} {listen}; location / {{ proxy_pass http://pool_a; }} }}
  server {{ listen 127.0.0.1:{p['routed']} {listen};
           location / {{ if ($model_pool = "") {{ return 404; }} proxy_pass http://$model_pool; }} }}
  server {{ listen 127.0.0.1:{p['stream']} {listen};
           location / {{ proxy_buffering off; proxy_pass http://pool_s; }} }}
  # w7, as nginx's HTTPS guide advises: a shared session cache, longer session timeout
  ssl_protocols TLSv1.2 TLSv1.3;
  ssl_session_cache shared:SSL:10m;
  ssl_session_timeout 10m;
  server {{ listen 127.0.0.1:{p['tls']} ssl {listen};
           ssl_certificate {CERT}; ssl_certificate_key {KEY};
           location / {{ proxy_pass http://pool_a; }} }}
}}
"""
        path = os.path.join(d, "nginx.conf")
        with open(path, "w") as f:
            f.write(cfg)
        self.proc, _ = start(f"nginx-{self.workers}-{self.tag}", ["nginx", "-p", d, "-e", f"{d}/error.log", "-c", path],
                             ports=self.ports.values())
        # the workers are forked after the master opens the ports: wait for all of them
        deadline = time.time() + 5
        while len(process_tree(self.proc.pid)) < 1 + self.workers and time.time() < deadline:
            time.sleep(0.05)

    def _start_haproxy(self):
        b, p, d = self.backends.ports, self.ports, self.dir
        # the same X-Forwarded-* fields modelgate and nginx add
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
        xf = "  http-request set-header X-Forwarded-Proto http\n  http-request set-header X-Forwarded-Host %[req.hdr(host)]"
        cfg = f"""# generated by bench/run.py
global
  nbthread {self.workers}
  # two descriptors per connection, within the file limit (main() sizes w4 to fit)
  maxconn {(nofile - 64) // 2}
defaults
  mode http
  option forwardfor
  http-reuse always
  timeout connect 5s
  timeout client 300s
  timeout server 300s
  timeout http-request 10s
  timeout http-keep-alive 300s
frontend plain
  bind 127.0.0.1:{p['plain']}
  backlog 4096
{xf}
  default_backend pool_a
frontend routed
  bind 127.0.0.1:{p['routed']}
  backlog 4096
  option http-buffer-request
{xf}
  http-request set-var(txn.model) req.body,json_query('$.model')
  http-request return status 404 if !{{ var(txn.model) -m found }}
  use_backend pool_a if {{ var(txn.model) -m str m-a }}
  use_backend pool_b if {{ var(txn.model) -m str m-b }}
frontend stream
  bind 127.0.0.1:{p['stream']}
  backlog 4096
  # without it HAProxy sends a response it expects more of with MSG_MORE, and the kernel holds
  # each SSE chunk up to 200 ms: the documented setting for interactive streams
  option http-no-delay
{xf}
  default_backend pool_s
frontend tls
  # w7: TLS 1.2+ with ALPN http/1.1; HAProxy keeps its session cache (tune.ssl.cachesize) and
  # tickets on by default
  bind 127.0.0.1:{p['tls']} ssl crt {PEM} alpn http/1.1 ssl-min-ver TLSv1.2
  backlog 4096
  http-request set-header X-Forwarded-Proto https
  http-request set-header X-Forwarded-Host %[req.hdr(host)]
  default_backend pool_a
backend pool_a
  server a 127.0.0.1:{b['a']}
backend pool_b
  server b 127.0.0.1:{b['b']}
backend pool_s
  option http-no-delay
  server s 127.0.0.1:{b['s']}
"""
        path = os.path.join(d, "haproxy.cfg")
        with open(path, "w") as f:
            f.write(cfg)
        self.proc, _ = start(f"haproxy-{self.workers}-{self.tag}", ["haproxy", "-db", "-f", path], ports=self.ports.values())


# ------------------------------------------------------------------------------------------------
# Measurements


def wrk(url, models, duration, connections, close=False, pids=(), backend_pids=(), label="", headers=()):
    """Runs wrk with bench/wrk/chat.lua; returns its WRKJSON summary plus requests/s and, with
    pids, the CPU seconds those processes used per 10 000 requests; with backend_pids, the share of
    one core the backends used (near 1.0 for one sim thread: the backend is the limit)."""
    argv = ["wrk", f"-t{P['wrk_threads']}", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "5s",
            "-s", os.path.join(BENCH, "wrk", "chat.lua")]
    if close:
        argv += ["-H", "Connection: close"]
    for h in headers:
        argv += ["-H", h]
    argv.append(url)
    env = dict(os.environ, WRK_MODELS=",".join(models))
    cpu0, bcpu0 = cpu_seconds(pids), cpu_seconds(backend_pids)
    r = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=duration + 60)
    cpu1, bcpu1 = cpu_seconds(pids), cpu_seconds(backend_pids)
    m = re.search(r"^WRKJSON (.*)$", r.stdout, re.M)
    if r.returncode != 0 or not m:
        problems.append(f"{label}: wrk failed (exit {r.returncode}): {r.stderr.strip()[:300]}")
        return None
    s = json.loads(m.group(1))
    s["rps"] = s["requests"] / (s["duration_us"] / 1e6)
    if backend_pids:
        s["backend_cpu_cores"] = round((bcpu1 - bcpu0) / (s["duration_us"] / 1e6), 2)
    if pids and s["requests"]:
        s["cpu_s"] = cpu1 - cpu0
        s["cpu_s_per_10k"] = (cpu1 - cpu0) / s["requests"] * 10000
    e = s["errors"]
    if e["status"]:
        problems.append(f"{label}: {e['status']} non-2xx answers out of {s['requests']}")
    socket_errors = e["connect"] + e["read"] + e["write"] + e["timeout"]
    if socket_errors > max(10, s["requests"] // 1000):
        problems.append(f"{label}: {socket_errors} socket errors out of {s['requests']} ({e})")
    return s


def post_json(port, model, headers=None):
    body = json.dumps({"model": model, "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]})
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        c.request("POST", "/v1/chat/completions", body,
                  {"Content-Type": "application/json", "X-Model": model, **(headers or {})})
        r = c.getresponse()
        r.read()
        return r.status, r.getheader("X-Served-By")
    finally:
        c.close()


def check_routing(proxy):
    """Workload 2 is only meaningful if each model reaches its own pool."""
    for model, want in (("m-a", "a"), ("m-b", "b")):
        status, served_by = post_json(proxy.ports["routed"], model)
        if status != 200 or served_by != want:
            raise SetupError(f"{proxy.kind}: routed {model} gave status {status} from {served_by!r}, "
                             f"expected 200 from sim-{want}")


def stream_run(port, pids, label):
    argv = [STREAM_CLIENT, "run", "--target", f"127.0.0.1:{port}", "--streams", str(P["streams"]),
            "--ramp-ms", str(P["stream_ramp_ms"]), "--max-tokens", str(P["stream_chunks"]),
            "--rss-pids", ",".join(map(str, pids)), "--timeout-s", "120"]
    cpu0 = cpu_seconds(pids)
    r = subprocess.run(argv, capture_output=True, text=True, timeout=180)
    cpu1 = cpu_seconds(pids)
    try:
        s = json.loads(r.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        problems.append(f"{label}: stream client failed (exit {r.returncode}): {r.stderr.strip()[:300]}")
        return None
    s["cpu_s"] = cpu1 - cpu0
    s["cpu_us_per_chunk"] = (cpu1 - cpu0) / s["chunks"] * 1e6 if s["chunks"] else None
    if s["failed"]:
        problems.append(f"{label}: {s['failed']} of {s['streams']} streams failed: {s['errors']}")
    return s


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def read_response(sock, buf=b""):
    """Reads one Content-Length response from a blocking socket; returns the status code."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed before the response header")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
    need = int(m.group(1)) if m else 0
    while len(rest) < need:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed in the response body")
        rest += chunk
    return int(head.split(b" ", 2)[1])


def idle_connections(port, pids, count, label):
    """Opens `count` keep-alive connections, sends one request on each and reads its answer, then
    leaves them idle and measures the RSS growth of pids."""
    body = json.dumps({"model": "m-a", "max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]})
    req = (f"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
           f"Content-Length: {len(body)}\r\n\r\n{body}").encode()
    time.sleep(0.5)
    before = rss_kib(pids)
    socks, failed = [], 0
    t0 = time.time()
    batch = 200
    for i in range(0, count, batch):
        group = []
        for _ in range(min(batch, count - i)):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.settimeout(10)
            try:
                s.connect(("127.0.0.1", port))
                s.sendall(req)
                group.append(s)
            except OSError:
                failed += 1
                s.close()
        for s in group:
            try:
                if read_response(s) != 200:
                    failed += 1
                socks.append(s)
            except OSError:
                failed += 1
                s.close()
    opened_s = time.time() - t0
    time.sleep(1.0)
    after = rss_kib(pids)
    # A connection the proxy closed meanwhile reads as EOF: count those.
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
    for s in socks:
        s.close()
    held = len(socks) - closed
    if failed or closed:
        problems.append(f"{label}: {failed} idle connections failed to open, {closed} were closed by the proxy")
    return {"connections": held, "rss_before_kib": before, "rss_after_kib": after, "open_s": round(opened_s, 2),
            "kib_per_conn": (after - before) / held if held else None}


# ------------------------------------------------------------------------------------------------
# Orchestration


class Direct:
    """The backend without a proxy, measured like a proxy: w1/w5 against sim a, w3 against the
    origin, w4 against sim a (its RSS), and w2 not at all (there is nothing to route)."""

    kind = "direct"

    def __init__(self, backends):
        self.ports = {"plain": backends.ports["a"], "stream": backends.ports["s"]}
        self.pids = process_tree(backends.sim_a.pid)
        self.stream_pids = [backends.origin.pid]

    def url(self, listener, path="/v1/chat/completions"):
        return f"http://127.0.0.1:{self.ports[listener]}{path}"


def measure_block(workers, backends, res, first):
    """Every target at one worker count. The three proxies run side by side (an idle proxy costs
    nothing) and each workload is measured on the backend directly and on every proxy in turn, so
    a change of background load over the run does not fall on one of them. w3 gets a fresh
    instance of each proxy for its memory figure; w4 of the backend itself only in the first
    block (the sim keeps what it allocated)."""
    d, c = P["duration_s"], P["connections"]
    wl = P["workloads"]
    direct = Direct(backends)
    sims = process_tree(backends.sim_a.pid) + process_tree(backends.sim_b.pid)
    if any(w in wl for w in ("w1", "w2", "w4", "w5", "w7")):
        pxs = {}
        try:
            for kind in P["proxies"]:
                pxs[kind] = Proxy(kind, workers, backends, "rr")
            for kind, px in pxs.items():
                if "w2" in wl:
                    check_routing(px)
                log(f"{kind} x{workers}: warmup")
                wrk(px.url("plain"), ["m-a"], P["warmup_s"], c, label=f"{kind} x{workers} warmup")
            if "w4" in wl:
                for t in ([direct] if first else []) + list(pxs.values()):
                    name = f"{t.kind} x{workers} w4"
                    log(f"{name}: {P['idle_connections']} idle connections")
                    res["w4"][t.kind] = idle_connections(t.ports["plain"], t.pids, P["idle_connections"], name)
            for w, listener, models, close, what in (("w1", "plain", ["m-a"], False, "keep-alive POST"),
                                                     ("w2", "routed", P["models"], False, "routed by model"),
                                                     ("w5", "plain", ["m-a"], True, "no keep-alive"),
                                                     ("w7", "tls", ["m-a"], False, "TLS keep-alive POST")):
                if w not in wl:
                    continue
                for t in ([] if w in ("w2", "w7") else [direct]) + list(pxs.values()):
                    name = f"{t.kind} x{workers} {w}"
                    log(f"{name}: {what}")
                    wrk(t.url(listener), models, 1, c, close=close, label=f"{name} warmup")
                    res[w][t.kind] = wrk(t.url(listener), models, d, c, close=close, pids=t.pids,
                                         backend_pids=sims, label=name)
        finally:
            for px in pxs.values():
                px.close()
    if "w6" in wl and "modelgate" in P["proxies"]:
        px = Proxy("modelgate", workers, backends, "keyed", keyed=True)
        try:
            name = f"modelgate x{workers} w6"
            log(f"{name}: keep-alive POST with an API key")
            key = [f"Authorization: Bearer {BENCH_KEY}"]
            wrk(px.url("plain"), ["m-a"], max(1, P["warmup_s"]), c, label=f"{name} warmup", headers=key)
            res["w6"]["modelgate"] = wrk(px.url("plain"), ["m-a"], d, c, pids=px.pids, backend_pids=sims,
                                         label=name, headers=key)
        finally:
            px.close()
    if "w3" in wl:
        log(f"direct x{workers} w3: {P['streams']} streams")
        res["w3"]["direct"] = stream_run(direct.ports["stream"], direct.stream_pids, f"direct x{workers} w3")
        for kind in P["proxies"]:
            px = Proxy(kind, workers, backends, "stream")  # fresh: memory per stream from a clean start
            try:
                log(f"{kind} x{workers} w3: {P['streams']} streams")
                res["w3"][kind] = stream_run(px.ports["stream"], px.pids, f"{kind} x{workers} w3")
            finally:
                px.close()


# Table rows: (workload, label, extractor, higher_is_better)
def _g(*keys):
    def f(x):
        for k in keys:
            if x is None:
                return None
            x = x.get(k)
        return x
    return f


ROWS = [
    ("w1", "w1 keep-alive POST  req/s", _g("rps"), True),
    ("w1", "w1 latency p50 ms", lambda x: x and x["latency_us"]["p50"] / 1000, False),
    ("w1", "w1 latency p99 ms", lambda x: x and x["latency_us"]["p99"] / 1000, False),
    ("w1", "w1 latency p99.9 ms", lambda x: x and x["latency_us"]["p999"] / 1000, False),
    ("w1", "w1 CPU s / 10k req", _g("cpu_s_per_10k"), False),
    ("w2", "w2 routed by model req/s *", _g("rps"), True),
    ("w2", "w2 latency p50 ms", lambda x: x and x["latency_us"]["p50"] / 1000, False),
    ("w2", "w2 latency p99 ms", lambda x: x and x["latency_us"]["p99"] / 1000, False),
    ("w2", "w2 latency p99.9 ms", lambda x: x and x["latency_us"]["p999"] / 1000, False),
    ("w2", "w2 CPU s / 10k req", _g("cpu_s_per_10k"), False),
    ("w3", "w3 SSE chunk delay p50 us **", _g("delay_us", "p50"), False),
    ("w3", "w3 SSE chunk delay p99 us **", _g("delay_us", "p99"), False),
    ("w3", "w3 added delay p50 us", None, False),  # filled from the rows above
    ("w3", "w3 added delay p99 us", None, False),
    ("w3", "w3 first chunk p50 ms", _g("ttft_ms", "p50"), False),
    ("w3", "w3 first chunk p99 ms", _g("ttft_ms", "p99"), False),
    ("w3", "w3 CPU us per chunk", _g("cpu_us_per_chunk"), False),
    ("w3", "w3 RSS per stream KiB", _g("rss_per_stream_kib"), False),
    ("w4", "w4 RSS per idle conn KiB", _g("kib_per_conn"), False),
    ("w5", "w5 no keep-alive req/s", _g("rps"), True),
    ("w5", "w5 latency p99 ms", lambda x: x and x["latency_us"]["p99"] / 1000, False),
    ("w6", "w6 keyed POST req/s", _g("rps"), True),
    ("w6", "w6 CPU s / 10k req", _g("cpu_s_per_10k"), False),
    ("w7", "w7 TLS keep-alive POST req/s", _g("rps"), True),
    ("w7", "w7 latency p99 ms", lambda x: x and x["latency_us"]["p99"] / 1000, False),
    ("w7", "w7 CPU s / 10k req", _g("cpu_s_per_10k"), False),
]


def build_table(results):
    rows = []
    for workers in P["workers"]:
        res = results[str(workers)]
        for wl, label, get, higher in ROWS:
            if wl not in P["workloads"]:
                continue
            vals = {}
            for t in TARGETS:
                if label.startswith("w3 added"):
                    pct = "p50" if "p50" in label else "p99"
                    base = _g("delay_us", pct)(res["w3"].get("direct"))
                    v = _g("delay_us", pct)(res["w3"].get(t))
                    vals[t] = None if t == "direct" or v is None or base is None else v - base
                elif t == "direct" and label.startswith("w3 RSS"):
                    vals[t] = None  # the origin's memory, not comparable to a proxy's
                else:
                    vals[t] = get(res[wl].get(t)) if res[wl].get(t) is not None else None
            row = {"workload": wl, "metric": label, "workers": workers, "higher_is_better": higher, **vals}
            mg = vals.get("modelgate")
            for other in ("nginx", "haproxy"):
                o = vals.get(other)
                row[f"mg_vs_{other}"] = (mg / o) if (mg is not None and o and o > 0 and mg >= 0) else None
            rows.append(row)
    return rows


def fmt_num(v):
    if v is None:
        return "n/a"
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def render_table(rows):
    head = ["metric", "workers", "direct", "modelgate", "nginx", "haproxy", "mg/nginx", "mg/haproxy"]
    lines = []
    for r in rows:
        lines.append([r["metric"], str(r["workers"])] + [fmt_num(r[t]) for t in TARGETS] +
                     [("n/a" if r[f"mg_vs_{o}"] is None else f"{r[f'mg_vs_{o}']:.2f}") for o in ("nginx", "haproxy")])
    widths = [max(len(head[i]), *(len(l[i]) for l in lines)) if lines else len(head[i]) for i in range(len(head))]
    out = ["| " + " | ".join(h.ljust(widths[i]) for i, h in enumerate(head)) + " |",
           "|" + "|".join(("-" * (w + 2)) if i < 1 else ("-" * (w + 1) + ":") for i, w in enumerate(widths)) + "|"]
    for l in lines:
        out.append("| " + " | ".join(c.ljust(widths[i]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(l))
                   + " |")
    out.append("")
    out.append("mg/x = modelgate ÷ x: above 1 is better for req/s, below 1 is better for every other row.")
    out.append("*  nginx cannot read the body: it routes on the X-Model header the client also sends.")
    out.append("** arrival − emit time of each chunk; the direct column is the client↔origin baseline; "
               "'added' = proxied − direct.")
    return "\n".join(out)


def targets_summary(rows):
    """The goals of docs/performance.md, evaluated on this run."""
    out = []
    by = {(r["metric"], r["workers"]): r for r in rows}
    for workers in P["workers"]:
        for wl, metric in (("w1", "w1 keep-alive POST  req/s"), ("w2", "w2 routed by model req/s *")):
            r = by.get((metric, workers))
            if not r or r["modelgate"] is None:
                continue
            best = max((r[o] for o in ("nginx", "haproxy") if r[o] is not None), default=None)
            if best:
                out.append({"target": f"{wl} req/s >= max(nginx, haproxy)", "workers": workers,
                            "modelgate": r["modelgate"], "best_other": best, "met": r["modelgate"] >= best,
                            "ratio": r["modelgate"] / best})
            p99 = by.get((f"{wl} latency p99 ms", workers))
            if p99 and p99["modelgate"] is not None:
                others = [p99[o] for o in ("nginx", "haproxy") if p99[o] is not None]
                if others:
                    best = min(others)
                    out.append({"target": f"{wl} p99 <= min(nginx, haproxy)", "workers": workers,
                                "modelgate": p99["modelgate"], "best_other": best,
                                "met": p99["modelgate"] <= best, "ratio": p99["modelgate"] / best})
        r = by.get(("w3 added delay p99 us", workers))
        if r and r["modelgate"] is not None:
            # A difference of percentiles resolves 100 us only if the baseline's own p99 is below
            # that: on a busy machine the direct run's scheduling noise is milliseconds.
            base = by.get(("w3 SSE chunk delay p99 us **", workers), {}).get("direct")
            t = {"target": "w3 added chunk delay p99 < 100 us", "workers": workers,
                 "modelgate": r["modelgate"], "met": r["modelgate"] < 100, "baseline_p99_us": base}
            if base is None or base > 100:
                t["met"] = None
                t["note"] = f"not measurable on this run: the direct baseline's p99 is {fmt_num(base)} us"
            out.append(t)
        r = by.get(("w4 RSS per idle conn KiB", workers))
        if r and r["modelgate"] is not None:
            out.append({"target": "w4 < 10 KiB per idle connection", "workers": workers,
                        "modelgate": r["modelgate"], "met": r["modelgate"] < 10})
        keyed, plain = by.get(("w6 CPU s / 10k req", workers)), by.get(("w1 CPU s / 10k req", workers))
        if keyed and plain and keyed["modelgate"] is not None and plain["modelgate"]:
            ratio = keyed["modelgate"] / plain["modelgate"]
            out.append({"target": "w6 keyed CPU per request <= 1.10 x w1's", "workers": workers,
                        "modelgate": keyed["modelgate"], "best_other": plain["modelgate"], "met": ratio <= 1.10,
                        "ratio": ratio})
    return out


def bar_chart(png, title, layout, size, plots, name="chart"):
    """Panels of clustered bars, drawn by gnuplot: `plots` are the panels' gnuplot commands (title
    and plot over data files). Records a problem and returns False when no chart could be drawn."""
    gnuplot = shutil.which("gnuplot")
    if not gnuplot:
        problems.append("gnuplot not found: no chart (install gnuplot-nox)")
        return False
    term = f"pngcairo size {size} font 'sans,10'"
    probe = subprocess.run([gnuplot, "-e", "set terminal pngcairo"], capture_output=True, text=True)
    if probe.returncode != 0 or probe.stderr.strip():
        term = f"png size {size}"
    script = (f"set terminal {term} noenhanced\nset output '{png}'\nset datafile missing '?'\n"
              "set style data histogram\nset style histogram cluster gap 1\nset style fill solid 0.85 border -1\n"
              "set boxwidth 0.9\nset key top left font ',8'\nset grid ytics\nset yrange [0:*]\nset key autotitle columnhead\n"
              f"set multiplot layout {layout} title \"{title} ({time.strftime('%Y-%m-%d %H:%M')}"
              f"{', quick run' if QUICK else ''})\"\n" + "".join(plots) + "unset multiplot\n")
    sp = os.path.join(TMP, f"{name}.gp")
    with open(sp, "w") as f:
        f.write(script)
    r = subprocess.run([gnuplot, sp], capture_output=True, text=True)
    if r.returncode != 0 or not os.path.exists(png):
        problems.append(f"gnuplot failed: {r.stderr.strip()[:300]}")
        return False
    return True


def chart(rows, png):
    """Six panels, one bar per target per worker count."""
    panels = [
        ("w1 keep-alive POST  req/s", "w1: keep-alive POST, req/s (higher is better)"),
        ("w2 routed by model req/s *", "w2: routed by model, req/s (nginx: by header)"),
        ("w5 no keep-alive req/s", "w5: new connection per request, req/s"),
        ("w1 latency p99 ms", "w1: latency p99, ms (lower is better)"),
        ("w3 SSE chunk delay p99 us **", "w3: SSE chunk delay p99, us (direct = baseline)"),
        ("w4 RSS per idle conn KiB", "w4: RSS per idle connection, KiB"),
    ]
    d = os.path.join(TMP, "chart")
    os.makedirs(d, exist_ok=True)
    plots = []
    for i, (metric, title) in enumerate(panels):
        data = [r for r in rows if r["metric"] == metric]
        if not data:
            continue
        path = os.path.join(d, f"p{i}.dat")
        with open(path, "w") as f:
            f.write("workers " + " ".join(TARGETS) + "\n")
            for r in data:
                f.write(f"\"{r['workers']} worker{'s' if r['workers'] > 1 else ''}\" " +
                        " ".join("?" if r[t] is None else f"{r[t]:.4f}" for t in TARGETS) + "\n")
        plots.append(f"set title \"{title}\"\n"
                     f"plot '{path}' using 2:xtic(1) title 'direct' lc rgb '#999999', "
                     f"'' using 3 title 'modelgate' lc rgb '#d62728', "
                     f"'' using 4 title 'nginx' lc rgb '#2ca02c', '' using 5 title 'haproxy' lc rgb '#1f77b4'\n")
    return bar_chart(png, "modelgate vs nginx vs HAProxy", "2,3", "1500,900", plots)


def print_targets(targets):
    for t in targets:
        extra = f" (ratio {t['ratio']:.2f})" if "ratio" in t else f" ({fmt_num(t['modelgate'])})"
        verdict = {True: "MET    ", False: "NOT MET", None: "UNKNOWN"}[t["met"]]
        print(f"target {verdict} {t['target']}, {t['workers']} worker(s){extra}" +
              (f"; {t['note']}" if t.get("note") else ""))


def report(path):
    """Re-renders the table, targets and chart of a results file (after a change of this script's
    evaluation, without measuring again): `bench/run.py --report bench/results/latest.json`."""
    with open(path) as f:
        doc = json.load(f)
    P.update({k: doc["params"][k] for k in ("workers", "workloads", "proxies")})
    rows = build_table(doc["results"])
    doc["table"], doc["targets"], doc["table_text"] = rows, targets_summary(rows), render_table(rows)
    with open(path, "w") as f:
        json.dump(doc, f, indent=1)
        f.write("\n")
    png = os.path.join(os.path.dirname(os.path.abspath(path)), "latest.png")
    if os.path.basename(path) == "latest.json":
        chart(rows, png)
    print(doc["table_text"] + "\n")
    print_targets(doc["targets"])
    return 0


def machine_info():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
            cpu = m.group(1) if m else cpu
    except OSError:
        pass

    def version(argv, pattern):
        try:
            r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
            m = re.search(pattern, r.stdout + r.stderr)
            return m.group(1) if m else None
        except OSError:
            return None

    def git(*args):
        try:
            return subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True, timeout=10).stdout.strip()
        except OSError:
            return None

    return {
        "nproc": os.cpu_count(), "cpu": cpu, "kernel": platform.release(),
        "os": (lambda: open("/etc/debian_version").read().strip())() if os.path.exists("/etc/debian_version") else None,
        "nginx": version(["nginx", "-v"], r"nginx/(\S+)"),
        "haproxy": version(["haproxy", "-v"], r"version (\S+)"),
        "wrk": version(["wrk", "-v"], r"wrk (\S+)"),
        "modelgate_commit": git("rev-parse", "--short", "HEAD"),
        "modelgate_tree_dirty": bool(git("status", "--porcelain", "--untracked-files=no", "src")),
        "modelgate_bin": MODELGATE,
        "modelgate_bin_mtime": datetime.datetime.fromtimestamp(os.path.getmtime(MODELGATE)).isoformat(
            timespec="seconds") if os.path.exists(MODELGATE) else None,
    }


def main():
    started = time.time()
    for tool in ("wrk", "nginx", "haproxy"):
        if not shutil.which(tool):
            raise SetupError(f"{tool} is not installed (WITH_BENCH=1 ./scripts/install-deps.sh installs it)")
    for path, what in ((MODELGATE, "MODELGATE_BIN"), (STREAM_CLIENT, "STREAM_CLIENT_BIN")):
        if not os.access(path, os.X_OK):
            raise SetupError(f"{path} is not an executable ({what})")
    nofile = raise_nofile()
    # HAProxy reserves two descriptors per connection (maxconn) and refuses to start beyond the
    # file limit, which only root with CAP_SYS_RESOURCE can raise: fit w4 under it, for everyone.
    fit = (nofile - 64) // 2 - 400
    if P["idle_connections"] > fit:
        log(f"file limit is {nofile}: w4 opens {fit} idle connections instead of {P['idle_connections']}")
        P["idle_connections_wanted"] = P["idle_connections"]
        P["idle_connections"] = max(100, fit)
    P["nofile"] = nofile
    P["nice"] = os.nice(0)
    machine = machine_info()
    machine["loadavg_before"] = os.getloadavg()
    log(f"{'quick' if QUICK else 'full'} run: proxies {P['proxies']}, workers {P['workers']}, "
        f"workloads {P['workloads']}, {P['duration_s']} s per wrk run; scratch {TMP}")

    backends = Backends()
    results = {str(w): {wl: {} for wl in WORKLOADS_ALL} for w in P["workers"]}
    for i, w in enumerate(P["workers"]):
        measure_block(w, backends, results[str(w)], first=i == 0)
        if i > 0 and "direct" in results[str(P["workers"][0])]["w4"]:
            results[str(w)]["w4"]["direct"] = results[str(P["workers"][0])]["w4"]["direct"]
    stop_all()

    machine["loadavg_after"] = os.getloadavg()
    rows = build_table(results)
    table = render_table(rows)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    os.makedirs(RESULTS_DIR, exist_ok=True)
    png = os.path.join(RESULTS_DIR, "latest.png")
    chart(rows, png)
    doc = {"timestamp": datetime.datetime.now().isoformat(timespec="seconds"), "elapsed_s": round(time.time() - started),
           "ok": not problems, "problems": problems, "machine": machine, "params": P, "results": results,
           "table": rows, "targets": targets_summary(rows), "table_text": table}
    for name in (f"{stamp}.json", "latest.json"):
        with open(os.path.join(RESULTS_DIR, name), "w") as f:
            json.dump(doc, f, indent=1)
            f.write("\n")
    print(table)
    print()
    print_targets(doc["targets"])
    print(f"\nresults: {os.path.join(RESULTS_DIR, stamp + '.json')} (and latest.json, latest.png); "
          f"{round(time.time() - started)} s; load average {machine['loadavg_before'][0]:.1f} → "
          f"{machine['loadavg_after'][0]:.1f}")
    if problems:
        print("\nproblems:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    return 0


SYSCALLS = ["read", "write", "readv", "writev", "recvfrom", "sendto", "recvmsg", "sendmsg", "epoll_wait",
            "epoll_pwait", "epoll_ctl", "accept4", "connect", "close", "shutdown", "setsockopt", "getsockopt",
            "getsockname", "getpeername", "ioctl", "futex", "timerfd_settime", "eventfd2"]


def syscall_census(kind, backends, workload):
    """System calls per request of one proxy (one worker) under w1 or w2, by perf stat on the
    syscall tracepoints."""
    px = Proxy(kind, 1, backends, "census")
    try:
        listener, models = ("routed", P["models"]) if workload == "w2" else ("plain", ["m-a"])
        wrk(px.url(listener), models, 1, P["connections"], label=f"census {kind} warmup")
        d = 5
        events = ",".join(["raw_syscalls:sys_enter"] + [f"syscalls:sys_enter_{n}" for n in SYSCALLS])
        csv = os.path.join(TMP, f"census-{kind}.csv")
        perf = subprocess.Popen(["perf", "stat", "-x", ",", "-o", csv, "-e", events, "-p",
                                 ",".join(map(str, px.pids)), "--", "sleep", str(d + 0.5)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.2)
        s = wrk(px.url(listener), models, d, P["connections"], label=f"census {kind}")
        perf.wait()
    finally:
        px.close()
    counts = {}
    with open(csv) as f:
        for line in f:
            parts = line.strip().split(",")
            if len(parts) > 2 and parts[0].replace(".", "").isdigit():
                name = parts[2].split(":")[-1].replace("sys_enter_", "")
                counts["total" if name == "sys_enter" else name] = float(parts[0])
    n = s["requests"] if s else 0
    return {k: v / n for k, v in counts.items()} if n else {}


def profile(workload):
    """perf profile of modelgate (one worker) under one workload; the report goes to
    $BENCH_RESULTS_DIR/profile-<workload>.txt. `./bench/run.sh --profile w1|w2|w3`."""
    if not shutil.which("perf"):
        raise SetupError("perf is not installed (Debian: linux-perf)")
    raise_nofile()
    backends = Backends()
    census = {}
    if workload in ("w1", "w2"):
        for kind in PROXIES_ALL:
            log(f"{kind}: system calls per request under {workload}")
            census[kind] = syscall_census(kind, backends, workload)
    log(f"modelgate: perf record under {workload}")
    px = Proxy("modelgate", 1, backends, "profile")
    d = max(P["duration_s"], 5)
    data = os.path.join(TMP, "perf.data")
    perf = subprocess.Popen(["perf", "record", "-e", "cpu-clock", "-F", "999", "--call-graph", "dwarf,8192",
                             "-o", data, "-p", str(px.proc.pid), "--", "sleep", str(d)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.3)
    try:
        if workload == "w3":
            stream_run(px.ports["stream"], px.pids, "profile w3")
        else:
            listener, models = ("routed", P["models"]) if workload == "w2" else ("plain", ["m-a"])
            s = wrk(px.url(listener), models, d, P["connections"], pids=px.pids, label=f"profile {workload}")
            log(f"{workload} under perf: {s and round(s['rps'])} req/s")
    finally:
        perf.wait()
        px.close()
        stop_all()
    os.makedirs(RESULTS_DIR, exist_ok=True)
    census_text = ""
    if census:
        names = ["total"] + [n for n in SYSCALLS if any(c.get(n, 0) >= 0.01 for c in census.values())]
        census_text = (f"## system calls per request ({workload}, 1 worker, perf stat on syscall tracepoints)\n"
                       + f"  {'':16}" + "".join(f"{k:>11}" for k in census) + "\n")
        for n in names:
            census_text += f"  {n:16}" + "".join(f"{c.get(n, 0):11.2f}" for c in census.values()) + "\n"
        census_text += "\n"
    out = os.path.join(RESULTS_DIR, f"profile-{workload}.txt")
    def report(*args, keep=None):
        r = subprocess.run(["perf", "report", "-i", data, "--stdio", "-g", "none", *args],
                           capture_output=True, text=True)
        rows = []
        for line in r.stdout.splitlines():
            if not line.strip() or line.startswith("#"):
                continue
            line = re.sub(r"\s+-\s+-\s*$", "", line).rstrip()  # the empty IPC columns
            if keep and not re.search(keep, line):
                continue
            rows.append(line)
        return rows

    flat = report("--no-children", "--sort", "dso,symbol", "--percent-limit", "0")
    categories = [  # first match wins
        ("kernel (TCP, epoll, syscalls)", r"\[kernel|\[k\]"),
        ("malloc / free / new / delete", r"malloc|free|_int_|unlink_chunk|tcache|operator new|operator delete|cfree"),
        ("mutexes", r"pthread_mutex|futex|__lll_"),
        ("timers and clock (expires_after, clock_gettime)", r"clock_gettime|expires|timer_queue|timer_"),
        ("HTTP/1.1 parsing (modelgate's http1 parser)", r"modelgate::proxy::http1::"),
        ("Asio async machinery (handlers, executors, coroutine frames)", r"boost::(asio|beast)|awaitable"),
        ("modelgate's own code", r"modelgate::"),
        ("libc other (memcpy, syscall wrappers)", r"libc"),
        ("other", r"."),
    ]
    totals = {name: 0.0 for name, _ in categories}
    for line in flat:
        m = re.match(r"\s*([\d.]+)%", line)
        if not m:
            continue
        for name, rx in categories:
            if re.search(rx, line):
                totals[name] += float(m.group(1))
                break
    with open(out, "w") as f:
        f.write(f"# perf record -e cpu-clock -F 999 --call-graph dwarf; modelgate serve --workers 1; "
                f"workload {workload}; {time.strftime('%Y-%m-%d %H:%M')}\n\n")
        f.write(census_text)
        f.write("## modelgate self time by category\n")
        for name, _ in categories:
            f.write(f"  {totals[name]:5.1f}%  {name}\n")
        f.write("\n## self time, symbols above 0.7%\n")
        for line in flat:
            m = re.match(r"\s*([\d.]+)%", line)
            if m and float(m.group(1)) >= 0.7:
                f.write((line if len(line) <= 160 else line[:157] + "...") + "\n")
        f.write("\n## inclusive time (children, self) of modelgate's functions\n")
        for line in report("--children", "--sort", "symbol", "--percent-limit", "0.5", keep=r"modelgate::"):
            f.write((line if len(line) <= 160 else line[:157] + "...") + "\n")
    print(f"profile: {out}")
    return 0


def _on_signal(sig, frame):
    raise SystemExit(128 + sig)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    try:
        if len(sys.argv) == 3 and sys.argv[1] == "--profile":
            code = profile(sys.argv[2])
        elif len(sys.argv) == 3 and sys.argv[1] == "--report":
            code = report(sys.argv[2])
        else:
            code = main()
    except SetupError as e:
        print(f"bench: {e}", file=sys.stderr)
        code = 2
    finally:
        stop_all()
    sys.exit(code)
