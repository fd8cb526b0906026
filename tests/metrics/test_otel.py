"""sekret.metrics.otel: instruments on the OpenTelemetry metrics API."""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from sekret import Secrets
from sekret.metrics import Metrics, instrument
from sekret.metrics.otel import enable
from sekret.testing import sentinel_value


def test_counters_and_histogram_reach_the_reader() -> None:
    """Hits, misses and backend durations are exported through an OTel meter."""
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    secrets = Secrets("memory://", app="arrwdb", environment="dev")
    metrics = instrument(secrets, Metrics())
    enable(metrics, meter=provider.get_meter("sekret"), max_age=0)
    secrets.put("db", sentinel_value())
    secrets.get("db")
    secrets.get("db")
    data = reader.get_metrics_data()
    assert data is not None
    points: dict[str, list[object]] = {}
    for resource in data.resource_metrics:
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                points[metric.name] = list(metric.data.data_points)
    hits = points["sekret_cache_hits"]
    assert [(p.value, dict(p.attributes)) for p in hits] == [(1, {"backend": "memory"})]  # type: ignore[attr-defined]
    assert "sekret_backend_request_seconds" in points
    provider.shutdown()
