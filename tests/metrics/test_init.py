"""sekret.metrics: what instrument() counts, off the hit path, and the text it renders."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from sekret import Secrets
from sekret._values import Secret, SecretValue, VersionInfo
from sekret.audit import AuditLog, CaptureSink
from sekret.backends.base import Backend
from sekret.backends.memory import MemoryBackend
from sekret.cache import CachePolicy
from sekret.exceptions import BackendUnavailable
from sekret.metrics import Metrics, instrument, watch_rotation
from sekret.rotation.schedule import RotationPlan
from sekret.testing import sentinel_value


class Flaky(Backend):
    """memory:// that fails with BackendUnavailable while ``down``."""

    def __init__(self) -> None:
        self.inner = MemoryBackend()
        self.capabilities = self.inner.capabilities
        self.down = False

    def describe(self) -> str:
        return "flaky://"

    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        if self.down:
            raise BackendUnavailable("flaky backend is down", name=name)
        return self.inner.read(name, version=version, stage=stage)

    def write(self, name: str, value: SecretValue, **options: Any) -> VersionInfo:
        return self.inner.write(name, value, **options)

    def versions(self, name: str) -> list[VersionInfo]:
        return self.inner.versions(name)


def _client(**options: object) -> tuple[Secrets, Flaky, list[float]]:
    now = [0.0]
    backend = Flaky()
    policy = CachePolicy(ttl=10, max_stale=600, jitter=0, retry_base=0, retry_max=0)
    secrets = Secrets(
        backend, app="arrwdb", environment="dev", cache=policy, clock=lambda: now[0], **options
    )
    return secrets, backend, now


def test_hits_and_misses_counted_without_touching_the_hit_path() -> None:
    """Hits are read from the cache's own counts at collection; misses at the backend."""
    secrets, _, _ = _client()
    metrics = instrument(secrets, Metrics())
    secrets.put("db", sentinel_value())
    for _ in range(5):
        secrets.get("db")
    assert not {"get", "get_text"} & set(vars(secrets.cache))  # the hit path is not wrapped
    assert metrics.value("sekret_cache_misses", backend="flaky") == 1
    assert metrics.value("sekret_cache_hits", backend="flaky") == 4
    assert metrics.value("sekret_cache_hits", backend="flaky") == 4  # a second scrape adds 0
    secrets.get("db")
    assert metrics.value("sekret_cache_hits", backend="flaky") == 5


def test_audit_aggregates_are_not_drained_by_metrics() -> None:
    """Collecting metrics leaves the cache's hit counts to the audit trail."""
    sink = CaptureSink()
    audit = AuditLog([sink], background=False, policy="fail_open")
    secrets, _, _ = _client(audit=audit)
    metrics = instrument(secrets, Metrics())
    secrets.put("db", sentinel_value())
    for _ in range(3):
        secrets.get("db")
    metrics.collect()
    audit.flush()
    cached = [e for e in sink.events if e["action"] == "secret.read.cached"]
    assert sum(e["count"] for e in cached) == 2
    assert metrics.value("sekret_audit_records") == len(sink.events)


def test_backend_errors_by_code_and_histogram() -> None:
    """A failed backend read counts its error code; each call lands in the histogram."""
    secrets, _, _ = _client()
    metrics = instrument(secrets, Metrics())
    with contextlib.suppress(LookupError):
        secrets.get("missing")
    assert metrics.value("sekret_errors", backend="flaky", code="not_found") == 1
    text = metrics.render_prometheus()
    assert (
        'sekret_backend_request_seconds_count{backend="flaky",operation="read",'
        'outcome="not_found"} 1' in text
    )
    assert "# TYPE sekret_errors_total counter" in text


def test_refresh_failure_and_stale_serves() -> None:
    """A refresh that fails while the value is served counts as refresh failure and stale."""
    secrets, backend, now = _client()
    metrics = instrument(secrets, Metrics())
    value = sentinel_value()
    secrets.put("db", value)
    secrets.get("db")
    backend.down = True
    now[0] = 20.0
    assert secrets.get("db") == value
    for _ in range(400):  # the refresh runs on a worker thread: poll for its outcome
        if metrics.value("sekret_cache_stale", backend="flaky"):
            break
        time.sleep(0.01)
    assert metrics.value("sekret_cache_refreshes", backend="flaky") >= 1
    assert metrics.value("sekret_cache_refresh_failures", backend="flaky") >= 1
    assert metrics.value("sekret_cache_stale", backend="flaky") >= 1
    assert metrics.value("sekret_cache_stale_entries", backend="flaky") == 1
    assert value not in metrics.render_prometheus()


def test_circuit_breaker_state_is_a_gauge() -> None:
    """sekret_cache_breaker_open is 0 while the backend answers and 1 once the breaker opens."""
    now = [0.0]
    backend = Flaky()
    policy = CachePolicy(ttl=10, max_stale=600, jitter=0, breaker_failures=2)
    secrets = Secrets(backend, app="arrwdb", environment="dev", cache=policy, clock=lambda: now[0])
    metrics = instrument(secrets, Metrics())
    assert metrics.value("sekret_cache_breaker_open", backend="flaky") == 0
    backend.down = True
    for name in ("a", "b", "c"):
        with contextlib.suppress(BackendUnavailable):
            secrets.get(name)
    assert metrics.value("sekret_cache_breaker_open", backend="flaky") == 1
    assert "sekret_cache_breaker_open" in metrics.render_prometheus()


def test_rotation_due_and_overdue() -> None:
    """watch_rotation reports seconds until due per secret and the overdue count."""
    secrets, _, _ = _client()
    secrets.put("api", sentinel_value())
    metrics = Metrics()
    later = datetime.now(UTC) + timedelta(days=100)
    watch_rotation(secrets, [RotationPlan("api", kind="api_key")], metrics, now=lambda: later)
    assert metrics.value("sekret_rotation_overdue") == 1
    due = metrics.value("sekret_rotation_seconds_until_due", secret="api")
    assert -11 * 86400 < due < -9 * 86400


def test_metrics_off_loads_nothing() -> None:
    """A client without instrument() imports neither sekret.metrics nor OpenTelemetry."""
    code = (
        "import sys; from sekret import Secrets;"
        "s = Secrets('memory://', app='a', environment='dev'); s.put('x', 'v'); s.get('x');"
        "bad = [m for m in sys.modules if m.startswith(('sekret.metrics', 'opentelemetry',"
        " 'prometheus_client'))]; print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
