"""Rotation schedules with a fake clock (sekret.rotation.schedule)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sekret import PENDING, Secrets
from sekret.backends.memory import MemoryBackend
from sekret.rotation import RotationPlan, rotation_status


def test_default_intervals_by_kind() -> None:
    """API keys 90 days, database credentials 30, encryption keys 365, generic none."""
    assert RotationPlan("a", "api_key").interval == timedelta(days=90)
    assert RotationPlan("d", "db_credentials").interval == timedelta(days=30)
    assert RotationPlan("e", "encryption_key").interval == timedelta(days=365)
    assert RotationPlan("g", "generic").interval is None
    assert RotationPlan("a", "api_key", interval_days=7).interval == timedelta(days=7)


def test_status_reports_due_dates_and_overdue() -> None:
    """Last rotation is the current version's creation; overdue once past the interval."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    now = [start]
    secrets = Secrets(MemoryBackend(clock=lambda: now[0]), app="arrwdb", environment="production")
    secrets.put("db", {"username": "u", "password": "p"})
    secrets.put("key", "k")
    secrets.put("key", "k2", stages=[PENDING])
    plans = [
        RotationPlan("db", "db_credentials"),
        RotationPlan("key", "api_key"),
        RotationPlan("absent", "api_key"),
    ]
    now[0] = start + timedelta(days=31)
    status = {s.name: s for s in rotation_status(secrets, plans, now=lambda: now[0])}
    assert status["db"].overdue
    assert status["db"].next_due == start + timedelta(days=30)
    assert not status["key"].overdue
    assert status["key"].pending
    assert status["absent"].missing
    assert status["db"].as_dict()["next_due"] == (start + timedelta(days=30)).isoformat()


def test_status_reports_expiry_even_for_a_strict_client() -> None:
    """expires_at shows in the status of a strict_expiry client, past the date too."""
    from datetime import UTC, datetime

    from sekret.rotation import RotationPlan, rotation_status
    from sekret.testing import sentinel_value
    from test_expiry import strict_client

    later = datetime(2028, 1, 1, tzinfo=UTC)
    secrets = strict_client(later)
    secrets.put("k", sentinel_value(), metadata={"expires_at": "2027-01-01"})
    (row,) = rotation_status(secrets, [RotationPlan("k", "api_key")], now=lambda: later)
    assert row.expires_at == datetime(2027, 1, 1, tzinfo=UTC)
    assert row.expires_within(0, later)
