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

This module must never log, print or put a value or a key in an error.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Final, TypeVar
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from sekret._names import validate_name
from sekret._values import (
    CONTENT_TYPES,
    CURRENT,
    PREVIOUS,
    Page,
    Secret,
    SecretInfo,
    SecretValue,
    VersionInfo,
    validate_stage,
)
from sekret.backends import _sealing
from sekret.backends.base import ABSENT, DEFAULT_RECOVERY_DAYS, Backend, Capability
from sekret.exceptions import (
    BackendUnavailable,
    ConfigurationError,
    Conflict,
    IntegrityError,
    InvalidValue,
    SecretDeleted,
    SecretNotFound,
    SekretError,
    VersionNotFound,
)

__all__ = ["LocalBackend", "default_key_file", "init_store"]

T = TypeVar("T")
Clock = Callable[[], datetime]

FORMAT: Final = 1
MODE_KEY: Final = "key"
MODE_PASSPHRASE: Final = "passphrase"
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_US: Final = timedelta(microseconds=1)
_NO_STAGES: Final[frozenset[str]] = frozenset()
_NO_METADATA: Final[Mapping[str, str]] = {}
_MEMO_SIZE: Final = 4096
_NO_LIMIT: Final = 2**31  # sizes were checked on write; a store may predate a lower limit

# Tables are keyed by the full name (WITHOUT ROWID: one b-tree descent per
# lookup). ``stages`` is the truth about labels; ``secrets.current`` and
# ``versions.stages`` are copies kept in step by every write, so the hot read
# (the current version) is one join of two primary-key lookups.
_SCHEMA: Final = """
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
_READ_CURRENT: Final = (
    "SELECT s.uid, s.purge_at, v.version, v.created, v.content_type, v.metadata, v.sealed,"
    " v.stages FROM secrets s"
    " LEFT JOIN versions v ON v.name = s.name AND v.version = s.current"
    " WHERE s.name = ?1"
)
_READ_BY_STAGE: Final = (
    "SELECT s.uid, s.purge_at, v.version, v.created, v.content_type, v.metadata, v.sealed,"
    " v.stages FROM secrets s"
    " LEFT JOIN stages st ON st.name = s.name AND st.stage = ?2"
    " LEFT JOIN versions v ON v.name = s.name AND v.version = st.version"
    " WHERE s.name = ?1"
)
_READ_BY_VERSION: Final = (
    "SELECT s.uid, s.purge_at, v.version, v.created, v.content_type, v.metadata, v.sealed,"
    " v.stages FROM secrets s"
    " LEFT JOIN versions v ON v.name = s.name AND v.version = ?2"
    " WHERE s.name = ?1"
)
_VERSIONS: Final = (
    "SELECT s.purge_at, v.version, v.created, v.metadata, v.stages"
    " FROM secrets s LEFT JOIN versions v ON v.name = s.name"
    " WHERE s.name = ?1 ORDER BY v.version"
)
_LIST: Final = (
    "SELECT name, created, updated, current, purge_at FROM secrets"
    " WHERE name >= ?1 AND name < ?2 AND name > ?3"
    " AND (purge_at IS NULL OR (?4 AND purge_at > ?5))"
    " ORDER BY name LIMIT ?6"
)
_SYNC_STAGES: Final = (
    "UPDATE versions SET stages = (SELECT group_concat(t.stage, ' ') FROM stages t"
    " WHERE t.name = versions.name AND t.version = versions.version)"
    " WHERE name = ?1 AND (stages IS NOT NULL"
    " OR version IN (SELECT version FROM stages WHERE name = ?1))"
)
_SYNC_CURRENT: Final = (
    "UPDATE secrets SET current = (SELECT version FROM stages"
    " WHERE name = ?1 AND stage = 'current'), updated = ?2 WHERE name = ?1"
)

# os.fork copies connections that must not be used in the child: a fork bumps
# the generation and every backend opens fresh connections in the child.
_fork_generation = 0


def _after_fork() -> None:
    global _fork_generation
    _fork_generation += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _to_us(when: datetime) -> int:
    return (when - _EPOCH) // _US


def _from_us(us: int) -> datetime:
    # exact: a double holds today's epoch seconds to well under half a microsecond
    return datetime.fromtimestamp(us / 1_000_000, UTC)


def _version_number(version: str) -> int | None:
    """The integer id of a canonical version string ("1", "2", ...), else None."""
    if isinstance(version, str) and version.isascii() and version.isdigit():
        number = int(version)
        if str(number) == version and number < 2**62:
            return number
    return None


def _stage_set(text: str | None) -> frozenset[str]:
    return frozenset(text.split(" ")) if text else frozenset()


def _metadata(text: str | None) -> dict[str, str]:
    return dict(json.loads(text)) if text else {}


def default_key_file(path: str | Path) -> Path:
    """Where ``init_store`` puts the key file of the store at ``path``: path + ``.key``."""
    return Path(str(Path(path).expanduser()) + ".key")


def _is_busy(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorname", "") or ""
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return True
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text


def _translate(exc: sqlite3.Error, path: Path, *, waited: float | None = None) -> SekretError:
    """An sqlite3 error as a sekret error naming the file (sqlite messages hold no values)."""
    code = getattr(exc, "sqlite_errorname", "") or ""
    if _is_busy(exc):
        return BackendUnavailable(
            f"store {path} is locked by another process"
            + (f" (gave up after {waited:.1f}s)" if waited is not None else ""),
            backend=f"local://{path}",
        )
    if code.startswith(("SQLITE_NOTADB", "SQLITE_CORRUPT")) or isinstance(
        exc, sqlite3.IntegrityError
    ) or "not a database" in str(exc) or "malformed" in str(exc):
        return IntegrityError(
            f"{path} is damaged or not a sekret store ({exc})", backend=f"local://{path}"
        )
    if isinstance(exc, sqlite3.ProgrammingError):
        return BackendUnavailable(f"store {path} is closed ({exc})", backend=f"local://{path}")
    return BackendUnavailable(f"store {path} cannot be used: {exc}", backend=f"local://{path}")


def _open_connection(path: Path, *, timeout: float) -> sqlite3.Connection:
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


# -- init -------------------------------------------------------------------


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
    if db.exists() or db.is_symlink():
        raise Conflict(f"a file already exists at {db}; refusing to overwrite it with a new store")
    db.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    created_key: Path | None = None
    params: _sealing.KdfParams | None = None
    kfile: Path | None = None
    if passphrase is not None:
        params = _sealing.KdfParams.fresh()
        master = _sealing.derive_key(passphrase, params)
        mode = MODE_PASSPHRASE
    else:
        kfile = Path(key_file).expanduser() if key_file is not None else default_key_file(db)
        if kfile.exists():
            master = _sealing.read_key_file(kfile)
        else:
            master = _sealing.new_key()
            _sealing.create_key_file(kfile, master)
            created_key = kfile
        mode = MODE_KEY
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
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            meta: dict[str, str | bytes | int] = {
                "format": FORMAT,
                "store_id": store_id,
                "mode": mode,
                "wrapped_key": wrapped,
                "created": _to_us(utcnow()),
            }
            if params is not None:
                meta["kdf"] = params.dumps()
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)", meta.items())
            conn.execute("COMMIT")
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
    capabilities = Capability.full() | Capability.BATCH_READ

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
        if self.path.stat().st_size == 0:
            raise ConfigurationError(f"no store at {self.path} (empty file); run `sekret init`")
        try:
            meta = self._read_meta()
            self._store_id: bytes = meta["store_id"]
            master, mode, where = self._resolve_master(
                meta, key_file=key_file, master_key=master_key, passphrase=passphrase
            )
            self._data_key = _sealing.unwrap_data_key(
                master,
                meta["wrapped_key"],
                store_id=self._store_id,
                mode=mode,
                where=f"store {self.path} ({where})",
            )
        except BaseException:
            self.close()
            raise
        self._sealer = _sealing.Sealer(self._data_key, self._store_id)

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

    # -- opening ---------------------------------------------------------
    def _read_meta(self) -> dict[str, Any]:
        try:
            rows = self._conn().execute("SELECT key, value FROM meta").fetchall()
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                raise IntegrityError(
                    f"{self.path} is an SQLite database but not a sekret store (no meta table)",
                    backend=self.describe(),
                ) from exc
            raise _translate(exc, self.path) from exc
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc
        meta = dict(rows)
        if meta.get("format") != FORMAT:
            raise ConfigurationError(
                f"store {self.path} has format {meta.get('format')!r}; this sekret reads {FORMAT}"
            )
        if not {"store_id", "mode", "wrapped_key"} <= set(meta):
            raise IntegrityError(f"store {self.path} is missing its key material")
        return meta

    def _resolve_master(
        self,
        meta: dict[str, Any],
        *,
        key_file: str | Path | None,
        master_key: bytes | None,
        passphrase: str | None,
    ) -> tuple[bytes, str, str]:
        """(master key, seal mode, where it came from) following the documented order."""
        mode = meta["mode"]
        given = [x for x in (key_file, master_key, passphrase) if x is not None]
        if len(given) > 1:
            raise ConfigurationError("give at most one of key_file, master_key and passphrase")
        if mode == MODE_PASSPHRASE:
            if key_file is not None or master_key is not None:
                raise ConfigurationError(
                    f"store {self.path} is sealed with a passphrase; pass passphrase= or set"
                    " SEKRET_PASSPHRASE"
                )
            where = "passphrase argument"
            if passphrase is None:
                passphrase = os.environ.get("SEKRET_PASSPHRASE")
                where = "SEKRET_PASSPHRASE"
            if not passphrase:
                raise ConfigurationError(
                    f"store {self.path} is sealed with a passphrase; pass passphrase= or set"
                    " SEKRET_PASSPHRASE"
                )
            params = _sealing.KdfParams.loads(meta["kdf"])
            return _sealing.derive_key(passphrase, params), mode, where
        if mode != MODE_KEY:
            raise IntegrityError(f"store {self.path} has an unknown seal mode {mode!r}")
        if passphrase is not None:
            raise ConfigurationError(
                f"store {self.path} is sealed with a master key, not a passphrase; pass"
                " key_file= or master_key=, or set SEKRET_MASTER_KEY or SEKRET_KEY_FILE"
            )
        if master_key is not None:
            return _sealing.check_key_bytes(master_key, source="master_key"), mode, "master_key"
        if key_file is None:
            env_key = os.environ.get("SEKRET_MASTER_KEY")
            if env_key:
                key = _sealing.decode_key(env_key, source="SEKRET_MASTER_KEY")
                return key, mode, "SEKRET_MASTER_KEY"
            key_file = os.environ.get("SEKRET_KEY_FILE") or default_key_file(self.path)
        self._key_file = Path(key_file).expanduser()
        return _sealing.read_key_file(self._key_file), mode, f"key file {self._key_file}"

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
        """Run ``fn(conn, now_us)`` in one BEGIN IMMEDIATE transaction, retried when busy."""
        conn = self._conn()
        started = time.monotonic()
        for attempt in range(self._retries):
            try:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    now = self._now_us()
                    conn.execute(
                        "DELETE FROM secrets WHERE purge_at IS NOT NULL AND purge_at <= ?", (now,)
                    )
                    result = fn(conn, now)
                    conn.execute("COMMIT")
                    return result
                except BaseException:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as exc:
                if _is_busy(exc) and attempt + 1 < self._retries:
                    time.sleep(0.01 * (attempt + 1))
                    continue
                raise _translate(exc, self.path, waited=time.monotonic() - started) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        """All rows of one read statement, retried when busy, errors translated."""
        started = time.monotonic()
        for attempt in range(self._retries):
            try:
                return self._conn().execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                if _is_busy(exc) and attempt + 1 < self._retries:
                    time.sleep(0.01 * (attempt + 1))
                    continue
                raise _translate(exc, self.path, waited=time.monotonic() - started) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        """One read transaction around several reads (read_many)."""
        conn = self._conn()
        try:
            conn.execute("BEGIN")
        except sqlite3.Error as exc:
            raise _translate(exc, self.path) from exc
        try:
            yield
        finally:
            if conn.in_transaction:
                try:
                    conn.execute("COMMIT")
                except sqlite3.Error:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")

    # -- errors ------------------------------------------------------------
    def _not_found(self, name: str, suffix: str = "") -> SecretNotFound:
        return SecretNotFound(
            f"secret {name!r} not found{suffix}", name=name, backend=self.describe()
        )

    def _gone(self, name: str, purge_at: int) -> SecretNotFound:
        """The error for a secret pending deletion (or past its window)."""
        until = _from_us(purge_at)
        if self._clock() >= until:
            return self._not_found(name)
        return SecretDeleted(
            f"secret {name!r} is scheduled for deletion on {until:%Y-%m-%d}",
            name=name,
            backend=self.describe(),
            recoverable_until=until,
        )

    def _no_version(self, name: str, version: str | None, stage: str | None) -> VersionNotFound:
        if version is None:
            return VersionNotFound(
                f"secret {name!r} has no version in stage {stage!r}",
                name=name,
                backend=self.describe(),
            )
        return VersionNotFound(
            f"secret {name!r} has no version {version!r}"
            + (f" in stage {stage!r}" if stage else ""),
            name=name,
            version=version,
            backend=self.describe(),
        )

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
        return IntegrityError(
            f"secret {name!r} version {number} is malformed in {self.path}",
            name=name,
            version=str(number),
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
        if purge_at is not None:
            raise self._gone(name, purge_at)
        if number is None:
            raise self._no_version(name, version, stage)
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
        if meta is None:
            metadata = _NO_METADATA
        else:
            try:
                metadata = _metadata(meta)
            except (ValueError, TypeError) as exc:
                raise self._malformed(name, number) from exc
        when = self._times.get(created)
        if when is None:
            when = _from_us(created)
            if len(self._times) >= _MEMO_SIZE:
                self._times.clear()
            self._times[created] = when
        value = SecretValue(plain, kind, max_bytes=_NO_LIMIT)
        return Secret(name, str(number), value, stage_set, when, metadata)

    def read_many(self, names: Sequence[str]) -> dict[str, Secret | SekretError]:
        """The current version of each name, all from one consistent snapshot."""
        out: dict[str, Secret | SekretError] = {}
        with self._snapshot():
            for name in names:
                try:
                    out[name] = self.read(name)
                except SekretError as exc:
                    out[name] = exc
        return out

    def versions(self, name: str) -> list[VersionInfo]:
        validate_name(name)
        rows = self._query(_VERSIONS, (name,))
        if not rows:
            raise self._not_found(name)
        if rows[0][0] is not None:
            raise self._gone(name, rows[0][0])
        return [
            VersionInfo(name, str(number), _stage_set(stages), _from_us(created), _metadata(meta))
            for _, number, created, meta, stages in rows
            if number is not None
        ]

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
        if page_size < 1:
            raise InvalidValue("page_size must be at least 1")
        if page_token is not None and not isinstance(page_token, str):
            raise InvalidValue("page_token must be a str from a previous page")
        # Names are ASCII, so every name starting with prefix sorts below prefix + U+007F.
        params = (
            prefix,
            prefix + "\x7f",
            page_token or "",
            int(include_deleted),
            self._now_us(),
            page_size + 1,
        )
        rows = self._query(_LIST, params)
        more = len(rows) > page_size
        items = [
            SecretInfo(
                n,
                created=_from_us(created),
                updated=_from_us(updated),
                current_version=None if current is None else str(current),
                deleted=purge_at is not None,
                recoverable_until=None if purge_at is None else _from_us(purge_at),
            )
            for n, created, updated, current, purge_at in rows[:page_size]
            if n.startswith(prefix)
        ]
        return Page.of(items, items[-1].name if more and items else None)

    # -- writes ------------------------------------------------------------
    @staticmethod
    def _row(conn: sqlite3.Connection, name: str) -> tuple[bytes, int, int | None] | None:
        """(uid, counter, purge_at) of a secret, inside a write transaction."""
        row = conn.execute(
            "SELECT uid, counter, purge_at FROM secrets WHERE name = ?", (name,)
        ).fetchone()
        return None if row is None else (row[0], row[1], row[2])

    def _live(self, conn: sqlite3.Connection, name: str) -> None:
        row = self._row(conn, name)
        if row is None:
            raise self._not_found(name)
        if row[2] is not None:
            raise self._gone(name, row[2])

    @staticmethod
    def _stage_of(conn: sqlite3.Connection, name: str, stage: str) -> int | None:
        row = conn.execute(
            "SELECT version FROM stages WHERE name = ? AND stage = ?", (name, stage)
        ).fetchone()
        return None if row is None else int(row[0])

    def _move(self, conn: sqlite3.Connection, name: str, stage: str, version: int | None) -> None:
        """Move one label (the caller syncs the copies with ``_sync``)."""
        old = self._stage_of(conn, name, stage)
        if version is None:
            conn.execute("DELETE FROM stages WHERE name = ? AND stage = ?", (name, stage))
            return
        if old == version:
            return
        upsert = (
            "INSERT INTO stages (name, stage, version) VALUES (?, ?, ?)"
            " ON CONFLICT (name, stage) DO UPDATE SET version = excluded.version"
        )
        conn.execute(upsert, (name, stage, version))
        if stage == CURRENT and old is not None:
            conn.execute(upsert, (name, PREVIOUS, old))

    @staticmethod
    def _sync(conn: sqlite3.Connection, name: str, now: int) -> None:
        """Bring ``secrets.current`` and ``versions.stages`` in line with ``stages``."""
        conn.execute(_SYNC_STAGES, (name,))
        conn.execute(_SYNC_CURRENT, (name, now))

    @staticmethod
    def _info(conn: sqlite3.Connection, name: str, number: int) -> VersionInfo:
        created, meta, stages = conn.execute(
            "SELECT created, metadata, stages FROM versions WHERE name = ? AND version = ?",
            (name, number),
        ).fetchone()
        return VersionInfo(
            name, str(number), _stage_set(stages), _from_us(created), _metadata(meta)
        )

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
        stage_list = sorted({validate_stage(s) for s in stages}, key=lambda s: s != CURRENT)
        value = SecretValue.of(value, max_bytes=self.max_value_bytes)
        meta = dict(metadata or {})
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
            raise InvalidValue(f"metadata of secret {name!r} must map str to str")
        meta_text = json.dumps(meta, sort_keys=True) if meta else None
        if token is not None and not isinstance(token, str):
            raise InvalidValue("token must be a str")

        def run(conn: sqlite3.Connection, now: int) -> VersionInfo:
            row = self._row(conn, name)
            if row is not None and row[2] is not None:
                raise self._gone(name, row[2])
            current = None if row is None else self._stage_of(conn, name, CURRENT)
            if expected_version is not None:
                self._check_expected(name, row is not None, current, expected_version)
            if row is not None and token is not None:
                found = conn.execute(
                    "SELECT version, content_type, sealed FROM versions"
                    " WHERE name = ? AND token = ?",
                    (name, token),
                ).fetchone()
                if found is not None:
                    number, ctype, sealed = found
                    plain = self._sealer.open(
                        sealed, name=name, uid=row[0], version=number, ctype=ctype
                    )
                    if SecretValue.from_stored(plain, ctype, max_bytes=_NO_LIMIT) != value:
                        raise Conflict(
                            f"secret {name!r}: token already used for a different value",
                            name=name,
                            version=str(number),
                            backend=self.describe(),
                        )
                    return self._info(conn, name, number)
            if row is None:
                uid, number = _sealing.new_key()[:16], 1
                conn.execute(
                    "INSERT INTO secrets (name, uid, counter, created, updated)"
                    " VALUES (?, ?, 1, ?, ?)",
                    (name, uid, now, now),
                )
            else:
                uid, number = row[0], row[1] + 1
                conn.execute("UPDATE secrets SET counter = ? WHERE name = ?", (number, name))
            sealed = self._sealer.seal(
                value.bytes(), name=name, uid=uid, version=number, ctype=value.content_type
            )
            conn.execute(
                "INSERT INTO versions"
                " (name, version, created, content_type, token, metadata, sealed)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, number, now, value.content_type, token, meta_text, sealed),
            )
            for stage in stage_list:
                self._move(conn, name, stage, number)
            self._sync(conn, name, now)
            return self._info(conn, name, number)

        return self._write(run)

    def _check_expected(
        self, name: str, exists: bool, current: int | None, expected: str
    ) -> None:
        """Compare-and-set on the current version (``ABSENT``: must not exist)."""
        if expected == ABSENT:
            if exists:
                raise Conflict(
                    f"secret {name!r} already exists", name=name, backend=self.describe()
                )
            return
        if current is None or str(current) != expected:
            raise Conflict(
                f"secret {name!r}: expected current version {expected!r},"
                f" found {None if current is None else str(current)!r}",
                name=name,
                backend=self.describe(),
            )

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

        def run(conn: sqlite3.Connection, now: int) -> None:
            self._live(conn, name)
            number = None if version is None else _version_number(version)
            if version is not None and (
                number is None
                or conn.execute(
                    "SELECT 1 FROM versions WHERE name = ? AND version = ?", (name, number)
                ).fetchone()
                is None
            ):
                raise self._no_version(name, version, None)
            holder = self._stage_of(conn, name, stage)
            if expected_version is not None and (
                None if holder is None else str(holder)
            ) != (expected_version or None):
                raise Conflict(
                    f"secret {name!r}: stage {stage!r} is not on version {expected_version!r}",
                    name=name,
                    backend=self.describe(),
                )
            if stage == CURRENT and number is None:
                raise InvalidValue("the current stage cannot be removed, only moved")
            self._move(conn, name, stage, number)
            self._sync(conn, name, now)

        self._write(run)

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
        given = [x for x in (new_key_file, new_master_key, new_passphrase) if x is not None]
        if len(given) > 1:
            raise ConfigurationError(
                "give one of new_key_file, new_master_key and new_passphrase"
            )
        params: _sealing.KdfParams | None = None
        staged: tuple[Path, Path] | None = None
        target: Path | None = None
        if new_master_key is not None:
            master = _sealing.check_key_bytes(new_master_key, source="new_master_key")
            mode = MODE_KEY
        elif new_passphrase is not None:
            params = _sealing.KdfParams.fresh()
            master = _sealing.derive_key(new_passphrase, params)
            mode = MODE_PASSPHRASE
        else:
            if new_key_file is not None:
                target = Path(new_key_file).expanduser()
            elif self._key_file is not None:
                target = self._key_file
            else:
                raise ConfigurationError(
                    f"store {self.path} was not opened from a key file; say where the new key"
                    " goes: new_key_file=, new_master_key= or new_passphrase="
                )
            mode = MODE_KEY
            replacing = self._key_file is not None and target.exists() and (
                target.resolve() == self._key_file.resolve()
            )
            if target.exists() and not replacing:
                master = _sealing.read_key_file(target)
            else:
                master = _sealing.new_key()
                temp = target.with_name(target.name + ".new")
                try:
                    _sealing.create_key_file(temp, master)
                except FileExistsError:
                    raise Conflict(
                        f"{temp} exists (left by an interrupted rotation?); find which key"
                        " opens the store, keep it, and remove the other file",
                        backend=self.describe(),
                    ) from None
                staged = (temp, target)
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
            _fsync_dir(staged[1].parent)
        self._key_file = target if mode == MODE_KEY else None
        # Drop the old wrapped key from the WAL (best effort: readers may pin it).
        with suppress(sqlite3.Error):
            self._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
