"""The cache's circuit breaker on its own: counting, opening, the one probe, recovery.

Times are plain monotonic readings passed in: nothing here reads a clock.
"""

from __future__ import annotations

import pytest

from sekret.cache._breaker import Breaker

T0 = 1000.0


def opened(threshold: int = 2, cooldown: float = 5.0) -> Breaker:
    """A breaker opened at T0 by ``threshold`` failures."""
    breaker = Breaker(threshold, cooldown)
    for _ in range(threshold):
        breaker.failed(T0, OSError("down"))
    return breaker


def test_a_new_breaker_is_closed_and_clean() -> None:
    """A new breaker keeps its settings, counts nothing, is closed, holds no probe or error."""
    breaker = Breaker(3, 5.0)
    assert (breaker.threshold, breaker.cooldown) == (3, 5.0)
    assert breaker.failures == 0
    assert breaker.open_until is None
    assert breaker.probing is False
    assert breaker.last_error is None
    assert breaker.allows(T0) is True
    assert breaker.retry_in(T0) == 0.0


def test_it_opens_at_the_threshold_not_before() -> None:
    """Failures below the threshold leave it closed; the threshold-th opens it for cooldown."""
    breaker = Breaker(3, 5.0)
    errors = [OSError(str(n)) for n in range(3)]
    assert breaker.failed(T0, errors[0]) is False
    assert breaker.failed(T0 + 1, errors[1]) is False
    assert breaker.open_until is None
    assert breaker.allows(T0 + 1) is True
    assert breaker.admit(T0 + 1) is True
    assert breaker.failed(T0 + 2, errors[2]) is True  # this one opened it
    assert breaker.failures == 3
    assert breaker.open_until == T0 + 2 + 5.0
    assert breaker.last_error is errors[2]
    assert breaker.allows(T0 + 2) is False
    assert breaker.retry_in(T0 + 2) == 5.0


def test_a_threshold_of_one_opens_at_the_first_failure() -> None:
    """breaker_failures=1: the first failure opens it."""
    breaker = Breaker(1, 5.0)
    assert breaker.failed(T0, OSError("down")) is True
    assert breaker.open_until == T0 + 5.0


def test_threshold_zero_never_opens() -> None:
    """breaker_failures=0: failures are counted but the breaker never opens."""
    breaker = Breaker(0, 5.0)
    for n in range(10):
        assert breaker.failed(T0 + n, OSError("down")) is False
    assert breaker.failures == 10
    assert breaker.open_until is None
    assert breaker.admit(T0 + 10) is True


def test_an_open_breaker_refuses_until_the_cooldown_ends() -> None:
    """While open, neither allows nor admit lets a read through, up to the last instant."""
    breaker = opened(cooldown=5.0)
    for now in (T0, T0 + 4.999):
        assert breaker.allows(now) is False
        assert breaker.admit(now) is False
    assert breaker.probing is False
    assert breaker.retry_in(T0 + 4) == pytest.approx(1.0)


def test_exactly_at_the_end_of_the_cooldown_one_probe_is_admitted() -> None:
    """At open_until (not only after it) the probe is due; admit hands it out once."""
    breaker = opened(cooldown=5.0)
    due = T0 + 5.0
    assert breaker.allows(due) is True
    assert breaker.retry_in(due) == 0.0
    assert breaker.admit(due) is True
    assert breaker.probing is True
    assert breaker.open_until == due  # still open: only the probe goes through
    assert breaker.allows(due) is False
    assert breaker.admit(due) is False
    assert breaker.admit(due + 100) is False  # however late: one probe at a time


def test_a_late_probe_is_admitted_once() -> None:
    """Long after the cooldown a probe is still one read, not every read."""
    breaker = opened()
    late = T0 + 60
    assert [breaker.admit(late) for _ in range(3)] == [True, False, False]


def test_retry_in_never_goes_below_zero() -> None:
    """Past the cooldown the wait for the next probe is 0, not negative."""
    breaker = opened(cooldown=5.0)
    assert breaker.retry_in(T0 + 30) == 0.0


def test_a_failed_probe_reopens_for_another_cooldown_without_a_new_opening() -> None:
    """A probe's failure re-opens from its own time, frees the probe, is not a new opening."""
    breaker = opened(cooldown=5.0)
    assert breaker.admit(T0 + 5) is True
    error = OSError("still down")
    assert breaker.failed(T0 + 6, error) is False
    assert breaker.open_until == T0 + 11
    assert breaker.probing is False
    assert breaker.last_error is error
    assert breaker.admit(T0 + 10) is False
    assert breaker.admit(T0 + 11) is True


def test_a_successful_probe_closes_the_breaker() -> None:
    """A probe's success is a recovery: closed, count reset, probe and error cleared."""
    breaker = opened()
    assert breaker.admit(T0 + 5) is True
    assert breaker.succeeded() is True
    assert breaker.failures == 0
    assert breaker.open_until is None
    assert breaker.probing is False
    assert breaker.last_error is None
    assert breaker.allows(T0 + 5) is True
    assert breaker.admit(T0 + 5) is True
    assert breaker.admit(T0 + 5) is True  # closed: every read, not one probe


def test_one_failure_then_a_success_is_a_recovery_that_resets_the_count() -> None:
    """A single failure below the threshold, then an answer: recovered, and the count restarts."""
    breaker = Breaker(2, 5.0)
    breaker.failed(T0, OSError("blip"))
    assert breaker.succeeded() is True
    assert breaker.failures == 0
    assert breaker.last_error is None
    assert breaker.failed(T0 + 1, OSError("blip")) is False  # one, not two: still closed
    assert breaker.open_until is None


def test_a_success_while_healthy_is_not_a_recovery() -> None:
    """succeeded() on a breaker that was not failing reports False and changes nothing."""
    breaker = Breaker(2, 5.0)
    assert breaker.succeeded() is False
    assert breaker.failures == 0
    assert breaker.open_until is None
    breaker.failed(T0, OSError("blip"))
    breaker.succeeded()
    assert breaker.succeeded() is False  # the second answer in a row is not news


def test_an_abandoned_probe_lets_another_probe_run() -> None:
    """A probe that ended without an answer frees the slot; the breaker stays open."""
    breaker = opened()
    assert breaker.admit(T0 + 5) is True
    breaker.abandon()
    assert breaker.probing is False
    assert breaker.open_until == T0 + 5
    assert breaker.admit(T0 + 5) is True


class ClosedWhileWaiting:
    """A lock that, when taken, finds another thread's success already recorded."""

    def __init__(self, breaker: Breaker) -> None:
        self.breaker = breaker
        self.real = breaker._lock

    def __enter__(self) -> None:
        self.real.acquire()
        self.breaker.failures = 0  # what the other thread's succeeded() left behind
        self.breaker.open_until = None
        self.breaker.probing = False

    def __exit__(self, *exc: object) -> None:
        self.real.release()


def test_admit_says_yes_when_the_breaker_closed_while_it_waited_for_the_lock() -> None:
    """An open breaker that another thread closes before admit gets its lock: the read may go."""
    breaker = opened()
    breaker._lock = ClosedWhileWaiting(breaker)  # type: ignore[assignment]
    assert breaker.admit(T0 + 1) is True
    assert breaker.probing is False  # closed: no probe was claimed


def test_a_recovery_already_recorded_by_another_thread_is_not_reported_twice() -> None:
    """succeeded() after another thread's success closed the breaker reports no second recovery."""
    breaker = opened()
    breaker._lock = ClosedWhileWaiting(breaker)  # type: ignore[assignment]
    assert breaker.succeeded() is False
