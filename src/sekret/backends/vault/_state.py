"""What sekret reads back from the server for one secret, and the stages derived from it.

``Main`` is the KV v2 metadata of ``<mount>/<name>`` (versions, custom
metadata, check-and-set counters). ``Companion`` is sekret's hidden entry
``<mount>/.sekret/<name>``: pending (staged) versions, labels other than
``current``/``previous``, the soft-delete mark and a mirror of the version
records. ``View`` combines them under the native-first rule:

* ``current`` is the latest KV version, whoever wrote it;
* ``previous`` is the newest live version below it (derived, never stored),
  unless revoke-previous set the companion's ``floor`` at or above it;
* a staged id (``p<n>``) whose record shows up on a KV version was promoted
  (a crash may have stopped before the companion was updated): its labels
  belong to that version.

Nothing here sends requests, and every odd shape another tool may have
written is tolerated or reported as ``IntegrityError``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sekret.backends._native import Stages
from sekret.backends.vault._shape import Record
from sekret.exceptions import IntegrityError

__all__ = ["MANAGED", "PURGE_KEY", "VKEY", "Companion", "Main", "View", "parse_time"]

MANAGED = "sekret"  # present in custom_metadata once sekret keeps its markers there
VKEY = "sekret.v."  # custom_metadata key of one version's record
PURGE_KEY = "sekret.purge_at"
_TIME = re.compile(r".*?T\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)\Z")


def parse_time(text: object) -> datetime | None:
    """Vault's RFC 3339 times (nanoseconds, ``Z``) as aware datetimes; anything else None.

    Python 3.11's ``fromisoformat`` reads both (keeping microseconds); the pattern
    refuses the other ISO 8601 shapes it would also take (a date alone, no zone).
    """
    if not isinstance(text, str) or _TIME.match(text) is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _str_map(raw: object) -> dict[str, str]:
    if not isinstance(raw, dict):
        return {}
    return {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, str)}


@dataclass(frozen=True, slots=True)
class Main:
    """A secret's KV v2 metadata."""

    current_version: int
    meta_cas: int
    custom: Mapping[str, str]
    versions: Mapping[str, Mapping[str, Any]]
    created: datetime | None
    updated: datetime | None

    @classmethod
    def of(cls, data: object) -> Main:
        doc = data if isinstance(data, dict) else {}
        versions = doc.get("versions")
        clean = {
            str(k): v
            for k, v in (versions.items() if isinstance(versions, dict) else ())
            if str(k).isdigit() and isinstance(v, dict)
        }
        return cls(
            _int(doc.get("current_version")),
            _int(doc.get("current_metadata_version")),
            _str_map(doc.get("custom_metadata")),
            clean,
            parse_time(doc.get("created_time")),
            parse_time(doc.get("updated_time")),
        )

    def is_live(self, version: str) -> bool:
        info = self.versions.get(version)
        return info is not None and not info.get("destroyed") and not info.get("deletion_time")

    @property
    def live(self) -> list[str]:
        """Live versions, oldest first."""
        return sorted((v for v in self.versions if self.is_live(v)), key=int)

    @property
    def latest(self) -> str | None:
        return str(self.current_version) if self.current_version else None

    @property
    def managed(self) -> bool:
        return MANAGED in self.custom

    def created_of(self, version: str) -> str | None:
        got = (self.versions.get(version) or {}).get("created_time")
        return got if isinstance(got, str) else None


def _int(raw: object) -> int:
    try:
        return max(int(raw), 0) if isinstance(raw, int | str) else 0
    except ValueError:
        return 0


@dataclass(slots=True)
class Companion:
    """sekret's hidden entry for one secret; ``cas`` is its KV version (0: none yet)."""

    cas: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    staged: dict[str, dict[str, Any]] = field(default_factory=dict)
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    next_id: int = 1
    purge_at: str | None = None
    aliases: dict[str, str] = field(default_factory=dict)  # promoted staged id -> KV version
    # revoke-previous: no version below this KV version is ``previous`` any more
    floor: int = 0

    @classmethod
    def of(cls, data: object, cas: int, where: str) -> Companion:
        if not isinstance(data, dict) or data.get("sekret") != 2:
            raise IntegrityError(f"{where}: sekret's companion entry is not in sekret's format")
        labels, staged = data.get("labels") or {}, data.get("staged") or {}
        records, purge = data.get("records") or {}, data.get("purge_at")
        nxt, aliases = data.get("next", 1), data.get("aliases") or {}
        floor = data.get("floor", 0)
        if not (
            isinstance(labels, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items())
            and isinstance(staged, dict)
            and all(isinstance(v, dict) for v in staged.values())
            and isinstance(records, dict)
            and all(isinstance(v, dict) for v in records.values())
            and (purge is None or isinstance(purge, str))
            and isinstance(nxt, int)
            and isinstance(aliases, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in aliases.items())
            and isinstance(floor, int)
            and not isinstance(floor, bool)
        ):
            raise IntegrityError(f"{where}: sekret's companion entry is malformed")
        return cls(cas, dict(labels), dict(staged), dict(records), nxt, purge, dict(aliases), floor)

    def dump(self) -> dict[str, Any]:
        return {
            "sekret": 2,
            "labels": self.labels,
            "staged": self.staged,
            "records": self.records,
            "next": self.next_id,
            "purge_at": self.purge_at,
            "aliases": self.aliases,
            "floor": self.floor,
        }

    @property
    def exists(self) -> bool:
        return self.cas > 0


class View:
    """The stages of one secret under the native-first rule (see the module docstring)."""

    def __init__(self, main: Main | None, comp: Companion, where: str) -> None:
        self.main = main
        self.comp = comp
        self.where = where
        self.live = main.live if main else []
        latest = main.latest if main else None
        self.current = latest if latest is not None and main and main.is_live(latest) else None
        below = [v for v in self.live if self.current and comp.floor <= int(v) < int(self.current)]
        self.previous = below[-1] if below else None
        # staged ids already promoted to a KV version (the companion may lag after a crash)
        self.promoted: dict[str, str] = {
            s: v for s, v in comp.aliases.items() if s not in comp.staged and v in self.live
        }
        for v in self.live:
            origin = self.record(v).origin
            if origin and origin in comp.staged:
                self.promoted[origin] = v
        self.staged = sorted(
            (s for s in comp.staged if s not in self.promoted), key=lambda s: _int(s[1:])
        )
        labels: dict[str, str] = {}
        for label, target in comp.labels.items():
            target = self.promoted.get(target, target)
            if target in self.staged or target in self.live:
                labels[label] = target
        self.stages = Stages(self.current, self.previous, labels)
        self.labels = self.stages.labels

    def record(self, version: str) -> Record:
        """sekret's record of KV ``version``: from custom_metadata, else the mirror."""
        main = self.main
        where = f"{self.where} version {version}"
        if main is not None and main.managed:
            raw = main.custom.get(VKEY + version)
            return Record() if raw is None else Record.load(raw, where)
        mirrored = self.comp.records.get(version)
        if mirrored is None:
            return Record()
        rec = Record.load(mirrored, where)
        created = main.created_of(version) if main else None
        # a record of a version number reused after the metadata was deleted does not apply
        return rec if rec.created is None or rec.created == created else Record()

    def resolve(self, version: str | None) -> str | None:
        """A promoted staged id stands for the KV version it became."""
        return self.promoted.get(version, version) if version else version

    def holder(self, stage: str) -> str | None:
        return self.stages.holder(stage)

    def stages_of(self, version: str) -> frozenset[str]:
        return self.stages.of(version)

    def exists(self, version: str) -> bool:
        return version in self.staged or version in self.live

    @property
    def any(self) -> bool:
        return bool(self.live or self.staged)
