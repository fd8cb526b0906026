"""Pool hooks: connections open with the current credentials; pools are drained on a switch."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from leases.test_lease import Clock, FakeLeases
from sekret import AsyncSecrets, Secrets
from sekret.leases import Lease
from sekret.leases.hooks import (
    connect_kwargs,
    dispose_on_rotate,
    psycopg_connect,
    psycopg_pool,
    sqlalchemy_creator,
)


def _lease(**options: Any) -> tuple[Lease, FakeLeases, Clock]:
    clock = Clock()
    backend = FakeLeases(clock, ttl=10, max_ttl=12)
    return (
        Lease(backend, "arrwdb/production/db", monotonic=clock, wall=clock, start=False),
        backend,
        clock,
    )


class Engine:
    def __init__(self) -> None:
        self.disposed = 0

    def dispose(self) -> None:
        self.disposed += 1


def test_sqlalchemy_creator_connects_with_current_credentials_and_disposes() -> None:
    """creator() passes the current user/password; a switch disposes the engine's pool once."""
    lease, backend, clock = _lease()
    seen: list[dict[str, Any]] = []
    creator = sqlalchemy_creator(lease, lambda **kw: seen.append(kw) or "conn", host="db")
    engine = Engine()
    dispose_on_rotate(lease, engine)
    assert creator() == "conn"
    clock.now += 5
    assert lease.maintain() is True  # renewal capped at 7 s: switch
    creator()
    assert [s["user"] for s in seen] == ["u1", "u2"]
    assert seen[1]["password"] == backend.passwords[lease.lease_id]
    assert seen[1]["host"] == "db"
    assert engine.disposed == 1


def test_connect_kwargs_maps_username_to_user() -> None:
    """connect_kwargs gives a driver's user/password from the lease's username/password."""
    lease, backend, _ = _lease()
    assert connect_kwargs(lease) == {"user": "u1", "password": backend.passwords[lease.lease_id]}


def test_psycopg_hooks_use_current_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """psycopg_connect and psycopg_pool ask for the credentials at connect time, not at build."""
    psycopg = pytest.importorskip("psycopg")
    pool_module = pytest.importorskip("psycopg_pool")
    lease, _, clock = _lease()
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(psycopg, "connect", lambda conninfo, **kw: calls.append(kw))
    connect = psycopg_connect(lease, "host=db", connect_timeout=3)
    clock.now += 5
    lease.maintain()  # switched to u2 before the first connect
    connect()
    assert calls[0]["user"] == "u2"
    assert calls[0]["connect_timeout"] == 3
    drained: list[bool] = []
    monkeypatch.setattr(pool_module.ConnectionPool, "drain", lambda self: drained.append(True))
    pool = psycopg_pool(lease, "host=db", open=False, kwargs={"application_name": "t"})
    assert pool.kwargs()["user"] == "u2"
    assert pool.kwargs()["application_name"] == "t"
    clock.now += 5
    lease.maintain()
    assert pool.kwargs()["user"] == "u3"
    assert drained == [True]


def test_async_lease_returns_the_same_live_lease() -> None:
    """await AsyncSecrets.lease gives the one Lease of that name; aclose revokes it."""
    backend = FakeLeases(Clock())

    async def main() -> tuple[Lease, Lease]:
        async with AsyncSecrets(
            Secrets(backend, app="arrwdb", environment="production", cache=False)
        ) as secrets:
            first = await secrets.lease("db", start=False)
            return first, await secrets.lease("db")

    first, second = asyncio.run(main())
    assert first is second
    assert backend.revoked == [first.lease_id]


def test_asyncpg_hooks_connect_with_current_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """asyncpg_connect passes the current user/password; a switch expires the pool on its loop."""
    import sys
    import threading
    import types

    from sekret.leases.hooks import asyncpg_connect, expire_on_rotate

    seen: list[dict[str, Any]] = []

    async def fake_connect(*args: Any, **kwargs: Any) -> str:
        seen.append(kwargs)
        return "conn"

    monkeypatch.setitem(sys.modules, "asyncpg", types.SimpleNamespace(connect=fake_connect))
    lease, _, clock = _lease()
    connect = asyncpg_connect(lease)

    class Pool:
        expired = threading.Event()

        async def expire_connections(self) -> None:
            self.expired.set()

    async def main() -> str:
        pool = Pool()
        expire_on_rotate(lease, pool, asyncio.get_running_loop())
        first = await connect("postgres://db/app", timeout=5)
        clock.now += 5
        await asyncio.to_thread(lease.maintain)  # the switch happens off the loop
        for _ in range(100):
            if pool.expired.is_set():
                break
            await asyncio.sleep(0.01)
        await connect("postgres://db/app")
        return first if pool.expired.is_set() else "not expired"

    assert asyncio.run(main()) == "conn"
    assert [s["user"] for s in seen] == ["u1", "u2"]
    assert seen[0]["timeout"] == 5
