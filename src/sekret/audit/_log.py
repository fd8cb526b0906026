"""``AuditLog``: the pipeline from the facade to the sinks, and its failure policy.

Events enter through ``record`` (from the backend wrapper), through the cache's
hit counts (``attach_cache``: aggregate ``secret.read.cached`` events, flushed
every ``flush_interval`` seconds and at close/exit) and, in strict mode,
through ``read_hook`` (one ``secret.read.access`` event per read). They pass
through the processors, then to every sink.

Failure policy (``policy``):

* ``"fail_closed"`` (default in production-like environments): each backend
  operation's event is recorded synchronously, before the operation returns;
  if no sink records it the operation raises ``AuditError``.
* ``"fail_open"`` (default elsewhere): events are queued and written by a
  daemon thread, off the hot path; a sink failure is logged and counted in
  ``failures``, the access goes on.

This module must never see a value: it moves events built from names only.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from sekret._names import PRODUCTION_NAMES, is_production
from sekret.audit._backend import AuditedBackend
from sekret.audit.events import AuditEvent, make_event, utc_iso
from sekret.audit.processors import AddHost, Processor
from sekret.audit.sinks import Sink
from sekret.backends.base import Backend
from sekret.exceptions import AuditError, ConfigurationError, SekretError

__all__ = ["PRODUCTION_ENVIRONMENTS", "AuditLog", "Policy", "default_policy"]

log = logging.getLogger("sekret.audit")

Policy = Literal["fail_closed", "fail_open"]
PRODUCTION_ENVIRONMENTS: Final = PRODUCTION_NAMES  # kept for importers; see is_production
BATCH: Final = 1000
ReadHook = Callable[[str, str | None, str | None], None]


def default_policy(environment: str) -> Policy:
    """``fail_closed`` for production-like environments, ``fail_open`` otherwise."""
    return "fail_closed" if is_production(environment) else "fail_open"


@dataclass(slots=True)
class _Attached:
    drain: Callable[[], Any]
    clock: Callable[[], float]
    backend: str
    actor: dict[str, Any] = field(default_factory=dict)


_LIVE: weakref.WeakSet[AuditLog] = weakref.WeakSet()


@atexit.register
def _close_all() -> None:
    for audit_log in list(_LIVE):
        try:
            audit_log.close()
        except Exception:  # at exit, report and go on closing the others
            log.exception("closing the audit log at exit failed")


class AuditLog:
    """Records every backend operation the facade makes.

    >>> from sekret.audit import CaptureSink
    >>> sink = CaptureSink()
    >>> audit = AuditLog([sink], background=False)
    >>> audit.close()
    """

    def __init__(
        self,
        sinks: Sink | Iterable[Sink] = (),
        *,
        processors: Sequence[Processor] | None = None,
        policy: Policy | None = None,
        strict: bool = False,
        flush_interval: float | None = 60.0,
        background: bool = True,
        max_queue: int = 100_000,
        linger: float = 0.05,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        if policy not in (None, "fail_closed", "fail_open"):
            raise ConfigurationError(
                f"audit policy must be fail_closed or fail_open, not {policy!r}"
            )
        self.sinks: list[Sink] = [sinks] if isinstance(sinks, Sink) else list(sinks)
        self.processors: list[Processor] = [AddHost()] if processors is None else list(processors)
        self.policy: Policy | None = policy
        self.strict = strict
        self.flush_interval = flush_interval
        self.background = background
        self.max_queue = max_queue
        self.linger = linger
        self.wall_clock = wall_clock
        self.failures = 0
        """Events a sink failed to record (one per event per failing sink), plus queue drops."""
        self._queue: deque[AuditEvent] = deque()
        self._cond = threading.Condition()
        self._sink_lock = threading.RLock()
        self._caches: list[_Attached] = []
        self._thread: threading.Thread | None = None
        self._closed = False
        _LIVE.add(self)

    # -- composition ---------------------------------------------------------------
    def policy_for(self, environment: str) -> Policy:
        """The policy in force for ``environment`` (explicit, or by environment name)."""
        return self.policy or default_policy(environment)

    def wrap(self, backend: Backend, *, app: str, environment: str) -> Backend:
        """Return ``backend`` wrapped so that every operation emits an event."""
        closed = self.policy_for(environment) == "fail_closed"
        if closed:
            self._refuse_gaps(environment)
        return AuditedBackend(backend, self, app=app, environment=environment, sync=closed)

    def _refuse_gaps(self, environment: str) -> None:
        """Fail closed when a chained sink found its log cut or replaced at start."""
        for sink in self.sinks:
            gap = getattr(sink, "gap", None)
            if isinstance(gap, str):
                raise AuditError(
                    f"audit sink {sink!r} found its log cut or replaced ({gap}); a signed "
                    f"audit.gap record was written and {environment!r} fails closed: "
                    "investigate with `sekret audit verify`, then restart"
                )

    def attach_cache(self, cache: object) -> None:
        """Report the cache's hit counts (``drain_hits()``) as aggregate events."""
        drain = getattr(cache, "drain_hits", None)
        if drain is None:
            log.debug("cache %s has no drain_hits(); cache hits are not audited", type(cache))
            return
        clock = getattr(cache, "clock", None) or getattr(cache, "_clock", None) or time.monotonic
        backend = getattr(cache, "backend", None)
        if isinstance(backend, AuditedBackend):
            attached = _Attached(drain, clock, backend.describe(), backend.actor())
        elif isinstance(backend, Backend):
            attached = _Attached(drain, clock, backend.describe())
        else:
            attached = _Attached(drain, clock, "unknown://")
        with self._cond:
            self._caches.append(attached)
        self._ensure_thread()

    def read_hook(self, backend: Backend) -> Callable[[str, str | None, str | None], None] | None:
        """In strict mode, a callable ``(full_name, version, stage)`` for the facade to call
        on every read (cache hits included); None otherwise, so there is no cost."""
        if not self.strict:
            return None
        describe = backend.describe()
        actor = backend.actor() if isinstance(backend, AuditedBackend) else {}

        def hook(name: str, version: str | None, stage: str | None) -> None:
            event = make_event(
                "secret.read.access",
                time=self.wall_clock(),
                secret=name,
                backend=describe,
                actor=actor,
                version=version,
                stage=stage,
            )
            self.record([event], sync=False)

        return hook

    # -- recording -------------------------------------------------------------------
    def record(self, events: Sequence[AuditEvent], *, sync: bool) -> None:
        """Hand events to the sinks: now (``sync``: raise AuditError if none records them)
        or through the queue."""
        if sync or not self.background or self._closed:
            self.deliver(events, required=sync)
            return
        with self._cond:
            if len(self._queue) + len(events) > self.max_queue:
                self.failures += len(events)
                log.error(
                    "audit queue full (%d events); %d event(s) dropped", self.max_queue, len(events)
                )
                return
            was_empty = not self._queue
            self._queue.extend(events)
            if was_empty or len(self._queue) >= BATCH:
                self._cond.notify()
        self._ensure_thread()

    def deliver(self, events: Sequence[AuditEvent], *, required: bool = False) -> None:
        """Run the processors and emit to every sink; ``required``: raise if no sink recorded."""
        processed: list[AuditEvent] = []
        try:
            for event in events:
                out: AuditEvent | None = event
                for processor in self.processors:
                    out = processor(out)  # type: ignore[arg-type]  # loop stops at None
                    if out is None:
                        break
                if out is not None:
                    processed.append(out)
        except Exception as exc:
            self._failed(len(events), f"an audit processor raised {type(exc).__name__}", required)
            raise AuditError("an audit processor failed; the access was not recorded") from exc
        if not processed:
            return
        recorded, last_error = 0, None
        with self._sink_lock:
            for sink in self.sinks:
                try:
                    sink.emit(processed)
                    recorded += 1
                except Exception as exc:  # noqa: BLE001  # any sink failure is handled the same way
                    last_error = exc
                    reason = str(exc) if isinstance(exc, SekretError) else type(exc).__name__
                    self._failed(len(processed), f"audit sink {sink!r} failed: {reason}", required)
        if recorded == 0 and required:
            what = processed[0].get("action")
            message = (
                f"access refused: the audit trail could not record {what!r} "
                f"({'every sink failed' if self.sinks else 'no sink configured'}; fail-closed)"
            )
            if last_error is not None:
                raise AuditError(message) from last_error
            raise AuditError(message)

    def _failed(self, count: int, message: str, required: bool) -> None:
        with self._cond:
            self.failures += count
        if required:
            log.warning("%s", message)
        else:
            log.error("%s; %d event(s) not recorded (fail-open)", message, count)

    # -- cache hits ------------------------------------------------------------------
    def _hit_events(self) -> list[AuditEvent]:
        with self._cond:
            attached = list(self._caches)
        events: list[AuditEvent] = []
        for cache in attached:
            stats = cache.drain()
            if not stats:
                continue
            now_mono, now_wall = cache.clock(), self.wall_clock()
            for name, hits in sorted(stats.items()):
                events.append(
                    make_event(
                        "secret.read.cached",
                        time=now_wall,
                        secret=name,
                        backend=cache.backend,
                        actor=cache.actor,
                        count=hits.count,
                        first=utc_iso(now_wall - (now_mono - hits.first)),
                        last=utc_iso(now_wall - (now_mono - hits.last)),
                    )
                )
        return events

    def flush(self) -> None:
        """Drain the cache hit counts and the queue into the sinks now."""
        try:
            hits = self._hit_events()
        except Exception as exc:  # noqa: BLE001  # a broken cache hook must not stop the queue
            hits = []
            self._failed(0, f"draining cache hits failed: {type(exc).__name__}", False)
        with self._cond:
            queued = list(self._queue)
            self._queue.clear()
        pending = queued + hits
        for start in range(0, len(pending), BATCH):
            self._deliver_quietly(pending[start : start + BATCH])

    def _deliver_quietly(self, events: Sequence[AuditEvent]) -> None:
        with contextlib.suppress(AuditError):  # already counted and logged by deliver()
            self.deliver(events)

    # -- the writer thread -------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if not self.background or self._thread is not None or self._closed:
            return
        with self._cond:
            if self._thread is None and not self._closed:
                self._thread = threading.Thread(
                    target=self._run, name="sekret-audit-writer", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        next_hits = time.monotonic() + (self.flush_interval or 0)
        while True:
            with self._cond:
                if not self._queue and not self._closed:
                    timeout = None
                    if self.flush_interval and self._caches:
                        timeout = max(0.0, next_hits - time.monotonic())
                    self._cond.wait(timeout)
                if self._queue and len(self._queue) < BATCH and not self._closed and self.linger:
                    self._cond.wait(self.linger)  # gather a batch: one sink write, one fsync
                if self._closed:
                    return
                batch = [self._queue.popleft() for _ in range(min(BATCH, len(self._queue)))]
            if batch:
                self._deliver_quietly(batch)
            if self.flush_interval and time.monotonic() >= next_hits:
                next_hits = time.monotonic() + self.flush_interval
                try:
                    hits = self._hit_events()
                except Exception as exc:  # noqa: BLE001  # keep the writer alive
                    hits = []
                    self._failed(0, f"draining cache hits failed: {type(exc).__name__}", False)
                if hits:
                    self._deliver_quietly(hits)

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        """Flush what is queued and every cache's hit counts, then close every sink."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()
        self.flush()
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:  # noqa: BLE001  # close every sink even if one fails
                self._failed(0, f"closing audit sink {sink!r} failed: {type(exc).__name__}", False)
        _LIVE.discard(self)

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<AuditLog sinks={len(self.sinks)} policy={self.policy or 'by environment'}>"
