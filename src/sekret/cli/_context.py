"""What a ``sekret`` command works on, resolved in ONE place.

Every command asks ``resolve_context`` for app, environment, backend,
read_only, cache and audit; each part is taken from the first of:

1. a flag (``--app``, ``--env``, ``--backend``, ``--read-only``/``--admin``);
2. a variable (``SEKRET_APP``, ``SEKRET_ENV``, ``SEKRET_BACKEND``, ``SEKRET_READ_ONLY``);
3. the manifest found upward from the working folder (``sekret.toml`` or
   ``[tool.sekret]``; ``SEKRET_MANIFEST`` or ``--manifest`` names one);
4. the defaults (app: none, environment ``development``, the local store
   ``./.sekret/secrets.db``, writable, no audit).

When a manifest is in use, an environment it does not declare is an error,
never a silent fallback to a local store. Each resolved part remembers where
it came from (``Origin``), which ``sekret context`` prints.

This module never opens a backend and never reads a value.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from sekret._values import _Copyable, _Record
from sekret.exceptions import ConfigurationError, ManifestError

if TYPE_CHECKING:
    from sekret import Secrets  # loaded by CliState.secrets(): --version needs no facade
    from sekret.manifest import Manifest

__all__ = [
    "DEFAULT_ENV",
    "DEFAULT_STORE",
    "CliState",
    "Context",
    "Flags",
    "Origin",
    "default_backend_url",
    "resolve_context",
    "truthy",
]

DEFAULT_STORE: Final = Path(".sekret") / "secrets.db"
"""The store used when no flag, variable or manifest names a backend."""

DEFAULT_ENV: Final = "development"
"""The environment used when no flag, variable or manifest names one."""


def default_backend_url(cwd: Path | None = None) -> str:
    """``local://`` + the absolute path of ``./.sekret/secrets.db``."""
    return "local://" + str(((cwd or Path.cwd()) / DEFAULT_STORE).absolute())


def truthy(text: str | None) -> bool:
    """``1``, ``true``, ``yes``, ``on`` (any case) are true; anything else is false."""
    return (text or "").strip().lower() in ("1", "true", "yes", "on")


class Origin(_Record):
    """Where one resolved part came from: ``kind`` and a human ``where``.

    ``where`` may be given as a function, called once on first use: the line
    of a manifest key (``/p/sekret.toml:7``) costs a re-read of the file and a
    pattern per key, which ``sekret get`` never shows.
    """

    __slots__ = ("kind", "_where", "_locate")

    kind: str  # "flag" | "variable" | "manifest" | "default"
    _where: str | None
    _locate: Callable[[], str] | None

    def __init__(self, kind: str, where: str | Callable[[], str]) -> None:
        if isinstance(where, str):
            self._set(kind=kind, _where=where, _locate=None)
        else:
            self._set(kind=kind, _where=None, _locate=where)

    @property
    def where(self) -> str:
        """``--env``, ``SEKRET_ENV``, ``/p/sekret.toml:7`` or ``default``."""
        where = self._where
        if where is None:
            assert self._locate is not None
            where = self._locate()
            self._set(_where=where, _locate=None)
        return where

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Origin):
            return NotImplemented
        return (self.kind, self.where) == (other.kind, other.where)

    def __hash__(self) -> int:
        return hash((self.kind, self.where))

    def __repr__(self) -> str:
        return f"Origin({self.kind!r}, {self.where!r})"

    def __reduce__(self) -> tuple[Any, tuple[object, ...]]:
        return Origin, (self.kind, self.where)

    def __str__(self) -> str:
        return self.where if self.kind != "default" else "default"


# Flags and Context are records (sekret._values._Copyable), not dataclasses: a frozen
# dataclass costs ~2 ms to build at import, on every `sekret` command.
class Flags(_Copyable):
    """The global options as given on the command line (None: not given)."""

    __slots__ = ("backend", "app", "env", "read_only", "admin", "manifest")

    backend: str | None
    app: str | None
    env: str | None
    read_only: bool
    admin: bool
    manifest: str | None

    def __init__(
        self,
        backend: str | None = None,
        app: str | None = None,
        env: str | None = None,
        read_only: bool = False,
        admin: bool = False,
        manifest: str | None = None,
    ) -> None:
        self._set(
            backend=backend, app=app, env=env, read_only=read_only, admin=admin, manifest=manifest
        )

    def replace(self, **changes: Any) -> Flags:
        """A copy with ``changes`` (field name -> value); an unknown name is a TypeError."""
        return Flags(**{**dict(zip(self._names(), self._fields(), strict=True)), **changes})


class Context(_Copyable):
    """The resolved parts, the manifest used (if any) and each part's origin."""

    __slots__ = (
        "app",
        "environment",
        "backend",
        "read_only",
        "audit",
        "cache_ttl",
        "max_stale",
        "manifest",
        "origins",
    )

    app: str | None
    environment: str
    backend: str
    read_only: bool
    audit: tuple[Any, ...]
    cache_ttl: float | None
    max_stale: float | None
    manifest: Manifest | None
    origins: Mapping[str, Origin]

    def __init__(
        self,
        app: str | None,
        environment: str,
        backend: str,
        read_only: bool,
        audit: tuple[Any, ...] = (),
        cache_ttl: float | None = None,
        max_stale: float | None = None,
        manifest: Manifest | None = None,
        origins: Mapping[str, Origin] | None = None,
    ) -> None:
        self._set(
            app=app,
            environment=environment,
            backend=backend,
            read_only=read_only,
            audit=audit,
            cache_ttl=cache_ttl,
            max_stale=max_stale,
            manifest=manifest,
            origins={} if origins is None else origins,
        )

    @property
    def backend_explicit(self) -> bool:
        """Whether a flag, a variable or a manifest named the backend (not the default)."""
        return self.origins["backend"].kind != "default"

    def require_app(self) -> str:
        """The app, or a ConfigurationError that says how to name one."""
        if self.app:
            return self.app
        raise ConfigurationError(
            "no app given: pass --app NAME, set SEKRET_APP, or run in a project with a"
            ' sekret.toml (app = "NAME"); `sekret context` shows what was found'
        )

    def local_store_url(self) -> str:
        """The ``local://`` URL the store commands (init, rotate-master-key...) work on.

        The backend itself when it is local; for a ``chain://`` its one
        ``local://`` member (the documented development chain); otherwise the
        backend URL unchanged (the caller refuses it with its own message).
        """
        if not self.backend.lower().startswith("chain://"):
            return self.backend
        from urllib.parse import parse_qsl, urlsplit

        members: list[str] = []
        for key, value in parse_qsl(urlsplit(self.backend).query, keep_blank_values=True):
            if key == "backends":
                members += [m for m in value.split(",") if m]
            elif key == "backend":
                members.append(value)
        local = [m for m in members if m.lower().startswith("local://")]
        return local[0] if len(local) == 1 else self.backend

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready view (names, URLs, origins; never a value or a credential)."""
        from sekret.cli._output import redact_url

        return {
            "app": self.app,
            "environment": self.environment,
            "backend": redact_url(self.backend),
            "read_only": self.read_only,
            "cache": {"ttl": self.cache_ttl, "max_stale": self.max_stale},
            "audit": [a if isinstance(a, str) else dict(a) for a in self.audit],
            "manifest": str(self.manifest.path) if self.manifest and self.manifest.path else None,
            "origins": {k: {"kind": v.kind, "where": v.where} for k, v in self.origins.items()},
        }

    def client_arguments(self, **options: Any) -> dict[str, Any]:
        """Keyword arguments for ``Secrets(...)``: the resolved parts plus ``options``."""
        options.setdefault("read_only", self.read_only)
        if self.backend.split("://", 1)[0].split("+", 1)[0].lower() == "vault":
            # One rule for writes: the client's read_only decides on every backend,
            # so Vault's own write gate follows it instead of needing ?admin=true.
            options.setdefault("admin", not options["read_only"])
        if self.audit and "audit" not in options:
            from sekret.audit.config import audit_log_from_specs  # lazy: only when configured

            options["audit"] = audit_log_from_specs(self.audit)
        if self.manifest is not None:
            declared = self.manifest.environments.get(self.environment)
            if declared is not None:
                if "cache" not in options:  # the CLI passes cache=False: no CachePolicy to build
                    options["cache"] = declared.cache_policy()
                if declared.strict_expiry:
                    options.setdefault("strict_expiry", True)
            options.update(
                {
                    k: v
                    for k, v in self.manifest.backend_options(
                        self.backend, self.environment
                    ).items()
                    if k not in options
                }
            )
        return {
            "backend": self.backend,
            "app": self.require_app(),
            "environment": self.environment,
            **options,
        }


def _manifest_line(manifest: Manifest, *keys: str) -> Callable[[], str]:
    """``file:line`` of ``keys``, found when an ``Origin`` shows it (not by every command)."""

    def locate() -> str:
        from sekret.manifest import find_line

        where = str(manifest.path) if manifest.path else "<manifest>"
        line = find_line(manifest, keys)
        return f"{where}:{line}" if line else where

    return locate


def _load(flags: Flags, environ: Mapping[str, str], cwd: Path | None) -> Manifest | None:
    from sekret.manifest import find_manifest, load_manifest  # lazy: tomllib when used

    if flags.manifest:
        return load_manifest(flags.manifest)
    named = environ.get("SEKRET_MANIFEST")
    if named:
        return load_manifest(named)
    found = find_manifest(cwd, environ={})
    return load_manifest(found) if found is not None else None


def resolve_context(
    flags: Flags,
    environ: Mapping[str, str] | None = None,
    *,
    cwd: Path | None = None,
) -> Context:
    """Resolve every part from flags, then variables, then the manifest, then defaults."""
    env = os.environ if environ is None else environ
    if flags.read_only and flags.admin:
        raise ConfigurationError("--read-only and --admin exclude each other")
    manifest = _load(flags, env, cwd)
    origins: dict[str, Origin] = {}

    def pick(part: str, flag: str | None, flag_name: str, var: str) -> str | None:
        if flag:
            origins[part] = Origin("flag", flag_name)
            return flag
        if env.get(var):
            origins[part] = Origin("variable", var)
            return env[var]
        return None

    app = pick("app", flags.app, "--app", "SEKRET_APP")
    if app is None and manifest is not None:
        app = manifest.app
        origins["app"] = Origin("manifest", _manifest_line(manifest, "app"))
    if app is None:
        origins["app"] = Origin("default", "default")

    environment = pick("environment", flags.env, "--env", "SEKRET_ENV")
    if environment is None and manifest is not None and manifest.default_environment:
        environment = manifest.default_environment
        origins["environment"] = Origin("manifest", _manifest_line(manifest, "default_environment"))
    if environment is None:
        environment = DEFAULT_ENV
        origins["environment"] = Origin("default", "default")

    config = None
    if manifest is not None:
        config = manifest.environments.get(environment)
        if config is None:
            known = ", ".join(sorted(manifest.environments)) or "none"
            raise ManifestError(
                f"{manifest.path or '<manifest>'}: environment {environment!r}"
                f" ({origins['environment']}) is not declared (declared: {known});"
                f" add [environments.{environment}] or pick a declared one"
            )

    backend = pick("backend", flags.backend, "--backend", "SEKRET_BACKEND")
    if backend is None and config is not None:
        backend = config.backend
        origins["backend"] = (
            Origin("manifest", _manifest_line(manifest, "environments", environment, "backend"))
            if manifest is not None
            else Origin("default", "default")
        )
    if backend is None:
        backend = default_backend_url(cwd)
        origins["backend"] = Origin("default", "default")

    if flags.admin:
        read_only, origins["read_only"] = False, Origin("flag", "--admin")
    elif flags.read_only:
        read_only, origins["read_only"] = True, Origin("flag", "--read-only")
    elif env.get("SEKRET_READ_ONLY"):
        read_only = truthy(env["SEKRET_READ_ONLY"])
        origins["read_only"] = Origin("variable", "SEKRET_READ_ONLY")
    elif config is not None and config.read_only and manifest is not None:
        read_only = True
        origins["read_only"] = Origin(
            "manifest", _manifest_line(manifest, "environments", environment, "read_only")
        )
    else:
        read_only, origins["read_only"] = False, Origin("default", "default")

    audit: tuple[Any, ...] = ()
    ttl = stale = None
    if config is not None and manifest is not None:
        audit, ttl, stale = config.audit, config.cache_ttl, config.max_stale
        at = Origin("manifest", _manifest_line(manifest, "environments", environment))
        origins["audit"] = at if audit else Origin("default", "default")
        origins["cache"] = (
            at if ttl is not None or stale is not None else Origin("default", "default")
        )
    else:
        origins["audit"] = Origin("default", "default")
        origins["cache"] = Origin("default", "default")
    origins["manifest"] = (
        Origin("manifest", str(manifest.path))
        if manifest is not None and manifest.path
        else Origin("default", "default")
    )
    return Context(
        app=app,
        environment=environment,
        backend=backend,
        read_only=read_only,
        audit=tuple(audit),
        cache_ttl=ttl,
        max_stale=stale,
        manifest=manifest,
        origins=origins,
    )


class CliState:
    """The global options; resolves the context (``_context``) and builds the facade once."""

    def __init__(
        self,
        backend: str | None = None,
        app: str | None = None,
        env: str | None = None,
        read_only: bool = False,
        *,
        admin: bool = False,
        manifest: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.flags = Flags(backend, app, env, read_only, admin, manifest)
        self._environ = environ
        self.backend_options: dict[str, Any] = {}
        self._context: Context | None = None
        self._secrets: Secrets | None = None

    def use_manifest(self, path: str) -> None:
        """A command's own ``--manifest PATH``: resolve the context from that file."""
        if self._secrets is not None:
            raise RuntimeError("use_manifest after the client was built")
        self.flags = self.flags.replace(manifest=path)
        self._context = None

    def override(
        self, *, manifest: str | None = None, env: str | None = None, read_only: bool = False
    ) -> None:
        """A command's own ``--manifest``/``--env``, or a read-only need: they win over
        the global options, and the context is resolved again from them."""
        if self._secrets is not None:
            raise RuntimeError("override after the client was built")
        changes: dict[str, Any] = {}
        if manifest:
            changes["manifest"] = manifest
        if env:
            changes["env"] = env
        if read_only:
            changes.update(read_only=True, admin=False)
        if changes:
            self.flags = self.flags.replace(**changes)
            self._context = None

    @property
    def environ(self) -> Mapping[str, str] | None:
        """The variables the context is resolved from (None: the process's)."""
        return self._environ

    def reload(self) -> None:
        """Resolve the context again on next use (the agent's SIGHUP re-reads the manifest)."""
        self._context = None

    @property
    def context(self) -> Context:
        """App, environment, backend... resolved on first use (flags, variables, manifest)."""
        if self._context is None:
            self._context = resolve_context(self.flags, self._environ)
        return self._context

    @property
    def backend_url(self) -> str:
        return self.context.backend

    @property
    def backend_explicit(self) -> bool:
        return self.context.backend_explicit

    @property
    def app(self) -> str | None:
        return self.context.app

    @property
    def env(self) -> str | None:
        """The environment a flag or variable named (None: the manifest's or the default)."""
        origin = self.context.origins["environment"]
        return self.context.environment if origin.kind in ("flag", "variable") else None

    @property
    def environment(self) -> str:
        return self.context.environment

    @property
    def read_only(self) -> bool:
        return self.context.read_only

    def require_app(self) -> str:
        """The app, or a usage error (exit 2) that says how to name one."""
        context = self.context  # a broken manifest is a configuration error, not usage
        try:
            return context.require_app()
        except ConfigurationError as exc:
            import click  # lazy: `sekret get NAME` (sekret.cli._fast) runs without click

            raise click.UsageError(str(exc)) from None

    def secrets(self, **options: Any) -> Secrets:
        """The facade for this context (no cache: each command is one short-lived call).

        Built once; audited through the manifest's sinks when it declares any
        (the actor carries the OS user and host, as for library clients).
        """
        if self._secrets is None:
            from sekret import Secrets  # lazy: `sekret --version` and `--help` never build one

            self.require_app()
            options.setdefault("cache", False)
            self._secrets = Secrets(
                **self.context.client_arguments(**options, **self.backend_options)
            )
        return self._secrets

    def close(self) -> None:
        if self._secrets is not None:
            self._secrets.close()
            self._secrets = None
