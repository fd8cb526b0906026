"""The pieces ``instrument`` attaches: a timing backend wrapper, a sink counter, cache reads.

``MeteredBackend`` sits below the cache, so only misses and refreshes pass
through it. ``cache_source`` reads the hit counts the cache keeps on each
entry (for its audit aggregates) without draining them, so the audit keeps
its own totals. None of this looks at a value; ``cache_source`` keeps entry
ids and counts, never an entry.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sekret._values import Secret
from sekret.backends.base import Backend
from sekret.exceptions import SekretError

if TYPE_CHECKING:
    from sekret.audit.events import AuditEvent
    from sekret.cache import SecretCache
    from sekret.metrics import Metrics, Sample

__all__ = ["CountingSink", "MeteredBackend", "cache_source"]


class MeteredBackend(Backend):
    """Delegates to ``inner``; times each call and counts fills, refreshes and errors."""

    def __init__(self, inner: Backend, metrics: Metrics, *, cache: SecretCache | None) -> None:
        self.inner = inner
        self.metrics = metrics
        self.capabilities = inner.capabilities
        self.max_value_bytes = inner.max_value_bytes
        self.label = inner.describe().split("://", 1)[0]
        self._cache = cache

    def describe(self) -> str:
        return self.inner.describe()

    @property
    def identity(self) -> str | None:
        return self.inner.identity

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    def _timed(self, operation: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            result = call(*args, **kwargs)
        except SekretError as exc:
            self._done(operation, exc.code, started)
            raise
        except BaseException:
            self._done(operation, "internal", started)
            raise
        self._done(operation, "ok", started)
        return result

    def _done(self, operation: str, outcome: str, started: float) -> None:
        self.metrics.observe(
            time.perf_counter() - started, backend=self.label, operation=operation, outcome=outcome
        )
        if outcome != "ok":
            self.metrics.count("sekret_errors", backend=self.label, code=outcome)

    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        entries = getattr(self._cache, "_entries", None)
        key: Any = name if version is None and stage is None else (name, version, stage)
        refresh = entries is not None and key in entries
        kind = "sekret_cache_refreshes" if refresh else "sekret_cache_misses"
        if self._cache is not None:
            self.metrics.count(kind, backend=self.label)
        try:
            secret: Secret = self._timed(
                "read", self.inner.read, name, version=version, stage=stage
            )
        except SekretError:
            if refresh:
                self.metrics.count("sekret_cache_refresh_failures", backend=self.label)
            raise
        return secret

    def read_many(self, names: Sequence[str]) -> dict[str, Secret | SekretError]:
        if self._cache is not None:
            self.metrics.count("sekret_cache_misses", float(len(names)), backend=self.label)
        got: dict[str, Secret | SekretError] = self._timed("read_many", self.inner.read_many, names)
        for result in got.values():
            if isinstance(result, SekretError):
                self.metrics.count("sekret_errors", backend=self.label, code=result.code)
        return got

    def versions(self, name: str) -> Any:
        return self._timed("versions", self.inner.versions, name)

    def list(self, prefix: str = "", **options: Any) -> Any:
        return self._timed("list", self.inner.list, prefix, **options)

    def write(self, name: str, value: Any, **options: Any) -> Any:
        return self._timed("write", self.inner.write, name, value, **options)

    def move_stage(self, name: str, stage: str, version: str | None, **options: Any) -> None:
        self._timed("move_stage", self.inner.move_stage, name, stage, version, **options)

    def delete(self, name: str, **options: Any) -> Any:
        return self._timed("delete", self.inner.delete, name, **options)

    def restore(self, name: str) -> None:
        self._timed("restore", self.inner.restore, name)

    def destroy(self, name: str) -> None:
        self._timed("destroy", self.inner.destroy, name)

    def issue_lease(self, name: str, **options: Any) -> Any:
        return self._timed("issue_lease", self.inner.issue_lease, name, **options)

    def renew_lease(self, lease_id: str, **options: Any) -> Any:
        return self._timed("renew_lease", self.inner.renew_lease, lease_id, **options)

    def revoke_lease(self, lease_id: str) -> None:
        self._timed("revoke_lease", self.inner.revoke_lease, lease_id)

    def close(self) -> None:
        self.inner.close()

    def __repr__(self) -> str:
        return f"<MeteredBackend {self.inner.describe()}>"


class CountingSink:
    """An audit sink that counts the records its inner sink accepted."""

    def __init__(self, inner: Any, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def emit(self, events: Sequence[AuditEvent]) -> None:
        self.inner.emit(events)  # raises if it failed: the log counts that as a failure
        self.metrics.count("sekret_audit_records", float(len(events)))

    def close(self) -> None:
        self.inner.close()

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self.inner, attr)


def cache_source(cache: SecretCache, label: str) -> Any:
    """A ``collect`` source: hit growth since the last collection, and cache gauges."""
    from sekret.metrics import Sample

    seen: dict[Any, tuple[int, int]] = {}  # key -> (id of the entry, hits seen)

    def source() -> Iterable[Sample]:
        entries = dict(getattr(cache, "_entries", {}))
        hits = 0
        stale = 0
        for key, entry in entries.items():
            count = int(getattr(entry, "hits", 0))
            before = seen.get(key)
            hits += count - before[1] if before is not None and before[0] == id(entry) else count
            seen[key] = (id(entry), count)
            stale += int(getattr(entry, "failures", 0) > 0)
        for key in [k for k in seen if k not in entries]:
            del seen[key]
        labels = (("backend", label),)
        if hits:
            yield Sample("sekret_cache_hits", labels, float(hits))
        stats = cache.stats()
        yield Sample("sekret_cache_entries", labels, float(stats.entries))
        yield Sample("sekret_cache_negative_entries", labels, float(stats.negative))
        yield Sample("sekret_cache_stale_entries", labels, float(stale))
        yield Sample("sekret_cache_breaker_open", labels, float(stats.breaker_open))

    return source
