"""``azure://<vault-name>.vault.azure.net``: Azure Key Vault secrets.

Through ``azure-keyvault-secrets`` (extra ``azure``); the credential is
``DefaultAzureCredential`` (managed identity in production) unless a
``TokenCredential`` is passed in, and a ready ``SecretClient`` can be
injected for tests.

How sekret's model maps onto Key Vault (docs/backends/azure.md has more):

* Names: ``_namemap.AZURE`` (reversible, lower-case output, at most 127).
* Values: Key Vault stores strings of at most 25 KB. Text and JSON are
  stored as UTF-8 text; bytes as base64. The content type says which
  (``application/octet-stream; encoding=base64`` for bytes) and the limit is
  applied to the stored string.
* Versions are Key Vault's version ids. Stages are emulated: the *latest*
  version's tags hold the stage map (``sekret-stage-<stage>`` = version id,
  or ``.`` for that version itself), so a write carries the new map in the
  same request that creates the version, and ``move_stage`` is a single
  PATCH of the latest version's tags. Readers resolve ``current`` through
  that map, never by taking the latest version. Key Vault has no conditional
  requests: ``move_stage(expected_version=...)`` is checked then set (not
  atomic against a concurrent writer) and ``Capability.CAS`` is not declared.
* ``sekret-seq`` orders versions (Key Vault's timestamps are whole seconds),
  ``sekret-token`` holds a write's idempotency token, ``sekret-meta-*`` its
  metadata. Key Vault allows 15 tags per version.
* Delete is Key Vault soft delete (the recovery window is the vault's
  setting, not the call's), restore is recover, destroy is delete + purge.
* A disabled version raises ``VersionDisabled`` (a ``VersionNotFound``).

This module must never put a value into a message, a log line or a tag.
"""

from __future__ import annotations

import base64
import binascii
import threading
from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, NoReturn, TypeVar
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
from sekret.backends._namemap import AZURE
from sekret.backends.base import (
    DEFAULT_RECOVERY_DAYS,
    Backend,
    Capability,
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
    UnsupportedOperation,
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
STAGE = "sekret-stage-"
META = "sekret-meta-"
SELF = "."

ROLE_READ = "Key Vault Secrets User"
ROLE_ROTATE = "Key Vault Secrets Officer"


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


class _Latest:
    """The latest version of a secret and the stage map its tags carry."""

    __slots__ = ("secret", "stages", "tags", "version")

    def __init__(self, props: Any, secret: Any = None) -> None:
        self.secret = secret  # None when the latest version is disabled (value unreadable)
        self.version: str = props.version
        self.tags: dict[str, str] = dict(props.tags or {})
        self.stages: dict[str, str] = {
            key[len(STAGE) :]: (self.version if val == SELF else val)
            for key, val in self.tags.items()
            if key.startswith(STAGE)
        }

    @property
    def seq(self) -> int:
        return _seq(self.tags)


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
        self._errors = require("azure.core.exceptions", "azure")
        if client is None:
            sdk = require("azure.keyvault.secrets", "azure")
            if credential is None:
                credential = require("azure.identity", "azure").DefaultAzureCredential()
            client = sdk.SecretClient(self._vault_url, credential, **client_options)
        self._client = client

    @classmethod
    def from_url(cls, url: str, **options: Any) -> AzureBackend:
        parts = urlsplit(url)
        if parts.scheme != "azure" or not parts.netloc or parts.path.strip("/") or parts.query:
            raise ConfigurationError(
                f"Azure backend URL must be azure://<vault-name>.vault.azure.net, not {url!r}"
            )
        return cls(f"https://{parts.netloc}", **options)

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
            return fn()
        except self._errors.AzureError as exc:
            self._fail(exc, name, version)

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

    def _latest(self, name: str, native: str) -> _Latest:
        try:
            secret = self._call(lambda: self._client.get_secret(native), name)
            return _Latest(secret.properties, secret)
        except VersionDisabled:
            # the latest version is disabled: its tags (the stage map) are still listed
            props = self._version_props(name, native)
            if not props:
                raise
            return _Latest(props[-1])
        except SekretError as exc:
            if self._is_missing(exc):
                self._check_deleted(name, native, exc)
                raise SecretNotFound(
                    f"secret {name!r} not found", name=name, backend=self.describe()
                ) from exc
            raise

    def _get(self, name: str, native: str, version: str) -> Any:
        try:
            return self._call(lambda: self._client.get_secret(native, version), name, version)
        except SekretError as exc:
            if self._is_missing(exc):
                raise VersionNotFound(
                    f"secret {name!r} has no version {version!r}",
                    name=name,
                    version=version,
                    backend=self.describe(),
                ) from exc
            raise

    def _secret(self, name: str, item: Any, stages: Mapping[str, str]) -> Secret:
        props = item.properties
        return Secret(
            name,
            props.version,
            _loaded(item.value, props.content_type),
            frozenset(s for s, v in stages.items() if v == props.version),
            _aware(props.created_on),
            _metadata(props.tags),
        )

    # -- reads -------------------------------------------------------------
    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        native = AZURE.encode(name)
        if stage is not None:
            validate_stage(stage)
        latest = self._latest(name, native)
        if version is None:
            wanted = stage or CURRENT
            version = latest.stages.get(wanted)
            if version is None:
                raise VersionNotFound(
                    f"secret {name!r} has no version in stage {wanted!r}",
                    name=name,
                    backend=self.describe(),
                )
        elif stage is not None and latest.stages.get(stage) != version:
            raise VersionNotFound(
                f"secret {name!r} has no version {version!r} in stage {stage!r}",
                name=name,
                version=version,
                backend=self.describe(),
            )
        if version == latest.version and latest.secret is not None:
            item = latest.secret
        else:
            item = self._get(name, native, version)
        return self._secret(name, item, latest.stages)

    def _version_props(self, name: str, native: str) -> list[Any]:
        def fetch() -> list[Any]:
            return list(self._client.list_properties_of_secret_versions(native))

        props = self._call(fetch, name)
        return sorted(props, key=lambda p: (_seq(p.tags), _stamp(p.created_on), p.version))

    def versions(self, name: str) -> list[VersionInfo]:
        native = AZURE.encode(name)
        latest = self._latest(name, native)
        return [
            VersionInfo(
                name,
                p.version,
                frozenset(s for s, v in latest.stages.items() if v == p.version),
                _aware(p.created_on),
                _metadata(p.tags),
            )
            for p in self._version_props(name, native)
        ]

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
        code = AZURE.encode_prefix(prefix)
        found: dict[str, SecretInfo] = {}
        for props in self._call(lambda: list(self._client.list_properties_of_secrets()), None):
            full = self._ours(props.name, code, page_token)
            if full is not None:
                current = (props.tags or {}).get(STAGE + CURRENT)
                found[full] = SecretInfo(
                    full,
                    created=_aware(props.created_on),
                    updated=_aware(props.updated_on),
                    current_version=None if current in (None, SELF) else current,
                    metadata=_metadata(props.tags),
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
        full = AZURE.decode(native)
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
        if expected_version is not None:
            raise UnsupportedOperation(
                f"backend {self.describe()} cannot compare-and-set: Key Vault has no"
                " conditional writes (the backend does not declare CAS)",
                backend=self.describe(),
            )
        value = SecretValue.of(value, max_bytes=self.max_value_bytes)
        text, content_type = _stored(value)
        if len(text.encode("utf-8")) > MAX_STORED_BYTES:
            raise InvalidValue(
                f"secret {name!r}: the stored form of the value is {len(text.encode('utf-8'))}"
                f" bytes; Azure Key Vault's limit is {MAX_STORED_BYTES}",
                name=name,
            )
        user_tags = {META + k: str(v) for k, v in (metadata or {}).items()}
        with self._lock:
            try:
                latest: _Latest | None = self._latest(name, native)
            except SecretNotFound as exc:
                if isinstance(exc, SecretDeleted):
                    raise
                latest = None
            if latest is not None and token is not None:
                found = self._by_token(name, native, token, value, latest.stages)
                if found is not None:
                    return found
            stage_map = dict(latest.stages) if latest else {}
            for stage in sorted(stage_set):
                move_label(stage_map, stage, SELF)
            tags = {STAGE + s: v for s, v in stage_map.items()}
            tags[SEQ] = str((latest.seq if latest else 0) + 1)
            if token is not None:
                tags[TOKEN] = token
            tags.update(user_tags)
            if len(tags) > MAX_TAGS:
                raise InvalidValue(
                    f"secret {name!r}: {len(tags)} tags needed (stages, metadata); Key Vault"
                    f" allows {MAX_TAGS}",
                    name=name,
                )

            def put() -> Any:
                return self._client.set_secret(native, text, content_type=content_type, tags=tags)

            try:
                created = self._call(put, name)
            except Conflict as exc:
                self._check_deleted(name, native, exc)
                raise
        props = created.properties
        new = props.version
        final = {s: (new if v == SELF else v) for s, v in stage_map.items()}
        return VersionInfo(
            name,
            new,
            frozenset(s for s, v in final.items() if v == new),
            _aware(props.created_on),
            _metadata(props.tags),
        )

    def _by_token(
        self, name: str, native: str, token: str, value: SecretValue, stages: Mapping[str, str]
    ) -> VersionInfo | None:
        """The version an earlier write with ``token`` made (Conflict if its value differs)."""
        for props in self._version_props(name, native):
            if (props.tags or {}).get(TOKEN) != token:
                continue
            item = self._get(name, native, props.version)
            if _loaded(item.value, props.content_type) != value:
                raise Conflict(
                    f"secret {name!r}: token already used for a different value",
                    name=name,
                    version=props.version,
                    backend=self.describe(),
                )
            return VersionInfo(
                name,
                props.version,
                frozenset(s for s, v in stages.items() if v == props.version),
                _aware(props.created_on),
                _metadata(props.tags),
            )
        return None

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
        if stage == CURRENT and version is None:
            raise InvalidValue("the current stage cannot be removed, only moved")
        with self._lock:
            latest = self._latest(name, native)
            if version is not None and version != latest.version:
                self._get(name, native, version)  # VersionNotFound if it does not exist
            held = latest.stages.get(stage)
            check_stage_holder(name, stage, held, expected_version, backend=self.describe())
            if held == version:
                return
            stage_map = dict(latest.stages)
            move_label(stage_map, stage, version)
            tags = {k: v for k, v in latest.tags.items() if not k.startswith(STAGE)}
            tags.update(
                {STAGE + s: (SELF if v == latest.version else v) for s, v in stage_map.items()}
            )
            self._call(
                lambda: self._client.update_secret_properties(native, latest.version, tags=tags),
                name,
                latest.version,
            )

    def delete(self, name: str, *, recovery_days: int = DEFAULT_RECOVERY_DAYS) -> datetime:
        """Soft delete; the recovery window is the vault's, ``recovery_days`` is checked only."""
        if not 1 <= recovery_days <= 365:
            raise InvalidValue(f"recovery_days must be 1-365, not {recovery_days}")
        native = AZURE.encode(name)
        self._latest(name, native)  # SecretDeleted / SecretNotFound with the right message
        poller = self._call(
            lambda: self._client.begin_delete_secret(native, _polling_interval=self._polling),
            name,
        )
        deleted = self._call(poller.result, name)
        until = _aware(deleted.scheduled_purge_date)
        return until or datetime.now(UTC) + timedelta(days=recovery_days)

    def restore(self, name: str) -> None:
        native = AZURE.encode(name)
        try:
            poller = self._call(
                lambda: self._client.begin_recover_deleted_secret(
                    native, _polling_interval=self._polling
                ),
                name,
            )
        except SecretNotFound:
            self._latest(name, native)  # live: nothing to restore; else not found
            return
        self._call(poller.wait, name)

    def destroy(self, name: str) -> None:
        native = AZURE.encode(name)
        try:
            poller = self._call(
                lambda: self._client.begin_delete_secret(native, _polling_interval=self._polling),
                name,
            )
            self._call(poller.wait, name)
        except SecretNotFound:
            pass  # already soft-deleted (or never existed: the purge says which)
        try:
            self._call(lambda: self._client.purge_deleted_secret(native), name)
        except SecretNotFound as exc:
            raise SecretNotFound(
                f"secret {name!r} not found", name=name, backend=self.describe()
            ) from exc

    # -- least privilege ---------------------------------------------------
    @classmethod
    def policy(cls, root: str, *, access: str = "read", **options: Any) -> str:
        """``az role assignment create`` for ``access`` (read|rotate) on the app's secrets.

        Options: ``assignee`` (object id or name of the app's identity),
        ``scope`` (the vault's resource id) or ``subscription``/
        ``resource_group``/``vault``, and ``names`` (full secret names: one
        assignment per secret, scoped to that secret, instead of the vault).
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
        scopes = [f"{vault_scope}/secrets/{AZURE.encode(n)}" for n in names] or [vault_scope]
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


def _seq(tags: Mapping[str, str] | None) -> int:
    try:
        return int((tags or {}).get(SEQ, "0"))
    except ValueError:
        return 0


def _metadata(tags: Mapping[str, str] | None) -> dict[str, str]:
    return {k[len(META) :]: v for k, v in (tags or {}).items() if k.startswith(META)}


def _stamp(when: datetime | None) -> float:
    return when.timestamp() if when is not None else 0.0
