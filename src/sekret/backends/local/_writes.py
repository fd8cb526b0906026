"""What the local store's writes do inside their transaction.

``sekret.backends.local`` validates a write's arguments, then runs one of
these inside ``LocalBackend._write`` (one ``BEGIN IMMEDIATE`` transaction):
``add_version`` (``write``: idempotency token, compare-and-set, a new sealed
version and its stages) and ``move_label`` (``move_stage``). The steps
(``secret_row``, ``stage_of``, ``move``, ``sync``, ``info``) keep the copied
columns (``secrets.current``, ``versions.stages``) in step with ``stages``.

Each function takes ``backend`` (the store's ``describe()``) for its errors.
This module must never open its own transaction or connection, change a
stored version, or put a value or a key in an error.
"""

from __future__ import annotations

import json
import sqlite3

from sekret import _sealing
from sekret._values import CURRENT, SecretValue, VersionInfo
from sekret.backends.base import check_expected_version, check_stage_holder, token_reused
from sekret.backends.base import move_label as move_in_map
from sekret.backends.local._errors import gone, no_version, not_found
from sekret.backends.local._rows import NO_LIMIT, from_us, metadata_of, stage_set, version_number
from sekret.backends.local._schema import SYNC_CURRENT, SYNC_STAGES
from sekret.exceptions import InvalidValue

__all__ = [
    "absent",
    "add_first_versions",
    "add_version",
    "info",
    "move",
    "move_label",
    "reseal_batch",
    "secret_row",
    "set_meta",
    "stage_of",
    "sync",
]


def secret_row(conn: sqlite3.Connection, name: str) -> tuple[bytes, int, int | None] | None:
    """(uid, counter, purge_at) of a secret, inside a write transaction."""
    row = conn.execute(
        "SELECT uid, counter, purge_at FROM secrets WHERE name = ?", (name,)
    ).fetchone()
    return None if row is None else (row[0], row[1], row[2])


def stage_of(conn: sqlite3.Connection, name: str, stage: str) -> int | None:
    row = conn.execute(
        "SELECT version FROM stages WHERE name = ? AND stage = ?", (name, stage)
    ).fetchone()
    return None if row is None else int(row[0])


_UPSERT_STAGE = (
    "INSERT INTO stages (name, stage, version) VALUES (?, ?, ?)"
    " ON CONFLICT (name, stage) DO UPDATE SET version = excluded.version"
)


def move(conn: sqlite3.Connection, name: str, stage: str, version: int | None) -> None:
    """Move one label by the shared rule (``base.move_label``); the caller then ``sync``s."""
    rows = conn.execute("SELECT stage, version FROM stages WHERE name = ?", (name,)).fetchall()
    before = {s: str(v) for s, v in rows}
    after = dict(before)
    move_in_map(after, stage, None if version is None else str(version))
    for label in before.keys() - after.keys():
        conn.execute("DELETE FROM stages WHERE name = ? AND stage = ?", (name, label))
    for label, held in after.items():
        if before.get(label) != held:
            conn.execute(_UPSERT_STAGE, (name, label, int(held)))


def sync(conn: sqlite3.Connection, name: str, now: int) -> None:
    """Bring ``secrets.current`` and ``versions.stages`` in line with ``stages``."""
    conn.execute(SYNC_STAGES, (name,))
    conn.execute(SYNC_CURRENT, (name, now))


def info(conn: sqlite3.Connection, name: str, number: int) -> VersionInfo:
    created, meta, stages = conn.execute(
        "SELECT created, metadata, stages FROM versions WHERE name = ? AND version = ?",
        (name, number),
    ).fetchone()
    return VersionInfo(name, str(number), stage_set(stages), from_us(created), metadata_of(meta))


def add_version(
    conn: sqlite3.Connection,
    now: int,
    *,
    sealer: _sealing.Sealer,
    backend: str,
    name: str,
    value: SecretValue,
    stage_list: list[str],
    expected_version: str | None,
    token: str | None,
    meta_text: str | None,
) -> VersionInfo:
    """``write``'s transaction: the earlier version for a repeated token, else a new one.

    ``sealer`` seals the new version. Every ``SekretError`` is raised before
    the first change, so a failed write leaves its transaction as it found it
    (``put_many`` relies on this to batch writes without a savepoint each).
    """
    row = secret_row(conn, name)
    if row is not None and row[2] is not None:
        raise gone(name, row[2], from_us(now), backend)
    if expected_version is not None:
        current = None if row is None else stage_of(conn, name, CURRENT)
        check_expected_version(
            name,
            expected_version,
            exists=row is not None,
            current=None if current is None else str(current),
            backend=backend,
        )
    if row is not None and token is not None:
        found = conn.execute(
            "SELECT version, content_type, sealed FROM versions WHERE name = ? AND token = ?",
            (name, token),
        ).fetchone()
        if found is not None:
            number, ctype, sealed = found
            plain = sealer.open(sealed, name=name, uid=row[0], version=number, ctype=ctype)
            if SecretValue.from_stored(plain, ctype, max_bytes=NO_LIMIT) != value:
                raise token_reused(name, str(number), backend=backend)
            return info(conn, name, number)
    if row is None:
        return _first_version(conn, now, sealer, name, value, stage_list, token, meta_text)
    else:
        uid, number = row[0], row[1] + 1
        conn.execute("UPDATE secrets SET counter = ? WHERE name = ?", (number, name))
    sealed = sealer.seal(
        value.bytes(), name=name, uid=uid, version=number, ctype=value.content_type
    )
    conn.execute(
        "INSERT INTO versions (name, version, created, content_type, token, metadata, sealed)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (name, number, now, value.content_type, token, meta_text, sealed),
    )
    for stage in stage_list:
        move(conn, name, stage, number)
    sync(conn, name, now)
    return info(conn, name, number)


def _first_version(
    conn: sqlite3.Connection,
    now: int,
    sealer: _sealing.Sealer,
    name: str,
    value: SecretValue,
    stage_list: list[str],
    token: str | None,
    meta_text: str | None,
) -> VersionInfo:
    """A new secret's version 1: its rows written directly, copies included (3 statements)."""
    return add_first_versions(conn, now, sealer, [(name, value, stage_list, token, meta_text)])[0]


def absent(conn: sqlite3.Connection, names: list[str]) -> set[str]:
    """Which of ``names`` (at most 999) the store holds no row for, deleted ones included."""
    marks = ",".join("?" * len(names))
    sql = f"SELECT name FROM secrets WHERE name IN ({marks})"  # noqa: S608 - placeholders only
    held = conn.execute(sql, names).fetchall()
    return set(names).difference(name for (name,) in held)


def add_first_versions(
    conn: sqlite3.Connection,
    now: int,
    sealer: _sealing.Sealer,
    writes: list[tuple[str, SecretValue, list[str], str | None, str | None]],
) -> list[VersionInfo]:
    """Version 1 of many new secrets (name, value, stage_list, token, meta_text): one
    ``executemany`` per table for the whole batch instead of ``_first_version``'s
    statements per secret. The caller guarantees every name is absent (``absent``)
    and appears once; the rows are exactly what ``_first_version`` writes."""
    secrets_rows: list[tuple[object, ...]] = []
    version_rows: list[tuple[object, ...]] = []
    stage_rows: list[tuple[str, str]] = []
    out: list[VersionInfo] = []
    created = from_us(now)
    for name, value, stage_list, token, meta_text in writes:
        uid = _sealing.new_key()[:16]
        ctype = value.content_type
        sealed = sealer.seal(value.bytes(), name=name, uid=uid, version=1, ctype=ctype)
        current = 1 if CURRENT in stage_list else None
        secrets_rows.append((name, uid, current, now, now))
        labels = " ".join(stage_list) or None
        version_rows.append((name, now, ctype, token, meta_text, labels, sealed))
        stage_rows.extend((name, stage) for stage in stage_list)
        stages = frozenset(stage_list)
        out.append(VersionInfo(name, "1", stages, created, metadata_of(meta_text)))
    conn.executemany(
        "INSERT INTO secrets (name, uid, counter, current, created, updated)"
        " VALUES (?, ?, 1, ?, ?, ?)",
        secrets_rows,
    )
    conn.executemany(
        "INSERT INTO versions"
        " (name, version, created, content_type, token, metadata, stages, sealed)"
        " VALUES (?, 1, ?, ?, ?, ?, ?, ?)",
        version_rows,
    )
    conn.executemany("INSERT INTO stages (name, stage, version) VALUES (?, ?, 1)", stage_rows)
    return out


def move_label(
    conn: sqlite3.Connection,
    now: int,
    *,
    backend: str,
    name: str,
    stage: str,
    version: str | None,
    expected_version: str | None,
) -> None:
    """``move_stage``'s transaction: check the version and the holder, move, sync."""
    row = secret_row(conn, name)
    if row is None:
        raise not_found(name, backend)
    if row[2] is not None:
        raise gone(name, row[2], from_us(now), backend)
    number = None if version is None else version_number(version)
    if version is not None and (
        number is None
        or conn.execute(
            "SELECT 1 FROM versions WHERE name = ? AND version = ?", (name, number)
        ).fetchone()
        is None
    ):
        raise no_version(name, version, None, backend)
    holder = stage_of(conn, name, stage)
    check_stage_holder(
        name, stage, None if holder is None else str(holder), expected_version, backend=backend
    )
    if stage == CURRENT and number is None:
        raise InvalidValue("the current stage cannot be removed, only moved")
    move(conn, name, stage, number)
    sync(conn, name, now)


def set_meta(conn: sqlite3.Connection, rows: dict[str, str | bytes]) -> None:
    """Insert or replace ``meta`` rows."""
    conn.executemany(
        "INSERT INTO meta (key, value) VALUES (?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        rows.items(),
    )


def reseal_batch(
    conn: sqlite3.Connection, now: int, *, sealer: _sealing.Sealer, batch: int
) -> tuple[int, int]:
    """One step of a data-key rotation: re-seal up to ``batch`` versions after the
    cursor with ``sealer`` (which opens old and new), move the cursor; returns
    (versions re-sealed now, versions re-sealed so far)."""
    row = conn.execute("SELECT value FROM meta WHERE key = 'rekey_cursor'").fetchone()
    cursor = json.loads(row[0]) if row and row[0] else []
    after_name, after_version, done = cursor if len(cursor) == 3 else ("", -1, 0)
    rows = conn.execute(
        "SELECT v.name, v.version, s.uid, v.content_type, v.sealed FROM versions v"
        " JOIN secrets s ON s.name = v.name WHERE (v.name, v.version) > (?, ?)"
        " ORDER BY v.name, v.version LIMIT ?",
        (after_name, after_version, batch),
    ).fetchall()
    for name, number, uid, ctype, sealed in rows:
        plain = sealer.open(sealed, name=name, uid=uid, version=number, ctype=ctype)
        conn.execute(
            "UPDATE versions SET sealed = ? WHERE name = ? AND version = ?",
            (sealer.seal(plain, name=name, uid=uid, version=number, ctype=ctype), name, number),
        )
    if rows:
        done += len(rows)
        last = rows[-1]
        set_meta(conn, {"rekey_cursor": json.dumps([last[0], last[1], done])})
    return len(rows), done
