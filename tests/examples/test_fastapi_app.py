"""The FastAPI example gets its Cohere key and database credentials from the local store."""

from __future__ import annotations

import importlib.util
import logging
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
from fastapi.testclient import TestClient

from sekret import ConfigurationError, Secrets
from sekret.backends.local import init_store
from sekret.testing import sentinel_value

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fastapi_app"


@pytest.fixture
def example(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The example module, run from a fresh copy of its folder holding its embedded store."""
    for var in ("COHERE_API_KEY", "DATABASE_CREDENTIALS"):  # SEKRET_*: tests/conftest.py
        monkeypatch.delenv(var, raising=False)
    for name in ("app.py", "sekret.toml"):
        shutil.copy(EXAMPLE / name, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    init_store(tmp_path / ".sekret" / "secrets.db")
    spec = importlib.util.spec_from_file_location("sekret_example_fastapi_app", tmp_path / "app.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    yield module
    module.get_secrets().close()
    module.get_secrets.cache_clear()
    del sys.modules[spec.name]


def _seed(tmp_path: Path) -> tuple[str, str]:
    key, password = sentinel_value("cohere"), sentinel_value("db")
    url = f"local://{tmp_path}/.sekret/secrets.db"
    with Secrets(url, app="arrwdb", environment="development") as s:
        s.put("cohere-api-key", key)
        s.put("db-credentials", {"host": "db", "username": "arrwdb", "password": password})
    return key, password


def test_settings_and_requests_use_the_store(
    example: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Settings fields come from the local store; /embed gets the key; nothing leaks."""
    key, password = _seed(tmp_path)
    seen: list[str] = []

    def fake_cohere(texts: list[str], *, api_key: str, model: str) -> list[list[float]]:
        seen.append(api_key)
        return [[0.0] for _ in texts]

    monkeypatch.setattr(example, "call_cohere", fake_cohere)
    with TestClient(example.create_app()) as client:
        assert client.get("/health").json()["secrets"] == "arrwdb/development"
        config = client.get("/config").json()
        assert config == {"embed_model": "embed-english-v3.0", "database": "arrwdb@db:5432/arrwdb"}
        response = client.post("/embed", json={"texts": ["a", "b"]})
        assert response.json() == {"vectors": 2}
    assert seen == [key]
    settings = example.Settings()
    assert settings.database.password.get_secret_value() == password
    assert key not in repr(settings)


def test_logged_key_is_redacted(
    example: ModuleType, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """The example's log line carrying the key shows *** in captured log output."""
    key, _ = _seed(tmp_path)
    caplog.set_level(logging.INFO, logger="arrwdb")
    with TestClient(example.create_app()) as client:
        client.post("/embed", json={"texts": ["a"]})
    assert "embedded 1 texts (key ***)" in caplog.text
    assert key not in caplog.text


def test_start_up_fails_without_secrets(example: ModuleType) -> None:
    """An empty store stops the app at start-up, naming the missing secrets."""
    with (
        pytest.raises(ConfigurationError, match="cohere-api-key"),
        TestClient(example.create_app()),
    ):
        pass


def test_environment_variable_overrides_in_development(
    example: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """COHERE_API_KEY in the environment wins over the store (env before sekret)."""
    _seed(tmp_path)
    monkeypatch.setenv("COHERE_API_KEY", "local-override")
    assert example.Settings().cohere_api_key.get_secret_value() == "local-override"
