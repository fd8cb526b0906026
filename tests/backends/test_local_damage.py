"""A hand-damaged store: every bad column is an IntegrityError naming the row, never a crash."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sekret import IntegrityError, SecretValue, SekretError
from sekret.backends.local import LocalBackend, init_store
from sekret.testing import sentinel_value

KEY_ENV = ("SEKRET_MASTER_KEY", "SEKRET_KEY_FILE", "SEKRET_PASSPHRASE")
NAME = "app/env/db-password"

# Whatever a hand edit may put in a column: huge and negative ints, floats, text, blobs, NULL.
column_values = st.one_of(
    st.none(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.binary(max_size=40),
)


@pytest.fixture(autouse=True)
def _no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Key variables from the developer's shell must not change what these tests see."""
    for var in KEY_ENV:
        monkeypatch.delenv(var, raising=False)


VALUES = (sentinel_value("v1"), sentinel_value("v2"))


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A store holding one secret with two versions (the second current)."""
    db = tmp_path / "damaged.db"
    init_store(db)
    with LocalBackend(db) as backend:
        backend.write(NAME, SecretValue.of(VALUES[0]), metadata={"k": "v"})
        backend.write(NAME, SecretValue.of(VALUES[1]))
    return db


def _edit(db: Path, sql: str, params: tuple[object, ...]) -> None:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute(sql, params)
    finally:
        conn.close()


def test_created_out_of_range_is_an_integrity_error_naming_the_row(store: Path) -> None:
    """A `created` time no datetime can hold is IntegrityError naming secret and version."""
    _edit(store, "UPDATE versions SET created = ? WHERE version = 2", (2**62,))
    with LocalBackend(store) as backend, pytest.raises(IntegrityError) as caught:
        backend.read(NAME)
    assert NAME in str(caught.value)
    assert "version 2" in str(caught.value)
    with LocalBackend(store) as backend, pytest.raises(IntegrityError, match=NAME):
        backend.versions(NAME)


def test_text_where_a_blob_belongs_is_an_integrity_error(store: Path) -> None:
    """TEXT in the sealed column is IntegrityError naming the row, not a TypeError."""
    _edit(store, "UPDATE versions SET sealed = 'not a blob' WHERE version = 2", ())
    with LocalBackend(store) as backend, pytest.raises(IntegrityError, match="version 2"):
        backend.read(NAME)


def test_text_uid_is_an_integrity_error(store: Path) -> None:
    """TEXT in the secret's uid column is IntegrityError naming the secret."""
    _edit(store, "UPDATE secrets SET uid = 'text' WHERE name = ?", (NAME,))
    with LocalBackend(store) as backend, pytest.raises(IntegrityError, match=NAME):
        backend.read(NAME)


def test_unbounded_scrypt_parameters_are_refused_before_scrypt_runs(tmp_path: Path) -> None:
    """scrypt parameters asking for terabytes are IntegrityError naming the meta row."""
    db = tmp_path / "p.db"
    init_store(db, passphrase="pw-one")
    doc = json.loads(
        sqlite3.connect(db).execute("SELECT value FROM meta WHERE key='kdf'").fetchone()[0]
    )
    doc.update(n=2**40, r=2**20)
    _edit(db, "UPDATE meta SET value = ? WHERE key = 'kdf'", (json.dumps(doc),))
    with pytest.raises(IntegrityError, match="meta row 'kdf'"):
        LocalBackend(db, passphrase="pw-one")


def test_wrapped_key_as_text_is_an_integrity_error(store: Path) -> None:
    """TEXT where the wrapped data key (a BLOB) belongs is IntegrityError naming the row."""
    _edit(store, "UPDATE meta SET value = 'text' WHERE key = 'wrapped_key'", ())
    with pytest.raises(IntegrityError, match="wrapped_key"):
        LocalBackend(store)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    table_column=st.sampled_from(
        [
            ("versions", "created"),
            ("versions", "content_type"),
            ("versions", "metadata"),
            ("versions", "stages"),
            ("versions", "sealed"),
            ("versions", "version"),
            ("secrets", "uid"),
            ("secrets", "created"),
            ("secrets", "updated"),
            ("secrets", "current"),
            ("secrets", "purge_at"),
        ]
    ),
    value=column_values,
)
def test_fuzz_damaged_columns_raise_only_sekret_errors(
    store: Path, table_column: tuple[str, str], value: object
) -> None:
    """Fuzz: any value in any column gives a result or a SekretError, never another error."""
    table, column = table_column
    conn = sqlite3.connect(store, isolation_level=None)
    try:
        # table and column come from the fixed list above, never from input
        sql = f"UPDATE {table} SET {column} = ? WHERE name = ?"  # noqa: S608
        conn.execute(sql, (value, NAME))
    except sqlite3.IntegrityError:
        return  # the schema itself refused the edit (NOT NULL, primary key)
    finally:
        conn.close()
    messages = []
    with LocalBackend(store) as backend:
        for call in (
            lambda: backend.read(NAME),
            lambda: backend.read(NAME, version="1"),
            lambda: backend.versions(NAME),
            lambda: backend.list("app/"),
        ):
            try:
                call()
            except SekretError as exc:  # anything else fails the test
                messages.append(str(exc))
    assert not any(v in m for v in VALUES for m in messages)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    n=st.one_of(st.integers(min_value=-(2**70), max_value=2**70), st.text(max_size=5), st.none()),
    r=st.one_of(st.integers(min_value=-(2**40), max_value=2**40), st.floats()),
    p=st.integers(min_value=-(2**40), max_value=2**40),
)
def test_fuzz_scrypt_parameters_are_bounded(
    tmp_path: Path, n: object, r: object, p: object
) -> None:
    """Fuzz: any scrypt parameters in the meta row open or fail as a SekretError, quickly."""
    db = tmp_path / "kdf.db"
    if not db.exists():
        init_store(db, passphrase="pw-one")
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        doc = json.loads(conn.execute("SELECT value FROM meta WHERE key='kdf'").fetchone()[0])
        original = json.dumps(doc)
        doc.update(n=n, r=r, p=p)
        conn.execute("UPDATE meta SET value = ? WHERE key = 'kdf'", (json.dumps(doc),))
        try:
            LocalBackend(db, passphrase="pw-one").close()
        except SekretError:
            pass
        finally:
            conn.execute("UPDATE meta SET value = ? WHERE key = 'kdf'", (original,))
    finally:
        conn.close()
