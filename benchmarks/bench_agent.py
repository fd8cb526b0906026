"""Agent benchmark: 16 worker processes with and without ``sekret agent``.

Scenarios (all in one run, same machine):

* Backend requests: 16 worker processes each read the same 100 secrets in
  passes every 50 ms for ``DURATION`` seconds of wall time with a TTL of
  ``TTL`` seconds: 10 minutes of a 300 s TTL, time-scaled by 1/100 (TTL 3 s,
  6 s). Without the agent each worker has its own client over its own
  counting backend; with it, the workers use ``agent://`` (each with its own
  in-process cache, same TTL) and only the agent's backend is counted.
  Backend reads take 1 ms (a simulated service round trip).
* Miss latency: one client reads a secret the agent holds (the worker-side
  miss) 5,000 times; p50/p99 over length-prefixed frames, and over HTTP/1.1
  keep-alive on a second Unix socket served by ``http.server`` answering
  the same request with the same agent code (the alternative protocol).
* Memory: RSS of an agent-shaped process before and after its cache holds
  10,000 secrets of 64 bytes each (memory:// store filled first).

Run: ``.venv/bin/python benchmarks/bench_agent.py`` (about 30 s). Writes
docs/benchmarks/agent.md. Wall-clock numbers; the tests never assert on them.
"""

from __future__ import annotations

import http.client
import json
import multiprocessing as mp
import os
import platform
import shutil
import socket
import socketserver
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

from sekret import Secrets, SecretValue
from sekret._values import Secret
from sekret.agent import AgentConfig, AgentServer
from sekret.agent import protocol as wire
from sekret.backends.agent import AgentBackend
from sekret.backends.base import Backend
from sekret.backends.memory import MemoryBackend
from sekret.cache import CachePolicy

OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "agent.md"
WORKERS = 16
SECRETS = 100
TTL = 3.0
DURATION = 6.0
LATENCY = 0.001
APP, ENV = "arrwdb", "production"


class CountingBackend(Backend):
    """memory:// with a 1 ms pause per read and a count of backend reads."""

    def __init__(self, inner: MemoryBackend) -> None:
        self.inner = inner
        self.capabilities = inner.capabilities
        self.reads = 0
        self._lock = threading.Lock()

    def describe(self) -> str:
        return "counting+memory://"

    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        with self._lock:
            self.reads += 1
        time.sleep(LATENCY)
        return self.inner.read(name, version=version, stage=stage)


def _seeded(count: int, size: int = 32) -> MemoryBackend:
    store = MemoryBackend()
    for i in range(count):
        store.write(f"{APP}/{ENV}/s{i:05d}", SecretValue.of(os.urandom(size // 2).hex()))
    return store


def _policy() -> CachePolicy:
    return CachePolicy(ttl=TTL, max_stale=60, jitter=0.1)


def _worker(url: str | None, ready: Any, results: Any) -> None:
    """One worker process: passes over every secret until DURATION has passed."""
    backend: Backend
    counting = None
    if url is None:
        counting = CountingBackend(_seeded(SECRETS))
        backend = counting
    else:
        backend = AgentBackend.from_url(url)
    names = [f"s{i:05d}" for i in range(SECRETS)]
    with Secrets(backend, app=APP, environment=ENV, cache=_policy()) as client:
        ready.wait()  # every worker has started: run for DURATION from now
        end = time.monotonic() + DURATION
        cold = -1
        while time.monotonic() < end:
            for name in names:
                client.get(name)
            if cold < 0:  # the first pass filled the cache: the cold start
                cold = counting.reads if counting is not None else 0
            time.sleep(0.05)
    backend.close()
    results.put((cold, counting.reads if counting is not None else 0))


def _run_workers(url: str | None, cold_probe: Any = None) -> tuple[int, int]:
    """Run the workers; (backend reads after every worker's first pass, in all).

    ``cold_probe`` (with the agent) reads the agent's count once the workers'
    first passes are done; without the agent each worker reports its own.
    """
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    ready = ctx.Barrier(WORKERS + 1)  # spawned interpreters take seconds to import
    procs = [ctx.Process(target=_worker, args=(url, ready, results)) for _ in range(WORKERS)]
    for p in procs:
        p.start()
    ready.wait()
    cold_seen = None
    if cold_probe is not None:
        time.sleep(TTL / 2)  # after the first passes, before the first refresh (at 80% TTL)
        cold_seen = cold_probe()
    got = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join()
    cold = cold_seen if cold_seen is not None else sum(c for c, _ in got)
    return int(cold), int(sum(t for _, t in got))


def _agent(folder: Path, backend: Backend) -> tuple[AgentServer, threading.Thread]:
    def build() -> Secrets:
        return Secrets(backend, app=APP, environment=ENV, cache=_policy())

    server = AgentServer(AgentConfig(folder / "agent.sock"), build)
    server.bind()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


# -- the HTTP alternative, served by the same AgentServer.handle ------------------------
class _UnixHTTP(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True
    agent: AgentServer


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _UnixHTTP

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        answer = json.dumps(self.server.agent.handle(json.loads(body))).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        return

    def address_string(self) -> str:
        return "unix"


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def _percentiles(samples: Sequence[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]


def _miss_latency(server: AgentServer, folder: Path) -> dict[str, tuple[float, float]]:
    name = f"{APP}/{ENV}/s00000"
    frames = AgentBackend(str(server.config.socket_path))
    frames.read(name)
    http_path = str(folder / "http.sock")
    httpd = _UnixHTTP(http_path, _Handler)
    httpd.agent = server
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    conn = _UnixConnection(http_path)
    body = json.dumps({"v": wire.VERSION, "op": "read", "name": name}).encode()

    def over_http() -> None:
        conn.request("POST", "/v1", body, {"Content-Type": "application/json"})
        answer = json.loads(conn.getresponse().read())
        wire.secret_from_wire(answer["secret"])

    def over_frames() -> None:
        frames.read(name)

    out: dict[str, list[float]] = {"frames": [], "http": []}
    for _ in range(5):  # rounds, alternating, so both see the same machine state
        for label, fn in (("frames", over_frames), ("http", over_http)):
            for _ in range(1000):
                t0 = time.perf_counter()
                fn()
                out[label].append(time.perf_counter() - t0)
    httpd.shutdown()
    frames.close()
    return {k: _percentiles(v) for k, v in out.items()}


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _memory_child(results: Any) -> None:
    store = _seeded(10_000, size=64)
    policy = CachePolicy(ttl=300, max_size=20_000)
    with Secrets(store, app=APP, environment=ENV, cache=policy) as client:
        before = _rss_kib()
        names = [f"s{i:05d}" for i in range(10_000)]
        for name in names:
            client.get_secret(name)
        after = _rss_kib()
        assert client.cache is not None
        results.put((before, after, client.cache.stats().entries))


def _memory() -> tuple[int, int, int]:
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    proc = ctx.Process(target=_memory_child, args=(results,))
    proc.start()
    got = results.get(timeout=120)
    proc.join()
    return got


def _hit_overhead() -> tuple[float, float]:
    """ns per cache-hit ``get`` without and with ``sekret.metrics.instrument`` (best of 9)."""
    import timeit

    from sekret.metrics import Metrics, instrument

    plain = Secrets("memory://", app=APP, environment=ENV)
    metered = Secrets("memory://", app=APP, environment=ENV)
    instrument(metered, Metrics())
    for client in (plain, metered):
        client.put("db", "x" * 32)
        client.get("db")
    best = {"plain": float("inf"), "metered": float("inf")}
    for _ in range(9):  # rounds take turns so both see the same machine state
        for label, client in (("plain", plain), ("metered", metered)):
            t = timeit.timeit(lambda c=client: c.get("db"), number=200_000)  # type: ignore[misc]
            best[label] = min(best[label], t / 200_000 * 1e9)
    return best["plain"], best["metered"]


def main() -> None:
    folder = Path(tempfile.mkdtemp(prefix="sb-", dir="/tmp"))
    try:
        without_cold, without = _run_workers(None)
        counting = CountingBackend(_seeded(SECRETS))
        server, thread = _agent(folder, counting)
        agent_url = f"agent://{server.config.socket_path}"
        agent_cold, _ = _run_workers(agent_url, lambda: counting.reads)  # workers count nothing
        agent_reads = counting.reads
        latency = _miss_latency(server, folder)
        server.stop()
        thread.join(10)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    before, after, entries = _memory()
    hit_off, hit_on = _hit_overhead()
    fills = 1 + int(DURATION / TTL)  # the cold read, then one refresh per TTL period
    lines = [
        "### Agent (`benchmarks/bench_agent.py`)",
        "",
        f"Python {platform.python_version()}, {os.cpu_count()} cores;"
        f" {WORKERS} worker processes x {SECRETS} secrets; TTL {TTL:g} s over {DURATION:g} s"
        " (10 minutes of a 300 s TTL scaled by 1/100); backend reads take 1 ms.",
        "",
        "#### Backend requests",
        "",
        f"| setup | cold start | steady state ({fills - 1} refreshes) | in all |"
        f" per secret per fill ({fills} fills) |",
        "|---|---:|---:|---:|---:|",
        f"| without agent (16 clients) | {without_cold} | {without - without_cold} | {without} |"
        f" {without / SECRETS / fills:.1f} |",
        f"| with `sekret agent` | {agent_cold} | {agent_reads - agent_cold} | {agent_reads} |"
        f" {agent_reads / SECRETS / fills:.1f} |",
        "",
        "#### A worker's miss answered by the agent (5,000 reads each)",
        "",
        "| protocol | p50 | p99 |",
        "|---|---:|---:|",
    ]
    for label, title in (("frames", "length-prefixed frames (chosen)"), ("http", "HTTP/1.1")):
        p50, p99 = latency[label]
        lines.append(f"| {title} | {p50 * 1e6:.0f} µs | {p99 * 1e6:.0f} µs |")
    lines += [
        "",
        "#### Agent memory",
        "",
        "| cached secrets | RSS before | RSS after | per secret |",
        "|---:|---:|---:|---:|",
        f"| {entries:,} | {before / 1024:.1f} MiB | {after / 1024:.1f} MiB |"
        f" {(after - before) * 1024 / max(entries, 1):.0f} B |",
        "",
        "#### Metrics overhead on a cache hit (`Secrets.get`, best of 9 x 200,000)",
        "",
        "| metrics | per get |",
        "|---|---:|",
        f"| off | {hit_off:.0f} ns |",
        f"| on (`sekret.metrics.instrument`) | {hit_on:.0f} ns"
        f" ({(hit_on / hit_off - 1) * 100:+.1f} %) |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)


if __name__ == "__main__":
    sys.exit(main())
