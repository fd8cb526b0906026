"""The cache's circuit breaker: fail fast while the backend keeps failing.

``Breaker`` counts consecutive transient failures of backend reads (any
name). At ``threshold`` it opens: reads that would call the backend are
refused at once (the cache raises ``BackendUnavailable`` or serves a stale
value it holds) instead of each waiting for the backend's timeout. After
``cooldown`` seconds one read is let through as a probe (half-open); its
success closes the breaker, its failure opens it for another ``cooldown``.
Any success (a value, or a definite answer such as not-found) resets the
count.

It holds no value and does no I/O; its lock is never held across a call out.
The closed-state checks read one attribute without the lock (the fast path).
"""

from __future__ import annotations

import threading

__all__ = ["Breaker"]


class Breaker:
    """Consecutive-failure circuit breaker over one backend; times are monotonic readings."""

    __slots__ = (
        "_lock",
        "cooldown",
        "failures",
        "last_error",
        "open_until",
        "probing",
        "threshold",
    )

    def __init__(self, threshold: int, cooldown: float) -> None:
        self.threshold = threshold  # 0: never opens
        self.cooldown = cooldown
        self.failures = 0
        self.open_until: float | None = None  # None: closed
        self.probing = False
        self.last_error: BaseException | None = None
        self._lock = threading.Lock()

    def allows(self, now: float) -> bool:
        """Whether a read may go to the backend now (closed, or a probe is due); takes nothing."""
        until = self.open_until
        return until is None or (now >= until and not self.probing)

    def admit(self, now: float) -> bool:
        """Claim the right to call the backend: True when closed, or as the one half-open probe."""
        if self.allows(now) and self.open_until is None:
            return True
        with self._lock:
            until = self.open_until
            if until is None:
                return True
            if now >= until and not self.probing:
                self.probing = True
                return True
            return False

    def succeeded(self) -> bool:
        """Record an answer from the backend; True if it had been failing (a recovery)."""
        if self.failures == 0 and self.open_until is None:
            return False
        with self._lock:
            recovered = self.failures > 0 or self.open_until is not None
            self.failures = 0
            self.open_until = None
            self.probing = False
            self.last_error = None
        return recovered

    def failed(self, now: float, error: BaseException) -> bool:
        """Record a transient failure; opens (or re-opens) at the threshold.

        True when this failure opened a closed breaker (worth a log line).
        """
        with self._lock:
            self.failures += 1
            self.probing = False
            self.last_error = error
            if self.threshold and self.failures >= self.threshold:
                opened = self.open_until is None
                self.open_until = now + self.cooldown
                return opened
        return False

    def abandon(self) -> None:
        """A read ended without an answer (interrupted): a probe may run again."""
        with self._lock:
            self.probing = False

    def retry_in(self, now: float) -> float:
        """Seconds until the next probe may run (0 when closed or due)."""
        until = self.open_until
        return 0.0 if until is None else max(0.0, until - now)
