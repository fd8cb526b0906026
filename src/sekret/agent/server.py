"""The agent process: one login, one cache, one environment, served over a Unix socket.

``AgentServer`` holds a ``Secrets`` client (built by the ``build`` callable it
is given, again on SIGHUP) and answers the frames of ``sekret.agent.protocol``
on a Unix socket:

* The socket is created 0600 (``group``: 0660 and that group), in a folder
  no other account can write to.
* Each connection's peer is identified with ``SO_PEERCRED``; only this uid,
  root, ``allowed_uids`` and members of ``allowed_gids`` are served. Anyone
  else gets one ``AccessDenied`` frame and the connection is closed.
* Only names under the environment's root (``app/environment/``) are served,
  and the root never changes for the life of the process (a reload that
  points elsewhere is refused). Writes are refused unless ``allow_writes``.
* Audit: every backend operation is recorded once, by the agent, with the
  calling process (``actor.caller``: pid, uid, gid from SO_PEERCRED); reads the
  cache answered are counted per caller and flushed as ``secret.read.cached``
  aggregates every ``flush_interval`` seconds and at shutdown.
* ``stop`` (SIGTERM) stops accepting, lets requests in flight finish (up to
  ``drain_timeout``), flushes hit counts and the audit log, removes the socket.
  ``reload`` (SIGHUP) builds a new client and swaps it in.

It must never log or send a value except in the answer to an allowed read.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import stat
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from sekret._files import check_folder
from sekret._names import validate_name
from sekret._secrets import Secrets
from sekret._values import Secret
from sekret.agent import protocol as wire
from sekret.agent._client import audit_of, close_client
from sekret.agent.metrics import AgentMetrics
from sekret.exceptions import (
    AccessDenied,
    ConfigurationError,
    InvalidValue,
    SekretError,
)
from sekret.metrics import Metrics, instrument, instrument_audit

__all__ = ["AgentConfig", "AgentServer", "Caller", "current_caller"]

log = logging.getLogger("sekret.agent")

_PEERCRED: Final = struct.Struct("3i")  # struct ucred: pid, uid, gid
_WRITE_OPS: Final = frozenset({"write", "move_stage", "delete", "restore", "destroy"})


@dataclass(frozen=True, slots=True)
class Caller:
    """The process on the other end of a connection, from SO_PEERCRED."""

    pid: int
    uid: int
    gid: int

    def as_actor(self) -> dict[str, int]:
        return {"pid": self.pid, "uid": self.uid, "gid": self.gid}


_local = threading.local()


def current_caller() -> Caller | None:
    """The caller whose request this thread is serving (None: the agent's own work)."""
    return getattr(_local, "caller", None)


def _mark_backend_access() -> None:
    _local.touched = True


@dataclass(slots=True)
class AgentConfig:
    """How the agent listens and whom it serves."""

    socket_path: Path
    group: int | None = None
    allowed_uids: frozenset[int] = frozenset()
    allowed_gids: frozenset[int] = frozenset()
    allow_writes: bool = False
    drain_timeout: float = 10.0
    flush_interval: float = 60.0
    extra: dict[str, Any] = field(default_factory=dict)


def peer_credentials(conn: socket.socket) -> Caller:
    """pid, uid and gid of the process connected to ``conn`` (Linux SO_PEERCRED)."""
    raw = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
    pid, uid, gid = _PEERCRED.unpack(raw)
    return Caller(pid, uid, gid)


class AgentServer:
    """Serves one ``Secrets`` client's environment over a Unix socket (see module doc)."""

    def __init__(
        self,
        config: AgentConfig,
        build: Callable[[], Secrets],
        *,
        metrics: AgentMetrics | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self._build = build
        self.metrics = metrics or AgentMetrics()
        self._clock = clock
        self.client_metrics = Metrics()
        """The agent's own client, instrumented: backend calls, cache, audit (``sekret_*``)."""
        self.secrets = self._build_instrumented()
        self.root = self.secrets.namespace.root
        self._prefix = self.root + "/"
        self._listener: socket.socket | None = None
        self._stopping = threading.Event()
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._active = 0
        self._idle = threading.Condition(self._lock)
        self._conns: set[socket.socket] = set()
        self._hits: dict[tuple[Caller, str], list[float]] = {}
        self._flusher: threading.Thread | None = None
        self.metrics.gauges = self._gauges

    def _build_instrumented(self) -> Secrets:
        secrets = self._build()
        instrument(secrets, self.client_metrics)
        audit = audit_of(secrets)
        if audit is not None:
            instrument_audit(audit, self.client_metrics, owner=secrets)
        return secrets

    def render_metrics(self) -> str:
        """The Prometheus text of the agent (``sekret_agent_*``) and its client (``sekret_*``)."""
        return self.metrics.render() + self.client_metrics.render_prometheus()

    def _gauges(self) -> dict[str, float]:
        cache = self.secrets.cache
        if cache is None:
            return {}
        stats = cache.stats()
        return {"cache_entries": stats.entries, "flights_in_progress": stats.in_flight}

    # -- socket ------------------------------------------------------------------
    def bind(self) -> None:
        """Create the listening socket (0600, or 0660 for ``group``); refuse a shared folder."""
        path = self.config.socket_path
        check_folder(path.parent, what="agent socket")
        # A missing folder (e.g. /run/sekret) is created 0755: others may reach the
        # socket file (its own mode and SO_PEERCRED decide) but never replace it.
        path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        self._clear_stale(path)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old = os.umask(0o177)  # the socket file is born 0600: no window for others
        try:
            sock.bind(str(path))
        finally:
            os.umask(old)
        if self.config.group is not None:
            os.chown(path, -1, self.config.group)
            os.chmod(path, 0o660)
        sock.listen(128)
        sock.settimeout(0.2)
        self._listener = sock

    @staticmethod
    def _clear_stale(path: Path) -> None:
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(st.st_mode):
            raise ConfigurationError(f"agent socket path {path} exists and is not a socket")
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.connect(str(path))
        except OSError:
            path.unlink()  # a socket nobody listens on: left by a dead agent
            return
        finally:
            probe.close()
        raise ConfigurationError(f"another agent is already listening on {path}")

    # -- lifecycle -----------------------------------------------------------------
    def serve_forever(self) -> None:
        """Accept connections until ``stop``; each connection gets a thread."""
        if self._listener is None:
            self.bind()
        assert self._listener is not None
        self._flusher = threading.Thread(target=self._flush_loop, name="sekret-agent-flush")
        self._flusher.daemon = True
        self._flusher.start()
        listener = self._listener
        try:
            while not self._stopping.is_set():
                try:
                    conn, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    if self._stopping.is_set():
                        break
                    raise
                thread = threading.Thread(target=self._serve_conn, args=(conn,), daemon=True)
                thread.start()
        finally:
            self._shutdown()

    def stop(self) -> None:
        """Ask ``serve_forever`` to drain and return (safe from a signal handler)."""
        self._stopping.set()

    def wait_stopped(self, timeout: float | None = None) -> bool:
        return self._stopped.wait(timeout)

    def _shutdown(self) -> None:
        if self._listener is not None:
            self._listener.close()
            with contextlib.suppress(FileNotFoundError):
                self.config.socket_path.unlink()
        deadline = time.monotonic() + self.config.drain_timeout
        with self._idle:
            while self._active and time.monotonic() < deadline:
                self._idle.wait(0.05)
            conns = list(self._conns)
        for conn in conns:  # idle keep-alive connections: wake their readers
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        self.flush_hits()
        close_client(self.secrets)
        self._stopped.set()
        log.info("sekret agent for %s stopped", self.root)

    def reload(self) -> bool:
        """Build a new client (SIGHUP) and swap it in; refuse one for another environment."""
        try:
            fresh = self._build_instrumented()
        except SekretError as exc:
            log.error("agent reload failed, keeping the running configuration: %s", exc)
            return False
        if fresh.namespace.root != self.root:
            log.error(
                "agent reload refused: the new configuration serves %s, this agent %s",
                fresh.namespace.root,
                self.root,
            )
            self.client_metrics.drop_sources(fresh)
            close_client(fresh)
            return False
        self.flush_hits()
        old, self.secrets = self.secrets, fresh
        self.metrics.count("reloads")
        threading.Thread(target=self._retire, args=(old,), daemon=True).start()
        log.info("sekret agent for %s reloaded its configuration", self.root)
        return True

    def _retire(self, old: Secrets) -> None:
        deadline = time.monotonic() + self.config.drain_timeout
        with self._idle:
            while self._active and time.monotonic() < deadline:
                self._idle.wait(0.05)
        self.client_metrics.drop_sources(old)
        close_client(old)

    # -- connections -------------------------------------------------------------
    def allowed(self, caller: Caller) -> bool:
        me = os.geteuid()
        return (
            caller.uid in (me, 0)
            or caller.uid in self.config.allowed_uids
            or caller.gid in self.config.allowed_gids
        )

    def _serve_conn(self, conn: socket.socket) -> None:
        with conn:
            try:
                caller = peer_credentials(conn)
            except OSError:
                return
            if not self.allowed(caller):
                self.metrics.count("refused")
                log.warning(
                    "agent refused a connection from pid %d uid %d gid %d",
                    caller.pid,
                    caller.uid,
                    caller.gid,
                )
                refusal = AccessDenied(
                    f"the sekret agent for {self.root} does not serve uid {caller.uid}"
                )
                with contextlib.suppress(OSError):
                    wire.send_frame(conn, self._error(refusal))
                    # Half-close and drain what the client already sent, so the close
                    # does not reset the connection before it read the refusal.
                    conn.shutdown(socket.SHUT_WR)
                    conn.settimeout(1.0)
                    for _ in range(16):  # bounded: a refused peer cannot hold the thread
                        if not conn.recv(65536):
                            break
                return
            with self._lock:
                self._conns.add(conn)
            _local.caller = caller
            try:
                self._loop(conn)
            except (OSError, SekretError):
                pass  # the client went away or spoke garbage: drop the connection
            finally:
                _local.caller = None
                with self._lock:
                    self._conns.discard(conn)

    def _loop(self, conn: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                request = wire.recv_frame(conn)
            except SekretError as exc:
                with contextlib.suppress(OSError):
                    wire.send_frame(conn, self._error(exc))
                return
            if request is None:
                return
            with self._lock:
                self._active += 1
            try:
                answer = self.handle(request)
            finally:
                with self._idle:
                    self._active -= 1
                    self._idle.notify_all()
            wire.send_frame(conn, answer)

    # -- requests -----------------------------------------------------------------
    @staticmethod
    def _error(exc: SekretError) -> dict[str, Any]:
        return {"v": wire.VERSION, "ok": False, "error": wire.error_to_wire(exc)}

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        """One answer frame for one request frame (errors become error frames)."""
        op = request.get("op")
        started = time.perf_counter()
        try:
            result = self._dispatch(str(op), request)
        except SekretError as exc:
            self.metrics.request(str(op), exc.code, time.perf_counter() - started)
            return self._error(exc)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            error = InvalidValue(f"malformed agent request for op {op!r}: {type(exc).__name__}")
            self.metrics.request(str(op), error.code, time.perf_counter() - started)
            return self._error(error)
        except Exception as exc:  # noqa: BLE001  # a bug must not kill the connection's thread
            # Only the class is logged: an unexpected exception's text may carry anything.
            log.error("agent request %r failed with %s", str(op)[:40], type(exc).__name__)
            failure = SekretError(f"internal error in the sekret agent ({type(exc).__name__})")
            self.metrics.request(str(op), failure.code, time.perf_counter() - started)
            return self._error(failure)
        self.metrics.request(str(op), "ok", time.perf_counter() - started)
        return {"v": wire.VERSION, "ok": True, **result}

    def _check_name(self, raw: Any) -> str:
        name = validate_name(raw)
        if not name.startswith(self._prefix):
            raise AccessDenied(
                f"the sekret agent serves {self.root} only; {str(name)[:120]!r} is outside it"
            )
        return name

    def _dispatch(self, op: str, req: dict[str, Any]) -> dict[str, Any]:
        if op == "hello":
            return {"root": self.root, "writes": self.config.allow_writes, "pid": os.getpid()}
        if op in _WRITE_OPS and not self.config.allow_writes:
            raise AccessDenied(
                f"the sekret agent for {self.root} is read-only; {op} needs an agent started"
                " with --allow-writes"
            )
        secrets = self.secrets
        backend = secrets.backend
        if op in _WRITE_OPS and secrets.read_only:
            raise AccessDenied(
                f"the configuration of {self.root} is read-only (read_only = true);"
                f" the agent does not {op} even with --allow-writes"
            )
        if op == "read":
            name = self._check_name(req["name"])
            return {"secret": wire.secret_to_wire(self._read(secrets, name, req))}
        if op == "read_many":
            names = [self._check_name(n) for n in req["names"]]
            got = self._read_many(secrets, names)
            return {
                "results": {
                    n: (
                        {"secret": wire.secret_to_wire(r)}
                        if isinstance(r, Secret)
                        else {"error": wire.error_to_wire(r)}
                    )
                    for n, r in got.items()
                }
            }
        if op == "lease":  # one shared lease per name and host, renewed here (issue 19)
            name = self._check_name(req["name"])
            held = secrets.lease(name[len(self._prefix) :])
            current = Secret(name, held.lease_id, held.credentials)
            return {
                "lease": {
                    "lease_id": held.lease_id,
                    "ttl": held.remaining if held.ttl > 0 else 0,
                    "secret": wire.secret_to_wire(current),
                }
            }
        if op == "versions":
            infos = backend.versions(self._check_name(req["name"]))
            return {"versions": [wire.info_to_wire(i) for i in infos]}
        if op == "list":
            prefix = req.get("prefix") or self._prefix
            if not prefix.startswith(self._prefix):
                self._check_name(prefix)
            page = backend.list(
                prefix,
                page_size=int(req.get("page_size") or 100),
                page_token=req.get("page_token"),
                include_deleted=bool(req.get("include_deleted")),
            )
            return {"page": wire.page_to_wire(page)}
        return self._write_op(op, req)

    def _write_op(self, op: str, req: dict[str, Any]) -> dict[str, Any]:
        secrets = self.secrets
        backend = secrets.backend
        name = self._check_name(req["name"])
        try:
            if op == "write":
                value = wire.secret_from_wire({**req["secret"], "name": name, "version": ""}).value
                info = backend.write(
                    name,
                    value,
                    stages=req.get("stages") or ("current",),
                    expected_version=req.get("expected_version"),
                    token=req.get("token"),
                    metadata=req.get("metadata"),
                )
                return {"info": wire.info_to_wire(info)}
            if op == "move_stage":
                backend.move_stage(
                    name,
                    req["stage"],
                    req.get("version"),
                    expected_version=req.get("expected_version"),
                )
                return {}
            if op == "delete":
                until = backend.delete(name, recovery_days=int(req.get("recovery_days") or 30))
                return {"until": until.isoformat()}
            if op == "restore":
                backend.restore(name)
                return {}
            if op == "destroy":
                backend.destroy(name)
                return {}
        finally:
            if secrets.cache is not None:
                secrets.cache.invalidate(name)
        raise InvalidValue(f"unknown agent op {op[:40]!r}")

    def _read(self, secrets: Secrets, name: str, req: dict[str, Any]) -> Secret:
        version, stage = req.get("version"), req.get("stage")
        cache = secrets.cache
        if cache is None:
            return secrets.backend.read(name, version=version, stage=stage)
        _local.touched = False
        secret = cache.get(name, version=version, stage=stage)
        self._count_hit(name, backend_touched=_local.touched)
        return secret

    def _read_many(self, secrets: Secrets, names: list[str]) -> dict[str, Any]:
        cache = secrets.cache
        if cache is None:
            return dict(secrets.backend.read_many(names))
        _local.touched = False
        got = cache.prefetch(names)
        if not _local.touched:
            for name in names:
                self._count_hit(name, backend_touched=False)
        return dict(got)

    def _count_hit(self, name: str, *, backend_touched: bool) -> None:
        caller = current_caller()
        if backend_touched or caller is None:
            self.metrics.count("cache_misses")
            return
        self.metrics.count("cache_hits")
        now = self._clock()
        key = (caller, name)
        with self._lock:
            slot = self._hits.get(key)
            if slot is None:
                self._hits[key] = [1, now, now]
            else:
                slot[0] += 1
                slot[2] = now

    # -- audit aggregates -------------------------------------------------------------
    def _flush_loop(self) -> None:
        while not self._stopping.wait(self.config.flush_interval):
            self.flush_hits()

    def flush_hits(self) -> int:
        """Record the per-caller hit counts as ``secret.read.cached`` events; returns how many."""
        with self._lock:
            hits, self._hits = self._hits, {}
        audit = audit_of(self.secrets)
        if not hits or audit is None:
            return 0
        from sekret.audit.events import make_event

        wall = audit.wall_clock()
        now = self._clock()
        events = []
        for (caller, name), (count, first, last) in hits.items():
            events.append(
                make_event(
                    "secret.read.cached",
                    time=wall,
                    secret=name,
                    backend=self.secrets.backend.describe(),
                    actor={**self._actor(), "caller": caller.as_actor()},
                    count=int(count),
                    first_seconds_ago=round(now - first, 3),
                    last_seconds_ago=round(now - last, 3),
                )
            )
        audit.record(events, sync=False)
        return len(events)

    def _actor(self) -> dict[str, Any]:
        actor = getattr(self.secrets.backend, "actor", None)
        return dict(actor()) if callable(actor) else {}

    def __repr__(self) -> str:
        return f"<AgentServer {self.root} on {self.config.socket_path}>"
