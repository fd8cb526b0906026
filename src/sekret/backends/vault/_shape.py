"""How a sekret value maps to a native KV v2 data map, and back.

* A JSON object is the data map itself: ``{"username": ..., "password": ...}``,
  so ``bao kv get -field=password`` and ``{{ .Data.data.password }}`` work.
* Text is one field, ``value`` by default (the backend's ``field`` option):
  ``{"value": "..."}``.
* Bytes, and JSON that is not an object, are stored as text in that field,
  with a format marker (``b64``, ``jsonv``) kept in metadata, never in data.
  A JSON object that would look like text (one string under the field) gets
  the marker ``jsonm``.
* Reading without a marker is the native rule: exactly one string under the
  field is text; any other map is a JSON object of its fields.

``Record`` is what sekret knows about one version besides its data: the
format marker, the idempotency token, the per-version metadata and, for a
promoted pending version, the pending id it came from. It is kept as
compact JSON in the secret's ``custom_metadata`` (``sekret.v.<version>``) and
mirrored in the companion entry.

Malformed input (another tool's odd data, a damaged marker) raises
``IntegrityError``; nothing here may raise anything but a SekretError, or
put a value into a message.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sekret._values import SecretValue
from sekret.exceptions import IntegrityError

__all__ = ["MAX_MARKER", "Record", "decode", "encode"]

MAX_MARKER = 512  # Vault's limit on one custom_metadata value
_FORMATS = frozenset({"b64", "jsonv", "jsonm"})


@dataclass(frozen=True, slots=True)
class Record:
    """sekret's facts about one version (never the value)."""

    fmt: str | None = None
    token: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    origin: str | None = None  # the pending id this version was promoted from
    created: str | None = None  # the version's created_time, to match a mirrored record

    @property
    def empty(self) -> bool:
        return not (self.fmt or self.token or self.metadata or self.origin)

    def dump(self, *, short: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.fmt:
            out["f"] = self.fmt
        if self.origin:
            out["s"] = self.origin
        if not short:
            if self.token:
                out["t"] = self.token
            if self.metadata:
                out["m"] = dict(self.metadata)
            if self.created:
                out["c"] = self.created
        return out

    def marker(self) -> str:
        """The compact text for ``custom_metadata`` (at most 512 bytes)."""
        text = json.dumps(self.dump(), separators=(",", ":"))
        if len(text.encode()) > MAX_MARKER:
            text = json.dumps(self.dump(short=True), separators=(",", ":"))
        return text

    @classmethod
    def load(cls, raw: object, where: str) -> Record:
        """A record from a marker text or a mirrored dict; IntegrityError if malformed."""
        doc = raw
        if isinstance(raw, str):
            try:
                doc = json.loads(raw)
            except (ValueError, RecursionError):
                raise IntegrityError(f"{where}: sekret's version record is not JSON") from None
        if not isinstance(doc, dict):
            raise IntegrityError(f"{where}: sekret's version record is not an object")
        fmt, token, meta = doc.get("f"), doc.get("t"), doc.get("m") or {}
        origin, created = doc.get("s"), doc.get("c")
        if fmt is not None and (not isinstance(fmt, str) or fmt not in _FORMATS):
            raise IntegrityError(f"{where}: unknown sekret format marker")
        if not isinstance(meta, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in meta.items()
        ):
            raise IntegrityError(f"{where}: sekret's version metadata is malformed")
        for item in (token, origin, created):
            if item is not None and not isinstance(item, str):
                raise IntegrityError(f"{where}: sekret's version record is malformed")
        return cls(fmt, token, meta, origin, created)


def encode(value: SecretValue, fld: str) -> tuple[dict[str, Any], str | None]:
    """(native data map, format marker or None) for ``value``."""
    if value.kind == "bytes":
        return {fld: base64.b64encode(value.bytes()).decode("ascii")}, "b64"
    if value.kind == "text":
        return {fld: value.text()}, None
    doc = value.json()
    if isinstance(doc, dict):
        looks_like_text = len(doc) == 1 and isinstance(doc.get(fld), str)
        return dict(doc), ("jsonm" if looks_like_text else None)
    return {fld: value.bytes().decode("utf-8")}, "jsonv"


def decode(data: object, fmt: str | None, fld: str, where: str) -> SecretValue:
    """The value of a version's data map, by its marker or the native rule."""
    if not isinstance(data, dict):
        raise IntegrityError(f"{where}: the stored data is not a key/value map")
    try:
        if fmt in ("b64", "jsonv"):
            text = data.get(fld)
            if not isinstance(text, str) or len(data) != 1:
                raise IntegrityError(f"{where}: the data does not match sekret's format marker")
            if fmt == "b64":
                raw = base64.b64decode(text.encode("ascii"), validate=True)
                return SecretValue(raw, "bytes", max_bytes=max(len(raw), 1))
            json.loads(text)  # must be JSON
            raw = text.encode("utf-8")
            return SecretValue(raw, "json", max_bytes=max(len(raw), 1))
        if fmt is None and len(data) == 1 and isinstance(data.get(fld), str):
            raw = data[fld].encode("utf-8")
            return SecretValue(raw, "text", max_bytes=max(len(raw), 1))
        raw = json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        return SecretValue(raw, "json", max_bytes=max(len(raw), 1))
    except IntegrityError:
        raise
    except (ValueError, UnicodeError, binascii.Error, RecursionError, TypeError):
        raise IntegrityError(f"{where}: the stored data cannot be decoded") from None
