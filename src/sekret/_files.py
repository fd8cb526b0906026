"""Private files: the one place that writes, appends to and reads them.

Every file sekret writes that holds a value, a key, an audit record or an
anchor goes through here, so every writer gives the same guarantees:

* ``write_private``: a fresh temporary file beside the target
  (``O_CREAT | O_EXCL | O_NOFOLLOW``, mode 0600), written, fsynced, renamed
  over the target, then the folder fsynced. The rename replaces a symlink
  planted at the target instead of following it, and a reader sees the old
  file or the new one, never half of one.
* ``write_private_stream``: the same for a file written piece by piece
  (a streamed backup).
* ``open_private_append``: an append-only descriptor (``O_NOFOLLOW``, mode
  0600 on creation) on a regular file owned by this user (or root).
* ``read_private``: reads a small file without following a symlink, refusing
  one that is not a regular file, is open to group or others, or belongs to
  another account.
* ``check_folder``: the folder of a private file must belong to this user
  (or root) and must not be writable by group or others unless it has the
  sticky bit (as ``/tmp`` does): otherwise another account could swap the
  file between our check and our use.

Refusals raise ``InsecurePath`` (``InsecureKeyFile`` for key files) naming
the path and the fix. This module must never log or put file contents in an
error.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from sekret.exceptions import ConfigurationError, Conflict, InsecureKeyFile, InsecurePath

__all__ = [
    "check_folder",
    "check_owner",
    "fsync_folder",
    "open_owned",
    "open_private_append",
    "read_limited",
    "read_private",
    "write_private",
    "write_private_stream",
]

# temp names come from os.urandom: the secrets module would load hmac and OpenSSL (~4 ms)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_POSIX = os.name == "posix"


def _trusted_uids() -> tuple[int, ...]:
    return (os.geteuid(), 0) if _POSIX else ()


def check_owner(st: os.stat_result, path: Path, *, what: str) -> None:
    """Refuse ``path`` (already stat'ed) when it belongs to another account."""
    if _POSIX and st.st_uid not in _trusted_uids():
        raise InsecurePath(
            f"{what} {path} belongs to uid {st.st_uid}, not to this user (uid {os.geteuid()})"
            f" or root; another account controls it: chown it or use another path"
        )


def check_folder(folder: Path, *, what: str) -> None:
    """Refuse a folder another account could write to (no sticky bit) or that it owns."""
    if not _POSIX:
        return
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        return  # it will be created 0700 by the writer
    except OSError as exc:
        raise ConfigurationError(
            f"folder of {what} {folder} cannot be read: {exc.strerror}"
        ) from exc
    check_owner(st, folder, what=f"folder of {what}")
    if st.st_mode & 0o022 and not st.st_mode & stat.S_ISVTX:
        raise InsecurePath(
            f"folder {folder} of {what} is writable by group or others"
            f" (mode {stat.S_IMODE(st.st_mode):04o}), so another account could swap the file:"
            f" chmod go-w {folder}"
        )


def fsync_folder(folder: Path) -> None:
    """Make a rename or a new file in ``folder`` durable (a no-op off POSIX)."""
    if not _POSIX:
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_private(
    path: Path, data: bytes, *, what: str = "file", overwrite: bool = True, check: bool = True
) -> None:
    """Put ``data`` at ``path`` atomically: 0600, fsynced, never through a symlink.

    ``overwrite=False`` refuses an existing target with ``Conflict``. ``check``
    refuses a folder another account could write to (``check_folder``).
    """
    with write_private_stream(path, what=what, overwrite=overwrite, check=check) as out:
        out.write(data)


@contextmanager
def write_private_stream(
    path: Path, *, what: str = "file", overwrite: bool = True, check: bool = True
) -> Iterator[BinaryIO]:
    """``write_private`` for data written piece by piece: yields a binary file.

    The pieces go to a fresh 0600 temporary file beside ``path``; when the
    block ends without an error the file is fsynced and put in place (renamed,
    or linked when ``overwrite=False``), else it is removed.
    """
    path = Path(path)
    folder = path.parent
    if check:
        check_folder(folder, what=what)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not overwrite and os.path.lexists(path):
        raise Conflict(f"{what} {path} already exists; refusing to overwrite it")
    temp = folder / f".{path.name}.{os.urandom(6).hex()}.tmp"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            if _POSIX:
                os.fchmod(out.fileno(), 0o600)
            yield out
            out.flush()
            os.fsync(out.fileno())
        if overwrite:
            os.replace(temp, path)
        else:
            # link() fails if the target appeared meanwhile: never replace it.
            try:
                os.link(temp, path)
            except FileExistsError:
                raise Conflict(f"{what} {path} already exists; refusing to overwrite it") from None
            os.unlink(temp)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_folder(folder)


def _open_regular(path: Path, flags: int, *, what: str) -> int:
    """A descriptor on ``path``, never through a symlink: a regular file of this user (or root).

    Without ``O_CREAT`` in ``flags``, a missing file is ``ConfigurationError``.
    """
    try:
        fd = os.open(path, flags | _NOFOLLOW, 0o600)
    except OSError as exc:
        if isinstance(exc, FileNotFoundError) and not flags & os.O_CREAT:
            raise ConfigurationError(f"{what} {path} does not exist") from None
        if os.path.islink(path):
            raise InsecurePath(f"{what} {path} is a symbolic link; refusing to follow it") from exc
        raise ConfigurationError(f"{what} {path} cannot be opened: {exc.strerror}") from exc
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InsecurePath(f"{what} {path} is not a regular file")
        check_owner(st, path, what=what)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_private_mode(
    fd: int, path: Path, *, what: str, error: type[InsecurePath] = InsecurePath
) -> None:
    """``error`` when the open file grants group or others any access (POSIX only)."""
    st = os.fstat(fd)
    if _POSIX and st.st_mode & 0o077:
        raise error(
            f"{what} {path} has mode {stat.S_IMODE(st.st_mode):04o}; group and others"
            f" must have no access: chmod 600 {path}"
        )


def open_private_append(path: Path, *, what: str = "file", check: bool = True) -> int:
    """An ``O_APPEND`` descriptor on ``path``: created 0600, never through a symlink.

    An existing file must be a regular file of this user (or root) with no
    access for group or others.
    """
    path = Path(path)
    if check:
        check_folder(path.parent, what=what)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = _open_regular(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, what=what)
    try:
        _check_private_mode(fd, path, what=what)
    except BaseException:
        os.close(fd)
        raise
    return fd


def open_owned(path: Path, *, what: str = "file") -> int:
    """A read-only descriptor on ``path``: never through a symlink, a regular file
    of this user (or root). A missing file is ``ConfigurationError``."""
    return _open_regular(Path(path), os.O_RDONLY, what=what)


def read_limited(fd: int, limit: int) -> bytes | None:
    """Everything left to read on ``fd``, or None as soon as it exceeds ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = os.read(fd, min(65536, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return None


def read_private(
    path: Path, *, what: str = "file", limit: int = 1 << 16, key: bool = False
) -> bytes:
    """The bytes of a small private file (at most ``limit``), read without following a symlink.

    Refuses a missing file (``ConfigurationError``), a symlink or non-regular
    file, one owned by another account, and one open to group or others
    (``InsecureKeyFile`` when ``key``, else ``InsecurePath``).
    """
    path = Path(path)
    fd = open_owned(path, what=what)
    try:
        _check_private_mode(fd, path, what=what, error=InsecureKeyFile if key else InsecurePath)
        data = read_limited(fd, limit)
    finally:
        os.close(fd)
    if data is None:
        raise ConfigurationError(f"{what} {path} is larger than {limit} bytes")
    return data
