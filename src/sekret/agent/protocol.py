"""The agent's wire protocol: length-prefixed JSON frames over a Unix socket.

One frame is a 4-byte big-endian length followed by that many bytes of
UTF-8 JSON (an object). Every request and every answer carries ``"v"``
(``VERSION``); a peer that speaks another version gets an error frame with
code ``"protocol"`` and is disconnected. Requests::

    {"v": 1, "op": "read", "name": "app/env/db", "version": null, "stage": null}
    {"v": 1, "op": "read_many", "names": ["app/env/a", "app/env/b"]}
    {"v": 1, "op": "hello"}                    -> {"ok": true, "root": "app/env", ...}

Answers are ``{"v": 1, "ok": true, ...}`` or ``{"v": 1, "ok": false,
"error": {"code": ..., "message": ..., "name": ..., "version": ...}}``;
``code`` is ``SekretError.code``, so ``error_from_wire`` raises the very class
the backend raised in the agent. Values travel base64-encoded with their kind.

Why frames and not HTTP over the socket: see docs/agent.md (measured).

This module must never log, and never put a value in an error message.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
from datetime import datetime
from typing import Any, Final

from sekret import exceptions
from sekret._values import Page, Secret, SecretInfo, SecretValue, VersionInfo
from sekret.exceptions import BackendUnavailable, SekretError

__all__ = [
    "MAX_FRAME",
    "VERSION",
    "protocol_error",
    "error_from_wire",
    "error_to_wire",
    "info_from_wire",
    "info_to_wire",
    "page_from_wire",
    "page_to_wire",
    "recv_frame",
    "secret_from_wire",
    "secret_to_wire",
    "send_frame",
]

VERSION: Final = 1
MAX_FRAME: Final = 16 * 1024 * 1024
"""The largest frame either side accepts (a batch of 100 values of 64 KiB fits)."""

_HEADER: Final = struct.Struct(">I")


def protocol_error(message: str) -> BackendUnavailable:
    """The peer sent something that is not a frame of this protocol (or closed mid-frame)."""
    return BackendUnavailable(f"agent protocol: {message}")


# -- frames -------------------------------------------------------------------
def send_frame(sock: socket.socket, message: dict[str, Any]) -> None:
    """Write one frame (header and body in one ``sendall``)."""
    body = json.dumps(message, separators=(",", ":")).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise protocol_error(f"agent frame of {len(body)} bytes exceeds {MAX_FRAME}")
    sock.sendall(_HEADER.pack(len(body)) + body)


def _recv_exact(sock: socket.socket, size: int) -> bytes | None:
    chunks = []
    left = size
    while left:
        chunk = sock.recv(min(left, 1 << 20))
        if not chunk:
            if left == size:
                return None
            raise protocol_error("agent connection closed in the middle of a frame")
        chunks.append(chunk)
        left -= len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def recv_frame(sock: socket.socket) -> dict[str, Any] | None:
    """Read one frame; None when the peer closed cleanly between frames."""
    header = _recv_exact(sock, _HEADER.size)
    if header is None:
        return None
    (size,) = _HEADER.unpack(header)
    if size > MAX_FRAME:
        raise protocol_error(f"agent frame of {size} bytes exceeds {MAX_FRAME}")
    body = _recv_exact(sock, size) if size else b""
    if body is None:
        raise protocol_error("agent connection closed in the middle of a frame")
    try:
        message = json.loads(body)
    except ValueError as exc:
        raise protocol_error("agent frame is not JSON") from exc
    if not isinstance(message, dict):
        raise protocol_error("agent frame is not a JSON object")
    if message.get("v") != VERSION:
        raise protocol_error(
            f"agent protocol version {message.get('v')!r} is not the supported {VERSION}"
        )
    return message


# -- errors -------------------------------------------------------------------
def _all_classes() -> dict[str, type[SekretError]]:
    found: dict[str, type[SekretError]] = {}
    stack: list[type[SekretError]] = [SekretError]
    while stack:
        cls = stack.pop()
        if cls.__module__ == exceptions.__name__:
            found.setdefault(cls.code, cls)
        stack.extend(cls.__subclasses__())
    return found


_BY_CODE: dict[str, type[SekretError]] = {}


def error_to_wire(exc: SekretError) -> dict[str, Any]:
    """The error part of an answer: code, message (value-free by rule) and ids."""
    wire: dict[str, Any] = {
        "code": exc.code,
        "message": exc.message,
        "name": exc.name,
        "version": exc.version,
        "backend": exc.backend,
    }
    until = getattr(exc, "recoverable_until", None)
    if isinstance(until, datetime):
        wire["recoverable_until"] = until.isoformat()
    return wire


def error_from_wire(wire: Any) -> SekretError:
    """The exception an error frame describes, of the class its code names."""
    if not _BY_CODE:
        _BY_CODE.update(_all_classes())
    if not isinstance(wire, dict):
        return protocol_error("agent sent a malformed error")
    cls = _BY_CODE.get(str(wire.get("code")), SekretError)
    message = str(wire.get("message") or cls.__name__)
    name, backend = wire.get("name"), wire.get("backend")
    if issubclass(cls, exceptions.SecretDeleted):
        until = wire.get("recoverable_until")
        return cls(
            message,
            name=name,
            backend=backend,
            recoverable_until=datetime.fromisoformat(until) if until else None,
        )
    return cls(message, name=name, version=wire.get("version"), backend=backend)


# -- records ------------------------------------------------------------------
def _time(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def secret_to_wire(secret: Secret) -> dict[str, Any]:
    return {
        "name": secret.name,
        "version": secret.version,
        "kind": secret.value.kind,
        "value": base64.b64encode(secret.value.bytes()).decode("ascii"),
        "stages": sorted(secret.stages),
        "created": _time(secret.created),
        "metadata": dict(secret.metadata),
    }


def secret_from_wire(wire: dict[str, Any]) -> Secret:
    try:
        value = SecretValue(base64.b64decode(wire["value"]), wire["kind"])
        return Secret(
            wire["name"],
            wire["version"],
            value,
            frozenset(wire.get("stages") or ()),
            _parse_time(wire.get("created")),
            wire.get("metadata") or {},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise protocol_error("agent sent a malformed secret") from exc


def info_to_wire(info: VersionInfo) -> dict[str, Any]:
    return {
        "name": info.name,
        "version": info.version,
        "stages": sorted(info.stages),
        "created": _time(info.created),
        "metadata": dict(info.metadata),
    }


def info_from_wire(wire: dict[str, Any]) -> VersionInfo:
    return VersionInfo(
        wire["name"],
        wire["version"],
        frozenset(wire.get("stages") or ()),
        _parse_time(wire.get("created")),
        wire.get("metadata") or {},
    )


def page_to_wire(page: Page) -> dict[str, Any]:
    items = [
        {
            "name": i.name,
            "created": _time(i.created),
            "updated": _time(i.updated),
            "current_version": i.current_version,
            "deleted": i.deleted,
            "recoverable_until": _time(i.recoverable_until),
            "metadata": dict(i.metadata),
        }
        for i in page.items
    ]
    return {"items": items, "next_token": page.next_token}


def page_from_wire(wire: dict[str, Any]) -> Page:
    items = [
        SecretInfo(
            i["name"],
            _parse_time(i.get("created")),
            _parse_time(i.get("updated")),
            i.get("current_version"),
            bool(i.get("deleted")),
            _parse_time(i.get("recoverable_until")),
            i.get("metadata") or {},
        )
        for i in wire.get("items") or ()
    ]
    return Page.of(items, wire.get("next_token"))
