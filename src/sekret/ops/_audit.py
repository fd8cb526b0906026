"""One audit event for an operator action that is not a single backend call.

The writes themselves are audited by the client's audited backend; this adds
the event that says why they happened (``secret.import``, ``secret.incident``),
when the client has an audit log. Fields are names, versions and counts only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sekret._secrets import Secrets

__all__ = ["record"]


def record(
    secrets: Secrets, action: str, full: str, *, error: BaseException | None = None, **fields: Any
) -> bool:
    """Record ``action`` on ``full`` through ``secrets``' audit log; False when it has none."""
    if secrets.audit is None:
        return False
    from sekret.audit import AuditedBackend  # lazy: only clients with an audit log

    backend = secrets.backend
    if not isinstance(backend, AuditedBackend):
        return False
    backend.record(action, full, error=error, **fields)
    return True
