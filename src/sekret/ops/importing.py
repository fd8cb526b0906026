"""Adopt secrets that other tools stored under other names.

A *source* lists keys and yields each key's versions, oldest first, current
last: ``DotenvSource`` (a ``.env`` file: one version per variable),
``BackendSource`` (a backend URL and a prefix: AWS, Vault/OpenBao, Azure,
Google, local; every live version) and ``EnvironmentSource`` (another sekret
environment of the same app). ``Importer`` turns a source, a mapping and a
target client into a plan (``plan()``: changes nothing) and carries it out
(``apply()``).

Rules (docs/operations.md):

* With a mapping (``source key -> target name``) only the mapped keys are
  imported, and a mapped key the source lacks is an error before any write.
  A key may be given in full (``legacy/prod/COHERE_KEY``) or relative to the
  source prefix. Without a mapping, every key is imported under its relative
  name (``.env``: the manifest secret whose ``env`` is the variable, else the
  variable in lower case with ``-`` for ``_``).
* A target that exists is never changed unless ``overwrite`` is given; then
  the source's current value is written as a NEW version on top (the old
  versions stay, nothing is destroyed). A target whose current value already
  equals the source's is ``unchanged`` (reruns are no-ops).
* New targets get every version the source has, oldest first, so that the
  source's current becomes current and its predecessor ``previous``.
* Each write goes through the target client: it is audited by the target
  environment's sinks like any ``put``.
* A write that fails stops the import with its error. Targets finished
  before it stay (and read as ``unchanged`` on a rerun); a target left with
  only some of its versions reads as ``exists`` (``--overwrite`` completes
  its current value).

Values stay in ``SecretValue`` objects in memory; plans, errors and reprs
carry keys, names and counts only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal, Protocol

from sekret._values import CURRENT, PENDING, Secret, SecretValue, VersionInfo
from sekret.exceptions import InvalidValue, SecretNotFound, UnsupportedOperation
from sekret.ops._audit import record

if TYPE_CHECKING:
    from sekret._secrets import Secrets
    from sekret.backends.base import Backend

__all__ = [
    "BackendSource",
    "DotenvSource",
    "EnvironmentSource",
    "ImportAction",
    "Importer",
    "Source",
    "parse_mapping",
    "read_mapping_file",
]

Action = Literal["create", "overwrite", "exists", "unchanged"]
WRITING: Final = frozenset({"create", "overwrite"})


class Source(Protocol):
    """Where secrets come from: keys, and each key's values oldest first (current last)."""

    prefix: str

    def describe(self) -> str: ...

    def names(self) -> list[str]: ...

    def relative(self, key: str) -> str:
        """``key`` without the source prefix (the default target name)."""
        ...

    def values(self, key: str) -> list[SecretValue]: ...

    def close(self) -> None: ...


def _strip(prefix: str, key: str) -> str:
    return key[len(prefix) :] if prefix and key.startswith(prefix) else key


class DotenvSource:
    """``NAME=value`` lines of a ``.env`` file; references (``sekret://``) are skipped."""

    def __init__(self, path: str | Path, *, env_names: Mapping[str, str] | None = None) -> None:
        from sekret._envfile import read_env_file

        self.path = Path(path)
        self.prefix = ""
        self._entries = {e.variable: e for e in read_env_file(self.path) if not e.reference}
        self._env_names = dict(env_names or {})  # variable -> manifest secret name

    def describe(self) -> str:
        return f"env file {self.path}"

    def names(self) -> list[str]:
        return list(self._entries)

    def relative(self, key: str) -> str:
        return self._env_names.get(key) or key.lower().replace("_", "-")

    def values(self, key: str) -> list[SecretValue]:
        return [SecretValue.of(self._entries[key].value)]

    def close(self) -> None:
        self._entries.clear()


def _live_values(
    read: Callable[..., Secret], versions: Callable[[str], list[VersionInfo]], name: str
) -> list[SecretValue]:
    """Every live version of ``name`` oldest first with current last; pending is left out."""
    try:
        infos = versions(name)
    except UnsupportedOperation:  # env://, file://: the current value is all there is
        infos = None
    if not infos:
        return [read(name).value]
    current = next((i for i in infos if CURRENT in i.stages), None)
    older = [
        i for i in infos if i is not current and PENDING not in i.stages and CURRENT not in i.stages
    ]
    ordered = [*older, *([current] if current is not None else [])]
    return [read(name, version=i.version).value for i in ordered]


class BackendSource:
    """The secrets under ``prefix`` of a backend (opened by URL, or given)."""

    def __init__(self, backend: str | Backend, prefix: str = "", **options: Any) -> None:
        from sekret._names import validate_name
        from sekret.backends import open_backend

        if prefix:
            validate_name(prefix.rstrip("/"), what="import prefix")
            prefix = prefix.rstrip("/") + "/"
        self.prefix = prefix
        self._owns = isinstance(backend, str)
        self.backend = open_backend(backend, **options) if isinstance(backend, str) else backend

    def describe(self) -> str:
        return f"{self.backend.describe()} {self.prefix or '(all)'}"

    def names(self) -> list[str]:
        out: list[str] = []
        token: str | None = None
        while True:
            page = self.backend.list(self.prefix, page_token=token)
            out += [info.name for info in page.items if not info.deleted]
            if page.next_token is None:
                return out
            token = page.next_token

    def relative(self, key: str) -> str:
        return _strip(self.prefix, key)

    def values(self, key: str) -> list[SecretValue]:
        return _live_values(self.backend.read, self.backend.versions, key)

    def close(self) -> None:
        if self._owns:
            self.backend.close()


class EnvironmentSource:
    """Another sekret environment (a client); keys are its short names."""

    def __init__(self, client: Secrets) -> None:
        self.client = client
        self.prefix = ""

    def describe(self) -> str:
        return f"environment {self.client.namespace.root}"

    def names(self) -> list[str]:
        return [info.name for info in self.client.list()]

    def relative(self, key: str) -> str:
        return key

    def values(self, key: str) -> list[SecretValue]:
        # The backend itself: an operator copies an expired value too (strict or not).
        full = self.client.full_name(key)
        return _live_values(self.client.backend.read, self.client.backend.versions, full)

    def close(self) -> None:
        """The client belongs to the caller."""


# -- mappings -----------------------------------------------------------------


def parse_mapping(pairs: Sequence[str], *, where: str = "--map") -> dict[str, str]:
    """``SOURCE=TARGET`` pairs -> dict; a malformed or repeated pair is an InvalidValue."""
    out: dict[str, str] = {}
    for number, pair in enumerate(pairs, 1):
        source, sep, target = pair.partition("=")
        source, target = source.strip(), target.strip()
        at = f"{where}:{number}" if where != "--map" else where
        if not sep or not source or not target:
            raise InvalidValue(f"{at}: expected SOURCE=TARGET, not {pair[:60]!r}")
        if source in out:
            raise InvalidValue(f"{at}: source {source!r} is mapped twice")
        out[source] = target
    return out


def read_mapping_file(path: str | Path) -> dict[str, str]:
    """A mapping file: one ``SOURCE=TARGET`` per line; blank lines and ``#`` comments skipped."""
    from sekret._template import read_text

    lines = read_text(Path(path), what="mapping file").splitlines()
    out: dict[str, str] = {}
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        for source, target in parse_mapping([text], where=f"{path}:{number}").items():
            if source in out:
                raise InvalidValue(f"{path}:{number}: source {source!r} is mapped twice")
            out[source] = target
    return out


# -- the plan -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportAction:
    """One source key's fate: ``create``, ``overwrite``, ``exists`` or ``unchanged``."""

    source: str
    target: str
    action: Action
    versions: int

    @property
    def writes(self) -> bool:
        return self.action in WRITING

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "target": self.target,
            "action": self.action,
            "versions": self.versions,
        }


@dataclass
class Importer:
    """Plan and apply the import of ``source`` into the ``target`` client."""

    source: Source
    target: Secrets
    mapping: Mapping[str, str] | None = None
    overwrite: bool = False
    text_field: str | None = None
    _loaded: dict[str, list[SecretValue]] = field(default_factory=dict, repr=False, init=False)
    _plan: list[ImportAction] | None = field(default=None, repr=False, init=False)

    def _selected(self) -> list[tuple[str, str]]:
        keys = self.source.names()
        if not self.mapping:
            return [(k, self.source.relative(k)) for k in keys]
        by_relative = {self.source.relative(k): k for k in keys}
        known = set(keys)
        chosen: list[tuple[str, str]] = []
        for wanted, target in self.mapping.items():
            key = wanted if wanted in known else by_relative.get(wanted)
            if key is None and self.source.prefix and wanted.startswith(self.source.prefix):
                key = by_relative.get(_strip(self.source.prefix, wanted))
            if key is None:
                raise SecretNotFound(
                    f"the mapping names {wanted!r}, which {self.source.describe()} does not hold"
                )
            chosen.append((key, target))
        return chosen

    def _values(self, key: str) -> list[SecretValue]:
        if key not in self._loaded:
            values = self.source.values(key)
            if self.text_field is not None:
                values = [self._pick(key, v) for v in values]
            self._loaded[key] = values
        return self._loaded[key]

    def _pick(self, key: str, value: SecretValue) -> SecretValue:
        document = value.json() if value.kind == "json" else None
        item = document.get(self.text_field) if isinstance(document, dict) else None
        if not isinstance(item, str):
            raise InvalidValue(f"{key}: the source value has no text field {self.text_field!r}")
        return SecretValue.of(item)

    def plan(self) -> list[ImportAction]:
        """What ``apply`` would do; reads the source and the target, writes nothing."""
        if self._plan is not None:
            return self._plan
        selected = self._selected()
        seen: dict[str, str] = {}
        for key, target in selected:
            self.target.full_name(target)  # InvalidSecretName before anything is read
            other = seen.setdefault(target, key)
            if other != key:
                raise InvalidValue(f"{other!r} and {key!r} both map to target {target!r}")
        actions: list[ImportAction] = []
        for key, target in selected:
            values = self._values(key)
            try:
                held = self.target.get_secret(target).value
            except SecretNotFound:
                actions.append(ImportAction(key, target, "create", len(values)))
                continue
            if held == values[-1]:
                actions.append(ImportAction(key, target, "unchanged", 0))
            elif self.overwrite:
                actions.append(ImportAction(key, target, "overwrite", 1))
            else:
                actions.append(ImportAction(key, target, "exists", 0))
        self._plan = actions
        return actions

    def apply(self) -> list[ImportAction]:
        """Carry out the plan (computing it first); returns it. Writes only create/overwrite."""
        actions = self.plan()
        for action in actions:
            if not action.writes:
                continue
            values = self._values(action.source)
            for value in values if action.action == "create" else values[-1:]:
                self.target.put(action.target, value)
            record(
                self.target,
                "secret.import",
                self.target.full_name(action.target),
                source=self.source.describe(),
                source_key=action.source,
                versions=action.versions,
                overwrite=action.action == "overwrite",
            )
        return actions

    def close(self) -> None:
        self._loaded.clear()
        self.source.close()
