"""Secret expiry: ``expires_at`` on a version, checked where values are fetched.

A version may carry an expiry in its metadata: ``expires_at`` (ISO 8601; a
time without offset is UTC), or ``expires`` where a backend reports the
service's own. ``ExpiryReads`` wraps the reads the facade and its cache make
(``read``, ``read_many``): a version whose expiry has passed is reported to
``on_expired`` (the facade records a ``secret.expired`` audit event with
``severity: "warning"``; outcome ``failure`` when refused) and, with
``strict``, refused with ``SecretExpired``.

The check runs where a value is FETCHED from the backend: every read of a
client without a cache, and each cache fill or refresh otherwise (a cached
value is served at most ``cache_ttl`` past its expiry). Nothing here reads
the wall clock itself; the clock is injected. This module never sees a value
beyond the ``Secret`` objects it passes through.
"""

from __future__ import annotations

from functools import lru_cache

from sekret._values import Secret
from sekret.exceptions import SecretExpired, SekretError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import datetime
    from typing import Any

    from sekret.backends.base import Backend

__all__ = ["EXPIRY_KEYS", "ExpiryReads", "audit_expired", "expires_at"]

EXPIRY_KEYS = ("expires_at", "expires")
"""Metadata keys holding a version's expiry, first found wins (as ``expires_at`` reads them)."""


def expires_at(metadata: Mapping[str, str]) -> datetime | None:
    """The expiry in ``metadata`` (aware, UTC when no offset), or None (absent or unreadable)."""
    raw = metadata.get("expires_at") or metadata.get("expires")
    return _parse(raw) if raw else None


@lru_cache(maxsize=1024)
def _parse(raw: str) -> datetime | None:
    """One parse per distinct text: reads of the same version skip it."""
    from datetime import UTC, datetime  # lazy: `import sekret` stays light

    try:
        when = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


class ExpiryReads:
    """The read face of a backend, with the expiry check (see the module docstring)."""

    __slots__ = ("backend", "clock", "on_expired", "strict")

    def __init__(
        self,
        backend: Backend,
        *,
        strict: bool = False,
        clock: Callable[[], datetime] | None = None,
        on_expired: Callable[[Secret, datetime, SecretExpired | None], None] | None = None,
    ) -> None:
        self.backend = backend
        self.strict = strict
        self.clock = clock
        self.on_expired = on_expired

    def _now(self) -> datetime:
        if self.clock is not None:
            return self.clock()
        from datetime import UTC, datetime

        return datetime.now(UTC)

    def check(self, secret: Secret) -> None:
        """Report an expired ``secret``; raise ``SecretExpired`` when strict."""
        if not secret.metadata:
            return
        when = expires_at(secret.metadata)
        if when is None or self._now() < when:
            return
        error = None
        if self.strict:
            error = SecretExpired(
                f"secret {secret.name!r} version {secret.version} expired at"
                f" {when.isoformat()} (strict_expiry)",
                name=secret.name,
                version=secret.version,
                backend=self.backend.describe(),
            )
        if self.on_expired is not None:
            self.on_expired(secret, when, error)
        if error is not None:
            raise error

    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        secret = self.backend.read(name, version=version, stage=stage)
        self.check(secret)
        return secret

    def read_many(self, names: Sequence[str]) -> dict[str, Secret | SekretError]:
        got = self.backend.read_many(names)
        for name, result in got.items():
            if isinstance(result, Secret):
                try:
                    self.check(result)
                except SecretExpired as exc:
                    got[name] = exc
        return got

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self.backend, attr)


def audit_expired(backend: Backend) -> Callable[[Secret, datetime, SecretExpired | None], None]:
    """An ``on_expired`` hook recording ``secret.expired`` through an audited backend."""

    def hook(secret: Secret, when: datetime, error: SecretExpired | None) -> None:
        record = getattr(backend, "record", None)
        if record is None:
            return
        record(
            "secret.expired",
            secret.name,
            error=error,
            version=secret.version,
            expires_at=when.isoformat(),
            severity="warning",
        )

    return hook
