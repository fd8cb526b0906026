"""The local store's errors: sqlite3 failures translated, and the answers of a lookup.

``translate`` turns any ``sqlite3.Error`` into a sekret error naming the
store's file (a lock into ``BackendUnavailable``, a damaged or foreign file
into ``IntegrityError``); the other helpers build the not-found, deleted,
missing-version and malformed errors of
``sekret.backends.local``.

This module must never log, print, or put a value or a key in an error (sqlite
messages hold no values; names and version ids are not secret).
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from sekret.backends.local._rows import from_us
from sekret.exceptions import (
    BackendUnavailable,
    IntegrityError,
    SecretDeleted,
    SecretNotFound,
    SekretError,
    VersionNotFound,
)

__all__ = ["gone", "is_busy", "malformed", "no_version", "not_found", "translate"]


def is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorname", "") or ""
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return True
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text


def translate(exc: sqlite3.Error, path: Path, *, waited: float | None = None) -> SekretError:
    """An sqlite3 error as a sekret error naming the file (sqlite messages hold no values)."""
    code = getattr(exc, "sqlite_errorname", "") or ""
    if is_busy(exc):
        return BackendUnavailable(
            f"store {path} is locked by another process"
            + (f" (gave up after {waited:.1f}s)" if waited is not None else ""),
            backend=f"local://{path}",
        )
    if (
        code.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT"))
        or isinstance(exc, sqlite3.IntegrityError)
        or "not a database" in str(exc)
        or "malformed" in str(exc)
    ):
        return IntegrityError(
            f"{path} is damaged or not a sekret store ({exc})", backend=f"local://{path}"
        )
    if isinstance(exc, sqlite3.ProgrammingError):
        return BackendUnavailable(f"store {path} is closed ({exc})", backend=f"local://{path}")
    return BackendUnavailable(f"store {path} cannot be used: {exc}", backend=f"local://{path}")


def not_found(name: str, backend: str, suffix: str = "") -> SecretNotFound:
    return SecretNotFound(f"secret {name!r} not found{suffix}", name=name, backend=backend)


def gone(name: str, purge_at: int, now: datetime, backend: str) -> SecretNotFound:
    """The error for a secret pending deletion (or past its window)."""
    until = from_us(purge_at)
    if now >= until:
        return not_found(name, backend)
    return SecretDeleted(
        f"secret {name!r} is scheduled for deletion on {until:%Y-%m-%d}",
        name=name,
        backend=backend,
        recoverable_until=until,
    )


def no_version(name: str, version: str | None, stage: str | None, backend: str) -> VersionNotFound:
    if version is None:
        return VersionNotFound(
            f"secret {name!r} has no version in stage {stage!r}",
            name=name,
            backend=backend,
        )
    return VersionNotFound(
        f"secret {name!r} has no version {version!r}" + (f" in stage {stage!r}" if stage else ""),
        name=name,
        version=version,
        backend=backend,
    )


def malformed(name: str, number: int, path: Path, backend: str) -> IntegrityError:
    return IntegrityError(
        f"secret {name!r} version {number} is malformed in {path}",
        name=name,
        version=str(number),
        backend=backend,
    )
