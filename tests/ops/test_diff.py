"""sekret.ops.diff: drift, rotation and reuse between two environments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sekret import Secrets
from sekret.backends.memory import MemoryBackend
from sekret.manifest import parse_manifest
from sekret.ops.diff import compare_environments, find_reuse
from sekret.testing import sentinel_value

T0 = datetime(2026, 1, 1, tzinfo=UTC)

MANIFEST = parse_manifest(
    'app = "arrwdb"\n'
    '[environments.development]\nbackend = "memory://"\n'
    '[environments.production]\nbackend = "memory://"\n'
    '[secrets.cohere-api-key]\nkind = "api_key"\n'
    '[secrets.database]\nkind = "db_credentials"\n'
    '[secrets.signing]\nkind = "jwt_signing_key"\n'
)


class Clock:
    """A settable UTC clock for the backend's version times."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def _pair(clock: Clock | None = None) -> tuple[Secrets, Secrets]:
    backend = MemoryBackend(clock=clock or Clock())
    dev = Secrets(backend, app="arrwdb", environment="development", cache=False)
    prod = Secrets(backend, app="arrwdb", environment="production", cache=False)
    return dev, prod


def test_identical_shapes_and_distinct_values_agree() -> None:
    """Two environments with the same declared secrets and different values report nothing."""
    dev, prod = _pair()
    for client in (dev, prod):
        client.put("cohere-api-key", sentinel_value())
        client.put("database", {"username": "app", "password": sentinel_value()})
        client.put("signing", sentinel_value())
    report = compare_environments(dev, prod, declared=MANIFEST.secrets)
    assert report.ok, report.findings
    assert report.compared == 3


def test_missing_extra_and_kind_drift_are_reported() -> None:
    """A declared secret absent in one env, an undeclared one and a kind change are findings."""
    dev, prod = _pair()
    dev.put("cohere-api-key", sentinel_value())
    prod.put("cohere-api-key", sentinel_value())
    dev.put("database", {"username": "app", "password": sentinel_value()})
    prod.put("database", sentinel_value())  # text in production, JSON in development
    dev.put("signing", sentinel_value())
    prod.put("leftover", sentinel_value())
    report = compare_environments(dev, prod, declared=MANIFEST.secrets)
    got = {(f.check, f.name, f.environment) for f in report.findings}
    assert ("missing", "signing", "production") in got
    assert ("extra", "leftover", "production") in got
    assert ("kind", "database", None) in got
    kind = next(f for f in report.findings if f.check == "kind")
    assert "fields password,username" in kind.detail
    assert not report.ok


def test_without_a_manifest_one_sided_secrets_are_missing() -> None:
    """With no declared list, a secret stored in only one environment is missing in the other."""
    dev, prod = _pair()
    dev.put("only-dev", sentinel_value())
    report = compare_environments(dev, prod)
    assert [(f.check, f.name, f.environment) for f in report.findings] == [
        ("missing", "only-dev", "production")
    ]


def test_reuse_found_by_keyed_hash_without_revealing_the_value() -> None:
    """The same value under any name in both environments is a reuse finding, value-free."""
    dev, prod = _pair()
    shared = sentinel_value("shared-")
    password = sentinel_value("pw-")
    prod.put("cohere-api-key", shared)
    dev.put("cohere-api-key", sentinel_value())
    dev.put("copied-key", shared)  # another name
    prod.put("database", {"username": "app", "password": password})
    dev.put("database", {"username": "dev", "password": password})
    report = compare_environments(dev, prod)
    reuse = [f for f in report.findings if f.check == "reuse"]
    assert {f.detail for f in reuse} == {
        "development:copied-key holds the same value as production:cohere-api-key",
        "development:database#password holds the same value as production:database#password",
    }
    text = repr(report) + str(report.as_dict())
    assert shared not in text
    assert password not in text


def test_whole_json_reuse_is_one_finding_and_short_values_are_ignored() -> None:
    """A whole shared JSON value is one finding; values under 8 bytes never match."""
    dev, prod = _pair()
    doc = {"username": "application", "password": sentinel_value()}
    dev.put("database", doc)
    prod.put("database", doc)
    dev.put("port", "5432")
    prod.put("port", "5432")
    reuse = find_reuse(dev, prod)
    assert [f.detail for f in reuse] == [
        "development:database holds the same value as production:database"
    ]


def test_rotation_drift_with_an_injected_clock() -> None:
    """Rotated in one env only, and overdue in one env only, are rotation findings."""
    clock = Clock()
    dev, prod = _pair(clock)
    for client in (dev, prod):
        client.put("cohere-api-key", sentinel_value())
        client.put("database", {"password": sentinel_value()})
    clock.now = T0 + timedelta(days=20)
    prod.put("cohere-api-key", sentinel_value())  # rotated in production only
    report = compare_environments(
        dev, prod, declared=MANIFEST.secrets, now=lambda: T0 + timedelta(days=25)
    )
    rows = [(f.check, f.name, f.environment) for f in report.findings]
    assert rows == [
        ("missing", "signing", "development"),
        ("missing", "signing", "production"),
        ("rotation", "cohere-api-key", "development"),
    ]
    clock.now = T0 + timedelta(days=40)
    prod.put("database", {"password": sentinel_value()})
    later = compare_environments(
        dev, prod, declared=MANIFEST.secrets, now=lambda: T0 + timedelta(days=45)
    )
    database = next(f for f in later.findings if f.name == "database")
    assert database.check == "rotation"
    assert database.environment == "development"
    assert database.detail.startswith("overdue in development (last rotated 2026-01-01, every 30d)")


def test_soft_deleted_secret_counts_as_missing() -> None:
    """A secret deleted in one environment is missing there, not compared."""
    dev, prod = _pair()
    dev.put("cohere-api-key", sentinel_value())
    prod.put("cohere-api-key", sentinel_value())
    prod.delete("cohere-api-key")
    report = compare_environments(dev, prod)
    assert [f.check for f in report.findings] == ["missing"]
