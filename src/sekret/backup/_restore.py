"""Restoring a backup, one secret at a time, into any backend.

``restore_one`` (driven by ``sekret.backup.restore_backup``) writes a
secret's versions in order with idempotency tokens derived from the backup id
and the source version, then puts the stages where the backup has them. A
target that already holds the backup's first versions (an interrupted
restore) is resumed; with ``mode="overwrite"`` the backup's versions are added
on top of an existing secret. ``SecretOutcome``/``RestoreReport`` say what
happened, mapping source to target version ids.

This module must never delete or rewrite anything stored on the target (it
only adds versions and moves stages, and drops only stray stages from
versions it wrote itself), and never put a value in an outcome or an error.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

from sekret._values import CONTENT_TYPES, CURRENT, SecretValue
from sekret.backends.base import Backend, WriteRequest, move_label
from sekret.backup._format import damaged
from sekret.exceptions import (
    AccessDenied,
    SecretDeleted,
    SecretNotFound,
    SekretError,
    VersionNotFound,
)

if TYPE_CHECKING:
    from sekret._secrets import Secrets

_NO_LIMIT: Final = 2**31  # sizes were checked when the values were first stored
BATCH: Final = 1000  # versions per put_many when restoring secrets the target lacks

Mode = Literal["missing", "overwrite"]

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


class _Version:
    """One backed-up version (a plain slotted class: a frozen dataclass's ``__init__``
    costs a microsecond per field, and a restore builds one per version)."""

    __slots__ = ("metadata", "stages", "value", "version")

    def __init__(
        self, version: str, stages: frozenset[str], metadata: Mapping[str, str], value: SecretValue
    ) -> None:
        self.version = version
        self.stages = stages
        self.metadata = metadata
        self.value = value


def versions_of(entry: Mapping[str, Any], where: Path) -> list[_Version]:
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
        raise damaged(where, f"secret {entry.get('name')!r} is malformed") from None
    return out


@functools.lru_cache(maxsize=4)
def _token_key(backup_id: str) -> bytes:
    return bytes.fromhex(backup_id)


def _token(backup_id: str, name: str, version: str) -> str:
    """A stable idempotency token for one source version (same on every rerun):
    HMAC-SHA256 keyed by the backup id, in one call (``hmac.digest``)."""
    mac = hmac.digest(_token_key(backup_id), f"{name}@{version}".encode(), "sha256")
    return "bk" + mac.hex()[:30]


def target_of(target: Secrets | Backend) -> tuple[Backend, Secrets | None]:
    if isinstance(target, Backend):
        return target, None
    if target.read_only:
        raise AccessDenied(
            "this client is read-only (least privilege); restore needs an admin client",
            backend=target.backend.describe(),
        )
    return target.backend, target


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


def restore_one(
    backend: Backend,
    name: str,
    versions: list[_Version],
    backup_id: str,
    mode: Mode,
    *,
    source: str | None = None,
) -> SecretOutcome:
    """Restore one secret carefully: probe the target, resume, or overwrite by ``mode``.

    ``source`` is the secret's name in the backup (when restored under another
    name); the idempotency tokens derive from it.
    """
    source = source or name
    if not versions:
        return SecretOutcome(name, "skipped", reason="no readable version in the backup")
    try:
        have = _target_versions(backend, name)
    except SecretDeleted:
        return SecretOutcome(
            name, "skipped", reason="deleted on the target (restore or destroy it there first)"
        )
    if have is None:
        mapping = _write_versions(backend, name, versions, 0, {}, backup_id, source)
        _apply_stages(backend, name, versions, mapping, ours=set(mapping.values()))
        return SecretOutcome(name, "restored", mapping)
    if _matching_prefix(backend, name, have, versions):
        mapping = {w.version: h.version for h, w in zip(have, versions, strict=False)}
        if len(have) < len(versions):
            mapping = _write_versions(
                backend, name, versions, len(have), mapping, backup_id, source
            )
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
    mapping = _write_versions(backend, name, versions, 0, {}, backup_id, source)
    _apply_stages(backend, name, versions, mapping, ours=set(mapping.values()))
    return SecretOutcome(name, "overwritten", mapping)


def _write_versions(
    backend: Backend,
    name: str,
    versions: list[_Version],
    start: int,
    mapping: dict[str, str],
    backup_id: str,
    source: str,
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
            token=_token(backup_id, source, v.version),
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


# -- batched restore of secrets the target does not hold ----------------------


def _lands_as_backed_up(versions: list[_Version]) -> bool:
    """Whether writing each version with its own stages, in order, leaves exactly the
    backup's stage map (the shared label rule may add ``previous`` on the way)."""
    if len(versions) == 1:  # every label lands on the only version, none moves
        return True
    simulated: dict[str, str] = {}
    for v in versions:
        for stage in sorted(v.stages, key=lambda s: s != CURRENT):
            move_label(simulated, stage, v.version)
    return simulated == _wanted_stages(versions, {v.version: v.version for v in versions})


class Restorer:
    """Restores a stream of secrets: new ones in batches (``put_many``), others one by one.

    ``existing`` is every name the target holds (deleted ones included), from one
    listing; None when the target cannot list or batch, and every secret then
    takes ``restore_one``'s careful path.
    """

    def __init__(
        self,
        backend: Backend,
        backup_id: str,
        mode: Mode,
        existing: set[str] | None,
        *,
        batch: int = BATCH,
    ) -> None:
        self.backend = backend
        self.backup_id = backup_id
        self.mode: Mode = mode
        self.existing = existing
        self.outcomes: list[SecretOutcome | None] = []
        self._batch = batch
        self._pending: list[tuple[int, str, list[_Version], list[WriteRequest]]] = []
        self._count = 0

    def add(self, name: str, source: str, versions: list[_Version]) -> None:
        """Restore ``versions`` of backup secret ``source`` as ``name`` on the target."""
        if (
            self.existing is not None
            and name not in self.existing
            and versions
            and _lands_as_backed_up(versions)
        ):
            writes = [
                WriteRequest(
                    name,
                    v.value,
                    stages=tuple(sorted(v.stages)),
                    token=_token(self.backup_id, source, v.version),
                    metadata=v.metadata or None,
                )
                for v in versions
            ]
            self._pending.append((len(self.outcomes), name, versions, writes))
            self.outcomes.append(None)
            self._count += len(writes)
            if self._count >= self._batch:
                self.flush()
            return
        self.outcomes.append(
            restore_one(self.backend, name, versions, self.backup_id, self.mode, source=source)
        )

    def flush(self) -> None:
        """Write the pending new secrets in one ``put_many``; raise the first failure."""
        pending, self._pending, self._count = self._pending, [], 0
        if not pending:
            return
        results = self.backend.put_many([w for *_, writes in pending for w in writes])
        position = 0
        for index, name, versions, writes in pending:
            mine = results[position : position + len(writes)]
            position += len(writes)
            for result in mine:
                if isinstance(result, SekretError):
                    raise result
            mapping = {
                v.version: r.version
                for v, r in zip(versions, mine, strict=True)
                if not isinstance(r, SekretError)
            }
            self.outcomes[index] = SecretOutcome(name, "restored", mapping)

    def finish(self) -> tuple[SecretOutcome, ...]:
        self.flush()
        return tuple(o for o in self.outcomes if o is not None)
