"""The read cache between the facade and a backend.

``SecretCache`` wraps any ``Backend`` (composition: it only calls ``read``
and ``read_many``). Entries are keyed by ``(full name, version, stage)``, so
version ``"1"`` and the current version never share a slot.

What it guarantees:

* **Hit path**: one dict lookup and one clock reading compared with a
  deadline. No lock, no I/O, never the wall clock (the clock is monotonic and
  injectable).
* **Single-flight**: one backend read per missing key however many threads
  and asyncio tasks ask at once; they all get its result or its error.
  Waiting tasks await an asyncio future (no worker thread each). Different
  keys never wait on each other's reads.
* **Refresh-ahead**: past ``refresh_ratio`` of its TTL an entry is re-read by
  one background job while callers keep getting the current value (also past
  its expiry while that job runs: no caller waits on a refresh of a key the
  cache holds). An entry nobody read during its refresh window expires, and
  the next caller waits for a fresh read.
* **Stale-if-error**: when a refresh fails because the backend is unavailable,
  the last value is served for up to ``max_stale`` seconds past its expiry,
  with retries spaced by exponential backoff with jitter, a warning log (name
  and error, never the value) and the ``on_stale(name, error)`` hook. After
  that, ``BackendUnavailable`` (raised ``from`` the last error).
  ``AccessDenied`` and not-found answers are never covered by a stale value:
  they drop the entry at once.
* Not-found answers are cached for ``negative_ttl``; other errors never are.
* LRU bound of ``max_size`` entries; ``invalidate``/``refresh`` per name.

It must never hold a lock while doing I/O, log or raise a value, or keep a
value anywhere but in its entries.

Hit counts (``drain_hits``) are plain unlocked counters: under heavy thread
contention a few hits may go uncounted (never counted twice), which is
accepted for an aggregate audit report. Recency for the LRU bound is the
clock reading of the last hit (a plain attribute store); the lock-free reads
rely on single dict operations being atomic under CPython's GIL.
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import functools
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sekret._values import Secret, SecretValue
from sekret.backends.base import Backend, Capability
from sekret.exceptions import (
    AccessDenied,
    BackendUnavailable,
    ConfigurationError,
    SecretNotFound,
    SekretError,
    VersionNotFound,
)

if TYPE_CHECKING:
    import asyncio

__all__ = ["CachePolicy", "CacheStats", "HitStats", "SecretCache"]

log = logging.getLogger("sekret.cache")

Key = str | tuple[str, str | None, str | None]
"""The current version's key is the bare name (its hash is cached); else (name, version, stage)."""
Clock = Callable[[], float]
Spawn = Callable[[Callable[[], None]], object]
"""Runs a background job (a refresh) somewhere else; the default is a small daemon pool."""


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """How long values live and how the cache behaves when the backend fails.

    Times are seconds. ``ttl`` is shortened by up to ``jitter`` (a fraction)
    per fill so many processes do not refresh together; ``per_secret_ttl``
    overrides ``ttl`` by full name. ``max_stale`` is how long past its expiry
    a value may still be served while the backend is unavailable. Refresh
    retries wait ``retry_base * 2**n`` (capped at ``retry_max``), jittered.
    """

    ttl: float = 300.0
    max_stale: float = 3600.0
    negative_ttl: float = 5.0
    max_size: int = 1024
    refresh_ratio: float = 0.8
    jitter: float = 0.1
    per_secret_ttl: Mapping[str, float] = field(default_factory=dict)
    retry_base: float = 1.0
    retry_max: float = 60.0
    refresh_workers: int = 4
    prefetch_concurrency: int = 16

    def __post_init__(self) -> None:
        checks = {
            "ttl": self.ttl >= 0,
            "max_stale": self.max_stale >= 0,
            "negative_ttl": self.negative_ttl >= 0,
            "max_size": self.max_size >= 1,
            "refresh_ratio": 0 < self.refresh_ratio <= 1,
            "jitter": 0 <= self.jitter < 1,
            "retry_base": self.retry_base >= 0,
            "retry_max": self.retry_max >= self.retry_base,
            "refresh_workers": self.refresh_workers >= 1,
            "prefetch_concurrency": self.prefetch_concurrency >= 1,
        }
        for what, ok in checks.items():
            if not ok:
                raise ConfigurationError(
                    f"CachePolicy.{what}={getattr(self, what)!r} is out of range"
                )
        for name, ttl in self.per_secret_ttl.items():
            if ttl < 0:
                raise ConfigurationError(f"CachePolicy.per_secret_ttl[{name!r}]={ttl!r} < 0")

    def ttl_for(self, name: str) -> float:
        """The configured (unjittered) TTL of a full secret name."""
        return self.per_secret_ttl.get(name, self.ttl)


@dataclass(frozen=True, slots=True)
class HitStats:
    """Cache hits of one secret since the last ``drain_hits``: monotonic clock readings."""

    count: int
    first: float
    last: float


@dataclass(frozen=True, slots=True)
class CacheStats:
    """A snapshot for metrics and tests: sizes and reads in flight."""

    entries: int
    negative: int
    in_flight: int
    callers_waiting: int


class _Entry:
    """One cached version; replaced (never mutated) on refresh, except failure state."""

    __slots__ = (
        "drained",
        "error",
        "expires",
        "failing_since",
        "failures",
        "first",
        "hits",
        "next_retry",
        "refresh_at",
        "refreshing",
        "secret",
        "stale_until",
        "text",
        "used",
    )

    def __init__(self, secret: Secret, refresh_at: float, expires: float, stale_until: float):
        self.secret = secret
        self.text: str | None = None  # the value decoded once, for get_text
        self.refresh_at = refresh_at
        self.expires = expires
        self.stale_until = stale_until
        # Hits: a running count only the hit path increments; drain_hits reports the
        # difference from `drained` and moves `drained` up, so a racing hit can be
        # lost but never counted twice. `used` is the last hit (or the fill): LRU.
        self.hits = 0
        self.drained = 0
        self.first = 0.0  # the first hit after the last drain
        self.used = refresh_at
        self.refreshing = False
        self.failures = 0
        self.failing_since = 0.0
        self.error: BaseException | None = None
        self.next_retry = float("-inf")


class _Negative:
    __slots__ = ("error", "until")

    def __init__(self, error: SecretNotFound, until: float) -> None:
        self.error = error
        self.until = until


class _Flight:
    """One backend read that any number of threads and tasks wait on."""

    __slots__ = ("callers", "done", "event", "explicit", "futures", "installable", "outcome")

    def __init__(self, *, explicit: bool = False) -> None:
        self.event = threading.Event()
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


def _key(name: str, version: str | None, stage: str | None) -> Key:
    return name if version is None and stage is None else (name, version, stage)


def _name_of(key: Key) -> str:
    return key if isinstance(key, str) else key[0]


def _resolve_future(fut: asyncio.Future[Secret], outcome: Secret | BaseException) -> None:
    if fut.done():  # the waiting task was cancelled
        return
    if isinstance(outcome, BaseException):
        fut.set_exception(outcome)
    else:
        fut.set_result(outcome)


def _transient(exc: BaseException) -> bool:
    """Errors a stale value may cover: unavailability and untranslated I/O failures."""
    return isinstance(exc, BackendUnavailable) or (
        isinstance(exc, Exception) and not isinstance(exc, SekretError)
    )


def _fresh_copy(exc: SecretNotFound) -> SecretNotFound:
    """A copy to raise again, so one cached error does not grow a traceback forever."""
    try:
        new = copy.copy(exc)
    except Exception:  # noqa: BLE001 - an exotic subclass: raising the original is fine
        return exc
    new.__cause__ = exc.__cause__
    new.__traceback__ = None
    return new


class _DaemonPool:
    """A bounded set of daemon threads running background refreshes."""

    def __init__(self, workers: int) -> None:
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
            except Exception:  # a worker must survive; jobs report their own errors
                log.exception("background cache refresh failed unexpectedly")

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


class SecretCache:
    """Caches ``backend.read`` results keyed by (full name, version, stage).

    ``clock`` is a monotonic float clock; ``spawn`` runs background refreshes
    (default: up to ``policy.refresh_workers`` daemon threads); ``rng`` returns
    floats in [0, 1) for jitter; ``on_stale(name, error)`` is called when a
    refresh fails and the cached value keeps being served.
    """

    def __init__(
        self,
        backend: Backend,
        policy: CachePolicy | None = None,
        *,
        clock: Clock = time.monotonic,
        spawn: Spawn | None = None,
        rng: Callable[[], float] = random.random,
        on_stale: Callable[[str, BaseException], object] | None = None,
    ) -> None:
        self.backend = backend
        self.policy = policy or CachePolicy()
        self.on_stale = on_stale
        self._clock = clock
        self._rng = rng
        self._pool: _DaemonPool | None = None
        self._spawn: Spawn = spawn if spawn is not None else self._spawn_daemon
        self._lock = threading.Lock()
        self._entries: dict[Key, _Entry] = {}
        self._by_name: dict[str, set[Key]] = {}
        self._negative: dict[Key, _Negative] = {}
        self._flights: dict[Key, _Flight] = {}
        self._retired: dict[str, list[float]] = {}
        self._listeners: list[Callable[[], None]] = []
        self._closed = False

    @property
    def clock(self) -> Clock:
        """The monotonic clock the cache uses (``HitStats`` times are its readings)."""
        return self._clock

    # -- reads ---------------------------------------------------------------
    def get(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        """The secret from the cache, or from one shared backend read."""
        key = name if version is None and stage is None else (name, version, stage)
        entry = self._entries.get(key)
        if entry is not None:
            now = self._clock()
            if now < entry.refresh_at:  # the hit path: nothing else happens here
                entry.used = now
                hits = entry.hits
                if hits == entry.drained:
                    entry.first = now
                entry.hits = hits + 1
                return entry.secret
            served = self._serve_aged(key, entry, now)
            if served is not None:
                return served
        else:
            self._check_negative(key)
        begun = self._begin(key, entry)
        if isinstance(begun, Secret):
            return begun
        flight, leader = begun
        if leader:
            self._run_fetch(key, flight)
        else:
            flight.event.wait()
        return flight.result()

    def get_text(self, name: str) -> str:
        """``get(name).value.text()`` for the current version; a hit decodes only once."""
        try:  # a subscript is cheaper than .get() on the hit path; a miss pays for the raise
            entry = self._entries[name]
        except KeyError:
            entry = None
        if entry is not None:
            now = self._clock()
            if now < entry.refresh_at:  # the same hit path as get()
                entry.used = now
                hits = entry.hits
                if hits == entry.drained:
                    entry.first = now
                entry.hits = hits + 1
                text = entry.text
                if text is None:
                    text = entry.text = entry.secret.value.text()
                return text
        return self.get(name).value.text()

    async def aget(
        self, name: str, *, version: str | None = None, stage: str | None = None
    ) -> Secret:
        """``get`` for asyncio: hits never leave the loop; one worker thread per backend read."""
        key = _key(name, version, stage)
        entry = self._entries.get(key)
        if entry is not None:
            now = self._clock()
            if now < entry.refresh_at:
                self._touch(key, entry, now)
                return entry.secret
            served = self._serve_aged(key, entry, now)
            if served is not None:
                return served
        else:
            self._check_negative(key)
        import asyncio  # lazy: keeps `import sekret` light

        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Secret] = loop.create_future()
        begun = self._begin(key, entry, (loop, fut))
        if isinstance(begun, Secret):
            return begun
        flight, leader = begun
        if leader:
            run = functools.partial(self._run_fetch, key, flight)
            try:
                loop.run_in_executor(None, contextvars.copy_context().run, run)
            except BaseException as exc:  # e.g. the executor is shut down: free the waiters
                self._complete(key, flight, exc)
                raise
        return await fut

    def _touch(self, key: Key, entry: _Entry, now: float) -> None:
        """Count a hit and mark the entry recently used (same as the inlined hit path)."""
        entry.used = now
        hits = entry.hits
        if hits == entry.drained:
            entry.first = now
        entry.hits = hits + 1

    def _serve_aged(self, key: Key, entry: _Entry, now: float) -> Secret | None:
        """An entry past its refresh point: serve it (maybe refreshing), raise, or None: read."""
        if now < entry.expires or (
            (entry.failures or entry.refreshing) and now < entry.stale_until
        ):
            self._touch(key, entry, now)
            if not entry.refreshing and now >= entry.next_retry and not self._closed:
                self._start_refresh(key, entry)
            return entry.secret
        if entry.failures and (entry.refreshing or now < entry.next_retry):
            raise self._unavailable(_name_of(key), entry, now)
        return None  # expired and nobody refreshing: the caller waits for a fresh read

    def _check_negative(self, key: Key) -> None:
        negative = self._negative.get(key)
        if negative is not None and self._clock() < negative.until:
            raise _fresh_copy(negative.error)

    def _begin(
        self,
        key: Key,
        seen: _Entry | None,
        waiter: tuple[asyncio.AbstractEventLoop, asyncio.Future[Secret]] | None = None,
    ) -> Secret | tuple[_Flight, bool]:
        """Join the read in flight for ``key`` or start one (True: the caller leads it)."""
        leader = False
        with self._lock:
            flight = self._flights.get(key)
            if flight is None:
                entry = self._entries.get(key)
                if entry is not None and entry is not seen:
                    return entry.secret  # filled between our lock-free look and now
                if seen is None:
                    self._check_negative(key)
                flight = self._flights[key] = _Flight()
                leader = True
            flight.callers += 1
            if waiter is not None:
                flight.futures.append(waiter)
        return flight, leader

    def _start_refresh(self, key: Key, entry: _Entry) -> None:
        with self._lock:
            if entry.refreshing or self._entries.get(key) is not entry or key in self._flights:
                return
            entry.refreshing = True
            flight = self._flights[key] = _Flight()
        try:
            self._spawn(functools.partial(self._run_fetch, key, flight))
        except Exception as exc:  # noqa: BLE001 - e.g. closed pool: counts as a failed refresh
            self._complete(key, flight, exc)

    def _run_fetch(self, key: Key, flight: _Flight) -> None:
        name, version, stage = (key, None, None) if isinstance(key, str) else key
        try:
            secret = self.backend.read(name, version=version, stage=stage)
        except BaseException as exc:
            self._complete(key, flight, exc)
            if not isinstance(exc, Exception):
                raise
            return
        self._complete(key, flight, secret)

    # -- completing a read -------------------------------------------------
    def _complete(self, key: Key, flight: _Flight, result: Secret | BaseException) -> None:
        """Record a read's result and hand it to every waiter (under the lock only briefly)."""
        now = self._clock()
        changed = False
        stale: tuple[BaseException, bool] | None = None
        outcome: Secret | BaseException = result
        with self._lock:
            current = self._flights.get(key)
            if current is flight:
                del self._flights[key]
            entry = self._entries.get(key)
            if entry is not None and current is flight:
                entry.refreshing = False
            if not (flight.installable and current is flight) or self._closed:
                pass  # invalidated meanwhile (or closed): answer the waiters, change nothing
            elif isinstance(result, Secret):
                if flight.explicit:
                    changed = self._drop_name(_name_of(key), keep=key)
                changed = self._install(key, result, now, entry) or changed
            elif isinstance(result, SecretNotFound):
                if isinstance(result, VersionNotFound):
                    changed = self._drop_key(key)
                else:
                    changed = self._drop_name(_name_of(key))
                if self.policy.negative_ttl > 0:
                    self._put_negative(key, result, now)
            elif isinstance(result, AccessDenied):
                changed = self._drop_name(_name_of(key))
            elif _transient(result) and entry is not None:
                entry.failures += 1
                if entry.failures == 1:
                    entry.failing_since = now
                entry.error = result
                entry.next_retry = now + self._backoff(entry.failures)
                serving = now < entry.stale_until
                stale = (result, serving)
                if flight.explicit:
                    outcome = result
                elif serving:
                    outcome = entry.secret
                else:
                    outcome = self._unavailable(_name_of(key), entry, now)
            elif isinstance(result, Exception) and entry is not None:
                changed = self._drop_key(key)  # e.g. IntegrityError: never serve it again
            flight.outcome = outcome
            flight.done = True
            futures, flight.futures = flight.futures, []
        flight.event.set()
        for loop, fut in futures:
            with contextlib.suppress(RuntimeError):  # that loop is closed: nobody waits there
                loop.call_soon_threadsafe(_resolve_future, fut, outcome)
        if stale is not None:
            self._report_stale(_name_of(key), *stale)
        if changed:
            self._notify()

    def _install(self, key: Key, secret: Secret, now: float, old: _Entry | None) -> bool:
        ttl = self.policy.ttl_for(_name_of(key))
        ttl *= 1.0 - self.policy.jitter * self._rng()
        entry = _Entry(
            secret,
            refresh_at=now + ttl * self.policy.refresh_ratio,
            expires=now + ttl,
            stale_until=now + ttl + self.policy.max_stale,
        )
        entry.used = now
        if old is not None:  # the same slot, refilled: keep its hit accounting
            entry.hits, entry.drained = old.hits, old.drained
            entry.first, entry.used = old.first, old.used
        self._entries[key] = entry
        self._by_name.setdefault(_name_of(key), set()).add(key)
        self._negative.pop(key, None)
        changed = old is None or old.secret.value != secret.value
        while len(self._entries) > self.policy.max_size:
            # least recently used; ties go to the oldest insertion. O(size), only on a fill.
            evicted_key = min(self._entries, key=lambda k: self._entries[k].used)
            self._forget(evicted_key, self._entries.pop(evicted_key))
            changed = True
        return changed

    def _put_negative(self, key: Key, error: SecretNotFound, now: float) -> None:
        self._negative.pop(key, None)
        self._negative[key] = _Negative(error, now + self.policy.negative_ttl)
        while len(self._negative) > self.policy.max_size:
            del self._negative[next(iter(self._negative))]

    def _forget(self, key: Key, entry: _Entry) -> None:
        """Bookkeeping for an entry that left ``_entries`` (lock held)."""
        keys = self._by_name.get(_name_of(key))
        if keys is not None:
            keys.discard(key)
            if not keys:
                del self._by_name[_name_of(key)]
        self._take_hits(self._retired, _name_of(key), entry)

    def _drop_key(self, key: Key) -> bool:
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self._forget(key, entry)
        return True

    def _drop_name(self, name: str, keep: Key | None = None) -> bool:
        changed = False
        for key in list(self._by_name.get(name, ())):
            if key != keep:
                changed = self._drop_key(key) or changed
        return changed

    def _backoff(self, failures: int) -> float:
        delay = min(self.policy.retry_max, self.policy.retry_base * 2.0 ** (failures - 1))
        return delay * (0.5 + 0.5 * self._rng())

    def _unavailable(self, name: str, entry: _Entry, now: float) -> BackendUnavailable:
        exc = BackendUnavailable(
            f"secret {name!r}: the backend has been unavailable for "
            f"{now - entry.failing_since:.0f}s and the cached value is past max_stale "
            f"({self.policy.max_stale:g}s)",
            name=name,
            backend=self.backend.describe(),
        )
        exc.__cause__ = entry.error
        return exc

    def _report_stale(self, name: str, error: BaseException, serving: bool) -> None:
        reason = str(error) if isinstance(error, SekretError) else "untranslated error"
        if serving:
            log.warning(
                "refresh of secret %r failed (%s: %s); serving the cached value",
                name,
                type(error).__name__,
                reason,
            )
            if self.on_stale is not None:
                try:
                    self.on_stale(name, error)
                except Exception:  # a hook must not break reads
                    log.exception("cache on_stale hook failed for secret %r", name)
        else:
            log.error(
                "refresh of secret %r failed (%s: %s) and its value is past max_stale",
                name,
                type(error).__name__,
                reason,
            )

    # -- control -------------------------------------------------------------
    def invalidate(self, name: str) -> None:
        """Drop every cached entry of ``name`` (all versions and stages)."""
        with self._lock:
            changed = self._drop_name(name)
            self._cancel_flights(name)
            for key in [k for k in self._negative if _name_of(k) == name]:
                del self._negative[key]
        if changed:
            self._notify()

    def _cancel_flights(self, name: str) -> None:
        """Reads already in flight for ``name`` answer their callers but fill nothing."""
        for key in [k for k in self._flights if _name_of(k) == name]:
            self._flights.pop(key).installable = False

    def refresh(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        """Read ``name`` from the backend now; on success it replaces every cached entry.

        Errors are raised (never covered by a stale value); an unavailable
        backend leaves the cached entries in place.
        """
        key = _key(name, version, stage)
        with self._lock:
            self._cancel_flights(name)
            self._negative.pop(key, None)
            flight = self._flights[key] = _Flight(explicit=True)
            flight.callers = 1
        self._run_fetch(key, flight)
        return flight.result()

    def prefetch(self, names: Iterable[str]) -> dict[str, Secret | SekretError]:
        """Load the current version of many secrets; what each name gave.

        Cached names are answered from the cache; the rest take one
        ``read_many`` call when the backend declares ``BATCH_READ``, otherwise
        up to ``policy.prefetch_concurrency`` reads at once. Reads already in
        flight are joined, not repeated.
        """
        wanted = list(dict.fromkeys(names))
        now = self._clock()
        cached: dict[str, Secret] = {}
        leaders: list[tuple[str, _Flight]] = []
        joined: list[tuple[str, _Flight]] = []
        with self._lock:
            for name in wanted:
                key = name
                entry = self._entries.get(key)
                if entry is not None and now < entry.expires:
                    cached[name] = entry.secret
                    continue
                flight = self._flights.get(key)
                if flight is None:
                    flight = self._flights[key] = _Flight()
                    leaders.append((name, flight))
                else:
                    joined.append((name, flight))
                flight.callers += 1
        for name in cached:
            entry = self._entries.get(name)
            if entry is not None:
                self._touch(name, entry, now)
        if leaders:
            self._prefetch_read(leaders)
        out: dict[str, Secret | SekretError] = {}
        flights = dict(leaders + joined)
        for name in wanted:
            if name in cached:
                out[name] = cached[name]
                continue
            flight = flights[name]
            flight.event.wait()
            try:
                out[name] = flight.result()
            except SekretError as exc:
                out[name] = exc
            except Exception as exc:  # noqa: BLE001 - reported per name like read_many does
                err = BackendUnavailable(
                    f"secret {name!r}: the backend failed ({type(exc).__name__})",
                    name=name,
                    backend=self.backend.describe(),
                )
                err.__cause__ = exc
                out[name] = err
        return out

    def _prefetch_read(self, leaders: list[tuple[str, _Flight]]) -> None:
        if Capability.BATCH_READ in self.backend.capabilities:
            failure: BaseException = BackendUnavailable(
                "the batch read returned no answer for this secret",
                backend=self.backend.describe(),
            )
            try:
                got: Mapping[str, Secret | SekretError] = self.backend.read_many(
                    [name for name, _ in leaders]
                )
            except Exception as exc:  # noqa: BLE001 - every name gets the batch's error
                got = {}
                failure = exc
            for name, flight in leaders:
                self._complete(name, flight, got.get(name, failure))
            return
        workers = min(self.policy.prefetch_concurrency, len(leaders))
        with ThreadPoolExecutor(workers, thread_name_prefix="sekret-prefetch") as pool:
            for name, flight in leaders:
                pool.submit(self._run_fetch, name, flight)

    def close(self) -> None:
        """Stop background refreshes and forget every cached value; later reads are not cached."""
        with self._lock:
            self._closed = True
            changed = bool(self._entries)
            for key, entry in list(self._entries.items()):
                self._forget(key, entry)
            self._entries.clear()
            self._negative.clear()
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
        if changed:
            self._notify()

    def _spawn_daemon(self, job: Callable[[], None]) -> None:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._closed:
                    raise RuntimeError("the cache is closed")
                if self._pool is None:
                    self._pool = _DaemonPool(self.policy.refresh_workers)
                pool = self._pool
        pool.submit(job)

    # -- what other parts build on ---------------------------------------------
    def drain_hits(self) -> dict[str, HitStats]:
        """Hits per full name since the last drain (for aggregate audit events); resets them."""
        totals: dict[str, list[float]] = {}
        with self._lock:
            totals, self._retired = self._retired, {}
            for key, entry in list(self._entries.items()):
                self._take_hits(totals, _name_of(key), entry)
        return {name: HitStats(int(c), first, last) for name, (c, first, last) in totals.items()}

    @staticmethod
    def _take_hits(totals: dict[str, list[float]], name: str, entry: _Entry) -> None:
        """Move ``entry``'s hits since the last drain into ``totals[name]`` (lock held)."""
        hits = entry.hits
        count = hits - entry.drained
        if count <= 0:
            return
        entry.drained = hits
        acc = totals.get(name)
        if acc is None:
            totals[name] = [count, entry.first, entry.used]
        else:
            acc[0] += count
            acc[1] = min(acc[1], entry.first)
            acc[2] = max(acc[2], entry.used)

    def held_values(self) -> list[SecretValue]:
        """Every value the cache holds now (for log redaction)."""
        with self._lock:
            entries = list(self._entries.values())
        seen: dict[int, SecretValue] = {}
        for entry in entries:
            seen.setdefault(id(entry.secret.value), entry.secret.value)
        return list(seen.values())

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` whenever the set of held values changes (never on a hit)."""
        with self._lock:
            self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[], None]) -> None:
        with self._lock:
            if callback in self._listeners:
                self._listeners.remove(callback)

    def _notify(self) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for callback in listeners:
            try:
                callback()
            except Exception:  # a listener must not break the cache
                log.exception("cache listener %r failed", callback)

    def stats(self) -> CacheStats:
        """Sizes and reads in flight, for metrics."""
        with self._lock:
            return CacheStats(
                entries=len(self._entries),
                negative=len(self._negative),
                in_flight=len(self._flights),
                callers_waiting=sum(f.callers for f in self._flights.values()),
            )

    def __repr__(self) -> str:
        return f"<SecretCache {len(self._entries)} entries over {self.backend.describe()}>"
