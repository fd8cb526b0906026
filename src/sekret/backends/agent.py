"""``agent:///run/sekret/agent.sock``: read through the host's ``sekret agent``.

The agent (``sekret.agent``) holds the login and a cache shared by every
worker on the host; this backend sends it frames (``sekret.agent.protocol``)
over its Unix socket. The worker's own cache stays in front of it, so hits
never leave the process, and stale-if-error covers an agent restart.

* One connection per thread (and per process: a forked child opens its own),
  opened on first use and kept; a connection the
  agent closed (restart) is reopened once and the read retried. Writes are
  never retried once sent.
* No socket, or nobody listening: ``BackendUnavailable`` at once (no wait).
* Errors come back with sekret's error codes and are raised as the same
  classes the agent's backend raised.
* ``read_many`` is one round trip.

Options: ``timeout`` (seconds per request, default 5; ``?timeout=`` in the
URL), ``writes`` (declare write capabilities; the agent decides anyway).
It must never log a value; error messages come from the agent, value-free.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar
from urllib.parse import parse_qsl, unquote, urlsplit

from sekret._names import validate_name
from sekret._values import CURRENT, Page, Secret, SecretValue, VersionInfo
from sekret.agent import protocol as wire
from sekret.backends.base import DEFAULT_RECOVERY_DAYS, Backend, Capability, LeaseGrant
from sekret.exceptions import (
    BackendUnavailable,
    ConfigurationError,
    SekretError,
    UnsupportedOperation,
)

__all__ = ["AgentBackend"]

_READS = Capability.READ | Capability.VERSIONS | Capability.STAGES | Capability.LIST
_READS |= Capability.BATCH_READ | Capability.LEASES  # the agent answers when its backend can


class AgentBackend(Backend):
    """A client of ``sekret agent`` on a Unix socket."""

    scheme: ClassVar[str] = "agent"

    def __init__(self, path: str, *, timeout: float = 5.0, writes: bool = False) -> None:
        if not path:
            raise ConfigurationError(
                "agent:// needs the socket path: agent:///run/sekret/agent.sock"
            )
        self.path = path
        self.timeout = float(timeout)
        self.capabilities = (
            Capability.full() | Capability.BATCH_READ | Capability.LEASES if writes else _READS
        )
        self._local = threading.local()
        self._lock = threading.Lock()
        self._socks: set[socket.socket] = set()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> AgentBackend:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        if "timeout" in query:
            options.setdefault("timeout", float(query["timeout"]))
        if "writes" in query:
            options.setdefault("writes", query["writes"].lower() in ("1", "true", "yes"))
        return cls(unquote(parts.netloc + parts.path), **options)

    def describe(self) -> str:
        return f"agent://{self.path}"

    # -- transport -------------------------------------------------------------
    def _connect(self) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.path)
        except OSError as exc:
            sock.close()
            raise BackendUnavailable(
                f"the sekret agent at {self.path} is not reachable ({exc.strerror or exc})",
                backend=self.describe(),
            ) from exc
        with self._lock:
            self._socks.add(sock)
        self._local.sock = sock
        self._local.pid = os.getpid()
        return sock

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self._socks.discard(sock)
        sock.close()
        self._local.sock = None

    def _call(self, request: dict[str, Any], *, retry: bool = True) -> dict[str, Any]:
        request["v"] = wire.VERSION
        sock: socket.socket | None = getattr(self._local, "sock", None)
        if sock is not None and self._local.pid != os.getpid():
            # A forked child (gunicorn --preload) inherited the parent's connection:
            # leave it to the parent and open our own, or the two would mix frames.
            sock = self._local.sock = None
        reused = sock is not None
        if sock is None:
            sock = self._connect()
        try:
            wire.send_frame(sock, request)
            answer = wire.recv_frame(sock)
        except (OSError, SekretError) as exc:
            self._drop(sock)
            if reused and retry:  # the agent restarted under a kept connection
                return self._call(request, retry=False)
            raise BackendUnavailable(
                f"the sekret agent at {self.path} did not answer ({type(exc).__name__})",
                backend=self.describe(),
            ) from exc
        if answer is None:
            self._drop(sock)
            if reused and retry:
                return self._call(request, retry=False)
            raise BackendUnavailable(
                f"the sekret agent at {self.path} closed the connection", backend=self.describe()
            )
        if not answer.get("ok"):
            raise wire.error_from_wire(answer.get("error"))
        return answer

    # -- leases: the agent's one shared lease per name (issue 19) ----------------------
    def issue_lease(self, name: str, *, replaces: str | None = None) -> LeaseGrant:
        """The agent's current lease of ``name``: shared by every process on the host.

        Not renewable from here: the agent renews it, and the process's ``Lease``
        asks again at half the time left, picking up the agent's next credentials
        before the old ones expire. Revoking is the agent's job (when it stops).
        """
        validate_name(name)
        answer = self._call({"op": "lease", "name": name})["lease"]
        secret = wire.secret_from_wire(answer["secret"])
        return LeaseGrant(
            str(answer["lease_id"]), secret.value, ttl=float(answer["ttl"]), renewable=False
        )

    def renew_lease(self, lease_id: str, *, increment: float | None = None) -> float:
        raise UnsupportedOperation(
            "the sekret agent renews shared leases itself", backend=self.describe()
        )

    def revoke_lease(self, lease_id: str) -> None:
        """Nothing: the lease is shared by the host's processes; the agent revokes it."""

    # -- reads --------------------------------------------------------------------
    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        validate_name(name)
        answer = self._call({"op": "read", "name": name, "version": version, "stage": stage})
        return wire.secret_from_wire(answer["secret"])

    def read_many(self, names: Sequence[str]) -> dict[str, Secret | SekretError]:
        for name in names:
            validate_name(name)
        answer = self._call({"op": "read_many", "names": list(names)})
        out: dict[str, Secret | SekretError] = {}
        for name, result in (answer.get("results") or {}).items():
            if "secret" in result:
                out[name] = wire.secret_from_wire(result["secret"])
            else:
                out[name] = wire.error_from_wire(result.get("error"))
        return out

    def versions(self, name: str) -> list[VersionInfo]:
        validate_name(name)
        answer = self._call({"op": "versions", "name": name})
        return [wire.info_from_wire(i) for i in answer["versions"]]

    def list(
        self,
        prefix: str = "",
        *,
        page_size: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> Page:
        answer = self._call(
            {
                "op": "list",
                "prefix": prefix,
                "page_size": page_size,
                "page_token": page_token,
                "include_deleted": include_deleted,
            }
        )
        return wire.page_from_wire(answer["page"])

    # -- writes (only an agent started with --allow-writes performs them) --------------
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
        validate_name(name)
        body = wire.secret_to_wire(Secret(name, "", value))
        answer = self._call(
            {
                "op": "write",
                "name": name,
                "secret": body,
                "stages": sorted(stages),
                "expected_version": expected_version,
                "token": token,
                "metadata": dict(metadata or {}),
            },
            retry=False,
        )
        return wire.info_from_wire(answer["info"])

    def move_stage(
        self,
        name: str,
        stage: str,
        version: str | None,
        *,
        expected_version: str | None = None,
    ) -> None:
        validate_name(name)
        self._call(
            {
                "op": "move_stage",
                "name": name,
                "stage": stage,
                "version": version,
                "expected_version": expected_version,
            },
            retry=False,
        )

    def delete(self, name: str, *, recovery_days: int = DEFAULT_RECOVERY_DAYS) -> datetime:
        validate_name(name)
        answer = self._call(
            {"op": "delete", "name": name, "recovery_days": recovery_days}, retry=False
        )
        return datetime.fromisoformat(answer["until"])

    def restore(self, name: str) -> None:
        validate_name(name)
        self._call({"op": "restore", "name": name}, retry=False)

    def destroy(self, name: str) -> None:
        validate_name(name)
        self._call({"op": "destroy", "name": name}, retry=False)

    # -- lifecycle -------------------------------------------------------------------
    def close(self) -> None:
        with self._lock:
            socks, self._socks = list(self._socks), set()
        for sock in socks:
            with contextlib.suppress(OSError):
                sock.close()

    def __repr__(self) -> str:
        return f"<AgentBackend {self.path}>"
