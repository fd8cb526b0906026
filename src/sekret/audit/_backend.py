"""The auditing backend wrapper: one event per backend operation, success or failure.

``AuditedBackend`` delegates every method, capability, size limit, ``describe``
and ``identity`` to the backend it wraps, times the call on a monotonic clock
and hands one event per operation (per name for ``read_many``) to its
``AuditLog``. Events are built only from names, version ids, stage labels and
error classes: this wrapper must never look at a value, a token or an
exception message.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sekret._values import CURRENT, Page, Secret, SecretValue, VersionInfo
from sekret.audit.events import AuditEvent, make_event
from sekret.backends.base import (
    DEFAULT_RECOVERY_DAYS,
    Backend,
    LeaseGrant,
    PutResults,
    WriteRequest,
)
from sekret.exceptions import SekretError

if TYPE_CHECKING:
    from sekret.audit._log import AuditLog

__all__ = ["AuditedBackend"]


class AuditedBackend(Backend):
    """Wraps ``inner`` so that each operation is recorded in ``log``."""

    def __init__(
        self, inner: Backend, log: AuditLog, *, app: str, environment: str, sync: bool
    ) -> None:
        self.inner = inner
        self.app = app
        self.environment = environment
        self.capabilities = inner.capabilities
        self.max_value_bytes = inner.max_value_bytes
        self._log = log
        self._sync = sync  # fail closed: recorded before the call returns

    # -- delegated description ---------------------------------------------------
    def describe(self) -> str:
        return self.inner.describe()

    @property
    def identity(self) -> str | None:
        return self.inner.identity

    def actor(self) -> dict[str, Any]:
        """The actor fields this wrapper knows (the processors add host, pid, user)."""
        try:
            identity = self.inner.identity
        except Exception:  # noqa: BLE001  # a failing identity lookup must not fail the access
            identity = None
        return {"app": self.app, "environment": self.environment, "identity": identity}

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self.inner, attr)

    # -- recording -----------------------------------------------------------------
    def _event(
        self,
        action: str,
        started: float,
        secret: str | None,
        error: BaseException | None = None,
        **fields: Any,
    ) -> AuditEvent:
        return make_event(
            action,
            time=self._log.wall_clock(),
            secret=secret,
            backend=self.inner.describe(),
            actor=self.actor(),
            error=error,
            duration_ms=round((time.monotonic() - started) * 1000, 3),
            **fields,
        )

    def _record(
        self,
        action: str,
        started: float,
        secret: str | None,
        error: BaseException | None = None,
        **fields: Any,
    ) -> None:
        self._log.record([self._event(action, started, secret, error, **fields)], sync=self._sync)

    def record(
        self, action: str, secret: str | None, *, error: BaseException | None = None, **fields: Any
    ) -> None:
        """Record an event that is not one backend call (a rotation step), as this client."""
        self._record(action, time.monotonic(), secret, error, **fields)

    # -- reads -----------------------------------------------------------------------
    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        started = time.monotonic()
        try:
            secret = self.inner.read(name, version=version, stage=stage)
        except BaseException as exc:
            self._record("secret.read", started, name, exc, version=version, stage=stage)
            raise
        self._record("secret.read", started, name, version=secret.version, stage=stage)
        return secret

    def read_many(self, names: Sequence[str]) -> dict[str, Secret | SekretError]:
        started = time.monotonic()
        names = list(names)
        try:
            got = self.inner.read_many(names)
        except BaseException as exc:
            events = [
                self._event("secret.read.batch", started, n, exc, batch=len(names)) for n in names
            ]
            self._log.record(events, sync=self._sync)
            raise
        events = []
        for name in names:
            result = got.get(name)
            if isinstance(result, Secret):
                events.append(
                    self._event(
                        "secret.read.batch",
                        started,
                        name,
                        version=result.version,
                        batch=len(names),
                    )
                )
            else:
                error = result if result is not None else KeyError("missing from batch")
                events.append(
                    self._event("secret.read.batch", started, name, error, batch=len(names))
                )
        self._log.record(events, sync=self._sync)
        return got

    def versions(self, name: str) -> list[VersionInfo]:
        started = time.monotonic()
        try:
            found = self.inner.versions(name)
        except BaseException as exc:
            self._record("secret.versions", started, name, exc)
            raise
        self._record("secret.versions", started, name, count=len(found))
        return found

    def list(
        self,
        prefix: str = "",
        *,
        page_size: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> Page:
        started = time.monotonic()
        fields: dict[str, Any] = {"prefix": prefix, "include_deleted": include_deleted}
        try:
            page = self.inner.list(
                prefix, page_size=page_size, page_token=page_token, include_deleted=include_deleted
            )
        except BaseException as exc:
            self._record("secret.list", started, None, exc, **fields)
            raise
        self._record("secret.list", started, None, count=len(page.items), **fields)
        return page

    # -- writes ------------------------------------------------------------------------
    def write(
        self,
        name: str,
        value: SecretValue,
        *,
        stages: Collection[str] = (CURRENT,),
        expected_version: str | None = None,
        token: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> VersionInfo:
        started = time.monotonic()
        fields: dict[str, Any] = {
            "stages": sorted(stages),
            "expected_version": expected_version,
            "idempotent": token is not None,
        }
        try:
            info = self.inner.write(
                name,
                value,
                stages=stages,
                expected_version=expected_version,
                token=token,
                metadata=metadata,
            )
        except BaseException as exc:
            self._record("secret.write", started, name, exc, **fields)
            raise
        self._record("secret.write", started, name, version=info.version, **fields)
        return info

    def put_many(self, writes: Sequence[WriteRequest]) -> PutResults:
        """The inner backend's batch (few transactions), each write recorded on its own."""
        started = time.monotonic()
        results = self.inner.put_many(writes)
        events = []
        for w, result in zip(writes, results, strict=True):
            fields: dict[str, Any] = {
                "stages": sorted(w.stages),
                "expected_version": w.expected_version,
                "idempotent": w.token is not None,
                "batch": True,
            }
            if isinstance(result, SekretError):
                events.append(self._event("secret.write", started, w.name, result, **fields))
            else:
                fields["version"] = result.version
                events.append(self._event("secret.write", started, w.name, None, **fields))
        self._log.record(events, sync=self._sync)
        return results

    def move_stage(
        self,
        name: str,
        stage: str,
        version: str | None,
        *,
        expected_version: str | None = None,
    ) -> None:
        started = time.monotonic()
        fields: dict[str, Any] = {
            "version": version,
            "stage": stage,
            "expected_version": expected_version,
        }
        try:
            self.inner.move_stage(name, stage, version, expected_version=expected_version)
        except BaseException as exc:
            self._record("secret.stage.move", started, name, exc, **fields)
            raise
        self._record("secret.stage.move", started, name, **fields)

    def delete(self, name: str, *, recovery_days: int = DEFAULT_RECOVERY_DAYS) -> datetime:
        started = time.monotonic()
        try:
            until = self.inner.delete(name, recovery_days=recovery_days)
        except BaseException as exc:
            self._record("secret.delete", started, name, exc, recovery_days=recovery_days)
            raise
        self._record(
            "secret.delete",
            started,
            name,
            recovery_days=recovery_days,
            recoverable_until=until.isoformat(),
        )
        return until

    def restore(self, name: str) -> None:
        started = time.monotonic()
        try:
            self.inner.restore(name)
        except BaseException as exc:
            self._record("secret.restore", started, name, exc)
            raise
        self._record("secret.restore", started, name)

    def destroy(self, name: str) -> None:
        started = time.monotonic()
        try:
            self.inner.destroy(name)
        except BaseException as exc:
            self._record("secret.destroy", started, name, exc)
            raise
        self._record("secret.destroy", started, name)

    # -- leases: ids and TTLs, never the credentials ------------------------------------
    def issue_lease(self, name: str, *, replaces: str | None = None) -> LeaseGrant:
        action = "lease.issue" if replaces is None else "lease.reissue"
        fields: dict[str, Any] = {} if replaces is None else {"replaces": replaces}
        started = time.monotonic()
        try:
            grant = self.inner.issue_lease(name, replaces=replaces)
        except BaseException as exc:
            self._record(action, started, name, exc, **fields)
            raise
        self._record(
            action,
            started,
            name,
            lease_id=grant.lease_id,
            ttl=grant.ttl,
            renewable=grant.renewable,
            **fields,
        )
        return grant

    def renew_lease(self, lease_id: str, *, increment: float | None = None) -> float:
        started = time.monotonic()
        try:
            ttl = self.inner.renew_lease(lease_id, increment=increment)
        except BaseException as exc:
            self._record("lease.renew", started, None, exc, lease_id=lease_id)
            raise
        self._record("lease.renew", started, None, lease_id=lease_id, ttl=ttl)
        return ttl

    def revoke_lease(self, lease_id: str) -> None:
        started = time.monotonic()
        try:
            self.inner.revoke_lease(lease_id)
        except BaseException as exc:
            self._record("lease.revoke", started, None, exc, lease_id=lease_id)
            raise
        self._record("lease.revoke", started, None, lease_id=lease_id)

    # -- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        self.inner.close()

    def __repr__(self) -> str:
        return f"<AuditedBackend {self.inner.describe()}>"
