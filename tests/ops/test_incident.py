"""sekret.ops.incident: rotate now, revoke previous at once, audit, checklist."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from sekret import Secrets
from sekret._values import Secret
from sekret.audit import AuditLog, CaptureSink
from sekret.backends.memory import MemoryBackend
from sekret.exceptions import AccessDenied, RotationError, VersionNotFound
from sekret.ops.incident import respond, revoke_previous
from sekret.rotation import RandomRotator
from sekret.testing import sentinel_value


class RevokingRotator(RandomRotator):
    """A random rotator that records what it was asked to revoke at the source."""

    def __init__(self, fail: bool = False) -> None:
        super().__init__()
        self.revoked: list[str] = []
        self.fail = fail

    def revoke(self, old: Secret) -> None:
        if self.fail:
            raise RotationError("the vendor refused")
        self.revoked.append(old.version)


@pytest.fixture
def audited() -> tuple[Secrets, CaptureSink, AuditLog]:
    sink = CaptureSink()
    audit = AuditLog([sink], background=False, flush_interval=None)
    return (
        Secrets(MemoryBackend(), app="arrwdb", environment="production", audit=audit),
        sink,
        audit,
    )


def test_incident_rotates_revokes_and_records(
    audited: tuple[Secrets, CaptureSink, AuditLog],
) -> None:
    """The leaked value is replaced, previous is gone at once and at the source, one event."""
    secrets, sink, audit = audited
    leaked = sentinel_value()
    secrets.put("cohere-api-key", leaked)
    rotator = RevokingRotator()
    since = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
    report = respond(secrets, "cohere-api-key", rotator, since=since)
    audit.close()
    assert (report.outcome, report.version, report.revoked_version) == ("rotated", "2", "1")
    assert report.at_source == "revoked"
    assert rotator.revoked == ["1"]
    assert secrets.get("cohere-api-key") != leaked
    with pytest.raises(VersionNotFound):
        secrets.get_secret("cohere-api-key", stage="previous")
    assert not secrets.verify_api_key("cohere-api-key", leaked)
    events = [e for e in sink.events if e["action"] == "secret.incident"]
    assert len(events) == 1
    assert events[0]["incident"] == "rotated"
    assert events[0]["revoked_version"] == "1"
    assert events[0]["since"] == "2026-11-29T12:00:00+00:00"
    assert leaked not in repr(sink.events) + repr(report)
    show = next(s for s in report.steps if "sekret audit show" in s)
    assert "--secret arrwdb/production/cohere-api-key" in show
    assert "--since 2026-11-29T12:00:00+00:00" in show


def test_without_a_rotator_nothing_is_pretended(
    audited: tuple[Secrets, CaptureSink, AuditLog],
) -> None:
    """A hand-rotated secret is not rotated: outcome manual, the procedure leads the list."""
    secrets, sink, audit = audited
    secrets.put("vendor-key", sentinel_value())
    report = respond(secrets, "vendor-key", None)
    audit.close()
    assert report.outcome == "manual"
    assert report.version == "1"
    assert [v.version for v in secrets.versions("vendor-key")] == ["1"]
    assert report.steps[0].startswith("MANUAL ROTATION NEEDED")
    assert any("sekret put vendor-key" in s for s in report.steps)
    assert any("revoke the old value at the vendor" in s for s in report.steps)
    (event,) = [e for e in sink.events if e["action"] == "secret.incident"]
    assert event["incident"] == "manual"
    assert event["since"] is not None  # the leaked version's creation time


def test_a_refused_source_revocation_still_drops_the_stage() -> None:
    """When the source refuses revoke(old), sekret stops serving it and raises the error."""
    secrets = Secrets(MemoryBackend(), app="arrwdb", environment="production", cache=False)
    secrets.put("k", sentinel_value())
    secrets.put("k", sentinel_value())
    with pytest.raises(RotationError, match="vendor refused"):
        revoke_previous(secrets, "k", RevokingRotator(fail=True))
    with pytest.raises(VersionNotFound):
        secrets.get_secret("k", stage="previous")


def test_a_read_only_client_is_refused_before_anything() -> None:
    """An incident needs an admin client; a read-only one is refused with AccessDenied."""
    backend = MemoryBackend()
    Secrets(backend, app="a", environment="p", cache=False).put("k", sentinel_value())
    reader = Secrets(backend, app="a", environment="p", cache=False, read_only=True)
    with pytest.raises(AccessDenied):
        respond(reader, "k", RandomRotator())
    assert [v.version for v in reader.versions("k")] == ["1"]


def test_an_expired_secret_on_a_strict_client_can_still_be_handled() -> None:
    """strict_expiry does not stand in the way of replacing an expired, leaked value."""
    from datetime import timedelta

    from test_expiry import strict_client

    later = datetime(2028, 1, 1, tzinfo=UTC)
    secrets = strict_client(later)
    secrets.put("k", sentinel_value(), metadata={"expires_at": "2027-01-01"})
    report = respond(secrets, "k", RevokingRotator(), since=later - timedelta(days=1))
    assert (report.outcome, report.revoked_version, report.at_source) == ("rotated", "1", "revoked")
    assert secrets.get("k")  # the new version carries no expiry
