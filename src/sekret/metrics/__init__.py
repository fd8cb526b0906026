"""Metrics of sekret clients: counted off the hit path, collected when scraped.

``Metrics`` is a small registry with no dependency. ``instrument(secrets,
metrics)`` attaches it to a client:

* a backend wrapper (``MeteredBackend``, below the cache) times every backend
  call by operation and outcome and counts errors by sekret error code, cache
  misses, refreshes and refresh failures: hits never reach it;
* cache hits are not counted on the hit path at all: ``collect`` reads the
  per-entry hit counts the cache already keeps (for the audit aggregates) and
  adds their growth since the last collection, as the audit drains them;
* the cache's ``on_stale`` hook counts refreshes that failed while the cached
  value kept being served, and ``collect`` reports entries currently stale;
* ``instrument_audit`` counts records each sink accepted and reads the audit
  log's failure count; ``watch_rotation`` reports seconds until each planned
  secret is due and the overdue count (re-read at most every ``every`` s).

Without ``instrument`` nothing here is imported or run: metrics off cost
nothing. Exporters: ``render_prometheus`` (text format 0.0.4, used by
``sekret agent --metrics``), ``sekret.metrics.prometheus.register`` (apps that
run prometheus-client) and ``sekret.metrics.otel.enable`` (the OpenTelemetry
API, extra ``otel``). docs/observability.md lists every metric.

Secret names may appear as labels (rotation only); values never do, and
nothing here ever reads one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:
    from sekret._secrets import Secrets
    from sekret.audit import AuditLog
    from sekret.rotation.schedule import RotationPlan

__all__ = [
    "BUCKETS",
    "METRICS",
    "Metrics",
    "Sample",
    "add_observation",
    "instrument",
    "instrument_audit",
    "prom_labels",
    "watch_rotation",
]

Kind = Literal["counter", "gauge", "histogram"]
Labels = tuple[tuple[str, str], ...]

BUCKETS: Final = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
"""Backend request duration histogram bounds, seconds."""

METRICS: Final[dict[str, tuple[Kind, str]]] = {
    "sekret_cache_hits": ("counter", "Reads answered by the cache."),
    "sekret_cache_misses": ("counter", "Reads the cache sent to the backend (no entry)."),
    "sekret_cache_refreshes": ("counter", "Background re-reads of cached entries."),
    "sekret_cache_refresh_failures": ("counter", "Refreshes that failed."),
    "sekret_cache_stale": ("counter", "Failed refreshes during which the old value was served."),
    "sekret_cache_stale_entries": ("gauge", "Entries being served stale now."),
    "sekret_cache_negative_entries": ("gauge", "Cached not-found answers."),
    "sekret_cache_entries": ("gauge", "Entries in the cache."),
    "sekret_cache_breaker_open": ("gauge", "1 while the circuit breaker fails reads fast."),
    "sekret_backend_request_seconds": ("histogram", "Backend call duration."),
    "sekret_errors": ("counter", "Backend errors by sekret error code."),
    "sekret_audit_records": ("counter", "Audit records a sink accepted."),
    "sekret_audit_sink_failures": ("counter", "Audit records a sink failed to record."),
    "sekret_rotation_seconds_until_due": ("gauge", "Seconds until the secret is due (<0: late)."),
    "sekret_rotation_overdue": ("gauge", "Planned secrets past their rotation date."),
}
"""Every metric: name -> (kind, help). Counters are exported with ``_total``."""


@dataclass(frozen=True, slots=True)
class Sample:
    """One collected series: counters and gauges have ``value``; histograms ``buckets``."""

    name: str
    labels: Labels
    value: float = 0.0
    buckets: tuple[int, ...] = ()  # cumulative counts per BUCKETS bound, then +Inf
    total: float = 0.0  # histogram sum

    @property
    def kind(self) -> Kind:
        return METRICS[self.name][0]


Source = Callable[[], Iterable[Sample]]
Observer = Callable[[str, Labels, float], None]


class Metrics:
    """Counters, gauges and histograms for one or more clients; see the module doc."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, Labels], float] = {}
        self._hist: dict[Labels, list[float]] = {}  # per-bucket counts, then sum
        self._sources: list[tuple[Source, object]] = []
        self._observers: list[Observer] = []

    # -- recording (never on a cache hit) ------------------------------------------
    def count(self, name: str, amount: float = 1, **labels: str) -> None:
        key = (name, tuple(sorted(labels.items())))
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + amount

    def observe(self, seconds: float, **labels: str) -> None:
        """One backend call's duration (``sekret_backend_request_seconds``)."""
        key = tuple(sorted(labels.items()))
        with self._lock:
            slot = self._hist.get(key)
            if slot is None:
                slot = self._hist[key] = [0.0] * (len(BUCKETS) + 2)
            add_observation(slot, BUCKETS, seconds)
        for observer in self._observers:
            observer("sekret_backend_request_seconds", key, seconds)

    def add_source(self, source: Source, owner: object = None) -> None:
        """A callable run by ``collect`` that yields samples (gauges, drained counts)."""
        with self._lock:
            self._sources.append((source, owner))

    def drop_sources(self, owner: object) -> None:
        """Forget the sources added for ``owner`` (a client that was closed)."""
        with self._lock:
            self._sources = [(s, o) for s, o in self._sources if o is not owner]

    def add_observer(self, observer: Observer) -> None:
        """Called with every histogram observation (the OpenTelemetry bridge)."""
        self._observers.append(observer)

    # -- collection -------------------------------------------------------------------
    def collect(self) -> list[Sample]:
        """Every series now: sources run first, so drained counts are included."""
        with self._lock:
            sources = [s for s, _ in self._sources]
        gauges: list[Sample] = []
        for source in sources:
            for sample in source():
                if sample.kind == "counter":
                    self.count(sample.name, sample.value, **dict(sample.labels))
                else:
                    gauges.append(sample)
        with self._lock:
            out = [Sample(n, labels, value) for (n, labels), value in self._counters.items()]
            for labels, slot in self._hist.items():
                running, cumulative = 0, []
                for n in slot[:-1]:
                    running += int(n)
                    cumulative.append(running)
                out.append(
                    Sample("sekret_backend_request_seconds", labels, 0, tuple(cumulative), slot[-1])
                )
        return sorted(out + gauges, key=lambda s: (s.name, s.labels))

    def value(self, name: str, **labels: str) -> float:
        """The collected value of one counter or gauge series (0 when absent)."""
        wanted = tuple(sorted(labels.items()))
        for sample in self.collect():
            if sample.name == name and sample.labels == wanted:
                return sample.value
        return 0.0

    def render_prometheus(self) -> str:
        """The Prometheus text exposition (format 0.0.4) of ``collect()``."""
        lines: list[str] = []
        seen: set[str] = set()
        for s in self.collect():
            kind, text = METRICS[s.name]
            exported = s.name + "_total" if kind == "counter" else s.name
            if s.name not in seen:
                seen.add(s.name)
                lines.append(f"# HELP {exported} {text}")
                lines.append(f"# TYPE {exported} {kind}")
            if kind != "histogram":
                lines.append(f"{exported}{prom_labels(s.labels)} {s.value:g}")
                continue
            bounds = [f"{b:g}" for b in BUCKETS] + ["+Inf"]
            for le, n in zip(bounds, s.buckets, strict=True):
                lines.append(f"{s.name}_bucket{prom_labels((*s.labels, ('le', le)))} {n}")
            lines.append(f"{s.name}_sum{prom_labels(s.labels)} {s.total:g}")
            lines.append(f"{s.name}_count{prom_labels(s.labels)} {s.buckets[-1]}")
        return "\n".join(lines) + "\n" if lines else ""


def add_observation(slot: list[float], bounds: Sequence[float], seconds: float) -> None:
    """Count ``seconds`` in a histogram slot: one count per bound (then +Inf), then the sum."""
    for i, bound in enumerate(bounds):
        if seconds <= bound:
            slot[i] += 1
            break
    else:
        slot[len(bounds)] += 1
    slot[-1] += seconds


def prom_labels(labels: Sequence[tuple[str, str]]) -> str:
    """``{a="x",b="y"}`` with Prometheus escaping (empty for no labels)."""
    if not labels:
        return ""
    parts = []
    for key, value in labels:
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        parts.append(f'{key}="{escaped}"')
    return "{" + ",".join(parts) + "}"


# -- attaching to clients -------------------------------------------------------------
def instrument(secrets: Secrets, metrics: Metrics) -> Metrics:
    """Count ``secrets``' backend calls, cache fills, hits and stale serves in ``metrics``."""
    from sekret.metrics._backend import MeteredBackend, cache_source

    cache = secrets.cache
    metered = MeteredBackend(secrets.backend, metrics, cache=cache)
    secrets.backend = metered
    if cache is not None:
        cache.backend = metered
        label = metered.label
        previous = cache.on_stale

        def on_stale(name: str, error: BaseException) -> object:
            metrics.count("sekret_cache_stale", backend=label)
            return previous(name, error) if previous is not None else None

        cache.on_stale = on_stale
        metrics.add_source(cache_source(cache, label), owner=secrets)
    if secrets.audit is not None:
        instrument_audit(secrets.audit, metrics, owner=secrets)
    return metrics


def instrument_audit(audit: AuditLog, metrics: Metrics, *, owner: object = None) -> None:
    """Count the records each sink of ``audit`` accepts, and its sink failures."""
    from sekret.metrics._backend import CountingSink

    audit.sinks = [
        s if isinstance(s, CountingSink) else CountingSink(s, metrics) for s in audit.sinks
    ]
    seen = [0]

    def failures() -> Iterable[Sample]:
        now = audit.failures
        delta, seen[0] = now - seen[0], now
        if delta > 0:
            yield Sample("sekret_audit_sink_failures", (), float(delta))

    metrics.add_source(failures, owner=owner if owner is not None else audit)


def watch_rotation(
    secrets: Secrets,
    plans: Iterable[RotationPlan],
    metrics: Metrics,
    *,
    every: float = 300.0,
    clock: Callable[[], float] = time.monotonic,
    now: Callable[[], Any] | None = None,
) -> None:
    """Report seconds until due per planned secret and the overdue count.

    The versions are read from the backend at most once per ``every`` seconds
    (a scrape must not become a backend read each time).
    """
    from datetime import UTC, datetime

    from sekret.rotation.schedule import rotation_status

    plan_list = list(plans)
    wall = now or (lambda: datetime.now(UTC))
    last: list[Any] = [None, []]

    def source() -> Iterable[Sample]:
        if last[0] is None or clock() - last[0] >= every:
            last[0] = clock()
            last[1] = rotation_status(secrets, plan_list, now=wall)
        at = wall()
        overdue = 0
        for status in last[1]:
            if status.next_due is None:
                continue
            overdue += int(status.overdue)
            seconds = (status.next_due - at).total_seconds()
            yield Sample("sekret_rotation_seconds_until_due", (("secret", status.name),), seconds)
        yield Sample("sekret_rotation_overdue", (), float(overdue))

    metrics.add_source(source)
