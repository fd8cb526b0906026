"""The in-memory reference backend passes the shared contract."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from sekret import SecretNotFound, SecretValue
from sekret.backends import open_backend
from sekret.backends.memory import MemoryBackend
from sekret.testing import BackendContract


class TestMemoryContract(BackendContract):
    @pytest.fixture
    def backend(self) -> Iterator[MemoryBackend]:
        with MemoryBackend() as b:
            yield b


def test_url_with_store_name_shares_data() -> None:
    """memory://NAME opens the same store from two places in one process."""
    a = open_backend("memory://shared-test")
    b = open_backend("memory://shared-test")
    a.write("x/y", SecretValue.of("v"))
    assert b.read("x/y").value.text() == "v"
    a.destroy("x/y")


def test_recovery_window_expires_with_the_clock() -> None:
    """After the recovery window a deleted secret is gone and cannot be restored."""
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    backend = MemoryBackend(clock=lambda: now[0])
    backend.write("a/b", SecretValue.of("v"))
    backend.delete("a/b", recovery_days=7)
    now[0] += timedelta(days=8)
    with pytest.raises(SecretNotFound):
        backend.restore("a/b")
