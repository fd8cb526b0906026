"""Data-key rotation: every value re-sealed, resumable after SIGKILL, the old key erased."""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from sekret import Conflict, DecryptionError, SecretValue, _sealing
from sekret.backends.base import WriteRequest
from sekret.backends.local import LocalBackend, init_store
from sekret.testing import sentinel_value

KEY_ENV = ("SEKRET_MASTER_KEY", "SEKRET_KEY_FILE", "SEKRET_PASSPHRASE")
SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.fixture(autouse=True)
def _no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Key variables from the developer's shell must not change what these tests see."""
    for var in KEY_ENV:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A store with 300 secrets (600 versions)."""
    path = tmp_path / "s.db"
    init_store(path)
    with LocalBackend(path) as backend:
        for round_ in ("a", "b"):
            backend.put_many(
                [
                    WriteRequest(f"app/env/k{i:03d}", SecretValue.of(f"{round_}-{i}"))
                    for i in range(300)
                ]
            )
    return path


def _meta(path: Path, key: str) -> bytes | None:
    conn = sqlite3.connect(path)
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    finally:
        conn.close()
    return None if row is None else bytes(row[0]) if isinstance(row[0], bytes) else row[0]


def test_rotate_data_key_reseals_every_version(db: Path) -> None:
    """After rotation every version reads back the same, and the old data key opens none."""
    with LocalBackend(db) as backend:
        old_key = backend._data_key
        assert backend.rotate_data_key(batch=64) is True
        assert backend._data_key != old_key
        assert backend.read("app/env/k123").value.text() == "b-123"
        assert backend.read("app/env/k123", version="1").value.text() == "a-123"
    with LocalBackend(db) as reopened:
        assert reopened.read("app/env/k299").value.text() == "b-299"
        uid, sealed = (
            sqlite3.connect(db)
            .execute(
                "SELECT s.uid, v.sealed FROM versions v JOIN secrets s ON s.name = v.name"
                " WHERE v.name = 'app/env/k007' AND v.version = 2"
            )
            .fetchone()
        )
        with pytest.raises(DecryptionError):
            _sealing.Sealer(old_key, reopened._store_id).open(
                sealed, name="app/env/k007", uid=uid, version=2, ctype="text/plain; charset=utf-8"
            )
    assert _meta(db, "wrapped_key_next") is None
    assert _meta(db, "rekey_cursor") is None


def test_old_wrapped_key_is_gone_from_the_file_and_the_wal(db: Path) -> None:
    """No byte string of the old wrapped key is left in the database file or its WAL."""
    old_wrapped = _meta(db, "wrapped_key")
    assert isinstance(old_wrapped, bytes)
    with LocalBackend(db) as backend:
        backend.read("app/env/k001")  # a reader connection of our own is open
        assert backend.rotate_data_key() is True
        for path in (db, Path(f"{db}-wal")):
            if path.exists():
                assert old_wrapped not in path.read_bytes(), path


def test_old_master_key_and_old_copy_cannot_open_new_values(db: Path, tmp_path: Path) -> None:
    """A leaked old key plus a pre-rotation copy cannot open a value written after
    rotate_master_key + rotate_data_key (the --reencrypt path)."""
    copy = tmp_path / "stolen"
    copy.mkdir(mode=0o700)
    shutil.copy(db, copy / "s.db")
    shutil.copy(f"{db}.key", copy / "s.db.key")
    later = sentinel_value("after")
    with LocalBackend(db) as backend:
        backend.rotate_master_key()
        backend.rotate_data_key()
        backend.write("app/env/new", SecretValue.of(later))
    # the attacker moves the new rows into the old copy and opens it with the old key
    src = sqlite3.connect(db)
    rows_s = src.execute("SELECT * FROM secrets WHERE name = 'app/env/new'").fetchall()
    rows_v = src.execute("SELECT * FROM versions WHERE name = 'app/env/new'").fetchall()
    src.close()
    dst = sqlite3.connect(copy / "s.db", isolation_level=None)
    dst.executemany("INSERT INTO secrets VALUES (?, ?, ?, ?, ?, ?, ?)", rows_s)
    dst.executemany("INSERT INTO versions VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows_v)
    dst.close()
    with LocalBackend(copy / "s.db") as stolen, pytest.raises(DecryptionError) as caught:
        stolen.read("app/env/new")
    assert later not in str(caught.value)


_KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from sekret.backends.local import LocalBackend

    backend = LocalBackend(sys.argv[1])

    def progress(done, total):
        if done >= total // 2:
            os.kill(os.getpid(), signal.SIGKILL)  # a crash half way through

    backend.rotate_data_key(batch=50, progress=progress)
    """
)


def test_rotation_resumes_after_sigkill_half_way(db: Path) -> None:
    """SIGKILL half way leaves a store that reads with both keys; a rerun finishes it."""
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    killed = subprocess.run(
        [sys.executable, "-c", _KILLER, str(db)], env=env, check=False, timeout=120
    )
    assert killed.returncode == -signal.SIGKILL
    assert _meta(db, "wrapped_key_next") is not None
    seen: list[int] = []
    with LocalBackend(db) as backend:
        assert backend.read("app/env/k000").value.text() == "b-0"  # re-sealed already
        assert backend.read("app/env/k299").value.text() == "b-299"  # not yet
        backend.write("app/env/during", SecretValue.of("written mid-rotation"))
        with pytest.raises(Conflict, match="rotate-data-key"):
            backend.rotate_master_key()
        backend.rotate_data_key(batch=50, progress=lambda done, total: seen.append(done))
    assert seen[0] > 300  # resumed from the cursor, not from the start
    assert _meta(db, "wrapped_key_next") is None
    with LocalBackend(db) as reopened:
        assert reopened.read("app/env/during").value.text() == "written mid-rotation"
        assert [reopened.read(f"app/env/k{i:03d}").value.text() for i in (0, 150, 299)] == [
            "b-0",
            "b-150",
            "b-299",
        ]


def test_a_process_holding_the_old_data_key_cannot_write(db: Path) -> None:
    """After another process rotated the data key, a writer still holding the old key
    is refused (nothing written) instead of sealing a value that would never open."""
    stale = LocalBackend(db)
    try:
        with LocalBackend(db) as rotating:
            rotating.rotate_data_key()
            rotating.write("app/env/k001", SecretValue.of("fresh"))
        with pytest.raises(Conflict, match="rotated by another process"):
            stale.write("app/env/k001", SecretValue.of("stale"))
    finally:
        stale.close()
    with LocalBackend(db) as reopened:
        assert reopened.read("app/env/k001").value.text() == "fresh"
        reopened.write("app/env/k001", SecretValue.of("after reopening"))


def test_master_key_rotation_elsewhere_does_not_stop_writers(db: Path) -> None:
    """A master-key rotation keeps the data key, so other open backends keep writing."""
    other = LocalBackend(db)
    try:
        with LocalBackend(db) as rotating:
            rotating.rotate_master_key()
        other.write("app/env/k002", SecretValue.of("still fine"))
        assert other.read("app/env/k002").value.text() == "still fine"
    finally:
        other.close()
