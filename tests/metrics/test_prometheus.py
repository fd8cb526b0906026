"""sekret.metrics.prometheus: the prometheus-client collector."""

from __future__ import annotations

import prometheus_client

from sekret import Secrets
from sekret.metrics import Metrics, instrument
from sekret.metrics.prometheus import register
from sekret.testing import sentinel_value


def test_collector_exports_the_same_series() -> None:
    """A registry with the collector exposes sekret's counters and histogram."""
    secrets = Secrets("memory://", app="arrwdb", environment="dev")
    metrics = instrument(secrets, Metrics())
    value = sentinel_value()
    secrets.put("db", value)
    secrets.get("db")
    secrets.get("db")
    registry = prometheus_client.CollectorRegistry()
    register(metrics, registry)
    text = prometheus_client.generate_latest(registry).decode()
    assert 'sekret_cache_hits_total{backend="memory"} 1.0' in text
    assert 'sekret_cache_misses_total{backend="memory"} 1.0' in text
    assert "sekret_backend_request_seconds_bucket" in text
    assert value not in text
