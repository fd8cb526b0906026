"""``env://``: read secrets from environment variables and ``.env`` files.

For development and twelve-factor deployments. Read-only: it declares
``READ | LIST`` and every write raises ``UnsupportedOperation``.

Name -> variable
    An explicit ``mapping`` (full name -> variable; ``Secrets.from_manifest``
    passes the manifest's ``env`` entries) wins. Otherwise the name after its
    ``app/environment/`` part is upper-snake-cased: ``arrwdb/production/
    cohere-api-key`` -> ``COHERE_API_KEY`` (names of one or two segments are
    converted whole). An optional ``prefix`` is put in front (``APP_``).

Precedence
    The process environment wins over ``.env`` files; among several files
    the later one wins (``env://?dotenv=.env&dotenv=.env.local``). Files are
    parsed with python-dotenv (extra ``dotenv``) on every read, so edits show
    up at the next cache miss. Variables are never interpolated (a password
    containing ``${X}`` is kept as written). A line python-dotenv cannot parse
    raises ``ConfigurationError`` naming the file and line, never its content.

Values
    Text by default. ``{...}``/``[...]`` that parse as JSON are JSON values
    (``db_credentials``); ``sekret:b64:<base64>`` is binary. ``env_text``
    gives the inverse (used by ``sekret run``/``export``).

Versions
    There is one version, ``current``; its id is a keyed hash of the value
    (the key is random per process, so the id reveals nothing about the
    value but changes when the value does).

This module must never write to the environment or to a file.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qsl, urlsplit

from sekret._names import validate_name
from sekret._values import CURRENT, Page, Secret, SecretInfo, SecretValue, VersionInfo
from sekret.backends.base import (
    Backend,
    Capability,
    check_one_version,
    check_page_size,
    require_extra,
    text_kind,
    utcnow,
)
from sekret.exceptions import ConfigurationError, InvalidValue, SecretNotFound

__all__ = ["BINARY_PREFIX", "EnvBackend", "default_env_var", "env_text", "parse_env_value"]


def default_env_var(short_name: str) -> str:
    """``cohere-api-key`` -> ``COHERE_API_KEY``; ``tenants/acme/key`` -> ``TENANTS_ACME_KEY``.

    The one name mapping (the manifest's default ``env`` uses it too): every
    character outside ``[A-Za-z0-9]`` becomes ``_``, then upper case.
    """
    return "".join(c if c.isascii() and c.isalnum() else "_" for c in short_name).upper()


BINARY_PREFIX = "sekret:b64:"
_VERSION_KEY = os.urandom(32)


def env_text(value: SecretValue) -> str:
    """A value as environment-variable text (binary values as ``sekret:b64:...``)."""
    if value.kind == "bytes":
        return BINARY_PREFIX + base64.b64encode(value.bytes()).decode("ascii")
    return value.text()


def parse_env_value(text: str, *, max_bytes: int) -> SecretValue:
    """The inverse of ``env_text``: text, JSON (object/array) or ``sekret:b64:`` binary."""
    if text.startswith(BINARY_PREFIX):
        try:
            data = base64.b64decode(text[len(BINARY_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise InvalidValue("a sekret:b64: value is not valid base64") from None
        return SecretValue(data, "bytes", max_bytes=max_bytes)
    raw = text.encode("utf-8", "surrogateescape")
    return SecretValue(raw, text_kind(text), max_bytes=max_bytes)


class EnvBackend(Backend):
    """Environment variables (over ``.env`` files) as a read-only backend."""

    scheme: ClassVar[str] = "env"
    capabilities = Capability.READ | Capability.LIST

    def __init__(
        self,
        *,
        dotenv: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] = (),
        mapping: Mapping[str, str] | None = None,
        prefix: str = "",
        environ: Mapping[str, str] | None = None,
    ) -> None:
        files = [dotenv] if isinstance(dotenv, str | os.PathLike) else list(dotenv)
        self._files = [Path(f) for f in files]
        if self._files:
            self._parser = require_extra("dotenv.parser", "dotenv")
        self._mapping = dict(mapping or {})
        self._prefix = prefix
        self._environ = environ
        self._started = utcnow()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> EnvBackend:
        """``env://`` or ``env://?dotenv=.env&dotenv=.env.local&prefix=APP_``."""
        parts = urlsplit(url)
        if parts.netloc or parts.path not in ("", "/"):
            raise ConfigurationError(
                "env:// takes no host or path; use env://?dotenv=PATH&prefix=PREFIX"
            )
        query = parse_qsl(parts.query, keep_blank_values=True)
        unknown = sorted({k for k, _ in query} - {"dotenv", "prefix"})
        if unknown:
            raise ConfigurationError(f"env:// does not know the option(s) {', '.join(unknown)}")
        options.setdefault("dotenv", [v for k, v in query if k == "dotenv"])
        prefixes = [v for k, v in query if k == "prefix"]
        if prefixes:
            options.setdefault("prefix", prefixes[-1])
        return cls(**options)

    def describe(self) -> str:
        query = "&".join(
            [f"dotenv={f}" for f in self._files] + [f"prefix={self._prefix}"] * bool(self._prefix)
        )
        return "env://" + (f"?{query}" if query else "")

    # -- names ---------------------------------------------------------------
    def variable(self, name: str) -> str:
        """The environment variable a full name maps to."""
        validate_name(name)
        mapped = self._mapping.get(name)
        if mapped is not None:
            return mapped
        parts = name.split("/")
        short = "/".join(parts[2:]) if len(parts) >= 3 else name
        return self._prefix + default_env_var(short)

    def declare(self, name: str, variable: str | None = None) -> None:
        """Make ``name`` known (for ``list``), optionally under an explicit variable."""
        self._mapping[validate_name(name)] = variable or self.variable(name)

    # -- sources -------------------------------------------------------------
    def _dotenv(self) -> dict[str, str]:
        merged: dict[str, str] = {}
        for path in self._files:
            try:
                with path.open(encoding="utf-8") as stream:
                    for binding in self._parser.parse_stream(stream):
                        if binding.error:
                            raise ConfigurationError(
                                f"{path}:{binding.original.line}: python-dotenv cannot parse"
                                " this line (check quotes and the KEY=value form)"
                            )
                        if binding.key is not None and binding.value is not None:
                            merged[binding.key] = binding.value
            except FileNotFoundError:
                continue
            except UnicodeDecodeError:
                pass  # raised below, outside the handler: the error's .object is file content
            except OSError as exc:
                raise ConfigurationError(f"{path}: cannot read ({exc.strerror})") from exc
            else:
                continue
            raise ConfigurationError(f"{path}: the .env file is not UTF-8 text")
        return merged

    def _lookup(self, variable: str) -> str | None:
        environ = os.environ if self._environ is None else self._environ
        found = environ.get(variable)
        if found is not None:
            return found
        return self._dotenv().get(variable) if self._files else None

    def _version(self, variable: str, text: str) -> str:
        import hashlib  # lazy: the manifest imports this module for default_env_var
        import hmac  # and `sekret get` on a local store needs no OpenSSL hash

        digest = hmac.new(_VERSION_KEY, f"{variable}\0{text}".encode(), hashlib.sha256)
        return digest.hexdigest()[:16]

    # -- reads ---------------------------------------------------------------
    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        variable = self.variable(name)
        text = self._lookup(variable)
        if text is None:
            raise SecretNotFound(
                f"secret {name!r} not found (variable {variable} is not set)",
                name=name,
                backend=self.describe(),
            )
        current = self._version(variable, text)
        check_one_version(
            name, version, stage, current, backend=self.describe(), why="environment variables hold"
        )
        value = parse_env_value(text, max_bytes=self.max_value_bytes)
        return Secret(name, current, value, frozenset({CURRENT}), self._started)

    def list(
        self,
        prefix: str = "",
        *,
        page_size: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> Page:
        """Declared names (the mapping) whose variable is set, by prefix."""
        check_page_size(page_size)
        names = [
            n
            for n, var in self._mapping.items()
            if n.startswith(prefix) and self._lookup(var) is not None
        ]
        return Page.after(
            names,
            lambda n: SecretInfo(n, current_version=self._version_of(n)),
            page_token=page_token,
            page_size=page_size,
        )

    def _version_of(self, name: str) -> str | None:
        variable = self.variable(name)
        text = self._lookup(variable)
        return None if text is None else self._version(variable, text)

    # -- writes: never -------------------------------------------------------
    def write(
        self,
        name: str,
        value: SecretValue,
        *,
        stages: Collection[str] = (CURRENT,),
        expected_version: str | None = None,
        token: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> VersionInfo:
        validate_name(name)
        raise self._unsupported("write (env:// is read-only)", Capability.WRITE)
