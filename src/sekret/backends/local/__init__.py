"""``local://``: the embedded encrypted store, one SQLite file.

``local:///var/lib/app/secrets.db`` (absolute) or ``local://relative/path.db``;
``?key_file=/path/to/key`` is the only query option (keys and passphrases
never go in a URL). Create a store with ``init_store`` (``sekret init``).

Layout: WAL journal, ``synchronous=FULL``, foreign keys and ``secure_delete``
on. Every value is sealed with AES-256-GCM under a random data key; the
associated data binds it to this store's id, the secret's full name and
random id, its version and its content type (``_sealing``). The data key is
stored wrapped by the master key and unwrapped once, at open.

Where the master key comes from, first match wins:

1. an explicit argument: ``master_key=`` (32 bytes), ``key_file=`` or
   ``passphrase=`` (at most one);
2. for a store sealed with a passphrase: ``SEKRET_PASSPHRASE``;
3. for a store sealed with a key: ``SEKRET_MASTER_KEY`` (urlsafe base64 of
   32 bytes), then ``SEKRET_KEY_FILE``, then the default key file, the
   database path plus ``.key``.

The store records which of the two it is sealed with, so a passphrase is never
tried as a key file or the reverse. A key file open to group or others is
refused (``InsecureKeyFile``); a key that does not unwrap the data key raises
``WrongMasterKey`` and nothing is written.

Concurrency: one connection per thread (per process after a fork); writes
run in ``BEGIN IMMEDIATE`` transactions under a busy timeout and are retried;
a store still locked after that raises ``BackendUnavailable`` naming the file.
Every sqlite3 error is translated here: a damaged or foreign file is an
``IntegrityError`` naming the file. Reads never write: a soft-deleted secret
whose window has passed reads as not found and is purged by the next write.

The parts live in private modules: ``_schema`` (format, schema,
statements), ``_sql`` (connections, retried transactions),
``_writes`` (what a write does in its transaction), ``_rows``
(column conversions), ``_errors`` (error translation) and
``_keys`` (where the master key comes from).

This module must never log, print or put a value or a key in an error.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import struct
import threading
from collections.abc import Callable, Collection, Mapping, Sequence
from contextlib import AbstractContextManager, suppress
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from sekret import _sealing
from sekret._files import check_folder, check_owner, fsync_folder
from sekret._names import validate_name
from sekret._values import (
    CONTENT_TYPES,
    CURRENT,
    Page,
    Secret,
    SecretInfo,
    SecretValue,
    VersionInfo,
    validate_stage,
)
from sekret.backends.base import (
    DEFAULT_RECOVERY_DAYS,
    Backend,
    Capability,
    PutResults,
    WriteRequest,
    check_page_size,
    utcnow,
)
from sekret.backends.local._errors import gone, malformed, no_version, not_found
from sekret.backends.local._errors import translate as _translate
from sekret.backends.local._keys import default_key_file as default_key_file
from sekret.backends.local._keys import init_master, new_master, resolve_master
from sekret.backends.local._rows import MEMO_SIZE as _MEMO_SIZE
from sekret.backends.local._rows import NO_LIMIT as _NO_LIMIT
from sekret.backends.local._rows import NO_METADATA as _NO_METADATA
from sekret.backends.local._rows import from_us as _from_us
from sekret.backends.local._rows import metadata_of as _metadata
from sekret.backends.local._rows import stage_set as _stage_set
from sekret.backends.local._rows import to_us as _to_us
from sekret.backends.local._rows import version_number as _version_number
from sekret.backends.local._schema import (
    CURSOR,
    KEY_ID,
    KEY_STATE,
    NEXT_KEY,
    create_schema,
    read_meta,
)
from sekret.backends.local._schema import FORMAT as FORMAT
from sekret.backends.local._schema import LIST as _LIST
from sekret.backends.local._schema import LIST_FROM as _LIST_FROM
from sekret.backends.local._schema import MODE_KEY as MODE_KEY
from sekret.backends.local._schema import MODE_PASSPHRASE as MODE_PASSPHRASE
from sekret.backends.local._schema import READ_BY_STAGE as _READ_BY_STAGE
from sekret.backends.local._schema import READ_BY_VERSION as _READ_BY_VERSION
from sekret.backends.local._schema import READ_CURRENT as _READ_CURRENT
from sekret.backends.local._schema import VERSIONS as _VERSIONS
from sekret.backends.local._sql import open_connection as _open_connection
from sekret.backends.local._sql import run_query, run_write, snapshot
from sekret.backends.local._writes import (
    absent,
    add_first_versions,
    add_version,
    move_label,
    secret_row,
)
from sekret.backends.local._writes import (
    reseal_batch as _reseal_batch,
)
from sekret.backends.local._writes import (
    set_meta as _set_meta,
)
from sekret.exceptions import (
    BackendUnavailable,
    ConfigurationError,
    Conflict,
    IntegrityError,
    InvalidValue,
    SecretNotFound,
    SekretError,
    VersionNotFound,
)

__all__ = ["LocalBackend", "check_store_file", "default_key_file", "init_store"]

T = TypeVar("T")
_BATCH = 1000  # writes per transaction in put_many: one fsync per batch, short lock holds
_STAGE_LISTS: dict[tuple[str, ...], list[str]] = {}
"""Checked, ordered stage lists by the stage tuple a write gave (never mutated)."""
# What a hand-damaged row raises while it is converted (wrong type, out of range).
_DAMAGE = (
    TypeError,
    ValueError,
    OverflowError,
    OSError,
    AttributeError,
    RecursionError,
    struct.error,
)
Clock = Callable[[], datetime]


# os.fork copies connections that must not be used in the child: a fork bumps
# the generation and every backend opens fresh connections in the child.
_fork_generation = 0


def _after_fork() -> None:
    global _fork_generation
    _fork_generation += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


# -- init -------------------------------------------------------------------


def check_store_file(path: Path) -> None:
    """Refuse a store another account could swap or controls (``InsecurePath``).

    Its folder must belong to this user (or root) and not be writable by group
    or others without the sticky bit; the file itself must be this user's (or
    root's). Otherwise another account could replace the store and its key and
    have the application read its values and seal new ones under its key.
    """
    check_folder(path.absolute().parent, what="store")
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ConfigurationError(f"store {path} cannot be read: {exc.strerror}") from exc
    check_owner(st, path, what="store")


def init_store(
    path: str | Path,
    *,
    key_file: str | Path | None = None,
    passphrase: str | None = None,
) -> Path | None:
    """Create a new, empty store at ``path``; return its key file (None with a passphrase).

    Without ``passphrase`` a fresh 32-byte master key goes to ``key_file``
    (default: ``path`` + ``.key``), mode 0600; an existing key file is reused,
    never overwritten (so several stores may share one key). An existing file
    at ``path`` raises Conflict. The database (and its -wal/-shm files) are
    created 0600; missing parent directories are created 0700.
    """
    db = Path(path).expanduser()
    if passphrase is not None and key_file is not None:
        raise ConfigurationError("init_store takes key_file or passphrase, not both")
    check_folder(db.absolute().parent, what="store")
    if db.exists() or db.is_symlink():
        raise Conflict(f"a file already exists at {db}; refusing to overwrite it with a new store")
    db.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    master, mode, params, kfile, created_key = init_master(
        db, key_file=key_file, passphrase=passphrase
    )
    try:
        fd = os.open(db, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    except FileExistsError:
        if created_key is not None:
            created_key.unlink()
        raise Conflict(
            f"a file already exists at {db}; refusing to overwrite it with a new store"
        ) from None
    if os.name == "posix":
        os.fchmod(fd, 0o600)  # sqlite gives -wal and -shm the database file's mode
    os.close(fd)
    store_id = _sealing.new_key()[:16]
    data_key = _sealing.new_key()
    wrapped = _sealing.wrap_data_key(master, data_key, store_id=store_id, mode=mode)
    try:
        conn = _open_connection(db, timeout=5.0)
        try:
            create_schema(conn, store_id=store_id, mode=mode, wrapped=wrapped, kdf=params)
        finally:
            conn.close()
    except sqlite3.Error as exc:
        db.unlink(missing_ok=True)
        if created_key is not None:
            created_key.unlink(missing_ok=True)
        raise _translate(exc, db) from exc
    return kfile


# -- the backend ----------------------------------------------------------------


class LocalBackend(Backend):
    """The embedded store: versions "1", "2", ... per secret, every value sealed."""

    scheme: ClassVar[str] = "local"
    credential_env: ClassVar[frozenset[str]] = frozenset(
        {"SEKRET_MASTER_KEY", "SEKRET_PASSPHRASE", "SEKRET_KEY_FILE"}
    )  # the master key's sources (see Backend.credential_env)
    capabilities = Capability.full() | Capability.BATCH_READ | Capability.BATCH_WRITE

    def __init__(
        self,
        path: str | Path,
        *,
        key_file: str | Path | None = None,
        master_key: bytes | None = None,
        passphrase: str | None = None,
        clock: Clock = utcnow,
        timeout: float = 5.0,
        retries: int = 3,
    ) -> None:
        self.path = Path(path).expanduser()
        self._clock = clock
        self._timeout = float(timeout)
        self._retries = max(1, int(retries))
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._closed = False
        self._key_file: Path | None = None
        # memos for the hot path (bounded; cleared when full): names known valid,
        # stage-set texts, creation times. They never hold values.
        self._valid_names: set[str] = set()
        self._stage_sets: dict[str | None, frozenset[str]] = {}
        self._times: dict[int, datetime] = {}
        if not self.path.exists():
            raise ConfigurationError(f"no store at {self.path}; run `sekret init`")
        if not self.path.is_file():
            raise ConfigurationError(f"{self.path} is not a file; a store is one SQLite file")
        check_store_file(self.path)
        if self.path.stat().st_size == 0:
            raise ConfigurationError(f"no store at {self.path} (empty file); run `sekret init`")
        try:
            meta = self._read_meta()
            self._store_id: bytes = meta["store_id"]
            master, mode, where, used = resolve_master(
                self.path, meta, key_file=key_file, master_key=master_key, passphrase=passphrase
            )
            if used is not None:
                self._key_file = used
            self._master, self._mode = master, mode
            self._where = f"store {self.path} ({where})"
            self._key_state: tuple[Any, Any] = (meta.get(KEY_ID), meta.get(NEXT_KEY))
            self._data_key = self._unwrap(meta["wrapped_key"])
            self._sealer: _sealing.Sealer = _sealing.Sealer(self._data_key, self._store_id)
            if NEXT_KEY in meta:  # a data-key rotation was interrupted: both keys open values
                self._sealer = _sealing.RekeyingSealer(
                    self._unwrap(meta[NEXT_KEY]), self._store_id, self._sealer
                )
        except BaseException:
            self.close()
            raise

    @classmethod
    def from_url(cls, url: str, **options: Any) -> LocalBackend:
        """``local:///abs/path.db``, ``local://relative/path.db``, ``?key_file=PATH``."""
        parts = urlsplit(url)
        if parts.scheme.lower() != "local":
            raise ConfigurationError(f"not a local:// URL: {parts.scheme}://...")
        path = unquote(parts.netloc + parts.path)
        if not path:
            raise ConfigurationError("local:// needs a path, e.g. local:///var/lib/app/secrets.db")
        for key, value in parse_qsl(parts.query, keep_blank_values=True):
            if key == "key_file":
                options.setdefault("key_file", value)
            elif key in ("master_key", "passphrase"):
                raise ConfigurationError(
                    f"{key} does not belong in a URL (it would be logged); pass it as an"
                    " argument or an environment variable"
                )
            else:
                raise ConfigurationError(f"unknown local:// option {key!r}; known: key_file")
        return cls(path, **options)

    def describe(self) -> str:
        return f"local://{self.path}"

    def _unwrap(self, wrapped: bytes) -> bytes:
        return _sealing.unwrap_data_key(
            self._master, wrapped, store_id=self._store_id, mode=self._mode, where=self._where
        )

    # -- opening ---------------------------------------------------------
    def _read_meta(self) -> dict[str, Any]:
        return read_meta(self._conn, self.path, self.describe())

    # -- connections -------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        held = getattr(self._local, "conn", None)
        if held is not None and held[0] == _fork_generation:
            return held[1]  # type: ignore[no-any-return]
        return self._connect()[0]

    def _cursor(self) -> sqlite3.Cursor:
        """This thread's reusable cursor for single-statement reads (the hot path)."""
        held = getattr(self._local, "conn", None)
        if held is not None and held[0] == _fork_generation:
            return held[2]  # type: ignore[no-any-return]
        return self._connect()[1]

    def _connect(self) -> tuple[sqlite3.Connection, sqlite3.Cursor]:
        if self._closed:
            raise BackendUnavailable(f"store {self.path} is closed", backend=self.describe())
        try:
            conn = _open_connection(self.path, timeout=self._timeout)
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc
        with self._connections_lock:
            self._connections.append(conn)
        cursor = conn.cursor()
        self._local.conn = (_fork_generation, conn, cursor)
        return conn, cursor

    def close(self) -> None:
        self._closed = True
        with self._connections_lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            with suppress(sqlite3.Error):
                conn.close()
        self._local = threading.local()

    # -- transactions ------------------------------------------------------
    def _now_us(self) -> int:
        return _to_us(self._clock())

    def _write(self, fn: Callable[[sqlite3.Connection, int], T]) -> T:
        """``run_write`` guarded by the data key.

        First, inside the transaction, the store's data key must still be the one
        this backend holds: a write sealed with a data key another process has
        rotated away would never open again.
        """

        def guarded(conn: sqlite3.Connection, now: int) -> T:
            state = dict(conn.execute(KEY_STATE).fetchall())
            if (state.get(KEY_ID), state.get(NEXT_KEY)) != self._key_state:
                raise Conflict(
                    f"the data key of store {self.path} was rotated by another process"
                    " since this one opened it; nothing was written: reopen the store"
                    " (restart the application)",
                    backend=self.describe(),
                )
            return fn(conn, now)

        return run_write(
            self._conn(), guarded, retries=self._retries, now_us=self._now_us, path=self.path
        )

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        """``run_query`` with this store's retries and path."""
        return run_query(self._conn, sql, params, retries=self._retries, path=self.path)

    def _snapshot(self) -> AbstractContextManager[None]:
        """``snapshot`` on this store's connection."""
        return snapshot(self._conn(), self.path)

    # -- errors ------------------------------------------------------------
    def _not_found(self, name: str, suffix: str = "") -> SecretNotFound:
        return not_found(name, self.describe(), suffix)

    def _gone(self, name: str, purge_at: int) -> SecretNotFound:
        """``gone`` as of this backend's clock."""
        return gone(name, purge_at, self._clock(), self.describe())

    def _no_version(self, name: str, version: str | None, stage: str | None) -> VersionNotFound:
        return no_version(name, version, stage, self.describe())

    # -- reads -------------------------------------------------------------
    def _valid(self, name: str) -> None:
        """validate_name, remembering names already seen valid (the hot path)."""
        validate_name(name)
        if len(self._valid_names) >= _MEMO_SIZE:
            self._valid_names.clear()
        self._valid_names.add(name)

    def _plan(
        self, name: str, version: str | None, stage: str | None
    ) -> tuple[str, tuple[str, str | int]]:
        """The statement and parameters of a read by version or by a stage other than current."""
        if version is None:
            return _READ_BY_STAGE, (name, validate_stage(stage))
        if stage is not None:
            validate_stage(stage)
        number = _version_number(version)
        return _READ_BY_VERSION, (name, number if number is not None else -1)

    def _malformed(self, name: str, number: int) -> IntegrityError:
        return malformed(name, number, self.path, self.describe())

    def _damaged_row(self, name: str, number: object) -> IntegrityError:
        """A row whose columns do not hold what the schema says (edited by hand)."""
        which = f" version {number}" if type(number) is int else ""
        return IntegrityError(
            f"store {self.path} is damaged: the row of secret {name!r}{which} holds a value"
            " of the wrong type or out of range",
            name=name,
            version=str(number) if type(number) is int else None,
            backend=self.describe(),
        )

    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        # The hot path: one statement, one AES-GCM open, memoised conversions.
        if name not in self._valid_names:
            self._valid(name)
        sql: str
        params: tuple[str] | tuple[str, str | int]
        if version is None and (stage is None or stage == CURRENT):
            sql, params = _READ_CURRENT, (name,)
        else:
            sql, params = self._plan(name, version, stage)
        held = getattr(self._local, "conn", None)
        try:
            if held is not None and held[0] == _fork_generation:
                row = held[2].execute(sql, params).fetchone()
            else:
                row = self._cursor().execute(sql, params).fetchone()
        except sqlite3.Error:
            rows = self._query(sql, params)
            row = rows[0] if rows else None
        if row is None:
            raise self._not_found(name)
        uid, purge_at, number, created, ctype, meta, sealed, stages = row
        try:
            if purge_at is not None:
                raise self._gone(name, purge_at)
            if number is None:
                raise self._no_version(name, version, stage)
            if type(sealed) is not bytes or type(uid) is not bytes:
                raise TypeError("sealed or uid is not a BLOB")
            stage_set = self._stage_sets.get(stages)
            if stage_set is None:
                stage_set = _stage_set(stages)
                if len(self._stage_sets) >= _MEMO_SIZE:
                    self._stage_sets.clear()
                self._stage_sets[stages] = stage_set
            if stage is not None and version is not None and stage not in stage_set:
                raise self._no_version(name, version, stage)
            plain = self._sealer.open(sealed, name=name, uid=uid, version=number, ctype=ctype)
            kind = CONTENT_TYPES.get(ctype)
            if kind is None:
                raise self._malformed(name, number)
            metadata = _NO_METADATA if meta is None else _metadata(meta)
            when = self._times.get(created)
            if when is None:
                when = _from_us(created)
                if len(self._times) >= _MEMO_SIZE:
                    self._times.clear()
                self._times[created] = when
        except _DAMAGE as exc:
            # a hand-edited row: a column of the wrong type or out of range
            raise self._damaged_row(name, number) from exc
        value = SecretValue(plain, kind, max_bytes=_NO_LIMIT)
        return Secret(name, str(number), value, stage_set, when, metadata)

    def read_many(self, names: Sequence[str]) -> dict[str, Secret | SekretError]:
        """The current version of each name, all from one consistent snapshot."""
        with self._snapshot():
            return super().read_many(names)

    def versions(self, name: str) -> list[VersionInfo]:
        validate_name(name)
        rows = self._query(_VERSIONS, (name,))
        if not rows:
            raise self._not_found(name)
        out = []
        number = None
        try:
            if rows[0][0] is not None:
                raise self._gone(name, rows[0][0])
            for _, number, created, meta, stages in rows:
                if number is not None:
                    out.append(
                        VersionInfo(
                            name,
                            str(number),
                            _stage_set(stages),
                            _from_us(created),
                            _metadata(meta),
                        )
                    )
        except _DAMAGE as exc:
            raise self._damaged_row(name, number) from exc
        return out

    def list(
        self,
        prefix: str = "",
        *,
        page_size: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> Page:
        if not isinstance(prefix, str):
            raise InvalidValue(f"prefix must be a str, not {type(prefix).__name__}")
        check_page_size(page_size)
        if page_token is not None and not isinstance(page_token, str):
            raise InvalidValue("page_token must be a str from a previous page")
        # Names are ASCII, so every name starting with prefix sorts below prefix + U+007F.
        # One lower bound: the token when it sorts after the prefix (strictly after it).
        if page_token is not None and page_token >= prefix:
            sql, low = _LIST, page_token
        else:
            sql, low = _LIST_FROM, prefix
        params = (low, prefix + "\x7f", int(include_deleted), self._now_us(), page_size + 1)
        rows = self._query(sql, params)
        more = len(rows) > page_size
        items = []
        for n, created, updated, current, purge_at in rows[:page_size]:
            try:
                items.append(
                    SecretInfo(
                        n,
                        created=_from_us(created),
                        updated=_from_us(updated),
                        current_version=None if current is None else str(current),
                        deleted=purge_at is not None,
                        recoverable_until=None if purge_at is None else _from_us(purge_at),
                    )
                )
            except _DAMAGE as exc:
                raise self._damaged_row(str(n), None) from exc
        return Page.of(items, items[-1].name if more and items else None)

    # -- writes ------------------------------------------------------------
    _row = staticmethod(secret_row)

    def _live(self, conn: sqlite3.Connection, name: str) -> None:
        row = self._row(conn, name)
        if row is None:
            raise self._not_found(name)
        if row[2] is not None:
            raise self._gone(name, row[2])

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
        args = self._prepare(name, value, stages, metadata, token)
        return self._write(
            lambda conn, now: add_version(
                conn,
                now,
                sealer=self._sealer,
                backend=self.describe(),
                expected_version=expected_version,
                token=token,
                **args,
            )
        )

    def _prepare(
        self,
        name: str,
        value: SecretValue,
        stages: Collection[str],
        metadata: Mapping[str, str] | None,
        token: str | None,
    ) -> dict[str, Any]:
        """A write's checked arguments for ``add_version`` (name, value, stages, metadata)."""
        validate_name(name)
        # bulk writes repeat the same few stage tuples (only str items: always hashable)
        memo = type(stages) is tuple and all(type(s) is str for s in stages)
        stage_list = _STAGE_LISTS.get(stages) if memo else None  # type: ignore[call-overload]
        if stage_list is None:
            stage_list = sorted({validate_stage(s) for s in stages}, key=lambda s: s != CURRENT)
            if memo and len(_STAGE_LISTS) < 64:
                _STAGE_LISTS[stages] = stage_list  # type: ignore[index]
        value = SecretValue.of(value, max_bytes=self.max_value_bytes)
        meta = dict(metadata or {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
            raise InvalidValue(f"metadata of secret {name!r} must map str to str")
        if token is not None and not isinstance(token, str):
            raise InvalidValue("token must be a str")
        return {
            "name": name,
            "value": value,
            "stage_list": stage_list,
            "meta_text": json.dumps(meta, sort_keys=True) if meta else None,
        }

    def put_many(self, writes: Sequence[WriteRequest]) -> PutResults:
        """Many writes in few transactions (``BATCH_WRITE``): ``_BATCH`` writes per
        ``BEGIN IMMEDIATE``; a failed write is returned in place having changed
        nothing, and the others commit."""
        out: list[VersionInfo | SekretError | None] = [None] * len(writes)
        ready: list[tuple[int, WriteRequest, dict[str, Any]]] = []
        for index, w in enumerate(writes):
            try:
                ready.append(
                    (index, w, self._prepare(w.name, w.value, w.stages, w.metadata, w.token))
                )
            except SekretError as exc:
                out[index] = exc
        sealer, backend = self._sealer, self.describe()

        def run(conn: sqlite3.Connection, now: int, batch: list[Any]) -> None:
            # The first write of each name the store lacks, without expected_version,
            # creates version 1: all of those go in one executemany per table. Every
            # other write then runs in order; none of them touches those names before
            # their first write (a name's first write is never one of the others).
            names = [w.name for _, w, _ in batch]
            new: set[str] = set()
            for i in range(0, len(names), 900):  # SQLite's variable limit may be 999
                new |= absent(conn, names[i : i + 900])
            first, rest = [], []
            for item in batch:
                name = item[1].name
                if name in new:
                    new.discard(name)  # later writes of this name see version 1
                    if item[1].expected_version is None:
                        first.append(item)
                        continue
                rest.append(item)
            if first:
                made = add_first_versions(
                    conn,
                    now,
                    sealer,
                    [
                        (a["name"], a["value"], a["stage_list"], w.token, a["meta_text"])
                        for _, w, a in first
                    ],
                )
                for (index, _, _), result in zip(first, made, strict=True):
                    out[index] = result
            # add_version raises every SekretError before its first change: no savepoints
            for index, w, args in rest:
                try:
                    out[index] = add_version(
                        conn,
                        now,
                        sealer=sealer,
                        backend=backend,
                        expected_version=w.expected_version,
                        token=w.token,
                        **args,
                    )
                except SekretError as exc:
                    out[index] = exc

        for start in range(0, len(ready), _BATCH):
            self._write(functools.partial(run, batch=ready[start : start + _BATCH]))
        return [r for r in out if r is not None]

    def move_stage(
        self,
        name: str,
        stage: str,
        version: str | None,
        *,
        expected_version: str | None = None,
    ) -> None:
        validate_name(name)
        validate_stage(stage)

        self._write(
            lambda conn, now: move_label(
                conn,
                now,
                backend=self.describe(),
                name=name,
                stage=stage,
                version=version,
                expected_version=expected_version,
            )
        )

    def delete(self, name: str, *, recovery_days: int = DEFAULT_RECOVERY_DAYS) -> datetime:
        validate_name(name)
        if isinstance(recovery_days, bool) or not isinstance(recovery_days, int):
            raise InvalidValue("recovery_days must be an int from 1 to 365")
        if not 1 <= recovery_days <= 365:
            raise InvalidValue(f"recovery_days must be 1-365, not {recovery_days}")

        def run(conn: sqlite3.Connection, now: int) -> datetime:
            self._live(conn, name)
            purge_at = now + recovery_days * 86_400_000_000
            conn.execute("UPDATE secrets SET purge_at = ? WHERE name = ?", (purge_at, name))
            return _from_us(purge_at)

        return self._write(run)

    def restore(self, name: str) -> None:
        validate_name(name)

        def run(conn: sqlite3.Connection, now: int) -> None:
            # expired rows were purged when this transaction began
            row = self._row(conn, name)
            if row is None:
                raise self._not_found(name, " (or its recovery window has ended)")
            if row[2] is not None:
                conn.execute("UPDATE secrets SET purge_at = NULL WHERE name = ?", (name,))

        self._write(run)

    def destroy(self, name: str) -> None:
        validate_name(name)

        def run(conn: sqlite3.Connection, now: int) -> None:
            if conn.execute("DELETE FROM secrets WHERE name = ?", (name,)).rowcount == 0:
                raise self._not_found(name)

        self._write(run)

    # -- master key rotation ---------------------------------------------
    def rotate_master_key(
        self,
        *,
        new_key_file: str | Path | None = None,
        new_master_key: bytes | None = None,
        new_passphrase: str | None = None,
    ) -> None:
        """Re-wrap the data key under a new master key, atomically; the old key stops working.

        ``new_master_key``: 32 bytes (the caller stores them, e.g. in SEKRET_MASTER_KEY).
        ``new_passphrase``: reseal with a passphrase (fresh scrypt salt).
        ``new_key_file``: an existing file's key is used; a missing file gets a fresh key.
        Nothing: a store opened from a key file gets a fresh key in that same file.
        A new key file is written next to its target (``.new``), the database is
        updated, then the file is renamed into place; values are not re-encrypted.
        """
        if NEXT_KEY in self._read_meta():
            raise Conflict(
                f"store {self.path} is in the middle of a data-key rotation; finish it first:"
                " sekret rotate-data-key",
                backend=self.describe(),
            )
        master, mode, params, staged, target = new_master(
            self.path,
            self._key_file,
            self.describe(),
            new_key_file=new_key_file,
            new_master_key=new_master_key,
            new_passphrase=new_passphrase,
        )
        store_id = self._store_id
        wrapped = _sealing.wrap_data_key(master, self._data_key, store_id=store_id, mode=mode)

        def run(conn: sqlite3.Connection, now: int) -> None:
            upsert = (
                "INSERT INTO meta (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value"
            )
            conn.execute(upsert, ("wrapped_key", wrapped))
            conn.execute(upsert, ("mode", mode))
            if params is not None:
                conn.execute(upsert, ("kdf", params.dumps()))
            else:
                conn.execute("DELETE FROM meta WHERE key = 'kdf'")

        try:
            self._write(run)
        except BaseException:
            if staged is not None:
                staged[0].unlink(missing_ok=True)
            raise
        if staged is not None:
            os.replace(staged[0], staged[1])
            fsync_folder(staged[1].parent)
        self._key_file = target if mode == MODE_KEY else None
        self._master, self._mode = master, mode
        # Drop the old wrapped key from the WAL (best effort: readers may pin it).
        self._truncate_wal()

    def _truncate_wal(self) -> bool:
        """Checkpoint the WAL into the database and empty it; False when a reader
        held it open (its old pages stay until the next checkpoint)."""
        try:
            row = self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        except sqlite3.Error:
            return False
        return row is not None and row[0] == 0

    # -- data key rotation -------------------------------------------------
    def rotate_data_key(
        self, *, batch: int = 500, progress: Callable[[int, int], None] | None = None
    ) -> bool:
        """Re-seal every version under a fresh data key; resumable; the old key is erased.

        1. A new data key is wrapped by the current master key and recorded
           beside the old one (``meta`` row ``wrapped_key_next``).
        2. Versions are re-sealed in order, ``batch`` per transaction; each
           transaction also records how far it got (``rekey_cursor``). While
           this runs, reads open both keys and writes seal with the new one.
           A crash anywhere leaves a store that opens with its master key; the
           next call resumes from the cursor (``progress(done, total)`` after
           each batch).
        3. The new wrapped key replaces the old one, the rotation rows go, and
           the WAL is checkpointed and truncated (``secure_delete`` is on, so
           freed pages are zeroed): no copy of the old wrapped key is left.

        Returns False when another connection kept the WAL from being
        truncated (run again once it is closed). Stop other processes that
        write to the store first; restart every process that had it open
        afterwards (they hold the old data key).
        """
        if batch < 1:
            raise InvalidValue("batch must be at least 1")
        meta = self._read_meta()
        if NEXT_KEY in meta:
            new_key = self._unwrap(meta[NEXT_KEY])
        else:
            new_key = _sealing.new_key()
            wrapped = _sealing.wrap_data_key(
                self._master, new_key, store_id=self._store_id, mode=self._mode
            )
            self._write(lambda conn, now: _set_meta(conn, {NEXT_KEY: wrapped, CURSOR: "[]"}))
            self._key_state = (self._key_state[0], wrapped)
        old = _sealing.Sealer(self._data_key, self._store_id)
        dual = _sealing.RekeyingSealer(new_key, self._store_id, old)
        self._sealer = dual
        total = int(self._query("SELECT count(*) FROM versions", ())[0][0])
        while True:
            moved = self._write(functools.partial(_reseal_batch, sealer=dual, batch=batch))
            if progress is not None:
                progress(moved[1], total)
            if moved[0] == 0:
                break
        fresh = _sealing.Sealer(new_key, self._store_id)

        new_id = _sealing.new_key()[:16]

        def finish(conn: sqlite3.Connection, now: int) -> None:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (NEXT_KEY,)).fetchone()
            _set_meta(conn, {"wrapped_key": row[0], KEY_ID: new_id})
            conn.execute("DELETE FROM meta WHERE key IN (?, ?)", (NEXT_KEY, CURSOR))

        self._write(finish)
        self._key_state = (new_id, None)
        self._data_key, self._sealer = new_key, fresh
        return self._truncate_wal()
