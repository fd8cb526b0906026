"""Audit events: plain dicts with a fixed schema, built only from names and ids.

An event is a ``dict`` (``AuditEvent``) so that processors and sinks stay
plain callables and JSON is one ``json.dumps`` away::

    {"time": "2026-01-02T03:04:05.678901Z", "action": "secret.read",
     "outcome": "success", "secret": "arrwdb/production/cohere-api-key",
     "version": "3", "stage": null, "backend": "vault+https://vault:8200",
     "actor": {"app": "arrwdb", "environment": "production", "identity": "approle:web",
               "host": "web-1", "pid": 4242, "user": "svc"},
     "duration_ms": 1.234, "error": null}

This module must never receive a value, a token or an exception message:
the builders take names, version ids, stage labels and exception *classes*.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Final, TypeAlias

from sekret.exceptions import SekretError

__all__ = [
    "ACTIONS",
    "AuditEvent",
    "error_fields",
    "make_event",
    "utc_iso",
]

AuditEvent: TypeAlias = dict[str, Any]
"""One audit record; see the module docstring for the schema."""

SUCCESS: Final = "success"
FAILURE: Final = "failure"

ACTIONS: Final = (
    "secret.read",
    "secret.read.batch",
    "secret.read.cached",
    "secret.read.access",
    "secret.versions",
    "secret.list",
    "secret.write",
    "secret.stage.move",
    "secret.delete",
    "secret.restore",
    "secret.destroy",
    "audit.checkpoint",
    "lease.issue",
    "lease.reissue",
    "lease.renew",
    "lease.revoke",
)
"""The actions sekret itself emits (rotation adds ``secret.rotate.*``)."""


def utc_iso(epoch: float) -> str:
    """``1700000000.5`` -> ``2023-11-14T22:13:20.500000Z``."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def error_fields(exc: BaseException) -> dict[str, str]:
    """The error part of an event: a stable code and the class, never the message."""
    code = exc.code if isinstance(exc, SekretError) else "internal"
    return {"code": code, "class": type(exc).__name__}


def make_event(
    action: str,
    *,
    time: float,
    secret: str | None,
    backend: str,
    actor: dict[str, Any],
    error: BaseException | None = None,
    duration_ms: float | None = None,
    version: str | None = None,
    stage: str | None = None,
    **extra: Any,
) -> AuditEvent:
    """Build one event. ``extra`` holds action-specific ids and counts, never values."""
    event: AuditEvent = {
        "time": utc_iso(time),
        "action": action,
        "outcome": FAILURE if error is not None else SUCCESS,
        "secret": secret,
        "version": version,
        "stage": stage,
        "backend": backend,
        "actor": dict(actor),
        "duration_ms": duration_ms,
        "error": error_fields(error) if error is not None else None,
    }
    event.update(extra)
    return event
