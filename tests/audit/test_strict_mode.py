"""Strict audit mode: every read through the facade is recorded, cache hits included."""

from __future__ import annotations

import asyncio

from sekret import AsyncSecrets, Secrets
from sekret.audit import AuditLog, CaptureSink
from sekret.backends.memory import MemoryBackend
from sekret.testing import sentinel_value


def _client(strict: bool) -> tuple[Secrets, CaptureSink, AuditLog]:
    sink = CaptureSink()
    audit = AuditLog([sink], strict=strict, background=False, flush_interval=None)
    secrets = Secrets(MemoryBackend(), app="arrwdb", environment="staging", audit=audit)
    return secrets, sink, audit


def test_strict_mode_records_every_hit() -> None:
    """Three gets (one miss, two hits) give three access events; values never appear."""
    secrets, sink, audit = _client(strict=True)
    value = sentinel_value()
    secrets.put("k", value)
    for _ in range(3):
        assert secrets.get("k") == value
    asyncio.run(AsyncSecrets(secrets).get("k"))
    audit.close()
    access = [e for e in sink.events if e["action"] == "secret.read.access"]
    assert len(access) == 4
    assert all(e["secret"] == "arrwdb/staging/k" and e["version"] == "1" for e in access)
    assert value not in repr(sink.events)


def test_default_mode_does_not_record_hits_one_by_one() -> None:
    """Without strict mode, hits produce no per-read event (only the aggregate at flush)."""
    secrets, sink, audit = _client(strict=False)
    secrets.put("k", "v")
    for _ in range(3):
        secrets.get("k")
    audit.close()
    assert not [e for e in sink.events if e["action"] == "secret.read.access"]
    cached = [e for e in sink.events if e["action"] == "secret.read.cached"]
    assert sum(int(e["count"]) for e in cached) == 2
