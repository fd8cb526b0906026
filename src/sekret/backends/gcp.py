"""``gcp://<project-id>``: Google Secret Manager.

Through ``google-cloud-secret-manager`` (extra ``gcp``). Credentials are the
SDK's (Application Default Credentials) unless a ready
``SecretManagerServiceClient`` is injected (tests point one at the local
fake over gRPC or REST).

How sekret's model maps onto Secret Manager (docs/backends/gcp.md has more):

* Names: ``_namemap.GOOGLE`` (reversible, at most 255 characters).
* Versions are Google's version numbers ("1", "2", ...); anything else
  (``latest``, an alias) is not a version id and reads as VersionNotFound.
* Stages are version aliases (``current``, ``previous``, ``pending``) moved
  with one ``UpdateSecret`` carrying the etag read before: a concurrent
  change fails the update (FAILED_PRECONDITION), so moves and
  ``expected_version`` are real compare-and-set. ``current`` is always
  resolved through its alias, never as ``latest``.
* Versions carry no labels, so each version's content type, idempotency
  token and metadata live in one secret annotation ``sekret-v<N>`` (JSON),
  written in the same ``UpdateSecret`` that moves the aliases. A version
  without one (added by another tool) is text if it is UTF-8, else bytes.
* Delete is immediate in Google, so the recovery window is emulated: the
  secret is marked (annotations ``sekret-deleted-until`` and
  ``sekret-deleted-enabled``), then its enabled versions are disabled;
  restore re-enables them and removes the mark; a mark past its date is
  purged on the next access. ``destroy`` is Google's real DeleteSecret.
* A disabled version raises ``VersionDisabled`` (a ``VersionNotFound``).

This module must never put a value into a message, a log line or an annotation.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal, NoReturn
from urllib.parse import urlsplit

from sekret._names import validate_name
from sekret._values import (
    CURRENT,
    Page,
    Secret,
    SecretInfo,
    SecretValue,
    VersionInfo,
    validate_stage,
)
from sekret.backends._namemap import GOOGLE
from sekret.backends.base import (
    ABSENT,
    DEFAULT_RECOVERY_DAYS,
    Backend,
    Capability,
    check_expected_version,
    check_stage_holder,
    move_label,
    require,
)
from sekret.exceptions import (
    AccessDenied,
    AuthenticationFailed,
    BackendUnavailable,
    ConfigurationError,
    Conflict,
    InvalidValue,
    SecretDeleted,
    SecretNotFound,
    SekretError,
    Throttled,
    VersionDisabled,
    VersionNotFound,
)

__all__ = ["GcpBackend"]

Clock = Callable[[], datetime]
Kind = Literal["text", "bytes", "json"]

MAX_PAYLOAD = 64 * 1024
VERSION_KEY = "sekret-v"
DELETED_UNTIL = "sekret-deleted-until"
DELETED_ENABLED = "sekret-deleted-enabled"
ENABLED, DISABLED, DESTROYED = 1, 2, 3
_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]\Z|[0-9]{1,20}\Z")
_NUMBER = re.compile(r"[1-9][0-9]{0,18}\Z")
_CAS_RETRIES = 5
ANNOTATION_BUDGET = 16 * 1024  # Secret Manager's limit on a secret's annotations


def _size(annotations: Mapping[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())


def utcnow() -> datetime:
    return datetime.now(UTC)


def _kind(recorded: object, data: bytes) -> Kind:
    """The value kind recorded for a version, or a guess for versions added by other tools."""
    if recorded == "text" or recorded == "json" or recorded == "bytes":
        return recorded
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes"
    return "text"


class _State:
    """A secret as GetSecret returned it: etag, aliases, annotations."""

    __slots__ = ("aliases", "annotations", "etag", "name")

    def __init__(self, secret: Any) -> None:
        self.name: str = secret.name
        self.etag: str = secret.etag
        self.aliases: dict[str, str] = {k: str(v) for k, v in secret.version_aliases.items()}
        self.annotations: dict[str, str] = dict(secret.annotations)

    def info(self, number: str) -> dict[str, Any]:
        try:
            data = json.loads(self.annotations.get(VERSION_KEY + number, "{}"))
        except ValueError:
            return {}
        return data if isinstance(data, dict) else {}

    def stages_of(self, number: str) -> frozenset[str]:
        return frozenset(s for s, v in self.aliases.items() if v == number)

    @property
    def deleted_until(self) -> datetime | None:
        raw = self.annotations.get(DELETED_UNTIL)
        if raw is None:
            return None
        try:
            return datetime.fromisoformat(raw)
        except ValueError:
            return datetime.min.replace(tzinfo=UTC)


class GcpBackend(Backend):
    """Google Secret Manager through the official SDK; see the module docstring."""

    scheme: ClassVar[str] = "gcp"
    credential_env: ClassVar[frozenset[str]] = frozenset(
        {
            "GOOGLE_APPLICATION_CREDENTIALS",
            "CLOUDSDK_AUTH_ACCESS_TOKEN",
            "GOOGLE_OAUTH_ACCESS_TOKEN",
        }
    )  # google-auth's default credentials (see Backend.credential_env)
    capabilities = Capability.full()
    max_value_bytes = MAX_PAYLOAD

    def __init__(
        self,
        project: str,
        *,
        client: Any = None,
        credentials: Any = None,
        client_options: Any = None,
        transport: Any = None,
        retry: Any = None,
        timeout: float | None = None,
        clock: Clock = utcnow,
    ) -> None:
        if not _PROJECT.match(project or ""):
            raise ConfigurationError(f"invalid Google Cloud project id {project!r}")
        self._project = project
        self._clock = clock
        self._errors = require("google.api_core.exceptions", "gcp")
        sdk = require("google.cloud.secretmanager_v1", "gcp")
        self._sdk = sdk
        if client is None:
            kwargs: dict[str, Any] = {}
            if transport is not None:
                kwargs["transport"] = transport
            if credentials is not None and (transport is None or isinstance(transport, str)):
                kwargs["credentials"] = credentials  # a transport instance carries its own
            if client_options is not None:
                kwargs["client_options"] = client_options
            try:
                client = sdk.SecretManagerServiceClient(**kwargs)
            except Exception as exc:  # google.auth errors: no default credentials
                raise ConfigurationError(
                    f"cannot build a Secret Manager client for {self.describe()}: "
                    f"{type(exc).__name__}"
                ) from exc
        self._client = client
        self._call_options: dict[str, Any] = {}
        if retry is not None:
            self._call_options["retry"] = retry
        if timeout is not None:
            self._call_options["timeout"] = timeout

    @classmethod
    def from_url(cls, url: str, **options: Any) -> GcpBackend:
        parts = urlsplit(url)
        if parts.scheme != "gcp" or not parts.netloc or parts.path.strip("/") or parts.query:
            raise ConfigurationError(f"Google backend URL must be gcp://<project-id>, not {url!r}")
        return cls(parts.netloc, **options)

    def describe(self) -> str:
        return f"gcp://{self._project}"

    def close(self) -> None:
        transport = getattr(self._client, "transport", None)
        if transport is not None:
            transport.close()

    # -- resource names ----------------------------------------------------
    def _path(self, name: str) -> str:
        return f"projects/{self._project}/secrets/{GOOGLE.encode(name)}"

    @staticmethod
    def _leaf(resource_name: str) -> str:
        return resource_name.rsplit("/", 1)[-1]

    # -- error translation ------------------------------------------------
    def _fail(self, exc: Exception, name: str | None, version: str | None = None) -> NoReturn:
        ex = self._errors
        where = f"secret {name!r}" if name else f"project {self._project!r}"
        kw: dict[str, Any] = {"name": name, "backend": self.describe()}
        if isinstance(exc, ex.RetryError):
            cause = exc.cause
            if isinstance(cause, ex.TooManyRequests):
                raise Throttled(f"{self.describe()} is throttling requests", **kw) from exc
            raise BackendUnavailable(f"{self.describe()} did not answer in time", **kw) from exc
        if isinstance(exc, ex.Unauthorized):
            raise AuthenticationFailed(f"{self.describe()} rejected our credentials", **kw) from exc
        if isinstance(exc, ex.Forbidden):
            raise AccessDenied(f"{self.describe()} denied access to {where}", **kw) from exc
        if isinstance(exc, ex.NotFound):
            if version is not None:
                raise VersionNotFound(
                    f"{where} has no version {version!r}", version=version, **kw
                ) from exc
            raise SecretNotFound(f"{where} not found", **kw) from exc
        if isinstance(exc, ex.TooManyRequests):
            raise Throttled(f"{self.describe()} is throttling requests", **kw) from exc
        if isinstance(exc, ex.Conflict):
            raise Conflict(f"{where}: conflict ({type(exc).__name__})", **kw) from exc
        if isinstance(exc, ex.BadRequest):
            text = (exc.message or "").lower()
            if "disabled state" in text:
                raise VersionDisabled(
                    f"{where} version {version!r} is disabled", version=version, **kw
                ) from exc
            if "destroyed state" in text:
                raise VersionNotFound(
                    f"{where} version {version!r} is destroyed", version=version, **kw
                ) from exc
            if "etag" in text:
                raise Conflict(f"{where} changed concurrently (etag mismatch)", **kw) from exc
            raise SekretError(
                f"{self.describe()} refused a request on {where} ({type(exc).__name__})", **kw
            ) from exc
        if isinstance(exc, ex.ServerError | ex.ServiceUnavailable | ex.DeadlineExceeded):
            raise BackendUnavailable(f"{self.describe()} is unavailable", **kw) from exc
        if isinstance(exc, ex.GoogleAPICallError):
            raise SekretError(
                f"{self.describe()} failed on {where} ({type(exc).__name__})", **kw
            ) from exc
        if type(exc).__module__.startswith("google.auth") and "Transport" not in type(exc).__name__:
            # RefreshError, InvalidOperation (credentials that cannot refresh), ...
            raise AuthenticationFailed(
                f"{self.describe()}: credentials could not refresh", **kw
            ) from exc
        raise BackendUnavailable(
            f"{self.describe()} cannot be reached ({type(exc).__name__})", **kw
        ) from exc

    def _call(
        self, method: str, request: dict[str, Any], name: str | None, version: str | None = None
    ) -> Any:
        try:
            result = getattr(self._client, method)(request=request, **self._call_options)
            if method.startswith("list_"):
                return list(result)  # pagers fetch later pages lazily: errors surface here
            return result
        except (self._errors.GoogleAPICallError, self._errors.RetryError) as exc:
            self._fail(exc, name, version)
        except (OSError, ValueError) as exc:  # requests/urllib3 connection errors are OSError
            self._fail(exc, name, version)
        except Exception as exc:  # google.auth TransportError/RefreshError; grpc internals
            if type(exc).__module__.startswith(("google.auth", "requests", "grpc")):
                self._fail(exc, name, version)
            raise

    # -- state -------------------------------------------------------------
    def _state(self, name: str, *, purge_expired: bool = True) -> _State:
        """The live secret's state; SecretDeleted inside the window, NotFound after it."""
        path = self._path(name)
        state = _State(self._call("get_secret", {"name": path}, name))
        until = state.deleted_until
        if until is None:
            return state
        if self._clock() >= until:
            if purge_expired:
                self._purge(name, state)
            raise SecretNotFound(
                f"secret {name!r} not found (its recovery window has ended)",
                name=name,
                backend=self.describe(),
            )
        raise SecretDeleted(
            f"secret {name!r} is deleted and recoverable until {until:%Y-%m-%d}",
            name=name,
            backend=self.describe(),
            recoverable_until=until,
        )

    def _purge(self, name: str, state: _State) -> None:
        with contextlib.suppress(SecretNotFound, Conflict):
            self._call("delete_secret", {"name": state.name, "etag": state.etag}, name)

    def _update(
        self, name: str, state: _State, aliases: Mapping[str, str], annotations: Mapping[str, str]
    ) -> None:
        """Move aliases and annotations in one UpdateSecret guarded by the etag."""
        secret = {
            "name": state.name,
            "etag": state.etag,
            "version_aliases": {k: int(v) for k, v in aliases.items()},
            "annotations": dict(annotations),
        }
        self._call(
            "update_secret",
            {"secret": secret, "update_mask": {"paths": ["version_aliases", "annotations"]}},
            name,
        )

    # -- reads -------------------------------------------------------------
    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        path = self._path(name)
        if stage is not None:
            validate_stage(stage)
        state = self._state(name)
        if version is None:
            wanted = stage or CURRENT
            version = state.aliases.get(wanted)
            if version is None:
                raise VersionNotFound(
                    f"secret {name!r} has no version in stage {wanted!r}",
                    name=name,
                    backend=self.describe(),
                )
        elif not _NUMBER.match(version) or (
            stage is not None and state.aliases.get(stage) != version
        ):
            raise VersionNotFound(
                f"secret {name!r} has no version {version!r}"
                + (f" in stage {stage!r}" if stage else ""),
                name=name,
                version=version,
                backend=self.describe(),
            )
        got = self._call(
            "access_secret_version", {"name": f"{path}/versions/{version}"}, name, version
        )
        data = bytes(got.payload.data)
        info = state.info(version)
        kind = _kind(info.get("k"), data)
        created = None
        if "c" in info:
            created = datetime.fromisoformat(info["c"])
        else:
            meta = self._call(
                "get_secret_version", {"name": f"{path}/versions/{version}"}, name, version
            )
            created = meta.create_time
        return Secret(
            name,
            version,
            SecretValue(data, kind),
            state.stages_of(version),
            created,
            info.get("m") or {},
        )

    def versions(self, name: str) -> list[VersionInfo]:
        path = self._path(name)
        state = self._state(name)
        out = []
        for v in self._call("list_secret_versions", {"parent": path}, name):
            if int(v.state) == DESTROYED:
                continue
            number = self._leaf(v.name)
            out.append(
                VersionInfo(
                    name,
                    number,
                    state.stages_of(number),
                    v.create_time,
                    state.info(number).get("m") or {},
                )
            )
        return sorted(out, key=lambda i: int(i.version))

    def list(
        self,
        prefix: str = "",
        *,
        page_size: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> Page:
        if page_size < 1:
            raise InvalidValue("page_size must be at least 1")
        code = GOOGLE.encode_prefix(prefix)
        now = self._clock()
        found: dict[str, SecretInfo] = {}
        secrets = self._call("list_secrets", {"parent": f"projects/{self._project}"}, None)
        for secret in secrets:
            native = self._leaf(secret.name)
            full = GOOGLE.decode(native) if GOOGLE.matches(native, code) else None
            if full is None or (page_token is not None and full <= page_token):
                continue
            state = _State(secret)
            until = state.deleted_until
            if until is not None and (now >= until or not include_deleted):
                continue
            found[full] = SecretInfo(
                full,
                created=secret.create_time,
                current_version=state.aliases.get(CURRENT),
                deleted=until is not None,
                recoverable_until=until,
                metadata=dict(secret.labels),
            )
        return Page.after(found, found.__getitem__, page_token=page_token, page_size=page_size)

    # -- writes ------------------------------------------------------------
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
        path = self._path(name)
        stage_set = {validate_stage(s) for s in stages}
        value = SecretValue.of(value, max_bytes=self.max_value_bytes)
        state = self._state_or_create(name, expected_version)
        if token is not None:
            found = self._by_token(name, state, token, value)
            if found is not None:
                return found
        current = state.aliases.get(CURRENT)
        check_expected_version(
            name,
            expected_version,
            exists=current is not None,
            current=current,
            backend=self.describe(),
        )
        added = self._call(
            "add_secret_version", {"parent": path, "payload": {"data": value.bytes()}}, name
        )
        number = self._leaf(added.name)
        info: dict[str, Any] = {"k": value.kind, "c": added.create_time.isoformat()}
        if token is not None:
            info["t"] = token
        if metadata:
            info["m"] = {str(k): str(v) for k, v in metadata.items()}
        for _ in range(_CAS_RETRIES):
            aliases = dict(state.aliases)
            for stage in sorted(stage_set):
                move_label(aliases, stage, number)
            annotations = dict(state.annotations)
            annotations[VERSION_KEY + number] = json.dumps(info, separators=(",", ":"))
            if _size(annotations) > ANNOTATION_BUDGET:
                try:
                    annotations = self._prune(name, path, annotations)
                except SekretError:
                    self._abandon(name, path, number)
                    raise
            try:
                self._update(name, state, aliases, annotations)
            except Conflict:
                state = self._state(name)
                retry_ok = expected_version is None
                if token is not None:
                    earlier = self._by_token(name, state, token, value)
                    if earlier is not None:
                        self._abandon(name, path, number)
                        return earlier
                if not retry_ok or state.deleted_until is not None:
                    self._abandon(name, path, number)
                    raise
                continue
            return VersionInfo(
                name,
                number,
                frozenset(s for s, v in aliases.items() if v == number),
                added.create_time,
                info.get("m") or {},
            )
        self._abandon(name, path, number)
        raise Conflict(
            f"secret {name!r} kept changing; gave up after {_CAS_RETRIES} attempts",
            name=name,
            backend=self.describe(),
        )

    def _prune(self, name: str, path: str, annotations: dict[str, str]) -> dict[str, str]:
        """Drop the annotations of destroyed versions; InvalidValue if still too large."""
        live = {
            VERSION_KEY + self._leaf(v.name)
            for v in self._call("list_secret_versions", {"parent": path}, name)
            if int(v.state) != DESTROYED
        }
        kept = {k: v for k, v in annotations.items() if not k.startswith(VERSION_KEY) or k in live}
        if _size(kept) > ANNOTATION_BUDGET:
            raise InvalidValue(
                f"secret {name!r} has too many versions for its annotations (16 KiB);"
                " destroy old versions first",
                name=name,
            )
        return kept

    def _state_or_create(self, name: str, expected_version: str | None) -> _State:
        try:
            return self._state(name)
        except SecretNotFound as exc:
            if isinstance(exc, SecretDeleted):
                raise
            if expected_version not in (None, ABSENT):
                raise Conflict(
                    f"secret {name!r}: expected current version {expected_version!r},"
                    " found no secret",
                    name=name,
                    backend=self.describe(),
                ) from exc
        secret = {"replication": {"automatic": {}}, "labels": {"managed-by": "sekret"}}
        request = {
            "parent": f"projects/{self._project}",
            "secret_id": GOOGLE.encode(name),
            "secret": secret,
        }
        try:
            return _State(self._call("create_secret", request, name))
        except Conflict:  # created meanwhile by someone else
            return self._state(name)

    def _by_token(
        self, name: str, state: _State, token: str, value: SecretValue
    ) -> VersionInfo | None:
        for key in state.annotations:
            if not key.startswith(VERSION_KEY):
                continue
            number = key[len(VERSION_KEY) :]
            info = state.info(number)
            if info.get("t") != token:
                continue
            got = self._call(
                "access_secret_version",
                {"name": f"{state.name}/versions/{number}"},
                name,
                number,
            )
            data = bytes(got.payload.data)
            if SecretValue(data, _kind(info.get("k"), data)) != value:
                raise Conflict(
                    f"secret {name!r}: token already used for a different value",
                    name=name,
                    version=number,
                    backend=self.describe(),
                )
            created = datetime.fromisoformat(info["c"]) if "c" in info else None
            return VersionInfo(name, number, state.stages_of(number), created, info.get("m") or {})
        return None

    def _abandon(self, name: str, path: str, number: str) -> None:
        """Destroy a version whose aliases update lost a race (best effort)."""
        with contextlib.suppress(SekretError):
            self._call("destroy_secret_version", {"name": f"{path}/versions/{number}"}, name)

    def move_stage(
        self,
        name: str,
        stage: str,
        version: str | None,
        *,
        expected_version: str | None = None,
    ) -> None:
        validate_stage(stage)
        path = self._path(name)
        if stage == CURRENT and version is None:
            raise InvalidValue("the current stage cannot be removed, only moved")
        state = self._state(name)
        if version is not None:
            if not _NUMBER.match(version):
                raise VersionNotFound(
                    f"secret {name!r} has no version {version!r}",
                    name=name,
                    version=version,
                    backend=self.describe(),
                )
            got = self._call(
                "get_secret_version", {"name": f"{path}/versions/{version}"}, name, version
            )
            if int(got.state) == DESTROYED:
                raise VersionNotFound(
                    f"secret {name!r} version {version!r} is destroyed",
                    name=name,
                    version=version,
                    backend=self.describe(),
                )
        held = state.aliases.get(stage)
        check_stage_holder(name, stage, held, expected_version, backend=self.describe())
        if held == version:
            return
        aliases = dict(state.aliases)
        move_label(aliases, stage, version)
        self._update(name, state, aliases, state.annotations)

    def delete(self, name: str, *, recovery_days: int = DEFAULT_RECOVERY_DAYS) -> datetime:
        """Emulated soft delete: mark the secret, then disable its enabled versions."""
        if not 1 <= recovery_days <= 365:
            raise InvalidValue(f"recovery_days must be 1-365, not {recovery_days}")
        path = self._path(name)
        state = self._state(name)
        enabled = [
            self._leaf(v.name)
            for v in self._call("list_secret_versions", {"parent": path}, name)
            if int(v.state) == ENABLED
        ]
        until = self._clock() + timedelta(days=recovery_days)
        annotations = dict(state.annotations)
        annotations[DELETED_UNTIL] = until.isoformat()
        annotations[DELETED_ENABLED] = ",".join(enabled)
        self._update(name, state, state.aliases, annotations)
        for number in enabled:
            request = {"name": f"{path}/versions/{number}"}
            self._call("disable_secret_version", request, name, number)
        return until

    def restore(self, name: str) -> None:
        path = self._path(name)
        try:
            self._state(name)
            return  # live: nothing to restore
        except SecretDeleted:
            pass
        state = _State(self._call("get_secret", {"name": path}, name))
        for number in filter(None, state.annotations.get(DELETED_ENABLED, "").split(",")):
            with contextlib.suppress(VersionNotFound):  # destroyed meanwhile
                request = {"name": f"{path}/versions/{number}"}
                self._call("enable_secret_version", request, name, number)
        annotations = {
            k: v for k, v in state.annotations.items() if k not in (DELETED_UNTIL, DELETED_ENABLED)
        }
        self._update(name, state, state.aliases, annotations)

    def destroy(self, name: str) -> None:
        path = self._path(name)
        try:
            self._call("delete_secret", {"name": path}, name)
        except SecretNotFound as exc:
            raise SecretNotFound(
                f"secret {name!r} not found", name=name, backend=self.describe()
            ) from exc

    # -- least privilege ---------------------------------------------------
    @classmethod
    def policy(cls, root: str, *, access: str = "read", **options: Any) -> str:
        """IAM bindings (JSON) for ``access`` (read|rotate) on the secrets under ``root``.

        Options: ``member`` (e.g. ``serviceAccount:app@proj.iam.gserviceaccount.com``)
        and ``project_number`` (IAM conditions name secrets by project number).
        """
        if access not in ("read", "rotate"):
            raise InvalidValue(f"access must be 'read' or 'rotate', not {access!r}")
        validate_name(root, what="policy root")
        member = options.get("member", "serviceAccount:<app>@<project>.iam.gserviceaccount.com")
        number = options.get("project_number", "<project-number>")
        prefix = f"projects/{number}/secrets/{GOOGLE.encode_prefix(root + '/')}"
        condition = {
            "title": f"sekret {root}",
            "description": f"secrets under {root}/ (Secret Manager ids starting with the code)",
            "expression": f'resource.name.startsWith("{prefix}")',
        }
        roles = ["roles/secretmanager.secretAccessor"]
        if access == "rotate":
            roles += [
                "roles/secretmanager.secretVersionAdder",
                "roles/secretmanager.secretVersionManager",
            ]
        bindings: list[dict[str, Any]] = [
            {"role": role, "members": [member], "condition": condition} for role in roles
        ]
        doc: dict[str, Any] = {"bindings": bindings}
        if access == "rotate":
            doc["customRoles"] = [
                {
                    "title": "sekret stage mover",
                    "description": "move version aliases (stages) and annotations",
                    "includedPermissions": [
                        "secretmanager.secrets.get",
                        "secretmanager.secrets.update",
                    ],
                    "note": "bind it with the same condition; no predefined role below"
                    " Secret Manager Admin grants secrets.update",
                }
            ]
        return json.dumps(doc, indent=2) + "\n"
