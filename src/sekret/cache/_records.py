"""The cache's records: ``CachePolicy``, and what it reports (``HitStats``, ``CacheStats``).

``sekret.cache`` (whose docstring explains the cache) re-exports all three;
import them from there. ``CachePolicy`` checks its fields when built and
raises ``ConfigurationError`` for a value out of range.

This module must never hold or mention a secret value, and never import
anything heavier than ``dataclasses`` (``import sekret.cache`` stays light).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from sekret.exceptions import ConfigurationError

__all__ = ["CachePolicy", "CacheStats", "HitStats"]


@dataclass(frozen=True, slots=True)
class CachePolicy:
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
    """

    ttl: float = 300.0
    max_stale: float = 3600.0
    negative_ttl: float = 5.0
    max_size: int = 1024
    refresh_ratio: float = 0.8
    jitter: float = 0.1
    per_secret_ttl: Mapping[str, float] = field(default_factory=dict)
    retry_base: float = 1.0
    retry_max: float = 60.0
    refresh_workers: int = 4
    prefetch_concurrency: int = 16
    stale_wait: float | None = 0.25
    breaker_failures: int = 3
    breaker_cooldown: float = 5.0

    def __post_init__(self) -> None:
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

    def ttl_for(self, name: str) -> float:
        """The configured (unjittered) TTL of a full secret name."""
        return self.per_secret_ttl.get(name, self.ttl)


@dataclass(frozen=True, slots=True)
class HitStats:
    """Cache hits of one secret since the last ``drain_hits``: monotonic clock readings."""

    count: int
    first: float
    last: float


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot for metrics and tests: sizes and reads in flight."""

    entries: int
    negative: int
    in_flight: int
    callers_waiting: int
    breaker_open: bool = False  # reads that would call the backend are refused now
    backend_failures: int = 0  # consecutive failed backend reads (any name)
