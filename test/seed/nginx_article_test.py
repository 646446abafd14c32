"""The nginx article's scenario (shared/seeds/002_*) with modelgate in nginx's place.

The article balances two Python `http.server` backends, load-tests them with `ab` and calls them
with a `requests` client and an `aiohttp` client. Those backends are HTTP/1.0 servers of the
plainest kind: one connection at a time, a listen backlog of 5, answers without Content-Length,
the connection closed after each answer, and a request body read by its Content-Length only. The
same backends, clients and `ab` settings run here against the gateway: every request must succeed
and the two backends must share the load.

Run by ctest with the Debian Python (python3-requests, python3-aiohttp); MODELGATE_BIN names the
gateway binary.
"""

import asyncio
import json
import os
import re
import shutil
import subprocess
import tempfile
import threading
import unittest
from http.server import BaseHTTPRequestHandler, HTTPServer

import aiohttp
import requests

MODELGATE_BIN = os.environ.get("MODELGATE_BIN", "build/modelgate")
AB = shutil.which("ab") or "/usr/bin/ab"


class ArticleHandler(BaseHTTPRequestHandler):
    """The article's MultiAPIHandler (POST /chat, /completions) and DebugRequestHandler (GET)."""

    def log_message(self, *args):
        pass

    def send_json_response(self, data, status=200):
        self.send_response(status)
        self.send_header("Content-type", "application/json")
        self.end_headers()
        self.wfile.write(json.dumps(data).encode("utf-8"))

    def do_GET(self):
        self.server.count(self.path)
        self.send_response(200)
        self.send_header("Content-type", "text/plain")
        self.end_headers()
        self.wfile.write(f"响应来自:{self.server.server_port}".encode())

    def do_POST(self):
        self.server.count(self.path)
        try:
            content_length = int(self.headers["Content-Length"])
            post_data = self.rfile.read(content_length).decode("utf-8")
            if self.path == "/chat":
                message = json.loads(post_data).get("message", "")
                self.send_json_response({"original": message,
                                         "response": f"Processed by chat API: {message.upper()}",
                                         "server": self.server.server_port})
            elif self.path == "/completions":
                self.send_json_response({"completions": [
                    {"text": f"Completion 1: {post_data[:5]}...", "index": 0},
                    {"text": f"Completion 2: {post_data[-5:]}...", "index": 1}],
                    "server": self.server.server_port})
            else:
                self.send_error(404, "API not found")
        except Exception as e:  # the article answers every failure with a 400
            self.send_json_response({"error": str(e), "server": self.server.server_port}, 400)


class ArticleServer(HTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), ArticleHandler)
        self.lock = threading.Lock()
        self.requests = {}

    def count(self, path):
        with self.lock:
            self.requests[path] = self.requests.get(path, 0) + 1

    def served(self, path):
        with self.lock:
            return self.requests.get(path, 0)


class Gateway:
    def __init__(self, yaml):
        self.dir = tempfile.mkdtemp(prefix="modelgate-seed-")
        config = os.path.join(self.dir, "modelgate.yaml")
        with open(config, "w") as f:
            f.write(yaml)
        self.proc = subprocess.Popen([MODELGATE_BIN, "serve", "--config", config, "--workers", "2"],
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.output = []
        self.port = None
        for line in self.proc.stdout:
            self.output.append(line)
            m = re.search(r"entry point web listening on \S+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
            if "modelgate: ready" in line:
                break
        if self.port is None:
            self.stop()
            raise RuntimeError("gateway did not start:\n" + "".join(self.output))
        # Keep draining its output so it never blocks on a full pipe.
        threading.Thread(target=lambda: [self.output.append(l) for l in self.proc.stdout],
                         daemon=True).start()

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.dir, ignore_errors=True)


def ab(*args):
    """Runs ab; returns (complete, failed, non_2xx) from its report."""
    out = subprocess.run([AB, "-q", "-s", "20", *args], capture_output=True, text=True, timeout=120)
    if out.returncode != 0:
        raise AssertionError(f"ab {' '.join(args)} exited {out.returncode}:\n{out.stdout}{out.stderr}")
    complete = int(re.search(r"Complete requests:\s+(\d+)", out.stdout).group(1))
    failed = int(re.search(r"Failed requests:\s+(\d+)", out.stdout).group(1))
    non2xx = re.search(r"Non-2xx responses:\s+(\d+)", out.stdout)
    return complete, failed, int(non2xx.group(1)) if non2xx else 0, out.stdout


class NginxArticle(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.backends = [ArticleServer(), ArticleServer()]
        for b in cls.backends:
            threading.Thread(target=b.serve_forever, daemon=True).start()
        servers = "\n".join(f"          - url: http://127.0.0.1:{b.server_port}" for b in cls.backends)
        cls.gateway = Gateway(f"""
entryPoints:
  web:
    address: "127.0.0.1:0"
http:
  routers:
    all:
      rule: "PathPrefix(`/`)"
      service: backends
  services:
    backends:
      loadBalancer:
        servers:
{servers}
""")
        cls.base = f"http://127.0.0.1:{cls.gateway.port}"
        with tempfile.NamedTemporaryFile("w", delete=False, suffix=".json") as f:
            json.dump({"message": "Hello, this is a test message"}, f)
            cls.json_data = f.name
        with tempfile.NamedTemporaryFile("w", delete=False, suffix=".txt", encoding="utf-8") as f:
            f.write("你好,我是一个智能助手!")
            cls.text = f.name

    @classmethod
    def tearDownClass(cls):
        cls.gateway.stop()
        for b in cls.backends:
            b.shutdown()
            b.server_close()
        os.unlink(cls.json_data)
        os.unlink(cls.text)

    def assert_balanced(self, path, total):
        counts = [b.served(path) for b in self.backends]
        self.assertEqual(sum(counts), total, f"{path}: backends saw {counts}")
        for c in counts:  # round robin: an even split, give or take the two workers' cursors
            self.assertGreaterEqual(c, total * 0.4, f"{path} unbalanced: {counts}")

    def test_ab_get(self):
        complete, failed, non2xx, report = ab("-n", "1000", "-c", "10", self.base + "/")
        self.assertEqual((complete, failed, non2xx), (1000, 0, 0), report)
        self.assert_balanced("/", 1000)

    def test_ab_post_chat_and_completions(self):
        complete, failed, non2xx, report = ab("-n", "500", "-c", "50", "-T", "application/json",
                                              "-p", self.json_data, self.base + "/chat")
        self.assertEqual((complete, failed, non2xx), (500, 0, 0), report)
        self.assert_balanced("/chat", 500)
        complete, failed, non2xx, report = ab("-n", "500", "-c", "50", "-T", "text/plain",
                                              "-p", self.text, self.base + "/completions")
        self.assertEqual((complete, failed, non2xx), (500, 0, 0), report)
        self.assert_balanced("/completions", 500)

    def test_ab_keep_alive(self):
        # ab -k: HTTP/1.0 with Connection: keep-alive. These backends answer without a length
        # (the body ends when they close), and an HTTP/1.0 client has no chunked framing, so the
        # gateway must close each client connection after the answer rather than keep it open
        # with a body the client cannot delimit: ab would then wait for its -s timeout and count
        # the request as failed.
        complete, failed, non2xx, report = ab("-k", "-n", "200", "-c", "10", self.base + "/ka")
        self.assertEqual((complete, failed, non2xx), (200, 0, 0), report)
        self.assertRegex(report, r"Keep-Alive requests:\s+0\n")
        self.assert_balanced("/ka", 200)

    def test_requests_client(self):
        ports = set()
        for i in range(10):
            r = requests.post(self.base + "/chat", json={"message": f"Hello, sync chat {i}!"}, timeout=10)
            self.assertEqual(r.status_code, 200)
            body = r.json()
            self.assertEqual(body["response"], f"Processed by chat API: HELLO, SYNC CHAT {i}!")
            ports.add(body["server"])
        r = requests.post(self.base + "/completions", data="test text", timeout=10)
        self.assertEqual(r.json()["completions"][0]["text"], "Completion 1: test ...")
        self.assertEqual(ports, {b.server_port for b in self.backends})

    def test_aiohttp_client(self):
        async def main():
            async with aiohttp.ClientSession() as session:
                async def chat(i):
                    async with session.post(self.base + "/chat", json={"message": f"async {i}"}) as r:
                        return r.status, await r.json()

                async def completions():
                    async with session.post(self.base + "/completions", data="async test text") as r:
                        return r.status, await r.json()

                return await asyncio.gather(*[chat(i) for i in range(20)], completions())

        results = asyncio.run(asyncio.wait_for(main(), 30))
        self.assertTrue(all(status == 200 for status, _ in results), results)
        self.assertEqual(results[0][1]["response"], "Processed by chat API: ASYNC 0")
        self.assertEqual(results[-1][1]["completions"][1]["text"], "Completion 2:  text...")
        self.assertEqual({body["server"] for _, body in results},
                         {b.server_port for b in self.backends})


if __name__ == "__main__":
    unittest.main(verbosity=2)
