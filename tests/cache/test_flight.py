"""The cache's cold helpers on their own: latch, flight, futures, backoff, workers, stale reports.

Nothing here reads a clock to decide an outcome; threads are joined, not timed.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading

import pytest

from sekret import BackendUnavailable, SecretNotFound, SecretValue
from sekret._values import Secret
from sekret.cache import CachePolicy
from sekret.cache._flight import (
    DaemonPool,
    Flight,
    Latch,
    Negative,
    backoff,
    fresh_copy,
    logger,
    report_stale,
    resolve_future,
    transient,
)
from sekret.exceptions import AccessDenied, IntegrityError, Throttled
from sekret.testing import sentinel_value

NAME = "app/prod/db-password"


def a_secret() -> Secret:
    """A secret holding a fresh sentinel value."""
    return Secret(name=NAME, value=SecretValue.of(sentinel_value()), version="1")


# -- Latch ---------------------------------------------------------------------------------
def test_a_latch_starts_shut_and_a_timed_wait_fails() -> None:
    """Before set, is_set is False and a wait with a timeout returns False."""
    latch = Latch()
    assert latch.is_set() is False
    assert latch.wait(0) is False
    assert latch.wait(0.001) is False


def test_a_set_latch_lets_every_waiter_through_again_and_again() -> None:
    """After set, every wait (with or without timeout) returns True at once; set twice is fine."""
    latch = Latch()
    latch.set()
    latch.set()  # a second set must not release the gate twice
    assert latch.is_set() is True
    assert [latch.wait(), latch.wait(0), latch.wait(None)] == [True, True, True]


def test_waiters_without_timeout_block_until_set() -> None:
    """Threads waiting with no timeout all pass once set is called, each seeing True."""
    latch = Latch()
    seen: list[bool] = []
    threads = [threading.Thread(target=lambda: seen.append(latch.wait())) for _ in range(3)]
    for thread in threads:
        thread.start()
    assert seen == []  # nobody passed a shut latch
    latch.set()
    for thread in threads:
        thread.join()
    assert seen == [True, True, True]


def test_a_wait_that_ran_while_shut_still_passes_after_set() -> None:
    """The gate reopens for later waiters: a waiter that got through releases it again."""
    latch = Latch()
    first = threading.Thread(target=latch.wait)
    first.start()
    latch.set()
    first.join()
    assert latch.wait(0) is True


# -- Flight and Negative -------------------------------------------------------------------
def test_a_new_flight_is_pending_installable_and_unclaimed() -> None:
    """A new flight has no outcome, is not done, may be installed, has no callers."""
    flight = Flight()
    assert flight.outcome is None
    assert flight.done is False
    assert flight.installable is True
    assert flight.explicit is False
    assert flight.callers == 0
    assert flight.futures == []
    assert flight.event.is_set() is False
    assert Flight(explicit=True).explicit is True


def test_a_flight_result_returns_the_secret_or_raises_the_error() -> None:
    """result() gives the secret read, or raises the very error the read ended with."""
    flight = Flight()
    secret = a_secret()
    flight.outcome = secret
    assert flight.result() is secret
    error = BackendUnavailable("down")
    flight.outcome = error
    with pytest.raises(BackendUnavailable) as info:
        flight.result()
    assert info.value is error


def test_a_negative_holds_its_error_and_deadline() -> None:
    """A cached not-found keeps the error and until when it holds."""
    error = SecretNotFound(f"no secret {NAME!r}")
    negative = Negative(error, 12.5)
    assert (negative.error, negative.until) == (error, 12.5)


# -- futures -------------------------------------------------------------------------------
def test_resolve_future_sets_a_result_or_an_exception() -> None:
    """A waiting task's future gets the secret, or the error as its exception."""
    loop = asyncio.new_event_loop()
    try:
        secret, error = a_secret(), BackendUnavailable("down")
        ok, bad = loop.create_future(), loop.create_future()
        resolve_future(ok, secret)
        resolve_future(bad, error)
        assert ok.result() is secret
        assert bad.exception() is error
    finally:
        loop.close()


def test_resolve_future_leaves_a_cancelled_future_alone() -> None:
    """A future whose task was cancelled is skipped, not an InvalidStateError."""
    loop = asyncio.new_event_loop()
    try:
        fut = loop.create_future()
        fut.cancel()
        resolve_future(fut, a_secret())
        resolve_future(fut, BackendUnavailable("down"))
        assert fut.cancelled()
    finally:
        loop.close()


# -- which errors a stale value may cover --------------------------------------------------
@pytest.mark.parametrize(
    ("error", "covered"),
    [
        (BackendUnavailable("down"), True),
        (Throttled("slow down"), True),
        (OSError("reset"), True),
        (ValueError("odd reply"), True),
        (SecretNotFound("gone"), False),
        (AccessDenied("no"), False),
        (IntegrityError("tampered"), False),
        (KeyboardInterrupt(), False),
        (SystemExit(1), False),
    ],
)
def test_only_unavailability_and_untranslated_errors_are_transient(
    error: BaseException, covered: bool
) -> None:
    """Unavailability and untranslated Exceptions are transient; answers and exits are not."""
    assert transient(error) is covered


# -- a cached not-found raised again -------------------------------------------------------
def test_fresh_copy_is_a_new_error_with_the_cause_and_no_traceback() -> None:
    """The copy is another object of the same class and message, cause kept, no traceback."""
    cause = KeyError("x")
    try:
        raise SecretNotFound(f"no secret {NAME!r}", name=NAME) from cause
    except SecretNotFound as caught:
        original = caught
    assert original.__traceback__ is not None
    copy = fresh_copy(original)
    assert copy is not original
    assert type(copy) is SecretNotFound
    assert str(copy) == str(original)
    assert copy.name == NAME
    assert copy.__cause__ is cause
    assert copy.__traceback__ is None


def test_fresh_copy_of_an_uncopyable_error_is_the_error_itself() -> None:
    """An exotic subclass that refuses copying is raised as it is."""

    class Uncopyable(SecretNotFound):
        def __reduce_ex__(self, protocol: object) -> object:
            raise TypeError("no copies")

    error = Uncopyable("gone")
    assert fresh_copy(error) is error


# -- backoff -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("failures", "rng", "expected"),
    [
        (1, 0.0, 0.5),  # base 1 s, the lowest jitter halves it
        (1, 1.0, 1.0),  # the highest jitter keeps it
        (2, 1.0, 2.0),
        (3, 1.0, 4.0),
        (3, 0.5, 3.0),
        (7, 1.0, 50.0),  # 64 s capped at retry_max
        (7, 0.0, 25.0),
    ],
)
def test_backoff_doubles_from_retry_base_caps_at_retry_max_and_jitters_down_to_half(
    failures: int, rng: float, expected: float
) -> None:
    """Retry n waits retry_base * 2**(n-1), capped at retry_max, times 0.5 + 0.5 * rng()."""
    policy = CachePolicy(retry_base=1.0, retry_max=50.0)
    assert backoff(policy, lambda: rng, failures) == expected


# -- background workers --------------------------------------------------------------------
def test_the_pool_runs_jobs_on_at_most_its_workers_and_survives_a_failing_job(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Jobs run on up to `workers` named daemon threads; a job's exception is logged, not fatal."""
    pool = DaemonPool(2)
    gate = threading.Event()
    ran: list[str] = []
    done = threading.Semaphore(0)

    def job() -> None:
        gate.wait()
        ran.append(threading.current_thread().name)
        done.release()

    def boom() -> None:
        try:
            raise RuntimeError("job failed")
        finally:
            done.release()

    with caplog.at_level(logging.ERROR, logger="sekret.cache"):
        for _ in range(4):
            pool.submit(job)
        pool.submit(boom)
        assert len(pool._threads) == 2
        assert all(t.daemon for t in pool._threads)
        gate.set()
        for _ in range(5):
            done.acquire()
        pool.submit(job)  # the workers are still alive after the failing job
        done.acquire()
        pool.close()
    assert len(ran) == 5
    assert set(ran) <= {"sekret-refresh-0", "sekret-refresh-1"}
    assert "background cache refresh failed unexpectedly" in caplog.text
    assert all(not t.is_alive() for t in pool._threads)


def test_a_closed_pool_refuses_jobs() -> None:
    """submit after close raises, naming the closed cache."""
    pool = DaemonPool(1)
    pool.close()
    with pytest.raises(RuntimeError, match="the cache is closed"):
        pool.submit(lambda: None)


def test_close_from_a_worker_does_not_join_itself() -> None:
    """A job that closes its own pool returns (a thread cannot join itself)."""
    pool = DaemonPool(1)
    closed = threading.Event()

    def job() -> None:
        pool.close()
        closed.set()

    pool.submit(job)
    assert closed.wait(60)


class StuckThread:
    """A worker that never finishes: records how long close() waits for it."""

    def __init__(self, waits: list[float]) -> None:
        self.waits = waits

    def join(self, timeout: float | None = None) -> None:
        assert timeout is not None  # close never waits without a bound
        self.waits.append(timeout)


def test_close_waits_one_second_in_all_for_busy_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """close() bounds its wait for stuck workers by `timeout` (default 1 s) in total, not each."""
    import sekret.cache._flight as flight_module

    readings = iter([100.0, 100.25, 103.0, 104.0])
    monkeypatch.setattr(flight_module.time, "monotonic", lambda: next(readings))
    pool = DaemonPool(3)
    waits: list[float] = []
    pool._threads = [StuckThread(waits) for _ in range(3)]  # type: ignore[list-item]
    pool.close()
    assert waits == [0.75, 0.0, 0.0]  # the deadline is 101.0: 0.75 left, then none


# -- stale reports -------------------------------------------------------------------------
def test_the_logger_is_sekret_cache() -> None:
    """The cache logs under `sekret.cache`."""
    assert logger() is logging.getLogger("sekret.cache")


def test_a_served_stale_value_logs_a_warning_and_calls_on_stale(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Serving stale: one warning naming the secret and the error, and the hook gets both."""
    value = sentinel_value()
    error = BackendUnavailable("vault is sealed")
    calls: list[tuple[str, BaseException]] = []
    with caplog.at_level(logging.WARNING, logger="sekret.cache"):
        report_stale(NAME, error, True, lambda n, e: calls.append((n, e)))
    assert calls == [(NAME, error)]
    [record] = caplog.records
    assert record.levelno == logging.WARNING
    assert record.getMessage() == (
        f"refresh of secret {NAME!r} failed (BackendUnavailable: vault is sealed);"
        " serving the cached value"
    )
    assert value not in caplog.text


def test_an_untranslated_error_is_not_quoted_in_the_log(caplog: pytest.LogCaptureFixture) -> None:
    """A foreign error's text (which might hold anything) is replaced by 'untranslated error'."""
    planted = sentinel_value()
    with caplog.at_level(logging.WARNING, logger="sekret.cache"):
        report_stale(NAME, OSError(planted), True, None)
    assert "(OSError: untranslated error)" in caplog.text
    assert planted not in caplog.text


def test_a_failing_on_stale_hook_is_logged_and_swallowed(caplog: pytest.LogCaptureFixture) -> None:
    """A hook that raises is logged with the secret's name; the report still completes."""

    def hook(name: str, error: BaseException) -> None:
        raise RuntimeError("hook broke")

    with caplog.at_level(logging.WARNING, logger="sekret.cache"):
        report_stale(NAME, BackendUnavailable("down"), True, hook)
    assert f"cache on_stale hook failed for secret {NAME!r}" in caplog.text


def test_past_max_stale_logs_an_error_and_skips_the_hook(caplog: pytest.LogCaptureFixture) -> None:
    """Not serving (past max_stale): one error-level record, and on_stale is not called."""
    calls: list[str] = []
    with caplog.at_level(logging.WARNING, logger="sekret.cache"):
        report_stale(NAME, BackendUnavailable("down"), False, lambda n, e: calls.append(n))
    assert calls == []
    [record] = caplog.records
    assert record.levelno == logging.ERROR
    assert record.getMessage() == (
        f"refresh of secret {NAME!r} failed (BackendUnavailable: down) and its value is past"
        " max_stale"
    )


def test_importing_the_helpers_loads_no_asyncio_logging_or_queue() -> None:
    """`sekret.cache._flight` leaves asyncio, logging and queue to first use."""
    code = (
        "import sys, sekret.cache._flight; "
        "print(sorted(m for m in ('asyncio', 'logging', 'queue') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
