"""How the CLI shows things: aligned tables, JSON documents, times.

Only metadata passes through here (names, versions, stages, times). The one
place a value is written is ``write_value``, used by ``sekret get``; it
writes bytes as stored, untouched by terminal or encoding filters.

This module must never receive a value anywhere but ``write_value`` and
``secret_document``, and never imports click (the command modules do).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, BinaryIO, Final
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from sekret import CURRENT, PENDING, PREVIOUS, Secret, SecretInfo, VersionInfo

__all__ = [
    "format_stages",
    "format_time",
    "info_document",
    "redact_url",
    "secret_document",
    "table",
    "unshown",
    "to_json",
    "version_document",
    "versions_table",
    "write_value",
]

_STAGE_ORDER = {CURRENT: 0, PENDING: 1, PREVIOUS: 2}


def format_time(when: datetime | None) -> str:
    """``2026-11-28T16:13:03Z`` (UTC, seconds); ``""`` when unknown."""
    if when is None:
        return ""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def sorted_stages(stages: Iterable[str]) -> list[str]:
    """current, pending, previous first, then any other label alphabetically."""
    return sorted(stages, key=lambda s: (_STAGE_ORDER.get(s, len(_STAGE_ORDER)), s))


def format_stages(stages: Iterable[str]) -> str:
    return ",".join(sorted_stages(stages))


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A plain table: columns padded to their widest cell, two spaces apart."""
    all_rows = [list(headers), *(list(r) for r in rows)]
    widths = [max(len(r[i]) for r in all_rows) for i in range(len(headers))]
    lines = []
    for row in all_rows:
        cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def versions_table(versions: Iterable[VersionInfo]) -> str:
    return table(
        ("VERSION", "STAGES", "CREATED"),
        ((v.version, format_stages(v.stages), format_time(v.created)) for v in versions),
    )


def to_json(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False)


def version_document(info: VersionInfo) -> dict[str, Any]:
    return {
        "version": info.version,
        "stages": sorted_stages(info.stages),
        "created": _iso(info.created),
        "metadata": dict(info.metadata),
    }


def info_document(info: SecretInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "current_version": info.current_version,
        "created": _iso(info.created),
        "updated": _iso(info.updated),
        "deleted": info.deleted,
        "recoverable_until": _iso(info.recoverable_until),
        "metadata": dict(info.metadata),
    }


def secret_document(name: str, secret: Secret) -> dict[str, Any]:
    """``get --json``: the version's metadata and, on purpose, its value.

    Text is a JSON string, JSON a JSON value, bytes base64 (``"encoding"`` says which).
    """
    value = secret.value
    doc: dict[str, Any] = {"name": name, "full_name": secret.name}
    doc.update(version_document(secret.info))
    doc["kind"] = value.kind
    if value.kind == "bytes":
        doc["encoding"] = "base64"
        doc["value"] = base64.b64encode(value.bytes()).decode("ascii")
    else:
        doc["encoding"] = "json" if value.kind == "json" else "text"
        doc["value"] = value.reveal()
    return doc


def write_value(stream: BinaryIO, secret: Secret, *, newline: bool) -> None:
    """Write the stored bytes exactly; a newline after text/JSON when asked."""
    stream.write(secret.value.bytes())
    if newline and secret.value.kind != "bytes":
        stream.write(b"\n")
    stream.flush()


def unshown(pair: str, position: int) -> str:
    """How an error names a malformed argument without echoing it (it may be a value)."""
    return f"argument #{position} ({len(pair)} characters, not shown)"


def metadata_pairs(pairs: Iterable[str]) -> Mapping[str, str]:
    """``["k=v", ...]`` -> ``{"k": "v"}``; a malformed pair is named by position only."""
    out: dict[str, str] = {}
    for position, pair in enumerate(pairs, 1):
        key, sep, val = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE in {unshown(pair, position)}")
        out[key] = val
    return out


_SECRET_QUERY_KEYS: Final = frozenset({"token", "password", "secret", "passphrase", "master_key"})


def redact_url(url: str) -> str:
    """``url`` with any user:password and credential-like query values replaced by ``***``."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if "@" not in parts.netloc and not any(k.lower() in _SECRET_QUERY_KEYS for k, _ in pairs):
        return url
    netloc = parts.netloc
    if "@" in netloc:
        netloc = "***@" + netloc.rsplit("@", 1)[1]
    query = "&".join(
        f"{k}=***" if k.lower() in _SECRET_QUERY_KEYS else f"{k}={v}" if v else k for k, v in pairs
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
