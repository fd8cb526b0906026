"""Rotation schedules: when each secret was last rotated and when it is due.

Default intervals come from the secret's kind (the guide's rotation
strategy): API keys 90 days, database passwords 30, encryption keys 365,
JWT signing keys 90; ``generic`` secrets have no schedule unless the manifest
gives one. "Last rotated" is the creation time of the ``current`` version; its
``expires_at`` metadata (if any) is reported as ``expires_at``.
The clock is injectable; nothing here sleeps or reads the wall clock itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sekret._expiry import expires_at
from sekret.exceptions import SecretNotFound, SekretError
from sekret.manifest import DEFAULT_ROTATION_DAYS

if TYPE_CHECKING:
    from sekret._secrets import Secrets
    from sekret._values import VersionInfo

__all__ = ["DEFAULT_INTERVAL_DAYS", "RotationPlan", "RotationStatus", "rotation_status"]

DEFAULT_INTERVAL_DAYS = DEFAULT_ROTATION_DAYS


@dataclass(frozen=True, slots=True)
class RotationPlan:
    """One secret's rotation settings (from the manifest or code)."""

    name: str
    kind: str = "generic"
    interval_days: int | None = None  # None: the kind's default
    rotator: str | None = None

    @property
    def interval(self) -> timedelta | None:
        days = self.interval_days
        if days is None:
            days = DEFAULT_INTERVAL_DAYS.get(self.kind)
        return timedelta(days=days) if days else None


@dataclass(frozen=True, slots=True)
class RotationStatus:
    """Where one secret stands (no value)."""

    name: str
    kind: str
    interval_days: int | None
    version: str | None
    last_rotated: datetime | None
    next_due: datetime | None
    overdue: bool
    pending: bool
    missing: bool = False
    expires_at: datetime | None = None  # the current version's expiry (sekret._expiry)

    def expires_within(self, days: int, now: datetime) -> bool:
        """Whether the current version expires (or has expired) before ``now + days``."""
        return self.expires_at is not None and self.expires_at <= now + timedelta(days=days)

    def as_dict(self) -> dict[str, object]:
        def iso(d: datetime | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "name": self.name,
            "kind": self.kind,
            "interval_days": self.interval_days,
            "version": self.version,
            "last_rotated": iso(self.last_rotated),
            "next_due": iso(self.next_due),
            "overdue": self.overdue,
            "pending": self.pending,
            "missing": self.missing,
            "expires_at": iso(self.expires_at),
        }


def _expiry(secrets: Secrets, name: str, current: VersionInfo | None) -> datetime | None:
    """The current version's expiry; backends whose version list carries no metadata
    (Vault keeps it in each version's data) are asked for that version."""
    if current is None:
        return None
    if current.metadata:
        return expires_at(current.metadata)
    try:
        # The backend itself, not the facade: a strict_expiry client would refuse the
        # very version whose expiry this reports.
        full = secrets.full_name(name)
        return expires_at(secrets.backend.read(full, version=current.version).metadata)
    except SekretError:
        return None


def rotation_status(
    secrets: Secrets,
    plans: Iterable[RotationPlan],
    *,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> list[RotationStatus]:
    """The status of each planned secret, read from the backend's version list."""
    at = now()
    out: list[RotationStatus] = []
    for plan in plans:
        interval = plan.interval
        days = interval.days if interval else None
        try:
            infos = secrets.versions(plan.name)
        except SecretNotFound:
            out.append(
                RotationStatus(plan.name, plan.kind, days, None, None, None, False, False, True)
            )
            continue
        current = next((i for i in infos if "current" in i.stages), None)
        pending = any("pending" in i.stages for i in infos)
        last = current.created if current else None
        due = last + interval if (last and interval) else None
        out.append(
            RotationStatus(
                plan.name,
                plan.kind,
                days,
                current.version if current else None,
                last,
                due,
                bool(due and at >= due),
                pending,
                expires_at=_expiry(secrets, plan.name, current),
            )
        )
    return out
