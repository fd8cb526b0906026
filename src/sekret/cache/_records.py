"""The cache's records: ``CachePolicy``, and what it reports (``HitStats``, ``CacheStats``).

``sekret.cache`` (whose docstring explains the cache) re-exports all three;
import them from there. ``CachePolicy`` checks its fields when built and
raises ``ConfigurationError`` for a value out of range.

They are immutable records with ``__slots__`` (``sekret._values._Copyable``:
repr, equality and hash from their fields), not dataclasses: importing
``dataclasses`` (which loads ``inspect``, ``ast``, ``re``...) cost about
20 ms, more than everything else ``Secrets(...)`` loads.
``CachePolicy.replace(**changes)`` is the copy-with-changes that
``dataclasses.replace`` used to give.

This module must never hold or mention a secret value, and never import
anything heavier than ``sekret._values`` (``import sekret.cache`` stays light).
"""

from __future__ import annotations

from sekret._values import _Copyable
from sekret.exceptions import ConfigurationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

__all__ = ["CachePolicy", "CacheStats", "HitStats"]


class CachePolicy(_Copyable):
    """How long values live and how the cache behaves when the backend fails.

    Times are seconds. ``ttl`` is shortened by up to ``jitter`` (a fraction)
    per fill so many processes do not refresh together; ``per_secret_ttl``
    overrides ``ttl`` by full name. ``max_stale`` is how long past its expiry
    a value may still be served while the backend is unavailable. Refresh
    retries wait ``retry_base * 2**n`` (capped at ``retry_max``), jittered.

    ``stale_wait`` is the most a read holding an expired (but not yet
    ``max_stale``) value waits for the backend before it is served that
    value while the refresh goes on in the background (None: it reads the
    backend itself and waits as long as that takes). After
    ``breaker_failures`` consecutive failed backend reads (0: never) the
    circuit breaker opens: reads that would call the backend fail fast (or
    are served stale) for ``breaker_cooldown`` seconds, then one probe read
    decides whether it closes.

    Immutable: ``policy.replace(ttl=60)`` is a copy with changes.
    """

    __slots__ = (
        "ttl",
        "max_stale",
        "negative_ttl",
        "max_size",
        "refresh_ratio",
        "jitter",
        "per_secret_ttl",
        "retry_base",
        "retry_max",
        "refresh_workers",
        "prefetch_concurrency",
        "stale_wait",
        "breaker_failures",
        "breaker_cooldown",
    )

    ttl: float
    max_stale: float
    negative_ttl: float
    max_size: int
    refresh_ratio: float
    jitter: float
    per_secret_ttl: Mapping[str, float]
    retry_base: float
    retry_max: float
    refresh_workers: int
    prefetch_concurrency: int
    stale_wait: float | None
    breaker_failures: int
    breaker_cooldown: float

    def __init__(
        self,
        ttl: float = 300.0,
        max_stale: float = 3600.0,
        negative_ttl: float = 5.0,
        max_size: int = 1024,
        refresh_ratio: float = 0.8,
        jitter: float = 0.1,
        per_secret_ttl: Mapping[str, float] | None = None,
        retry_base: float = 1.0,
        retry_max: float = 60.0,
        refresh_workers: int = 4,
        prefetch_concurrency: int = 16,
        stale_wait: float | None = 0.25,
        breaker_failures: int = 3,
        breaker_cooldown: float = 5.0,
    ) -> None:
        self._set(
            ttl=ttl,
            max_stale=max_stale,
            negative_ttl=negative_ttl,
            max_size=max_size,
            refresh_ratio=refresh_ratio,
            jitter=jitter,
            per_secret_ttl={} if per_secret_ttl is None else per_secret_ttl,
            retry_base=retry_base,
            retry_max=retry_max,
            refresh_workers=refresh_workers,
            prefetch_concurrency=prefetch_concurrency,
            stale_wait=stale_wait,
            breaker_failures=breaker_failures,
            breaker_cooldown=breaker_cooldown,
        )
        self._check()

    def _check(self) -> None:
        checks = {
            "ttl": self.ttl >= 0,
            "max_stale": self.max_stale >= 0,
            "negative_ttl": self.negative_ttl >= 0,
            "max_size": self.max_size >= 1,
            "refresh_ratio": 0 < self.refresh_ratio <= 1,
            "jitter": 0 <= self.jitter < 1,
            "retry_base": self.retry_base >= 0,
            "retry_max": self.retry_max >= self.retry_base,
            "refresh_workers": self.refresh_workers >= 1,
            "prefetch_concurrency": self.prefetch_concurrency >= 1,
            "stale_wait": self.stale_wait is None or self.stale_wait >= 0,
            "breaker_failures": self.breaker_failures >= 0,
            "breaker_cooldown": self.breaker_cooldown > 0,
        }
        for what, ok in checks.items():
            if not ok:
                raise ConfigurationError(
                    f"CachePolicy.{what}={getattr(self, what)!r} is out of range"
                )
        for name, ttl in self.per_secret_ttl.items():
            if ttl < 0:
                raise ConfigurationError(f"CachePolicy.per_secret_ttl[{name!r}]={ttl!r} < 0")

    def replace(self, **changes: Any) -> CachePolicy:
        """A copy with ``changes`` (field=value), checked like a new policy."""
        unknown = set(changes) - set(self.__slots__)
        if unknown:
            raise ConfigurationError(f"CachePolicy has no setting {sorted(unknown)[0]!r}")
        fields = {name: getattr(self, name) for name in self.__slots__}
        return CachePolicy(**{**fields, **changes})

    def ttl_for(self, name: str) -> float:
        """The configured (unjittered) TTL of a full secret name."""
        return self.per_secret_ttl.get(name, self.ttl)


class HitStats(_Copyable):
    """Cache hits of one secret since the last ``drain_hits``: monotonic clock readings."""

    __slots__ = ("count", "first", "last")

    count: int
    first: float
    last: float

    def __init__(self, count: int, first: float, last: float) -> None:
        self._set(count=count, first=first, last=last)


class CacheStats(_Copyable):
    """A snapshot for metrics and tests: sizes and reads in flight.

    ``breaker_open``: reads that would call the backend are refused now;
    ``backend_failures``: consecutive failed backend reads (any name).
    """

    __slots__ = (
        "entries",
        "negative",
        "in_flight",
        "callers_waiting",
        "breaker_open",
        "backend_failures",
    )

    entries: int
    negative: int
    in_flight: int
    callers_waiting: int
    breaker_open: bool
    backend_failures: int

    def __init__(
        self,
        entries: int,
        negative: int,
        in_flight: int,
        callers_waiting: int,
        breaker_open: bool = False,
        backend_failures: int = 0,
    ) -> None:
        self._set(
            entries=entries,
            negative=negative,
            in_flight=in_flight,
            callers_waiting=callers_waiting,
            breaker_open=breaker_open,
            backend_failures=backend_failures,
        )
