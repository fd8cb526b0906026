"""The manifest: ``sekret.toml`` or ``[tool.sekret]`` in ``pyproject.toml``.

A project declares its secrets once::

    app = "arrwdb"
    default_environment = "development"      # used when SEKRET_ENV is not set

    [environments.development]
    backend = "local:///home/me/.local/share/arrwdb/dev.db"
    cache_ttl = 300                          # seconds (CachePolicy.ttl)
    max_stale = 3600                         # seconds (CachePolicy.max_stale)
    audit = ["jsonl:///var/log/arrwdb/audit.jsonl"]   # sink specs, kept as data
    strict_expiry = false                    # true: refuse versions past expires_at

    [secrets.cohere-api-key]
    kind = "api_key"                         # api_key|db_credentials|encryption_key|
                                             # jwt_signing_key|generic
    rotation_days = 90                       # default from the kind
    env = "COHERE_API_KEY"                   # default: upper snake case of the name
    description = "Embeddings"
    owner = "search-team"
    rotator = "cohere"                       # for the rotation engine

    [secrets.db-credentials]                 # dynamic: issued per process, with a lease
    kind = "dynamic"
    role = "arrwdb-{environment}"            # engine role; or a table {production = "..."}
    mount = "database"                       # the database secrets engine's mount
    ttl = 3600                               # seconds the role's default_ttl should be
    max_ttl = 86400                          # seconds the role's max_ttl should be (bounded)

Loading is strict: an unknown key, a wrong type or a bad value raises
``ManifestError`` naming the file, the key path, the line when it can be
found, and the reason. This module parses with the standard library's
``tomllib``; it never touches a backend and never reads a secret value.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final, Literal, cast
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

from sekret._names import validate_name
from sekret._values import _Copyable
from sekret.backends.env import default_env_var  # the mapping lives beside the env backend
from sekret.exceptions import InvalidSecretName, ManifestError

if TYPE_CHECKING:
    from sekret.cache import CachePolicy

__all__ = [
    "DEFAULT_ROTATION_DAYS",
    "KINDS",
    "MANIFEST_FILE",
    "EnvironmentConfig",
    "Manifest",
    "SecretSpec",
    "default_env_var",
    "find_line",
    "find_manifest",
    "load_manifest",
    "parse_manifest",
    "resolve_audit_spec",
    "resolve_backend_url",
]

Kind = Literal[
    "api_key", "db_credentials", "encryption_key", "jwt_signing_key", "generic", "dynamic"
]
KINDS: Final[tuple[Kind, ...]] = (
    "api_key",
    "db_credentials",
    "encryption_key",
    "jwt_signing_key",
    "generic",
    "dynamic",
)
DEFAULT_ROTATION_DAYS: Final[Mapping[str, int | None]] = MappingProxyType(
    {
        "api_key": 90,
        "db_credentials": 30,
        "encryption_key": 365,
        "jwt_signing_key": 90,
        "generic": None,
        "dynamic": None,  # leases expire by TTL: nothing to rotate
    }
)
MANIFEST_FILE: Final = "sekret.toml"
PYPROJECT_FILE: Final = "pyproject.toml"

_ENV_VAR = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_FIELD_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
_TOP_KEYS = frozenset({"app", "default_environment", "environments", "secrets", "doctor"})
_DOCTOR_KEYS = frozenset({"accept"})
_ENV_KEYS = frozenset({"backend", "cache_ttl", "max_stale", "audit", "read_only", "strict_expiry"})
_SECRET_KEYS = frozenset(
    {
        "kind",
        "rotation_days",
        "env",
        "fields",
        "description",
        "owner",
        "rotator",
        "rotator_options",
        "role",
        "mount",
        "ttl",
        "max_ttl",
    }
)
_DYNAMIC_KEYS: Final = ("role", "mount", "ttl", "max_ttl")
DEFAULT_LEASE_MOUNT: Final = "database"
_ROLE_CHARS = re.compile(
    r"[A-Za-z0-9._{}-]{1,128}\Z|arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/{}-]{1,512}\Z"
)
AuditSpec = str | Mapping[str, Any]


_EMPTY: Final[Mapping[str, Any]] = MappingProxyType({})

# The three records below are sekret._values._Copyable (immutable, repr/eq/hash from
# their __slots__), not frozen dataclasses: each of those costs ~2 ms to build when
# this module loads, and every `sekret` command in a project loads it.


class EnvironmentConfig(_Copyable):
    """One ``[environments.<name>]`` table."""

    __slots__ = (
        "name",
        "backend",
        "cache_ttl",
        "max_stale",
        "audit",
        "read_only",
        "strict_expiry",
    )

    name: str
    backend: str
    cache_ttl: float | None
    max_stale: float | None
    audit: tuple[AuditSpec, ...]
    read_only: bool
    #: refuse to read a version whose ``expires_at`` has passed (SecretExpired)
    strict_expiry: bool

    def __init__(
        self,
        name: str,
        backend: str,
        cache_ttl: float | None = None,
        max_stale: float | None = None,
        audit: tuple[AuditSpec, ...] = (),
        read_only: bool = False,
        strict_expiry: bool = False,
    ) -> None:
        self._set(
            name=name,
            backend=backend,
            cache_ttl=cache_ttl,
            max_stale=max_stale,
            audit=audit,
            read_only=read_only,
            strict_expiry=strict_expiry,
        )

    def cache_policy(self) -> CachePolicy:
        """A ``CachePolicy`` with this environment's TTL and max_stale (defaults elsewhere)."""
        from sekret.cache import CachePolicy  # lazy: the manifest stays importable alone

        policy = CachePolicy()
        if self.cache_ttl is not None:
            policy = policy.replace(ttl=self.cache_ttl)
        if self.max_stale is not None:
            policy = policy.replace(max_stale=self.max_stale)
        return policy


class SecretSpec(_Copyable):
    """One ``[secrets.<short-name>]`` table."""

    __slots__ = (
        "name",
        "kind",
        "rotation_days",
        "env",
        "description",
        "owner",
        "rotator",
        "rotator_options",
        "fields",
        "role",
        "mount",
        "ttl",
        "max_ttl",
    )

    name: str
    kind: Kind
    rotation_days: int | None
    env: str
    description: str
    owner: str
    rotator: str | None
    rotator_options: Mapping[str, Any]
    #: environment variable -> field of the JSON value (``sekret run`` sets each one)
    fields: Mapping[str, str]
    #: kind = "dynamic": engine role (one for all environments, ``{app}``/``{environment}``
    #: filled in, or per environment), its mount, and the TTLs the role should have
    role: str | Mapping[str, str] | None
    mount: str
    ttl: float | None
    max_ttl: float | None

    def __init__(
        self,
        name: str,
        kind: Kind = "generic",
        rotation_days: int | None = None,
        env: str = "",
        description: str = "",
        owner: str = "",
        rotator: str | None = None,
        rotator_options: Mapping[str, Any] | None = None,
        fields: Mapping[str, str] | None = None,
        role: str | Mapping[str, str] | None = None,
        mount: str = DEFAULT_LEASE_MOUNT,
        ttl: float | None = None,
        max_ttl: float | None = None,
    ) -> None:
        self._set(
            name=name,
            kind=kind,
            rotation_days=rotation_days,
            env=env,
            description=description,
            owner=owner,
            rotator=rotator,
            rotator_options=_EMPTY if rotator_options is None else rotator_options,
            fields=_EMPTY if fields is None else fields,
            role=role,
            mount=mount,
            ttl=ttl,
            max_ttl=max_ttl,
        )

    def role_for(self, app: str, environment: str) -> str | None:
        """The engine role in ``environment`` (None: the backend's default role name)."""
        role = self.role
        if isinstance(role, Mapping):
            role = role.get(environment)
        if role is None:
            return None
        return role.replace("{app}", app).replace("{environment}", environment)


class Manifest(_Copyable):
    """A loaded, validated manifest. ``path`` is the file it came from (None: from text)."""

    __slots__ = (
        "app",
        "environments",
        "secrets",
        "default_environment",
        "path",
        "doctor_accept",
    )

    app: str
    environments: Mapping[str, EnvironmentConfig]
    secrets: Mapping[str, SecretSpec]
    default_environment: str | None
    path: Path | None
    doctor_accept: Mapping[str, str]

    def __init__(
        self,
        app: str,
        environments: Mapping[str, EnvironmentConfig],
        secrets: Mapping[str, SecretSpec] | None = None,
        default_environment: str | None = None,
        path: Path | None = None,
        doctor_accept: Mapping[str, str] | None = None,
    ) -> None:
        self._set(
            app=app,
            environments=environments,
            secrets={} if secrets is None else secrets,
            default_environment=default_environment,
            path=path,
            doctor_accept=_EMPTY if doctor_accept is None else doctor_accept,
        )

    def environment(
        self, name: str | None = None, *, environ: Mapping[str, str] | None = None
    ) -> EnvironmentConfig:
        """The environment ``name``, else ``SEKRET_ENV``, else ``default_environment``."""
        env = os.environ if environ is None else environ
        chosen = name or env.get("SEKRET_ENV") or self.default_environment
        known = ", ".join(sorted(self.environments)) or "none"
        if not chosen:
            raise ManifestError(
                f"{self._where()}: no environment chosen: set SEKRET_ENV or"
                f" default_environment (known: {known})"
            )
        config = self.environments.get(chosen)
        if config is None:
            raise ManifestError(
                f"{self._where()}: environment {chosen!r} is not declared (known: {known})"
            )
        return config

    def env_mapping(self) -> dict[str, str]:
        """Short secret name -> environment variable, for every declared secret."""
        return {name: spec.env for name, spec in self.secrets.items()}

    def client_arguments(self, environment: str | None = None, **options: Any) -> dict[str, Any]:
        """Keyword arguments for ``Secrets(...)`` in ``environment`` (see ``from_manifest``)."""
        config = self.environment(environment)
        options.setdefault("cache", config.cache_policy())
        if config.audit and "audit" not in options:
            from sekret.audit.config import audit_log_from_specs  # lazy: only when configured

            options["audit"] = audit_log_from_specs(config.audit)
        if config.read_only:
            options.setdefault("read_only", True)
        if config.strict_expiry:
            options.setdefault("strict_expiry", True)
        options.update(
            {
                k: v
                for k, v in self.backend_options(config.backend, config.name).items()
                if k not in options
            }
        )
        return {"backend": config.backend, "app": self.app, "environment": config.name, **options}

    def lease_roles(self, environment: str) -> dict[str, str]:
        """Full name -> ``mount/role`` of every dynamic secret in ``environment``.

        Without a declared role the role is the full name with ``/`` as ``-``
        (``arrwdb/production/db`` -> ``arrwdb-production-db``), the Vault default.
        """
        roles = {}
        for name, spec in self.secrets.items():
            if spec.kind == "dynamic":
                full = f"{self.app}/{environment}/{name}"
                role = spec.role_for(self.app, environment) or full.replace("/", "-")
                if not role.startswith("arn:"):  # an IAM role is for aws:// (backend_options)
                    roles[full] = f"{spec.mount}/{role}"
        return roles

    def backend_options(self, backend: str, environment: str) -> dict[str, Any]:
        """Backend options the manifest implies: its ``env`` names for ``env``/``chain``."""
        root = f"{self.app}/{environment}"
        mapping = {f"{root}/{n}": spec.env for n, spec in self.secrets.items()}
        scheme = backend.split("://", 1)[0].split("+", 1)[0].lower()
        if scheme == "vault":
            roles = self.lease_roles(environment)
            return {"lease_roles": roles} if roles else {}
        if scheme == "aws":  # dynamic secrets: the IAM role ARN whose STS session they are
            arns = {
                f"{root}/{n}": role
                for n, spec in self.secrets.items()
                if spec.kind == "dynamic"
                and (role := spec.role_for(self.app, environment) or "").startswith("arn:")
            }
            return {"lease_roles": arns} if arns else {}
        if scheme == "env":
            return {"mapping": mapping}
        if scheme == "chain":
            return {"member_options": {"env": {"mapping": mapping}}}
        return {}

    def _where(self) -> str:
        return str(self.path) if self.path else "<manifest>"


def find_line(manifest: Manifest, keys: tuple[str, ...]) -> int | None:
    """The line of ``keys`` in the manifest's file (None: unknown or unreadable)."""
    if manifest.path is None:
        return None
    try:
        text = manifest.path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    prefix = ("tool", "sekret") if manifest.path.name == PYPROJECT_FILE else ()
    return _find_line(text, (*prefix, *keys))


def resolve_backend_url(url: str, base: Path | None) -> str:
    """Relative ``local://`` paths (and ``key_file=``) in ``url`` made absolute from ``base``.

    A ``chain://`` URL's ``local://`` members are resolved too; other URLs are
    returned unchanged, and so is everything when ``base`` is None.
    """
    if base is None:
        return url
    scheme = url.split("://", 1)[0].lower()
    if scheme == "local":
        parts = urlsplit(url)
        path = unquote(parts.netloc + parts.path)
        if path and not Path(path).is_absolute():
            path = str(base / path)
        query = [
            (k, str(base / v) if k == "key_file" and v and not Path(v).is_absolute() else v)
            for k, v in parse_qsl(parts.query, keep_blank_values=True)
        ]
        tail = f"?{urlencode(query, safe='/')}" if query else ""
        return f"local://{path}{tail}"
    if scheme == "chain":
        parts = urlsplit(url)
        query = []
        for k, v in parse_qsl(parts.query, keep_blank_values=True):
            if k == "backends":
                v = ",".join(resolve_backend_url(m, base) for m in v.split(","))
            elif k == "backend":
                v = resolve_backend_url(v, base)
            query.append((k, v))
        return "chain://?" + urlencode(query, safe="/:,?=")
    return url


# Audit sink options that name a file; with the file sink's path, they are the project's.
_SINK_FILE_OPTIONS: Final = ("key", "ca_file", "cert_file", "key_file")
_FILE_SINKS: Final = ("file", "jsonl")


def _from_base(path: str, base: Path) -> str:
    return path if not path or Path(path).is_absolute() else str(base / path)


def _sink_option(key: str, value: str, base: Path) -> str:
    if key == "anchor_sink":
        return _resolve_sink_url(value, base)
    return _from_base(value, base) if key in _SINK_FILE_OPTIONS else value


def _resolve_sink_url(url: str, base: Path) -> str:
    if "://" not in url:
        return url  # a bare sink name ("stdout"): no path
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    resolved = [(k, _sink_option(k, v, base)) for k, v in query]
    head = url.split("?", 1)[0]
    if parts.scheme.lower() in _FILE_SINKS and parts.netloc + parts.path:
        head = f"{parts.scheme}://{_from_base(parts.netloc + parts.path, base)}"
    elif resolved == query:
        return url
    return f"{head}?{urlencode(resolved, safe='/:')}" if query else head


def resolve_audit_spec(spec: AuditSpec, base: Path | None) -> AuditSpec:
    """Relative file paths in an audit sink ``spec`` made absolute from ``base``.

    The file sink's path, key files (``key``, ``ca_file``, ``cert_file``,
    ``key_file``) and a nested ``anchor_sink`` are resolved, in a URL as in a
    table; remote addresses and plugin options are returned unchanged, and so is
    everything when ``base`` is None.
    """
    if base is None:
        return spec
    if isinstance(spec, str):
        return _resolve_sink_url(spec, base)
    table = dict(spec)
    for key, value in table.items():
        if not isinstance(value, str):
            continue
        if key in _SINK_FILE_OPTIONS or (key == "path" and table.get("sink") in _FILE_SINKS):
            table[key] = _from_base(value, base)
    anchor = table.get("anchor_sink")
    if isinstance(anchor, str | Mapping):
        table["anchor_sink"] = resolve_audit_spec(anchor, base)
    return MappingProxyType(table)


# -- discovery ---------------------------------------------------------------
def _has_tool_table(pyproject: Path) -> bool:
    try:
        text = pyproject.read_text(encoding="utf-8")
    except OSError:
        return False
    return re.search(r"^\s*\[\s*tool\s*\.\s*sekret\b", text, re.MULTILINE) is not None


def find_manifest(
    start: str | os.PathLike[str] | None = None, *, environ: Mapping[str, str] | None = None
) -> Path | None:
    """``SEKRET_MANIFEST``, else the nearest ``sekret.toml`` (or ``[tool.sekret]``) upward."""
    override = (os.environ if environ is None else environ).get("SEKRET_MANIFEST")
    if override:
        return Path(override)
    here = Path(start if start is not None else Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / MANIFEST_FILE
        if candidate.is_file():
            return candidate
        pyproject = folder / PYPROJECT_FILE
        if pyproject.is_file() and _has_tool_table(pyproject):
            return pyproject
    return None


def load_manifest(
    path: str | os.PathLike[str] | None = None,
    *,
    start: str | os.PathLike[str] | None = None,
) -> Manifest:
    """Load ``path``, or discover the manifest upward from ``start`` (default: cwd)."""
    found = Path(path) if path is not None else find_manifest(start)
    if found is None:
        raise ManifestError(
            f"no {MANIFEST_FILE} (or [tool.sekret] in {PYPROJECT_FILE}) found in"
            f" {Path(start or Path.cwd()).resolve()} or any parent folder"
        )
    try:
        raw = found.read_bytes()
    except OSError as exc:
        raise ManifestError(f"{found}: cannot read the manifest ({exc.strerror})") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{found}: the manifest is not UTF-8 text") from exc
    return parse_manifest(text, path=found, in_pyproject=found.name == PYPROJECT_FILE)


def parse_manifest(text: str, *, path: Path | None = None, in_pyproject: bool = False) -> Manifest:
    """Parse manifest text; ``in_pyproject`` reads the ``[tool.sekret]`` table."""
    where = str(path) if path else "<manifest>"
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # The decoder's message names line and column, never the content.
        raise ManifestError(f"{where}: not valid TOML: {exc}") from exc
    except (ValueError, RecursionError) as exc:
        raise ManifestError(f"{where}: not valid TOML ({type(exc).__name__})") from exc
    prefix: tuple[str, ...] = ()
    if in_pyproject:
        tool = data.get("tool")
        table = tool.get("sekret") if isinstance(tool, dict) else None
        if not isinstance(table, dict):
            raise ManifestError(f"{where}: no [tool.sekret] table")
        data, prefix = table, ("tool", "sekret")
    return _Builder(where, text, prefix, path).build(data)


# -- validation --------------------------------------------------------------
class _Builder:
    """Turns parsed TOML into the records, raising ManifestError with a key path."""

    def __init__(self, where: str, text: str, prefix: tuple[str, ...], path: Path | None):
        self.where = where
        self.text = text
        self.prefix = prefix
        self.path = path

    def fail(self, keys: tuple[str, ...], reason: str) -> ManifestError:
        full = (*self.prefix, *keys)
        dotted = ".".join(_quote_key(k) for k in full) or "(top level)"
        line = _find_line(self.text, full)
        at = f":{line}" if line else ""
        return ManifestError(f"{self.where}{at}: {dotted}: {reason}")

    def table(self, value: object, keys: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(keys, f"must be a table, not {_type(value)}")
        return value

    def check_keys(
        self, table: Mapping[str, Any], allowed: frozenset[str], keys: tuple[str, ...]
    ) -> None:
        for key in table:
            if key not in allowed:
                raise self.fail(
                    (*keys, key), f"unknown key (allowed: {', '.join(sorted(allowed))})"
                )

    def string(self, value: object, keys: tuple[str, ...]) -> str:
        if not isinstance(value, str):
            raise self.fail(keys, f"must be a string, not {_type(value)}")
        return value

    def seconds(self, value: object, keys: tuple[str, ...]) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(keys, f"must be a number of seconds, not {_type(value)}")
        if not 0 <= value <= 10**9:
            raise self.fail(keys, "must be between 0 and 1e9 seconds")
        return float(value)

    def segment(self, value: object, keys: tuple[str, ...], what: str) -> str:
        text = self.string(value, keys)
        try:
            validate_name(text, what=what)
        except InvalidSecretName as exc:
            raise self.fail(keys, str(exc)) from None
        if "/" in text:
            raise self.fail(keys, f"{what} must be a single segment (no '/')")
        return text

    def build(self, data: dict[str, Any]) -> Manifest:
        self.check_keys(data, _TOP_KEYS, ())
        if "app" not in data:
            raise self.fail(("app",), "missing (the application name)")
        app = self.segment(data["app"], ("app",), "app name")
        envs_raw = self.table(data.get("environments", {}), ("environments",))
        if not envs_raw:
            raise self.fail(("environments",), "declare at least one environment")
        environments = {name: self.environment(name, raw) for name, raw in envs_raw.items()}
        default = data.get("default_environment")
        if default is not None:
            default = self.string(default, ("default_environment",))
            if default not in environments:
                raise self.fail(
                    ("default_environment",),
                    f"{default!r} is not declared under [environments]",
                )
        secrets_raw = self.table(data.get("secrets", {}), ("secrets",))
        secrets = {name: self.secret(name, raw) for name, raw in secrets_raw.items()}
        seen: dict[str, str] = {}
        for name, spec in secrets.items():
            other = seen.setdefault(spec.env, name)
            if other != name:
                raise self.fail(
                    ("secrets", name, "env"),
                    f"variable {spec.env!r} is already used by secret {other!r}",
                )
        return Manifest(
            app=app,
            environments=MappingProxyType(environments),
            secrets=MappingProxyType(secrets),
            default_environment=default,
            path=self.path,
            doctor_accept=self.doctor(data.get("doctor", {})),
        )

    def doctor(self, raw: object) -> Mapping[str, str]:
        """``[doctor] accept = { check-id = "reason" }``: findings accepted on purpose."""
        table = self.table(raw, ("doctor",))
        self.check_keys(table, _DOCTOR_KEYS, ("doctor",))
        accept = self.table(table.get("accept", {}), ("doctor", "accept"))
        return MappingProxyType(
            {k: self.string(v, ("doctor", "accept", k)) for k, v in accept.items()}
        )

    def environment(self, name: str, raw: object) -> EnvironmentConfig:
        keys = ("environments", name)
        self.segment(name, keys, "environment name")
        table = self.table(raw, keys)
        self.check_keys(table, _ENV_KEYS, keys)
        if "backend" not in table:
            raise self.fail((*keys, "backend"), "missing (a backend URL, e.g. local:///path.db)")
        backend = self.string(table["backend"], (*keys, "backend"))
        if "://" not in backend:
            raise self.fail((*keys, "backend"), "must be a URL with a scheme (scheme://...)")
        # Relative local:// paths belong to the project, not to the current folder.
        backend = resolve_backend_url(backend, self.path.parent.absolute() if self.path else None)
        ttl = table.get("cache_ttl")
        stale = table.get("max_stale")
        read_only = table.get("read_only", False)
        if not isinstance(read_only, bool):
            raise self.fail((*keys, "read_only"), f"must be true or false, not {_type(read_only)}")
        strict_expiry = table.get("strict_expiry", False)
        if not isinstance(strict_expiry, bool):
            raise self.fail(
                (*keys, "strict_expiry"), f"must be true or false, not {_type(strict_expiry)}"
            )
        return EnvironmentConfig(
            name=name,
            backend=backend,
            cache_ttl=None if ttl is None else self.seconds(ttl, (*keys, "cache_ttl")),
            max_stale=None if stale is None else self.seconds(stale, (*keys, "max_stale")),
            audit=self.audit(table.get("audit", []), (*keys, "audit")),
            read_only=read_only,
            strict_expiry=strict_expiry,
        )

    def audit(self, raw: object, keys: tuple[str, ...]) -> tuple[AuditSpec, ...]:
        if not isinstance(raw, list):
            raise self.fail(keys, f"must be a list of sink specs, not {_type(raw)}")
        # Relative log, key and anchor paths belong to the project, like local:// paths.
        base = self.path.parent.absolute() if self.path else None
        sinks: list[AuditSpec] = []
        for i, item in enumerate(raw):
            if isinstance(item, str) and item:
                sinks.append(resolve_audit_spec(item, base))
            elif isinstance(item, dict) and isinstance(item.get("sink"), str):
                sinks.append(resolve_audit_spec(MappingProxyType(dict(item)), base))
            else:
                raise self.fail(
                    (*keys, str(i)), "a sink spec is a URL string or a table with a 'sink' key"
                )
        return tuple(sinks)

    def secret(self, name: str, raw: object) -> SecretSpec:
        keys = ("secrets", name)
        try:
            validate_name(name, what="secret name")
        except InvalidSecretName as exc:
            raise self.fail(keys, str(exc)) from None
        table = self.table(raw, keys)
        self.check_keys(table, _SECRET_KEYS, keys)
        kind = table.get("kind", "generic")
        if kind not in KINDS:
            raise self.fail((*keys, "kind"), f"must be one of {', '.join(KINDS)}")
        kind = cast(Kind, kind)
        rotation = table.get("rotation_days", DEFAULT_ROTATION_DAYS[kind])
        if rotation is not None and (
            isinstance(rotation, bool) or not isinstance(rotation, int) or not 1 <= rotation <= 3650
        ):
            raise self.fail((*keys, "rotation_days"), "must be a whole number of days, 1-3650")
        env = self.string(table.get("env", default_env_var(name)), (*keys, "env"))
        if not _ENV_VAR.match(env):
            raise self.fail((*keys, "env"), "must be a variable name ([A-Za-z_][A-Za-z0-9_]*)")
        rotator = table.get("rotator")
        rotator_options = self.table(table.get("rotator_options", {}), (*keys, "rotator_options"))
        fields = self.fields(table.get("fields", {}), (*keys, "fields"))
        dynamic = self.dynamic(kind, table, keys)
        return SecretSpec(
            name=name,
            kind=kind,
            rotation_days=rotation,
            env=env,
            description=self.string(table.get("description", ""), (*keys, "description")),
            owner=self.string(table.get("owner", ""), (*keys, "owner")),
            rotator=None if rotator is None else self.string(rotator, (*keys, "rotator")),
            rotator_options=MappingProxyType(rotator_options),
            fields=MappingProxyType(fields),
            **dynamic,
        )

    def dynamic(self, kind: str, table: dict[str, Any], keys: tuple[str, ...]) -> dict[str, Any]:
        """``role``/``mount``/``ttl``/``max_ttl`` of a ``kind = "dynamic"`` secret."""
        present = [k for k in _DYNAMIC_KEYS if k in table]
        if kind != "dynamic":
            if present:
                raise self.fail((*keys, present[0]), 'only a kind = "dynamic" secret has it')
            return {}
        out: dict[str, Any] = {}
        if "role" in table:
            raw = table["role"]
            if isinstance(raw, dict):
                out["role"] = MappingProxyType(
                    {env: self.role(value, (*keys, "role", env)) for env, value in raw.items()}
                )
            else:
                out["role"] = self.role(raw, (*keys, "role"))
        if "mount" in table:
            mount = self.string(table["mount"], (*keys, "mount")).strip("/")
            if not mount or not all(
                re.fullmatch(r"[A-Za-z0-9._-]+", part) for part in mount.split("/")
            ):
                raise self.fail((*keys, "mount"), "must be a mount path ([A-Za-z0-9._-] segments)")
            out["mount"] = mount
        for key in ("ttl", "max_ttl"):
            if key in table:
                seconds = self.seconds(table[key], (*keys, key))
                if seconds < 1:
                    raise self.fail((*keys, key), "must be at least 1 second")
                out[key] = seconds
        if "ttl" in out and "max_ttl" in out and out["ttl"] > out["max_ttl"]:
            raise self.fail((*keys, "ttl"), "must not exceed max_ttl")
        return out

    def role(self, value: object, keys: tuple[str, ...]) -> str:
        text = self.string(value, keys)
        if not _ROLE_CHARS.match(text):
            raise self.fail(
                keys, "must be an engine role name ([A-Za-z0-9._-], {app}, {environment})"
            )
        return text

    def fields(self, raw: object, keys: tuple[str, ...]) -> dict[str, str]:
        """``fields = { DB_PASSWORD = "password" }``: variable -> field of a JSON value."""
        out: dict[str, str] = {}
        for variable, name in self.table(raw, keys).items():
            if not _ENV_VAR.match(variable):
                raise self.fail(
                    (*keys, variable), "must be a variable name ([A-Za-z_][A-Za-z0-9_]*)"
                )
            text = self.string(name, (*keys, variable))
            if not 0 < len(text) <= 128 or text.strip(_FIELD_CHARS):
                raise self.fail((*keys, variable), "a field name is 1-128 of [A-Za-z0-9._-]")
            out[variable] = text
        return out


def _type(value: object) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}
    names |= {list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _quote_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else f'"{key}"'


def _key_pattern(key: str) -> str:
    escaped = re.escape(key)
    return f"""(?:{escaped}|"{escaped}"|'{escaped}')"""


def _find_line(text: str, keys: tuple[str, ...]) -> int | None:
    """Best effort: the line of ``keys`` (a table header, then a key inside it)."""
    if not keys:
        return None
    lines = text.splitlines()
    dot = r"\s*\.\s*"
    for split in range(len(keys), 0, -1):
        header = re.compile(
            r"^\s*\[\[?\s*" + dot.join(_key_pattern(k) for k in keys[:split]) + r"\s*\]"
        )
        for number, line in enumerate(lines, 1):
            if not header.match(line):
                continue
            rest = keys[split:]
            if not rest:
                return number
            key = re.compile(r"^\s*" + dot.join(_key_pattern(k) for k in rest[:1]) + r"\s*[=.]")
            for offset, inner in enumerate(lines[number:], number + 1):
                if inner.lstrip().startswith("["):
                    break
                if key.match(inner):
                    return offset
            return number
    first = re.compile(r"^\s*" + _key_pattern(keys[-1]) + r"\s*=")
    for number, line in enumerate(lines, 1):
        if first.match(line):
            return number
    return None
