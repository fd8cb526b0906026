"""The Secrets and AsyncSecrets facade over the in-memory backend."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator

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
    InvalidValue,
    Secret,
    SecretDeleted,
    SecretNotFound,
    Secrets,
    VersionNotFound,
)
from sekret._values import SecretValue
from sekret.backends.memory import MemoryBackend
from sekret.cache import CachePolicy, HitStats
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


# -- the hit path written out in Secrets.get / AsyncSecrets.get ------------------------
class _Clock:
    """A monotonic clock that moves only when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _CountingBackend(MemoryBackend):
    """The memory backend, counting reads."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        self.reads += 1
        return super().read(name, version=version, stage=stage)


@pytest.fixture
def hot() -> Iterator[Callable[..., tuple[Secrets, _CountingBackend, AsyncSecrets]]]:
    """Makes clients over a counting backend with a fake clock; closes them (and their threads)."""
    made: list[Secrets] = []

    def make(clock: _Clock, max_size: int = 100) -> tuple[Secrets, _CountingBackend, AsyncSecrets]:
        backend = _CountingBackend()
        policy = CachePolicy(ttl=100.0, jitter=0.0, max_size=max_size)
        client = Secrets(backend, app="arrwdb", environment="production", cache=policy, clock=clock)
        made.append(client)
        return client, backend, AsyncSecrets(client)

    yield make
    for client in made:
        client.close()


def _read_through(face: str, client: Secrets, aclient: AsyncSecrets, name: str) -> str:
    if face == "sync":
        return client.get(name)
    return asyncio.run(aclient.get(name))


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_hit_through_get_is_counted_with_its_first_and_last_time(
    face: str, hot: Callable[..., tuple[Secrets, _CountingBackend, AsyncSecrets]]
) -> None:
    """Hits answered by get's own hit path are counted for the audit, with first and last time."""
    clock = _Clock()
    client, backend, aclient = hot(clock)
    value = sentinel_value()
    backend.write("arrwdb/production/k", SecretValue.of(value))
    assert _read_through(face, client, aclient, "k") == value  # the fill
    assert client.cache is not None
    client.cache.drain_hits()
    for step in (1.0, 1.0, 1.0):
        clock.now += step
        assert _read_through(face, client, aclient, "k") == value
    assert backend.reads == 1
    assert client.cache.drain_hits() == {"arrwdb/production/k": HitStats(3, 1001.0, 1003.0)}
    clock.now += 1.0
    _read_through(face, client, aclient, "k")  # the first hit after a drain starts a new window
    assert client.cache.drain_hits() == {"arrwdb/production/k": HitStats(1, 1004.0, 1004.0)}


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_hit_through_get_gives_its_entry_a_second_chance(
    face: str, hot: Callable[..., tuple[Secrets, _CountingBackend, AsyncSecrets]]
) -> None:
    """An entry read through get's hit path is not the one evicted when the cache is full."""
    clock = _Clock()
    client, backend, aclient = hot(clock, max_size=2)
    for name in ("a", "b", "c"):
        backend.write(f"arrwdb/production/{name}", SecretValue.of(sentinel_value(name)))
    _read_through(face, client, aclient, "a")
    _read_through(face, client, aclient, "b")
    clock.now += 1.0
    _read_through(face, client, aclient, "a")  # a hit: marks "a" recently used
    _read_through(face, client, aclient, "c")  # a fill past max_size: evicts "b"
    reads = backend.reads
    _read_through(face, client, aclient, "a")
    assert backend.reads == reads  # still cached
    _read_through(face, client, aclient, "b")
    assert backend.reads == reads + 1  # evicted


@pytest.mark.parametrize("face", ["sync", "async"])
def test_get_at_the_refresh_point_leaves_the_hit_path(
    face: str, hot: Callable[..., tuple[Secrets, _CountingBackend, AsyncSecrets]]
) -> None:
    """At refresh_at exactly, get no longer answers from its hit path: the cache refreshes."""
    clock = _Clock()
    client, backend, aclient = hot(clock)
    backend.write("arrwdb/production/k", SecretValue.of(sentinel_value("old")))
    _read_through(face, client, aclient, "k")
    new = sentinel_value("new")
    backend.write("arrwdb/production/k", SecretValue.of(new))
    clock.now = 1000.0 + 100.0 * 0.8  # the refresh point of a fill at 1000 with ttl 100
    _read_through(face, client, aclient, "k")
    deadline = time.monotonic() + 10
    while backend.reads < 2 and time.monotonic() < deadline:  # a background refresh
        time.sleep(0.01)
    assert backend.reads == 2
    while _read_through(face, client, aclient, "k") != new and time.monotonic() < deadline:
        time.sleep(0.01)
    assert _read_through(face, client, aclient, "k") == new


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_binary_value_is_refused_as_text_on_every_hit(
    face: str, hot: Callable[..., tuple[Secrets, _CountingBackend, AsyncSecrets]]
) -> None:
    """get of a value that is not UTF-8 raises InvalidValue on each hit, never caching a text."""
    clock = _Clock()
    client, backend, aclient = hot(clock)
    backend.write("arrwdb/production/blob", SecretValue.of(b"\xff\xfe\x00"))
    assert client.get_bytes("blob") == b"\xff\xfe\x00"  # cached
    for _ in range(2):
        with pytest.raises(InvalidValue):
            _read_through(face, client, aclient, "blob")
    assert backend.reads == 1


@pytest.mark.parametrize("face", ["sync", "async"])
def test_get_with_a_version_stage_or_field_is_not_the_current_hit(face: str) -> None:
    """With the current version cached, get with version, stage or field still reads that one."""
    with Secrets(MemoryBackend(), app="arrwdb", environment="production") as client:
        aclient = AsyncSecrets(client)
        client.put("k", "one")
        client.put("k", "two")
        client.put("db", {"password": "pw-value"})
        for name in ("k", "db"):  # the current versions are cached and their names memoised
            _read_through(face, client, aclient, name)

        def get(*args: str | None, **kwargs: str) -> str:
            if face == "sync":
                return client.get(*args, **kwargs)  # type: ignore[arg-type]
            return asyncio.run(aclient.get(*args, **kwargs))  # type: ignore[arg-type]

        assert get("k", version="1") == "one"
        assert get("k", stage=PREVIOUS) == "one"
        assert get("db", field="password") == "pw-value"
        # by position, in that order (not keyword-only: see Secrets.get)
        assert get("k", "1") == "one"
        assert get("k", None, PREVIOUS) == "one"
        assert get("db", None, None, "password") == "pw-value"


def test_bad_name_on_the_async_hit_path_has_no_keyerror_context() -> None:
    """AsyncSecrets.get of a pasted value as a name: InvalidSecretName with no KeyError context."""
    pasted = sentinel_value("name") + " !"
    client = AsyncSecrets(MemoryBackend(), app="arrwdb", environment="test")
    with pytest.raises(InvalidSecretName) as caught:
        asyncio.run(client.get(pasted))
    assert caught.value.__context__ is None
    assert pasted not in str(caught.value)


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_client_without_a_cache_reads_the_backend_on_every_get(face: str) -> None:
    """cache=False: each get reads the backend, the second get of a name as well."""
    backend = _CountingBackend()
    with Secrets(backend, app="arrwdb", environment="production", cache=False) as client:
        aclient = AsyncSecrets(client)
        client.put("k", "one")
        assert _read_through(face, client, aclient, "k") == "one"
        client.put("k", "two")
        assert _read_through(face, client, aclient, "k") == "two"
        assert backend.reads == 2


@pytest.mark.parametrize("face", ["sync", "async"])
def test_get_of_a_reference_with_a_cache_reads_its_field(face: str) -> None:
    """get accepts a reference (sekret://name#field) on a cached client, first read and hit."""
    with Secrets(MemoryBackend(), app="arrwdb", environment="production") as client:
        password = sentinel_value("pw")
        client.put("db", {"user": "app", "password": password})
        aclient = AsyncSecrets(client)
        for _ in range(2):
            assert _read_through(face, client, aclient, "sekret://db#password") == password


@pytest.mark.parametrize("face", ["sync", "async"])
def test_no_hit_outlives_its_entry(
    face: str, hot: Callable[..., tuple[Secrets, _CountingBackend, AsyncSecrets]]
) -> None:
    """After a put, an invalidate or the cache's close, get's hit path serves nothing old."""
    clock = _Clock()
    client, backend, aclient = hot(clock)
    client.put("k", "one")
    assert _read_through(face, client, aclient, "k") == "one"
    client.put("k", "two")  # through the client: its cache drops the entry
    assert _read_through(face, client, aclient, "k") == "two"
    backend.write("arrwdb/production/k", SecretValue.of("three"))  # behind the cache's back
    assert _read_through(face, client, aclient, "k") == "two"  # a hit, as expected
    client.invalidate("k")
    assert _read_through(face, client, aclient, "k") == "three"
    assert client.cache is not None
    client.cache.close()  # later reads are not cached
    backend.write("arrwdb/production/k", SecretValue.of("four"))
    assert _read_through(face, client, aclient, "k") == "four"
    reads = backend.reads
    _read_through(face, client, aclient, "k")
    assert backend.reads == reads + 1


def test_the_hit_path_holds_no_more_names_than_the_memo(
    hot: Callable[..., tuple[Secrets, _CountingBackend, AsyncSecrets]],
) -> None:
    """Names the short-name memo lets go leave get's hit path too (its memory stays bounded)."""
    client, backend, _ = hot(_Clock(), max_size=100)
    client._memo_size = 8  # the memo's bound (at least the cache's in real use)
    for i in range(20):
        backend.write(f"arrwdb/production/n{i}", SecretValue.of(f"v{i}"))
        assert client.get(f"n{i}") == f"v{i}"
    hot_names, _ = client.cache.hot_path() if client.cache is not None else ({}, None)
    assert 0 < len(hot_names) <= 8
    assert set(hot_names) <= set(client._full_names)
    assert client.get("n0") == "v0"  # forgotten names still read (and come back)
    assert "n0" in hot_names


def test_a_hit_through_get_makes_no_call_into_the_cache(
    hot: Callable[..., tuple[Secrets, _CountingBackend, AsyncSecrets]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """get answers a hit from the cache's hot_path dict itself; only a miss calls the cache."""
    client, _, aclient = hot(_Clock())
    value = sentinel_value()
    client.put("k", value)
    assert client.get("k") == value  # the fill; the name is memoised

    def slow_path(*args: object, **kwargs: object) -> str:
        raise AssertionError("a hit took the cache's slow path")

    assert client.cache is not None
    monkeypatch.setattr(client, "_get_text", slow_path)
    monkeypatch.setattr(client.cache, "aget", slow_path)
    assert client.get("k") == value
    assert asyncio.run(aclient.get("k")) == value
    with pytest.raises(AssertionError, match="slow path"):
        client.get("other")  # a miss does call it


def test_a_reference_selects_the_stage_or_version_it_names() -> None:
    """sekret://k@previous and k@v1 read that stage or version, by get and get_secret."""
    with Secrets(MemoryBackend(), app="arrwdb", environment="production") as client:
        client.put("k", "one")
        client.put("k", "two")
        assert client.get("k") == "two"
        assert client.get("sekret://k@previous") == "one"
        assert client.get("k@v1") == "one"
        assert client.get_secret("sekret://k@previous").version == "1"


def test_the_reference_memo_stays_bounded() -> None:
    """Parsed references are memoised up to 4,096; the next distinct one starts the memo anew."""
    with Secrets(MemoryBackend(), app="arrwdb", environment="production") as client:
        client.put("k", {f"f{i}": str(i) for i in range(4097)})
        for i in range(4096):
            client.get(f"sekret://k#f{i}")
        assert len(client._references) == 4096
        assert client.get("sekret://k#f4096") == "4096"
        assert len(client._references) == 1


def test_a_client_without_a_cache_forgets_names_past_the_memo_bound() -> None:
    """cache=False: the short-name memo is bounded too, and forgotten names still read."""
    with Secrets(MemoryBackend(), app="arrwdb", environment="production", cache=False) as client:
        client._memo_size = 8
        for i in range(20):
            client.put(f"n{i}", f"v{i}")
            assert client.get(f"n{i}") == f"v{i}"
        assert len(client._full_names) <= 8
        assert client.get("n0") == "v0"
