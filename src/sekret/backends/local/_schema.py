"""The local store's on-disk format: schema, statements and the meta table.

``sekret.backends.local`` (whose docstring explains the store) creates and
reads stores with these: the tables and indexes of a new store, the
single-statement reads of the hot path, the statements that keep the copied
stage columns in step, the creation of a new store's tables and ``meta`` rows,
and the check of those rows at open. (Format 1 is the only format so far:
there are no migrations yet.)

This module must never write to an existing store, change its format, or put
a value or a key in an error.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from sekret._sealing import KdfParams
from sekret.backends.base import utcnow
from sekret.backends.local._errors import translate
from sekret.backends.local._rows import to_us
from sekret.exceptions import ConfigurationError, IntegrityError

__all__ = [
    "CURSOR",
    "KEY_ID",
    "KEY_STATE",
    "NEXT_KEY",
    "FORMAT",
    "LIST",
    "LIST_FROM",
    "MODE_KEY",
    "MODE_PASSPHRASE",
    "READ_BY_STAGE",
    "READ_BY_VERSION",
    "READ_CURRENT",
    "SCHEMA",
    "SYNC_CURRENT",
    "SYNC_STAGES",
    "VERSIONS",
    "create_schema",
    "read_meta",
]

FORMAT: Final = 1
# meta rows present only while a data-key rotation runs (rotate_data_key)
NEXT_KEY: Final = "wrapped_key_next"
CURSOR: Final = "rekey_cursor"
# random id of the current data key, changed by every data-key rotation: a
# process holding an older data key refuses to write (KEY_STATE reads both)
KEY_ID: Final = "data_key_id"
KEY_STATE: Final = "SELECT key, value FROM meta WHERE key IN ('data_key_id', 'wrapped_key_next')"
MODE_KEY: Final = "key"
MODE_PASSPHRASE: Final = "passphrase"

# Tables are keyed by the full name (WITHOUT ROWID: one b-tree descent per
# lookup). ``stages`` is the truth about labels; ``secrets.current`` and
# ``versions.stages`` are copies kept in step by every write, so the hot read
# (the current version) is one join of two primary-key lookups.
SCHEMA: Final = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE secrets (
    name TEXT PRIMARY KEY,
    uid BLOB NOT NULL,
    counter INTEGER NOT NULL DEFAULT 0,
    current INTEGER,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL,
    purge_at INTEGER
) WITHOUT ROWID;
CREATE INDEX secrets_purge ON secrets (purge_at) WHERE purge_at IS NOT NULL;
CREATE TABLE versions (
    name TEXT NOT NULL REFERENCES secrets (name) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    created INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    token TEXT,
    metadata TEXT,
    stages TEXT,
    sealed BLOB NOT NULL,
    PRIMARY KEY (name, version)
) WITHOUT ROWID;
CREATE INDEX versions_token ON versions (name, token) WHERE token IS NOT NULL;
CREATE TABLE stages (
    name TEXT NOT NULL REFERENCES secrets (name) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    version INTEGER NOT NULL,
    PRIMARY KEY (name, stage)
) WITHOUT ROWID;
"""

# One statement per read, so a read sees one consistent snapshot without a
# transaction of its own.
READ_CURRENT: Final = (
    "SELECT s.uid, s.purge_at, v.version, v.created, v.content_type, v.metadata, v.sealed,"
    " v.stages FROM secrets s"
    " LEFT JOIN versions v ON v.name = s.name AND v.version = s.current"
    " WHERE s.name = ?1"
)
READ_BY_STAGE: Final = (
    "SELECT s.uid, s.purge_at, v.version, v.created, v.content_type, v.metadata, v.sealed,"
    " v.stages FROM secrets s"
    " LEFT JOIN stages st ON st.name = s.name AND st.stage = ?2"
    " LEFT JOIN versions v ON v.name = s.name AND v.version = st.version"
    " WHERE s.name = ?1"
)
READ_BY_VERSION: Final = (
    "SELECT s.uid, s.purge_at, v.version, v.created, v.content_type, v.metadata, v.sealed,"
    " v.stages FROM secrets s"
    " LEFT JOIN versions v ON v.name = s.name AND v.version = ?2"
    " WHERE s.name = ?1"
)
VERSIONS: Final = (
    "SELECT s.purge_at, v.version, v.created, v.metadata, v.stages"
    " FROM secrets s LEFT JOIN versions v ON v.name = s.name"
    " WHERE s.name = ?1 ORDER BY v.version"
)
# Keyset pagination: one lower bound (the prefix, or the page token when it
# sorts after it) so every page is one seek on the primary key, never a scan
# from the start of the prefix (two lower bounds on one column let SQLite seek
# on only one of them).
LIST: Final = (
    "SELECT name, created, updated, current, purge_at FROM secrets"
    " WHERE name > ?1 AND name < ?2"
    " AND (purge_at IS NULL OR (?3 AND purge_at > ?4))"
    " ORDER BY name LIMIT ?5"
)
LIST_FROM: Final = (
    "SELECT name, created, updated, current, purge_at FROM secrets"
    " WHERE name >= ?1 AND name < ?2"
    " AND (purge_at IS NULL OR (?3 AND purge_at > ?4))"
    " ORDER BY name LIMIT ?5"
)
SYNC_STAGES: Final = (
    "UPDATE versions SET stages = (SELECT group_concat(t.stage, ' ') FROM stages t"
    " WHERE t.name = versions.name AND t.version = versions.version)"
    " WHERE name = ?1 AND (stages IS NOT NULL"
    " OR version IN (SELECT version FROM stages WHERE name = ?1))"
)
SYNC_CURRENT: Final = (
    "UPDATE secrets SET current = (SELECT version FROM stages"
    " WHERE name = ?1 AND stage = 'current'), updated = ?2 WHERE name = ?1"
)


def _random_id() -> bytes:
    import secrets  # lazy: only a new store or a rotation needs one

    return secrets.token_bytes(16)


def create_schema(
    conn: sqlite3.Connection,
    *,
    store_id: bytes,
    mode: str,
    wrapped: bytes,
    kdf: KdfParams | None,
) -> None:
    """Create the tables and the ``meta`` rows of a new store in one transaction."""
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("BEGIN IMMEDIATE")
    for statement in SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)
    meta: dict[str, str | bytes | int] = {
        "format": FORMAT,
        "store_id": store_id,
        "mode": mode,
        "wrapped_key": wrapped,
        "created": to_us(utcnow()),
        KEY_ID: _random_id(),
    }
    if kdf is not None:
        meta["kdf"] = kdf.dumps()
    conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
    conn.execute("COMMIT")


def read_meta(conn: Callable[[], sqlite3.Connection], path: Path, backend: str) -> dict[str, Any]:
    """The ``meta`` rows of the store at ``path``, checked (``conn`` opens its connection)."""
    try:
        rows = conn().execute("SELECT key, value FROM meta").fetchall()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            raise IntegrityError(
                f"{path} is an SQLite database but not a sekret store (no meta table)",
                backend=backend,
            ) from exc
        raise translate(exc, path) from exc
    except sqlite3.Error as exc:
        raise translate(exc, path) from exc
    meta = dict(rows)
    if meta.get("format") != FORMAT:
        raise ConfigurationError(
            f"store {path} has format {meta.get('format')!r}; this sekret reads {FORMAT}"
        )
    if not {"store_id", "mode", "wrapped_key"} <= set(meta):
        raise IntegrityError(f"store {path} is missing its key material")
    expected: dict[str, type] = {"store_id": bytes, "wrapped_key": bytes, "mode": str}
    if NEXT_KEY in meta:
        expected[NEXT_KEY] = bytes
    for key, kind in expected.items():
        if not isinstance(meta[key], kind):
            raise IntegrityError(
                f"store {path} is damaged: meta row {key!r} holds"
                f" {type(meta[key]).__name__}, not {kind.__name__}",
                backend=backend,
            )
    if len(meta["store_id"]) != 16:
        raise IntegrityError(f"store {path} is damaged: meta row 'store_id' has the wrong size")
    return meta
