"""The cache's cold helpers: single-flight records, refresh workers, backoff, stale reports.

``sekret.cache`` (whose docstring states the guarantees) keeps its hit path
and ``_Entry`` to itself and imports these back: ``Flight`` (one backend read
any number of threads and tasks wait on) and ``Negative`` (a cached
not-found), the helpers that hand a read's outcome to waiters, ``DaemonPool``
(the default background refresh workers), ``backoff`` and ``report_stale``
(what a failed refresh does). Nothing here touches the cache's state:
each helper gets what it needs as arguments.

This module must never hold a lock while doing I/O, log or raise a value,
keep a value outside the cache's entries, or be imported for a cache hit.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from sekret._values import Secret
from sekret.exceptions import BackendUnavailable, SecretNotFound, SekretError

# typing, logging, copy and queue load only when used: `Secrets(...)` stays cheap.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio
    import logging
    import queue

    from sekret.cache._records import CachePolicy

__all__ = [
    "DaemonPool",
    "Flight",
    "Latch",
    "Negative",
    "backoff",
    "fresh_copy",
    "logger",
    "report_stale",
    "resolve_future",
    "transient",
]


def logger() -> logging.Logger:
    """The cache's logger (``sekret.cache``), imported on first use."""
    import logging

    return logging.getLogger("sekret.cache")


class Negative:
    """A cached not-found answer and until when (monotonic) it holds."""

    __slots__ = ("error", "until")

    def __init__(self, error: SecretNotFound, until: float) -> None:
        self.error = error
        self.until = until


class Latch:
    """A one-shot gate: ``wait`` blocks until ``set``; far cheaper to make than an Event.

    A held lock is the gate: ``set`` releases it and each waiter acquires and
    at once releases it, so every waiter passes, one after another.
    """

    __slots__ = ("_gate", "_open")

    def __init__(self) -> None:
        self._gate = threading.Lock()
        self._gate.acquire()
        self._open = False

    def set(self) -> None:
        if not self._open:
            self._open = True
            self._gate.release()

    def is_set(self) -> bool:
        return self._open

    def wait(self, timeout: float | None = None) -> bool:
        if self._open:
            return True
        if not self._gate.acquire(timeout=-1 if timeout is None else timeout):
            return False
        self._gate.release()
        return True


class Flight:
    """One backend read that any number of threads and tasks wait on."""

    __slots__ = ("callers", "done", "event", "explicit", "futures", "installable", "outcome")

    def __init__(self, *, explicit: bool = False) -> None:
        self.event = Latch()
        self.futures: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[Secret]]] = []
        self.outcome: Secret | BaseException | None = None
        self.done = False
        self.installable = True  # False once invalidated: its answer may predate a write
        self.explicit = explicit  # refresh(): report errors instead of serving stale
        self.callers = 0

    def result(self) -> Secret:
        outcome = self.outcome
        if isinstance(outcome, BaseException):
            raise outcome
        assert outcome is not None  # set before `event` is
        return outcome


def resolve_future(fut: asyncio.Future[Secret], outcome: Secret | BaseException) -> None:
    if fut.done():  # the waiting task was cancelled
        return
    if isinstance(outcome, BaseException):
        fut.set_exception(outcome)
    else:
        fut.set_result(outcome)


def transient(exc: BaseException) -> bool:
    """Errors a stale value may cover: unavailability and untranslated I/O failures."""
    return isinstance(exc, BackendUnavailable) or (
        isinstance(exc, Exception) and not isinstance(exc, SekretError)
    )


def fresh_copy(exc: SecretNotFound) -> SecretNotFound:
    """A copy to raise again, so one cached error does not grow a traceback forever."""
    import copy  # lazy: only a cached not-found is copied

    try:
        new = copy.copy(exc)
    except Exception:  # noqa: BLE001 - an exotic subclass: raising the original is fine
        return exc
    new.__cause__ = exc.__cause__
    new.__traceback__ = None
    return new


class DaemonPool:
    """A bounded set of daemon threads running background refreshes."""

    def __init__(self, workers: int) -> None:
        import queue  # lazy: the pool starts with the first background refresh

        self._queue: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._workers = workers
        self._lock = threading.Lock()
        self._closed = False

    def submit(self, job: Callable[[], None]) -> None:
        with self._lock:
            if self._closed:
                raise RuntimeError("the cache is closed")
            self._queue.put(job)
            if len(self._threads) < self._workers:
                thread = threading.Thread(
                    target=self._work, name=f"sekret-refresh-{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            try:
                job()
            except Exception:  # noqa: BLE001 - logged; a worker must survive
                logger().exception("background cache refresh failed unexpectedly")

    def close(self, timeout: float = 1.0) -> None:
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        for _ in threads:
            self._queue.put(None)
        me = threading.current_thread()
        deadline = time.monotonic() + timeout
        for thread in threads:
            if thread is not me:
                thread.join(max(0.0, deadline - time.monotonic()))


def backoff(policy: CachePolicy, rng: Callable[[], float], failures: int) -> float:
    """The wait before retry ``failures`` of a refresh: exponential, capped, jittered."""
    delay = min(policy.retry_max, policy.retry_base * 2.0 ** (failures - 1))
    return delay * (0.5 + 0.5 * rng())


def report_stale(
    name: str,
    error: BaseException,
    serving: bool,
    on_stale: Callable[[str, BaseException], object] | None,
) -> None:
    """Log a failed refresh (name and error, never the value) and call ``on_stale``."""
    reason = str(error) if isinstance(error, SekretError) else "untranslated error"
    if serving:
        logger().warning(
            "refresh of secret %r failed (%s: %s); serving the cached value",
            name,
            type(error).__name__,
            reason,
        )
        if on_stale is not None:
            try:
                on_stale(name, error)
            except Exception:  # noqa: BLE001 - logged; a hook must not break reads
                logger().exception("cache on_stale hook failed for secret %r", name)
    else:
        logger().error(
            "refresh of secret %r failed (%s: %s) and its value is past max_stale",
            name,
            type(error).__name__,
            reason,
        )
