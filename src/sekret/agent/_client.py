"""How the agent builds its one ``Secrets`` client, and the audit wrapper that names callers.

``build_client`` opens the backend once (one login), wraps it in
``CallerAuditedBackend`` when an audit log is configured, and puts the cache
in front. ``CallerAuditedBackend`` is the ordinary audit wrapper plus the
calling process (``actor.caller``: pid, uid, gid) of the request the current
thread serves; background refreshes carry no caller (the agent acted itself).
It must never see a value (it only adds ids to the actor).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sekret._secrets import Secrets
from sekret.audit._backend import AuditedBackend
from sekret.backends import open_backend

if TYPE_CHECKING:
    from sekret.audit import AuditLog
    from sekret.cache import CachePolicy

__all__ = ["CallerAuditedBackend", "audit_of", "build_client", "close_client"]


class CallerAuditedBackend(AuditedBackend):
    """``AuditedBackend`` whose actor includes the agent's current caller."""

    @property
    def audit_log(self) -> AuditLog:
        return self._log

    def actor(self) -> dict[str, Any]:
        from sekret.agent import server  # the thread-local caller lives there

        server._mark_backend_access()
        actor = super().actor()
        caller = server.current_caller()
        actor["caller"] = caller.as_actor() if caller is not None else None
        return actor


def build_client(
    backend: str,
    *,
    app: str,
    environment: str,
    cache: CachePolicy | bool = True,
    audit: AuditLog | None = None,
    read_only: bool = False,
    **backend_options: Any,
) -> Secrets:
    """The agent's client: one backend, audited per caller, behind one cache."""
    raw = open_backend(backend, **backend_options)
    wrapped = raw
    if audit is not None:
        closed = audit.policy_for(environment) == "fail_closed"
        wrapped = CallerAuditedBackend(raw, audit, app=app, environment=environment, sync=closed)
    else:
        wrapped = _Touching(raw, app=app, environment=environment)
    if cache is False:
        cache = True  # the agent exists to share one cache
    return Secrets(wrapped, app=app, environment=environment, cache=cache, read_only=read_only)


class _Touching(AuditedBackend):
    """Without an audit log: mark backend access for the per-caller hit counts only."""

    def __init__(self, inner: Any, *, app: str, environment: str) -> None:
        # The wrapper's delegation without its log: _record below replaces recording.
        self.inner = inner
        self.app = app
        self.environment = environment
        self.capabilities = inner.capabilities
        self.max_value_bytes = inner.max_value_bytes

    def _record(self, *args: Any, **kwargs: Any) -> None:
        from sekret.agent import server

        server._mark_backend_access()

    def read_many(self, names: Any) -> Any:
        from sekret.agent import server

        server._mark_backend_access()
        return self.inner.read_many(names)

    def __repr__(self) -> str:
        return f"<backend {self.inner.describe()}>"


def audit_of(secrets: Secrets) -> AuditLog | None:
    """The audit log of a client built by ``build_client`` (None: not audited)."""
    backend: Any = secrets.backend
    for _ in range(8):  # through wrappers such as sekret.metrics' MeteredBackend
        if isinstance(backend, CallerAuditedBackend):
            return backend.audit_log
        backend = getattr(backend, "inner", None)
    return None


def close_client(secrets: Secrets) -> None:
    """Close the cache, the backend (one logout) and the audit log (flushed)."""
    secrets.close()
    secrets.backend.close()
    audit = audit_of(secrets)
    if audit is not None:
        audit.close()
