"""Env-file templates for ``sekret run --env-file``: literals and references.

Format (a strict subset of the usual ``.env``)::

    # a comment
    export LOG_LEVEL=info                         a literal, passed through
    DATABASE_PASSWORD=sekret://db-credentials#password
    COHERE_API_KEY="sekret://cohere-api-key"      quotes are allowed
    GREETING='hello # not a comment'

A value that is exactly a ``sekret://`` reference (after unquoting) is read
through the client (cache, audit, namespace, environment separation); any
other value is a literal. No interpolation and no multi-line values: a line
the format does not cover is an error naming ``file:line``, never guessed.

This module must never put a value (resolved or literal) into an error.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sekret._refs import is_reference, parse_reference
from sekret.exceptions import ConfigurationError, InvalidReference

TYPE_CHECKING = False
if TYPE_CHECKING:
    from sekret._secrets import Secrets
    from sekret._values import SecretValue

__all__ = ["EnvEntry", "EnvFileValues", "parse_env_file", "read_env_file", "resolve_env_file"]

_NAME_START = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_"
_NAME_CHARS = _NAME_START + "0123456789"


@dataclass(frozen=True, slots=True)
class EnvEntry:
    """One ``NAME=value`` line; ``reference`` is True when the value is a reference."""

    variable: str
    value: str = field(repr=False)
    reference: bool
    where: str  # file:line, for messages


@dataclass
class EnvFileValues:
    """What an env file gives the child: variables, the secret values (to mask), versions."""

    variables: dict[str, str] = field(default_factory=dict, repr=False)
    values: list[SecretValue] = field(default_factory=list, repr=False)
    versions: dict[str, str] = field(default_factory=dict)  # "VAR <- ref" -> version
    literals: set[str] = field(default_factory=set)  # variables given as literal text


def _unquote(raw: str, where: str) -> str:
    if raw[:1] in ("'", '"'):
        quote = raw[0]
        end = raw.find(quote, 1)
        if end == -1:
            raise ConfigurationError(f"{where}: unterminated {quote} quote")
        tail = raw[end + 1 :].strip()
        if tail and not tail.startswith("#"):
            raise ConfigurationError(f"{where}: text after the closing quote")
        return raw[1:end]
    cut = raw.find(" #")
    return (raw[:cut] if cut != -1 else raw).strip()


def parse_env_file(text: str, *, source: str = "<env file>") -> list[EnvEntry]:
    """Parse env-file text; raise ConfigurationError naming ``source:line`` on a bad line."""
    entries: list[EnvEntry] = []
    for number, line in enumerate(text.splitlines(), 1):
        where = f"{source}:{number}"
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("export "):
            stripped = stripped[7:].lstrip()
        name, sep, raw = stripped.partition("=")
        name = name.rstrip()
        if not sep or not name or name[0] not in _NAME_START or name.strip(_NAME_CHARS):
            raise ConfigurationError(f"{where}: expected NAME=value (NAME of [A-Za-z0-9_])")
        value = _unquote(raw.strip(), where)
        ref = is_reference(value)
        if ref:
            try:
                parse_reference(value)
            except InvalidReference as exc:
                raise ConfigurationError(f"{where}: {name}: {exc.message}") from None
        entries.append(EnvEntry(name, value, ref, where))
    return entries


def read_env_file(path: Path) -> list[EnvEntry]:
    """Read and parse one env file (UTF-8, at most 1 MiB)."""
    from sekret._template import read_text

    return parse_env_file(read_text(path, what="env file"), source=str(path))


def resolve_env_file(
    secrets: Secrets, entries: list[EnvEntry], *, fresh: bool = False
) -> EnvFileValues:
    """Resolve each reference through ``secrets``; literals pass through (later lines win).

    ``fresh`` re-reads each referenced secret from the backend first (for ``--watch``).
    """
    from sekret._refs import field_text
    from sekret._values import SecretValue

    out = EnvFileValues()
    for entry in entries:
        if not entry.reference:
            out.variables[entry.variable] = entry.value
            out.literals.add(entry.variable)
            continue
        try:
            full, version, stage, selected = secrets._target(entry.value, None, None, None)
        except InvalidReference as exc:
            raise InvalidReference(f"{entry.where}: {entry.variable}: {exc.message}") from None
        if fresh and version is None and stage is None:
            secrets.refresh(entry.value)
        secret = secrets._read(full, version, stage)
        if selected is None:
            from sekret.backends.env import env_text

            text = env_text(secret.value)
            out.values.append(secret.value)
        else:
            text = field_text(secret, selected, backend=secrets.backend.describe())
            if text:
                out.values.append(SecretValue.of(text))
        out.variables[entry.variable] = text
        out.versions[f"{entry.variable} <- {entry.value}"] = secret.version
    return out
