"""``azure://<vault-name>.vault.azure.net``: Azure Key Vault secrets.

Through ``azure-keyvault-secrets`` (extra ``azure``); the credential is
``DefaultAzureCredential`` (managed identity in production) unless a
``TokenCredential`` is passed in, and a ready ``SecretClient`` can be
injected for tests.

How sekret's model maps onto Key Vault (docs/backends/azure.md has more):

* Names: ``_namemap.AZURE`` (reversible, lower-case output, at most 125 so the
  companion id fits in 127).
* Values: Key Vault stores strings of at most 25 KB. Text and JSON are
  stored as UTF-8 text; bytes as base64. The content type says which
  (``application/octet-stream; encoding=base64`` for bytes) and the limit is
  applied to the stored string.
* Native first: what ``az keyvault secret show``, Key Vault references and
  the raw SDK's ``get_secret(name)`` return (the latest version) is always
  sekret's ``current``, and ``read()`` of current is that one request. A
  version written by another tool (portal, ``az``, Terraform) is simply
  current. ``previous`` is derived, never stored: the version before current
  in the version list (ordered by creation time, then ``sekret-seq``; a
  disabled one means "revoked": no previous). Nothing another tool can
  rewrite (tags) decides which value is served; a disabled latest version
  raises ``VersionDisabled`` as it does for native readers.
* ``pending`` and other labels (rotation locks) live in a companion secret,
  ``_namemap.AZURE.companion(code)`` (the code + ``-9``, never a name's
  code, so ``list`` hides it; a vault-scoped role covers it). Its versions
  hold values written with stages other than ``current`` (sekret version id
  ``p<id>``), and its latest version's tags the label map
  (``sekret-stage-<label>`` = version id, ``.`` for itself). Promotion and
  rollback write the chosen value as a new latest version of the main
  secret, tagged ``sekret-from=<id>`` so a resumed promotion is a no-op.
  Revoking ``previous`` disables that version.
* Key Vault has no conditional requests: ``move_stage(expected_version=...)``
  is checked then set (serialised in this process, not against another
  writer) and ``Capability.CAS`` is not declared.
* ``sekret-seq`` orders sekret's versions within one second (Key Vault's
  timestamps are whole seconds; a native version in the same second as a
  sekret one may list in either order, but current is always last),
  ``sekret-token`` holds a write's idempotency token, ``sekret-meta-*`` its
  metadata. Key Vault allows 15 tags per version.
* Errors: no SDK exception leaves the backend. A TLS verification failure
  and the SDK's raw ``ValueError`` for a challenge resource that does not
  match the host are ``ConfigurationError`` saying what to fix.
* Delete is Key Vault soft delete (the recovery window is the vault's
  setting, not the call's), restore is recover, destroy is delete + purge.
* A disabled version raises ``VersionDisabled`` (a ``VersionNotFound``).

This module must never put a value into a message, a log line or a tag.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import re
import threading
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, NoReturn, TypeVar
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
from sekret.backends._namemap import AZURE
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

__all__ = ["AzureBackend"]

T = TypeVar("T")

MAX_STORED_BYTES = 25 * 1024
MAX_TAGS = 15
BASE64_TYPE = "application/octet-stream; encoding=base64"
TEXT_TYPE = "text/plain; charset=utf-8"
JSON_TYPE = "application/json"
SEQ = "sekret-seq"
TOKEN = "sekret-token"
LABEL = "sekret-stage-"
META = "sekret-meta-"
FROM = "sekret-from"
PLACEHOLDER = "sekret-placeholder"
SELF = "."
_VERSION_ID = re.compile(r"[0-9A-Za-z-]{1,64}\Z")

ROLE_READ = "Key Vault Secrets User"
ROLE_ROTATE = "Key Vault Secrets Officer"


# azure-core logs bodies when a client is built with logging_enable=True.
_LOGS = SdkLogGuard("azure", "msal", "urllib3", "requests")


def _aware(when: datetime | None) -> datetime | None:
    if when is not None and when.tzinfo is None:
        return when.replace(tzinfo=UTC)
    return when


def _stored(value: SecretValue) -> tuple[str, str]:
    """The string Key Vault stores for a value, and its content type."""
    if value.kind == "bytes":
        return base64.b64encode(value.bytes()).decode("ascii"), BASE64_TYPE
    return value.bytes().decode("utf-8"), (JSON_TYPE if value.kind == "json" else TEXT_TYPE)


def _loaded(text: str | None, content_type: str | None) -> SecretValue:
    """Rebuild a value from a stored string and its content type."""
    text = text or ""
    if content_type == BASE64_TYPE:
        try:
            return SecretValue(base64.b64decode(text, validate=True), "bytes")
        except (binascii.Error, ValueError):
            raise InvalidValue("stored binary value is not valid base64") from None
    return SecretValue(text.encode("utf-8"), "json" if content_type == JSON_TYPE else "text")


class _Labels:
    """The companion secret's versions and the label map its latest version's tags carry.

    Labels are sekret's own stages other than ``current``/``previous``
    (``pending``, rotation locks), each naming a sekret version id: a main
    version id, or ``p<id>`` for a companion version (``.`` = that version).
    """

    __slots__ = ("latest", "versions")

    def __init__(self, latest: Any, versions: list[Any]) -> None:
        self.latest = latest
        self.versions = sorted(versions, key=lambda p: (_stamp(p.created_on), _seq(p.tags)))

    @property
    def seq(self) -> int:
        return _seq(self.latest.tags) if self.latest is not None else 0

    @property
    def tampered(self) -> bool:
        """Whether another tool rewrote the tags sekret keeps on the companion's latest version."""
        tags = (self.latest.tags or {}) if self.latest is not None else {SEQ: ""}
        return SEQ not in tags and PLACEHOLDER not in tags

    def check(self, name: str, backend: str) -> None:
        """IntegrityError if the label map was rewritten: pending cannot be told, never guessed."""
        if self.tampered:
            raise IntegrityError(
                f"secret {name!r}: the tags of its companion secret were rewritten by another"
                " tool, so sekret cannot tell which version is pending; restore the tags, or"
                " delete and purge the companion (its name ends in -9) to drop pending",
                name=name,
                backend=backend,
            )

    def map(self) -> dict[str, str]:
        if self.latest is None:
            return {}
        own = PENDING_MARK + self.latest.version
        return {
            key[len(LABEL) :]: (own if val == SELF else val)
            for key, val in (self.latest.tags or {}).items()
            if key.startswith(LABEL)
        }


class _View:
    """Everything a stage question needs: current, the main history, the labels."""

    __slots__ = ("current", "current_id", "history", "labels", "stages")

    def __init__(self, current: Any, history: list[Any], labels: _Labels) -> None:
        self.current = current
        self.current_id: str = current.properties.version
        self.history = history
        self.labels = labels
        previous = None
        if len(history) >= 2 and history[-2].enabled is not False:
            previous = history[-2].version  # a disabled one was revoked: no previous
        self.stages = Stages(self.current_id, previous, {} if labels.tampered else labels.map())


def _pending(version: str) -> bool:
    return version.startswith(PENDING_MARK)


class AzureBackend(Backend):
    """Azure Key Vault through the official SDK; see the module docstring."""

    scheme: ClassVar[str] = "azure"
    credential_env: ClassVar[frozenset[str]] = frozenset(
        {
            "AZURE_CLIENT_ID",
            "AZURE_CLIENT_SECRET",
            "AZURE_TENANT_ID",
            "AZURE_USERNAME",
            "AZURE_PASSWORD",
            "AZURE_CLIENT_CERTIFICATE_PATH",
            "AZURE_FEDERATED_TOKEN_FILE",
            "AZURE_CLIENT_CERTIFICATE_PASSWORD",
            "IDENTITY_ENDPOINT",
            "IDENTITY_HEADER",
            "MSI_ENDPOINT",
            "MSI_SECRET",
        }
    )  # azure-identity's DefaultAzureCredential (see Backend.credential_env)
    capabilities = Capability.full() & ~Capability.CAS
    max_value_bytes = MAX_STORED_BYTES

    def __init__(
        self,
        vault_url: str,
        *,
        credential: Any = None,
        client: Any = None,
        polling_interval: float = 2.0,
        **client_options: Any,
    ) -> None:
        parts = urlsplit(vault_url)
        if parts.scheme != "https" or not parts.hostname:
            raise ConfigurationError(f"Azure vault URL must be https://<host>, not {vault_url!r}")
        self._vault_url = f"https://{parts.netloc}"
        self._polling = polling_interval
        self._lock = threading.Lock()  # serialises this process's check-then-set stage moves
        self._errors = require_extra("azure.core.exceptions", "azure")
        if client is None:
            sdk = require_extra("azure.keyvault.secrets", "azure")
            if credential is None:
                credential = require_extra("azure.identity", "azure").DefaultAzureCredential()
            client = sdk.SecretClient(self._vault_url, credential, **client_options)
        self._client = client

    @classmethod
    def from_url(cls, url: str, **options: Any) -> AzureBackend:
        return cls(f"https://{_vault_host(url)}", **options)

    @classmethod
    def policy_options(cls, url: str) -> dict[str, str]:
        """The vault's name (the host's first label), for the role assignment's scope."""
        return {"vault": _vault_host(url).split(".", 1)[0]}

    def describe(self) -> str:
        return f"azure://{urlsplit(self._vault_url).netloc}"

    def close(self) -> None:
        self._client.close()

    # -- error translation ------------------------------------------------
    def _fail(self, exc: Exception, name: str | None, version: str | None = None) -> NoReturn:
        """Raise the sekret error for an SDK exception (``from exc``)."""
        errors = self._errors
        where = f"secret {name!r}" if name else "the vault"
        kw: dict[str, Any] = {"name": name, "backend": self.describe()}
        if isinstance(exc, errors.ClientAuthenticationError) or (
            isinstance(exc, errors.HttpResponseError) and exc.status_code == 401
        ):
            raise AuthenticationFailed(f"{self.describe()} rejected our credentials", **kw) from exc
        if isinstance(exc, errors.HttpResponseError):
            status = exc.status_code
            error = getattr(exc, "error", None)
            code = getattr(error, "code", None) or ""
            inner = getattr(error, "innererror", None) or {}
            text = (getattr(error, "message", None) or "").lower()
            if status == 403 and (inner.get("code") == "SecretDisabled" or "disabled" in text):
                raise VersionDisabled(
                    f"{where} version {version or 'latest'!r} is disabled",
                    version=version,
                    **kw,
                ) from exc
            if status == 403:
                raise AccessDenied(f"{self.describe()} denied access to {where}", **kw) from exc
            if status == 404:
                raise SecretNotFound(f"{where} not found", **kw) from exc
            if status == 400:
                raise InvalidValue(
                    f"{self.describe()} refused the request on {where} as invalid ({code})", **kw
                ) from exc
            if status == 409:
                raise Conflict(f"{where}: conflict ({code or 'Conflict'})", **kw) from exc
            if status == 429:
                raise Throttled(f"{self.describe()} is throttling requests", **kw) from exc
            if status is not None and status >= 500:
                raise BackendUnavailable(f"{self.describe()} failed ({status})", **kw) from exc
            raise SekretError(
                f"{self.describe()} refused a request on {where} ({status} {code})", **kw
            ) from exc
        if isinstance(exc, errors.ServiceRequestError | errors.ServiceResponseError):
            raise BackendUnavailable(f"{self.describe()} cannot be reached", **kw) from exc
        raise BackendUnavailable(f"{self.describe()} failed: {type(exc).__name__}", **kw) from exc

    def _call(self, fn: Callable[[], T], name: str | None, version: str | None = None) -> T:
        try:
            with _LOGS.quiet():
                return fn()
        except self._errors.AzureError as exc:
            if tls_failure(exc):
                host = urlsplit(self._vault_url).hostname
                raise ConfigurationError(
                    f"{self.describe()}: the TLS certificate of {host} could not be verified;"
                    " trust its CA (REQUESTS_CA_BUNDLE or connection_verify=<ca file>)"
                    " or fix the vault host",
                    name=name,
                    backend=self.describe(),
                ) from exc
            self._fail(exc, name, version)
        except SekretError:
            raise
        except ValueError as exc:
            # azure-keyvault's challenge policy: the 401 challenge names a resource that does
            # not match the vault host (a private endpoint, a proxy, a wrong host).
            what = "challenge resource" if "challenge" in str(exc).lower() else "request"
            raise ConfigurationError(
                f"{self.describe()}: the vault's authentication {what} does not match its host;"
                " use the vault's own *.vault.azure.net name, or pass"
                " verify_challenge_resource=False when a private endpoint serves it",
                name=name,
                backend=self.describe(),
            ) from exc
        except Exception as exc:  # no SDK exception may leave the backend
            raise BackendUnavailable(
                f"{self.describe()} failed ({type(exc).__name__})",
                name=name,
                backend=self.describe(),
            ) from exc

    def _is_missing(self, exc: SekretError) -> bool:
        return type(exc) is SecretNotFound

    # -- internals ---------------------------------------------------------
    def _check_deleted(self, name: str, native: str, exc: SekretError) -> None:
        """Raise SecretDeleted (from ``exc``) if the secret is soft-deleted."""
        try:
            deleted = self._call(lambda: self._client.get_deleted_secret(native), name)
        except SecretNotFound:
            return
        until = _aware(deleted.scheduled_purge_date)
        raise SecretDeleted(
            f"secret {name!r} is deleted"
            + (f" and will be purged on {until:%Y-%m-%d}" if until else ""),
            name=name,
            backend=self.describe(),
            recoverable_until=until,
        ) from exc

    def _current(self, name: str, native: str) -> Any:
        """The secret's latest version, as every native reader gets it: sekret's ``current``.

        A disabled latest version raises ``VersionDisabled``: native readers
        get an error too, and sekret never falls back to another version.
        """
        try:
            return self._call(lambda: self._client.get_secret(native), name)
        except SekretError as exc:
            if self._is_missing(exc):
                self._check_deleted(name, native, exc)
                raise SecretNotFound(
                    f"secret {name!r} not found", name=name, backend=self.describe()
                ) from exc
            raise

    def _get(self, name: str, native: str, version: str) -> Any:
        """One version by sekret id: a main version id, or ``p<id>`` in the companion."""
        target, vid = (
            (AZURE.companion(native), version[1:]) if _pending(version) else (native, version)
        )
        if not _VERSION_ID.match(vid):
            raise self._no_version(name, version)
        try:
            return self._call(lambda: self._client.get_secret(target, vid), name, version)
        except SekretError as exc:
            if self._is_missing(exc):
                raise self._no_version(name, version) from exc
            raise

    def _no_version(
        self, name: str, version: str | None, stage: str | None = None
    ) -> VersionNotFound:
        return no_version(name, version, stage, backend=self.describe())

    def _history(self, name: str, native: str, current: str) -> list[Any]:
        """The main secret's versions, oldest first, ``current`` last."""

        def fetch() -> list[Any]:
            return list(self._client.list_properties_of_secret_versions(native))

        props = self._call(fetch, name)
        props.sort(key=lambda p: (p.version == current, _stamp(p.created_on), _seq(p.tags)))
        return props

    def _labels(self, name: str, native: str) -> _Labels:
        """The label map in the companion's latest version (empty if there is none)."""
        companion = AZURE.companion(native)

        def fetch() -> list[Any]:
            return list(self._client.list_properties_of_secret_versions(companion))

        try:
            props = self._call(fetch, name)
        except SecretNotFound:
            return _Labels(None, [])
        return _Labels(max(props, key=lambda p: (_stamp(p.created_on), _seq(p.tags))), props)

    def _view(self, name: str, native: str) -> _View:
        current = self._current(name, native)
        history = self._history(name, native, current.properties.version)
        return _View(current, history, self._labels(name, native))

    def _secret(self, name: str, item: Any, version: str, stages: frozenset[str]) -> Secret:
        props = item.properties
        return Secret(
            name,
            version,
            _loaded(item.value, props.content_type),
            stages,
            _aware(props.created_on),
            _metadata(props),
        )

    # -- reads -------------------------------------------------------------
    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        native = AZURE.encode(name)
        if stage is not None:
            validate_stage(stage)
        if version is None and stage in (None, CURRENT):
            item = self._current(name, native)  # one request: what every native reader gets
            return self._secret(name, item, item.properties.version, frozenset({CURRENT}))
        view = self._view(name, native)
        if stage not in (None, CURRENT, PREVIOUS):
            view.labels.check(name, self.describe())
        version = view.stages.pick(name, version, stage, backend=self.describe())
        item = view.current if version == view.current_id else self._get(name, native, version)
        return self._secret(name, item, version, view.stages.of(version))

    def versions(self, name: str) -> list[VersionInfo]:
        native = AZURE.encode(name)
        view = self._view(name, native)
        out = [
            VersionInfo(
                name,
                p.version,
                view.stages.of(p.version),
                _aware(p.created_on),
                _metadata(p),
            )
            for p in view.history
        ]
        for p in view.labels.versions:  # companion versions that hold a label
            vid = PENDING_MARK + p.version
            if view.stages.of(vid):
                out.append(
                    VersionInfo(name, vid, view.stages.of(vid), _aware(p.created_on), _metadata(p))
                )
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
        code = AZURE.encode_prefix(prefix)
        found: dict[str, SecretInfo] = {}
        for props in self._call(lambda: list(self._client.list_properties_of_secrets()), None):
            full = self._ours(props.name, code, page_token)
            if full is not None:
                found[full] = SecretInfo(
                    full,
                    created=_aware(props.created_on),
                    updated=_aware(props.updated_on),
                    metadata=_metadata(props),
                )
        if include_deleted:
            for item in self._call(lambda: list(self._client.list_deleted_secrets()), None):
                full = self._ours(item.name, code, page_token)
                if full is not None:
                    until = _aware(item.scheduled_purge_date)
                    found[full] = SecretInfo(full, deleted=True, recoverable_until=until)
        return Page.after(found, found.__getitem__, page_token=page_token, page_size=page_size)

    @staticmethod
    def _ours(native: str | None, code: str, after: str | None) -> str | None:
        if not native or not AZURE.matches(native, code):
            return None
        full = AZURE.decode(native)  # companions never decode: hidden
        if full is None or (after is not None and full <= after):
            return None
        return full

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
        native = AZURE.encode(name)
        stage_set = {validate_stage(s) for s in stages}
        check_write(
            name,
            stage_set,
            expected_version,
            backend=self.describe(),
            why="Key Vault has no conditional writes",
        )
        value = SecretValue.of(value, max_bytes=self.max_value_bytes)
        text, content_type = _stored(value)
        if len(text.encode("utf-8")) > MAX_STORED_BYTES:
            raise InvalidValue(
                f"secret {name!r}: the stored form of the value is {len(text.encode('utf-8'))}"
                f" bytes; Azure Key Vault's limit is {MAX_STORED_BYTES}",
                name=name,
            )
        meta = {META + k: str(v) for k, v in (metadata or {}).items()}
        with self._lock:
            if CURRENT in stage_set:
                info = self._write_current(name, native, value, text, content_type, token, meta)
                others = stage_set - {CURRENT}
                if others:
                    for stage in sorted(others):
                        self._move_label(name, native, stage, info.version, None)
                    return self._info_of(name, native, info.version)
                return info
            return self._write_companion(
                name, native, value, text, content_type, token, meta, stage_set
            )

    def _write_current(
        self,
        name: str,
        native: str,
        value: SecretValue,
        text: str,
        content_type: str,
        token: str | None,
        meta: Mapping[str, str],
    ) -> VersionInfo:
        try:
            current: Any = self._current(name, native)
        except SecretNotFound as exc:
            if isinstance(exc, SecretDeleted):
                raise
            current = None
        except VersionDisabled:
            current = None  # a disabled latest: the new version will be current
        if token is not None and current is not None:
            for props in self._history(name, native, current.properties.version):
                found = self._token_match(name, native, props, props.version, token, value)
                if found is not None:
                    return VersionInfo(
                        name,
                        props.version,
                        frozenset({CURRENT})
                        if props.version == current.properties.version
                        else frozenset(),
                        _aware(props.created_on),
                        _metadata(props),
                    )
        seq = _seq(current.properties.tags) if current is not None else 0
        tags = {SEQ: str(seq + 1), **meta}
        if token is not None:
            tags[TOKEN] = token
        created = self._set(name, native, text, content_type, tags)
        props = created.properties
        return VersionInfo(
            name,
            props.version,
            frozenset({CURRENT}),
            _aware(props.created_on),
            _metadata(props),
        )

    def _write_companion(
        self,
        name: str,
        native: str,
        value: SecretValue,
        text: str,
        content_type: str,
        token: str | None,
        meta: Mapping[str, str],
        stage_set: set[str],
    ) -> VersionInfo:
        try:
            self._current(name, native)  # SecretDeleted if the secret is deleted
        except SecretDeleted:
            raise
        except (SecretNotFound, VersionDisabled):
            pass  # pending before any current is allowed
        labels = self._labels(name, native)
        labels.check(name, self.describe())
        if token is not None:
            for props in labels.versions:
                vid = PENDING_MARK + props.version
                found = self._token_match(name, native, props, vid, token, value)
                if found is not None:
                    return VersionInfo(
                        name,
                        vid,
                        frozenset(s for s, v in labels.map().items() if v == vid),
                        _aware(props.created_on),
                        _metadata(props),
                    )
        stage_map = labels.map()
        for stage in sorted(stage_set):
            move_label(stage_map, stage, SELF)
        tags = {LABEL + s: v for s, v in stage_map.items()}
        tags[SEQ] = str((labels.seq or 0) + 1)
        if token is not None:
            tags[TOKEN] = token
        tags.update(meta)
        created = self._set(name, AZURE.companion(native), text, content_type, tags)
        props = created.properties
        vid = PENDING_MARK + props.version
        return VersionInfo(
            name,
            vid,
            frozenset(s for s, v in stage_map.items() if v == SELF),
            _aware(props.created_on),
            _metadata(props),
        )

    def _set(
        self, name: str, target: str, text: str, content_type: str, tags: dict[str, str]
    ) -> Any:
        if len(tags) > MAX_TAGS:
            raise InvalidValue(
                f"secret {name!r}: {len(tags)} tags needed (stages, metadata); Key Vault"
                f" allows {MAX_TAGS}",
                name=name,
            )

        def put() -> Any:
            return self._client.set_secret(target, text, content_type=content_type, tags=tags)

        try:
            return self._call(put, name)
        except Conflict as exc:
            self._check_deleted(name, target, exc)
            raise

    def _token_match(
        self, name: str, native: str, props: Any, vid: str, token: str, value: SecretValue
    ) -> Any:
        """``props`` if an earlier write with ``token`` made it (Conflict if its value differs)."""
        if (props.tags or {}).get(TOKEN) != token:
            return None
        item = self._get(name, native, vid)
        if _loaded(item.value, props.content_type) != value:
            raise token_reused(name, vid, backend=self.describe())
        return props

    def _info_of(self, name: str, native: str, version: str) -> VersionInfo:
        for info in self.versions(name):
            if info.version == version:
                return info
        raise self._no_version(name, version)

    def move_stage(
        self,
        name: str,
        stage: str,
        version: str | None,
        *,
        expected_version: str | None = None,
    ) -> None:
        validate_stage(stage)
        native = AZURE.encode(name)
        with self._lock:
            if stage == CURRENT:
                self._make_current(name, native, version, expected_version)
            elif stage == PREVIOUS:
                self._revoke_previous(name, native, version, expected_version)
            else:
                self._move_label(name, native, stage, version, expected_version)

    def _make_current(
        self, name: str, native: str, version: str | None, expected: str | None
    ) -> None:
        """Write ``version``'s value as the new latest version (promotion and rollback)."""
        if version is None:
            raise InvalidValue("the current stage cannot be removed, only moved")
        current = self._current(name, native)
        held = current.properties.version
        check_stage_holder(name, CURRENT, held, expected, backend=self.describe())
        if version == held or (current.properties.tags or {}).get(FROM) == version:
            return  # already current (or a copy of it is): idempotent for resumed rotations
        source = self._get(name, native, version)
        props = source.properties
        tags = {k: v for k, v in (props.tags or {}).items() if k.startswith(META)}
        tags[SEQ] = str(_seq(current.properties.tags) + 1)
        tags[FROM] = version
        self._set(name, native, source.value or "", props.content_type or TEXT_TYPE, tags)

    def _revoke_previous(
        self, name: str, native: str, version: str | None, expected: str | None
    ) -> None:
        """``previous`` is derived (the version before current); removing it disables it."""
        view = self._view(name, native)
        held = view.stages.holder(PREVIOUS)
        check_stage_holder(name, PREVIOUS, held, expected, backend=self.describe())
        if version == held:
            return
        if version is not None:
            raise InvalidValue(
                "on Azure, previous is always the version before current: use rollback to"
                " make an older version current",
                name=name,
            )
        assert held is not None
        self._call(
            lambda: self._client.update_secret_properties(native, held, enabled=False),
            name,
            held,
        )

    def _move_label(
        self, name: str, native: str, stage: str, version: str | None, expected: str | None
    ) -> None:
        """Move a label (pending, rotation locks) in the companion's latest version's tags."""
        labels = self._labels(name, native)
        labels.check(name, self.describe())
        stage_map = labels.map()
        if version is not None:
            self._get(name, native, version)  # VersionNotFound if it does not exist
        else:
            self._current(name, native)  # SecretNotFound / SecretDeleted
        held = stage_map.get(stage)
        check_stage_holder(name, stage, held, expected, backend=self.describe())
        if held == version:
            return
        move_label(stage_map, stage, version)
        latest = labels.latest
        if latest is None:  # no companion yet: one placeholder version carries the labels
            tags = {LABEL + s: v for s, v in stage_map.items()}
            tags[PLACEHOLDER] = "1"
            self._set(name, AZURE.companion(native), "-", TEXT_TYPE, tags)
            return
        own = PENDING_MARK + latest.version
        tags = {k: v for k, v in (latest.tags or {}).items() if not k.startswith(LABEL)}
        tags.update({LABEL + s: (SELF if v == own else v) for s, v in stage_map.items()})
        if len(tags) > MAX_TAGS:
            raise InvalidValue(
                f"secret {name!r}: {len(tags)} tags needed for its labels; Key Vault allows"
                f" {MAX_TAGS}",
                name=name,
            )
        companion = AZURE.companion(native)
        self._call(
            lambda: self._client.update_secret_properties(companion, latest.version, tags=tags),
            name,
        )

    def delete(self, name: str, *, recovery_days: int = DEFAULT_RECOVERY_DAYS) -> datetime:
        """Soft delete, companion too; the window is the vault's (``recovery_days`` is checked)."""
        if not 1 <= recovery_days <= 365:
            raise InvalidValue(f"recovery_days must be 1-365, not {recovery_days}")
        native = AZURE.encode(name)
        with contextlib.suppress(VersionDisabled):
            self._current(name, native)  # SecretDeleted / SecretNotFound with the right message
        until = self._delete_one(name, native)
        with contextlib.suppress(SecretNotFound):
            self._delete_one(name, AZURE.companion(native))
        return until or utcnow() + timedelta(days=recovery_days)

    def _delete_one(self, name: str, target: str) -> datetime | None:
        poller = self._call(
            lambda: self._client.begin_delete_secret(target, _polling_interval=self._polling),
            name,
        )
        deleted = self._call(poller.result, name)
        return _aware(deleted.scheduled_purge_date)

    def restore(self, name: str) -> None:
        native = AZURE.encode(name)
        for target in (AZURE.companion(native), native):
            try:
                poller = self._call(
                    lambda t=target: self._client.begin_recover_deleted_secret(  # type: ignore[misc]
                        t, _polling_interval=self._polling
                    ),
                    name,
                )
            except SecretNotFound:
                if target == native:
                    self._current(name, native)  # live: nothing to restore; else not found
                continue
            self._call(poller.wait, name)

    def destroy(self, name: str) -> None:
        native = AZURE.encode(name)
        found = False
        for target in (native, AZURE.companion(native)):
            try:
                poller = self._call(
                    lambda t=target: self._client.begin_delete_secret(  # type: ignore[misc]
                        t, _polling_interval=self._polling
                    ),
                    name,
                )
                self._call(poller.wait, name)
            except SecretNotFound:
                pass  # already soft-deleted (or never existed: the purge says which)
            try:
                self._call(lambda t=target: self._client.purge_deleted_secret(t), name)  # type: ignore[misc]
                found = found or target == native
            except SecretNotFound:
                pass
        if not found:
            raise SecretNotFound(f"secret {name!r} not found", name=name, backend=self.describe())

    # -- least privilege ---------------------------------------------------
    @classmethod
    def policy(cls, root: str, *, access: str = "read", **options: Any) -> str:
        """``az role assignment create`` for ``access`` (read|rotate) on the app's secrets.

        Options: ``assignee`` (object id or name of the app's identity),
        ``scope`` (the vault's resource id) or ``subscription``/
        ``resource_group``/``vault``, and ``names`` (full secret names: one
        assignment per secret and one for its companion, instead of the vault).
        """
        if access not in ("read", "rotate"):
            raise InvalidValue(f"access must be 'read' or 'rotate', not {access!r}")
        validate_name(root, what="policy root")
        role = ROLE_READ if access == "read" else ROLE_ROTATE
        assignee = options.get("assignee", "<app-identity-object-id>")
        vault_scope = options.get("scope") or (
            f"/subscriptions/{options.get('subscription', '<subscription-id>')}"
            f"/resourceGroups/{options.get('resource_group', '<resource-group>')}"
            f"/providers/Microsoft.KeyVault/vaults/{options.get('vault', '<vault-name>')}"
        )
        names = list(options.get("names") or [])
        scopes = [
            f"{vault_scope}/secrets/{code}"
            for n in names
            for code in (AZURE.encode(n), AZURE.companion(AZURE.encode(n)))
        ] or [vault_scope]
        lines = [
            f"# {access} access to the secrets under {root}/ (Key Vault names starting"
            f" {AZURE.encode_prefix(root + '/')!r})",
            "# Azure RBAC cannot scope a role to a name prefix: give each app/environment its own"
            " vault, or pass names=... for one assignment per secret.",
        ]
        for scope in scopes:
            lines.append(
                f'az role assignment create --role "{role}" --assignee "{assignee}"'
                f' --scope "{scope}"'
            )
        return "\n".join(lines) + "\n"


_HOST = re.compile(
    r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*\Z"
)


def _vault_host(url: str) -> str:
    """The vault host of an ``azure://`` URL; ConfigurationError if it is not one."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if (
        parts.scheme != "azure"
        or not _HOST.match(host)
        or parts.username
        or parts.password
        or parts.path.strip("/")
        or parts.query
        or parts.fragment
    ):
        raise ConfigurationError(
            "Azure backend URL must be azure://<vault-name>.vault.azure.net"
            " (a host name, no path or query)"
        )
    port = parts.port  # ValueError for a bad port: open_backend names it
    return f"{host}:{port}" if port else host


def _seq(tags: Mapping[str, str] | None) -> int:
    try:
        return int((tags or {}).get(SEQ, "0"))
    except ValueError:
        return 0


def _metadata(props: Any) -> dict[str, str]:
    """sekret's metadata tags of a version, plus Key Vault's own expiry as ``expires``."""
    out = {k[len(META) :]: v for k, v in (props.tags or {}).items() if k.startswith(META)}
    expires_on = _aware(getattr(props, "expires_on", None))
    if expires_on is not None and "expires" not in out:
        out["expires"] = expires_on.isoformat()
    return out


def _stamp(when: datetime | None) -> float:
    return when.timestamp() if when is not None else 0.0
