"""Shared fixtures for the audit tests: a capture sink, an audit log, fake caches."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from sekret.audit import AuditLog, CaptureSink
from sekret.audit.chain import write_key_file


@dataclass(frozen=True)
class HitStats:
    """The shape of the cache's per-secret hit counts (count, first, last)."""

    count: int
    first: float
    last: float


class FakeClock:
    """A monotonic-style clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class FakeCache:
    """A cache with only what the audit log uses: drain_hits, clock, backend."""

    def __init__(self, clock: FakeClock, backend: object | None = None) -> None:
        self.clock = clock
        self.backend = backend
        self.hits: dict[str, HitStats] = {}

    def hit(self, name: str) -> None:
        old = self.hits.get(name)
        now = self.clock()
        self.hits[name] = (
            HitStats(1, now, now) if old is None else HitStats(old.count + 1, old.first, now)
        )

    def drain_hits(self) -> dict[str, HitStats]:
        out, self.hits = self.hits, {}
        return out


@pytest.fixture
def sink() -> CaptureSink:
    return CaptureSink()


@pytest.fixture
def audit(sink: CaptureSink) -> Iterator[AuditLog]:
    """A synchronous audit log (no writer thread) capturing into ``sink``."""
    log = AuditLog([sink], background=False, flush_interval=None, wall_clock=lambda: 1.7e9)
    yield log
    log.close()


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    path = tmp_path / "audit.key"
    write_key_file(path)
    return path
