"""The Secrets and AsyncSecrets facade over the in-memory backend."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from sekret import (
    CURRENT,
    PENDING,
    PREVIOUS,
    AccessDenied,
    AsyncSecrets,
    ConfigurationError,
    Conflict,
    InvalidSecretName,
    SecretDeleted,
    SecretNotFound,
    Secrets,
    VersionNotFound,
)
from sekret.backends.memory import MemoryBackend
from sekret.testing import sentinel_value


@pytest.fixture
def backend() -> MemoryBackend:
    return MemoryBackend()


@pytest.fixture
def secrets(backend: MemoryBackend) -> Iterator[Secrets]:
    with Secrets(backend, app="arrwdb", environment="production") as s:
        yield s


def test_put_and_get_use_the_full_name(secrets: Secrets, backend: MemoryBackend) -> None:
    """put stores under app/env/name; get reads it back as text."""
    value = sentinel_value()
    stored = secrets.put("cohere-api-key", value)
    assert stored.name == "arrwdb/production/cohere-api-key"
    assert stored.version == "1"
    assert secrets.get("cohere-api-key") == value
    assert backend.read("arrwdb/production/cohere-api-key").value.text() == value


def test_json_and_bytes(secrets: Secrets) -> None:
    """get_json and get_bytes return what put_* stored."""
    secrets.put("database", {"username": "app", "password": sentinel_value()})
    secrets.put("tls-key", b"\x00\x01")
    assert secrets.get_json("database")["username"] == "app"
    assert secrets.get_bytes("tls-key") == b"\x00\x01"


def test_versions_and_rollback(secrets: Secrets) -> None:
    """A second put becomes current; rollback makes the first current again."""
    secrets.put("k", "one")
    secrets.put("k", "two")
    assert [v.version for v in secrets.versions("k")] == ["1", "2"]
    assert secrets.get_secret("k", version="1").value.text() == "one"
    back = secrets.rollback("k")
    assert back.version == "1"
    assert secrets.get("k") == "one"
    assert secrets.get("k", stage=PREVIOUS) == "two"


def test_rollback_without_previous_is_version_not_found(secrets: Secrets) -> None:
    """Rolling back a secret with one version says there is no previous version."""
    secrets.put("k", "one")
    with pytest.raises(VersionNotFound):
        secrets.rollback("k")


def test_stage_then_promote(secrets: Secrets) -> None:
    """A pending value does not change reads until promoted."""
    secrets.put("k", "live")
    secrets.put("k", "next", stages=[PENDING])
    assert secrets.get("k") == "live"
    promoted = secrets.promote("k")
    assert promoted.version == "2"
    assert CURRENT in promoted.stages
    assert secrets.get("k") == "next"
    with pytest.raises(VersionNotFound):
        secrets.get("k", stage=PENDING)


def test_cas_conflict(secrets: Secrets) -> None:
    """put with a stale expected_version raises Conflict and keeps the current value."""
    secrets.put("k", "one")
    secrets.put("k", "two", expected_version="1")
    with pytest.raises(Conflict):
        secrets.put("k", "three", expected_version="1")
    assert secrets.get("k") == "two"


def test_delete_restore_destroy(secrets: Secrets) -> None:
    """Deleted secrets read as SecretDeleted until restored; destroyed ones are gone."""
    secrets.put("k", "v")
    when = secrets.delete("k", recovery_days=7)
    assert when.tzinfo is not None
    with pytest.raises(SecretDeleted):
        secrets.get("k")
    secrets.restore("k")
    assert secrets.get("k") == "v"
    secrets.destroy("k")
    with pytest.raises(SecretNotFound):
        secrets.get("k")


def test_environments_are_separated(backend: MemoryBackend) -> None:
    """A production client cannot read a staging secret, even by its full name."""
    staging = Secrets(backend, app="arrwdb", environment="staging")
    production = Secrets(backend, app="arrwdb", environment="production")
    staging.put("cohere-api-key", sentinel_value())
    with pytest.raises(SecretNotFound):
        production.get("cohere-api-key")
    with pytest.raises(SecretNotFound):
        production.get("arrwdb/staging/cohere-api-key")
    with pytest.raises(InvalidSecretName):
        production.get("../staging/cohere-api-key")


def test_list_returns_short_names_of_this_environment(backend: MemoryBackend) -> None:
    """list() yields this environment's secrets only, with short names, across pages."""
    prod = Secrets(backend, app="arrwdb", environment="production")
    Secrets(backend, app="arrwdb", environment="staging").put("other", "v")
    for i in range(150):
        prod.put(f"tenants/t{i:03d}", "v")
    listed = [i.name for i in prod.list()]
    assert len(listed) == 150
    assert listed[0] == "tenants/t000"
    assert [i.name for i in prod.list("tenants/t14")] == [f"tenants/t14{i}" for i in range(10)]


def test_read_only_client_refuses_writes(backend: MemoryBackend) -> None:
    """A read-only client reads but every write raises AccessDenied and changes nothing."""
    Secrets(backend, app="a", environment="e").put("k", "v")
    ro = Secrets(backend, app="a", environment="e", read_only=True)
    assert ro.get("k") == "v"
    for call in (
        lambda: ro.put("k", "w"),
        lambda: ro.delete("k"),
        lambda: ro.destroy("k"),
        lambda: ro.rollback("k", "1"),
    ):
        with pytest.raises(AccessDenied):
            call()
    assert ro.get("k") == "v"


def test_invalid_names_never_reach_the_backend() -> None:
    """A bad name raises InvalidSecretName before the backend is called."""

    class Exploding(MemoryBackend):
        def read(self, *a: object, **k: object) -> object:  # type: ignore[override]
            raise AssertionError("backend touched")

    s = Secrets(Exploding(), app="a", environment="e", cache=False)
    with pytest.raises(InvalidSecretName):
        s.get("bad name")


def test_get_many_reports_per_name(secrets: Secrets) -> None:
    """get_many returns a Secret per present name and an error per missing one."""
    secrets.put("a", "1")
    got = secrets.get_many(["a", "missing"])
    assert got["a"].value.text() == "1"  # type: ignore[union-attr]
    assert isinstance(got["missing"], SecretNotFound)


def test_from_env(backend: MemoryBackend) -> None:
    """from_env reads SEKRET_BACKEND/APP/ENV and SEKRET_READ_ONLY."""
    env = {
        "SEKRET_BACKEND": "memory://from-env-test",
        "SEKRET_APP": "arrwdb",
        "SEKRET_ENV": "development",
        "SEKRET_READ_ONLY": "true",
    }
    s = Secrets.from_env(env)
    assert s.namespace.root == "arrwdb/development"
    assert s.read_only
    with pytest.raises(ConfigurationError) as info:
        Secrets.from_env({})
    assert "SEKRET_BACKEND" in str(info.value)


def test_unknown_scheme_is_a_configuration_error() -> None:
    """A URL with an unregistered scheme names the known ones."""
    with pytest.raises(ConfigurationError) as info:
        Secrets("nosuch://x", app="a", environment="e")
    assert "memory" in str(info.value)


def test_repr_shows_where_not_what(secrets: Secrets) -> None:
    """The facade's repr names the namespace and backend only."""
    value = sentinel_value()
    secrets.put("k", value)
    assert "arrwdb/production" in repr(secrets)
    assert value not in repr(secrets)


def test_async_facade_mirrors_sync(backend: MemoryBackend) -> None:
    """AsyncSecrets put/get/versions/rollback/delete/restore behave like Secrets."""

    async def scenario() -> None:
        async with AsyncSecrets(backend, app="arrwdb", environment="production") as s:
            await s.put("k", "one")
            await s.put("k", "two")
            assert await s.get("k") == "two"
            assert [v.version for v in await s.versions("k")] == ["1", "2"]
            await s.rollback("k")
            assert await s.get("k") == "one"
            await s.delete("k", recovery_days=7)
            with pytest.raises(SecretDeleted):
                await s.get("k")
            await s.restore("k")
            assert [i.name for i in await s.list()] == ["k"]
            await s.put("j", {"a": 1})
            assert await s.get_json("j") == {"a": 1}

    asyncio.run(scenario())


def test_bad_name_on_the_hit_path_has_no_keyerror_context() -> None:
    """get() of a pasted value as a name raises InvalidSecretName with no KeyError(name) context."""
    from sekret import InvalidSecretName

    pasted = sentinel_value("name") + " !"
    client = Secrets(MemoryBackend(), app="arrwdb", environment="test")
    with client, pytest.raises(InvalidSecretName) as caught:
        client.get(pasted)
    assert caught.value.__context__ is None
    assert caught.value.__cause__ is None
    assert pasted not in str(caught.value)


def test_read_only_client_backend_cannot_write() -> None:
    """A read-only client's ``backend`` refuses writes (issue 13 §9), reads still work."""
    from sekret._values import SecretValue
    from sekret.exceptions import AccessDenied

    raw = MemoryBackend()
    Secrets(raw, app="a", environment="e").put("k", "v1")
    client = Secrets(raw, app="a", environment="e", read_only=True, cache=False)
    with pytest.raises(AccessDenied, match=r"read-only.*--admin"):
        client.backend.write("a/e/k", SecretValue.of("v2"))
    with pytest.raises(AccessDenied):
        client.backend.destroy("a/e/k")
    assert client.get("k") == "v1"
    assert raw.read("a/e/k").version == "1"
