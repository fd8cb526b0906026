"""FastAPI: a per-request secret dependency and a start-up lifespan.

::

    app = FastAPI(lifespan=sekret_lifespan())      # Secrets.from_manifest(), prefetch all

    @app.post("/embed")
    async def embed(key: Annotated[str, Depends(secret_dependency("cohere-api-key"))]): ...

``sekret_lifespan`` builds an ``AsyncSecrets`` client (from the manifest
unless given one), prefetches the manifest's secrets into the cache (a
missing or unreadable secret fails start-up, naming it, unless
``fail_fast=False``), stores the client on ``app.state.sekret`` and closes
it at shutdown (only if it built it). It can wrap the app's own lifespan.

``secret_dependency(name)`` reads through the cache on every request, so a
rotated value is served once the cache has it; ``settings_dependency(cls)``
does the same for a pydantic-settings class.

This module must never log, return in an error response, or repr a value.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Literal, TypeVar

from sekret import AsyncSecrets, Secrets
from sekret.backends.base import require_extra
from sekret.exceptions import ConfigurationError, SekretError

require_extra("fastapi", "fastapi")

from fastapi import FastAPI, Request  # noqa: E402 - after the extra check above

__all__ = ["STATE_KEY", "secret_dependency", "sekret_lifespan", "settings_dependency"]

STATE_KEY = "sekret"
T = TypeVar("T")
Mode = Literal["text", "bytes", "json", "value"]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[Any]]


def _client(request: Request, explicit: AsyncSecrets | Secrets | None) -> AsyncSecrets:
    if explicit is not None:
        return explicit if isinstance(explicit, AsyncSecrets) else AsyncSecrets(explicit)
    client = getattr(request.app.state, STATE_KEY, None)
    if not isinstance(client, AsyncSecrets):
        raise ConfigurationError(
            "no sekret client on app.state: use FastAPI(lifespan=sekret_lifespan(...))"
            " or pass secrets= to the dependency"
        )
    return client


def secret_dependency(
    name: str, *, mode: Mode = "text", secrets: AsyncSecrets | Secrets | None = None
) -> Callable[[Request], Awaitable[Any]]:
    """A dependency giving the current value of ``name`` per request, from the cache.

    ``mode``: ``text`` (str), ``bytes``, ``json`` (parsed) or ``value`` (a
    ``SecretValue`` that never shows itself).
    """

    async def dependency(request: Request) -> Any:
        secret = await _client(request, secrets).get_secret(name)
        if mode == "value":
            return secret.value
        if mode == "json":
            return secret.value.json()
        if mode == "bytes":
            return secret.value.bytes()
        return secret.value.text()

    dependency.__name__ = f"sekret_{name.replace('-', '_').replace('/', '_')}"
    return dependency


def settings_dependency(
    settings_cls: Callable[[], T], *, threaded: bool = True
) -> Callable[[], Awaitable[T]]:
    """A dependency building ``settings_cls()`` per request (its sources read the cache).

    Building may do I/O on a cache miss, so it runs in a worker thread unless
    ``threaded=False``.
    """

    async def dependency() -> T:
        if not threaded:
            return settings_cls()
        import asyncio  # lazy

        return await asyncio.to_thread(settings_cls)

    return dependency


def sekret_lifespan(
    secrets: AsyncSecrets | Secrets | Callable[[], Secrets] | None = None,
    *,
    prefetch: Sequence[str] | None = None,
    fail_fast: bool = True,
    lifespan: Lifespan | None = None,
) -> Lifespan:
    """A lifespan that opens a client, prefetches secrets and closes it at shutdown.

    ``secrets``: a client, a factory, or None for ``Secrets.from_manifest()``.
    ``prefetch``: short names to warm (default: every secret of the manifest when
    the client was built from it, else nothing).
    """

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        import asyncio  # lazy

        owned = not isinstance(secrets, AsyncSecrets | Secrets)
        names = list(prefetch) if prefetch is not None else []
        if secrets is None:
            from sekret.manifest import load_manifest

            manifest = await asyncio.to_thread(load_manifest)
            sync = await asyncio.to_thread(lambda: Secrets(**manifest.client_arguments()))
            if prefetch is None:
                names = list(manifest.secrets)
        elif isinstance(secrets, AsyncSecrets):
            sync = secrets.sync
        elif isinstance(secrets, Secrets):
            sync = secrets
        else:
            sync = await asyncio.to_thread(secrets)
        client = secrets if isinstance(secrets, AsyncSecrets) else AsyncSecrets(sync)
        try:
            if names:
                got = await client.prefetch(names)
                failed = {n: r for n, r in got.items() if isinstance(r, SekretError)}
                if failed and fail_fast:
                    detail = "; ".join(f"{n} ({e})" for n, e in sorted(failed.items()))
                    raise ConfigurationError(f"start-up prefetch failed for {detail}")
            setattr(app.state, STATE_KEY, client)
            if lifespan is not None:
                async with lifespan(app):
                    yield
            else:
                yield
        finally:
            if owned:
                await client.aclose()

    return run
