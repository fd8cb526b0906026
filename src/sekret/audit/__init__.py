"""The audit trail: every secret access recorded, tamper-evident, in sinks a SIEM can read.

``AuditLog`` wraps a backend (``wrap``) so that each operation emits one event
(``sekret.audit.events`` has the schema), counts cache hits as aggregates
(``attach_cache``), runs the events through processors and hands them to
sinks. ``verify`` checks a hash-chained log written by ``FileSink(key=...)``.

This package must never put a secret value or a credential in an event.
Heavier pieces (file sink, webhook, chain) load on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from sekret.audit._log import AuditLog, Policy, default_policy
from sekret.audit.events import AuditEvent
from sekret.audit.sinks import CaptureSink, Sink, open_sink

if TYPE_CHECKING:
    from sekret.audit import chain, processors, sinks
    from sekret.audit._backend import AuditedBackend
    from sekret.audit.chain import BadRecord, VerifyResult, load_key, verify, write_key_file
    from sekret.audit.jsonfile import FileSink
    from sekret.audit.webhook import WebhookSink

__all__ = [
    "AuditEvent",
    "AuditLog",
    "AuditedBackend",
    "BadRecord",
    "CaptureSink",
    "FileSink",
    "Policy",
    "Sink",
    "VerifyResult",
    "WebhookSink",
    "chain",
    "default_policy",
    "load_key",
    "open_sink",
    "processors",
    "sinks",
    "verify",
    "write_key_file",
]

_LAZY = {
    "AuditedBackend": "sekret.audit._backend",
    "BadRecord": "sekret.audit.chain",
    "VerifyResult": "sekret.audit.chain",
    "load_key": "sekret.audit.chain",
    "verify": "sekret.audit.chain",
    "write_key_file": "sekret.audit.chain",
    "FileSink": "sekret.audit.jsonfile",
    "WebhookSink": "sekret.audit.webhook",
}


def __getattr__(name: str) -> Any:
    if name in ("chain", "processors", "sinks"):
        return importlib.import_module(f"sekret.audit.{name}")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'sekret.audit' has no attribute {name!r}")
