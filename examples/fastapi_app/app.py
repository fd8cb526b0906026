"""An arrwdb-style FastAPI service whose settings come from sekret.

The Cohere key and the database credentials are declared fields of
``Settings``; a sekret settings source fills them from the store named in
``sekret.toml`` (the embedded ``local://`` store in development). The
lifespan prefetches every secret of the manifest at start-up, so a missing
secret stops the service before it takes traffic, and requests read through
the cache. Install and run it as README.md in this folder says::

    pip install "sekret[cli,pydantic,fastapi]" uvicorn
    cd examples/fastapi_app
    sekret init                                           # once: .sekret/secrets.db
    sekret put cohere-api-key                             # hidden prompt
    cp db.example.json db.json                            # then edit the password
    sekret put db-credentials --json-value --file db.json && rm db.json
    uvicorn --factory app:create_app

Nothing here logs, returns or prints a secret value.
"""

from __future__ import annotations

import logging
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from fastapi import Depends, FastAPI
from pydantic import BaseModel, SecretStr
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from sekret import Secrets
from sekret.integrations.fastapi import secret_dependency, sekret_lifespan, settings_dependency
from sekret.integrations.pydantic import SekretField, SekretSettingsSource
from sekret.integrations.redaction import default_redactor, install_logging_filter
from sekret.manifest import load_manifest

MANIFEST = Path(__file__).with_name("sekret.toml")
log = logging.getLogger("arrwdb")


@lru_cache(maxsize=1)
def get_secrets() -> Secrets:
    """The one client of this process, built from the manifest (SEKRET_ENV picks the env)."""
    return Secrets.from_manifest(MANIFEST)


class DatabaseCredentials(BaseModel):
    host: str = "localhost"
    port: int = 5432
    username: str
    password: SecretStr
    dbname: str = "arrwdb"

    def describe(self) -> str:
        """Where we connect, without the password."""
        return f"{self.username}@{self.host}:{self.port}/{self.dbname}"


class Settings(BaseSettings):
    """The service configuration; COHERE_API_KEY / DATABASE_CREDENTIALS in the env override."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", hide_input_in_errors=True)

    cohere_api_key: Annotated[SecretStr, SekretField("cohere-api-key")]
    database: Annotated[DatabaseCredentials, SekretField("db-credentials")]
    embed_model: str = "embed-english-v3.0"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sekret = SekretSettingsSource(settings_cls, get_secrets)
        return init_settings, env_settings, dotenv_settings, sekret, file_secret_settings


def call_cohere(texts: list[str], *, api_key: str, model: str) -> list[list[float]]:
    """Stand-in for the Cohere SDK call (the example has no network)."""
    return [[0.0] * 4 for _ in texts]


class EmbedRequest(BaseModel):
    texts: list[str]


SettingsDep = Annotated[Settings, Depends(settings_dependency(Settings))]
CohereKey = Annotated[str, Depends(secret_dependency("cohere-api-key"))]


def create_app() -> FastAPI:
    """The application; its lifespan prefetches the manifest's secrets."""
    default_redactor().watch(get_secrets())  # whatever the cache holds ...
    install_logging_filter()  # ... shows as *** in every root handler's output
    names = list(load_manifest(MANIFEST).secrets)
    app = FastAPI(title="arrwdb", lifespan=sekret_lifespan(get_secrets(), prefetch=names))

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok", "secrets": get_secrets().namespace.root}

    @app.get("/config")
    async def config(settings: SettingsDep) -> dict[str, str]:
        return {"embed_model": settings.embed_model, "database": settings.database.describe()}

    @app.post("/embed")
    async def embed(request: EmbedRequest, settings: SettingsDep, key: CohereKey) -> dict[str, int]:
        vectors = call_cohere(request.texts, api_key=key, model=settings.embed_model)
        log.info("embedded %d texts (key %s)", len(vectors), key)  # the key shows as ***
        return {"vectors": len(vectors)}

    return app
