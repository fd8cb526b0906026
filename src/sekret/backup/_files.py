"""Backup files on disk: atomic 0600 writes, and the raw copy of a local store.

``open_backup_file`` opens a backup for reading without following a
symlink, refusing one another account owns or could swap (backups are written
through ``sekret._files.write_private_stream``).
``backup_local_store`` (public through ``sekret.backup``) is a consistent
copy of a local store's SQLite file taken with the sqlite3 online backup API
while writers may run; its values stay sealed under the store's key.

This module must never create a file readable by group or others, never
overwrite an existing file unless told to, never follow a symlink at the
temporary path, never leave a temporary file behind on failure, and never
decrypt anything.
"""

from __future__ import annotations

import os
import secrets as _random
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

from sekret._files import check_folder, fsync_folder, open_owned
from sekret.exceptions import ConfigurationError, Conflict, IntegrityError


def open_backup_file(path: Path) -> BinaryIO:
    """A backup opened for reading: never through a symlink, refused when another
    account owns it or could swap it (its folder writable by others, no sticky bit)."""
    check_folder(path.absolute().parent, what="backup")
    try:
        fd = open_owned(path, what="backup")
    except ConfigurationError:
        if not os.path.lexists(path):
            raise ConfigurationError(f"no backup at {path}") from None
        raise
    return os.fdopen(fd, "rb")


@dataclass(frozen=True, slots=True)
class LocalCopy:
    """The result of ``backup_local_store``."""

    source: Path
    path: Path
    size: int
    secrets: int


def backup_local_store(
    db_path: str | Path, dest_path: str | Path, *, overwrite: bool = False
) -> LocalCopy:
    """A consistent copy of a local store's SQLite file (online backup API), mode 0600.

    The copy is taken while writers may run; values in it stay sealed under the
    store's data key, so it opens with the same master key (back that up apart).
    """
    source = Path(db_path).expanduser()
    dest = Path(dest_path).expanduser()
    if not source.is_file():
        raise ConfigurationError(f"no store at {source}")
    if dest.exists() and not overwrite:
        raise Conflict(f"{dest} already exists; refusing to overwrite it")
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = dest.with_name(f".{dest.name}.{_random.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    os.close(os.open(temp, flags, 0o600))
    try:
        if os.name == "posix":
            os.chmod(temp, 0o600)
        count = _sqlite_copy(source, temp)
        fd = os.open(temp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, dest)
    except BaseException:
        for leftover in (temp, Path(f"{temp}-journal"), Path(f"{temp}-wal"), Path(f"{temp}-shm")):
            leftover.unlink(missing_ok=True)
        raise
    fsync_folder(dest.parent)
    return LocalCopy(source, dest, dest.stat().st_size, count)


def _sqlite_copy(source: Path, temp: Path) -> int:
    uri = f"file:{quote(str(source.absolute()))}?mode=ro"
    try:
        src = sqlite3.connect(uri, uri=True, timeout=10.0)
    except sqlite3.Error as exc:
        raise IntegrityError(f"{source} cannot be opened as a store ({exc})") from exc
    try:
        try:
            src.execute("SELECT value FROM meta WHERE key = 'store_id'").fetchone()
            dst = sqlite3.connect(str(temp))
        except sqlite3.Error as exc:
            raise IntegrityError(f"{source} is damaged or not a sekret store ({exc})") from exc
        try:
            src.backup(dst)
            ok = dst.execute("PRAGMA quick_check").fetchone()
            if not ok or ok[0] != "ok":
                raise IntegrityError(f"the copy of {source} failed its integrity check")
            row = dst.execute("SELECT count(*) FROM secrets").fetchone()
            return int(row[0])
        except sqlite3.Error as exc:
            raise IntegrityError(f"copying {source} failed ({exc})") from exc
        finally:
            dst.close()
    finally:
        src.close()
