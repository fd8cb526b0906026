"""A pydantic-settings source that fills marked fields from sekret.

Mark a field with ``SekretField`` (or ``json_schema_extra={"sekret": name}``)
and put ``SekretSettingsSource`` among the settings sources::

    class Settings(BaseSettings):
        model_config = SettingsConfigDict(env_file=".env")

        cohere_api_key: Annotated[SecretStr, SekretField("cohere-api-key")]
        database: Annotated[DbCredentials, SekretField("db-credentials")]  # a JSON secret

        @classmethod
        def settings_customise_sources(cls, settings_cls, init_settings, env_settings,
                                       dotenv_settings, file_secret_settings):
            sekret = SekretSettingsSource(settings_cls, get_secrets)
            return init_settings, env_settings, dotenv_settings, sekret, file_secret_settings

Priority is the order of that tuple (first wins). The order above lets an
environment variable or ``.env`` entry override sekret (handy in
development); put ``sekret`` before ``env_settings`` to make sekret win.

Values: text secrets become ``str`` (pydantic turns them into ``SecretStr``),
JSON secrets their parsed JSON (validated into the field's model), binary
secrets ``bytes``. A missing secret is left out, so a default applies or
pydantic reports the required field; any other error (denied, unavailable)
is raised. Reads go through the client's cache each time a settings object
is built, so ``reload(settings, secrets)`` after a rotation re-reads them.

Validation errors are value-free: pydantic prints ``input_value=...`` in a
``ValidationError`` (even for a ``SecretStr`` with a constraint), so the
source turns on ``hide_input_in_errors`` for the settings class it fills
(rebuilding its validator once) unless the class already sets it. Set it in
``model_config`` yourself to make that explicit. ``ValidationError.errors()``
still holds the inputs: use ``errors(include_input=False)`` when you log them.

This module must never log or repr a value; the source's repr lists names only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sekret import Secrets
from sekret._refs import looks_like_reference, parse_reference
from sekret.backends.base import require_extra
from sekret.exceptions import SecretNotFound

require_extra("pydantic_settings", "pydantic")

from pydantic.fields import FieldInfo  # noqa: E402 - after the extra check above
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource  # noqa: E402

if TYPE_CHECKING:
    from sekret import Secret

__all__ = [
    "SekretField",
    "SekretSettingsSource",
    "hide_inputs_in_errors",
    "reload",
    "sekret_fields",
]

S = TypeVar("S", bound=BaseSettings)
SecretsSource = Secrets | Callable[[], Secrets]


@dataclass(frozen=True, slots=True)
class SekretField:
    """``Annotated`` marker: fill this field from the secret ``name`` (short name).

    ``name`` may also be a reference (``sekret://db-credentials#password``,
    ``sekret://signing-key@previous``; see docs/references.md): a ``#field``
    fills the field with that field of a JSON secret.

    ``name=None`` uses the field name with ``_`` as ``-`` (``cohere_api_key`` ->
    ``cohere-api-key``).
    """

    name: str | None = None


def _secret_name(field_name: str, field: FieldInfo) -> str | None:
    for item in field.metadata:
        if isinstance(item, SekretField):
            return item.name or field_name.replace("_", "-")
    extra = field.json_schema_extra
    if isinstance(extra, dict):
        named = extra.get("sekret")
        if isinstance(named, str):
            return named
    return None


def sekret_fields(settings_cls: type[BaseSettings]) -> dict[str, str]:
    """Field name -> secret short name, for every marked field of ``settings_cls``."""
    out: dict[str, str] = {}
    for field_name, field in settings_cls.model_fields.items():
        name = _secret_name(field_name, field)
        if name is not None:
            out[field_name] = name
    return out


def _plain(secret: Secret) -> Any:
    value = secret.value
    if value.kind == "json":
        return value.json()
    if value.kind == "bytes":
        return value.bytes()
    return value.text()


def hide_inputs_in_errors(settings_cls: type[BaseSettings]) -> None:
    """Make ``settings_cls``'s ``ValidationError`` messages value-free (once per class)."""
    if settings_cls.model_config.get("hide_input_in_errors"):
        return
    settings_cls.model_config["hide_input_in_errors"] = True
    settings_cls.model_rebuild(force=True)


class SekretSettingsSource(PydanticBaseSettingsSource):
    """Fills marked fields from a ``Secrets`` client (or a callable returning one)."""

    def __init__(self, settings_cls: type[BaseSettings], secrets: SecretsSource) -> None:
        hide_inputs_in_errors(settings_cls)
        super().__init__(settings_cls)
        self._secrets = secrets
        self.fields = sekret_fields(settings_cls)

    def client(self) -> Secrets:
        return self._secrets if isinstance(self._secrets, Secrets) else self._secrets()

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        name = self.fields.get(field_name)
        if name is None:
            return None, field_name, False
        client = self.client()
        try:
            if looks_like_reference(name) and parse_reference(name, require_scheme=False).field:
                return client.get_json(name), field_name, False
            secret = client.get_secret(name)
        except SecretNotFound:
            return None, field_name, False
        return _plain(secret), field_name, False

    def _items(self) -> Iterator[tuple[str, FieldInfo]]:
        for field_name in self.fields:
            yield field_name, self.settings_cls.model_fields[field_name]

    def __call__(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for field_name, field in self._items():
            value, _, _ = self.get_field_value(field, field_name)
            if value is not None:
                key = field.alias if isinstance(field.alias, str) else field_name
                data[key] = value
        return data

    def __repr__(self) -> str:
        return f"SekretSettingsSource(fields={sorted(self.fields.values())!r})"


def reload(settings: S, secrets: Secrets | None = None) -> S:
    """A fresh ``type(settings)()``; with ``secrets``, its marked secrets are re-read first.

    Use it after a rotation (``secrets.refresh`` bypasses the cache's TTL).
    Constructor arguments given to the original object are not carried over.
    """
    cls = type(settings)
    if secrets is not None:
        for name in sekret_fields(cls).values():
            try:
                secrets.refresh(name)
            except SecretNotFound:
                continue
    return cls()
