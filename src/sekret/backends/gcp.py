"""``gcp://<project-id>``: Google Secret Manager.

Through ``google-cloud-secret-manager`` (extra ``gcp``). Credentials are the
SDK's (Application Default Credentials) unless a ready
``SecretManagerServiceClient`` is injected (tests point one at the local
fake over gRPC or REST).

How sekret's model maps onto Secret Manager (docs/backends/gcp.md has more):

* Names: ``_namemap.GOOGLE`` (reversible, at most 253 characters so the
  companion id fits in 255).
* Versions are Google's version numbers ("1", "2", ...); ``p<N>`` is version
  N of the companion secret (below); anything else reads as VersionNotFound.
* Native first: ``versions/latest`` (what ``gcloud secrets versions access
  latest``, the CSI driver and ESO read) is always sekret's ``current``, and
  reading current is one AccessSecretVersion of ``latest`` (all that
  ``roles/secretmanager.secretAccessor`` grants) plus a GetSecret for the
  recorded kind that may be denied (the kind is then guessed). A version
  added by another tool is simply current. ``previous`` is derived, never
  stored: version ``current - 1`` if it is enabled (disabled = revoked).
  A disabled latest raises ``VersionDisabled``, as it does for native readers.
* ``pending`` and other labels (rotation locks) live in a companion secret,
  ``_namemap.GOOGLE.companion(id)`` (the id + ``_p``: ``list`` hides it, the
  prefix condition of the generated policies covers it). Values written with
  stages other than ``current`` are its versions; its annotation
  ``sekret-labels`` (JSON: label -> version id) is moved with UpdateSecret and
  the etag read before (compare-and-set; a conflict is retried). If that
  update fails, the companion version just added is destroyed. Sekret does
  not use Google's version aliases, so any stage name sekret accepts is
  fine (no alias-rule mismatch can leave a half-written version).
* Promotion and rollback add the chosen value as the new latest version of
  the main secret (recorded with ``"f": <source id>`` so a resumed promotion
  is a no-op). AddSecretVersion takes no precondition: ``move_stage``'s
  ``expected_version`` is checked, then the version is added (not atomic
  against another writer), and ``Capability.CAS`` is not declared.
* Versions carry no labels, so each version's kind, idempotency token,
  creation time and metadata live in one annotation ``sekret-v<N>`` (JSON)
  of the secret holding it. A version without one (added by another tool, or
  after another tool rewrote the annotations) is text if it is UTF-8, else
  bytes: the bytes served are always the version's own. Room for the entry
  is made (destroyed versions' entries pruned) or the write refused before
  any version is added.
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
    PREVIOUS,
    Page,
    Secret,
    SecretInfo,
    SecretValue,
    VersionInfo,
    validate_stage,
)
from sekret.backends._namemap import GOOGLE
from sekret.backends._native import (
    PENDING_MARK,
    Stages,
    check_write,
    no_version,
    tls_failure,
)
from sekret.backends._sdklogs import SdkLogGuard
from sekret.backends.base import (
    DEFAULT_RECOVERY_DAYS,
    Backend,
    Capability,
    check_page_size,
    check_stage_holder,
    move_label,
    require_extra,
    token_reused,
    utcnow,
)
from sekret.exceptions import (
    AccessDenied,
    AuthenticationFailed,
    BackendUnavailable,
    ConfigurationError,
    Conflict,
    IntegrityError,
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
LABELS_KEY = "sekret-labels"

DELETED_UNTIL = "sekret-deleted-until"
DELETED_ENABLED = "sekret-deleted-enabled"
ENABLED, DISABLED, DESTROYED = 1, 2, 3
_PROJECT = re.compile(r"[a-z][a-z0-9-]{4,28}[a-z0-9]\Z|[0-9]{1,20}\Z")
_NUMBER = re.compile(r"[1-9][0-9]{0,18}\Z")
_CAS_RETRIES = 5
ANNOTATION_BUDGET = 16 * 1024  # Secret Manager's limit on a secret's annotations


# google-api-core / gRPC / the REST transport can log payloads when tracing is on.
_LOGS = SdkLogGuard("google", "grpc", "urllib3", "requests")


def _size(annotations: Mapping[str, str]) -> int:
    return sum(len(k.encode()) + len(v.encode()) for k, v in annotations.items())


def _kind(recorded: object, data: bytes) -> Kind:
    """The value kind recorded for a version, or a guess for versions added by other tools."""
    if recorded == "text" or recorded == "json" or recorded == "bytes":
        return recorded
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "bytes"
    return "text"


def _project_of(url: str) -> str:
    """The project id of a ``gcp://`` URL; ConfigurationError if it is not one."""
    parts = urlsplit(url)
    if parts.scheme != "gcp" or parts.path.strip("/") or parts.query or parts.fragment:
        raise ConfigurationError("Google backend URL must be gcp://<project-id>")
    if not _PROJECT.match(parts.netloc):
        raise ConfigurationError(
            f"invalid Google Cloud project id {parts.netloc[:40]!r}: 6-30 lower-case letters,"
            " digits or dashes, starting with a letter (or a project number)"
        )
    return parts.netloc


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


class _View:
    """A secret's stages: current (Google's latest), previous (derived), labels (companion)."""

    __slots__ = ("_versions", "companion", "current", "labels", "previous", "stages", "state")

    def __init__(self, state: _State, versions: list[Any], companion: _State | None) -> None:
        self.state = state
        self.companion = companion
        self._versions = {int(v.name.rsplit("/", 1)[-1]): v for v in versions}
        top = max(self._versions, default=None)
        self.current: str | None = str(top) if top is not None else None
        before = self._versions.get(top - 1) if top is not None else None
        enabled = before is not None and int(before.state) == ENABLED
        self.previous: str | None = str(top - 1) if enabled and top is not None else None
        self.labels: dict[str, str] = _labels_of(companion) if companion is not None else {}
        self.stages = Stages(self.current, self.previous, self.labels)

    def info(self, version: str) -> dict[str, Any]:
        if version.startswith(PENDING_MARK):
            return self.companion.info(version[1:]) if self.companion is not None else {}
        return self.state.info(version)

    def live(self) -> list[tuple[str, datetime]]:
        """(number, created) of every version not destroyed, oldest first."""
        return [
            (str(n), v.create_time)
            for n, v in sorted(self._versions.items())
            if int(v.state) != DESTROYED
        ]


def _check_labels(name: str, companion: _State | None, backend: str) -> None:
    """IntegrityError if another tool rewrote the companion's annotations (pending unknown)."""
    if companion is not None and LABELS_KEY not in companion.annotations:
        raise IntegrityError(
            f"secret {name!r}: the annotations of its companion secret were rewritten by"
            " another tool, so sekret cannot tell which version is pending; restore the"
            " sekret-labels annotation, or delete the companion (its id ends in _p) to drop"
            " pending",
            name=name,
            backend=backend,
        )


def _labels_of(state: _State) -> dict[str, str]:
    """The label map (stage -> sekret version id) in a companion's annotations."""
    try:
        data = json.loads(state.annotations.get(LABELS_KEY, "{}"))
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): str(v) for k, v in data.items() if isinstance(v, str)}


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
    capabilities = Capability.full() & ~Capability.CAS
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
            raise ConfigurationError(f"invalid Google Cloud project id {str(project)[:40]!r}")
        self._project = project
        self._clock = clock
        self._errors = require_extra("google.api_core.exceptions", "gcp")
        sdk = require_extra("google.cloud.secretmanager_v1", "gcp")
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
        return cls(_project_of(url), **options)

    @classmethod
    def policy_options(cls, url: str) -> dict[str, str]:
        """The project the URL names, for the bindings and the ``gcloud`` command."""
        return {"project": _project_of(url)}

    def describe(self) -> str:
        return f"gcp://{self._project}"

    def close(self) -> None:
        transport = getattr(self._client, "transport", None)
        if transport is not None:
            transport.close()

    # -- resource names ----------------------------------------------------
    def _path(self, name: str) -> str:
        return f"projects/{self._project}/secrets/{GOOGLE.encode(name)}"

    def _companion_path(self, name: str) -> str:
        return f"projects/{self._project}/secrets/{GOOGLE.companion(GOOGLE.encode(name))}"

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
        if tls_failure(exc):
            raise ConfigurationError(
                f"{self.describe()}: the TLS certificate of the Secret Manager endpoint could"
                " not be verified; trust its CA (REQUESTS_CA_BUNDLE,"
                " GRPC_DEFAULT_SSL_ROOTS_FILE_PATH) or fix client_options.api_endpoint",
                **kw,
            ) from exc
        raise BackendUnavailable(
            f"{self.describe()} cannot be reached ({type(exc).__name__})", **kw
        ) from exc

    def _call(
        self, method: str, request: dict[str, Any], name: str | None, version: str | None = None
    ) -> Any:
        try:
            with _LOGS.quiet():
                result = getattr(self._client, method)(request=request, **self._call_options)
                if method.startswith("list_"):
                    return list(result)  # pagers fetch later pages lazily: errors surface here
                return result
        except (self._errors.GoogleAPICallError, self._errors.RetryError) as exc:
            self._fail(exc, name, version)
        except (OSError, ValueError) as exc:  # requests/urllib3 connection errors are OSError
            self._fail(exc, name, version)
        except SekretError:
            raise
        except Exception as exc:  # noqa: BLE001  # re-raised by _fail as a SekretError
            self._fail(exc, name, version)  # no SDK exception leaves the backend

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
        # AccessDenied: a read-only caller cannot purge; it still gets "not found".
        with contextlib.suppress(SecretNotFound, Conflict, AccessDenied):
            self._call("delete_secret", {"name": state.name, "etag": state.etag}, name)

    def _companion_state(self, name: str, *, create: bool = False) -> _State | None:
        """The companion secret (pending values, labels); None if it does not exist."""
        path = self._companion_path(name)
        try:
            return _State(self._call("get_secret", {"name": path}, name))
        except SecretNotFound:
            if not create:
                return None
        request = {
            "parent": f"projects/{self._project}",
            "secret_id": GOOGLE.companion(GOOGLE.encode(name)),
            "secret": {
                "replication": {"automatic": {}},
                "labels": {"managed-by": "sekret"},
                "annotations": {LABELS_KEY: "{}"},  # absent later = rewritten by another tool
            },
        }
        try:
            return _State(self._call("create_secret", request, name))
        except Conflict:  # created meanwhile
            return _State(self._call("get_secret", {"name": path}, name))

    def _update(self, name: str, state: _State, annotations: Mapping[str, str]) -> None:
        """Replace a secret's annotations in one UpdateSecret guarded by its etag."""
        secret = {"name": state.name, "etag": state.etag, "annotations": dict(annotations)}
        self._call(
            "update_secret", {"secret": secret, "update_mask": {"paths": ["annotations"]}}, name
        )

    def _latest(self, name: str) -> tuple[str, bytes]:
        """``versions/latest``, what every native reader gets: sekret's ``current``.

        One AccessSecretVersion (all ``roles/secretmanager.secretAccessor``
        grants). A disabled latest version raises ``VersionDisabled`` (native
        readers fail too) unless the secret is deleted (then SecretDeleted, or
        SecretNotFound after the recovery window).
        """
        path = self._path(name)
        try:
            got = self._call(
                "access_secret_version", {"name": f"{path}/versions/latest"}, name, "latest"
            )
        except VersionDisabled:
            with contextlib.suppress(AccessDenied):
                self._state(name)  # SecretDeleted / SecretNotFound for a deleted secret
            raise
        except VersionNotFound as exc:
            self._state(name)  # SecretNotFound / SecretDeleted if the secret is missing
            raise SecretNotFound(
                f"secret {name!r} has no version", name=name, backend=self.describe()
            ) from exc
        return self._leaf(got.name), bytes(got.payload.data)

    def _view(self, name: str) -> _View:
        path = self._path(name)
        state = self._state(name)
        versions = self._call("list_secret_versions", {"parent": path}, name)
        companion = self._companion_state(name)
        return _View(state, versions, companion)

    def _access(self, name: str, version: str, view_or_state: _View | None = None) -> Secret:
        """One version by sekret id (``N`` main, ``pN`` companion), with its recorded info."""
        if _NUMBER.match(version):
            resource = f"{self._path(name)}/versions/{version}"
        elif version.startswith(PENDING_MARK) and _NUMBER.match(version[1:]):
            resource = f"{self._companion_path(name)}/versions/{version[1:]}"
        else:
            raise self._no_version(name, version)
        got = self._call("access_secret_version", {"name": resource}, name, version)
        data = bytes(got.payload.data)
        view = view_or_state or self._view(name)
        info = view.info(version)
        created = datetime.fromisoformat(info["c"]) if "c" in info else None
        if created is None:
            meta = self._call("get_secret_version", {"name": resource}, name, version)
            created = meta.create_time
        return Secret(
            name,
            version,
            SecretValue(data, _kind(info.get("k"), data)),
            view.stages.of(version),
            created,
            info.get("m") or {},
        )

    def _no_version(
        self, name: str, version: str | None, stage: str | None = None
    ) -> VersionNotFound:
        return no_version(name, version, stage, backend=self.describe())

    # -- reads -------------------------------------------------------------
    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        self._path(name)  # InvalidSecretName before any request
        if stage is not None:
            validate_stage(stage)
        if version is None and stage in (None, CURRENT):
            number, data = self._latest(name)
            try:
                info = self._state(name).info(number)
            except AccessDenied:  # a caller with secretAccessor only: the kind is guessed
                info = {}
            created = datetime.fromisoformat(info["c"]) if "c" in info else None
            return Secret(
                name,
                number,
                SecretValue(data, _kind(info.get("k"), data)),
                frozenset({CURRENT}),
                created,
                info.get("m") or {},
            )
        view = self._view(name)
        if stage not in (None, CURRENT, PREVIOUS):
            _check_labels(name, view.companion, self.describe())
        version = view.stages.pick(name, version, stage, backend=self.describe())
        return self._access(name, version, view)

    def versions(self, name: str) -> list[VersionInfo]:
        view = self._view(name)
        out = [
            VersionInfo(
                name, number, view.stages.of(number), created, view.info(number).get("m") or {}
            )
            for number, created in view.live()
        ]
        labelled = {v for v in view.labels.values() if v.startswith(PENDING_MARK)}
        for vid in sorted(labelled, key=lambda v: int(v[1:])):
            info = view.info(vid)
            created = datetime.fromisoformat(info["c"]) if "c" in info else None
            out.append(VersionInfo(name, vid, view.stages.of(vid), created, info.get("m") or {}))
        return out

    def list(
        self,
        prefix: str = "",
        *,
        page_size: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> Page:
        check_page_size(page_size)
        code = GOOGLE.encode_prefix(prefix)
        now = self._clock()
        found: dict[str, SecretInfo] = {}
        secrets = self._call("list_secrets", {"parent": f"projects/{self._project}"}, None)
        for secret in secrets:
            native = self._leaf(secret.name)
            full = (
                GOOGLE.decode(native) if GOOGLE.matches(native, code) else None
            )  # companions: None
            if full is None or (page_token is not None and full <= page_token):
                continue
            state = _State(secret)
            until = state.deleted_until
            if until is not None and (now >= until or not include_deleted):
                continue
            found[full] = SecretInfo(
                full,
                created=secret.create_time,
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
        self._path(name)
        stage_set = {validate_stage(s) for s in stages}
        check_write(
            name,
            stage_set,
            expected_version,
            backend=self.describe(),
            why="Secret Manager's AddSecretVersion takes no precondition",
        )
        value = SecretValue.of(value, max_bytes=self.max_value_bytes)
        info: dict[str, Any] = {"k": value.kind}
        if token is not None:
            info["t"] = token
        if metadata:
            info["m"] = {str(k): str(v) for k, v in metadata.items()}
        if CURRENT not in stage_set:
            return self._write_companion(name, value, info, token, stage_set)
        state = self._state_or_create(name)
        if token is not None:
            found = self._by_token(name, state, token, value, "")
            if found is not None:
                return found
        number, created = self._add_current(name, state, value.bytes(), info)
        for stage in sorted(stage_set - {CURRENT}):
            self._move_label(name, stage, number, None)
        return VersionInfo(name, number, frozenset(stage_set), created, info.get("m") or {})

    def _add_current(
        self, name: str, state: _State, data: bytes, info: dict[str, Any]
    ) -> tuple[str, datetime]:
        """Add a version to the main secret (it is the new latest) and record its info.

        The version is visible to every reader as soon as it is added, so it
        is never taken back: recording its info (kind, token, metadata) is
        retried on a concurrent change, and if that still fails the value
        stays current and its kind is guessed on read.
        """
        path = self._path(name)
        # Room for this version's entry is made (or refused) before anything is written.
        room = dict(state.annotations)
        room[VERSION_KEY + "9" * 19] = json.dumps({**info, "c": "9" * 32}, separators=(",", ":"))
        if _size(room) > ANNOTATION_BUDGET:
            pruned = self._prune(
                name, path, dict(state.annotations), reserve=_size(room) - _size(state.annotations)
            )
            self._update(name, state, pruned)
            state = self._state(name)
        added = self._call("add_secret_version", {"parent": path, "payload": {"data": data}}, name)
        number = self._leaf(added.name)
        info = {**info, "c": added.create_time.isoformat()}
        for _ in range(_CAS_RETRIES):
            annotations = dict(state.annotations)
            annotations[VERSION_KEY + number] = json.dumps(info, separators=(",", ":"))
            try:
                self._update(name, state, annotations)
                break
            except Conflict:
                state = self._state(name)
            except SekretError:
                break
        return number, added.create_time

    def _write_companion(
        self,
        name: str,
        value: SecretValue,
        info: dict[str, Any],
        token: str | None,
        stage_set: set[str],
    ) -> VersionInfo:
        """A value native readers must not see yet (pending, a rotation's locked value)."""
        self._state_or_none(name)  # SecretDeleted if the secret is deleted
        companion = self._companion_state(name, create=True)
        assert companion is not None
        _check_labels(name, companion, self.describe())
        if token is not None:
            found = self._by_token(name, companion, token, value, PENDING_MARK)
            if found is not None:
                return found
        cpath = self._companion_path(name)
        added = self._call(
            "add_secret_version", {"parent": cpath, "payload": {"data": value.bytes()}}, name
        )
        vid = PENDING_MARK + self._leaf(added.name)
        info = {**info, "c": added.create_time.isoformat()}
        for _ in range(_CAS_RETRIES):
            labels = _labels_of(companion)
            for stage in sorted(stage_set):
                move_label(labels, stage, vid)
            annotations = dict(companion.annotations)
            annotations[LABELS_KEY] = json.dumps(labels, separators=(",", ":"), sort_keys=True)
            annotations[VERSION_KEY + vid[1:]] = json.dumps(info, separators=(",", ":"))
            try:
                if _size(annotations) > ANNOTATION_BUDGET:
                    annotations = self._prune(name, cpath, annotations)
                self._update(name, companion, annotations)
            except Conflict:
                fresh = self._companion_state(name)
                if fresh is None:
                    self._abandon(name, cpath, vid[1:])
                    raise
                companion = fresh
                continue
            except SekretError:
                self._abandon(name, cpath, vid[1:])  # the failed label update leaves nothing
                raise
            return VersionInfo(
                name, vid, frozenset(stage_set), added.create_time, info.get("m") or {}
            )
        self._abandon(name, cpath, vid[1:])
        raise Conflict(
            f"secret {name!r} kept changing; gave up after {_CAS_RETRIES} attempts",
            name=name,
            backend=self.describe(),
        )

    def _state_or_none(self, name: str) -> _State | None:
        """The main secret's state; None if it does not exist (SecretDeleted propagates)."""
        try:
            return self._state(name)
        except SecretNotFound as exc:
            if isinstance(exc, SecretDeleted):
                raise
            return None

    def _prune(
        self, name: str, path: str, annotations: dict[str, str], *, reserve: int = 0
    ) -> dict[str, str]:
        """Drop the annotations of destroyed versions; InvalidValue if still too large."""
        live = {
            VERSION_KEY + self._leaf(v.name)
            for v in self._call("list_secret_versions", {"parent": path}, name)
            if int(v.state) != DESTROYED
        }
        kept = {k: v for k, v in annotations.items() if not k.startswith(VERSION_KEY) or k in live}
        if _size(kept) + reserve > ANNOTATION_BUDGET:
            raise InvalidValue(
                f"secret {name!r} has too many versions for its annotations (16 KiB);"
                " destroy old versions first",
                name=name,
            )
        return kept

    def _state_or_create(self, name: str) -> _State:
        state = self._state_or_none(name)
        if state is not None:
            return state
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
        self, name: str, state: _State, token: str, value: SecretValue, mark: str
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
                mark + number,
            )
            data = bytes(got.payload.data)
            if SecretValue(data, _kind(info.get("k"), data)) != value:
                raise token_reused(name, mark + number, backend=self.describe())
            created = datetime.fromisoformat(info["c"]) if "c" in info else None
            labels = _labels_of(state) if mark else {}
            stages = frozenset(s for s, v in labels.items() if v == mark + number)
            return VersionInfo(name, mark + number, stages, created, info.get("m") or {})
        return None

    def _abandon(self, name: str, path: str, number: str) -> None:
        """Destroy a companion version whose label update failed (best effort)."""
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
        self._path(name)
        if stage == CURRENT:
            self._make_current(name, version, expected_version)
        elif stage == PREVIOUS:
            self._revoke_previous(name, version, expected_version)
        else:
            self._move_label(name, stage, version, expected_version)

    def _make_current(self, name: str, version: str | None, expected: str | None) -> None:
        """Add ``version``'s value as the new latest version (promotion and rollback)."""
        if version is None:
            raise InvalidValue("the current stage cannot be removed, only moved")
        view = self._view(name)
        held = view.current
        check_stage_holder(name, CURRENT, held, expected, backend=self.describe())
        if version == held or (held is not None and view.info(held).get("f") == version):
            return  # already current (or a copy of it is): a resumed promotion is a no-op
        source = self._access(name, version, view)
        info: dict[str, Any] = {"k": source.value.kind, "f": version}
        if source.metadata:
            info["m"] = dict(source.metadata)
        self._add_current(name, view.state, source.value.bytes(), info)

    def _revoke_previous(self, name: str, version: str | None, expected: str | None) -> None:
        """``previous`` is derived (the version before current); removing it disables it."""
        view = self._view(name)
        held = view.previous
        check_stage_holder(name, PREVIOUS, held, expected, backend=self.describe())
        if version == held:
            return
        if version is not None:
            raise InvalidValue(
                "on Google, previous is always the version before current: use rollback to"
                " make an older version current",
                name=name,
            )
        assert held is not None
        request = {"name": f"{self._path(name)}/versions/{held}"}
        self._call("disable_secret_version", request, name, held)

    def _move_label(self, name: str, stage: str, version: str | None, expected: str | None) -> None:
        """Move a label (pending, rotation locks) in the companion's annotations, etag-guarded."""
        if version is not None:
            self._check_version(name, version)
        else:
            self._state(name)  # SecretNotFound / SecretDeleted
        for _ in range(_CAS_RETRIES):
            companion = self._companion_state(name, create=version is not None)
            _check_labels(name, companion, self.describe())
            labels = _labels_of(companion) if companion is not None else {}
            held = labels.get(stage)
            check_stage_holder(name, stage, held, expected, backend=self.describe())
            if held == version or companion is None:
                return
            move_label(labels, stage, version)
            annotations = dict(companion.annotations)
            annotations[LABELS_KEY] = json.dumps(labels, separators=(",", ":"), sort_keys=True)
            try:
                self._update(name, companion, annotations)
            except Conflict:
                continue
            return
        raise Conflict(
            f"secret {name!r} kept changing; gave up after {_CAS_RETRIES} attempts",
            name=name,
            backend=self.describe(),
        )

    def _check_version(self, name: str, version: str) -> None:
        """VersionNotFound unless ``version`` exists and is not destroyed."""
        if _NUMBER.match(version):
            resource = f"{self._path(name)}/versions/{version}"
        elif version.startswith(PENDING_MARK) and _NUMBER.match(version[1:]):
            resource = f"{self._companion_path(name)}/versions/{version[1:]}"
        else:
            raise self._no_version(name, version)
        try:
            got = self._call("get_secret_version", {"name": resource}, name, version)
        except SecretNotFound as exc:
            raise self._no_version(name, version) from exc
        if int(got.state) == DESTROYED:
            raise VersionNotFound(
                f"secret {name!r} version {version!r} is destroyed",
                name=name,
                version=version,
                backend=self.describe(),
            )

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
        self._update(name, state, annotations)
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
        self._update(name, state, annotations)

    def destroy(self, name: str) -> None:
        path = self._path(name)
        with contextlib.suppress(SecretNotFound):
            self._call("delete_secret", {"name": self._companion_path(name)}, name)
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

        Options: ``project`` (the project id, from ``gcp://<project>``),
        ``member`` (e.g. ``serviceAccount:app@proj.iam.gserviceaccount.com``) and
        ``project_number`` (IAM conditions name secrets by project number).

        Read: ``roles/secretmanager.secretAccessor`` is all a ``get`` of the
        current value needs (it is one AccessSecretVersion of ``latest``:
        Google documents the role as ``secretmanager.versions.access`` only);
        ``roles/secretmanager.viewer`` (metadata, never a payload) is added so
        stages, ``versions`` and the deleted-secret check work too. Rotate adds
        version adding/disabling and a custom role with ``secrets.get``/
        ``update``/``create`` (aliases, annotations and the companion secret
        that holds ``pending``), all under the same condition.
        """
        unknown = sorted(set(options) - {"project", "member", "project_number"})
        if unknown:
            raise ConfigurationError(
                f"unknown gcp policy option(s) {', '.join(unknown)};"
                " known: project, member, project_number"
            )
        if access not in ("read", "rotate"):
            raise InvalidValue(f"access must be 'read' or 'rotate', not {access!r}")
        validate_name(root, what="policy root")
        project = options.get("project", "<project-id>")
        if project != "<project-id>" and not _PROJECT.match(project):
            raise InvalidValue(f"invalid Google Cloud project id {project[:40]!r}")
        member = options.get("member", f"serviceAccount:<app>@{project}.iam.gserviceaccount.com")
        number = options.get("project_number", f"<project-number of {project}>")
        prefix = f"projects/{number}/secrets/{GOOGLE.encode_prefix(root + '/')}"
        condition = {
            "title": f"sekret {root}",
            "description": f"secrets under {root}/ (Secret Manager ids starting with the code)",
            "expression": f'resource.name.startsWith("{prefix}")',
        }
        roles = ["roles/secretmanager.secretAccessor", "roles/secretmanager.viewer"]
        if access == "rotate":
            roles += [
                "roles/secretmanager.secretVersionAdder",
                "roles/secretmanager.secretVersionManager",
                f"projects/{project}/roles/sekretStageMover",
            ]
        bindings: list[dict[str, Any]] = [
            {"role": role, "members": [member], "condition": condition} for role in roles
        ]
        doc: dict[str, Any] = {"project": project, "bindings": bindings}
        if access == "rotate":
            doc["customRoles"] = [
                {
                    "name": f"projects/{project}/roles/sekretStageMover",
                    "title": "sekret stage mover",
                    "description": "version aliases, annotations and the pending companion secret",
                    "includedPermissions": [
                        "secretmanager.secrets.create",
                        "secretmanager.secrets.get",
                        "secretmanager.secrets.update",
                    ],
                    "note": "no predefined role below Secret Manager Admin grants secrets.update",
                }
            ]
        doc["apply"] = (
            f"gcloud projects get-iam-policy {project} --format=json > policy.json;"
            " merge these bindings; gcloud projects set-iam-policy"
            f" {project} policy.json"
        )
        return json.dumps(doc, indent=2) + "\n"
