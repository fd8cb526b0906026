"""The cache against a simple model, driven by Hypothesis.

The model is a plain dict of (value, fetched time, failing) per key with the
documented rules written out naively: TTL, stale-if-error up to max_stale,
negative caching, second-chance (CLOCK) eviction over a list in fill order,
invalidation. Refresh-ahead is off
(``refresh_ratio=1``) and retries have no backoff, so background refreshes
(run inline) happen exactly when a stale value is served.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import hypothesis.strategies as st
from hypothesis import settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from sekret import BackendUnavailable, Secret, SecretNotFound, SecretValue
from sekret.backends.base import Backend, Capability
from sekret.cache import CachePolicy, SecretCache

TTL, MAX_STALE, NEGATIVE_TTL, MAX_SIZE = 10.0, 15.0, 3.0, 3
NAMES = ("s/a", "s/b", "s/c", "s/d")
Key = tuple[str, str | None, None]


class ModelBackend(Backend):
    """Names with versions "1", "2", ...; can be switched off."""

    scheme: ClassVar[str] = "model"
    capabilities = Capability.READ | Capability.VERSIONS

    def __init__(self) -> None:
        self.values: dict[str, list[str]] = {}
        self.up = True
        self.reads = 0

    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        self.reads += 1
        if not self.up:
            raise BackendUnavailable("down", backend="model://")
        versions = self.values.get(name)
        if not versions:
            raise SecretNotFound(f"secret {name!r} not found", name=name)
        index = len(versions) if version is None else int(version)
        return Secret(name, str(index), SecretValue.of(versions[index - 1]))


@dataclass
class Slot:
    value: str
    fetched: float
    used: float  # the last hit (or the first fill)
    queued: float  # `used` when the slot was last put at the back of the queue
    failing: bool = False


class CacheModel(RuleBasedStateMachine):
    """Every read's answer and every backend read are predicted by the model."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 100.0
        self.backend = ModelBackend()
        policy = CachePolicy(
            ttl=TTL,
            max_stale=MAX_STALE,
            negative_ttl=NEGATIVE_TTL,
            max_size=MAX_SIZE,
            refresh_ratio=1.0,
            jitter=0.0,
            retry_base=0.0,
            retry_max=0.0,
            stale_wait=None,  # the model reads an expired entry in the caller
            breaker_failures=0,  # the breaker has its own tests in test_cache.py
        )
        self.cache = SecretCache(
            self.backend, policy, clock=lambda: self.now, spawn=lambda job: job()
        )
        self.slots: dict[Key, Slot] = {}
        self.queue: list[Key] = []  # eviction order: the front is looked at first
        self.negative: dict[Key, float] = {}
        self.reads = 0
        self.hits: dict[str, int] = {}
        self.counter = 0

    # -- the model's backend read --------------------------------------------
    def fetch(self, key: Key) -> str | type[Exception]:
        self.reads += 1
        name, version, _ = key
        if not self.backend.up:
            return BackendUnavailable
        versions = self.backend.values.get(name)
        if not versions:
            return SecretNotFound
        return versions[-1] if version is None else versions[int(version) - 1]

    def install(self, key: Key, value: str) -> None:
        old = self.slots.get(key)  # a refill keeps the slot's hit time and its place
        if old is None:
            self.slots[key] = Slot(value, self.now, self.now, self.now)
            self.queue.append(key)
        else:
            self.slots[key] = Slot(value, self.now, old.used, old.queued)
        self.negative.pop(key, None)
        while len(self.slots) > MAX_SIZE:  # second chance: read since queued -> to the back
            front = self.queue.pop(0)
            slot = self.slots[front]
            if slot.used != slot.queued or front == key:
                slot.queued = slot.used
                self.queue.append(front)
            else:
                del self.slots[front]

    def drop_name(self, name: str) -> None:
        for key in [k for k in self.slots if k[0] == name]:
            del self.slots[key]
            self.queue.remove(key)

    def apply(self, key: Key, got: str | type[Exception]) -> str | type[Exception]:
        """What a completed read does to the model; returns the caller's answer."""
        slot = self.slots.get(key)
        if isinstance(got, str):
            self.install(key, got)
            return got
        if got is SecretNotFound:
            self.drop_name(key[0])
            self.negative.pop(key, None)
            self.negative[key] = self.now + NEGATIVE_TTL
            while len(self.negative) > MAX_SIZE:  # bounded too: the oldest goes first
                del self.negative[next(iter(self.negative))]
            return got
        if slot is None:
            return got
        slot.failing = True
        return slot.value if self.now < slot.fetched + TTL + MAX_STALE else BackendUnavailable

    def expected_get(self, key: Key) -> str | type[Exception]:
        slot = self.slots.get(key)
        if slot is not None:
            expires = slot.fetched + TTL
            if self.now < expires or (slot.failing and self.now < expires + MAX_STALE):
                slot.used = self.now
                self.hits[key[0]] = self.hits.get(key[0], 0) + 1
                if self.now >= expires:  # stale: the inline background retry runs now
                    self.apply(key, self.fetch(key))
                return slot.value
            return self.apply(key, self.fetch(key))
        until = self.negative.get(key)
        if until is not None and self.now < until:
            return SecretNotFound
        return self.apply(key, self.fetch(key))

    # -- rules -----------------------------------------------------------------
    @rule(name=st.sampled_from(NAMES))
    def write(self, name: str) -> None:
        self.counter += 1
        self.backend.values.setdefault(name, []).append(f"value-{self.counter}")

    @rule(name=st.sampled_from(NAMES))
    def remove(self, name: str) -> None:
        self.backend.values.pop(name, None)

    @rule(up=st.booleans())
    def switch(self, up: bool) -> None:
        self.backend.up = up

    @rule(seconds=st.sampled_from([0.5, 2.0, 4.0, 9.0, 12.0, 30.0]))
    def tick(self, seconds: float) -> None:
        self.now += seconds

    @rule(name=st.sampled_from(NAMES), pinned=st.booleans())
    def get(self, name: str, pinned: bool) -> None:
        self.now += 0.001  # every read at a distinct time: LRU order is never a tie
        key: Key = (name, "1" if pinned else None, None)
        expected = self.expected_get(key)
        actual: str | type[Exception]
        try:
            actual = self.cache.get(name, version=key[1]).value.text()
        except (SecretNotFound, BackendUnavailable) as exc:
            actual = type(exc)
        assert actual == expected, (key, actual, expected)

    @rule(name=st.sampled_from(NAMES))
    def invalidate(self, name: str) -> None:
        self.cache.invalidate(name)
        self.drop_name(name)
        for key in [k for k in self.negative if k[0] == name]:
            del self.negative[key]

    @rule()
    def drain(self) -> None:
        drained = {n: h.count for n, h in self.cache.drain_hits().items()}
        assert drained == self.hits
        self.hits = {}

    # -- invariants -------------------------------------------------------------
    @invariant()
    def backend_reads_match(self) -> None:
        assert self.backend.reads == self.reads

    @invariant()
    def held_values_match(self) -> None:
        held = {v.text() for v in self.cache.held_values()}
        assert held == {s.value for s in self.slots.values()}
        assert self.cache.stats().entries == len(self.slots) <= MAX_SIZE

    def teardown(self) -> None:
        self.cache.close()


CacheModel.TestCase.settings = settings(max_examples=80, stateful_step_count=40, deadline=None)
TestCacheModel = CacheModel.TestCase
TestCacheModel.__doc__ = "The cache's answers, backend reads and held values follow the model."


BREAKER_FAILURES, COOLDOWN = 2, 5.0


class BreakerMachine(RuleBasedStateMachine):
    """The circuit breaker under random outages: fail fast, never fail a held value, recover."""

    def __init__(self) -> None:
        super().__init__()
        self.now = 100.0
        self.backend = ModelBackend()
        for name in NAMES:
            self.backend.values[name] = [f"value-of-{name}"]
        policy = CachePolicy(
            ttl=TTL,
            max_stale=1e6,  # a value once read is always "in hand"
            jitter=0.0,
            retry_base=0.0,
            retry_max=0.0,
            breaker_failures=BREAKER_FAILURES,
            breaker_cooldown=COOLDOWN,
        )
        self.cache = SecretCache(
            self.backend, policy, clock=lambda: self.now, spawn=lambda job: job()
        )
        self.held: set[str] = set()
        self.opened_at: float | None = None  # when the breaker last opened (model time)
        self.failures = 0  # consecutive backend reads that failed

    @rule(up=st.booleans())
    def switch(self, up: bool) -> None:
        self.backend.up = up

    @rule(seconds=st.sampled_from([0.5, 2.0, 4.0, 6.0, 12.0]))
    def tick(self, seconds: float) -> None:
        self.now += seconds

    @rule(name=st.sampled_from(NAMES))
    def get(self, name: str) -> None:
        was_open = self.cache.stats().breaker_open
        cooling = was_open and self.opened_at is not None and self.now < self.opened_at + COOLDOWN
        reads = self.backend.reads
        try:
            got: str | None = self.cache.get(name).value.text()
        except BackendUnavailable:
            got = None
        if cooling:
            assert self.backend.reads == reads, "an open breaker let a read through"
        if name in self.held:
            assert got == f"value-of-{name}", "a held value was not served"
        if self.backend.up and not cooling:
            assert got == f"value-of-{name}", "the backend is up but the read failed"
        if got is not None:
            self.held.add(name)
        if self.backend.reads > reads:
            self.failures = 0 if self.backend.up else self.failures + self.backend.reads - reads
        now_open = self.cache.stats().breaker_open
        assert now_open == (self.failures >= BREAKER_FAILURES)
        if now_open and (not was_open or self.backend.reads > reads):
            self.opened_at = self.now

    def teardown(self) -> None:
        self.cache.close()


BreakerMachine.TestCase.settings = settings(max_examples=80, stateful_step_count=40, deadline=None)
TestBreakerMachine = BreakerMachine.TestCase
TestBreakerMachine.__doc__ = "Open: no backend reads until the cooldown; held values always served."
