"""Expiry (sekret._expiry): warnings and strict refusals at the right dates, injected clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sekret import Secrets
from sekret._expiry import expires_at
from sekret.audit import AuditLog, CaptureSink
from sekret.backends.memory import MemoryBackend
from sekret.exceptions import ManifestError, SecretExpired
from sekret.manifest import parse_manifest
from sekret.testing import sentinel_value

EXPIRY = datetime(2027, 1, 1, tzinfo=UTC)


class Clock:
    """A settable wall clock."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def strict_client(now: datetime) -> Secrets:
    """A cache-less strict_expiry client on a fresh memory backend whose clock is ``now``."""
    return Secrets(
        MemoryBackend(),
        app="a",
        environment="p",
        cache=False,
        strict_expiry=True,
        wall_clock=lambda: now,
    )


def _client(
    clock: Clock, *, strict: bool = False, cache: bool = False
) -> tuple[Secrets, CaptureSink, AuditLog]:
    sink = CaptureSink()
    audit = AuditLog([sink], background=False, flush_interval=None)
    secrets = Secrets(
        MemoryBackend(),
        app="arrwdb",
        environment="production",
        audit=audit,
        cache=cache,
        strict_expiry=strict,
        wall_clock=clock,
    )
    return secrets, sink, audit


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2027-01-01T00:00:00+00:00", EXPIRY),
        ("2027-01-01T00:00:00Z", EXPIRY),
        ("2027-01-01", EXPIRY),
        ("2027-01-01T01:00:00+01:00", EXPIRY),
        ("not a date", None),
        ("", None),
    ],
)
def test_expires_at_parsing(raw: str, expected: datetime | None) -> None:
    """ISO 8601 with or without offset (UTC assumed); unreadable or empty means no expiry."""
    assert expires_at({"expires_at": raw}) == expected


def test_backend_expires_key_is_read_too() -> None:
    """A backend reporting the service's own expiry as 'expires' is honoured."""
    assert expires_at({"expires": "2027-01-01T00:00:00Z"}) == EXPIRY
    assert expires_at({}) is None


@pytest.mark.parametrize("cache", [False, True])
def test_reads_warn_only_once_expired(cache: bool) -> None:
    """Before the date no event; after it each fetch records secret.expired as a warning."""
    clock = Clock(EXPIRY - timedelta(seconds=1))
    secrets, sink, audit = _client(clock, cache=cache)
    value = sentinel_value()
    secrets.put("api-key", value, metadata={"expires_at": EXPIRY.isoformat()})
    assert secrets.get("api-key") == value
    secrets.invalidate("api-key")
    clock.now = EXPIRY
    assert secrets.get("api-key") == value  # not strict: served, with a warning
    audit.close()
    expired = [e for e in sink.events if e["action"] == "secret.expired"]
    assert len(expired) == 1
    assert expired[0]["severity"] == "warning"
    assert expired[0]["outcome"] == "success"
    assert expired[0]["expires_at"] == "2027-01-01T00:00:00+00:00"
    assert expired[0]["secret"] == "arrwdb/production/api-key"
    assert value not in repr(sink.events)


def test_strict_expiry_refuses_with_a_clear_error() -> None:
    """strict_expiry: an expired version raises SecretExpired naming secret and date, value-free."""
    clock = Clock(EXPIRY + timedelta(days=1))
    secrets, sink, audit = _client(clock, strict=True)
    value = sentinel_value()
    secrets.put("api-key", value, metadata={"expires_at": "2027-01-01"})
    secrets.put("other", sentinel_value())
    with pytest.raises(SecretExpired) as caught:
        secrets.get("api-key")
    assert "arrwdb/production/api-key" in str(caught.value)
    assert "2027-01-01T00:00:00+00:00" in str(caught.value)
    assert value not in str(caught.value)
    got = secrets.get_many(["api-key", "other"])
    assert isinstance(got["api-key"], SecretExpired)
    assert not isinstance(got["other"], SecretExpired)
    audit.close()
    refused = [e for e in sink.events if e["action"] == "secret.expired"]
    assert refused[0]["outcome"] == "failure"
    assert refused[0]["error"]["code"] == "expired"


def test_strict_expiry_from_the_manifest() -> None:
    """strict_expiry = true under an environment reaches the client; a non-bool is refused."""
    manifest = parse_manifest(
        'app = "a"\n[environments.production]\nbackend = "memory://"\nstrict_expiry = true\n'
    )
    assert manifest.client_arguments("production")["strict_expiry"] is True
    with pytest.raises(
        ManifestError, match=r"^<manifest>:4: environments\.p\.strict_expiry: must be true or false"
    ):
        parse_manifest('app = "a"\n[environments.p]\nbackend = "memory://"\nstrict_expiry = 1\n')


def test_an_expired_previous_key_is_refused_not_raised() -> None:
    """verify_api_key on a strict client: an expired previous key is simply not accepted."""
    clock = Clock(EXPIRY + timedelta(days=1))
    secrets, _, audit = _client(clock, strict=True)
    old, new = sentinel_value(), sentinel_value()
    secrets.put("api-key", old, metadata={"expires_at": "2027-01-01"})
    secrets.put("api-key", new)
    assert secrets.verify_api_key("api-key", new)
    assert not secrets.verify_api_key("api-key", old, now=clock)
    audit.close()
