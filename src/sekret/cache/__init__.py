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
* **A short wait for an expired value**: a read that finds its entry past
  expiry (nobody refreshing it, still within ``max_stale``) starts a refresh
  and waits for it at most ``stale_wait`` seconds (default 0.25), then is
  served the held value while the refresh goes on in the background. A hung
  backend never stalls a reader that holds a value.
* **Circuit breaker**: after ``breaker_failures`` consecutive failed backend
  reads (any name) reads that would call the backend fail fast with
  ``BackendUnavailable`` (or are served a held value) without calling it;
  after ``breaker_cooldown`` one probe read closes it again. The first
  success anywhere ends every entry's backoff, so each held value is
  re-read on its next use and a version written during the outage is seen
  within the cooldown (well within one TTL).
* **Stale-if-error**: when a refresh fails because the backend is unavailable,
  the last value is served for up to ``max_stale`` seconds past its expiry,
  with retries spaced by exponential backoff with jitter, a warning log (name
  and error, never the value) and the ``on_stale(name, error)`` hook. After
  that, ``BackendUnavailable`` (raised ``from`` the last error).
  ``AccessDenied`` and not-found answers are never covered by a stale value:
  they drop the entry at once.
* Not-found answers are cached for ``negative_ttl``; other errors never are.
* A bound of ``max_size`` entries that costs nothing on a hit (a hit only
  stamps its entry) and O(1) amortised per fill, whatever ``max_size``:
  second-chance (CLOCK) eviction over a queue of entries in fill order. The
  entry at the front is evicted unless it was read since it was last
  queued, in which case it goes to the back (its mark cleared) and the next
  one is looked at. Each hit buys at most one such move, so a fill pays for
  at most one move per hit since the last fill, plus one eviction. An entry
  read since its last pass is never evicted while one that was not is
  queued before it. ``invalidate``/``refresh`` per name. A prefetch of more
  names than fit warns once.

It must never hold a lock while doing I/O, log or raise a value, or keep a
value anywhere but in its entries.

Hit counts (``drain_hits``) are plain unlocked counters: under heavy thread
contention a few hits may go uncounted (never counted twice), which is
accepted for an aggregate audit report. The mark eviction reads is the
clock reading of the last hit (a plain attribute store); the lock-free reads
rely on single dict operations being atomic under CPython's GIL.

The hit path (``get``, ``get_text``, ``hit_text``, ``aget``, ``_touch``; the
facades' copy reads ``hot_path``) and
everything that touches the cache's state (prefetch included) live here; the
records are in ``_records``, the breaker in ``_breaker`` and the stateless
cold helpers (flights, refresh workers, backoff, stale reporting) in
``_flight``.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping

from sekret._values import Secret, SecretValue
from sekret.backends.base import Backend, Capability
from sekret.cache._breaker import Breaker as _Breaker
from sekret.cache._flight import DaemonPool as _DaemonPool
from sekret.cache._flight import Flight as _Flight
from sekret.cache._flight import Negative as _Negative
from sekret.cache._flight import backoff, report_stale
from sekret.cache._flight import fresh_copy as _fresh_copy
from sekret.cache._flight import logger as _logger
from sekret.cache._flight import resolve_future as _resolve_future
from sekret.cache._flight import transient as _transient
from sekret.cache._records import CachePolicy as CachePolicy
from sekret.cache._records import CacheStats as CacheStats
from sekret.cache._records import HitStats as HitStats
from sekret.exceptions import (
    AccessDenied,
    BackendUnavailable,
    SecretNotFound,
    SekretError,
    VersionNotFound,
)

# typing, logging, random, contextvars load only when used: `Secrets(...)` stays cheap.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import asyncio

__all__ = ["CachePolicy", "CacheStats", "HitStats", "SecretCache"]


def _random() -> float:
    """``random.random()``, the module imported at the first jittered fill."""
    import random

    return random.random()  # noqa: S311 - TTL jitter, not a secret


Key = str | tuple[str, str | None, str | None]
"""The current version's key is the bare name (its hash is cached); else (name, version, stage)."""
Clock = Callable[[], float]
Spawn = Callable[[Callable[[], None]], object]
"""Runs a background job (a refresh) somewhere else; the default is a small daemon pool."""


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
        "seq",
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
        # lost but never counted twice. `used` is the last hit (or the fill): its change
        # since the entry was queued is the second-chance mark eviction reads.
        self.hits = 0
        self.drained = 0
        self.first = 0.0  # the first hit after the last drain
        self.used = refresh_at
        self.refreshing = False
        self.failures = 0
        self.failing_since = 0.0
        self.error: BaseException | None = None
        self.next_retry = float("-inf")
        self.seq = 0  # which fill of this key (kept across refills): tells live queue records


def _key(name: str, version: str | None, stage: str | None) -> Key:
    return name if version is None and stage is None else (name, version, stage)


def _name_of(key: Key) -> str:
    return key if isinstance(key, str) else key[0]


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
        rng: Callable[[], float] = _random,
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
        # The facades' hit path (see hot_path): short name -> the entry of the current
        # version of its full name, for the names a facade registered with ``alias``. Kept
        # equal to ``_entries`` under the lock: set on every fill, dropped with the entry.
        self._hot: dict[str, _Entry] = {}
        self._aliases: dict[str, str] = {}  # full name -> its short name in _hot
        # Eviction queue (second chance): (key, fill sequence, entry.used when queued), in
        # the order queued; a record whose entry left is dropped when it reaches the front.
        self._order: deque[tuple[Key, int, float]] = deque()
        self._fills = 0
        # Pinned versions/stages per name (the bare-name key is not listed: no set per name).
        self._variants: dict[str, set[Key]] = {}
        self._breaker = _Breaker(self.policy.breaker_failures, self.policy.breaker_cooldown)
        self._warned_prefetch = False
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
            if now < entry.refresh_at:  # a hit: nothing else happens here
                self._touch(entry, now)
                return entry.secret
            served = self._serve_aged(key, entry, now)
            if isinstance(served, _Flight):  # an expired value in hand: a short wait, then it
                if served.event.wait(self.policy.stale_wait or 0.0):
                    return served.result()
                return entry.secret
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
        text = self.hit_text(name)
        return text if text is not None else self.get(name).value.text()

    def hit_text(self, name: str) -> str | None:
        """The current version's text if it is a plain hit (no I/O, no wait), else None."""
        entry = self._entries.get(name)
        if entry is None:
            return None
        now = self._clock()
        if now >= entry.refresh_at:
            return None
        self._touch(entry, now)
        text = entry.text
        if text is None:
            text = entry.text = entry.secret.value.text()
        return text

    def hot_path(self) -> tuple[dict[str, _Entry], Clock]:
        """Entries by short name, and the clock: the facades' hit path, written out in ``get``.

        ``Secrets.get`` and ``AsyncSecrets.get`` answer a plain hit without a
        call: the entry under the short name (one dict lookup), a clock
        reading before its ``refresh_at``, then exactly what ``_touch`` does
        and the text decoded once into ``entry.text``. Anything else they hand
        to ``get_text`` / ``aget``. Only names registered with ``alias`` are
        there; the dict is never replaced.
        """
        return self._hot, self._clock

    def alias(self, full: str, short: str) -> None:
        """Serve the current version of ``full`` under ``short`` in ``hot_path``.

        A facade maps short names to full names one to one (a prefix), so a
        full name has at most one short name.
        """
        with self._lock:
            self._aliases[full] = short
            entry = self._entries.get(full)
            if entry is not None:
                self._hot[short] = entry

    def unalias(self, full: str) -> None:
        """Stop serving ``full`` under its short name (the facade forgot the name)."""
        with self._lock:
            short = self._aliases.pop(full, None)
            if short is not None:
                self._hot.pop(short, None)

    async def aget(
        self, name: str, *, version: str | None = None, stage: str | None = None
    ) -> Secret:
        """``get`` for asyncio: hits never leave the loop; one worker thread per backend read."""
        key = _key(name, version, stage)
        entry = self._entries.get(key)
        if entry is not None:
            now = self._clock()
            if now < entry.refresh_at:
                self._touch(entry, now)
                return entry.secret
            served = self._serve_aged(key, entry, now)
            if isinstance(served, _Flight):
                return await self._await_briefly(served, entry)
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
            import contextvars  # lazy: only a read from async code needs it

            run = functools.partial(self._run_fetch, key, flight)
            try:
                loop.run_in_executor(None, contextvars.copy_context().run, run)
            except BaseException as exc:  # e.g. the executor is shut down: free the waiters
                fut.cancel()  # this caller gets the error raised, not left unread in fut
                self._complete(key, flight, exc, counted=True)
                raise
        return await fut

    async def _await_briefly(self, flight: _Flight, entry: _Entry) -> Secret:
        """Wait up to ``stale_wait`` for a refresh in flight, else serve the held value."""
        import asyncio  # lazy: keeps `import sekret` light

        loop = asyncio.get_running_loop()
        fut: asyncio.Future[Secret] = loop.create_future()
        with self._lock:
            if not flight.done:
                flight.futures.append((loop, fut))
        if flight.done:
            return flight.result()
        done, _ = await asyncio.wait({fut}, timeout=self.policy.stale_wait or 0.0)
        if done:
            return fut.result()
        fut.cancel()  # the refresh goes on; its answer fills the cache, not this future
        return entry.secret

    @staticmethod
    def _touch(entry: _Entry, now: float) -> None:
        """Count a hit and mark the entry recently used (as the facades' inlined hit does)."""
        entry.used = now
        hits = entry.hits
        if hits == entry.drained:
            entry.first = now
        entry.hits = hits + 1

    def _serve_aged(self, key: Key, entry: _Entry, now: float) -> Secret | _Flight | None:
        """An entry past its refresh point: serve it (maybe refreshing), raise, or None: read.

        A ``Flight`` means: the entry is expired, a refresh was just started,
        and the caller may wait for it up to ``stale_wait`` before serving
        ``entry.secret``.
        """
        if now < entry.expires or (
            (entry.failures or entry.refreshing) and now < entry.stale_until
        ):
            self._touch(entry, now)
            if not entry.refreshing and not self._closed and self._retry_due(entry, now):
                self._start_refresh(key, entry)
            return entry.secret
        if now < entry.stale_until and self.policy.stale_wait is not None and not self._closed:
            # expired, idle, a value in hand: refresh, and let the caller wait a little
            self._touch(entry, now)
            if not self._breaker.allows(now):
                return entry.secret
            return self._start_refresh(key, entry) or entry.secret
        if entry.failures and (entry.refreshing or now < entry.next_retry):
            raise self._unavailable(_name_of(key), entry, now)
        return None  # past max_stale and nobody refreshing: the caller waits for a fresh read

    def _retry_due(self, entry: _Entry, now: float) -> bool:
        """Refresh now? Backoff decides while the breaker is closed, the breaker while open."""
        breaker = self._breaker
        if breaker.open_until is None:
            return now >= entry.next_retry
        return breaker.allows(now)  # open: only when its probe is due (from any entry)

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

    def _start_refresh(self, key: Key, entry: _Entry) -> _Flight | None:
        """Start one background refresh of ``entry``; its flight (None if one already runs)."""
        with self._lock:
            if entry.refreshing or self._entries.get(key) is not entry or key in self._flights:
                return None
            entry.refreshing = True
            flight = self._flights[key] = _Flight()
        try:
            self._spawn(functools.partial(self._run_fetch, key, flight))
        except Exception as exc:  # noqa: BLE001 - e.g. closed pool: counts as a failed refresh
            self._complete(key, flight, exc, counted=True)
        return flight

    def _run_fetch(self, key: Key, flight: _Flight) -> None:
        name, version, stage = (key, None, None) if isinstance(key, str) else key
        if not self._breaker.admit(self._clock()):
            self._complete(key, flight, self._refused(name), counted=True)
            return
        try:
            secret = self.backend.read(name, version=version, stage=stage)
        except BaseException as exc:
            self._complete(key, flight, exc)
            if not isinstance(exc, Exception):
                raise
            return
        self._complete(key, flight, secret)

    def _refused(self, name: str | None) -> BackendUnavailable:
        """The fast failure of a read the open breaker does not let through."""
        breaker = self._breaker
        exc = BackendUnavailable(
            f"the backend failed {breaker.failures} reads in a row; not calling it for "
            f"{breaker.retry_in(self._clock()):.1f}s more (circuit breaker open)"
            + (f"; secret {name!r}" if name else ""),
            name=name,
            backend=self.backend.describe(),
        )
        exc.__cause__ = breaker.last_error
        return exc

    def _record(self, result: Secret | BaseException | None, now: float) -> bool:
        """Tell the breaker how a backend call went; True when it ends an outage."""
        breaker = self._breaker
        if not isinstance(result, Exception) and not isinstance(result, Secret | None):
            breaker.abandon()  # e.g. KeyboardInterrupt: says nothing about the backend
            return False
        if isinstance(result, Exception) and _transient(result):
            if breaker.failed(now, result):
                _logger().warning(
                    "%s failed %d reads in a row (%s); circuit breaker open: reads that "
                    "need it fail fast, held values are served, one probe every %gs",
                    self.backend.describe(),
                    breaker.failures,
                    type(result).__name__,
                    breaker.cooldown,
                )
            return False
        was_open = breaker.open_until is not None
        recovered = breaker.succeeded()  # a value, a batch answer (None), not found, denied...
        if was_open and recovered:
            _logger().warning("%s answers again; circuit breaker closed", self.backend.describe())
        return recovered

    def _end_backoff(self) -> None:
        """After an outage: every failing entry may retry on its next use (lock held)."""
        for entry in self._entries.values():
            if entry.failures:
                entry.next_retry = float("-inf")

    # -- completing a read -------------------------------------------------
    def _complete(
        self, key: Key, flight: _Flight, result: Secret | BaseException, *, counted: bool = False
    ) -> None:
        """Record a read's result and hand it to every waiter (under the lock only briefly).

        ``counted``: the breaker already knows (a refused read), do not record it again.
        """
        now = self._clock()
        changed = False
        stale: tuple[BaseException, bool] | None = None
        outcome: Secret | BaseException = result
        recovered = False if counted else self._record(result, now)
        with self._lock:
            if recovered:
                self._end_backoff()
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
                entry.next_retry = now + backoff(self.policy, self._rng, entry.failures)
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
            try:  # noqa: SIM105 - contextlib is not worth its import here
                loop.call_soon_threadsafe(_resolve_future, fut, outcome)
            except RuntimeError:  # that loop is closed: nobody waits there
                pass
        if stale is not None:
            report_stale(_name_of(key), *stale, self.on_stale)
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
            entry.seq = old.seq
        else:
            self._fills += 1
            entry.seq = self._fills
            self._order.append((key, entry.seq, now))
            if not isinstance(key, str):
                self._variants.setdefault(key[0], set()).add(key)
        self._entries[key] = entry
        if isinstance(key, str):
            short = self._aliases.get(key)
            if short is not None:
                self._hot[short] = entry
        if len(self._order) > 2 * len(self._entries) + 64:  # O(1) amortised
            self._compact()
        self._negative.pop(key, None)
        changed = old is None or old.secret.value != secret.value
        if len(self._entries) > self.policy.max_size:
            self._evict(len(self._entries) - self.policy.max_size, keep=key)
            changed = True
        return changed

    def _evict(self, count: int, keep: Key) -> None:
        """Drop ``count`` entries by second chance (lock held).

        The front record is the entry queued longest ago: if the entry was
        read since (its ``used`` moved past the time in the record) it is
        queued again at the back with its mark cleared, otherwise it is
        evicted. A record left by an entry that has gone is discarded. Each
        hit causes at most one requeue, so a fill costs O(1) amortised.
        ``keep`` (the entry just filled) is never the one evicted.
        """
        order, entries = self._order, self._entries
        while count > 0 and order:
            key, seq, queued = order.popleft()
            entry = entries.get(key)
            if entry is None or entry.seq != seq:
                continue  # the entry left (or was filled again under a new record)
            if entry.used != queued or key == keep:
                order.append((key, seq, entry.used))  # read since it was queued: a second chance
                continue
            del entries[key]
            self._forget(key, entry)
            count -= 1

    def _compact(self) -> None:
        """Drop the queue records of entries that left, keeping the order (lock held)."""
        entries = self._entries

        def live(record: tuple[Key, int, float]) -> bool:
            entry = entries.get(record[0])
            return entry is not None and entry.seq == record[1]

        self._order = deque(filter(live, self._order))

    def _put_negative(self, key: Key, error: SecretNotFound, now: float) -> None:
        self._negative.pop(key, None)
        self._negative[key] = _Negative(error, now + self.policy.negative_ttl)
        while len(self._negative) > self.policy.max_size:
            del self._negative[next(iter(self._negative))]

    def _forget(self, key: Key, entry: _Entry) -> None:
        """Bookkeeping for an entry that left ``_entries`` (its queue record goes lazily)."""
        if isinstance(key, str):
            short = self._aliases.get(key)
            if short is not None:
                self._hot.pop(short, None)
        else:
            keys = self._variants.get(key[0])
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._variants[key[0]]
        self._take_hits(self._retired, _name_of(key), entry)

    def _drop_key(self, key: Key) -> bool:
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        self._forget(key, entry)
        return True

    def _drop_name(self, name: str, keep: Key | None = None) -> bool:
        changed = False
        for key in [name, *self._variants.get(name, ())]:
            if key != keep:
                changed = self._drop_key(key) or changed
        return changed

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
        flight are joined, not repeated. Asking for more names than
        ``max_size`` logs a warning (once per cache): only the last
        ``max_size`` stay cached.
        """
        wanted = list(dict.fromkeys(names))
        if len(wanted) > self.policy.max_size and not self._warned_prefetch:
            self._warned_prefetch = True
            _logger().warning(
                "prefetch of %d secrets into a cache of max_size=%d: only %d stay cached; "
                "raise CachePolicy.max_size to keep them all",
                len(wanted),
                self.policy.max_size,
                self.policy.max_size,
            )
        now = self._clock()
        cached: dict[str, Secret] = {}
        leaders: list[tuple[str, _Flight]] = []
        joined: list[tuple[str, _Flight]] = []
        with self._lock:
            for name in wanted:
                entry = self._entries.get(name)
                if entry is not None and now < entry.expires:
                    self._touch(entry, now)
                    cached[name] = entry.secret
                    continue
                flight = self._flights.get(name)
                if flight is None:
                    flight = self._flights[name] = _Flight()
                    leaders.append((name, flight))
                else:
                    joined.append((name, flight))
                flight.callers += 1
        if leaders:
            self._prefetch_read(leaders)
        flights = dict(leaders + joined)
        return {
            name: cached[name] if name in cached else self._answer(name, flights[name])
            for name in wanted
        }

    def _answer(self, name: str, flight: _Flight) -> Secret | SekretError:
        """What one prefetched name gave, as ``read_many`` reports it (errors as values)."""
        flight.event.wait()
        try:
            return flight.result()
        except SekretError as exc:
            return exc
        except Exception as exc:  # noqa: BLE001 - reported per name like read_many does
            err = BackendUnavailable(
                f"secret {name!r}: the backend failed ({type(exc).__name__})",
                name=name,
                backend=self.backend.describe(),
            )
            err.__cause__ = exc
            return err

    def _prefetch_read(self, leaders: list[tuple[str, _Flight]]) -> None:
        if Capability.BATCH_READ not in self.backend.capabilities:
            # Up to prefetch_concurrency threads, each taking the next name until none is
            # left (next() on a list iterator is atomic under the GIL).
            todo = iter(leaders)

            def work() -> None:
                for name, flight in todo:
                    self._run_fetch(name, flight)

            workers = [
                threading.Thread(target=work, name=f"sekret-prefetch-{i}", daemon=True)
                for i in range(min(self.policy.prefetch_concurrency, len(leaders)) - 1)
            ]
            for thread in workers:
                thread.start()
            work()  # this thread is one of the workers
            for thread in workers:
                thread.join()
            return
        if not self._breaker.admit(self._clock()):
            for name, flight in leaders:
                self._complete(name, flight, self._refused(name), counted=True)
            return
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
        if self._record(failure if not got else None, self._clock()):
            with self._lock:
                self._end_backoff()
        for name, flight in leaders:
            self._complete(name, flight, got.get(name, failure), counted=True)

    def close(self) -> None:
        """Stop background refreshes and forget every cached value; later reads are not cached."""
        with self._lock:
            self._closed = True
            changed = bool(self._entries)
            for key, entry in list(self._entries.items()):
                self._forget(key, entry)
            self._entries.clear()
            self._order.clear()
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
            except Exception:  # noqa: BLE001 - logged; a listener must not break the cache
                _logger().exception("cache listener %r failed", callback)

    def stats(self) -> CacheStats:
        """Sizes and reads in flight, for metrics."""
        with self._lock:
            return CacheStats(
                entries=len(self._entries),
                negative=len(self._negative),
                in_flight=len(self._flights),
                callers_waiting=sum(f.callers for f in self._flights.values()),
                breaker_open=self._breaker.open_until is not None,
                backend_failures=self._breaker.failures,
            )

    def __repr__(self) -> str:
        return f"<SecretCache {len(self._entries)} entries over {self.backend.describe()}>"
