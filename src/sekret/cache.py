"""The read cache between the facade and a backend.

PLACEHOLDER: a pass-through with the final interface; the real cache
(TTL, single-flight, refresh-ahead, stale-if-error, LRU) replaces it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from sekret._values import Secret
from sekret.backends.base import Backend
from sekret.exceptions import SekretError

__all__ = ["CachePolicy", "SecretCache"]


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """How long values live and how the cache behaves when the backend fails."""

    ttl: float = 300.0
    max_stale: float = 3600.0
    negative_ttl: float = 5.0
    max_size: int = 1024
    refresh_ratio: float = 0.8
    jitter: float = 0.1
    per_secret_ttl: Mapping[str, float] = field(default_factory=dict)


class SecretCache:
    """Caches ``backend.read`` results keyed by (full name, version, stage)."""

    def __init__(
        self,
        backend: Backend,
        policy: CachePolicy | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.backend = backend
        self.policy = policy or CachePolicy()
        self._clock = clock

    def get(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        return self.backend.read(name, version=version, stage=stage)

    async def aget(
        self, name: str, *, version: str | None = None, stage: str | None = None
    ) -> Secret:
        import asyncio

        return await asyncio.to_thread(self.get, name, version=version, stage=stage)

    def invalidate(self, name: str) -> None:
        """Drop every cached entry of ``name`` (all versions and stages)."""

    def refresh(self, name: str) -> Secret:
        self.invalidate(name)
        return self.get(name)

    def prefetch(self, names: Iterable[str]) -> dict[str, Secret | SekretError]:
        return self.backend.read_many(list(names))

    def close(self) -> None:
        """Stop background refreshes."""
