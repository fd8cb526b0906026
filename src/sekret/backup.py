"""Backups: one encrypted, portable file of a namespace, and restore into any backend.

``export_backup`` reads every secret under a namespace (or a prefix of a
backend): all live versions with their stages, content types, metadata and
created times. Soft-deleted secrets are listed and flagged, without values
(the backend contract cannot read them without restoring them first; the raw
local copy below keeps them). The file is::

    {header JSON, one line}\\n nonce(12) || AES-256-GCM(body JSON)

The header holds the format version, backup id, created time, the source's
``describe()``, the key derivation parameters, a key check and counts, never
a name or a value; it is the associated data of the body, so editing either
one fails authentication. The body is sealed under a key derived (HKDF-SHA256,
the backup id as salt) from a backup key: 32 random bytes in a key file
(0600, the local store's key file format) or a passphrase through scrypt.

``restore_backup`` writes the versions back in order into any backend, with
idempotency tokens derived from the backup id and source version, then puts
the stages back; version ids differ on the target and the report maps them.
It never deletes or rewrites anything stored on the target: an existing
secret is left alone unless ``mode="overwrite"``, which adds the backup's
versions on top of the target's and moves the stages.

``backup_local_store`` is a consistent raw copy of a local store's SQLite file
(the sqlite3 online backup API); its values stay sealed under the store's key.

This module must never log, print or put a value or a key in an error, a
header or a report. Files it writes are created 0600, atomically.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import secrets as _random
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal
from urllib.parse import quote

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sekret._values import CONTENT_TYPES, CURRENT, Secret, SecretValue
from sekret.backends import _sealing
from sekret.backends.base import Backend, Capability
from sekret.exceptions import (
    AccessDenied,
    ConfigurationError,
    Conflict,
    IntegrityError,
    InvalidValue,
    SecretDeleted,
    SecretNotFound,
    UnsupportedOperation,
    VersionNotFound,
    WrongMasterKey,
)

if TYPE_CHECKING:
    from sekret._secrets import Secrets

__all__ = [
    "FORMAT",
    "BackupSummary",
    "KdfParams",
    "LocalCopy",
    "RestoreReport",
    "SecretOutcome",
    "backup_local_store",
    "create_backup_key",
    "export_backup",
    "restore_backup",
    "verify_backup",
]

FORMAT: Final = 1
_MAGIC: Final = "sekret-backup"
_AD: Final = b"sekret/backup/v1\x00"
_HKDF_INFO: Final = b"sekret/backup/v1/keys"
_NONCE: Final = 12
_CHECK: Final = 16
_MAX_HEADER: Final = 64 * 1024
_NO_LIMIT: Final = 2**31  # sizes were checked when the values were first stored

KdfParams = _sealing.KdfParams
Mode = Literal["missing", "overwrite"]


# -- keys ---------------------------------------------------------------------


def create_backup_key(path: str | Path) -> Path:
    """Write a fresh 32-byte backup key to a new file at ``path`` (0600); never overwrites."""
    target = Path(path).expanduser()
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        _sealing.create_key_file(target, _sealing.new_key())
    except FileExistsError:
        raise Conflict(f"key file {target} already exists; refusing to overwrite it") from None
    return target


@dataclass(frozen=True, slots=True)
class _KeySource:
    """Where the backup key comes from: raw bytes, a key file, or a passphrase."""

    key: bytes | None = None
    passphrase: str | None = None
    where: str = "key"

    @classmethod
    def of(
        cls, key: bytes | None, key_file: str | Path | None, passphrase: str | None
    ) -> _KeySource:
        given = [x for x in (key, key_file, passphrase) if x is not None]
        if len(given) != 1:
            raise ConfigurationError("give exactly one of key=, key_file= and passphrase=")
        if key is not None:
            return cls(key=_sealing.check_key_bytes(key, source="the backup key"))
        if key_file is not None:
            kfile = Path(key_file).expanduser()
            # read_key_file refuses a key file open to group or others (InsecureKeyFile)
            return cls(key=_sealing.read_key_file(kfile), where=f"key file {kfile}")
        if not isinstance(passphrase, str) or not passphrase:
            raise ConfigurationError("the backup passphrase must be a non-empty str")
        return cls(passphrase=passphrase, where="passphrase")

    def master(self, kdf: KdfParams | None) -> bytes:
        if self.key is not None:
            return self.key
        if self.passphrase is None or kdf is None:
            raise ConfigurationError("a passphrase backup needs its scrypt parameters")
        return _sealing.derive_key(self.passphrase, kdf)


def _subkeys(master: bytes, backup_id: bytes) -> tuple[bytes, bytes]:
    """(encryption key, key check) derived from the backup key for one backup."""
    out = HKDF(algorithm=hashes.SHA256(), length=32 + _CHECK, salt=backup_id, info=_HKDF_INFO)
    derived = out.derive(master)
    return derived[:32], derived[32:]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- results ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackupSummary:
    """What a backup holds, without values (``export_backup`` and ``verify_backup``)."""

    path: Path
    backup_id: str
    created: str
    source: str
    root: str
    sealed_with: str  # "key" or "passphrase"
    secrets: Mapping[str, tuple[Mapping[str, Any], ...]]  # name -> versions (no values)
    deleted: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()  # "name@version" that could not be read

    @property
    def version_count(self) -> int:
        return sum(len(v) for v in self.secrets.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "backup_id": self.backup_id,
            "created": self.created,
            "source": self.source,
            "root": self.root,
            "sealed_with": self.sealed_with,
            "counts": {
                "secrets": len(self.secrets),
                "versions": self.version_count,
                "deleted": len(self.deleted),
                "skipped": len(self.skipped),
            },
            "secrets": [
                {"name": name, "versions": [dict(v) for v in versions]}
                for name, versions in self.secrets.items()
            ],
            "deleted": list(self.deleted),
            "skipped": list(self.skipped),
        }


Outcome = Literal["restored", "resumed", "unchanged", "overwritten", "skipped"]


@dataclass(frozen=True, slots=True)
class SecretOutcome:
    """What restore did to one secret; ``versions`` maps source -> target version ids."""

    name: str
    outcome: Outcome
    versions: Mapping[str, str] = field(default_factory=dict)
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "outcome": self.outcome,
            "versions": dict(self.versions),
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """The result of ``restore_backup`` (no values)."""

    backup_id: str
    target: str
    mode: str
    secrets: tuple[SecretOutcome, ...]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for s in self.secrets if s.outcome == outcome)

    def as_dict(self) -> dict[str, Any]:
        counts = {o: self.count(o) for o in ("restored", "resumed", "unchanged", "overwritten")}
        counts["skipped"] = self.count("skipped")
        return {
            "backup_id": self.backup_id,
            "target": self.target,
            "mode": self.mode,
            "counts": counts,
            "secrets": [s.as_dict() for s in self.secrets],
        }


# -- export -------------------------------------------------------------------


def _resolve(target: Secrets | Backend, prefix: str | None) -> tuple[Backend, str]:
    """(backend, root prefix) of a facade or a backend."""
    if isinstance(target, Backend):
        return target, prefix or ""
    if prefix is not None:
        raise ConfigurationError(
            "prefix= is for a Backend; a Secrets client backs up its own namespace"
        )
    return target.backend, target.namespace.root + "/"


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat()


def _names(backend: Backend, root: str) -> Iterator[tuple[str, bool, datetime | None]]:
    token: str | None = None
    while True:
        page = backend.list(root, page_token=token, include_deleted=True)
        for info in page.items:
            yield info.name, info.deleted, info.recoverable_until
        if page.next_token is None:
            return
        token = page.next_token


def _version_doc(secret_version: Secret, value: SecretValue) -> dict[str, Any]:
    return {
        "version": secret_version.version,
        "stages": sorted(secret_version.stages),
        "created": _iso(secret_version.created),
        "metadata": dict(secret_version.metadata),
        "content_type": value.content_type,
        "value": _b64(value.bytes()),
    }


def _collect(backend: Backend, root: str) -> tuple[list[dict[str, Any]], list[str]]:
    """Every secret under ``root`` with its versions and values (in memory only)."""
    if Capability.LIST not in backend.capabilities:
        raise UnsupportedOperation(
            f"backend {backend.describe()} cannot list secrets, so it cannot be backed up",
            backend=backend.describe(),
        )
    history = Capability.VERSIONS in backend.capabilities
    entries: list[dict[str, Any]] = []
    skipped: list[str] = []
    for name, deleted, until in _names(backend, root):
        entry: dict[str, Any] = {"name": name, "deleted": deleted, "versions": []}
        if deleted:
            entry["recoverable_until"] = _iso(until)
            entries.append(entry)
            continue
        try:
            infos = backend.versions(name) if history else [backend.read(name).info]
        except SecretDeleted:
            entries.append({**entry, "deleted": True})
            continue
        except SecretNotFound:
            continue  # destroyed between the listing and now
        for info in infos:
            try:
                secret = backend.read(name, version=info.version)
            except VersionNotFound:
                skipped.append(f"{name}@{info.version}")  # disabled or gone since
                continue
            entry["versions"].append(_version_doc(secret, secret.value))
        entries.append(entry)
    return entries, skipped


def _write_atomic(path: Path, data: bytes, *, overwrite: bool) -> None:
    """Write ``data`` to ``path`` (0600) through a temporary file, fsync and rename."""
    if path.exists() and not overwrite:
        raise Conflict(f"{path} already exists; refusing to overwrite it")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.{_random.token_hex(6)}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(temp, flags, 0o600)
    try:
        try:
            if os.name == "posix":
                os.fchmod(fd, 0o600)
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def export_backup(
    source: Secrets | Backend,
    path: str | Path,
    *,
    prefix: str | None = None,
    key: bytes | None = None,
    key_file: str | Path | None = None,
    passphrase: str | None = None,
    kdf: KdfParams | None = None,
    overwrite: bool = False,
    clock: Callable[[], datetime] | None = None,
) -> BackupSummary:
    """Write one encrypted backup of ``source`` to ``path`` and return its summary.

    ``source`` is a ``Secrets`` client (its namespace) or a backend (``prefix``,
    default everything). Exactly one of ``key`` (32 bytes), ``key_file`` and
    ``passphrase``; ``kdf`` sets the scrypt parameters for a passphrase (default:
    N=2**17, r=8, p=1, fresh salt). An existing file is refused unless ``overwrite``.
    """
    keys = _KeySource.of(key, key_file, passphrase)
    backend, root = _resolve(source, prefix)
    target = Path(path).expanduser()
    entries, skipped = _collect(backend, root)
    backup_id = _random.token_bytes(16)
    params = None
    if keys.passphrase is not None:
        params = kdf or KdfParams.fresh()
        _check_kdf(params, target)
    enc_key, check = _subkeys(keys.master(params), backup_id)
    created = (clock() if clock is not None else datetime.now(UTC)).astimezone(UTC)
    nonce = _random.token_bytes(_NONCE)
    header = {
        "format": _MAGIC,
        "version": FORMAT,
        "backup_id": backup_id.hex(),
        "created": created.isoformat(),
        "source": backend.describe(),
        "root": root,
        "cipher": "AES-256-GCM",
        "kdf": _kdf_doc(params),
        "key_check": _b64(check),
        "nonce": _b64(nonce),
        "counts": {
            "secrets": sum(1 for e in entries if not e["deleted"]),
            "versions": sum(len(e["versions"]) for e in entries),
            "deleted": sum(1 for e in entries if e["deleted"]),
            "skipped": len(skipped),
        },
    }
    head = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("ascii")
    body = json.dumps(
        {"secrets": entries, "skipped": skipped}, separators=(",", ":"), sort_keys=True
    ).encode("ascii")
    sealed = AESGCM(enc_key).encrypt(nonce, body, _AD + head)
    _write_atomic(target, head + b"\n" + sealed, overwrite=overwrite)
    return _summary(target, header, entries, skipped)


def _kdf_doc(params: KdfParams | None) -> dict[str, Any]:
    if params is None:
        return {"type": "key"}
    return {"type": "scrypt", "salt": _b64(params.salt), "n": params.n, "r": params.r,
            "p": params.p}


def _check_kdf(params: KdfParams, where: Path) -> None:
    n, r, p = params.n, params.r, params.p
    ok = (
        isinstance(n, int) and 2**10 <= n <= 2**20 and n & (n - 1) == 0
        and isinstance(r, int) and 1 <= r <= 32
        and 128 * n * r <= 2**28  # at most 256 MiB of memory, whatever a header says
        and isinstance(p, int) and 1 <= p <= 16
        and len(params.salt) >= 16
    )
    if not ok:
        raise IntegrityError(f"backup {where} has unusable scrypt parameters")


# -- reading a backup ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Opened:
    header: dict[str, Any]
    entries: list[dict[str, Any]]
    skipped: list[str]


def _damaged(path: Path, why: str) -> IntegrityError:
    return IntegrityError(f"backup {path} is damaged or not a sekret backup: {why}")


def _parse_header(path: Path, raw: bytes) -> tuple[dict[str, Any], bytes, bytes]:
    end = raw.find(b"\n", 0, _MAX_HEADER)
    if end < 0:
        raise _damaged(path, "no header")
    head, sealed = raw[:end], raw[end + 1 :]
    try:
        header = json.loads(head.decode("ascii"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _damaged(path, "unreadable header") from None
    if not isinstance(header, dict) or header.get("format") != _MAGIC:
        raise _damaged(path, "unknown header")
    if header.get("version") != FORMAT:
        raise _damaged(
            path, f"format version {str(header.get('version'))[:10]!r} (this sekret reads {FORMAT})"
        )
    return header, head, sealed


def _header_bytes(header: dict[str, Any], field_name: str, path: Path) -> bytes:
    text = header.get(field_name)
    if not isinstance(text, str):
        raise _damaged(path, f"header field {field_name!r} is missing")
    try:
        if field_name == "backup_id":
            return bytes.fromhex(text)
        return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise _damaged(path, f"header field {field_name!r} is malformed") from None


def _header_kdf(header: dict[str, Any], path: Path) -> KdfParams | None:
    doc = header.get("kdf")
    if not isinstance(doc, dict) or doc.get("type") not in ("key", "scrypt"):
        raise _damaged(path, "unknown key derivation")
    if doc["type"] == "key":
        return None
    try:
        params = KdfParams(
            base64.b64decode(doc["salt"], validate=True), doc["n"], doc["r"], doc["p"]
        )
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise _damaged(path, "unreadable scrypt parameters") from None
    _check_kdf(params, path)
    return params


def _open(
    path: str | Path, key: bytes | None, key_file: str | Path | None, passphrase: str | None
) -> tuple[Path, _Opened]:
    keys = _KeySource.of(key, key_file, passphrase)
    where = Path(path).expanduser()
    try:
        raw = where.read_bytes()
    except FileNotFoundError:
        raise ConfigurationError(f"no backup at {where}") from None
    except OSError as exc:
        raise ConfigurationError(f"backup {where} cannot be read: {exc.strerror}") from exc
    header, head, sealed = _parse_header(where, raw)
    params = _header_kdf(header, where)
    if params is not None and keys.passphrase is None:
        raise ConfigurationError(f"backup {where} is sealed with a passphrase, not a key")
    if params is None and keys.passphrase is not None:
        raise ConfigurationError(f"backup {where} is sealed with a key file, not a passphrase")
    backup_id = _header_bytes(header, "backup_id", where)
    check = _header_bytes(header, "key_check", where)
    nonce = _header_bytes(header, "nonce", where)
    if len(backup_id) != 16 or len(check) != _CHECK or len(nonce) != _NONCE:
        raise _damaged(where, "malformed header")
    enc_key, expected = _subkeys(keys.master(params), backup_id)
    if not hmac.compare_digest(check, expected):
        raise WrongMasterKey(
            f"the {keys.where} does not open backup {where}"
            " (wrong key or passphrase, or the backup's header was altered)"
        )
    try:
        body = AESGCM(enc_key).decrypt(nonce, sealed, _AD + head)
    except (InvalidTag, ValueError):
        raise _damaged(where, "authentication failed (the file was altered or truncated)") from None
    try:
        doc = json.loads(body)
        entries, skipped = doc["secrets"], doc["skipped"]
        if not isinstance(entries, list) or not isinstance(skipped, list):
            raise TypeError("body")
    except (ValueError, KeyError, TypeError):
        raise _damaged(where, "unreadable body") from None
    return where, _Opened(header, entries, skipped)


def _summary(
    path: Path, header: dict[str, Any], entries: Sequence[dict[str, Any]], skipped: Sequence[str]
) -> BackupSummary:
    secrets_map: dict[str, tuple[Mapping[str, Any], ...]] = {}
    deleted: list[str] = []
    for entry in entries:
        if entry["deleted"]:
            deleted.append(entry["name"])
            continue
        secrets_map[entry["name"]] = tuple(
            {
                "version": v["version"],
                "stages": list(v["stages"]),
                "created": v["created"],
                "content_type": v["content_type"],
            }
            for v in entry["versions"]
        )
    return BackupSummary(
        path=path,
        backup_id=str(header["backup_id"]),
        created=str(header["created"]),
        source=str(header["source"]),
        root=str(header["root"]),
        sealed_with="passphrase" if header["kdf"]["type"] == "scrypt" else "key",
        secrets=secrets_map,
        deleted=tuple(deleted),
        skipped=tuple(skipped),
    )


def verify_backup(
    path: str | Path,
    *,
    key: bytes | None = None,
    key_file: str | Path | None = None,
    passphrase: str | None = None,
) -> BackupSummary:
    """Open and authenticate a backup; return what it holds (no values).

    A wrong key raises ``WrongMasterKey``; an altered or truncated file
    ``IntegrityError`` naming the file.
    """
    where, opened = _open(path, key, key_file, passphrase)
    try:
        return _summary(where, opened.header, opened.entries, opened.skipped)
    except (KeyError, TypeError) as exc:
        raise _damaged(where, "unexpected body layout") from exc


# -- restore ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Version:
    version: str
    stages: frozenset[str]
    metadata: Mapping[str, str]
    value: SecretValue


def _versions_of(entry: Mapping[str, Any], where: Path) -> list[_Version]:
    out = []
    try:
        for v in entry["versions"]:
            ctype = v["content_type"]
            if ctype not in CONTENT_TYPES:
                raise ValueError("content type")
            data = base64.b64decode(v["value"], validate=True)
            out.append(
                _Version(
                    str(v["version"]),
                    frozenset(v["stages"]),
                    {str(k): str(x) for k, x in v["metadata"].items()},
                    SecretValue.from_stored(data, ctype, max_bytes=_NO_LIMIT),
                )
            )
    except (KeyError, TypeError, ValueError, AttributeError, binascii.Error):
        raise _damaged(where, f"secret {entry.get('name')!r} is malformed") from None
    return out


def _token(backup_id: str, name: str, version: str) -> str:
    """A stable idempotency token for one source version (same on every rerun)."""
    digest = hmac.new(bytes.fromhex(backup_id), f"{name}@{version}".encode(), "sha256")
    return "bk" + digest.hexdigest()[:30]


def _target_of(target: Secrets | Backend) -> tuple[Backend, Secrets | None]:
    if isinstance(target, Backend):
        return target, None
    if target.read_only:
        raise AccessDenied(
            "this client is read-only (least privilege); restore needs an admin client",
            backend=target.backend.describe(),
        )
    return target.backend, target


def restore_backup(
    path: str | Path,
    target: Secrets | Backend,
    *,
    key: bytes | None = None,
    key_file: str | Path | None = None,
    passphrase: str | None = None,
    mode: Mode = "missing",
) -> RestoreReport:
    """Write a backup's secrets into ``target`` (any backend); return what happened.

    ``mode="missing"`` (default) restores only secrets the target does not
    have (and finishes a restore of this backup that was interrupted);
    ``mode="overwrite"`` also adds the backup's versions on top of existing
    secrets and moves their stages to match the backup. Nothing stored on the
    target is ever deleted. Rerunning is safe: versions carry idempotency
    tokens derived from the backup id and the source version.
    """
    if mode not in ("missing", "overwrite"):
        raise InvalidValue(f"mode must be 'missing' or 'overwrite', not {str(mode)[:20]!r}")
    where, opened = _open(path, key, key_file, passphrase)
    backend, client = _target_of(target)
    needed = Capability.WRITE | Capability.VERSIONS | Capability.STAGES | Capability.READ
    if needed not in backend.capabilities:
        raise UnsupportedOperation(
            f"backend {backend.describe()} cannot take a restore (needs write, versions and"
            f" stages; it declares {backend.capabilities!r})",
            backend=backend.describe(),
        )
    live = [e for e in opened.entries if not e.get("deleted")]
    if client is not None:
        outside = [e["name"] for e in live if not client.namespace.contains(e["name"])]
        if outside:
            raise ConfigurationError(
                f"backup {where} holds secrets outside namespace {client.namespace.root!r}"
                f" (e.g. {outside[0]!r}); restore into a backend, or a client of that namespace"
            )
    backup_id = str(opened.header["backup_id"])
    outcomes = []
    for entry in opened.entries:
        name = str(entry.get("name"))
        if entry.get("deleted"):
            outcomes.append(SecretOutcome(name, "skipped", reason="deleted in the source"))
            continue
        versions = _versions_of(entry, where)
        try:
            outcomes.append(_restore_one(backend, name, versions, backup_id, mode))
        finally:
            if client is not None:
                client.invalidate(client.namespace.short(name))
    return RestoreReport(backup_id, backend.describe(), mode, tuple(outcomes))


def _target_versions(backend: Backend, name: str) -> list[Any] | None:
    """The target's versions of ``name``; None when absent; SecretDeleted propagates."""
    try:
        return backend.versions(name)
    except SecretDeleted:
        raise
    except SecretNotFound:
        return None


def _matching_prefix(backend: Backend, name: str, have: list[Any], want: list[_Version]) -> bool:
    """Whether the target's versions are, in order, the first of the backup's (by value)."""
    if len(have) > len(want):
        return False
    for info, wanted in zip(have, want, strict=False):
        try:
            held = backend.read(name, version=info.version).value
        except VersionNotFound:
            return False
        if held != wanted.value:  # constant-time comparison, in memory
            return False
    return True


def _restore_one(
    backend: Backend, name: str, versions: list[_Version], backup_id: str, mode: Mode
) -> SecretOutcome:
    if not versions:
        return SecretOutcome(name, "skipped", reason="no readable version in the backup")
    try:
        have = _target_versions(backend, name)
    except SecretDeleted:
        return SecretOutcome(
            name, "skipped", reason="deleted on the target (restore or destroy it there first)"
        )
    if have is None:
        mapping = _write_versions(backend, name, versions, 0, {}, backup_id)
        _apply_stages(backend, name, versions, mapping, ours=set(mapping.values()))
        return SecretOutcome(name, "restored", mapping)
    if _matching_prefix(backend, name, have, versions):
        mapping = {w.version: h.version for h, w in zip(have, versions, strict=False)}
        if len(have) < len(versions):
            mapping = _write_versions(backend, name, versions, len(have), mapping, backup_id)
            _apply_stages(backend, name, versions, mapping, ours=set(mapping.values()))
            return SecretOutcome(name, "resumed", mapping)
        if _stages_match(backend, name, versions, mapping):
            return SecretOutcome(name, "unchanged", mapping)
        if mode == "overwrite":
            _apply_stages(backend, name, versions, mapping, ours=set(mapping.values()))
            return SecretOutcome(name, "overwritten", mapping)
        return SecretOutcome(
            name, "skipped", mapping, "exists on the target with other stages (use overwrite)"
        )
    if mode == "missing":
        return SecretOutcome(name, "skipped", reason="exists on the target (use overwrite)")
    mapping = _write_versions(backend, name, versions, 0, {}, backup_id)
    _apply_stages(backend, name, versions, mapping, ours=set(mapping.values()))
    return SecretOutcome(name, "overwritten", mapping)


def _write_versions(
    backend: Backend,
    name: str,
    versions: list[_Version],
    start: int,
    mapping: dict[str, str],
    backup_id: str,
) -> dict[str, str]:
    out = dict(mapping)
    has_current = any(CURRENT in v.stages for v in versions)
    for index in range(start, len(versions)):
        v = versions[index]
        # The first version of a new secret carries `current` (some services insist);
        # the stages are put where the backup has them afterwards.
        stages = (CURRENT,) if index == 0 and has_current and not out else ()
        info = backend.write(
            name,
            v.value,
            stages=stages,
            token=_token(backup_id, name, v.version),
            metadata=v.metadata or None,
        )
        out[v.version] = info.version
    return out


def _stage_map(backend: Backend, name: str) -> dict[str, str]:
    return {s: info.version for info in backend.versions(name) for s in info.stages}


def _wanted_stages(versions: list[_Version], mapping: Mapping[str, str]) -> dict[str, str]:
    return {s: mapping[v.version] for v in versions for s in v.stages if v.version in mapping}


def _stages_match(
    backend: Backend, name: str, versions: list[_Version], mapping: Mapping[str, str]
) -> bool:
    return _stage_map(backend, name) == _wanted_stages(versions, mapping)


def _apply_stages(
    backend: Backend,
    name: str,
    versions: list[_Version],
    mapping: Mapping[str, str],
    *,
    ours: set[str],
) -> None:
    """Put each stage where the backup has it; drop stray labels on versions we wrote."""
    want = _wanted_stages(versions, mapping)
    have = _stage_map(backend, name)
    if CURRENT in want and have.get(CURRENT) != want[CURRENT]:
        backend.move_stage(name, CURRENT, want[CURRENT])
        have = _stage_map(backend, name)
    for stage, version in sorted(want.items()):
        if stage != CURRENT and have.get(stage) != version:
            backend.move_stage(name, stage, version)
    have = _stage_map(backend, name)
    for stage, version in sorted(have.items()):
        if stage not in want and stage != CURRENT and version in ours:
            backend.move_stage(name, stage, None)


# -- raw copy of a local store ------------------------------------------------


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
    _fsync_dir(dest.parent)
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
