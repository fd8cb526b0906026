"""The agent's metrics, and the Prometheus text endpoint (``--metrics HOST:PORT``).

``AgentMetrics`` keeps plain counters and one latency histogram under a lock
taken once per request (the agent's requests already cost a socket round
trip; the in-process hit path of clients is untouched). ``render`` writes
the Prometheus text exposition format (version 0.0.4); ``serve_metrics``
serves it with the standard library's ``http.server`` on a loopback address.

Metric names (all prefixed ``sekret_agent_``) are listed in
docs/observability.md. Labels carry operations, outcomes and error codes,
never a secret value (and no secret names: their number is unbounded).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Final

from sekret.metrics import add_observation, prom_labels

__all__ = ["AGENT_METRICS", "BUCKETS", "AgentMetrics", "serve_metrics"]

BUCKETS: Final = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1.0, 5.0)
"""Request duration histogram bounds, seconds."""

AGENT_METRICS: Final = {
    "requests_total": (
        "counter",
        "Requests answered, by operation and outcome.",
    ),
    "request_seconds": ("histogram", "Time to answer one request, by operation."),
    "cache_hits_total": ("counter", "Reads the agent's cache answered without a backend call."),
    "cache_misses_total": ("counter", "Reads that needed a backend call."),
    "refused_total": ("counter", "Connections refused by the peer-credential check."),
    "reloads_total": ("counter", "Configuration reloads (SIGHUP) that took effect."),
    "cache_entries": ("gauge", "Entries in the agent's cache."),
    "flights_in_progress": ("gauge", "Backend reads in flight."),
}


class AgentMetrics:
    """Counters and a request histogram; ``render()`` is the Prometheus text."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
        self._buckets: dict[str, list[float]] = {}  # per bound, +Inf, then the sum
        self.gauges: Callable[[], dict[str, float]] | None = None

    def count(self, name: str, amount: float = 1, **labels: str) -> None:
        key = (name + "_total", tuple(sorted(labels.items())))
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + amount

    def request(self, op: str, outcome: str, seconds: float) -> None:
        """One answered request: the counter by outcome and the duration histogram."""
        key = ("requests_total", (("op", op), ("outcome", outcome)))
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + 1
            slot = self._buckets.get(op)
            if slot is None:
                slot = self._buckets[op] = [0.0] * (len(BUCKETS) + 2)
            add_observation(slot, BUCKETS, seconds)

    def value(self, name: str, **labels: str) -> float:
        """A counter's value (tests and the benchmark read it)."""
        with self._lock:
            return self._counters.get((name, tuple(sorted(labels.items()))), 0)

    def render(self) -> str:
        """The Prometheus text exposition of every metric."""
        lines: list[str] = []
        with self._lock:
            counters = dict(self._counters)
            buckets = {op: list(c) for op, c in self._buckets.items()}
        gauges = self.gauges() if self.gauges is not None else {}
        seen: set[str] = set()

        def head(name: str) -> None:
            if name not in seen:
                seen.add(name)
                kind, text = AGENT_METRICS.get(name, ("untyped", name))
                lines.append(f"# HELP sekret_agent_{name} {text}")
                lines.append(f"# TYPE sekret_agent_{name} {kind}")

        for (name, labels), value in sorted(counters.items()):
            head(name)
            lines.append(f"sekret_agent_{name}{prom_labels(labels)} {value:g}")
        for op, counts in sorted(buckets.items()):
            head("request_seconds")
            running = 0
            for bound, n in zip((*BUCKETS, float("inf")), counts[:-1], strict=True):
                running += int(n)
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                lines.append(
                    f"sekret_agent_request_seconds_bucket{prom_labels((('op', op), ('le', le)))}"
                    f" {running}"
                )
            by_op = prom_labels((("op", op),))
            lines.append(f"sekret_agent_request_seconds_sum{by_op} {counts[-1]:g}")
            lines.append(f"sekret_agent_request_seconds_count{by_op} {running}")
        for name, value in sorted(gauges.items()):
            head(name)
            lines.append(f"sekret_agent_{name} {value:g}")
        return "\n".join(lines) + "\n"


def serve_metrics(render: Callable[[], str], host: str, port: int) -> ThreadingHTTPServer:
    """Serve ``render()`` at ``/metrics`` on ``host:port`` in a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server calls it by this name
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            body = render().encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return  # scrapes are not worth a log line each

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="sekret-agent-metrics")
    thread.daemon = True
    thread.start()
    return server
