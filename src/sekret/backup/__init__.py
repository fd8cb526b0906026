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

The pieces live in private modules: ``_format`` (key sources, header,
sealing and opening), ``_restore`` (the per-secret restore and its
report) and ``_files`` (atomic 0600 writes, the raw local copy). This
module holds the public functions and re-exports every public name.

This module must never log, print or put a value or a key in an error, a
header or a report. Files it writes are created 0600, atomically.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sekret import _sealing
from sekret._values import Secret, SecretValue
from sekret.backends.base import Backend, Capability
from sekret.backup._files import LocalCopy, backup_local_store, write_atomic
from sekret.backup._format import (
    FORMAT,
    KdfParams,
    KeySource,
    b64,
    damaged,
    open_backup,
    seal_backup,
)
from sekret.backup._restore import Mode as Mode
from sekret.backup._restore import (
    RestoreReport,
    SecretOutcome,
    restore_one,
    target_of,
    versions_of,
)
from sekret.exceptions import (
    ConfigurationError,
    Conflict,
    InvalidValue,
    SecretDeleted,
    SecretNotFound,
    UnsupportedOperation,
    VersionNotFound,
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
        "value": b64(value.bytes()),
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
    keys = KeySource.of(key, key_file, passphrase)
    backend, root = _resolve(source, prefix)
    target = Path(path).expanduser()
    entries, skipped = _collect(backend, root)
    header, data = seal_backup(
        keys,
        kdf,
        target,
        source=backend.describe(),
        root=root,
        entries=entries,
        skipped=skipped,
        clock=clock,
    )
    write_atomic(target, data, overwrite=overwrite)
    return _summary(target, header, entries, skipped)


# -- verify and restore -------------------------------------------------------


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
    where, opened = open_backup(path, key, key_file, passphrase)
    try:
        return _summary(where, opened.header, opened.entries, opened.skipped)
    except (KeyError, TypeError) as exc:
        raise damaged(where, "unexpected body layout") from exc


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
    where, opened = open_backup(path, key, key_file, passphrase)
    backend, client = target_of(target)
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
        versions = versions_of(entry, where)
        try:
            outcomes.append(restore_one(backend, name, versions, backup_id, mode))
        finally:
            if client is not None:
                client.invalidate(client.namespace.short(name))
    return RestoreReport(backup_id, backend.describe(), mode, tuple(outcomes))
