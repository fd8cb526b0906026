"""FastAPI: the per-request secret dependency and the prefetching lifespan."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from sekret import ConfigurationError, SecretNotFound, Secrets, SecretValue
from sekret.backends.memory import MemoryBackend
from sekret.integrations.fastapi import (
    secret_dependency,
    sekret_lifespan,
    settings_dependency,
)
from sekret.testing import sentinel_value


class CountingBackend(MemoryBackend):
    """Counts reads so the test can see prefetching."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Any:
        self.reads.append(name)
        return super().read(name, version=version, stage=stage)


def _app(secrets: Any, **options: Any) -> FastAPI:
    app = FastAPI(lifespan=sekret_lifespan(secrets, **options))

    @app.get("/length")
    async def length(key: Annotated[str, Depends(secret_dependency("cohere-api-key"))]) -> int:
        return len(key)

    @app.get("/db-user")
    async def db_user(db: Annotated[Any, Depends(secret_dependency("db", mode="json"))]) -> str:
        return str(db["username"])

    @app.get("/kind")
    async def kind(v: Annotated[SecretValue, Depends(secret_dependency("db", mode="value"))]):
        return {"kind": v.kind, "shown": str(v)}

    return app


def test_dependency_reads_per_request_and_sees_rotation() -> None:
    """Each request reads the current value; after a put the new one is served."""
    secrets = Secrets(MemoryBackend(), app="a", environment="e")
    secrets.put("cohere-api-key", "x" * 10)
    secrets.put("db", {"username": "app", "password": sentinel_value()})
    with TestClient(_app(secrets, prefetch=["cohere-api-key", "db"])) as client:
        assert client.get("/length").json() == 10
        secrets.put("cohere-api-key", "y" * 12)
        assert client.get("/length").json() == 12
        assert client.get("/db-user").json() == "app"
        assert client.get("/kind").json() == {"kind": "json", "shown": "***"}
    secrets.close()


def test_lifespan_prefetches_at_start_up() -> None:
    """The lifespan reads the listed secrets before the first request."""
    backend = CountingBackend()
    secrets = Secrets(backend, app="a", environment="e")
    secrets.put("cohere-api-key", "v")
    with TestClient(_app(secrets, prefetch=["cohere-api-key"])):
        assert backend.reads == ["a/e/cohere-api-key"]
    secrets.close()


def test_missing_secret_fails_start_up() -> None:
    """Start-up fails naming a missing secret, unless fail_fast=False."""
    secrets = Secrets(MemoryBackend(), app="a", environment="e")
    with (
        pytest.raises(ConfigurationError, match="cohere-api-key"),
        TestClient(_app(secrets, prefetch=["cohere-api-key"])),
    ):
        pass
    lenient = _app(secrets, prefetch=["cohere-api-key"], fail_fast=False)
    with TestClient(lenient) as client, pytest.raises(SecretNotFound):
        client.get("/length")
    secrets.close()


def test_lifespan_from_manifest_wraps_user_lifespan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no client given, the manifest builds one; the app's own lifespan still runs."""
    (tmp_path / "sekret.toml").write_text(
        'app = "a"\ndefault_environment = "d"\n'
        '[environments.d]\nbackend = "memory://fastapi-manifest-test"\n'
        '[secrets.cohere-api-key]\nkind = "api_key"\n'
    )
    monkeypatch.chdir(tmp_path)
    seed = Secrets("memory://fastapi-manifest-test", app="a", environment="d")
    seed.put("cohere-api-key", "abc")
    events: list[str] = []

    @asynccontextmanager
    async def mine(app: FastAPI) -> AsyncIterator[None]:
        events.append("start")
        yield
        events.append("stop")

    with TestClient(_app(None, lifespan=mine)) as client:
        assert client.get("/length").json() == 3
    assert events == ["start", "stop"]
    seed.destroy("cohere-api-key")
    seed.close()


def test_dependency_without_lifespan_is_a_clear_error() -> None:
    """Using the dependency on an app without the lifespan names the fix."""
    app = FastAPI()

    @app.get("/")
    async def root(key: Annotated[str, Depends(secret_dependency("k"))]) -> str:
        return "ok"

    with TestClient(app) as client, pytest.raises(ConfigurationError, match="sekret_lifespan"):
        client.get("/")


BUILT: list[int] = []


def make_settings() -> int:
    BUILT.append(1)
    return len(BUILT)


SettingsDep = Annotated[int, Depends(settings_dependency(make_settings))]


def test_settings_dependency_builds_per_request() -> None:
    """settings_dependency constructs the settings class for every request."""
    BUILT.clear()
    app = FastAPI()

    @app.get("/")
    async def root(n: SettingsDep) -> int:
        return n

    with TestClient(app) as client:
        assert client.get("/").json() == 1
        assert client.get("/").json() == 2


def test_missing_fastapi_names_the_extra_not_a_backend() -> None:
    """Without fastapi, importing the integration names the extra and never says 'backend'."""
    code = (
        "import sys; sys.modules['fastapi'] = None\n"
        "from sekret import BackendNotInstalled\n"
        "try:\n"
        "    import sekret.integrations.fastapi\n"
        "except BackendNotInstalled as exc:\n"
        "    print(exc)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "'fastapi' is not installed: pip install \"sekret[fastapi]\""
