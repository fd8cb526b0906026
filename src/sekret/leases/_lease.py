"""``Lease``: dynamic credentials that renew themselves and switch before they expire.

A ``Lease`` holds the current ``LeaseGrant`` of one secret and keeps it alive:

* at ``renew_fraction`` of the TTL (default one half) it renews the lease;
* when renewal is refused, when the lease is not renewable, or when the
  server grants less than asked (the max TTL is near), it fetches NEW
  credentials while the old ones are still valid, switches to them, and
  calls every ``on_rotate`` callback (pool hooks dispose their connections);
* when the backend is unreachable it keeps serving the still-valid
  credentials and retries with exponential backoff, never waiting past the
  expiry.

One lock makes every renewal single-flight: the background thread and an
explicit ``renew()`` never both talk to the backend. ``close()`` (or
``revoke()``) revokes the current lease and every superseded one still alive;
so does a normal interpreter exit (``atexit``) for every lease not closed
yet; a process that crashes or is killed leaves them to expire by TTL.

Time: ``monotonic`` decides when to act, ``wall`` only stamps ``expires_at``;
both are injectable, and ``start=False`` plus ``maintain()`` drives the lease
by hand in tests. This module must never put the credentials into a repr, a
log line or an exception message (lease ids are identifiers and may be shown).
"""

from __future__ import annotations

import atexit
import logging
import math
import threading
import time
import weakref
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sekret._values import SecretValue
from sekret.backends.base import Backend
from sekret.exceptions import BackendUnavailable, InvalidValue, SekretError, Throttled

__all__ = ["Lease", "RotateCallback"]

RotateCallback = Callable[["Lease"], None]

_log = logging.getLogger("sekret.leases")
_TOLERANCE = 1.0  # seconds: Vault rounds TTLs to whole seconds
_LIVE: weakref.WeakSet[Lease] = weakref.WeakSet()  # closed at interpreter exit


@atexit.register
def _close_at_exit() -> None:
    """Revoke (per each lease's ``revoke_on_close``) what the program did not close."""
    for lease in list(_LIVE):
        lease.close()


class Lease:
    """The live credentials of one dynamic secret; see the module docstring."""

    def __init__(
        self,
        backend: Backend,
        name: str,
        *,
        renew_fraction: float = 0.5,
        backoff: float = 1.0,
        max_backoff: float = 30.0,
        revoke_on_close: bool = True,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        start: bool = True,
    ) -> None:
        if not 0.05 <= renew_fraction <= 0.95:
            raise InvalidValue("renew_fraction must be between 0.05 and 0.95")
        if not 0 < backoff <= max_backoff:
            raise InvalidValue("backoff must be positive and at most max_backoff")
        self.name = name
        self._backend = backend
        self._fraction = renew_fraction
        self._backoff = backoff
        self._max_backoff = max_backoff
        self._revoke_on_close = revoke_on_close
        self._mono = monotonic
        self._wall = wall
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._callbacks: list[RotateCallback] = []
        self._superseded: list[tuple[str, float]] = []  # (lease id, monotonic expiry)
        self._failures = 0
        self._closed = False
        self.generation = 0
        """How many times the credentials changed (0: the first grant)."""
        self._grant = backend.issue_lease(name)
        self._adopt(self._grant.ttl)
        _LIVE.add(self)
        self._thread: threading.Thread | None = None
        if start:
            self._thread = threading.Thread(
                target=self._run, name=f"sekret-lease-{name}", daemon=True
            )
            self._thread.start()

    # -- what the application reads --------------------------------------------
    @property
    def credentials(self) -> SecretValue:
        """The current credentials (a JSON ``SecretValue``; ``.json()`` reveals them)."""
        return self._grant.credentials

    def json(self) -> Any:
        """The current credentials, revealed (``{"username": ..., "password": ...}``)."""
        return self._grant.credentials.json()

    def field(self, key: str) -> str:
        """One field of the current credentials as text (``lease.field("username")``)."""
        doc = self.json()
        if not isinstance(doc, dict) or key not in doc:
            raise InvalidValue(f"lease of {self.name!r} has no field {key!r}", name=self.name)
        return str(doc[key])

    @property
    def lease_id(self) -> str:
        return self._grant.lease_id

    @property
    def renewable(self) -> bool:
        return self._grant.renewable

    @property
    def ttl(self) -> float:
        """Seconds the server granted at the last issue or renewal."""
        return self._ttl

    @property
    def remaining(self) -> float:
        """Seconds until the current credentials expire (0 when they have; inf: no expiry)."""
        return max(0.0, self._expires - self._mono())

    @property
    def expires_at(self) -> datetime:
        """When the current credentials expire (aware, UTC)."""
        return self._expires_at

    @property
    def next_action(self) -> float:
        """The monotonic time of the next renewal or switch."""
        return self._due

    def on_rotate(self, callback: RotateCallback) -> RotateCallback:
        """Call ``callback(lease)`` after each switch to new credentials (usable as decorator)."""
        self._callbacks.append(callback)
        return callback

    # -- keeping it alive ---------------------------------------------------------
    def _adopt(self, ttl: float) -> None:
        now = self._mono()
        self._ttl = ttl
        self._failures = 0
        if ttl <= 0:  # the service set no expiry: nothing to renew, nothing to switch
            self._expires = self._due = math.inf
            self._expires_at = datetime.max.replace(tzinfo=UTC)
            return
        self._expires = now + ttl
        self._expires_at = datetime.fromtimestamp(self._wall(), UTC) + timedelta(seconds=ttl)
        self._due = now + ttl * self._fraction

    def maintain(self) -> bool:
        """Do what is due now (renew or switch); True if the credentials changed."""
        with self._lock:
            if self._closed or self._mono() < self._due:
                return False
            return self._step()

    def renew(self) -> bool:
        """Renew (or switch) now, whatever the schedule; True if the credentials changed."""
        with self._lock:
            if self._closed:
                return False
            return self._step()

    def _step(self) -> bool:
        grant = self._grant
        if grant.renewable:
            try:
                ttl = self._backend.renew_lease(grant.lease_id, increment=grant.ttl)
            except (BackendUnavailable, Throttled) as exc:
                return self._retry_later("renew", exc)
            except SekretError as exc:  # refused: expired, revoked, not renewable any more
                _log.info("lease %s: renewal refused (%s); switching", grant.lease_id, exc.code)
            else:
                if ttl + _TOLERANCE >= grant.ttl:
                    self._adopt(ttl)
                    return False
                # the server granted less than asked: the max TTL is near
                self._adopt(ttl)
        return self._switch()

    def _switch(self) -> bool:
        old = self._grant
        try:
            new = self._backend.issue_lease(self.name, replaces=old.lease_id)
        except SekretError as exc:
            return self._retry_later("re-issue", exc)
        if new.lease_id == old.lease_id:  # a shared lease (agent) that was renewed for us
            self._grant = new
            self._adopt(new.ttl)
            return False
        self._superseded.append((old.lease_id, self._expires))
        self._grant = new
        self._adopt(new.ttl)
        self.generation += 1
        for callback in list(self._callbacks):
            try:
                callback(self)
            except Exception as exc:  # noqa: BLE001  # a hook must not stop the renewer
                _log.warning("lease %s: on_rotate hook failed (%s)", self.name, type(exc).__name__)
        return True

    def _retry_later(self, what: str, exc: SekretError) -> bool:
        """Keep serving what is still valid; try again after a backoff bounded by the expiry."""
        self._failures += 1
        now = self._mono()
        wait = min(self._backoff * 2.0 ** (self._failures - 1), self._max_backoff)
        left = self._expires - now
        if left > 0:
            wait = min(wait, max(left / 2, 0.05))
        self._due = now + wait
        _log.warning(
            "lease %s: %s failed (%s); retrying in %.1fs, %.0fs of validity left",
            self.name,
            what,
            exc.code,
            wait,
            max(left, 0.0),
        )
        return False

    def _run(self) -> None:
        while not self._stop.is_set():
            delay = max(0.0, self._due - self._mono())
            if self._stop.wait(min(delay, 60.0)):
                break
            try:
                self.maintain()
            except Exception as exc:  # noqa: BLE001  # the renewer must outlive any surprise
                _log.error("lease %s: renewer error (%s)", self.name, type(exc).__name__)
                self._due = self._mono() + self._backoff

    # -- the end -----------------------------------------------------------------
    def revoke(self) -> None:
        """Stop renewing and revoke every lease this handle holds (current and superseded)."""
        self._shutdown(revoke=True)

    def close(self) -> None:
        """Stop renewing; revoke too unless built with ``revoke_on_close=False``. Idempotent."""
        self._shutdown(revoke=self._revoke_on_close)

    def _shutdown(self, *, revoke: bool) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if not revoke:
                return
            now = self._mono()
            ids = [i for i, exp in self._superseded if exp > now] + [self._grant.lease_id]
            self._superseded.clear()
        for lease_id in ids:
            try:
                self._backend.revoke_lease(lease_id)
            except SekretError as exc:  # left to expire by TTL
                _log.warning("lease %s: revoke failed (%s)", lease_id, exc.code)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:  # never the credentials
        state = "closed" if self._closed else f"expires {self._expires_at.isoformat()}"
        return f"<Lease {self.name} {self._grant.lease_id} {state}>"
