"""The read cache: expiry, refresh-ahead, stale-if-error, single-flight, LRU, hooks.

Every time-dependent test drives a fake monotonic clock and runs background
refreshes by hand (``spawn=jobs.append``): nothing here sleeps for expiry.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, ClassVar

import pytest

from sekret import (
    AccessDenied,
    AsyncSecrets,
    BackendUnavailable,
    ConfigurationError,
    IntegrityError,
    InvalidSecretName,
    InvalidValue,
    Secret,
    SecretDeleted,
    SecretNotFound,
    Secrets,
    SecretValue,
    VersionNotFound,
)
from sekret._names import Namespace
from sekret.backends.base import Backend, Capability
from sekret.backends.memory import MemoryBackend
from sekret.cache import CachePolicy, CacheStats, HitStats, SecretCache
from sekret.cache._flight import Latch
from sekret.exceptions import SekretError
from sekret.testing import sentinel_value

NAME = "arrwdb/production/cohere-api-key"


class FakeClock:
    """A monotonic clock that moves only when told."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class FakeBackend(Backend):
    """Versioned values in a dict; counts reads; can be gated or made to fail."""

    scheme: ClassVar[str] = "fake"
    capabilities = Capability.READ | Capability.VERSIONS

    def __init__(self) -> None:
        self.values: dict[str, list[str]] = {}
        self.reads = 0
        self.batch_calls = 0
        self.fail: Callable[[], BaseException] | None = None
        self.gate: threading.Event | None = None
        self.gated: set[str] | None = None  # None: the gate holds every read
        self.entered = threading.Event()
        self.active = 0
        self.max_active = 0
        self._lock = threading.Lock()

    def set(self, name: str, value: str) -> None:
        self.values.setdefault(name, []).append(value)

    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        with self._lock:
            self.reads += 1
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            versions = list(self.values.get(name, ()))  # what the read sees, before the gate
            self.entered.set()
            if self.gate is not None and (self.gated is None or name in self.gated):
                assert self.gate.wait(30), "the test never opened the gate"
            if self.fail is not None:
                raise self.fail()
            if not versions:
                raise SecretNotFound(f"secret {name!r} not found", name=name)
            index = len(versions) if version is None else int(version)
            if not 1 <= index <= len(versions):
                raise VersionNotFound(f"secret {name!r} has no version {version!r}", name=name)
            stages = frozenset({"current"}) if index == len(versions) else frozenset()
            return Secret(name, str(index), SecretValue.of(versions[index - 1]), stages)
        finally:
            with self._lock:
                self.active -= 1


class BatchBackend(FakeBackend):
    """A FakeBackend that declares a batch read."""

    capabilities = FakeBackend.capabilities | Capability.BATCH_READ

    def read_many(self, names: Sequence[str]) -> dict[str, Secret | SekretError]:
        self.batch_calls += 1
        out: dict[str, Secret | SekretError] = {}
        for name in names:
            versions = self.values.get(name)
            if versions:
                out[name] = Secret(name, str(len(versions)), SecretValue.of(versions[-1]))
            else:
                out[name] = SecretNotFound(f"secret {name!r} not found", name=name)
        return out


def down() -> BaseException:
    return BackendUnavailable("connection refused", backend="fake://")


class Jobs(list[Callable[[], None]]):
    """Background work collected instead of run; ``run()`` runs what is queued."""

    def run(self) -> int:
        count = 0
        while self:
            self.pop(0)()
            count += 1
        return count


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend()


@pytest.fixture
def jobs() -> Jobs:
    return Jobs()


def make(backend: Backend, clock: FakeClock, jobs: Jobs, **policy: Any) -> SecretCache:
    options: dict[str, Any] = {"ttl": 100.0, "jitter": 0.0, "max_stale": 1000.0}
    options.setdefault("stale_wait", None)  # the caller reads an expired entry itself
    options.update(policy)
    return SecretCache(
        backend, CachePolicy(**options), clock=clock, spawn=jobs.append, rng=lambda: 0.0
    )


@pytest.fixture
def cache(backend: FakeBackend, clock: FakeClock, jobs: Jobs) -> Iterator[SecretCache]:
    c = make(backend, clock, jobs)
    yield c
    c.close()


# -- expiry and keys ---------------------------------------------------------
def test_hit_does_not_touch_the_backend(cache: SecretCache, backend: FakeBackend) -> None:
    """A second read inside the TTL is answered from memory."""
    value = sentinel_value()
    backend.set(NAME, value)
    assert cache.get(NAME).value.text() == value
    assert cache.get(NAME).value.text() == value
    assert backend.reads == 1


def test_expiry_reads_again_after_the_ttl(
    cache: SecretCache, backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """Past its TTL an entry is read again and the new value is served."""
    backend.set(NAME, "one")
    cache.get(NAME)
    backend.set(NAME, "two")
    clock.advance(79.9)
    assert cache.get(NAME).value.text() == "one"
    clock.advance(20.2)
    assert cache.get(NAME).value.text() == "two"
    assert backend.reads == 2
    assert not jobs


def test_version_and_current_never_share_a_slot(cache: SecretCache, backend: FakeBackend) -> None:
    """Version "1" and the current version are cached separately."""
    backend.set(NAME, "one")
    backend.set(NAME, "two")
    assert cache.get(NAME, version="1").value.text() == "one"
    assert cache.get(NAME).value.text() == "two"
    assert cache.get(NAME, version="1").value.text() == "one"
    assert backend.reads == 2


def test_per_secret_ttl_overrides_the_default(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """per_secret_ttl sets a full name's TTL; other names keep the default."""
    cache = make(backend, clock, jobs, per_secret_ttl={NAME: 10.0}, refresh_ratio=1.0)
    backend.set(NAME, "a")
    backend.set("other/x", "b")
    cache.get(NAME)
    cache.get("other/x")
    clock.advance(11)
    cache.get(NAME)
    cache.get("other/x")
    assert backend.reads == 3


def test_jitter_shortens_the_ttl_by_at_most_its_fraction(
    backend: FakeBackend, clock: FakeClock
) -> None:
    """With jitter 0.2 and the largest draw, the TTL is 80% of the configured one."""
    policy = CachePolicy(ttl=100.0, jitter=0.2, refresh_ratio=1.0, stale_wait=None)
    cache = SecretCache(backend, policy, clock=clock, spawn=Jobs().append, rng=lambda: 0.999)
    backend.set(NAME, "v")
    cache.get(NAME)
    clock.advance(79.0)
    cache.get(NAME)
    assert backend.reads == 1
    clock.advance(1.1)
    cache.get(NAME)
    assert backend.reads == 2


def test_policy_rejects_out_of_range_settings() -> None:
    """A negative TTL or an empty cache is a ConfigurationError naming the field."""
    with pytest.raises(ConfigurationError, match="ttl"):
        CachePolicy(ttl=-1)
    with pytest.raises(ConfigurationError, match="max_size"):
        CachePolicy(max_size=0)
    with pytest.raises(ConfigurationError, match="per_secret_ttl"):
        CachePolicy(per_secret_ttl={NAME: -5})


# -- refresh-ahead -------------------------------------------------------------
def test_refresh_ahead_serves_the_current_value_while_one_job_refreshes(
    cache: SecretCache, backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """Past 80% of the TTL callers get the cached value and one background read starts."""
    backend.set(NAME, "one")
    cache.get(NAME)
    backend.set(NAME, "two")
    clock.advance(85)
    for _ in range(5):
        assert cache.get(NAME).value.text() == "one"
    assert len(jobs) == 1
    assert backend.reads == 1
    jobs.run()
    assert backend.reads == 2
    assert cache.get(NAME).value.text() == "two"
    clock.advance(50)  # the refreshed entry has a new TTL
    assert cache.get(NAME).value.text() == "two"
    assert not jobs


def test_caller_past_expiry_does_not_wait_for_a_running_refresh(
    cache: SecretCache, backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """Past expiry, while the refresh-ahead job runs, callers still get the held value."""
    backend.set(NAME, "one")
    cache.get(NAME)
    backend.set(NAME, "two")
    clock.advance(85)
    cache.get(NAME)
    clock.advance(20)  # now expired, the refresh still queued
    assert cache.get(NAME).value.text() == "one"
    assert backend.reads == 1
    jobs.run()
    assert cache.get(NAME).value.text() == "two"
    assert backend.reads == 2


def test_expired_entry_nobody_refreshed_is_read_by_the_caller(
    cache: SecretCache, backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """An entry not read during its refresh window is read synchronously once expired."""
    backend.set(NAME, "one")
    cache.get(NAME)
    backend.set(NAME, "two")
    clock.advance(101)
    assert cache.get(NAME).value.text() == "two"
    assert not jobs


# -- stale-if-error ------------------------------------------------------------
def test_stale_if_error_serves_the_old_value_and_reports_it(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs, caplog: pytest.LogCaptureFixture
) -> None:
    """A failed refresh keeps the value, logs a warning without it and calls on_stale."""
    seen: list[tuple[str, BaseException]] = []
    cache = SecretCache(
        backend,
        CachePolicy(ttl=100, jitter=0, max_stale=1000, retry_base=10, retry_max=40),
        clock=clock,
        spawn=jobs.append,
        rng=lambda: 0.999,
        on_stale=lambda name, error: seen.append((name, error)),
    )
    value = sentinel_value()
    backend.set(NAME, value)
    cache.get(NAME)
    backend.fail = down
    clock.advance(85)
    with caplog.at_level(logging.WARNING, logger="sekret.cache"):
        assert cache.get(NAME).value.text() == value
        jobs.run()
    assert [n for n, _ in seen] == [NAME]
    assert isinstance(seen[0][1], BackendUnavailable)
    assert NAME in caplog.text
    assert value not in caplog.text
    clock.advance(50)  # past expiry: still served, from the stale entry
    assert cache.get(NAME).value.text() == value


def test_retries_back_off_exponentially(backend: FakeBackend, clock: FakeClock, jobs: Jobs) -> None:
    """Refresh attempts against a dead backend are spaced 10, 20, 40, 40 s (capped)."""
    cache = SecretCache(
        backend,
        CachePolicy(
            ttl=100, jitter=0, max_stale=10_000, retry_base=10, retry_max=40, breaker_failures=0
        ),
        clock=clock,
        spawn=jobs.append,
        rng=lambda: 0.999999,
    )
    backend.set(NAME, "v")
    cache.get(NAME)
    backend.fail = down
    clock.advance(80)
    attempts: list[float] = []
    for _ in range(1500):  # read every 0.1 s for 150 s
        cache.get(NAME)
        if jobs.run():
            attempts.append(clock.now)
        clock.advance(0.1)
    gaps = [round(b - a) for a, b in itertools.pairwise(attempts)]
    assert gaps[:4] == [10, 20, 40, 40]
    assert backend.reads == 1 + len(attempts)


def test_after_max_stale_reads_raise_backend_unavailable_from_the_last_error(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """Past expiry + max_stale the old value is no longer served."""
    cache = make(backend, clock, jobs, max_stale=50, retry_base=5, retry_max=5)
    value = sentinel_value()
    backend.set(NAME, value)
    cache.get(NAME)
    backend.fail = down
    clock.advance(85)
    cache.get(NAME)
    jobs.run()
    clock.advance(60)  # t=145: expired (100) and within max_stale (150)
    assert cache.get(NAME).value.text() == value
    jobs.run()
    clock.advance(10)  # t=155: past max_stale
    with pytest.raises(BackendUnavailable) as info:
        cache.get(NAME)
    assert isinstance(info.value.__cause__, BackendUnavailable)
    assert info.value.__cause__ is not info.value
    assert "max_stale" in str(info.value)
    assert value not in str(info.value)


def test_backend_down_during_refresh_then_back(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """Old value while down; BackendUnavailable after max_stale; the next refresh recovers."""
    cache = make(backend, clock, jobs, max_stale=50, retry_base=5, retry_max=5)
    backend.set(NAME, "old")
    cache.get(NAME)
    backend.fail = down
    clock.advance(75)
    for _ in range(14):  # t = 1080 .. 1145: every read gets the old value
        clock.advance(5)
        assert cache.get(NAME).value.text() == "old"
        jobs.run()
    clock.advance(10)  # t = 1155: past expiry (1100) + max_stale (50)
    with pytest.raises(BackendUnavailable):
        cache.get(NAME)
    backend.fail = None
    backend.set(NAME, "new")
    clock.advance(10)  # backoff over: this read is the next refresh
    assert cache.get(NAME).value.text() == "new"
    clock.advance(50)
    assert cache.get(NAME).value.text() == "new"


def test_access_denied_is_never_served_stale(
    cache: SecretCache, backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """A refresh answered with AccessDenied drops the value at once."""
    backend.set(NAME, sentinel_value())
    cache.get(NAME)
    backend.fail = lambda: AccessDenied("denied", name=NAME)
    clock.advance(85)
    cache.get(NAME)
    jobs.run()
    assert cache.held_values() == []
    with pytest.raises(AccessDenied):
        cache.get(NAME)


def test_deleted_secret_stops_being_served(
    cache: SecretCache, backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """A refresh that finds the secret deleted drops every cached version of it."""
    backend.set(NAME, "one")
    backend.set(NAME, "two")
    cache.get(NAME)
    cache.get(NAME, version="1")
    backend.fail = lambda: SecretDeleted("deleted", name=NAME)
    clock.advance(85)
    cache.get(NAME)
    jobs.run()
    with pytest.raises(SecretDeleted):
        cache.get(NAME)
    assert cache.stats().entries == 0


def test_integrity_error_drops_the_entry(
    cache: SecretCache, backend: FakeBackend, clock: FakeClock
) -> None:
    """A non-transient error on an expired entry is raised, never covered by the old value."""
    backend.set(NAME, "v")
    cache.get(NAME)
    backend.fail = lambda: IntegrityError("corrupt")
    clock.advance(101)
    with pytest.raises(IntegrityError):
        cache.get(NAME)
    assert cache.stats().entries == 0


# -- negative cache ------------------------------------------------------------
def test_not_found_is_cached_for_negative_ttl(
    cache: SecretCache, backend: FakeBackend, clock: FakeClock
) -> None:
    """A missing secret is not re-read for negative_ttl seconds, then it is."""
    for _ in range(3):
        with pytest.raises(SecretNotFound):
            cache.get(NAME)
    assert backend.reads == 1
    backend.set(NAME, "now-here")
    clock.advance(5.1)
    assert cache.get(NAME).value.text() == "now-here"
    assert backend.reads == 2


def test_cached_not_found_does_not_grow_a_traceback(cache: SecretCache) -> None:
    """Each raise from the negative cache is a fresh copy of the error."""
    errors = []
    for _ in range(3):
        with pytest.raises(SecretNotFound) as info:
            cache.get(NAME)
        errors.append(info.value)
    assert errors[1] is not errors[2]
    assert errors[2].name == NAME


def test_other_errors_are_not_cached(cache: SecretCache, backend: FakeBackend) -> None:
    """A failed read of a missing entry is raised and the next read tries again."""
    backend.fail = down
    for _ in range(2):
        with pytest.raises(BackendUnavailable):
            cache.get(NAME)
    assert backend.reads == 2


# -- size bound and invalidation ---------------------------------------------
def test_lru_evicts_the_least_recently_used(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """With max_size 2, the entry not read longest is evicted."""
    cache = make(backend, clock, jobs, max_size=2)
    for n in ("a/1", "a/2", "a/3"):
        backend.set(n, n)
    cache.get("a/1")
    clock.advance(1)
    cache.get("a/2")
    clock.advance(1)
    cache.get("a/1")  # a/2 is now the least recently used
    clock.advance(1)
    cache.get("a/3")
    assert backend.reads == 3
    cache.get("a/1")
    cache.get("a/3")
    assert backend.reads == 3
    cache.get("a/2")
    assert backend.reads == 4
    assert cache.stats().entries == 2


def test_eviction_gives_an_entry_read_since_it_was_queued_a_second_chance(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """CLOCK order: the first unread entry in fill order goes; read ones are requeued."""
    cache = make(backend, clock, jobs, max_size=3)
    for n in ("a/1", "a/2", "a/3", "a/4", "a/5"):
        backend.set(n, n)
    for n in ("a/1", "a/2", "a/3"):
        cache.get(n)
        clock.advance(1)
    cache.get("a/2")  # queue a/1 a/2* a/3: a/1 was never read again
    clock.advance(1)
    cache.get("a/4")  # evicts a/1
    cache.get("a/1")
    assert backend.reads == 5
    # filling a/1 requeued a/2 (read since queued, mark cleared) and evicted a/3 (unread);
    # the queue is now a/4 a/1 a/2
    reads = backend.reads
    cache.get("a/2")
    cache.get("a/4")
    cache.get("a/1")
    assert backend.reads == reads
    cache.get("a/3")
    assert backend.reads == reads + 1


def test_a_hit_leaves_the_eviction_queue_alone(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """Hits only stamp their entry: the queue's records and order are not touched."""
    cache = make(backend, clock, jobs, max_size=4)
    for n in ("q/1", "q/2", "q/3"):
        backend.set(n, n)
        cache.get(n)
    before = list(cache._order)
    clock.advance(1)
    for n in ("q/3", "q/1", "q/2", "q/1"):
        cache.get(n)
        cache.get_text(n)
    assert list(cache._order) == before
    assert cache.stats().entries == 3


class CountingDeque(deque[tuple[object, int, float]]):
    """A deque that counts the records eviction takes from its front."""

    pops = 0

    def popleft(self) -> tuple[object, int, float]:
        CountingDeque.pops += 1
        return super().popleft()


def test_eviction_work_per_fill_does_not_grow_with_max_size(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """Each fill looks at no more queue records than one plus the hits since the last fill."""
    for size in (16, 4096):
        cache = make(backend, clock, jobs, max_size=size)
        cache._order = CountingDeque(cache._order)
        CountingDeque.pops = 0
        backend.set("hot/x", "h")
        fills = hits = 0
        for i in range(3 * size):
            backend.set(f"n/{i}", "v")
            cache.get(f"n/{i}")
            fills += 1
            clock.advance(0.001)
            cache.get("hot/x")
            hits += 1
        assert cache.stats().entries == size
        assert CountingDeque.pops <= fills + hits
        cache.get("hot/x")  # read all along: never evicted
        assert backend.reads == fills + 1
        backend.reads = 0


def test_invalidate_drops_every_version_and_stage(cache: SecretCache, backend: FakeBackend) -> None:
    """invalidate(name) forgets current, pinned versions and stages of that name only."""
    backend.set(NAME, "one")
    backend.set(NAME, "two")
    backend.set("other/x", "x")
    cache.get(NAME)
    cache.get(NAME, version="1")
    cache.get(NAME, stage="current")
    cache.get("other/x")
    cache.invalidate(NAME)
    assert cache.stats().entries == 1
    cache.get(NAME)
    cache.get(NAME, version="1")
    cache.get("other/x")
    assert backend.reads == 6


def test_invalidate_during_a_read_keeps_its_answer_out_of_the_cache(
    cache: SecretCache, backend: FakeBackend
) -> None:
    """A read that started before a write does not fill the cache with the old value."""
    backend.set(NAME, "old")
    backend.gate = threading.Event()
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(cache.get(NAME).value.text()))
    reader.start()
    assert backend.entered.wait(10)
    backend.set(NAME, "new")
    cache.invalidate(NAME)
    backend.gate.set()
    reader.join(10)
    assert got == ["old"]
    assert cache.get(NAME).value.text() == "new"


def test_refresh_rereads_now_and_replaces_every_version(
    cache: SecretCache, backend: FakeBackend
) -> None:
    """refresh() reads the backend even on a fresh entry and drops other slots of the name."""
    backend.set(NAME, "one")
    cache.get(NAME)
    cache.get(NAME, version="1")
    backend.set(NAME, "two")
    assert cache.refresh(NAME).value.text() == "two"
    assert cache.get(NAME).value.text() == "two"
    assert cache.stats().entries == 1
    assert backend.reads == 3


def test_refresh_raises_when_down_and_keeps_the_old_value(
    cache: SecretCache, backend: FakeBackend
) -> None:
    """An explicit refresh reports the error; cached reads still work."""
    backend.set(NAME, "one")
    cache.get(NAME)
    backend.fail = down
    with pytest.raises(BackendUnavailable):
        cache.refresh(NAME)
    assert cache.get(NAME).value.text() == "one"


# -- the facade invalidates on write -------------------------------------------
@pytest.fixture
def facade(clock: FakeClock) -> Iterator[tuple[Secrets, MemoryBackend]]:
    backend = MemoryBackend()
    with Secrets(backend, app="arrwdb", environment="production", clock=clock) as s:
        yield s, backend


def test_put_invalidates(facade: tuple[Secrets, MemoryBackend]) -> None:
    """A put through the same Secrets is visible at once, despite the TTL."""
    s, _ = facade
    s.put("k", "one")
    assert s.get("k") == "one"
    s.put("k", "two")
    assert s.get("k") == "two"


def test_rollback_invalidates(facade: tuple[Secrets, MemoryBackend]) -> None:
    """rollback makes the previous value current for cached readers too."""
    s, _ = facade
    s.put("k", "one")
    s.put("k", "two")
    assert s.get("k") == "two"
    s.rollback("k")
    assert s.get("k") == "one"


def test_delete_invalidates(facade: tuple[Secrets, MemoryBackend]) -> None:
    """A deleted secret is not served from the cache."""
    s, _ = facade
    s.put("k", "one")
    assert s.get("k") == "one"
    s.delete("k")
    with pytest.raises(SecretDeleted):
        s.get("k")


def test_writes_elsewhere_are_seen_after_the_ttl(
    facade: tuple[Secrets, MemoryBackend], clock: FakeClock
) -> None:
    """A write that bypasses this Secrets shows up once the entry expires."""
    s, backend = facade
    s.put("k", "one")
    assert s.get("k") == "one"
    backend.write(s.full_name("k"), SecretValue.of("two"))
    assert s.get("k") == "one"
    clock.advance(301)
    assert s.get("k") == "two"


def test_facade_refresh_and_invalidate(facade: tuple[Secrets, MemoryBackend]) -> None:
    """Secrets.refresh and Secrets.invalidate reach the cache by short name."""
    s, backend = facade
    s.put("k", "one")
    s.get("k")
    backend.write(s.full_name("k"), SecretValue.of("two"))
    assert s.refresh("k").value.text() == "two"
    backend.write(s.full_name("k"), SecretValue.of("three"))
    s.invalidate("k")
    assert s.get("k") == "three"


# -- what audit and redaction build on ------------------------------------------
def test_drain_hits_counts_per_name_and_resets(
    cache: SecretCache, backend: FakeBackend, clock: FakeClock
) -> None:
    """Hits (not misses) are counted per full name with first/last clock readings."""
    backend.set(NAME, "a")
    backend.set("other/x", "b")
    cache.get(NAME)  # a miss
    clock.advance(1)
    cache.get(NAME)
    clock.advance(1)
    cache.get(NAME, version="1")  # a miss of another slot of the same name
    cache.get(NAME, version="1")
    clock.advance(1)
    cache.get(NAME)
    assert cache.drain_hits() == {NAME: HitStats(3, 1001.0, 1003.0)}
    assert cache.clock is clock  # the audit reads HitStats times against this clock
    assert cache.drain_hits() == {}
    cache.get("other/x")
    cache.get("other/x")
    cache.invalidate("other/x")  # hits of dropped entries are kept for the next drain
    assert cache.drain_hits() == {"other/x": HitStats(1, 1003.0, 1003.0)}


def test_held_values_and_listeners(backend: FakeBackend, clock: FakeClock, jobs: Jobs) -> None:
    """Listeners hear fills, changed refreshes, evictions and invalidations; never hits."""
    cache = make(backend, clock, jobs, max_size=1)
    calls: list[int] = []
    cache.add_listener(lambda: calls.append(len(cache.held_values())))
    first, second = sentinel_value(), sentinel_value()
    backend.set(NAME, first)
    cache.get(NAME)
    assert calls == [1]
    assert cache.held_values() == [SecretValue.of(first)]
    cache.get(NAME)
    assert calls == [1]  # a hit
    clock.advance(85)
    cache.get(NAME)
    jobs.run()  # refreshed to the same value: nothing changed
    assert calls == [1]
    backend.set(NAME, second)
    clock.advance(85)
    cache.get(NAME)
    jobs.run()
    assert calls == [1, 1]
    assert cache.held_values() == [SecretValue.of(second)]
    backend.set("other/x", "x")
    cache.get("other/x")  # evicts NAME
    assert calls == [1, 1, 1]
    cache.invalidate("other/x")
    assert calls == [1, 1, 1, 0]
    assert cache.held_values() == []


def test_a_failing_listener_does_not_break_reads(
    cache: SecretCache, backend: FakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """A listener that raises is logged; the read still returns."""

    def broken() -> None:
        raise RuntimeError("listener bug")

    cache.add_listener(broken)
    backend.set(NAME, "v")
    with caplog.at_level(logging.ERROR, logger="sekret.cache"):
        assert cache.get(NAME).value.text() == "v"
    assert "listener" in caplog.text


# -- prefetch ------------------------------------------------------------------
def test_prefetch_uses_one_batch_read(clock: FakeClock, jobs: Jobs) -> None:
    """On a BATCH_READ backend, 100 names take one read_many call and fill the cache."""
    backend = BatchBackend()
    names = [f"app/env/s{i}" for i in range(100)]
    for n in names:
        backend.set(n, n)
    cache = make(backend, clock, jobs)
    got = cache.prefetch([*names, "app/env/missing"])
    assert backend.batch_calls == 1
    assert backend.reads == 0
    assert isinstance(got["app/env/missing"], SecretNotFound)
    assert all(isinstance(got[n], Secret) for n in names)
    assert cache.get(names[5]).value.text() == names[5]
    assert backend.reads == 0
    with pytest.raises(SecretNotFound):
        cache.get("app/env/missing")  # answered by the negative cache
    assert backend.reads == 0


def test_prefetch_without_batch_read_runs_bounded_concurrency(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """Without BATCH_READ, reads run in parallel but never more than prefetch_concurrency."""
    cache = make(backend, clock, jobs, prefetch_concurrency=4)
    names = [f"app/env/s{i}" for i in range(20)]
    for n in names:
        backend.set(n, n)
    cache.get(names[0])
    got = cache.prefetch(names)
    assert backend.reads == 20
    assert 1 <= backend.max_active <= 4
    assert [got[n].value.text() for n in names if isinstance(got[n], Secret)] == names


def test_facade_get_many_goes_through_prefetch(facade: tuple[Secrets, MemoryBackend]) -> None:
    """Secrets.get_many returns short names and warms the cache."""
    s, _ = facade
    s.put("a", "1")
    s.put("b", "2")
    got = s.get_many(["a", "b", "c"])
    assert {k: type(v).__name__ for k, v in got.items()} == {
        "a": "Secret",
        "b": "Secret",
        "c": "SecretNotFound",
    }


# -- herds -------------------------------------------------------------------
HERD = 200


def wait_for_callers(cache: SecretCache, count: int) -> None:
    """Block until ``count`` callers wait on reads in flight (polls, bounded)."""
    stop = threading.Event()
    for _ in range(20_000):
        if cache.stats().callers_waiting >= count:
            return
        stop.wait(0.001)
    raise AssertionError(f"only {cache.stats().callers_waiting} of {count} callers arrived")


def thread_herd(cache: SecretCache, count: int) -> tuple[list[threading.Thread], list[object]]:
    results: list[object] = []
    lock = threading.Lock()

    def call() -> None:
        try:
            got: object = cache.get(NAME).value.text()
        except Exception as exc:
            got = exc
        with lock:
            results.append(got)

    threads = [threading.Thread(target=call) for _ in range(count)]
    for t in threads:
        t.start()
    return threads, results


def test_thread_herd_makes_one_backend_read(cache: SecretCache, backend: FakeBackend) -> None:
    """200 threads asking for one cold key cause exactly one backend read."""
    value = sentinel_value()
    backend.set(NAME, value)
    backend.gate = threading.Event()
    threads, results = thread_herd(cache, HERD)
    wait_for_callers(cache, HERD)
    backend.gate.set()
    for t in threads:
        t.join(30)
    assert backend.reads == 1
    assert results == [value] * HERD


def test_async_herd_makes_one_backend_read_on_one_worker_thread(
    cache: SecretCache, backend: FakeBackend
) -> None:
    """200 tasks on one cold key: one read, and waiting tasks hold no worker thread."""
    value = sentinel_value()
    backend.set(NAME, value)
    backend.gate = threading.Event()

    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=1))
        tasks = [asyncio.create_task(cache.aget(NAME)) for _ in range(HERD)]
        for _ in range(10_000):
            if cache.stats().callers_waiting >= HERD:
                break
            await asyncio.sleep(0)
        assert cache.stats().callers_waiting == HERD
        assert backend.gate is not None
        backend.gate.set()
        return [s.value.text() for s in await asyncio.gather(*tasks)]

    assert asyncio.run(main()) == [value] * HERD
    assert backend.reads == 1


def test_mixed_herd_of_threads_and_tasks(cache: SecretCache, backend: FakeBackend) -> None:
    """100 threads and 100 tasks on one cold key share one backend read."""
    value = sentinel_value()
    backend.set(NAME, value)
    backend.gate = threading.Event()
    threads, results = thread_herd(cache, HERD // 2)

    async def main() -> list[str]:
        tasks = [asyncio.create_task(cache.aget(NAME)) for _ in range(HERD // 2)]
        for _ in range(20_000):
            if cache.stats().callers_waiting >= HERD:
                break
            await asyncio.sleep(0.0005)
        assert cache.stats().callers_waiting == HERD
        assert backend.gate is not None
        backend.gate.set()
        return [s.value.text() for s in await asyncio.gather(*tasks)]

    assert asyncio.run(main()) == [value] * (HERD // 2)
    for t in threads:
        t.join(30)
    assert results == [value] * (HERD // 2)
    assert backend.reads == 1


def test_failing_read_reaches_every_waiter_and_is_not_cached(
    cache: SecretCache, backend: FakeBackend
) -> None:
    """When the one shared read fails, every thread and task gets the error; nothing is kept."""
    backend.set(NAME, "v")
    backend.gate = threading.Event()
    backend.fail = down
    threads, results = thread_herd(cache, HERD // 2)

    async def main() -> list[BaseException | Secret]:
        tasks = [asyncio.create_task(cache.aget(NAME)) for _ in range(HERD // 2)]
        for _ in range(20_000):
            if cache.stats().callers_waiting >= HERD:
                break
            await asyncio.sleep(0.0005)
        assert backend.gate is not None
        backend.gate.set()
        return await asyncio.gather(*tasks, return_exceptions=True)

    async_results = asyncio.run(main())
    for t in threads:
        t.join(30)
    assert backend.reads == 1
    assert all(isinstance(r, BackendUnavailable) for r in [*results, *async_results])
    assert cache.stats().entries == 0
    backend.fail = None
    backend.gate = None
    assert cache.get(NAME).value.text() == "v"
    assert backend.reads == 2


def test_different_keys_do_not_wait_for_each_other(
    cache: SecretCache, backend: FakeBackend
) -> None:
    """While one key's read is stuck, other keys are read and hit normally."""
    backend.set(NAME, "slow")
    backend.set("other/x", "x")
    backend.set("other/y", "y")
    cache.get("other/y")
    backend.gate = threading.Event()
    backend.gated = {NAME}
    slow = threading.Thread(target=cache.get, args=(NAME,))
    slow.start()
    assert backend.entered.wait(10)
    assert cache.get("other/x").value.text() == "x"
    assert cache.get("other/y").value.text() == "y"
    assert slow.is_alive()
    backend.gate.set()
    slow.join(10)
    assert not slow.is_alive()


# -- async -----------------------------------------------------------------------
def test_aget_hits_stay_on_the_event_loop(cache: SecretCache, backend: FakeBackend) -> None:
    """Cached async reads return without a worker thread."""
    backend.set(NAME, "v")
    cache.get(NAME)

    async def main() -> str:
        loop = asyncio.get_running_loop()

        class NoThreads(ThreadPoolExecutor):
            def submit(self, *args: Any, **kwargs: Any) -> Any:
                raise AssertionError("a cache hit used a worker thread")

        loop.set_default_executor(NoThreads())
        return (await cache.aget(NAME)).value.text()

    assert asyncio.run(main()) == "v"


def test_aget_serves_stale_and_raises_cached_not_found(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """aget follows the same rules as get: stale-if-error, negative cache."""
    cache = make(backend, clock, jobs)
    backend.set(NAME, "v")

    async def main() -> None:
        assert (await cache.aget(NAME)).value.text() == "v"
        backend.fail = down
        clock.advance(85)
        assert (await cache.aget(NAME)).value.text() == "v"
        jobs.run()
        clock.advance(50)
        assert (await cache.aget(NAME)).value.text() == "v"
        backend.fail = None
        with pytest.raises(SecretNotFound):
            await cache.aget("missing/x")
        with pytest.raises(SecretNotFound):
            await cache.aget("missing/x")

    asyncio.run(main())
    assert backend.reads == 3


# -- background pool and lifecycle ------------------------------------------------
def test_default_pool_refreshes_in_a_daemon_thread(backend: FakeBackend, clock: FakeClock) -> None:
    """Without an injected spawn, refresh-ahead runs on a daemon thread."""
    cache = SecretCache(backend, CachePolicy(ttl=100, jitter=0), clock=clock)
    backend.set(NAME, "one")
    cache.get(NAME)
    backend.set(NAME, "two")
    done = threading.Event()
    cache.add_listener(done.set)
    threads: list[threading.Thread] = []
    backend.entered.clear()
    clock.advance(85)
    assert cache.get(NAME).value.text() == "one"
    assert done.wait(10)
    threads = [t for t in threading.enumerate() if t.name.startswith("sekret-refresh")]
    assert threads
    assert all(t.daemon for t in threads)
    assert cache.get(NAME).value.text() == "two"
    cache.close()
    for t in threads:
        t.join(5)
        assert not t.is_alive()


def test_close_forgets_values(cache: SecretCache, backend: FakeBackend) -> None:
    """close() drops every held value."""
    backend.set(NAME, sentinel_value())
    cache.get(NAME)
    cache.close()
    assert cache.held_values() == []


def test_repr_shows_no_value(cache: SecretCache, backend: FakeBackend) -> None:
    """The cache's repr names the backend and size, never a value."""
    value = sentinel_value()
    backend.set(NAME, value)
    cache.get(NAME)
    assert value not in repr(cache)
    assert "1 entries" in repr(cache)


def test_reads_after_close_are_not_cached(cache: SecretCache, backend: FakeBackend) -> None:
    """After close() every read goes to the backend and nothing is held."""
    backend.set(NAME, "v")
    cache.close()
    assert cache.get(NAME).value.text() == "v"
    assert cache.get(NAME).value.text() == "v"
    assert backend.reads == 2
    assert cache.held_values() == []


def test_get_text_matches_get(cache: SecretCache, backend: FakeBackend) -> None:
    """get_text returns the text of get(), and raises InvalidValue for binary values."""
    backend.set(NAME, "text-value")
    assert cache.get_text(NAME) == "text-value"
    assert cache.get_text(NAME) == cache.get(NAME).value.text()
    bin_backend = MemoryBackend()
    bin_backend.write("a/bin", SecretValue.of(b"\xff\xfe"))
    bin_cache = SecretCache(bin_backend, CachePolicy())
    with pytest.raises(InvalidValue):
        bin_cache.get_text("a/bin")
    with pytest.raises(InvalidValue):
        bin_cache.get_text("a/bin")
    bin_cache.close()


def test_facade_get_fast_path_keeps_get_semantics(facade: tuple[Secrets, MemoryBackend]) -> None:
    """Secrets.get on a hit returns text; binary values still raise InvalidValue."""
    s, _ = facade
    s.put("text", "hello")
    s.put("blob", b"\xff\x00")
    assert s.get("text") == "hello"
    assert s.get("text") == "hello"
    with pytest.raises(InvalidValue):
        s.get("blob")
    assert s.get_bytes("blob") == b"\xff\x00"
    with pytest.raises(InvalidSecretName):
        s.get("../escape")


def test_concurrent_reads_invalidations_and_refreshes_stay_consistent(
    backend: FakeBackend,
) -> None:
    """Threads mixing get, aget, invalidate, refresh and drain never error or deadlock."""
    cache = SecretCache(backend, CachePolicy(ttl=0.001, max_size=4, jitter=0.5))
    names = [f"app/env/s{i}" for i in range(6)]
    for n in names:
        backend.set(n, n)
    errors: list[BaseException] = []

    def worker(seed: int) -> None:
        try:
            for i in range(300):
                name = names[(seed + i) % len(names)]
                op = (seed * 7 + i) % 10
                if op == 0:
                    cache.invalidate(name)
                elif op == 1:
                    cache.refresh(name)
                elif op == 2:
                    cache.drain_hits()
                    cache.held_values()
                else:
                    assert cache.get(name).value.text() == name
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()

    async def readers() -> None:
        for i in range(200):
            got = await cache.aget(names[i % len(names)])
            assert got.value.text() == names[i % len(names)]

    asyncio.run(readers())
    for t in threads:
        t.join(60)
    cache.close()
    assert errors == []
    assert cache.stats().in_flight == 0


# -- hung or failing backends: a short wait, a circuit breaker, a fast recovery ------------
def threads(job: Callable[[], None]) -> None:
    """A spawn that runs each background job on its own thread (for gated reads)."""
    threading.Thread(target=job, daemon=True).start()


def hung_refresh(backend: FakeBackend, clock: FakeClock) -> SecretCache:
    """A cache whose entry "one" has expired while the backend (holding "two") hangs."""
    cache = SecretCache(
        backend, CachePolicy(ttl=100, jitter=0, stale_wait=0.01), clock=clock, spawn=threads
    )
    backend.set(NAME, "one")
    cache.get(NAME)
    backend.set(NAME, "two")
    backend.gate = threading.Event()
    clock.advance(101)
    return cache


def test_expired_value_is_served_after_stale_wait_while_the_backend_hangs(
    backend: FakeBackend, clock: FakeClock
) -> None:
    """A hung read of an expired entry does not hold the caller: it gets the held value."""
    cache = hung_refresh(backend, clock)
    assert cache.get(NAME).value.text() == "one"  # the refresh hangs behind the gate
    assert cache.get(NAME).value.text() == "one"  # others are not queued behind it either
    assert backend.reads == 2
    backend.gate.set()
    for _ in range(500):
        if cache.stats().in_flight == 0:
            break
        threading.Event().wait(0.01)
    assert cache.get(NAME).value.text() == "two"
    assert backend.reads == 2


def test_expired_value_refreshed_within_stale_wait_is_the_new_one(
    backend: FakeBackend, clock: FakeClock
) -> None:
    """When the backend answers within the budget, the caller gets the fresh value."""
    cache = SecretCache(
        backend, CachePolicy(ttl=100, jitter=0), clock=clock, spawn=lambda job: job()
    )
    backend.set(NAME, "one")
    cache.get(NAME)
    backend.set(NAME, "two")
    clock.advance(101)
    assert cache.get(NAME).value.text() == "two"


def test_aget_serves_the_held_value_after_stale_wait(
    backend: FakeBackend, clock: FakeClock
) -> None:
    """The async face has the same bounded wait for an expired entry."""
    cache = hung_refresh(backend, clock)
    assert asyncio.run(cache.aget(NAME)).value.text() == "one"
    backend.gate.set()


def test_breaker_opens_after_consecutive_failures_then_fails_fast(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """After N failed reads, uncached reads raise at once without calling the backend."""
    cache = make(backend, clock, jobs, breaker_failures=3, breaker_cooldown=5)
    backend.fail = down
    for i in range(3):
        with pytest.raises(BackendUnavailable):
            cache.get(f"s/{i}")
    assert backend.reads == 3
    with pytest.raises(BackendUnavailable, match="circuit breaker open") as info:
        cache.get("s/other")
    assert isinstance(info.value.__cause__, BackendUnavailable)
    assert backend.reads == 3  # refused without a backend call
    clock.advance(5)  # half-open: one probe goes through, fails, and re-opens
    with pytest.raises(BackendUnavailable, match="connection refused"):
        cache.get("s/other")
    with pytest.raises(BackendUnavailable, match="circuit breaker open"):
        cache.get("s/other")
    assert backend.reads == 4
    backend.fail = None
    backend.set("s/other", "v")
    clock.advance(5)
    assert cache.get("s/other").value.text() == "v"  # the probe closes it
    backend.set("s/next", "w")
    assert cache.get("s/next").value.text() == "w"
    assert backend.reads == 6


def test_not_found_and_denied_answers_keep_the_breaker_closed(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """Only unavailability counts: a backend that answers "not found" is healthy."""
    cache = make(backend, clock, jobs, breaker_failures=2, negative_ttl=0)
    for i in range(5):
        with pytest.raises(SecretNotFound):
            cache.get(f"missing/{i}")
    backend.fail = lambda: AccessDenied("no", backend="fake://")
    for i in range(5):
        with pytest.raises(AccessDenied):
            cache.get(f"denied/{i}")
    assert backend.reads == 10
    assert not cache.stats().breaker_open


def test_open_breaker_serves_held_values_and_probes_from_a_stale_hit(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """While open, held values are served; the due probe comes from a hit, not the backoff."""
    cache = make(
        backend, clock, jobs, breaker_failures=1, breaker_cooldown=5, retry_base=60, retry_max=60
    )
    backend.set(NAME, "one")
    cache.get(NAME)
    backend.fail = down
    clock.advance(85)
    cache.get(NAME)
    assert jobs.run() == 1  # the refresh fails: breaker open, entry backs off 60 s
    clock.advance(1)
    assert cache.get(NAME).value.text() == "one"
    assert not jobs  # open and no probe due: no refresh started
    backend.fail = None
    backend.set(NAME, "two")
    clock.advance(5)  # the probe is due long before the entry's own 60 s backoff
    assert cache.get(NAME).value.text() == "one"
    assert jobs.run() == 1
    assert cache.get(NAME).value.text() == "two"


def test_first_success_anywhere_ends_every_backoff(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """After an outage one good read lets each failing entry refresh on its next use."""
    cache = make(backend, clock, jobs, breaker_failures=0, retry_base=60, retry_max=60)
    for n in ("a/1", "a/2"):
        backend.set(n, "old")
        cache.get(n)
    backend.fail = down
    clock.advance(85)
    cache.get("a/1")
    cache.get("a/2")
    assert jobs.run() == 2  # both refreshes fail and back off 60 s
    backend.fail = None
    for n in ("a/1", "a/2"):
        backend.set(n, "new")
    backend.set("a/3", "x")
    clock.advance(1)
    cache.get("a/3")  # a success elsewhere
    assert cache.get("a/1").value.text() == "old"
    assert cache.get("a/2").value.text() == "old"
    assert jobs.run() == 2  # no 60 s wait: refreshed on their next use
    assert cache.get("a/1").value.text() == "new"
    assert cache.get("a/2").value.text() == "new"


def test_batch_prefetch_respects_the_open_breaker(clock: FakeClock, jobs: Jobs) -> None:
    """An open breaker refuses a batch read too; every name gets BackendUnavailable."""
    backend = BatchBackend()
    cache = make(backend, clock, jobs, breaker_failures=1)
    backend.fail = down
    with pytest.raises(BackendUnavailable):
        cache.get("a/0")
    got = cache.prefetch(["a/1", "a/2"])
    assert all(isinstance(v, BackendUnavailable) for v in got.values())
    assert backend.batch_calls == 0


def test_policy_replace_copies_with_changes_and_checks_them() -> None:
    """CachePolicy.replace returns a checked copy; the original is unchanged and immutable."""
    policy = CachePolicy(ttl=30, per_secret_ttl={"a/b": 5})
    other = policy.replace(max_stale=10)
    assert (other.ttl, other.max_stale, other.per_secret_ttl) == (30, 10, {"a/b": 5})
    assert policy.max_stale == 3600.0
    assert other == CachePolicy(ttl=30, max_stale=10, per_secret_ttl={"a/b": 5})
    assert other != policy
    with pytest.raises(ConfigurationError, match="ttl"):
        policy.replace(ttl=-1)
    with pytest.raises(ConfigurationError, match="no setting 'tll'"):
        policy.replace(tll=1)
    with pytest.raises(AttributeError):
        policy.ttl = 1  # type: ignore[misc]
    assert repr(CachePolicy()).startswith("CachePolicy(ttl=300.0, max_stale=3600.0,")


def test_records_pickle_compare_and_hash() -> None:
    """CachePolicy, HitStats and CacheStats survive pickling; the stats are hashable."""
    import pickle

    for record in (CachePolicy(ttl=1), HitStats(2, 1.0, 3.0), CacheStats(1, 2, 3, 4, True, 5)):
        assert pickle.loads(pickle.dumps(record)) == record  # noqa: S301 - our own bytes
    assert hash(HitStats(2, 1.0, 3.0)) == hash(HitStats(2, 1.0, 3.0))
    assert CacheStats(1, 0, 0, 0).breaker_open is False


def test_policy_checks_the_breaker_and_wait_settings() -> None:
    """Negative waits, negative thresholds and a zero cooldown are refused."""
    for bad in ({"stale_wait": -1}, {"breaker_failures": -1}, {"breaker_cooldown": 0}):
        with pytest.raises(ConfigurationError, match=next(iter(bad))):
            CachePolicy(**bad)


# -- costs that scale -------------------------------------------------------------------------
def test_eviction_keeps_the_bound_and_recently_read_entries(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """Filling 10x max_size keeps max_size entries; an entry read all along survives."""
    cache = make(backend, clock, jobs, max_size=8)
    backend.set("hot/x", "h")
    for i in range(80):
        backend.set(f"n/{i}", "v")
        cache.get(f"n/{i}")
        clock.advance(0.01)
        cache.get("hot/x")
    assert cache.stats().entries == 8
    assert len(cache._order) <= 2 * 8 + 64  # nor does the eviction queue
    reads = backend.reads
    cache.get("hot/x")
    cache.get("n/79")
    assert backend.reads == reads


def test_prefetch_of_more_names_than_fit_warns(
    clock: FakeClock, jobs: Jobs, caplog: pytest.LogCaptureFixture
) -> None:
    """A prefetch larger than max_size says so (once) instead of dropping names silently."""
    backend = BatchBackend()
    cache = make(backend, clock, jobs, max_size=4)
    names = [f"p/{i}" for i in range(6)]
    for n in names:
        backend.set(n, "v")
    with caplog.at_level(logging.WARNING, logger="sekret.cache"):
        got = cache.prefetch(names)
        cache.prefetch(names)
    assert all(isinstance(v, Secret) for v in got.values())
    assert caplog.text.count("max_size=4") == 1
    assert cache.stats().entries == 4


def test_variants_only_are_tracked_per_name(cache: SecretCache, backend: FakeBackend) -> None:
    """The current version needs no per-name set; pinned versions do, and leave with it."""
    backend.set(NAME, "one")
    backend.set(NAME, "two")
    cache.get(NAME)
    assert cache._variants == {}
    cache.get(NAME, version="1")
    assert cache._variants == {NAME: {(NAME, "1", None)}}
    cache.invalidate(NAME)
    assert cache._variants == {}
    assert cache.stats().entries == 0


class CountingNamespace(Namespace):
    """A Namespace that counts name validations."""

    calls = 0

    def full(self, name: str) -> str:
        CountingNamespace.calls += 1
        return super().full(name)


def test_name_memo_does_not_forget_names_the_cache_holds() -> None:
    """With 6,000 cached names, a second pass of hits validates no name again."""
    backend = MemoryBackend()
    s = Secrets(backend, app="a", environment="e", cache=CachePolicy(max_size=6000))
    names = [f"n{i}" for i in range(6000)]
    for n in names:
        backend.write(s.full_name(n), SecretValue.of("v"))
    s.namespace = CountingNamespace("a", "e")
    for n in names:
        s.get(n)
    CountingNamespace.calls = 0
    for n in names:
        assert s.get(n) == "v"
    assert CountingNamespace.calls == 0


def test_async_get_hit_stays_on_the_loop_and_misses_still_read(
    facade: tuple[Secrets, MemoryBackend],
) -> None:
    """AsyncSecrets.get answers a hit inline and still reads a miss (in a thread)."""
    secrets, _ = facade
    secrets.put("k", "v1")

    async def run() -> tuple[str, str]:
        a = AsyncSecrets(secrets)
        return await a.get("k"), await a.get("k")

    assert asyncio.run(run()) == ("v1", "v1")


def test_eviction_queue_stays_bounded_under_fill_and_invalidate(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """Entries filled and invalidated over and over leave no growing bookkeeping behind."""
    cache = make(backend, clock, jobs, max_size=4)
    backend.set(NAME, "v")
    for _ in range(1000):
        cache.get(NAME)
        cache.invalidate(NAME)
    assert len(cache._order) <= 2 * 1 + 64
    assert cache.stats().entries == 0


# -- one real hung server ------------------------------------------------------------------
def test_a_sigstopped_openbao_neither_stalls_held_values_nor_hides_recovery() -> None:
    """Against a SIGSTOPped OpenBao: held values served, uncached reads fail fast, recovery seen.

    Behaviour only is asserted; the printed wall times go to docs/benchmarks.md.
    """
    import os
    import signal
    import time

    from conftest import need_service
    from sekret.backends.vault import VaultBackend
    from servers.openbao import start_dev_server

    try:
        server = start_dev_server()
    except RuntimeError as exc:
        need_service("OpenBao dev server", str(exc))
        raise
    pid = server.node.process.pid
    try:
        writer = VaultBackend(server.address, token=server.root_token, admin=True)
        old, new = sentinel_value(), sentinel_value()
        writer.write("app/e/held", SecretValue.of(old))
        for n in ("app/e/cold1", "app/e/cold2", "app/e/cold3"):
            writer.write(n, SecretValue.of(sentinel_value()))
        clock = FakeClock()
        reader = VaultBackend(
            server.address, token=server.root_token, timeout=1.0, failover_rounds=1
        )
        policy = CachePolicy(
            ttl=60, jitter=0, stale_wait=0.25, breaker_failures=2, breaker_cooldown=5
        )
        secrets = Secrets(reader, app="app", environment="e", cache=policy, clock=clock)
        assert secrets.get("held") == old

        os.killpg(pid, signal.SIGSTOP)
        clock.advance(61)  # expired, nobody refreshing: the reader may wait 250 ms at most
        start = time.perf_counter()
        assert secrets.get("held") == old
        stall = time.perf_counter() - start
        start = time.perf_counter()
        with pytest.raises(BackendUnavailable) as first:
            secrets.get("cold1")  # bounded by the backend's own timeout
        first_fail = time.perf_counter() - start
        assert "circuit breaker" not in str(first.value)
        with pytest.raises(BackendUnavailable):
            secrets.get("cold2")
        start = time.perf_counter()
        with pytest.raises(BackendUnavailable, match="circuit breaker open"):
            secrets.get("cold3")  # the breaker is open: no backend call at all
        fast_fail = time.perf_counter() - start
        assert secrets.get("held") == old  # still served while open
        assert old not in str(first.value)

        os.killpg(pid, signal.SIGCONT)
        resumed = time.perf_counter()
        writer.write("app/e/held", SecretValue.of(new))  # the outage ends with a rotation
        clock.advance(5)  # the breaker's probe is due
        seen = None
        for _ in range(500):
            if secrets.get("held") == new:
                seen = time.perf_counter() - resumed
                break
            time.sleep(0.01)
            clock.advance(0.1)  # time goes on: a probe that failed is retried after the cooldown
        assert seen is not None, "the new version was not seen after the server came back"
        print(
            f"\nSIGSTOP figures: expired-read stall {stall * 1e3:.0f} ms; uncached read "
            f"fails in {first_fail * 1e3:.0f} ms (backend timeout 1 s), then "
            f"{fast_fail * 1e3:.2f} ms with the breaker open; new version seen "
            f"{seen * 1e3:.0f} ms after SIGCONT (write included)"
        )
        secrets.close()
    finally:
        os.killpg(pid, signal.SIGCONT)
        server.stop()


def test_an_interrupted_probe_does_not_keep_the_breaker_open(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """A probe ended by KeyboardInterrupt lets the next read probe again."""
    cache = make(backend, clock, jobs, breaker_failures=1, breaker_cooldown=5)
    backend.fail = down
    with pytest.raises(BackendUnavailable):
        cache.get("a/1")
    clock.advance(5)
    backend.fail = KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        cache.get("a/1")
    backend.fail = None
    backend.set("a/1", "v")
    assert cache.get("a/1").value.text() == "v"


def test_breaker_state_is_logged_and_reported_in_stats(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs, caplog: pytest.LogCaptureFixture
) -> None:
    """Opening and closing the breaker each log one warning; stats() shows its state."""
    cache = make(backend, clock, jobs, breaker_failures=2, breaker_cooldown=5)
    backend.fail = down
    with caplog.at_level(logging.WARNING, logger="sekret.cache"):
        for i in range(2):
            with pytest.raises(BackendUnavailable):
                cache.get(f"a/{i}")
        assert cache.stats().breaker_open
        assert cache.stats().backend_failures == 2
        backend.fail = None
        backend.set("a/0", "v")
        clock.advance(5)
        cache.get("a/0")
    assert not cache.stats().breaker_open
    assert caplog.text.count("circuit breaker open") == 1
    assert caplog.text.count("circuit breaker closed") == 1


# -- what the mutation run of sekret/cache/__init__.py found unasserted ---------------------
class RefreshWhileWaiting:
    """A flight's latch whose wait lets the queued background refresh finish first.

    It stands for a refresh that answers while the reader waits, and records
    how long each reader was willing to wait.
    """

    def __init__(self, jobs: Jobs, waits: list[float | None]) -> None:
        self._latch = Latch()  # the real one: only _flight's name is patched
        self._jobs = jobs
        self._waits = waits

    def set(self) -> None:
        self._latch.set()

    def is_set(self) -> bool:
        return self._latch.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        self._waits.append(timeout)
        self._jobs.run()
        return self._latch.wait(timeout)


@pytest.mark.parametrize("stale_wait", [0.25, 0.0])
def test_a_reader_of_an_expired_value_waits_stale_wait_for_its_refresh(
    backend: FakeBackend,
    clock: FakeClock,
    jobs: Jobs,
    monkeypatch: pytest.MonkeyPatch,
    stale_wait: float,
) -> None:
    """get() on an expired entry waits exactly stale_wait for the refresh and serves its answer."""
    import sekret.cache._flight as flight_module

    waits: list[float | None] = []
    monkeypatch.setattr(flight_module, "Latch", lambda: RefreshWhileWaiting(jobs, waits))
    cache = make(backend, clock, jobs, stale_wait=stale_wait)
    backend.set(NAME, "one")
    cache.get(NAME)
    backend.set(NAME, "two")
    clock.advance(101)
    assert cache.get(NAME).value.text() == "two"
    assert waits == [stale_wait]
    assert backend.reads == 2


def test_importing_the_cache_loads_no_asyncio_random_or_logging() -> None:
    """`import sekret.cache` leaves asyncio, random, logging and contextvars to first use."""
    import subprocess
    import sys

    heavy = ("asyncio", "random", "logging", "contextvars")
    code = f"import sys, sekret.cache; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_hit_text_answers_only_a_plain_hit_and_counts_it(
    cache: SecretCache, backend: FakeBackend, clock: FakeClock
) -> None:
    """hit_text: None on a miss or past the refresh point; on a hit the text, counted as a hit."""
    value = sentinel_value()
    backend.set(NAME, value)
    assert cache.hit_text(NAME) is None  # a miss: no read either
    assert backend.reads == 0
    cache.get(NAME)
    clock.advance(1)
    assert cache.hit_text(NAME) == value
    assert cache.hit_text(NAME) == value  # decoded once, then kept
    assert cache._entries[NAME].text == value
    assert cache.drain_hits() == {NAME: HitStats(2, 1001.0, 1001.0)}
    clock.advance(79)  # the refresh point (ttl 100 * refresh_ratio 0.8)
    assert cache.hit_text(NAME) is None
    assert backend.reads == 1


def test_get_text_hits_are_counted(
    cache: SecretCache, backend: FakeBackend, clock: FakeClock
) -> None:
    """Each get_text hit counts for drain_hits, with the first and last hit times."""
    backend.set(NAME, "v")
    cache.get_text(NAME)  # the fill: not a hit
    for _ in range(3):
        clock.advance(1)
        assert cache.get_text(NAME) == "v"
    assert cache.drain_hits() == {NAME: HitStats(3, 1001.0, 1003.0)}


class RefillingClock(FakeClock):
    """A clock that, once armed, lets "another reader" refresh a name at its next reading.

    The other reader runs only at a reading taken outside the cache's lock (as
    another thread would have to wait for it).
    """

    def __init__(self) -> None:
        super().__init__()
        self.armed: Callable[[], object] | None = None
        self.lock: Any = None

    def __call__(self) -> float:
        if self.armed is not None and not (self.lock is not None and self.lock.locked()):
            other, self.armed = self.armed, None
            other()
        return self.now


def test_a_miss_that_finds_the_value_filled_meanwhile_takes_it_without_a_read(
    backend: FakeBackend, jobs: Jobs
) -> None:
    """A miss whose value another reader fills before the miss starts its own read returns it."""
    clock = RefillingClock()
    cache = make(backend, clock, jobs, negative_ttl=5)
    with pytest.raises(SecretNotFound):
        cache.get(NAME)  # remembered as not found until 1005
    value = sentinel_value()
    backend.set(NAME, value)
    clock.advance(6)  # the negative has expired but is still held: get() reads the clock
    clock.lock = cache._lock
    clock.armed = lambda: cache.refresh(NAME)
    assert cache.get(NAME).value.text() == value
    assert backend.reads == 2  # the failed read and the other reader's: none by this get()


def test_aget_of_a_miss_filled_meanwhile_takes_it_without_a_read(
    backend: FakeBackend, jobs: Jobs
) -> None:
    """aget: a miss whose value another reader fills before the miss starts its read returns it."""
    clock = RefillingClock()
    cache = make(backend, clock, jobs, negative_ttl=5)
    with pytest.raises(SecretNotFound):
        asyncio.run(cache.aget(NAME))
    value = sentinel_value()
    backend.set(NAME, value)
    clock.advance(6)
    clock.lock = cache._lock
    clock.armed = lambda: cache.refresh(NAME)
    assert asyncio.run(cache.aget(NAME)).value.text() == value
    assert backend.reads == 2


def test_aget_hits_are_counted(cache: SecretCache, backend: FakeBackend, clock: FakeClock) -> None:
    """Each aget hit counts for drain_hits, like a get hit."""
    backend.set(NAME, "v")

    async def main() -> None:
        await cache.aget(NAME)  # the fill: not a hit
        for _ in range(2):
            clock.advance(1)
            assert (await cache.aget(NAME)).value.text() == "v"

    asyncio.run(main())
    assert cache.drain_hits() == {NAME: HitStats(2, 1001.0, 1002.0)}


def expired(backend: FakeBackend, clock: FakeClock, spawn: Any, stale_wait: float) -> SecretCache:
    """A cache holding "one" for NAME, now expired, while the backend holds "two"."""
    cache = SecretCache(
        backend,
        CachePolicy(ttl=100, jitter=0, stale_wait=stale_wait),
        clock=clock,
        spawn=spawn,
        rng=lambda: 0.0,
    )
    backend.set(NAME, "one")
    cache.get(NAME)
    backend.set(NAME, "two")
    clock.advance(101)
    return cache


@pytest.mark.parametrize("stale_wait", [0.25, 0.0])
def test_aget_of_an_expired_value_waits_stale_wait_for_its_refresh(
    backend: FakeBackend,
    clock: FakeClock,
    jobs: Jobs,
    monkeypatch: pytest.MonkeyPatch,
    stale_wait: float,
) -> None:
    """aget on an expired entry waits exactly stale_wait and serves the refresh's answer."""
    cache = expired(backend, clock, jobs.append, stale_wait)
    waits: list[float | None] = []
    real_wait = asyncio.wait

    async def wait(fs: Any, *, timeout: float | None = None) -> Any:
        waits.append(timeout)
        jobs.run()  # the refresh answers while the reader waits
        return await real_wait(fs, timeout=timeout)

    monkeypatch.setattr(asyncio, "wait", wait)
    assert asyncio.run(cache.aget(NAME)).value.text() == "two"
    assert waits == [stale_wait]


def test_aget_takes_the_answer_of_a_refresh_that_finished_at_once(
    backend: FakeBackend, clock: FakeClock
) -> None:
    """When the refresh aget started has already answered, aget returns that answer."""
    cache = expired(backend, clock, lambda job: job(), 0.25)
    assert asyncio.run(cache.aget(NAME)).value.text() == "two"


def test_aget_that_stops_waiting_cancels_its_future(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """A reader that gave up on a slow refresh leaves a cancelled future, not an open one."""
    cache = expired(backend, clock, jobs.append, 0.001)
    assert asyncio.run(cache.aget(NAME)).value.text() == "one"
    [(_, fut)] = cache._flights[NAME].futures  # the refresh is still queued
    assert fut.cancelled()
    jobs.run()
    assert cache.get(NAME).value.text() == "two"


def test_aget_whose_executor_is_shut_down_frees_the_read_and_raises(
    cache: SecretCache, backend: FakeBackend
) -> None:
    """aget that cannot start its read raises it: no read left in flight, no failure, no noise."""
    backend.set(NAME, "v")
    unhandled: list[dict[str, Any]] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _, context: unhandled.append(context))
        await loop.shutdown_default_executor()
        with pytest.raises(RuntimeError, match="shutdown"):
            await cache.aget(NAME)
        await asyncio.sleep(0)  # the read's outcome is handed to its futures
        gc.collect()  # a future holding the error, never read, would be reported now

    asyncio.run(main())
    assert unhandled == []
    stats = cache.stats()
    assert (stats.in_flight, stats.callers_waiting, stats.backend_failures) == (0, 0, 0)
    assert cache.get(NAME).value.text() == "v"  # a later read is not stuck behind it


def test_a_value_is_expired_at_exactly_its_ttl(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """Just before fill + ttl the held value is served; at exactly fill + ttl it is read again."""
    cache = make(backend, clock, jobs, refresh_ratio=1.0)  # no refresh-ahead
    backend.set(NAME, "one")
    cache.get(NAME)  # filled at 1000, ttl 100
    backend.set(NAME, "two")
    clock.now = 1099.5
    assert cache.get(NAME).value.text() == "one"
    clock.now = 1100.0
    assert cache.get(NAME).value.text() == "two"
    assert backend.reads == 2


def test_a_failing_value_is_served_until_just_before_max_stale(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """With the backend down, the value is served up to expiry + max_stale, not at that instant."""
    cache = make(backend, clock, jobs, retry_base=0.1, retry_max=0.1)
    backend.set(NAME, "one")
    cache.get(NAME)  # expires 1100, max_stale 1000: served while failing until 2100
    backend.fail = down
    clock.now = 1090.0
    assert cache.get(NAME).value.text() == "one"
    assert jobs.run() == 1  # the refresh fails: the entry is failing now
    clock.now = 2099.5
    assert cache.get(NAME).value.text() == "one"
    assert jobs.run() == 1  # fails again: the next retry is due at 2099.55
    clock.now = 2100.0
    with pytest.raises(BackendUnavailable, match="past max_stale"):
        cache.get(NAME)  # this read fails exactly at 2100: nothing stale is served
    assert backend.reads == 4


def test_reads_of_an_aging_or_expired_value_count_as_hits(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """A value served past its refresh point, or expired while its refresh runs, is a hit."""
    cache = make(backend, clock, jobs, stale_wait=0.001)
    backend.set(NAME, "one")
    cache.get(NAME)
    clock.now = 1090.0  # past the refresh point (1080), before expiry (1100)
    assert cache.get(NAME).value.text() == "one"
    clock.now = 1095.0
    assert cache.get(NAME).value.text() == "one"
    assert cache.drain_hits() == {NAME: HitStats(2, 1090.0, 1095.0)}
    jobs.clear()
    cache.invalidate(NAME)
    cache.get(NAME)  # filled again at 1095: expires 1195
    clock.now = 1200.0  # expired, idle: a refresh starts and the reader gets the held value
    assert cache.get(NAME).value.text() == "one"
    assert cache.drain_hits() == {NAME: HitStats(1, 1200.0, 1200.0)}


def test_an_expired_idle_value_is_not_served_at_exactly_max_stale(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """With stale_wait set, an expired value is served until expiry + max_stale, not at it."""
    cache = make(backend, clock, jobs, stale_wait=0.001)
    backend.set(NAME, "one")
    cache.get(NAME)  # filled at 1000: expires 1100, served stale until 2100
    backend.set(NAME, "two")
    clock.now = 2099.5
    assert cache.get(NAME).value.text() == "one"  # its refresh is queued, not run
    jobs.clear()
    cache.invalidate(NAME)
    cache.get(NAME)  # "two", filled at 2099.5
    backend.set(NAME, "three")
    clock.now = 2099.5 + 1100
    assert cache.get(NAME).value.text() == "three"
    assert not jobs


def test_an_open_breaker_serves_an_expired_value_quietly_without_a_read(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """Breaker open: an expired idle value is served at once, no refresh, no stale report."""
    cache = make(backend, clock, jobs, stale_wait=0.001, breaker_failures=1, breaker_cooldown=5)
    reports: list[str] = []
    cache.on_stale = lambda name, error: reports.append(name)
    backend.set(NAME, "one")
    cache.get(NAME)  # expires 1100
    backend.fail = down
    clock.now = 1148.0
    with pytest.raises(BackendUnavailable):
        cache.get("arrwdb/production/other")  # opens the breaker until 1153
    clock.now = 1150.0
    assert cache.get(NAME).value.text() == "one"
    assert backend.reads == 2
    assert not jobs
    assert reports == []
    assert cache.stats().backend_failures == 1


def test_a_not_found_is_remembered_until_exactly_negative_ttl(
    cache: SecretCache, backend: FakeBackend, clock: FakeClock
) -> None:
    """Just before read + negative_ttl the not-found is repeated; at that instant it is re-read."""
    with pytest.raises(SecretNotFound):
        cache.get(NAME)  # at 1000, negative_ttl 5
    backend.set(NAME, "here")
    clock.now = 1004.5
    with pytest.raises(SecretNotFound):
        cache.get(NAME)
    clock.now = 1005.0
    assert cache.get(NAME).value.text() == "here"
    assert backend.reads == 2


def failing_past_max_stale(backend: FakeBackend, clock: FakeClock, jobs: Jobs) -> SecretCache:
    """NAME held since 1000 (expires 1100, max_stale 1000); at 2101 a read of it failed.

    Its next retry is due at 2102 (retry_base 2, halved by the lowest jitter).
    """
    cache = make(backend, clock, jobs, retry_base=2, retry_max=2)
    backend.set(NAME, "one")
    cache.get(NAME)
    backend.fail = down
    clock.now = 2101.0
    with pytest.raises(BackendUnavailable, match="past max_stale"):
        cache.get(NAME)
    assert backend.reads == 2
    return cache


def test_past_max_stale_a_failing_value_is_refused_without_a_read_until_its_retry(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """Past max_stale and backing off: BackendUnavailable at once; at the retry time, a read."""
    cache = failing_past_max_stale(backend, clock, jobs)
    clock.now = 2101.5
    with pytest.raises(BackendUnavailable, match="past max_stale"):
        cache.get(NAME)
    assert backend.reads == 2  # refused from the cache
    clock.now = 2102.0
    backend.fail = None
    backend.set(NAME, "two")
    assert cache.get(NAME).value.text() == "two"
    assert backend.reads == 3


def test_a_failing_served_value_retries_at_exactly_its_backoff(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """A failing value still served starts its next refresh at next_retry, not before."""
    cache = make(backend, clock, jobs, retry_base=2, retry_max=2)
    backend.set(NAME, "one")
    cache.get(NAME)
    backend.fail = down
    clock.now = 1090.0
    cache.get(NAME)
    assert jobs.run() == 1  # failed at 1090: next retry at 1091 (2 * 0.5)
    clock.now = 1090.5
    cache.get(NAME)
    assert not jobs
    clock.now = 1091.0
    assert cache.get(NAME).value.text() == "one"
    assert len(jobs) == 1


def test_a_read_of_an_expired_value_dropped_meanwhile_reads_the_backend(
    backend: FakeBackend, jobs: Jobs
) -> None:
    """An expired value another thread invalidates while this read looks at it: a fresh read."""
    clock = RefillingClock()
    cache = make(backend, clock, jobs)
    backend.set(NAME, "one")
    cache.get(NAME)
    backend.set(NAME, "two")
    clock.now = 1100.0
    clock.lock = cache._lock
    clock.armed = lambda: cache.invalidate(NAME)
    assert cache.get(NAME).value.text() == "two"
    assert backend.reads == 2


def test_a_miss_that_finds_a_not_found_recorded_meanwhile_raises_it_without_a_read(
    backend: FakeBackend, jobs: Jobs
) -> None:
    """A not-found another reader records while this miss starts is raised, not read again."""
    clock = RefillingClock()
    cache = make(backend, clock, jobs, negative_ttl=5)
    with pytest.raises(SecretNotFound):
        cache.get(NAME)  # remembered until 1005
    clock.now = 1006.0  # expired, still held: this get reads the clock

    def other_reader() -> None:
        with pytest.raises(SecretNotFound):
            cache.refresh(NAME)  # records a new not-found, until 1011

    clock.lock = cache._lock
    clock.armed = other_reader
    with pytest.raises(SecretNotFound):
        cache.get(NAME)
    assert backend.reads == 2  # the first miss and the other reader's


class ReadHook(FakeBackend):
    """A FakeBackend that runs ``during`` once, inside its next read (another reader's moment)."""

    def __init__(self) -> None:
        super().__init__()
        self.during: Callable[[], object] | None = None

    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        during, self.during = self.during, None
        if during is not None:
            during()
        return super().read(name, version=version, stage=stage)


def test_a_hit_during_an_explicit_refresh_starts_no_second_read(
    clock: FakeClock, jobs: Jobs
) -> None:
    """While refresh() reads a name, a hit past its refresh point serves and starts no read."""
    backend = ReadHook()
    cache = make(backend, clock, jobs)
    backend.set(NAME, "one")
    cache.get(NAME)
    backend.set(NAME, "two")
    clock.now = 1090.0  # past the refresh point
    served: list[str] = []
    backend.during = lambda: served.append(cache.get(NAME).value.text())
    assert cache.refresh(NAME).value.text() == "two"
    assert served == ["one"]
    assert not jobs  # no background refresh beside the explicit one
    assert backend.reads == 2


def test_a_refresh_that_cannot_be_spawned_frees_its_slot(
    backend: FakeBackend, clock: FakeClock
) -> None:
    """When spawn raises, the held value is served, no read stays in flight, the breaker is calm."""
    spawned: list[int] = []

    def broken_spawn(job: Callable[[], None]) -> None:
        spawned.append(1)
        raise RuntimeError("no worker")

    cache = SecretCache(
        backend, CachePolicy(ttl=100, jitter=0, stale_wait=None), clock=clock, spawn=broken_spawn
    )
    backend.set(NAME, "one")
    cache.get(NAME)
    clock.now = 1090.0
    assert cache.get(NAME).value.text() == "one"
    stats = cache.stats()
    assert (stats.in_flight, stats.backend_failures) == (0, 0)
    assert spawned == [1]


def test_an_interrupt_in_a_background_refresh_propagates_and_ends_no_backoff(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """KeyboardInterrupt in a refresh leaves the job; it is no failure and no recovery either."""
    cache = make(backend, clock, jobs, retry_base=50, retry_max=50)
    backend.set(NAME, "one")
    backend.set("a/b/other", "x")
    cache.get(NAME)
    cache.get("a/b/other")
    backend.fail = down
    clock.now = 1090.0
    cache.get(NAME)
    assert jobs.run() == 1  # NAME fails: next retry at 1115
    clock.now = 1091.0
    cache.get("a/b/other")
    backend.fail = KeyboardInterrupt
    with pytest.raises(KeyboardInterrupt):
        jobs.run()
    assert cache.stats().backend_failures == 1  # the interrupt is not counted
    clock.now = 1092.0
    cache.get(NAME)  # still backing off: the interrupt is not a recovery
    assert not jobs
    backend.fail = down
    assert cache.get("a/b/other").value.text() == "x"  # still held, not dropped
    assert cache.stats().entries == 2


def failing_with_backoff(backend: FakeBackend, clock: FakeClock, spawn: Any) -> SecretCache:
    """NAME and "a/b/other" held since 1000 (ttl 100); refresh retries back off 25 s at first."""
    cache = SecretCache(
        backend,
        CachePolicy(ttl=100, jitter=0, stale_wait=None, retry_base=50, retry_max=50),
        clock=clock,
        spawn=spawn,
        rng=lambda: 0.0,
    )
    backend.set(NAME, "one")
    backend.set("a/b/other", "x")
    cache.get(NAME)
    cache.get("a/b/other")
    return cache


@pytest.mark.parametrize("elsewhere", ["fails", "cannot start"])
def test_only_an_answer_ends_the_backoff_of_failing_values(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs, elsewhere: str
) -> None:
    """Another read failing, or a refresh that cannot start, leaves a failing value backing off."""
    broken = [False]

    def spawn(job: Callable[[], None]) -> None:
        if broken[0]:
            raise RuntimeError("no worker")
        jobs.append(job)

    cache = failing_with_backoff(backend, clock, spawn)
    backend.fail = down
    clock.now = 1090.0
    cache.get(NAME)
    assert jobs.run() == 1  # NAME fails: next retry at 1115
    clock.now = 1091.0
    broken[0] = elsewhere == "cannot start"
    cache.get("a/b/other")
    jobs.run()
    broken[0] = False
    clock.now = 1092.0
    cache.get(NAME)
    assert not jobs  # still backing off


def test_a_recovery_below_the_threshold_logs_no_breaker_closing(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs, caplog: pytest.LogCaptureFixture
) -> None:
    """A success after failures that never opened the breaker logs no "breaker closed"."""
    cache = make(backend, clock, jobs, breaker_failures=3)
    backend.set(NAME, "v")
    backend.fail = down
    with caplog.at_level(logging.WARNING, logger="sekret.cache"):
        with pytest.raises(BackendUnavailable):
            cache.get(NAME)
        backend.fail = None
        assert cache.get(NAME).value.text() == "v"
    assert "circuit breaker" not in caplog.text


def test_a_pinned_version_that_is_gone_leaves_the_cache(
    cache: SecretCache, backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """When a cached version's refresh says VersionNotFound, that version is no longer served."""
    backend.set(NAME, "one")
    backend.set(NAME, "two")
    assert cache.get(NAME, version="2").value.text() == "two"
    backend.values[NAME] = ["one"]  # version 2 is gone
    clock.now = 1090.0
    assert cache.get(NAME, version="2").value.text() == "two"  # its refresh is queued
    assert jobs.run() == 1
    with pytest.raises(VersionNotFound):
        cache.get(NAME, version="2")
    assert cache.stats().entries == 0
    assert cache.held_values() == []


@pytest.mark.parametrize(("negative_ttl", "remembered"), [(0, 0), (0.5, 1)])
def test_negative_ttl_zero_remembers_nothing_and_half_a_second_is_kept(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs, negative_ttl: float, remembered: int
) -> None:
    """negative_ttl=0 stores no not-found; any positive negative_ttl (0.5 s) stores it."""
    cache = make(backend, clock, jobs, negative_ttl=negative_ttl)
    for _ in range(2):
        with pytest.raises(SecretNotFound):
            cache.get(NAME)
    assert cache.stats().negative == remembered
    assert backend.reads == 2 - remembered


def test_past_max_stale_the_error_says_since_when_the_backend_fails(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """The refusal past max_stale counts the outage from the first failed read, not the last."""
    cache = failing_past_max_stale(backend, clock, jobs)  # first failure at 2101
    clock.now = 2102.0
    with pytest.raises(BackendUnavailable, match="past max_stale") as second:
        cache.get(NAME)
    assert "unavailable for 1s" in str(second.value)
    clock.now = 2150.0
    with pytest.raises(BackendUnavailable) as later:
        cache.get(NAME)
    assert "unavailable for 49s" in str(later.value)
    assert later.value.__cause__ is not None


def test_a_refill_keeps_the_hits_of_the_value_it_replaces(
    cache: SecretCache, backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """Hits before a refresh are still reported after it, with their first and last times."""
    backend.set(NAME, "one")
    cache.get(NAME)
    for now in (1001.0, 1002.0, 1090.0):  # the last one is past the refresh point
        clock.now = now
        cache.get(NAME)
    backend.set(NAME, "two")
    assert jobs.run() == 1
    assert cache.drain_hits() == {NAME: HitStats(3, 1001.0, 1090.0)}


def test_the_eviction_queue_stays_within_twice_the_entries_plus_64(
    cache: SecretCache, backend: FakeBackend
) -> None:
    """Refilling dropped names never lets the queue of eviction records pass 2 * entries + 64."""
    names = [f"a/b/n{i}" for i in range(3)]
    for name in names:
        backend.set(name, "v")
    longest = 0
    for _ in range(100):
        for name in names:
            cache.get(name)
            longest = max(longest, len(cache._order))
            cache.invalidate(name)
    cache.get(names[0])
    assert longest <= 2 * 1 + 64
    assert len(cache._order) <= 2 * len(cache._entries) + 64


def test_a_fill_forgets_the_not_found_it_answers(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """A prefetch fill drops the remembered not-found: evicted later, the value is read again."""
    cache = make(backend, clock, jobs, negative_ttl=5, max_size=1)
    with pytest.raises(SecretNotFound):
        cache.get(NAME)
    backend.set(NAME, "here")
    backend.set("a/b/other", "x")
    assert cache.prefetch([NAME])[NAME].value.text() == "here"  # prefetch ignores the not-found
    assert cache.stats().negative == 0
    cache.get("a/b/other")  # evicts NAME (max_size 1)
    assert cache.get(NAME).value.text() == "here"


def test_eviction_still_holds_max_size_after_the_queue_is_compacted(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """After the eviction queue is compacted, fills still evict down to max_size, oldest first."""
    cache = make(backend, clock, jobs, max_size=3)
    for i in range(6):
        backend.set(f"a/b/n{i}", "v")
    cache.get("a/b/n0")
    for _ in range(80):  # dropped and refilled: dead records pile up, then are compacted
        cache.invalidate("a/b/n1")
        cache.get("a/b/n1")
    assert len(cache._order) < 80
    for i in range(2, 6):
        cache.get(f"a/b/n{i}")
    assert cache.stats().entries == 3
    assert set(cache._entries) == {"a/b/n3", "a/b/n4", "a/b/n5"}


def test_a_not_found_recorded_again_counts_as_the_newest(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """With max_size not-founds held, the oldest recorded goes first; re-recording one renews it."""
    cache = make(backend, clock, jobs, negative_ttl=5, max_size=2)
    for name in ("a/b/x", "a/b/y"):
        with pytest.raises(SecretNotFound):
            cache.get(name)  # both at 1000
    clock.now = 1006.0
    with pytest.raises(SecretNotFound):
        cache.get("a/b/x")  # expired: read again and remembered anew, until 1011
    with pytest.raises(SecretNotFound):
        cache.get("a/b/z")  # a third: the oldest remembered ("a/b/y") goes
    assert backend.reads == 4
    with pytest.raises(SecretNotFound):
        cache.get("a/b/x")
    assert backend.reads == 4  # still remembered


def test_invalidating_a_name_not_held_notifies_nobody(
    cache: SecretCache, backend: FakeBackend
) -> None:
    """Listeners hear of changes to the held values only: dropping nothing is no change."""
    calls: list[int] = []
    cache.add_listener(lambda: calls.append(1))
    cache.invalidate(NAME)
    assert calls == []
    backend.set(NAME, "v")
    cache.get(NAME)
    assert calls == [1]
    cache.invalidate(NAME)
    assert calls == [1, 1]


def test_refresh_cancels_a_pinned_read_in_flight_so_it_fills_nothing(
    cache: SecretCache, backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """A version's background read started before refresh(name) answers but fills no entry."""
    backend.set(NAME, "one")
    backend.set(NAME, "two")
    cache.get(NAME, version="1")
    clock.now = 1090.0
    cache.get(NAME, version="1")  # queues the version's background refresh
    assert cache.refresh(NAME).value.text() == "two"
    assert jobs.run() == 1
    assert cache.stats().entries == 1  # only the current version refresh() read
    reads = backend.reads
    assert cache.get(NAME, version="1").value.text() == "one"
    assert backend.reads == reads + 1


def test_refresh_that_fails_still_forgets_the_not_found(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """refresh() drops a remembered not-found even when its own read fails."""
    cache = make(backend, clock, jobs, negative_ttl=5)
    with pytest.raises(SecretNotFound):
        cache.get(NAME)
    backend.fail = down
    with pytest.raises(BackendUnavailable):
        cache.refresh(NAME)
    backend.fail = None
    backend.set(NAME, "here")
    assert cache.get(NAME).value.text() == "here"


def test_a_refresh_in_progress_shows_one_caller_waiting(clock: FakeClock, jobs: Jobs) -> None:
    """While refresh() reads, stats() shows one read in flight and its one caller."""
    backend = ReadHook()
    cache = make(backend, clock, jobs)
    backend.set(NAME, "v")
    seen: list[CacheStats] = []
    backend.during = lambda: seen.append(cache.stats())
    cache.refresh(NAME)
    assert [(s.in_flight, s.callers_waiting) for s in seen] == [(1, 1)]


def test_prefetch_of_exactly_max_size_names_does_not_warn(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs, caplog: pytest.LogCaptureFixture
) -> None:
    """Asking for max_size names is fine; one more logs the warning (once)."""
    cache = make(backend, clock, jobs, max_size=3)
    names = [f"a/b/n{i}" for i in range(4)]
    for name in names:
        backend.set(name, "v")
    with caplog.at_level(logging.WARNING, logger="sekret.cache"):
        cache.prefetch(names[:3])
        assert "prefetch of" not in caplog.text
        cache.prefetch(names)
        cache.prefetch(names)
    assert caplog.text.count("prefetch of 4 secrets into a cache of max_size=3") == 1


def test_prefetch_answers_from_the_cache_until_exactly_expiry_and_counts_hits(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """A held value younger than its TTL is a prefetch hit (counted); at expiry it is read."""
    cache = make(backend, clock, jobs)
    backend.set(NAME, "one")
    cache.get(NAME)
    backend.set(NAME, "two")
    clock.now = 1099.5
    assert cache.prefetch([NAME])[NAME].value.text() == "one"
    assert cache.drain_hits() == {NAME: HitStats(1, 1099.5, 1099.5)}
    clock.now = 1100.0
    assert cache.prefetch([NAME])[NAME].value.text() == "two"
    assert backend.reads == 2


def test_prefetch_joins_a_read_in_flight(clock: FakeClock, jobs: Jobs) -> None:
    """A prefetch of a name already being read waits for that read and shares its answer."""
    backend = FakeBackend()
    cache = make(backend, clock, jobs)
    backend.set(NAME, "v")
    backend.gate = threading.Event()
    got: dict[str, Any] = {}
    reader = threading.Thread(target=lambda: got.update(get=cache.get(NAME)))
    reader.start()
    assert backend.entered.wait(30)
    joiner = threading.Thread(target=lambda: got.update(prefetch=cache.prefetch([NAME])))
    joiner.start()
    for _ in range(3000):
        if cache.stats().callers_waiting == 2:
            break
        threading.Event().wait(0.01)
    assert cache.stats().callers_waiting == 2
    backend.gate.set()
    reader.join()
    joiner.join()
    assert got["get"].value.text() == "v"
    assert got["prefetch"][NAME].value.text() == "v"
    assert backend.reads == 1


def test_prefetch_reports_a_foreign_error_as_backend_unavailable(
    backend: FakeBackend, clock: FakeClock, jobs: Jobs
) -> None:
    """An untranslated error in a prefetched read becomes BackendUnavailable naming the secret."""
    cache = make(backend, clock, jobs)
    planted = sentinel_value()
    cause = OSError(planted)
    backend.fail = lambda: cause
    [error] = cache.prefetch([NAME]).values()
    assert isinstance(error, BackendUnavailable)
    assert str(error) == f"secret {NAME!r}: the backend failed (OSError)"
    assert error.__cause__ is cause


class PrefetchWatch(FakeBackend):
    """Records the prefetch worker threads alive when the calling thread does its first read.

    Workers wait at their first read until then, so all of them are alive.
    """

    def __init__(self) -> None:
        super().__init__()
        self.main_reached = threading.Event()
        self.workers: list[tuple[str, bool]] = []

    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        if threading.current_thread() is threading.main_thread():
            if not self.main_reached.is_set():
                self.workers = sorted(
                    (t.name, t.daemon)
                    for t in threading.enumerate()
                    if t.name.startswith("sekret-prefetch-")
                )
                self.main_reached.set()
        else:
            assert self.main_reached.wait(30)
        return super().read(name, version=version, stage=stage)


@pytest.mark.parametrize(("concurrency", "extra"), [(4, 3), (1, 0), (20, 9)])
def test_prefetch_runs_concurrency_minus_one_daemon_workers_beside_the_caller(
    clock: FakeClock, jobs: Jobs, concurrency: int, extra: int
) -> None:
    """prefetch_concurrency counts the caller: it adds that many - 1 daemon workers (< names)."""
    backend = PrefetchWatch()
    cache = make(backend, clock, jobs, prefetch_concurrency=concurrency)
    names = [f"a/b/n{i}" for i in range(10)]
    for name in names:
        backend.set(name, name)
    got = cache.prefetch(names)
    assert backend.workers == [(f"sekret-prefetch-{i}", True) for i in range(extra)]
    assert [got[n].value.text() for n in names] == names


class FailingBatch(BatchBackend):
    """A batch backend whose read_many raises ``batch_error`` when set."""

    batch_error: BaseException | None = None

    def read_many(self, names: Sequence[str]) -> dict[str, Secret | SekretError]:
        if self.batch_error is not None:
            self.batch_calls += 1
            raise self.batch_error
        return super().read_many(names)


def test_a_refused_batch_is_not_counted_as_another_failure(clock: FakeClock, jobs: Jobs) -> None:
    """With the breaker open, a refused batch prefetch adds nothing to the failure count."""
    backend = BatchBackend()
    cache = make(backend, clock, jobs, breaker_failures=1)
    backend.fail = down
    with pytest.raises(BackendUnavailable):
        cache.get("a/b/x")
    got = cache.prefetch(["a/b/y", "a/b/z"])
    assert all("circuit breaker open" in str(v) for v in got.values())
    assert cache.stats().backend_failures == 1


def test_a_failed_batch_gives_every_name_its_error_and_counts_once(
    clock: FakeClock, jobs: Jobs
) -> None:
    """When read_many raises, each name gets that very error and the breaker counts one failure."""
    backend = FailingBatch()
    cache = make(backend, clock, jobs, breaker_failures=5)
    error = BackendUnavailable("batch endpoint down", backend="fake://")
    backend.batch_error = error
    got = cache.prefetch(["a/b/x", "a/b/y"])
    assert got == {"a/b/x": error, "a/b/y": error}
    assert cache.stats().backend_failures == 1


def test_a_batch_answer_ends_the_outage_and_every_backoff(clock: FakeClock, jobs: Jobs) -> None:
    """A successful batch after failures resets the breaker and lets failing values retry now."""
    backend = FailingBatch()
    cache = make(backend, clock, jobs, retry_base=50, retry_max=50)
    backend.set(NAME, "one")
    backend.set("a/b/other", "x")
    cache.get(NAME)
    backend.fail = down
    clock.now = 1090.0
    cache.get(NAME)
    assert jobs.run() == 1  # failing: next retry at 1115
    assert cache.stats().backend_failures == 1
    clock.now = 1091.0
    assert cache.prefetch(["a/b/other"])["a/b/other"].value.text() == "x"  # the batch answers
    assert cache.stats().backend_failures == 0
    cache.get(NAME)
    assert len(jobs) == 1  # its backoff ended with the outage


def test_close_forgets_everything_tells_listeners_and_spawns_nothing_more(
    backend: FakeBackend, clock: FakeClock
) -> None:
    """close() drops entries, not-founds and queue records, notifies once, refuses new jobs."""
    cache = SecretCache(backend, CachePolicy(ttl=100, jitter=0), clock=clock)
    backend.set(NAME, "v")
    cache.get(NAME)
    with pytest.raises(SecretNotFound):
        cache.get("a/b/missing")
    calls: list[int] = []
    cache.add_listener(lambda: calls.append(1))
    cache.close()
    assert (cache.stats().entries, cache.stats().negative) == (0, 0)
    assert len(cache._order) == 0
    assert calls == [1]
    with pytest.raises(RuntimeError, match="the cache is closed"):
        cache._spawn(lambda: None)
    assert cache._pool is None


def test_drain_hits_merges_every_version_of_a_name(
    cache: SecretCache, backend: FakeBackend, clock: FakeClock
) -> None:
    """Hits on a name's versions add up under the name, from the earliest to the latest hit."""
    backend.set(NAME, "one")
    backend.set(NAME, "two")
    cache.get(NAME)
    cache.get(NAME, version="1")
    for now, version in [(1001.0, "1"), (1002.0, None), (1003.0, None), (1004.0, "1")]:
        clock.now = now
        cache.get(NAME, version=version)
    assert cache.drain_hits() == {NAME: HitStats(4, 1001.0, 1004.0)}


def test_a_removed_listener_hears_nothing_and_removing_a_stranger_is_fine(
    cache: SecretCache, backend: FakeBackend
) -> None:
    """remove_listener stops the calls; removing one never added does nothing."""
    calls: list[str] = []

    def listener() -> None:
        calls.append("called")

    cache.add_listener(listener)
    cache.remove_listener(listener)
    cache.remove_listener(listener)
    cache.remove_listener(lambda: None)
    backend.set(NAME, "v")
    cache.get(NAME)
    assert calls == []
