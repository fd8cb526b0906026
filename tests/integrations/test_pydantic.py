"""The pydantic-settings source: marked fields, SecretStr, priority, reload."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from sekret import AccessDenied, Secrets
from sekret.backends.memory import MemoryBackend
from sekret.integrations.pydantic import SekretField, SekretSettingsSource, reload, sekret_fields
from sekret.testing import sentinel_value

CLIENT: list[Secrets] = []


def current() -> Secrets:
    return CLIENT[-1]


class DbCredentials(BaseModel):
    username: str
    password: SecretStr


class Settings(BaseSettings):
    """sekret after env and .env: an environment variable overrides (development)."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    cohere_api_key: Annotated[SecretStr, SekretField("cohere-api-key")]
    database: Annotated[DbCredentials, SekretField("db-credentials")]
    jwt_key: SecretStr | None = Field(default=None, json_schema_extra={"sekret": "jwt-key"})
    tenant_key: Annotated[str, SekretField()] = "none"
    plain: str = "plain"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sekret = SekretSettingsSource(settings_cls, current)
        return init_settings, env_settings, dotenv_settings, sekret, file_secret_settings


class SekretFirst(Settings):
    """sekret before env: the stored value wins over an environment variable."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sekret = SekretSettingsSource(settings_cls, current)
        return init_settings, sekret, env_settings, dotenv_settings, file_secret_settings


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[Secrets]:
    for var in ("COHERE_API_KEY", "DATABASE", "JWT_KEY", "TENANT_KEY"):
        monkeypatch.delenv(var, raising=False)
    client = Secrets(MemoryBackend(), app="arrwdb", environment="test")
    CLIENT.append(client)
    yield client
    CLIENT.remove(client)
    client.close()


def _seed(secrets: Secrets) -> tuple[str, str]:
    key, password = sentinel_value("key"), sentinel_value("pw")
    secrets.put("cohere-api-key", key)
    secrets.put("db-credentials", {"username": "app", "password": password})
    return key, password


def test_marked_fields_are_filled(secrets: Secrets) -> None:
    """SekretField and json_schema_extra fields come from sekret; SecretStr hides them."""
    key, password = _seed(secrets)
    secrets.put("jwt-key", "jwt-value")
    secrets.put("tenant-key", "tenant-value")
    settings = Settings()
    assert settings.cohere_api_key.get_secret_value() == key
    assert settings.database.password.get_secret_value() == password
    assert settings.database.username == "app"
    assert settings.jwt_key is not None
    assert settings.jwt_key.get_secret_value() == "jwt-value"
    assert settings.tenant_key == "tenant-value"
    assert key not in repr(settings)
    assert password not in repr(settings)


def test_field_map() -> None:
    """sekret_fields lists every marked field and its secret name."""
    assert sekret_fields(Settings) == {
        "cohere_api_key": "cohere-api-key",
        "database": "db-credentials",
        "jwt_key": "jwt-key",
        "tenant_key": "tenant-key",
    }


def test_missing_secret_uses_default_or_fails_required(secrets: Secrets) -> None:
    """A missing optional secret keeps its default; a missing required one fails validation."""
    _seed(secrets)
    assert Settings().jwt_key is None
    secrets.destroy("cohere-api-key")
    with pytest.raises(ValidationError, match="cohere_api_key"):
        Settings()


def test_env_overrides_sekret_when_listed_first(
    secrets: Secrets, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With env_settings before the sekret source, COHERE_API_KEY from the environment wins."""
    _seed(secrets)
    monkeypatch.setenv("COHERE_API_KEY", "from-env")
    assert Settings().cohere_api_key.get_secret_value() == "from-env"


def test_sekret_wins_when_listed_first(secrets: Secrets, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the sekret source before env_settings, the stored value wins."""
    key, _ = _seed(secrets)
    monkeypatch.setenv("COHERE_API_KEY", "from-env")
    assert SekretFirst().cohere_api_key.get_secret_value() == key


def test_dotenv_priority(secrets: Secrets, tmp_path: Path) -> None:
    """A .env entry overrides sekret in the default order, but not init arguments."""
    _seed(secrets)
    dotenv = tmp_path / ".env"
    dotenv.write_text("COHERE_API_KEY=from-dotenv\n")
    settings = Settings(_env_file=dotenv)  # type: ignore[call-arg]
    assert settings.cohere_api_key.get_secret_value() == "from-dotenv"
    explicit = Settings(cohere_api_key="init")  # type: ignore[arg-type]
    assert explicit.cohere_api_key.get_secret_value() == "init"


def test_reload_after_rotation(secrets: Secrets) -> None:
    """reload() re-reads the marked secrets, so a rotated value is picked up."""
    _seed(secrets)
    settings = Settings()
    rotated = sentinel_value("rotated")
    secrets.put("cohere-api-key", rotated)
    fresh = reload(settings, secrets)
    assert fresh.cohere_api_key.get_secret_value() == rotated
    assert settings.cohere_api_key.get_secret_value() != rotated


def test_other_errors_are_raised(secrets: Secrets) -> None:
    """An access error is not swallowed into a missing field."""

    class Denying(Secrets):
        def get_secret(self, name: str, **_: Any) -> Any:
            raise AccessDenied(f"denied {name}")

    CLIENT.append(Denying(MemoryBackend(), app="a", environment="e"))
    try:
        with pytest.raises(AccessDenied):
            Settings()
    finally:
        CLIENT.pop().close()


def test_source_repr_shows_names_only(secrets: Secrets) -> None:
    """The source's repr lists secret names, never values."""
    key, _ = _seed(secrets)
    text = repr(SekretSettingsSource(Settings, secrets))
    assert "cohere-api-key" in text
    assert key not in text


class ByReference(BaseSettings):
    """Fields named by sekret:// references: a field of a JSON secret, and a stage."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    db_password: Annotated[SecretStr, SekretField("sekret://db-credentials#password")]
    old_key: Annotated[SecretStr, SekretField("sekret://cohere-api-key@previous")]
    port: Annotated[int, SekretField("sekret://arrwdb/test/db-credentials#port")] = 0

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, SekretSettingsSource(settings_cls, current))


def test_references_fill_fields(secrets: Secrets) -> None:
    """The source accepts the same sekret:// references as Secrets.get (#field, @stage)."""
    old, password = sentinel_value("old"), sentinel_value("pw")
    secrets.put("cohere-api-key", old)
    secrets.put("cohere-api-key", sentinel_value("new"), stages=("current", "previous"))
    secrets.move_stage("cohere-api-key", "previous", "1")
    secrets.put("db-credentials", {"username": "app", "password": password, "port": 5432})
    settings = ByReference()
    assert settings.db_password.get_secret_value() == password
    assert settings.old_key.get_secret_value() == old
    assert settings.port == 5432
    fresh = reload(settings, secrets)
    assert fresh.db_password.get_secret_value() == password


class Constrained(BaseSettings):
    """A constrained SecretStr and a typed JSON field, filled by sekret only."""

    model_config = SettingsConfigDict(env_file=None, extra="ignore")

    cohere_api_key: Annotated[SecretStr, Field(min_length=200), SekretField("cohere-api-key")]
    database: Annotated[DbCredentials, SekretField("db-credentials")]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (SekretSettingsSource(settings_cls, current),)


def test_validation_errors_hold_no_value(secrets: Secrets) -> None:
    """A value failing validation (constrained SecretStr, wrong JSON shape) is not in the error."""
    key = sentinel_value("key")
    leaf = sentinel_value("leaf")
    secrets.put("cohere-api-key", key)
    secrets.put("db-credentials", {"username": ["not", leaf], "password": 5})
    with pytest.raises(ValidationError) as caught:
        Constrained()
    text = str(caught.value) + repr(caught.value)
    assert "cohere_api_key" in text
    assert key not in text
    assert leaf not in text
    assert "input_value" not in text
