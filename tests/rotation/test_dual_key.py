"""Dual-key API key verification across a rotation (Secrets.verify_api_key)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sekret import Secrets
from sekret.backends.memory import MemoryBackend
from sekret.rotation import ApiKeyRotator, RotationEngine
from sekret.testing import sentinel_value


def test_both_keys_accepted_during_grace_then_only_current() -> None:
    """After rotation the old key works within the grace period, and not after it."""
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    secrets = Secrets(MemoryBackend(clock=lambda: now[0]), app="arrwdb", environment="production")
    old = sentinel_value()
    secrets.put("tenant-api-key", old)
    assert secrets.verify_api_key("tenant-api-key", old, now=lambda: now[0])
    RotationEngine(secrets).rotate("tenant-api-key", ApiKeyRotator(prefix="ak_"))
    new = secrets.get("tenant-api-key")
    assert new.startswith("ak_")
    clock = lambda: now[0]  # noqa: E731
    assert secrets.verify_api_key("tenant-api-key", new, now=clock)
    assert secrets.verify_api_key("tenant-api-key", old, now=clock)
    assert not secrets.verify_api_key("tenant-api-key", "ak_wrong", now=clock)
    now[0] += timedelta(days=8)
    assert secrets.verify_api_key("tenant-api-key", new, now=clock)
    assert not secrets.verify_api_key("tenant-api-key", old, now=clock)


def test_revoking_previous_ends_the_grace_early() -> None:
    """revoke_previous makes the old key stop working at once."""
    secrets = Secrets(MemoryBackend(), app="a", environment="e")
    old = sentinel_value()
    secrets.put("k", old)
    RotationEngine(secrets).rotate("k", ApiKeyRotator())
    assert secrets.verify_api_key("k", old)
    secrets.revoke_previous("k")
    assert not secrets.verify_api_key("k", old)
    assert secrets.verify_api_key("k", secrets.get("k"))
