"""The local store at scale: listing is one seek per page, bulk writes are batched."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from sekret.backends.local import LocalBackend, init_store

KEY_ENV = ("SEKRET_MASTER_KEY", "SEKRET_KEY_FILE", "SEKRET_PASSPHRASE")


@pytest.fixture(autouse=True)
def _no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Key variables from the developer's shell must not change what these tests see."""
    for var in KEY_ENV:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    """An open backend on a fresh store."""
    db = tmp_path / "scale.db"
    init_store(db)
    with LocalBackend(db) as b:
        yield b


def _seed_names(db: Path, count: int, prefix: str = "app/env/") -> None:
    """Insert ``count`` bare secret rows (enough for listing) straight into the file."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO secrets (name, uid, counter, created, updated) VALUES (?, ?, 0, 0, 0)",
            ((f"{prefix}s{i:06d}", b"u" * 16) for i in range(count)),
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def _steps(backend: LocalBackend, token: str | None, page_size: int) -> int:
    """SQLite virtual-machine steps one list page costs (a deterministic cost measure)."""
    counter = [0]

    def tick() -> int:
        counter[0] += 1
        return 0

    conn = backend._conn()
    conn.set_progress_handler(tick, 1)
    try:
        backend.list("app/env/", page_size=page_size, page_token=token)
    finally:
        conn.set_progress_handler(None, 1)
    return counter[0]


def test_late_page_costs_what_the_first_page_costs(backend: LocalBackend) -> None:
    """Page 900 of 1,000 takes about the SQLite steps of page 1 (one seek, no re-scan)."""
    _seed_names(backend.path, 10_000)
    _seed_names(backend.path, 50, prefix="app/other/")
    first = _steps(backend, None, 10)
    late = _steps(backend, "app/env/s008999", 10)
    assert late <= first * 1.5 + 50
    page = backend.list("app/env/", page_size=10, page_token="app/env/s008999")
    assert page.items[0].name == "app/env/s009000"
    assert page.next_token == "app/env/s009009"


def test_token_before_the_prefix_starts_at_the_prefix(backend: LocalBackend) -> None:
    """A page token sorting before the prefix lists from the prefix's first name."""
    _seed_names(backend.path, 5)
    page = backend.list("app/env/", page_size=2, page_token="a")
    assert [i.name for i in page.items] == ["app/env/s000000", "app/env/s000001"]


def test_paging_visits_every_name_once(backend: LocalBackend) -> None:
    """Following next_token lists every name under the prefix exactly once, in order."""
    _seed_names(backend.path, 257)
    _seed_names(backend.path, 3, prefix="app/envx/")
    seen: list[str] = []
    token = None
    while True:
        page = backend.list("app/env/", page_size=50, page_token=token)
        seen += [i.name for i in page.items]
        token = page.next_token
        if token is None:
            break
    assert seen == [f"app/env/s{i:06d}" for i in range(257)]
