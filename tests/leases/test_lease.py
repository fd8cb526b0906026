"""The Lease: renewal at a fraction of the TTL, switching before expiry, backoff, revoke.

Driven by hand (``start=False`` + ``maintain()``) on a fake clock against a
fake leasing backend, so no test sleeps or reads the wall clock.
"""

from __future__ import annotations

import logging

import pytest

from sekret import Secrets
from sekret._values import SecretValue
from sekret.audit import AuditLog
from sekret.backends.base import Backend, Capability, LeaseGrant
from sekret.exceptions import AccessDenied, BackendUnavailable, InvalidValue, UnsupportedOperation
from sekret.leases import Lease
from sekret.testing import CaptureSink, sentinel_value


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class FakeLeases(Backend):
    """Issues numbered leases; renewals capped by ``max_ttl``; can be 'down' or 'refusing'."""

    scheme = "fake"
    capabilities = Capability.READ | Capability.LEASES

    def __init__(self, clock: Clock, ttl: float = 10.0, max_ttl: float = 35.0) -> None:
        self.clock, self.ttl, self.max_ttl = clock, ttl, max_ttl
        self.issued: dict[str, float] = {}  # lease id -> monotonic issue time
        self.revoked: list[str] = []
        self.passwords: dict[str, str] = {}
        self.down = False
        self.refuse = False
        self.calls: list[str] = []

    def issue_lease(self, name: str, *, replaces: str | None = None) -> LeaseGrant:
        self.calls.append("issue")
        if self.down:
            raise BackendUnavailable("fake backend is down")
        lease_id = f"database/creds/role/{len(self.issued) + 1}"
        self.issued[lease_id] = self.clock()
        password = sentinel_value("pw")
        self.passwords[lease_id] = password
        value = SecretValue.of({"username": f"u{len(self.issued)}", "password": password})
        return LeaseGrant(lease_id, value, ttl=self.ttl, renewable=True)

    def renew_lease(self, lease_id: str, *, increment: float | None = None) -> float:
        self.calls.append("renew")
        if self.down:
            raise BackendUnavailable("fake backend is down")
        if self.refuse:
            raise AccessDenied("lease not found")
        left = self.issued[lease_id] + self.max_ttl - self.clock()
        return min(increment or self.ttl, left)

    def revoke_lease(self, lease_id: str) -> None:
        self.revoked.append(lease_id)


def make(
    ttl: float = 10.0, max_ttl: float = 35.0, **options: object
) -> tuple[Lease, FakeLeases, Clock]:
    clock = Clock()
    backend = FakeLeases(clock, ttl, max_ttl)
    lease = Lease(
        backend, "arrwdb/production/db", monotonic=clock, wall=clock, start=False, **options
    )  # type: ignore[arg-type]
    return lease, backend, clock


def test_renews_at_half_the_ttl_and_not_before() -> None:
    """Nothing happens before renew_fraction of the TTL; at it, the lease is renewed in place."""
    lease, backend, clock = make()
    clock.now += 4.9
    assert lease.maintain() is False
    assert backend.calls == ["issue"]
    clock.now += 0.1
    assert lease.maintain() is False
    assert backend.calls == ["issue", "renew"]
    assert lease.lease_id == "database/creds/role/1"
    assert lease.remaining == 10.0


def test_switches_before_expiry_when_max_ttl_is_near() -> None:
    """A renewal granted less than asked: new credentials are issued while the old still work."""
    lease, backend, clock = make(ttl=10, max_ttl=22)
    rotated: list[int] = []
    lease.on_rotate(lambda held: rotated.append(held.generation))
    old_password = lease.field("password")
    clock.now += 5  # renew -> 10 (expires at +15)
    lease.maintain()
    clock.now += 5  # renew -> 10 (expires at +20)
    lease.maintain()
    clock.now += 5  # renew -> capped at 7: switch now, 7 s before the old expire
    assert lease.maintain() is True
    assert rotated == [1]
    assert lease.lease_id == "database/creds/role/2"
    assert lease.field("password") != old_password
    assert backend.calls[-1] == "issue"


def test_refused_renewal_switches_to_new_credentials() -> None:
    """A renewal the server refuses (lease gone) is followed at once by a new lease."""
    lease, backend, clock = make()
    backend.refuse = True
    clock.now += 5
    assert lease.maintain() is True
    assert lease.generation == 1


def test_backend_down_keeps_serving_and_backs_off(caplog: pytest.LogCaptureFixture) -> None:
    """Backend down: the still-valid credentials stay; retries back off, never past expiry."""
    lease, backend, clock = make(backoff=1.0, max_backoff=8.0)
    password = lease.field("password")
    backend.down = True
    clock.now += 5
    waits = []
    with caplog.at_level(logging.WARNING, logger="sekret.leases"):
        for _ in range(4):
            assert lease.maintain() is False
            waits.append(round(lease.next_action - clock.now, 3))
            clock.now = lease.next_action
    assert waits == [1.0, 2.0, 1.0, 0.5]  # doubling, then bounded by half the time left
    assert lease.field("password") == password
    backend.down = False
    assert lease.maintain() is False
    assert lease.remaining == 10.0
    assert password not in caplog.text


def test_close_revokes_current_and_superseded_leases() -> None:
    """close() revokes the live lease and every superseded one that has not expired yet."""
    lease, backend, clock = make()
    backend.refuse = True
    clock.now += 5
    lease.maintain()  # switch: lease 1 superseded (valid 5 s more)
    lease.close()
    assert sorted(backend.revoked) == ["database/creds/role/1", "database/creds/role/2"]
    lease.close()
    assert len(backend.revoked) == 2  # idempotent


def test_repr_never_shows_credentials() -> None:
    """repr of the lease and its grant names the lease id, never a username or password."""
    lease, backend, _ = make()
    text = repr(lease) + repr(lease.credentials) + str(lease.credentials)
    assert lease.lease_id in repr(lease)
    assert backend.passwords[lease.lease_id] not in text


def test_bad_fraction_is_a_clear_error() -> None:
    """A renew_fraction outside 0.05-0.95 is InvalidValue before anything is issued."""
    backend = FakeLeases(Clock())
    with pytest.raises(InvalidValue, match="renew_fraction"):
        Lease(backend, "a/b/c", renew_fraction=1.0, start=False)
    assert backend.calls == []


def test_secrets_lease_is_one_per_name_and_revoked_on_close() -> None:
    """Secrets.lease returns one live lease per name; Secrets.close revokes it."""
    backend = FakeLeases(Clock())
    client = Secrets(backend, app="arrwdb", environment="production", cache=False)
    first = client.lease("db", start=False)
    assert client.lease("db") is first
    assert first.name == "arrwdb/production/db"
    client.close()
    assert backend.revoked == [first.lease_id]


def test_backend_without_leases_says_unsupported() -> None:
    """A backend without the LEASES capability raises UnsupportedOperation naming it."""
    client = Secrets("memory://", app="arrwdb", environment="production")
    with pytest.raises(UnsupportedOperation, match="leases"):
        client.lease("db")


def test_audit_records_ids_and_ttls_never_credentials() -> None:
    """issue, re-issue, renew and revoke are audited with lease id and TTL, no credentials."""
    clock = Clock()
    backend = FakeLeases(clock, ttl=10, max_ttl=12)
    sink = CaptureSink()
    log = AuditLog([sink], background=False)
    client = Secrets(backend, app="arrwdb", environment="production", cache=False, audit=log)
    lease = client.lease("db", monotonic=clock, wall=clock, start=False)
    clock.now += 5
    lease.maintain()  # renew: granted 7 < 10 -> re-issue
    client.close()
    events = sink.events
    assert [e["action"] for e in events] == [
        "lease.issue",
        "lease.renew",
        "lease.reissue",
        "lease.revoke",
        "lease.revoke",
    ]
    assert events[0]["lease_id"] == "database/creds/role/1"
    assert events[0]["ttl"] == 10.0
    assert events[2]["replaces"] == "database/creds/role/1"
    assert all(p not in repr(events) for p in backend.passwords.values())


def test_lease_without_expiry_is_never_renewed() -> None:
    """A grant with TTL 0 (no expiry) is kept as is: no renewal, no switch, no busy loop."""
    lease, backend, clock = make(ttl=0)
    clock.now += 10**6
    assert lease.maintain() is False
    assert backend.calls == ["issue"]
    assert lease.remaining == float("inf")


def test_interpreter_exit_revokes_leases_not_closed() -> None:
    """A program that ends without close() still revokes its leases (atexit)."""
    import subprocess
    import sys
    import textwrap

    script = textwrap.dedent(
        """\
        from sekret._values import SecretValue
        from sekret.backends.base import Backend, Capability, LeaseGrant
        from sekret.leases import Lease

        class B(Backend):
            capabilities = Capability.LEASES
            def issue_lease(self, name, *, replaces=None):
                return LeaseGrant("db/creds/r/1", SecretValue.of({}), ttl=60, renewable=True)
            def revoke_lease(self, lease_id):
                print("revoked", lease_id, flush=True)

        kept = Lease(B(), "a/b/c")
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == "revoked db/creds/r/1\n"
