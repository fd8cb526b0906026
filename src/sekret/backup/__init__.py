"""Backups: one encrypted, portable file of a namespace, and restore into any backend.

``export_backup`` reads every secret under a namespace (or a prefix of a
backend): all live versions with their stages, content types, metadata and
created times. Soft-deleted secrets are listed and flagged, without values
(the backend contract cannot read them without restoring them first; the raw
local copy below keeps them). The file is a header line and a stream of
sealed chunks (``_format`` documents it): writing and reading hold one chunk
(about 1 MiB) of values at a time, and a file edited, truncated, reordered or
with a chunk duplicated fails with ``IntegrityError``.

``restore_backup`` first authenticates the whole file (nothing is written
from a damaged backup), then writes the versions back in order into any
backend, with idempotency tokens derived from the backup id and source
version, and puts the stages back; version ids differ on the target and the
report maps them. Secrets the target does not hold are written in batches
(``Backend.put_many``: one transaction per batch on the local store) without
probing the target for each; existing ones take the careful path one by one.
``rename=(from, to)`` restores the secrets under namespace ``from`` (e.g.
``arrwdb/development``) as the same names under ``to`` (``arrwdb/staging``).
It never deletes or rewrites anything stored on the target: an existing
secret is left alone unless ``mode="overwrite"``, which adds the backup's
versions on top of the target's and moves the stages.

``backup_local_store`` is a consistent raw copy of a local store's SQLite file
(the sqlite3 online backup API); its values stay sealed under the store's key.

The pieces live in private modules: ``_format`` (key sources, header,
chunked sealing and reading), ``_restore`` (restoring secrets, batched or
one by one, and the report) and ``_files`` (private reads and the raw local
copy). This module holds the public functions and re-exports every public
name.

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
from sekret._files import write_private_stream
from sekret._names import validate_name
from sekret._values import Secret, SecretValue
from sekret.backends.base import Backend, Capability, capability_names
from sekret.backup._files import LocalCopy, backup_local_store
from sekret.backup._format import (
    FORMAT,
    BackupReader,
    BackupWriter,
    KdfParams,
    KeySource,
    b64,
    damaged,
)
from sekret.backup._restore import Mode as Mode
from sekret.backup._restore import (
    Restorer,
    RestoreReport,
    SecretOutcome,
    target_of,
    versions_of,
)
from sekret.exceptions import (
    ConfigurationError,
    Conflict,
    InvalidValue,
    SecretDeleted,
    SecretNotFound,
    SekretError,
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
    # set when ``secrets`` was not kept (export_backup(outline=False)): the counts alone
    counts: Mapping[str, int] | None = None

    @property
    def version_count(self) -> int:
        if self.counts is not None:
            return int(self.counts["versions"])
        return sum(len(v) for v in self.secrets.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "backup_id": self.backup_id,
            "created": self.created,
            "source": self.source,
            "root": self.root,
            "sealed_with": self.sealed_with,
            "counts": dict(self.counts)
            if self.counts is not None
            else {
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


def _collect(backend: Backend, root: str, skipped: list[str]) -> Iterator[dict[str, Any]]:
    """Every secret under ``root`` with its versions and values, one at a time."""
    if Capability.LIST not in backend.capabilities:
        raise UnsupportedOperation(
            f"backend {backend.describe()} cannot list secrets, so it cannot be backed up",
            backend=backend.describe(),
        )
    history = Capability.VERSIONS in backend.capabilities
    for name, deleted, until in _names(backend, root):
        entry: dict[str, Any] = {"name": name, "deleted": deleted, "versions": []}
        if deleted:
            entry["recoverable_until"] = _iso(until)
            yield entry
            continue
        try:
            infos = backend.versions(name) if history else [backend.read(name).info]
        except SecretDeleted:
            yield {**entry, "deleted": True}
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
        yield entry


class _Outline:
    """What a summary keeps of each secret: no values, only names and version facts
    (nothing at all with ``keep=False``: then memory stays bounded by a chunk)."""

    def __init__(self, *, keep: bool = True) -> None:
        self.secrets: dict[str, tuple[Mapping[str, Any], ...]] = {}
        self.deleted: list[str] = []
        self.keep = keep

    def add(self, entry: Mapping[str, Any]) -> None:
        if not self.keep:
            return
        if entry["deleted"]:
            self.deleted.append(entry["name"])
            return
        self.secrets[entry["name"]] = tuple(
            {
                "version": v["version"],
                "stages": list(v["stages"]),
                "created": v["created"],
                "content_type": v["content_type"],
            }
            for v in entry["versions"]
        )

    def summary(
        self,
        path: Path,
        header: Mapping[str, Any],
        skipped: Sequence[str],
        counts: Mapping[str, int] | None = None,
    ) -> BackupSummary:
        return BackupSummary(
            path=path,
            backup_id=str(header["backup_id"]),
            created=str(header["created"]),
            source=str(header["source"]),
            root=str(header["root"]),
            sealed_with="passphrase" if header["kdf"]["type"] == "scrypt" else "key",
            secrets=self.secrets,
            deleted=tuple(self.deleted),
            skipped=tuple(skipped),
            counts=None if self.keep else dict(counts or {}),
        )


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
    outline: bool = True,
) -> BackupSummary:
    """Write one encrypted backup of ``source`` to ``path`` and return its summary.

    ``source`` is a ``Secrets`` client (its namespace) or a backend (``prefix``,
    default everything). Exactly one of ``key`` (32 bytes), ``key_file`` and
    ``passphrase``; ``kdf`` sets the scrypt parameters for a passphrase (default:
    N=2**17, r=8, p=1, fresh salt). An existing file is refused unless ``overwrite``.
    Values are read, sealed and written one chunk at a time; ``outline=False``
    keeps no per-secret summary either (only counts), so memory stays bounded
    by a chunk however many secrets there are.
    """
    keys = KeySource.of(key, key_file, passphrase)
    backend, root = _resolve(source, prefix)
    target = Path(path).expanduser()
    skipped: list[str] = []
    kept = _Outline(keep=outline)
    with write_private_stream(target, what="backup", overwrite=overwrite) as out:
        writer = BackupWriter(
            out, keys, kdf, target, source=backend.describe(), root=root, clock=clock
        )
        for entry in _collect(backend, root, skipped):
            writer.add(entry)
            kept.add(entry)
        writer.finish(skipped)
    return kept.summary(target, writer.header, skipped, writer.counts)


# -- verify and restore -------------------------------------------------------


def verify_backup(
    path: str | Path,
    *,
    key: bytes | None = None,
    key_file: str | Path | None = None,
    passphrase: str | None = None,
) -> BackupSummary:
    """Open and authenticate a backup; return what it holds (no values).

    A wrong key raises ``WrongMasterKey``; an altered, truncated or reordered
    file ``IntegrityError`` naming the file.
    """
    reader = BackupReader(path, key, key_file, passphrase)
    outline = _Outline()
    try:
        for entry in reader.entries():
            outline.add(entry)
    except (KeyError, TypeError) as exc:
        raise damaged(reader.path, "unexpected body layout") from exc
    return outline.summary(reader.path, reader.header, reader.skipped)


def _renamer(rename: tuple[str, str] | None, where: Path) -> Callable[[str], str | None]:
    """Map a backup name to its target name (None: outside the ``from`` namespace)."""
    if rename is None:
        return lambda name: name
    old, new = (str(part).strip("/") for part in rename)
    for part in (old, new):
        try:
            validate_name(part)
        except SekretError as exc:
            raise ConfigurationError(f"namespace {part[:80]!r} is not a valid name prefix") from exc
    old_root, new_root = old + "/", new + "/"

    def rename_one(name: str) -> str | None:
        if not name.startswith(old_root):
            return None
        return new_root + name[len(old_root) :]

    return rename_one


def _existing(backend: Backend, roots: set[str]) -> set[str] | None:
    """Every name the target holds under ``roots`` (one listing), or None when it
    cannot list or write in batches (then each secret is probed on its own)."""
    if Capability.LIST not in backend.capabilities or (
        Capability.BATCH_WRITE not in backend.capabilities
    ):
        return None
    names: set[str] = set()
    for root in roots:
        names.update(name for name, _, _ in _names(backend, root))
    return names


def restore_backup(
    path: str | Path,
    target: Secrets | Backend,
    *,
    key: bytes | None = None,
    key_file: str | Path | None = None,
    passphrase: str | None = None,
    mode: Mode = "missing",
    rename: tuple[str, str] | None = None,
) -> RestoreReport:
    """Write a backup's secrets into ``target`` (any backend); return what happened.

    ``mode="missing"`` (default) restores only secrets the target does not
    have (and finishes a restore of this backup that was interrupted);
    ``mode="overwrite"`` also adds the backup's versions on top of existing
    secrets and moves their stages to match the backup. Nothing stored on the
    target is ever deleted. Rerunning is safe: versions carry idempotency
    tokens derived from the backup id and the source version.

    ``rename=("arrwdb/development", "arrwdb/staging")`` restores the secrets
    under the first namespace as the same names under the second; every
    secret of the backup must be under the first. The whole file is
    authenticated before anything is written.
    """
    if mode not in ("missing", "overwrite"):
        raise InvalidValue(f"mode must be 'missing' or 'overwrite', not {str(mode)[:20]!r}")
    reader = BackupReader(path, key, key_file, passphrase)
    where = reader.path
    backend, client = target_of(target)
    needed = Capability.WRITE | Capability.VERSIONS | Capability.STAGES | Capability.READ
    if needed not in backend.capabilities:
        raise UnsupportedOperation(
            f"backend {backend.describe()} cannot take a restore (needs write, versions and"
            f" stages; it offers {capability_names(backend.capabilities)})",
            backend=backend.describe(),
        )
    renamed = _renamer(rename, where)
    # Pass 1: authenticate every chunk and check every name before writing anything.
    roots: set[str] = set()
    for entry in reader.entries():
        name = str(entry.get("name"))
        new_name = renamed(name)
        if new_name is None:
            raise ConfigurationError(
                f"backup {where} holds {name!r}, outside namespace {rename and rename[0]!r};"
                " --from-namespace must be the namespace the backup was taken from"
                f" (it was taken under {reader.header.get('root')!r})"
            )
        if entry.get("deleted"):
            continue
        if client is not None and not client.namespace.contains(new_name):
            taken = str(reader.header.get("root") or "").strip("/") or name.rsplit("/", 1)[0]
            hint = (
                " (restore into a client of that namespace, or remap it:"
                f" --from-namespace {taken} --to-namespace {client.namespace.root})"
                if rename is None
                else ""
            )
            raise ConfigurationError(
                f"backup {where} holds {new_name!r}, outside this client's namespace"
                f" {client.namespace.root!r}{hint}"
            )
        roots.add(new_name.rsplit("/", 1)[0] + "/" if "/" in new_name else "")
    # Pass 2: restore, new secrets in batches.
    backup_id = str(reader.header["backup_id"])
    restorer = Restorer(backend, backup_id, mode, _existing(backend, _top(roots)))
    skipped: list[SecretOutcome] = []
    for entry in reader.entries():
        name = str(entry.get("name"))
        new_name = renamed(name) or name
        if entry.get("deleted"):
            skipped.append(SecretOutcome(new_name, "skipped", reason="deleted in the source"))
            continue
        restorer.add(new_name, name, versions_of(entry, where))
        if client is not None:
            client.invalidate(client.namespace.short(new_name))
    outcomes = restorer.finish()
    return RestoreReport(backup_id, backend.describe(), mode, (*outcomes, *skipped))


def _top(roots: set[str]) -> set[str]:
    """The shortest prefixes covering ``roots`` (one listing per subtree)."""
    out: set[str] = set()
    for root in sorted(roots, key=len):
        if not any(root.startswith(kept) for kept in out):
            out.add(root)
    return out
