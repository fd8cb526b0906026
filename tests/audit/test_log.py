"""AuditLog: failure policy, the writer queue, cache-hit aggregates and strict mode."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

import pytest

from audit.conftest import FakeCache, FakeClock
from sekret import Secrets
from sekret.audit import AuditEvent, AuditLog, CaptureSink, default_policy
from sekret.audit._log import _close_all
from sekret.audit.jsonfile import FileSink
from sekret.audit.processors import FilterAction
from sekret.backends.memory import MemoryBackend
from sekret.exceptions import AuditError, ConfigurationError
from sekret.testing import sentinel_value


class BrokenSink:
    """A sink whose storage is gone."""

    def __init__(self) -> None:
        self.calls = 0

    def emit(self, events: Sequence[AuditEvent]) -> None:
        self.calls += 1
        raise OSError("disk full")

    def close(self) -> None:
        """Nothing to release."""


def facade(audit: AuditLog, environment: str) -> Secrets:
    return Secrets(MemoryBackend(), app="arrwdb", environment=environment, audit=audit, cache=False)


def test_default_policy_is_closed_in_production_open_elsewhere() -> None:
    """production-like environments fail closed; development and staging fail open."""
    assert default_policy("production") == "fail_closed"
    assert default_policy("Prod") == "fail_closed"
    assert default_policy("development") == "fail_open"
    assert default_policy("staging") == "fail_open"
    assert AuditLog(policy="fail_open").policy_for("production") == "fail_open"


def test_unknown_policy_is_a_configuration_error() -> None:
    """A misspelled policy is refused at construction."""
    with pytest.raises(ConfigurationError, match="fail_closed or fail_open"):
        AuditLog(policy="closed")  # type: ignore[arg-type]


def test_fail_closed_refuses_the_access_when_no_sink_records() -> None:
    """Fail closed: a sink that raises makes the read fail with AuditError, counted."""
    broken = BrokenSink()
    audit = AuditLog([broken], policy="fail_closed", background=False)
    s = facade(audit, "development")
    s.backend.inner.write("arrwdb/development/k", _value())  # type: ignore[attr-defined]
    with pytest.raises(AuditError, match="access refused") as info:
        s.get("k")
    assert "secret.read" in str(info.value)
    assert audit.failures == 1
    audit.close()


def test_fail_closed_passes_when_one_sink_records() -> None:
    """Fail closed needs one sink to record; the broken one is still counted."""
    good = CaptureSink()
    audit = AuditLog([BrokenSink(), good], policy="fail_closed", background=False)
    facade(audit, "production").put("k", sentinel_value())
    assert good.actions() == ["secret.write"]
    assert audit.failures == 1
    audit.close()


def test_fail_open_lets_the_access_through_and_counts(caplog: pytest.LogCaptureFixture) -> None:
    """Fail open: the write succeeds, the failure is logged as an error and counted."""
    audit = AuditLog([BrokenSink()], policy="fail_open", background=False)
    s = facade(audit, "production")
    with caplog.at_level(logging.ERROR, logger="sekret.audit"):
        s.put("k", sentinel_value())
    assert s.versions("k")[0].version == "1"
    assert audit.failures == 2
    assert "fail-open" in caplog.text
    audit.close()


def test_fail_open_queues_events_off_the_hot_path() -> None:
    """With a writer thread, fail-open events reach the sink after flush/close."""
    sink = CaptureSink()
    gate = threading.Event()

    def slow(event: AuditEvent) -> AuditEvent:
        gate.wait(5)
        return event

    audit = AuditLog([sink], processors=[slow], policy="fail_open", flush_interval=None)
    s = facade(audit, "development")
    s.put("k", sentinel_value())  # returns although the processor is blocked
    gate.set()
    audit.close()
    assert sink.actions() == ["secret.write"]
    assert sink.closed


def test_processors_filter_events(sink: CaptureSink) -> None:
    """A processor returning None drops the event before the sinks."""
    audit = AuditLog([sink], processors=[FilterAction(exclude="secret.versions")], background=False)
    s = facade(audit, "development")
    s.put("k", sentinel_value())
    s.versions("k")
    assert sink.actions() == ["secret.write"]


def test_a_failing_processor_refuses_in_fail_closed_mode() -> None:
    """A processor that raises cannot silently swallow an access when failing closed."""

    def broken(event: AuditEvent) -> AuditEvent:
        raise RuntimeError("bug")

    audit = AuditLog([CaptureSink()], processors=[broken], policy="fail_closed", background=False)
    with pytest.raises(AuditError, match="processor"):
        facade(audit, "production").put("k", sentinel_value())


def test_cache_hits_flush_as_aggregates_with_wall_times(sink: CaptureSink) -> None:
    """Hit counts become one secret.read.cached per secret with count and first/last UTC."""
    clock = FakeClock(1000.0)
    audit = AuditLog(
        [sink], background=False, flush_interval=None, wall_clock=lambda: 1_700_000_100.0
    )
    inner = audit.wrap(MemoryBackend(), app="arrwdb", environment="production")
    cache = FakeCache(clock, backend=inner)
    audit.attach_cache(cache)
    cache.hit("arrwdb/production/a")
    clock.now = 1040.0
    cache.hit("arrwdb/production/a")
    cache.hit("arrwdb/production/b")
    clock.now = 1100.0
    audit.flush()
    events = {e["secret"]: e for e in sink.events}
    a = events["arrwdb/production/a"]
    assert a["action"] == "secret.read.cached"
    assert a["count"] == 2
    assert a["first"] == "2023-11-14T22:13:20.000000Z"
    assert a["last"] == "2023-11-14T22:14:00.000000Z"
    assert a["backend"] == "memory://"
    assert a["actor"]["app"] == "arrwdb"
    assert events["arrwdb/production/b"]["count"] == 1
    sink.clear()
    audit.flush()
    assert sink.events == []


def test_hits_are_flushed_at_close(sink: CaptureSink) -> None:
    """close() drains the hit counts one last time."""
    audit = AuditLog([sink], background=False, flush_interval=None)
    cache = FakeCache(FakeClock())
    audit.attach_cache(cache)
    cache.hit("arrwdb/production/a")
    audit.close()
    assert sink.actions() == ["secret.read.cached"]


def test_hits_are_flushed_on_the_interval_by_the_writer_thread() -> None:
    """The writer thread drains hit counts every flush_interval."""
    arrived = threading.Event()

    class Signal(CaptureSink):
        def emit(self, events: Sequence[AuditEvent]) -> None:
            super().emit(events)
            arrived.set()

    sink = Signal()
    audit = AuditLog([sink], flush_interval=0.01)
    cache = FakeCache(FakeClock())
    cache.hit("arrwdb/production/a")
    audit.attach_cache(cache)
    assert arrived.wait(10)
    assert sink.actions() == ["secret.read.cached"]
    audit.close()


def test_a_cache_without_drain_hits_is_ignored(sink: CaptureSink) -> None:
    """attach_cache accepts a cache that does not count hits (yet)."""
    audit = AuditLog([sink], background=False)
    audit.attach_cache(object())
    audit.flush()
    assert sink.events == []


def test_strict_mode_read_hook_records_every_read(sink: CaptureSink) -> None:
    """Strict mode: the read hook emits secret.read.access per read; off, there is no hook."""
    assert AuditLog(background=False).read_hook(MemoryBackend()) is None
    audit = AuditLog([sink], strict=True, background=False)
    backend = audit.wrap(MemoryBackend(), app="arrwdb", environment="production")
    hook = audit.read_hook(backend)
    assert hook is not None
    hook("arrwdb/production/a", "3", None)
    event = sink.events[0]
    assert (event["action"], event["secret"], event["version"]) == (
        "secret.read.access",
        "arrwdb/production/a",
        "3",
    )
    assert event["actor"]["environment"] == "production"


def test_exit_hook_closes_live_logs(sink: CaptureSink) -> None:
    """The atexit hook flushes and closes every open audit log."""
    audit = AuditLog([sink], background=False)
    cache = FakeCache(FakeClock())
    audit.attach_cache(cache)
    cache.hit("arrwdb/production/a")
    _close_all()
    assert sink.closed
    assert sink.actions() == ["secret.read.cached"]


def _value() -> object:
    from sekret._values import SecretValue

    return SecretValue.of(sentinel_value())


def test_real_cache_hits_become_one_aggregate_event(sink: CaptureSink) -> None:
    """Through the facade's cache: the miss is a secret.read, the hits one cached aggregate."""
    clock = FakeClock(50.0)
    audit = AuditLog([sink], background=False, flush_interval=None, wall_clock=lambda: 1.7e9)
    s = Secrets(MemoryBackend(), app="arrwdb", environment="production", audit=audit, clock=clock)
    s.put("k", sentinel_value())
    sink.clear()
    for _ in range(5):
        s.get("k")
        clock.now += 1
    s.close()
    assert sink.actions() == ["secret.read", "secret.read.cached"]
    cached = sink.events[1]
    assert cached["count"] == 4
    assert (cached["first"], cached["last"]) == (
        "2023-11-14T22:13:16.000000Z",
        "2023-11-14T22:13:19.000000Z",
    )


def test_a_gap_found_at_start_fails_closed_in_production(tmp_path: Path) -> None:
    """A chained log found cut at start refuses a fail-closed client; a fail-open one goes on."""
    path, key = tmp_path / "audit.log", b"g" * 32
    sink = FileSink(path, key=key, fsync="never")
    sink.emit([{"action": "secret.read", "outcome": "success"}] * 3)
    sink.close()
    path.write_bytes(b"".join(path.read_bytes().splitlines(keepends=True)[:1]))
    cut = FileSink(path, key=key, fsync="never")
    assert cut.gap is not None
    audit = AuditLog([cut], background=False, flush_interval=None)
    with pytest.raises(AuditError, match="fails closed"):
        Secrets(MemoryBackend(), app="a", environment="production", audit=audit)
    Secrets(MemoryBackend(), app="a", environment="staging", audit=audit).close()
