"""Ready-made hooks that make connection pools follow a ``Lease``.

* ``connect_kwargs(lease)``: ``user``/``password`` of the current credentials,
  for any driver (``psycopg.connect(**connect_kwargs(lease), host=...)``).
* ``psycopg_connect(lease, ...)``: a connect function that always uses the
  current credentials (the documented wrapper when ``psycopg_pool`` is absent).
* ``psycopg_pool(lease, conninfo, ...)``: a ``psycopg_pool.ConnectionPool``
  whose new connections use the current credentials and which is drained
  (connections replaced) when the lease switches.
* ``sqlalchemy_creator(lease, connect)`` + ``dispose_on_rotate(lease, engine)``:
  ``create_engine("postgresql+psycopg://", creator=...)`` connects with the
  current credentials; the engine's pool is disposed on each switch.
* ``asyncpg_connect(lease)`` + ``expire_on_rotate(lease, pool, loop)``:
  ``asyncpg.create_pool(dsn, connect=asyncpg_connect(lease))`` (asyncpg 0.30+)
  connects with the current credentials; a switch expires the pool's
  connections (replaced at their next acquire) on the pool's event loop.

On the hot path (a query on a pooled connection) none of these run: the
credentials are read only when the pool opens a connection. The lease
switches BEFORE the old credentials expire, so a connection opened at any
moment logs in. No hook ever logs or raises with the credentials.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sekret.backends.base import require_extra
from sekret.leases._lease import Lease

__all__ = [
    "asyncpg_connect",
    "connect_kwargs",
    "dispose_on_rotate",
    "expire_on_rotate",
    "psycopg_connect",
    "psycopg_pool",
    "sqlalchemy_creator",
]


def connect_kwargs(lease: Lease, *, user_field: str = "username") -> dict[str, str]:
    """``{"user": ..., "password": ...}`` from the current credentials."""
    doc = lease.json()
    return {"user": str(doc[user_field]), "password": str(doc["password"])}


def psycopg_connect(lease: Lease, conninfo: str = "", **kwargs: Any) -> Callable[[], Any]:
    """A no-argument function opening a psycopg connection with the current credentials."""
    psycopg = require_extra("psycopg", "postgres")

    def connect() -> Any:
        return psycopg.connect(conninfo, **kwargs, **connect_kwargs(lease))

    return connect


def psycopg_pool(lease: Lease, conninfo: str = "", **pool_kwargs: Any) -> Any:
    """A ``psycopg_pool.ConnectionPool`` that follows ``lease`` (drained on each switch)."""
    pool_module = require_extra("psycopg_pool", "postgres")
    extra = dict(pool_kwargs.pop("kwargs", None) or {})
    pool = pool_module.ConnectionPool(
        conninfo, kwargs=lambda: {**extra, **connect_kwargs(lease)}, **pool_kwargs
    )
    lease.on_rotate(lambda _lease: pool.drain())
    return pool


def sqlalchemy_creator(
    lease: Lease, connect: Callable[..., Any], **kwargs: Any
) -> Callable[[], Any]:
    """A SQLAlchemy ``creator``: ``connect(**kwargs, user=..., password=...)`` each time."""

    def creator() -> Any:
        return connect(**kwargs, **connect_kwargs(lease))

    return creator


def dispose_on_rotate(lease: Lease, engine: Any) -> None:
    """Dispose ``engine``'s pool on each switch: checked-in connections close, new ones log in
    with the new credentials; connections in use finish their work and are not reused."""
    lease.on_rotate(lambda _lease: engine.dispose())


def asyncpg_connect(lease: Lease) -> Callable[..., Awaitable[Any]]:
    """``connect=`` for ``asyncpg.create_pool``: ``asyncpg.connect``, current credentials."""
    asyncpg = require_extra("asyncpg", "asyncpg")

    async def connect(*args: Any, **kwargs: Any) -> Any:
        return await asyncpg.connect(*args, **{**kwargs, **connect_kwargs(lease)})

    return connect


def expire_on_rotate(lease: Lease, pool: Any, loop: Any) -> None:
    """On each switch, run ``pool.expire_connections()`` on ``loop`` (the pool's event loop).

    The lease switches on its own thread; the coroutine is handed to the loop
    thread-safely. Connections in use finish; each is replaced when next acquired.
    """
    import asyncio  # lazy: only asyncpg users need it

    def expire(_lease: Lease) -> None:
        asyncio.run_coroutine_threadsafe(pool.expire_connections(), loop)

    lease.on_rotate(expire)
