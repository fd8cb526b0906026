"""Dynamic credentials from Vault/OpenBao's database secrets engine.

``issue`` reads ``<mount>/creds/<role>`` (a new database user per call, with a
lease), ``renew`` extends a lease through ``sys/leases/renew`` and ``revoke``
ends it through ``sys/leases/revoke``. Which engine role serves a secret is
declared per name (``lease_roles``, from the manifest's ``role``/``mount``);
without a declaration the role is the full name with ``/`` turned into ``-``
(``arrwdb/production/db-credentials`` -> ``arrwdb-production-db-credentials``)
on the ``database`` mount.

These calls go straight to the connection: they need no KV mount, so a
client whose policy only reads database credentials still works. This module
must never put the issued username or password into a repr, a log line or an
exception message; lease ids are identifiers and may be shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sekret._values import SecretValue
from sekret.backends.base import LeaseGrant
from sekret.backends.vault._connection import VaultConnection
from sekret.exceptions import ConfigurationError, SecretNotFound

__all__ = ["DEFAULT_LEASE_MOUNT", "LeaseRoles", "issue", "renew", "revoke"]

DEFAULT_LEASE_MOUNT = "database"
_ROLE = re.compile(r"[A-Za-z0-9._-]{1,128}\Z")
_MOUNT = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*\Z")


class LeaseRoles:
    """Secret name (full or short) -> ``(mount, role)`` of the engine that issues it."""

    __slots__ = ("_roles",)

    def __init__(self, roles: Mapping[str, str] | None = None) -> None:
        self._roles: dict[str, tuple[str, str]] = {}
        for name, spec in (roles or {}).items():
            self._roles[name] = self.parse(name, spec)

    @staticmethod
    def parse(name: str, spec: str) -> tuple[str, str]:
        """``role`` or ``mount/role`` -> ``(mount, role)``; ConfigurationError if malformed."""
        if not isinstance(spec, str):
            raise ConfigurationError(f"vault lease role of {name!r} must be a string")
        mount, _, role = spec.strip("/").rpartition("/")
        mount = mount or DEFAULT_LEASE_MOUNT
        if not _ROLE.match(role) or not _MOUNT.match(mount):
            raise ConfigurationError(
                f"vault lease role of {name!r} must look like 'role' or 'mount/role' "
                "([A-Za-z0-9._-] segments)"
            )
        return mount, role

    def of(self, name: str) -> tuple[str, str]:
        """The engine of full name ``name``: declared (full or short name), else derived."""
        found = self._roles.get(name) or self._roles.get(name.rsplit("/", 1)[-1])
        return found or (DEFAULT_LEASE_MOUNT, name.replace("/", "-"))


def issue(conn: VaultConnection, roles: LeaseRoles, name: str) -> LeaseGrant:
    """New credentials for ``name`` from its engine role."""
    mount, role = roles.of(name)
    try:
        reply = conn.call("GET", f"{mount}/creds/{role}")
    except (SecretNotFound, ConfigurationError) as exc:
        if isinstance(exc, ConfigurationError) and "unknown role" not in exc.message:
            raise
        raise SecretNotFound(
            f"no database role {role!r} on mount {mount!r} for {name!r}: declare it in the "
            'manifest (kind = "dynamic", role = ...) or create it in the engine',
            name=name,
            backend=conn.label,
        ) from exc
    doc: dict[str, Any] = reply or {}
    lease_id = doc.get("lease_id")
    data = doc.get("data")
    if not isinstance(lease_id, str) or not lease_id or not isinstance(data, dict):
        raise ConfigurationError(
            f"vault {mount}/creds/{role} returned no lease: is {mount!r} a dynamic secrets engine?",
            name=name,
            backend=conn.label,
        )
    return LeaseGrant(
        lease_id,
        SecretValue.of(data),
        ttl=float(doc.get("lease_duration") or 0),
        renewable=bool(doc.get("renewable")),
    )


def renew(conn: VaultConnection, lease_id: str, increment: float | None) -> float:
    """Extend ``lease_id``; the TTL the server granted (may be less than asked)."""
    body: dict[str, Any] = {"lease_id": lease_id}
    if increment is not None:
        body["increment"] = max(1, round(increment))
    reply = conn.call("PUT", "sys/leases/renew", body) or {}
    return float(reply.get("lease_duration") or 0)


def revoke(conn: VaultConnection, lease_id: str) -> None:
    """Revoke ``lease_id`` (the engine drops the database user). Idempotent."""
    conn.call("PUT", "sys/leases/revoke", {"lease_id": lease_id})
