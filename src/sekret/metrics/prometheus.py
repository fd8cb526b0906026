"""``register(metrics)``: expose sekret's metrics in an app that runs prometheus-client.

The collector calls ``Metrics.collect()`` at each scrape and yields metric
families with the same names and labels as ``Metrics.render_prometheus``
(docs/observability.md). prometheus-client is imported only here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sekret.backends.base import require_extra
from sekret.metrics import BUCKETS, METRICS, Metrics

__all__ = ["SekretCollector", "register"]


class SekretCollector:
    """A prometheus-client custom collector over one ``Metrics``."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        self._core = require_extra("prometheus_client.core", "prometheus")

    def describe(self) -> list[Any]:
        return []  # no fixed description: families depend on what was recorded

    def collect(self) -> Iterator[Any]:
        core = self._core
        families: dict[str, Any] = {}
        for s in self.metrics.collect():
            kind, text = METRICS[s.name]
            keys = [k for k, _ in s.labels]
            values = [v for _, v in s.labels]
            family = families.get(s.name)
            if family is None:
                if kind == "counter":
                    family = core.CounterMetricFamily(s.name, text, labels=keys)
                elif kind == "gauge":
                    family = core.GaugeMetricFamily(s.name, text, labels=keys)
                else:
                    family = core.HistogramMetricFamily(s.name, text, labels=keys)
                families[s.name] = family
            if kind == "histogram":
                bounds = [f"{b:g}" for b in BUCKETS] + ["+Inf"]
                buckets = list(zip(bounds, s.buckets, strict=True))
                family.add_metric(values, buckets, s.total)
            else:
                family.add_metric(values, s.value)
        yield from families.values()


def register(metrics: Metrics, registry: Any = None) -> SekretCollector:
    """Register a collector for ``metrics`` in ``registry`` (default: the global one)."""
    collector = SekretCollector(metrics)
    if registry is None:
        registry = require_extra("prometheus_client", "prometheus").REGISTRY
    registry.register(collector)
    return collector
