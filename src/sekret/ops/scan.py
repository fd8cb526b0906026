"""Propose manifest entries for secrets found in a backend prefix or a ``.env`` file.

``scan(source)`` reads each key's current value ONLY to guess its kind from
its shape, and returns ``Proposal`` rows (name, kind, env var, source key,
reason); ``to_toml`` prints them as ``[secrets.<name>]`` tables to review and
paste into ``sekret.toml``. Kinds, first match wins:

=================== ==========================================================
``db_credentials``  a JSON object with ``username`` (or ``user``) and ``password``
``jwt_signing_key`` a PEM block (``-----BEGIN ...``) or a JWK (JSON with ``kty``)
``api_key``         the name ends in ``api_key``/``api-key``/``apikey``
``encryption_key``  the value is base64 of exactly 32 bytes
``generic``         anything else
=================== ==========================================================

Values are never printed, returned or kept: a proposal carries names only.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from sekret._names import validate_name
from sekret.exceptions import InvalidSecretName, SekretError
from sekret.manifest import default_env_var

if TYPE_CHECKING:
    from sekret._values import SecretValue
    from sekret.manifest import Kind
    from sekret.ops.importing import Source

__all__ = ["Proposal", "guess_kind", "proposed_name", "scan", "to_toml"]

_API_KEY: Final = re.compile(r"(?:^|[_./-])api[_-]?key$", re.IGNORECASE)
_PEM: Final = re.compile(rb"-----BEGIN [A-Z0-9 ]+-----")
_B64: Final = re.compile(rb"[A-Za-z0-9+/_-]{42,44}={0,2}")


@dataclass(frozen=True, slots=True)
class Proposal:
    """One proposed manifest entry (no value)."""

    name: str
    kind: Kind
    env: str
    source: str
    reason: str


def _is_32_bytes(data: bytes) -> bool:
    text = data.strip()
    if not _B64.fullmatch(text):
        return False
    padded = text + b"=" * (-len(text) % 4)
    standard = padded.replace(b"-", b"+").replace(b"_", b"/")  # url-safe alphabet too
    try:
        return len(base64.b64decode(standard, validate=True)) == 32
    except (binascii.Error, ValueError):
        return False


def guess_kind(name: str, value: SecretValue | None) -> tuple[Kind, str]:
    """The kind a secret probably has, and why (from ``name`` and the value's shape)."""
    document = None
    if value is not None and value.kind == "json":
        try:
            document = value.json()
        except SekretError:
            document = None
    if isinstance(document, dict):
        keys = {str(k).lower() for k in document}
        if "password" in keys and keys & {"username", "user"}:
            return "db_credentials", "JSON with username and password"
        if "kty" in keys:
            return "jwt_signing_key", "a JWK (JSON with kty)"
    data = value.bytes() if value is not None else b""
    if _PEM.search(data[:200]):
        return "jwt_signing_key", "a PEM block"
    if _API_KEY.search(name):
        return "api_key", "the name ends in api_key"
    if _is_32_bytes(data):
        return "encryption_key", "base64 of 32 bytes"
    return "generic", "no rule matched"


def proposed_name(relative: str) -> str:
    """``COHERE_API_KEY`` -> ``cohere-api-key``; path segments are kept."""
    return "/".join(seg.lower().replace("_", "-") for seg in relative.split("/"))


def scan(source: Source, *, env_names: bool = False) -> list[Proposal]:
    """One proposal per key of ``source`` (``env_names``: the key is the variable name)."""
    out: list[Proposal] = []
    for key in source.names():
        name = proposed_name(source.relative(key))
        try:
            validate_name(name, what="secret name")
        except InvalidSecretName:
            continue  # reported by the caller as not proposed
        values = source.values(key)
        kind, reason = guess_kind(key, values[-1] if values else None)
        env = key if env_names else default_env_var(name)
        out.append(Proposal(name, kind, env, key, reason))
    return out


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_toml(proposals: list[Proposal], *, origin: str) -> str:
    """``[secrets.<name>]`` tables for ``proposals``, with the source key as a comment."""
    lines = [f"# proposed by `sekret manifest scan` from {origin}; review before use"]
    seen: set[str] = set()
    for p in proposals:
        lines.append("")
        if p.name in seen:
            lines.append(f"# skipped {p.source}: the name {p.name} is proposed twice")
            continue
        seen.add(p.name)
        lines.append(
            f"# from {p.source} ({p.reason}); import: --map {_quote(p.source + '=' + p.name)}"
        )
        lines.append(f"[secrets.{_quote(p.name) if '/' in p.name or '.' in p.name else p.name}]")
        lines.append(f"kind = {_quote(p.kind)}")
        lines.append(f"env = {_quote(p.env)}")
    return "\n".join(lines) + "\n"
