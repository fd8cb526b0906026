"""``file://``: secrets mounted as files, read-only.

For what the platform already puts on disk: Docker/Compose secrets in
``/run/secrets``, Kubernetes secret volumes, the Secrets Store CSI driver,
External Secrets Operator targets mounted as volumes. It declares
``READ | LIST``; every write raises ``UnsupportedOperation``. It can be a
chain member (``chain`` with mounted files first, the manager behind).

URL
    ``file:///run/secrets`` (the root folder), options
    ``?layout=short|full`` and ``?group_read=1``.

Name -> path
    ``layout=short`` (the default): the name after its ``app/environment/``
    part, under the root: ``arrwdb/production/cohere-api-key`` ->
    ``/run/secrets/cohere-api-key`` (a mount belongs to one app and
    environment, as a container does). ``layout=full``: the whole name,
    ``/mnt/secrets/arrwdb/production/cohere-api-key``. Deeper names are
    subfolders. Entries whose name starts with ``.`` (Kubernetes'
    ``..data`` and ``..2024_...`` folders, editors' temporary files) are never
    secrets and are not listed.

Symbolic links
    Kubernetes updates a secret volume by writing a new timestamped folder and
    swapping the ``..data`` link to it; each key is a link through ``..data``.
    So links are followed, but only while they stay inside the root (after
    resolving every link, the real path must be under the root's real path);
    a link that leads out of the root raises ``InsecurePath``. The file is then
    opened without following links (``O_NOFOLLOW``); if a swap removed it in
    between, the path is resolved again.

Permissions (checked like key files, on the opened file)
    A regular file owned by this user or root; no write access for group or
    others, no read access for others. Group read is refused unless
    ``group_read=1`` (Kubernetes with ``fsGroup`` and ``defaultMode: 0440``).
    The root folder must not be writable by others unless sticky
    (``sekret._files.check_folder``). Kubernetes' default mode 0644 and
    Docker Swarm's 0444 are refused with the fix (``defaultMode: 0400``,
    ``mode: 0400``).

Values
    Not valid UTF-8: binary. UTF-8 that parses as a JSON object or array:
    JSON. Otherwise text, exactly as in the file (a trailing newline is kept:
    the file is the value).

Versions
    One version, ``current``; its id is a keyed hash of the content (the key is
    random per process: the id reveals nothing about the value, and changes
    whenever the content does, so the cache, ``run --watch`` and
    ``inject --watch`` see a rotation as a new current version). ``created`` is
    the file's modification time.

This module must never write, and never put file contents in an error.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets as _random
import stat
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote, urlsplit

from sekret._files import check_folder, check_owner, read_limited
from sekret._names import validate_name
from sekret._values import CURRENT, Page, Secret, SecretInfo, SecretValue, VersionInfo
from sekret.backends.base import (
    Backend,
    Capability,
    check_one_version,
    check_page_size,
    text_kind,
)
from sekret.exceptions import (
    ConfigurationError,
    InsecurePath,
    InvalidValue,
    SecretNotFound,
)

__all__ = ["FileBackend"]

_VERSION_KEY = _random.token_bytes(32)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_POSIX = os.name == "posix"
_TRUE = ("1", "true", "yes")


class FileBackend(Backend):
    """A folder of mounted secret files as a read-only backend."""

    scheme: ClassVar[str] = "file"
    capabilities = Capability.READ | Capability.LIST

    def __init__(
        self, root: str | os.PathLike[str], *, layout: str = "short", group_read: bool = False
    ) -> None:
        if layout not in ("short", "full"):
            raise ConfigurationError(f"file:// layout must be 'short' or 'full', not {layout!r}")
        self.root = Path(root)
        if not self.root.is_absolute():
            raise ConfigurationError(f"file:// needs an absolute root folder, not {str(root)!r}")
        self.layout = layout
        self.group_read = group_read

    @classmethod
    def from_url(cls, url: str, **options: Any) -> FileBackend:
        """``file:///run/secrets`` or ``file:///mnt/secrets?layout=full&group_read=1``."""
        parts = urlsplit(url)
        if parts.netloc:
            raise ConfigurationError(
                f"file:// takes a local folder, not host {parts.netloc!r}: file:///run/secrets"
            )
        if not parts.path:
            raise ConfigurationError("file:// needs a root folder: file:///run/secrets")
        query = parse_qsl(parts.query, keep_blank_values=True)
        unknown = sorted({k for k, _ in query} - {"layout", "group_read"})
        if unknown:
            raise ConfigurationError(f"file:// does not know the option(s) {', '.join(unknown)}")
        for key, value in query:
            if key == "layout":
                options.setdefault("layout", value)
            else:
                options.setdefault("group_read", value.lower() in _TRUE)
        return cls(unquote(parts.path), **options)

    def describe(self) -> str:
        options = [f"layout={self.layout}"] * (self.layout != "short")
        options += ["group_read=1"] * self.group_read
        return f"file://{self.root}" + ("?" + "&".join(options) if options else "")

    # -- names ---------------------------------------------------------------
    def relative(self, name: str) -> str:
        """The path under the root that a full name maps to."""
        validate_name(name)
        parts = name.split("/")
        if self.layout == "short" and len(parts) >= 3:
            parts = parts[2:]
        if any(p.startswith(".") for p in parts):
            raise SecretNotFound(
                f"secret {name!r} not found (names starting with '.' are never mounted secrets)",
                name=name,
                backend=self.describe(),
            )
        return "/".join(parts)

    def _real_root(self) -> Path:
        try:
            real = self.root.resolve(strict=True)
        except (FileNotFoundError, NotADirectoryError):
            raise ConfigurationError(
                f"file:// root {self.root} does not exist (is the volume mounted?)"
            ) from None
        except OSError as exc:
            raise ConfigurationError(f"file:// root {self.root} cannot be read: {exc}") from exc
        if not real.is_dir():
            raise ConfigurationError(f"file:// root {self.root} is not a folder")
        check_folder(real, what="secrets mount")
        return real

    def _inside(self, real_root: Path, relative: str, name: str) -> Path:
        """Resolve links; the result must stay under the root."""
        target = (real_root / relative).resolve(strict=False)
        if target != real_root and real_root not in target.parents:
            raise InsecurePath(
                f"secret {name!r}: {self.root / relative} links outside the mount {self.root};"
                " refusing to follow it"
            )
        return target

    # -- reads ---------------------------------------------------------------
    def _read_file(self, name: str) -> tuple[bytes, os.stat_result]:
        relative = self.relative(name)
        real_root = self._real_root()
        for _ in range(3):  # a Kubernetes ..data swap may remove the old file in between
            target = self._inside(real_root, relative, name)
            try:
                fd = os.open(target, os.O_RDONLY | _NOFOLLOW)
            except (FileNotFoundError, NotADirectoryError):
                if os.path.lexists(real_root / relative):
                    continue  # the link exists but its target just went away: resolve again
                raise SecretNotFound(
                    f"secret {name!r} not found (no file {self.root / relative})",
                    name=name,
                    backend=self.describe(),
                ) from None
            except OSError as exc:
                if os.path.islink(target):
                    continue  # swapped to a link between resolve and open: resolve again
                raise ConfigurationError(
                    f"secret {name!r}: {self.root / relative} cannot be opened: {exc.strerror}"
                ) from exc
            try:
                return self._checked_read(fd, name, self.root / relative)
            finally:
                os.close(fd)
        raise ConfigurationError(
            f"secret {name!r}: {self.root / relative} kept changing while being read; try again"
        )

    def _checked_read(self, fd: int, name: str, shown: Path) -> tuple[bytes, os.stat_result]:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise SecretNotFound(
                f"secret {name!r} not found ({shown} is a folder)",
                name=name,
                backend=self.describe(),
            )
        if not stat.S_ISREG(st.st_mode):
            raise InsecurePath(f"secret {name!r}: {shown} is not a regular file")
        check_owner(st, shown, what="mounted secret file")
        if _POSIX:
            mode = stat.S_IMODE(st.st_mode)
            allowed = 0o740 if self.group_read else 0o700
            if mode & ~allowed & 0o777:
                fix = "0440 with group_read=1" if self.group_read else "0400"
                raise InsecurePath(
                    f"mounted secret file {shown} has mode {mode:04o}; others must have no access"
                    + ("" if self.group_read else " and group none (or pass group_read=1)")
                    + f": mount it with mode {fix} (Kubernetes defaultMode, Docker mode)"
                )
        limit = self.max_value_bytes
        data = read_limited(fd, limit)
        if data is None:
            raise InvalidValue(f"secret {name!r}: {shown} is larger than {limit} bytes")
        return data, st

    def _version(self, name: str, data: bytes) -> str:
        digest = hmac.new(_VERSION_KEY, name.encode() + b"\0" + data, hashlib.sha256)
        return digest.hexdigest()[:16]

    @staticmethod
    def _value(data: bytes, max_bytes: int) -> SecretValue:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return SecretValue(data, "bytes", max_bytes=max_bytes)
        return SecretValue(data, text_kind(text), max_bytes=max_bytes)

    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        data, st = self._read_file(name)
        current = self._version(name, data)
        check_one_version(
            name, version, stage, current, backend=self.describe(), why="a mounted file holds"
        )
        created = datetime.fromtimestamp(st.st_mtime, UTC)
        if not data:
            raise InvalidValue(f"secret {name!r}: {self.root / self.relative(name)} is empty")
        value = self._value(data, self.max_value_bytes)
        return Secret(name, current, value, frozenset({CURRENT}), created)

    # -- listing ---------------------------------------------------------------
    def _walk(self, real_root: Path) -> list[str]:
        """Relative paths of the files under the root, hidden entries skipped.

        ``os.walk`` puts a link to a file among the files (Kubernetes' keys) and
        never descends into a linked folder (``..data`` is hidden anyway).
        """
        found: list[str] = []
        for folder, dirs, files in os.walk(real_root, followlinks=False):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            base = Path(folder).relative_to(real_root)
            found += [(base / f).as_posix() for f in files if not f.startswith(".")]
        return sorted(found)

    def list(
        self,
        prefix: str = "",
        *,
        page_size: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> Page:
        """Mounted files whose full name starts with ``prefix``.

        With ``layout=short`` the ``app/environment/`` part is taken from the
        prefix (every file of the mount belongs to it).
        """
        check_page_size(page_size)
        real_root = self._real_root()
        head = ""
        rest = prefix
        if self.layout == "short":
            parts = prefix.split("/")
            if len(parts) < 3:
                return Page.of([], None)  # a short mount cannot answer above app/environment
            head = "/".join(parts[:2]) + "/"
            rest = "/".join(parts[2:])
        names = [
            head + rel
            for rel in self._walk(real_root)
            if rel.startswith(rest) and (page_token is None or head + rel > page_token)
        ]
        chunk = names[:page_size]
        items = [SecretInfo(n) for n in chunk]
        return Page.of(items, chunk[-1] if len(names) > page_size else None)

    # -- writes: never -----------------------------------------------------------
    def write(
        self,
        name: str,
        value: SecretValue,
        *,
        stages: Collection[str] = (CURRENT,),
        expected_version: str | None = None,
        token: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> VersionInfo:
        validate_name(name)
        raise self._unsupported("write (file:// is read-only)", Capability.WRITE)
