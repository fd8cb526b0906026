"""``enable(metrics)``: publish sekret's metrics through the OpenTelemetry metrics API.

Needs the ``otel`` extra (``opentelemetry-api``); the app configures the SDK
and exporters as usual. Counters and gauges become observable instruments
read from ``Metrics.collect()`` at each export; the backend duration
histogram is recorded as calls complete (OTel has no observable histogram).
Attribute names are the label names of docs/observability.md. Nothing
imports OpenTelemetry unless ``enable`` is called.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from sekret.backends.base import require_extra
from sekret.metrics import METRICS, Labels, Metrics, Sample

__all__ = ["enable"]


def enable(metrics: Metrics, *, meter: Any = None, max_age: float = 1.0) -> Any:
    """Create sekret's instruments on ``meter`` (default: the global ``sekret`` meter).

    One ``collect()`` serves every instrument's callback of the same export
    (it is reused for ``max_age`` seconds).
    """
    api = require_extra("opentelemetry.metrics", "otel")
    if meter is None:
        meter = api.get_meter("sekret")
    lock = threading.Lock()
    memo: list[Any] = [float("-inf"), []]

    def snapshot() -> list[Sample]:
        with lock:
            if time.monotonic() - memo[0] > max_age:
                memo[1] = metrics.collect()
                memo[0] = time.monotonic()
            return list(memo[1])

    def callback_for(name: str) -> Any:
        def callback(options: Any) -> Iterable[Any]:
            for s in snapshot():
                if s.name == name:
                    yield api.Observation(s.value, dict(s.labels))

        return callback

    for name, (kind, text) in METRICS.items():
        if kind == "counter":
            meter.create_observable_counter(name, [callback_for(name)], description=text)
        elif kind == "gauge":
            meter.create_observable_gauge(name, [callback_for(name)], description=text)
    histogram = meter.create_histogram(
        "sekret_backend_request_seconds",
        unit="s",
        description=METRICS["sekret_backend_request_seconds"][1],
    )

    def observe(name: str, labels: Labels, seconds: float) -> None:
        histogram.record(seconds, dict(labels))

    metrics.add_observer(observe)
    return meter
