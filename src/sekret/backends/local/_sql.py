"""The local store's connections and retried transactions (process safety).

``open_connection`` opens an existing store file with the pragmas every
connection needs; ``run_write`` runs one ``BEGIN IMMEDIATE`` transaction
(purging expired soft-deleted secrets first) and ``run_query`` one read
statement, both retried with a short backoff while another process holds the
lock, then translated (``_errors``); ``snapshot`` wraps several reads in
one read transaction. What a write does inside its transaction is in
``_writes``.

This module must never create a store file, commit a partial write, seal or
open a value, or put a value or a key in an error.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from sekret.backends.local._errors import is_busy, translate

__all__ = ["open_connection", "run_query", "run_write", "snapshot"]

T = TypeVar("T")


def open_connection(path: Path, *, timeout: float) -> sqlite3.Connection:
    uri = f"file:{quote(str(path.absolute()))}?mode=rw"  # never creates a file
    conn = sqlite3.connect(
        uri,
        uri=True,
        timeout=timeout,
        isolation_level=None,  # transactions are explicit: BEGIN IMMEDIATE for writes
        check_same_thread=False,  # close() may run on another thread; use is per thread
        cached_statements=64,
    )
    try:
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA secure_delete=ON")
    except BaseException:
        conn.close()
        raise
    return conn


# -- transactions ----------------------------------------------------------


def _retried(attempt: Callable[[], T], *, retries: int, path: Path) -> T:
    """``attempt()``, retried with a short backoff while the store is busy, errors translated."""
    started = time.monotonic()
    for n in range(retries):
        try:
            return attempt()
        except sqlite3.Error as exc:
            if is_busy(exc) and n + 1 < retries:
                time.sleep(0.01 * (n + 1))
                continue
            raise translate(exc, path, waited=time.monotonic() - started) from exc
    raise AssertionError("unreachable")  # pragma: no cover


def run_write(
    conn: sqlite3.Connection,
    fn: Callable[[sqlite3.Connection, int], T],
    *,
    retries: int,
    now_us: Callable[[], int],
    path: Path,
) -> T:
    """Run ``fn(conn, now_us)`` in one BEGIN IMMEDIATE transaction, retried when busy."""

    def attempt() -> T:
        conn.execute("BEGIN IMMEDIATE")
        try:
            now = now_us()
            conn.execute("DELETE FROM secrets WHERE purge_at IS NOT NULL AND purge_at <= ?", (now,))
            result = fn(conn, now)
            conn.execute("COMMIT")
            return result
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    return _retried(attempt, retries=retries, path=path)


def run_query(
    conn: Callable[[], sqlite3.Connection],
    sql: str,
    params: tuple[Any, ...],
    *,
    retries: int,
    path: Path,
) -> list[Any]:
    """All rows of one read statement, retried when busy, errors translated."""
    return _retried(lambda: conn().execute(sql, params).fetchall(), retries=retries, path=path)


@contextmanager
def snapshot(conn: sqlite3.Connection, path: Path) -> Iterator[None]:
    """One read transaction around several reads (read_many)."""
    try:
        conn.execute("BEGIN")
    except sqlite3.Error as exc:
        raise translate(exc, path) from exc
    try:
        yield
    finally:
        if conn.in_transaction:
            try:
                conn.execute("COMMIT")
            except sqlite3.Error:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
