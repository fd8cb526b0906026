"""``aws://<region>``: AWS Secrets Manager through ``boto3``.

Full sekret names are AWS secret names (``arrwdb/production/api-key``),
version ids are AWS VersionIds, and the stages are AWS's own labels:
``current``/``pending``/``previous`` are AWSCURRENT/AWSPENDING/AWSPREVIOUS,
any other label is used as it is.

How sekret's model is carried by the service (docs/backends/aws.md says more):

* **Kinds.** Binary values are ``SecretBinary``; text and JSON are both
  ``SecretString``. The JSON kind is recorded in the VersionId sekret
  chooses for the version (``sekret-json-<32 hex>``; text and binary get a
  plain UUID), so it is exact per version, needs no extra call to read, and
  never changes the stored string that other AWS tools see.
* **Idempotency.** The ClientRequestToken (= VersionId) is derived from the
  caller's token (UUIDv5) and the kind. Before a tokened write the existing
  versions are checked: same token and value returns that version, another
  value is ``Conflict``.
* **Compare-and-set.** AWS has no conditional put, but moving AWSCURRENT
  with ``RemoveFromVersionId`` fails unless that version holds the label. A
  CAS write stores the new version under a temporary label and then moves
  AWSCURRENT from the expected version: atomic on the service. A refused
  move leaves an unlabeled (deprecated) version that AWS purges on its own.
* **Metadata.** AWS has no per-version metadata: a write that creates the
  secret stores its metadata as tags (``description`` as the description);
  later writes do not retag (a rotator must not need TagResource, which
  could rewrite tags that IAM conditions rely on).
* **Limits AWS enforces and emulators may not:** 64 KiB values, the name
  character set and length, 20 ids per batch, a 7-30 day recovery window.

Errors are translated here, at the boundary, ``raise ... from exc``; no
botocore exception reaches the caller. A message never carries a value, and
never the service's own message text (AWS validation messages can echo
request parameters).

``boto3``/``botocore`` are imported in the constructor only.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final
from urllib.parse import parse_qsl, urlsplit

from sekret._names import validate_name
from sekret._values import (
    CURRENT,
    MAX_VALUE_BYTES,
    PENDING,
    PREVIOUS,
    Page,
    Secret,
    SecretInfo,
    SecretValue,
    VersionInfo,
    validate_stage,
)
from sekret.backends.base import (
    ABSENT,
    DEFAULT_RECOVERY_DAYS,
    Backend,
    Capability,
    check_expected_version,
    require,
)
from sekret.exceptions import (
    AccessDenied,
    AuthenticationFailed,
    BackendUnavailable,
    ConfigurationError,
    Conflict,
    DecryptionError,
    InvalidSecretName,
    InvalidValue,
    SecretDeleted,
    SecretNotFound,
    SekretError,
    Throttled,
    VersionNotFound,
)

__all__ = ["AwsBackend"]

Clock = Callable[[], datetime]

STAGE_TO_AWS: Final[Mapping[str, str]] = {
    CURRENT: "AWSCURRENT",
    PENDING: "AWSPENDING",
    PREVIOUS: "AWSPREVIOUS",
}
STAGE_FROM_AWS: Final[Mapping[str, str]] = {aws: ours for ours, aws in STAGE_TO_AWS.items()}

JSON_VERSION_PREFIX: Final = "sekret-json-"
"""VersionIds of JSON values start with this; text and binary versions are plain UUIDs."""
TEMP_LABEL_PREFIX: Final = "sekret-tmp-"
"""A label held by a version only between the two calls of a CAS write (never shown)."""
_TOKEN_NAMESPACE: Final = uuid.UUID("6f0c5e8a-3b1d-5a7e-9c42-1d2b8e7f4a90")

BATCH_LIMIT: Final = 20
MAX_AWS_NAME: Final = 512
MIN_RECOVERY_DAYS: Final = 7
MAX_RECOVERY_DAYS: Final = 30
_AWS_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}\Z")
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}\Z")
_ACCOUNT = re.compile(r"\d{12}\Z")
_PARTITION = re.compile(r"aws(-[a-z]+)*\Z")
_READ_LIMIT = 4 * MAX_VALUE_BYTES  # a 64 Ki-character SecretString may be longer in UTF-8
_RETRY_MODES = ("standard", "adaptive", "legacy")
_URL_OPTIONS = (
    "endpoint_url",
    "profile",
    "role_arn",
    "role_session_name",
    "external_id",
    "sts_endpoint_url",
    "retry_mode",
    "max_attempts",
    "connect_timeout",
    "read_timeout",
    "kms_key_id",
)

_AUTH_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "AuthFailure",
    }
)
_THROTTLE_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "ThrottledException",
        "SlowDown",
    }
)
_UNAVAILABLE_CODES = frozenset(
    {"InternalServiceError", "InternalFailure", "ServiceUnavailable", "ServiceUnavailableException"}
)
_INPUT_CODES = frozenset(
    {"InvalidParameterException", "ValidationException", "InvalidNextTokenException"}
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _utc(when: object) -> datetime | None:
    if isinstance(when, datetime):
        return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    return None


def _is_version_id(version: str) -> bool:
    return isinstance(version, str) and 32 <= len(version) <= 64


def version_id_for(kind: str, token: str | None) -> str:
    """The VersionId (= ClientRequestToken) sekret uses for a value of ``kind``."""
    base = uuid.uuid5(_TOKEN_NAMESPACE, token) if token is not None else uuid.uuid4()
    return f"{JSON_VERSION_PREFIX}{base.hex}" if kind == "json" else str(base)


def check_aws_name(name: object) -> str:
    """Our grammar, then what AWS itself demands of a secret name (charset, length)."""
    text = validate_name(name)
    if len(text) > MAX_AWS_NAME or not _AWS_NAME.match(text):
        raise InvalidSecretName(
            f"secret name {text[:40]!r} is not a valid AWS Secrets Manager name:"
            f" use 1-{MAX_AWS_NAME} of [A-Za-z0-9/_+=.@-]"
        )
    return text


def to_aws_label(stage: str) -> str:
    return STAGE_TO_AWS.get(validate_stage(stage), stage)


def from_aws_labels(labels: object) -> frozenset[str]:
    if not isinstance(labels, list | tuple):
        return frozenset()
    return frozenset(
        STAGE_FROM_AWS.get(label, label)
        for label in labels
        if isinstance(label, str) and not label.startswith(TEMP_LABEL_PREFIX)
    )


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class AwsBackend(Backend):
    """AWS Secrets Manager. Thread-safe: one botocore client, shared."""

    scheme: ClassVar[str] = "aws"
    capabilities = Capability.full() | Capability.BATCH_READ
    max_value_bytes: int = MAX_VALUE_BYTES

    def __init__(
        self,
        region: str | None = None,
        *,
        endpoint_url: str | None = None,
        profile: str | None = None,
        role_arn: str | None = None,
        role_session_name: str = "sekret",
        external_id: str | None = None,
        sts_endpoint_url: str | None = None,
        retry_mode: str = "standard",
        max_attempts: int = 5,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        kms_key_id: str | None = None,
        client: Any = None,
        clock: Clock = utcnow,
    ) -> None:
        self._boto3 = require("boto3", "aws")
        self._errors = require("botocore.exceptions", "aws")
        botocore_config = require("botocore.config", "aws")
        if retry_mode not in _RETRY_MODES:
            raise ConfigurationError(
                f"aws retry_mode {retry_mode!r} is not one of {', '.join(_RETRY_MODES)}"
            )
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ConfigurationError(
                f"aws max_attempts must be a positive int, not {max_attempts!r}"
            )
        self._endpoint_url = endpoint_url
        self._role_arn = role_arn
        self._role_session_name = role_session_name
        self._external_id = external_id
        self._sts_endpoint_url = sts_endpoint_url
        self._kms_key_id = kms_key_id
        self._clock = clock
        self._lock = threading.Lock()
        self._expires: datetime | None = None
        self._batch_allowed = True
        self._closed = False
        self._config = botocore_config.Config(
            retries={"mode": retry_mode, "total_max_attempts": max_attempts},
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            user_agent_extra="sekret",
        )
        if client is not None:
            self._session = None
            self._client: Any = client
            self._region = region or str(client.meta.region_name)
            return
        try:
            self._session = self._boto3.session.Session(profile_name=profile, region_name=region)
        except self._errors.ProfileNotFound as exc:
            raise ConfigurationError(f"aws profile {profile!r} is not configured") from exc
        except self._errors.BotoCoreError as exc:
            raise ConfigurationError(
                f"aws session could not be set up: {type(exc).__name__}"
            ) from exc
        self._region = region or self._session.region_name or ""
        if not self._region:
            raise ConfigurationError(
                "no AWS region: give one in the URL (aws://us-east-1) or set AWS_REGION"
            )
        # With a role, the client is built at first use (no I/O in the constructor).
        self._client = None if role_arn else self._new_client()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> AwsBackend:
        """``aws://<region>?endpoint_url=...&profile=...&role_arn=...&retry_mode=...``."""
        parts = urlsplit(url)
        if parts.username or parts.password:
            raise ConfigurationError(
                "aws URLs must not carry credentials; use a profile, a role or the environment"
            )
        query: dict[str, Any] = {}
        for key, raw in parse_qsl(parts.query, keep_blank_values=False):
            if key not in _URL_OPTIONS:
                raise ConfigurationError(
                    f"unknown aws URL option {key!r}; known: {', '.join(_URL_OPTIONS)}"
                )
            query[key] = raw
        for key in ("max_attempts",):
            if key in query:
                query[key] = _int_option(key, query[key])
        for key in ("connect_timeout", "read_timeout"):
            if key in query:
                query[key] = _float_option(key, query[key])
        region = parts.hostname or None
        return cls(region, **{**query, **options})

    def describe(self) -> str:
        if self._endpoint_url:
            endpoint = urlsplit(self._endpoint_url)
            host = endpoint.hostname or ""
            port = f":{endpoint.port}" if endpoint.port else ""
            shown = f"{endpoint.scheme}://{host}{port}{endpoint.path}"  # never userinfo
            return f"aws://{self._region}?endpoint_url={shown}"
        return f"aws://{self._region}"

    @property
    def identity(self) -> str | None:
        """The IAM role this backend assumes, when one is configured (never keys)."""
        return self._role_arn

    def close(self) -> None:
        self._closed = True
        client, self._client = self._client, None
        if client is not None and self._session is not None:
            client.close()

    # -- clients and calls ---------------------------------------------------
    def _new_client(self, credentials: Mapping[str, Any] | None = None) -> Any:
        assert self._session is not None
        keys: dict[str, Any] = {}
        if credentials is not None:
            keys = {
                "aws_access_key_id": credentials["AccessKeyId"],
                "aws_secret_access_key": credentials["SecretAccessKey"],
                "aws_session_token": credentials["SessionToken"],
            }
        return self._session.client(
            "secretsmanager",
            region_name=self._region,
            endpoint_url=self._endpoint_url,
            config=self._config,
            **keys,
        )

    def _sm(self) -> Any:
        """The Secrets Manager client; with a role, (re)assumed before it expires."""
        client = self._client
        if self._closed:
            raise BackendUnavailable(f"backend {self.describe()} is closed")
        if self._role_arn is None:
            if client is None:
                raise BackendUnavailable(f"backend {self.describe()} is closed")
            return client
        expires = self._expires
        if client is not None and expires is not None and self._clock() < expires:
            return client
        with self._lock:
            if (
                self._client is None
                or self._expires is None
                or self._clock() >= self._expires
            ):
                self._client = self._assume_role()
            return self._client

    def _assume_role(self) -> Any:
        assert self._session is not None
        assert self._role_arn is not None
        sts = self._session.client(
            "sts",
            region_name=self._region,
            endpoint_url=self._sts_endpoint_url,
            config=self._config,
        )
        args: dict[str, Any] = {
            "RoleArn": self._role_arn,
            "RoleSessionName": self._role_session_name,
        }
        if self._external_id:
            args["ExternalId"] = self._external_id
        try:
            creds = sts.assume_role(**args)["Credentials"]
        except (self._errors.ClientError, self._errors.BotoCoreError) as exc:
            raise self._translate(exc, f"assuming role {self._role_arn!r}", None) from exc
        finally:
            sts.close()
        expiration = _utc(creds.get("Expiration")) or self._clock() + timedelta(minutes=15)
        self._expires = expiration - timedelta(minutes=5)
        return self._new_client(creds)

    def _call(
        self,
        operation: str,
        what: str,
        name: str | None,
        *,
        overrides: Mapping[str, type[SekretError]] | None = None,
        **params: Any,
    ) -> dict[str, Any]:
        """One API call; every botocore failure leaves as a sekret error."""
        try:
            response: dict[str, Any] = getattr(self._sm(), operation)(**params)
        except (self._errors.ClientError, self._errors.BotoCoreError) as exc:
            error = self._translate(exc, what, name, overrides=overrides)
            if isinstance(error, SecretDeleted) and name is not None:
                error = self._with_deletion_date(error, name)
            raise error from exc
        return response

    def _translate(
        self,
        exc: BaseException,
        what: str,
        name: str | None,
        *,
        overrides: Mapping[str, type[SekretError]] | None = None,
    ) -> SekretError:
        errors = self._errors
        if isinstance(exc, errors.ClientError):
            error = exc.response.get("Error", {})
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            return self._from_code(
                str(error.get("Code", "")),
                str(error.get("Message", "")),
                what,
                name,
                status=int(status or 0),
                overrides=overrides,
            )
        backend = self.describe()
        on = f" on {name!r}" if name else ""
        credential_errors = tuple(
            getattr(errors, n)
            for n in (
                "NoCredentialsError",
                "PartialCredentialsError",
                "CredentialRetrievalError",
                "NoAuthTokenError",
                "TokenRetrievalError",
                "SSOError",
                "SSOTokenLoadError",
                "UnauthorizedSSOTokenError",
                "UnknownCredentialError",
            )
            if hasattr(errors, n)
        )
        if isinstance(exc, credential_errors):
            return AuthenticationFailed(
                f"{what}{on} failed: no usable AWS credentials ({type(exc).__name__})",
                name=name,
                backend=backend,
            )
        if isinstance(exc, errors.NoRegionError):
            return ConfigurationError(f"{what}{on} failed: no AWS region", backend=backend)
        if isinstance(exc, errors.ParamValidationError):
            # botocore's message may quote the parameter; never pass it on.
            return InvalidValue(
                f"{what}{on} failed: AWS rejected a request parameter", name=name, backend=backend
            )
        return BackendUnavailable(
            f"{what}{on} failed: AWS Secrets Manager at {backend} is unreachable"
            f" ({type(exc).__name__})",
            name=name,
            backend=backend,
        )

    def _from_code(
        self,
        code: str,
        message: str,
        what: str,
        name: str | None,
        *,
        status: int = 0,
        overrides: Mapping[str, type[SekretError]] | None = None,
    ) -> SekretError:
        """Map an AWS error code to a sekret error. ``message`` is inspected, never shown."""
        backend = self.describe()
        on = f" {name!r}" if name else ""
        tail = f"(AWS {code or status})"
        if overrides and code in overrides:
            return overrides[code](f"{what}{on} was refused {tail}", name=name, backend=backend)
        if code == "ResourceNotFoundException":
            return SecretNotFound(f"secret{on} not found {tail}", name=name, backend=backend)
        if code == "InvalidRequestException" and "delet" in message.lower():
            return SecretDeleted(
                f"secret{on} is scheduled for deletion; restore it first {tail}",
                name=name,
                backend=backend,
            )
        if code in _AUTH_CODES:
            return AuthenticationFailed(
                f"{what}{on}: AWS did not accept the credentials {tail}", name=name, backend=backend
            )
        if code in ("AccessDeniedException", "AccessDenied"):
            return AccessDenied(f"{what}{on}: access denied {tail}", name=name, backend=backend)
        if code == "DecryptionFailure":
            return DecryptionError(
                f"{what}{on}: AWS could not decrypt the value with its KMS key {tail}",
                name=name,
                backend=backend,
            )
        if code == "EncryptionFailure":
            return AccessDenied(
                f"{what}{on}: AWS could not encrypt with the KMS key (is it enabled and"
                f" usable by this caller?) {tail}",
                name=name,
                backend=backend,
            )
        if code in _THROTTLE_CODES:
            return Throttled(
                f"{what}{on}: AWS is throttling requests (retries exhausted) {tail}",
                name=name,
                backend=backend,
            )
        if code == "ResourceExistsException":
            return Conflict(f"{what}{on}: it already exists {tail}", name=name, backend=backend)
        if code in ("InvalidRequestException", "PreconditionNotMetException"):
            return Conflict(
                f"{what}{on}: not possible in the secret's current state {tail}",
                name=name,
                backend=backend,
            )
        if code == "LimitExceededException":
            return Conflict(
                f"{what}{on}: an AWS Secrets Manager quota would be exceeded {tail}",
                name=name,
                backend=backend,
            )
        if code in _INPUT_CODES:
            return InvalidValue(
                f"{what}{on}: AWS rejected the request {tail}", name=name, backend=backend
            )
        if code in _UNAVAILABLE_CODES or status >= 500:
            return BackendUnavailable(
                f"{what}{on}: AWS Secrets Manager is unavailable {tail}", name=name, backend=backend
            )
        return SekretError(f"{what}{on} failed {tail}", name=name, backend=backend)

    def _with_deletion_date(self, error: SecretDeleted, name: str) -> SecretDeleted:
        try:
            described = self._sm().describe_secret(SecretId=name)
        except (self._errors.ClientError, self._errors.BotoCoreError):
            return error
        until = _utc(described.get("DeletedDate"))
        if until is None:
            return error
        return SecretDeleted(
            f"secret {name!r} is scheduled for deletion on {until:%Y-%m-%d}; restore it first",
            name=name,
            backend=self.describe(),
            recoverable_until=until,
        )

    def _describe(self, name: str, what: str) -> dict[str, Any]:
        """DescribeSecret; a secret scheduled for deletion raises SecretDeleted."""
        described = self._call("describe_secret", what, name, SecretId=name)
        until = _utc(described.get("DeletedDate"))
        if until is not None:
            raise SecretDeleted(
                f"secret {name!r} is scheduled for deletion on {until:%Y-%m-%d}; restore it first",
                name=name,
                backend=self.describe(),
                recoverable_until=until,
            )
        return described

    # -- conversions ---------------------------------------------------------
    def _secret(self, name: str, response: Mapping[str, Any]) -> Secret:
        version = str(response["VersionId"])
        if response.get("SecretBinary") is not None:
            value = SecretValue(bytes(response["SecretBinary"]), "bytes", max_bytes=_READ_LIMIT)
        else:
            text = str(response.get("SecretString", ""))
            if version.startswith(JSON_VERSION_PREFIX):
                value = SecretValue(text.encode("utf-8"), "json", max_bytes=_READ_LIMIT)
            else:
                value = SecretValue(text.encode("utf-8"), "text", max_bytes=_READ_LIMIT)
        return Secret(
            name,
            version,
            value,
            from_aws_labels(response.get("VersionStages")),
            _utc(response.get("CreatedDate")),
        )

    @staticmethod
    def _current_of(stages_by_version: object) -> str | None:
        if isinstance(stages_by_version, Mapping):
            for version, labels in stages_by_version.items():
                if isinstance(labels, list) and "AWSCURRENT" in labels:
                    return str(version)
        return None

    @staticmethod
    def _metadata(described: Mapping[str, Any]) -> dict[str, str]:
        out = {
            str(tag.get("Key")): str(tag.get("Value", ""))
            for tag in described.get("Tags") or []
            if isinstance(tag, Mapping) and tag.get("Key")
        }
        if described.get("Description"):
            out["description"] = str(described["Description"])
        return out

    # -- reads ---------------------------------------------------------------
    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        check_aws_name(name)
        label = to_aws_label(stage) if stage is not None else None
        params: dict[str, Any] = {"SecretId": name}
        if version is not None:
            if not _is_version_id(version):
                self._describe(name, "reading")
                raise self._no_version(name, version, stage)
            params["VersionId"] = version
        else:
            # Explicit even for current: moto's default pointer lags behind stage moves.
            params["VersionStage"] = label or "AWSCURRENT"
        try:
            response = self._call("get_secret_value", "reading", name, **params)
        except SecretDeleted:
            raise
        except SecretNotFound as exc:
            self._describe(name, "reading")  # raises if the secret itself is missing
            raise self._no_version(name, version, stage or CURRENT) from exc.__cause__
        secret = self._secret(name, response)
        if version is not None and stage is not None and stage not in secret.stages:
            raise self._no_version(name, version, stage)
        return secret

    def _no_version(self, name: str, version: str | None, stage: str | None) -> VersionNotFound:
        which = f"version {version!r}" if version else "a version"
        return VersionNotFound(
            f"secret {name!r} has no {which}" + (f" in stage {stage!r}" if stage else ""),
            name=name,
            version=version,
            backend=self.describe(),
        )

    def read_many(self, names: Sequence[str]) -> dict[str, Secret | SekretError]:
        """Current versions through BatchGetSecretValue, 20 names per call."""
        out: dict[str, Secret | SekretError] = {}
        wanted: list[str] = []
        for name in names:
            if name in out or name in wanted:
                continue
            try:
                wanted.append(check_aws_name(name))
            except InvalidSecretName as exc:
                out[name] = exc
        for chunk in _chunks(wanted, BATCH_LIMIT):
            if self._batch_allowed:
                out.update(self._batch(chunk))
            else:
                out.update(super().read_many(chunk))
        return {name: out[name] for name in names}

    def _batch(self, chunk: Sequence[str]) -> dict[str, Secret | SekretError]:
        out: dict[str, Secret | SekretError] = {}
        token: str | None = None
        while True:
            params: dict[str, Any] = {"SecretIdList": list(chunk)}
            if token:
                params["NextToken"] = token
            try:
                response = self._call("batch_get_secret_value", "batch reading", None, **params)
            except AuthenticationFailed as exc:
                return dict.fromkeys(chunk, exc)
            except AccessDenied:
                # No secretsmanager:BatchGetSecretValue: GetSecretValue may still be granted.
                self._batch_allowed = False
                return super().read_many(chunk)
            except SekretError as exc:
                return dict.fromkeys(chunk, exc)
            for item in response.get("SecretValues") or []:
                name = str(item.get("Name"))
                if name in chunk:
                    out[name] = self._secret(name, item)
            for error in response.get("Errors") or []:
                name = str(error.get("SecretId"))
                if name in chunk:
                    out[name] = self._from_code(
                        str(error.get("ErrorCode", "")),
                        str(error.get("Message", "")),
                        "reading",
                        name,
                    )
            token = response.get("NextToken") or None
            if not token:
                break
        for name in chunk:
            if name not in out:
                out[name] = SecretNotFound(
                    f"secret {name!r} not found (no value returned)",
                    name=name,
                    backend=self.describe(),
                )
        return out

    def versions(self, name: str) -> list[VersionInfo]:
        check_aws_name(name)
        self._describe(name, "listing versions of")
        found: list[tuple[datetime | None, VersionInfo]] = []
        token: str | None = None
        while True:
            params: dict[str, Any] = {
                "SecretId": name,
                "IncludeDeprecated": True,
                "MaxResults": 100,
            }
            if token:
                params["NextToken"] = token
            response = self._call("list_secret_version_ids", "listing versions of", name, **params)
            for item in response.get("Versions") or []:
                created = _utc(item.get("CreatedDate"))
                labels = from_aws_labels(item.get("VersionStages"))
                info = VersionInfo(name, str(item["VersionId"]), labels, created)
                found.append((created, info))
            token = response.get("NextToken") or None
            if not token:
                break
        oldest = datetime.min.replace(tzinfo=UTC)
        found.sort(key=lambda pair: pair[0] or oldest)  # stable: ties keep the service's order
        return [info for _, info in found]

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
        params: dict[str, Any] = {
            "MaxResults": min(page_size, 100),
            "IncludePlannedDeletion": include_deleted,
        }
        if prefix:
            params["Filters"] = [{"Key": "name", "Values": [prefix]}]
        if page_token:
            params["NextToken"] = page_token
        response = self._call("list_secrets", "listing", prefix or None, **params)
        items = []
        for entry in response.get("SecretList") or []:
            name = str(entry.get("Name", ""))
            if not name.startswith(prefix):  # the service's name filter is looser
                continue
            deleted_at = _utc(entry.get("DeletedDate"))
            if deleted_at is not None and not include_deleted:
                continue
            items.append(
                SecretInfo(
                    name,
                    created=_utc(entry.get("CreatedDate")),
                    updated=_utc(entry.get("LastChangedDate")),
                    current_version=self._current_of(entry.get("SecretVersionsToStages")),
                    deleted=deleted_at is not None,
                    recoverable_until=deleted_at,
                    metadata=self._metadata(entry),
                )
            )
        return Page.of(items, response.get("NextToken") or None)

    # -- writes --------------------------------------------------------------
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
        check_aws_name(name)
        labels = sorted({to_aws_label(s) for s in stages})
        value = SecretValue.of(value, max_bytes=self.max_value_bytes)
        if value.size == 0:
            raise InvalidValue(
                f"secret {name!r}: AWS Secrets Manager cannot store an empty value",
                name=name,
                backend=self.describe(),
            )
        tags, description = _tags(metadata)
        payload: dict[str, Any] = (
            {"SecretBinary": value.bytes()}
            if value.kind == "bytes"
            else {"SecretString": value.text()}
        )
        version_id = version_id_for(value.kind, token)
        try:
            described: dict[str, Any] | None = self._describe(name, "writing")
        except SecretDeleted:
            raise
        except SecretNotFound:
            described = None
        if expected_version is not None:
            current = self._current_of(described.get("VersionIdsToStages")) if described else None
            check_expected_version(
                name,
                expected_version,
                exists=described is not None,
                current=current,
                backend=self.describe(),
            )
        if token is not None and described is not None:
            existing = self._token_version(name, token, value)
            if existing is not None:
                return existing
        if described is None:
            try:
                info = self._create(name, version_id, payload, labels, tags, description)
            except Conflict:
                if expected_version == ABSENT:
                    raise
                # Someone created it between our describe and create: add a version instead.
                self._describe(name, "writing")
            else:
                return info
        if expected_version or not labels:
            return self._put_then_move(name, version_id, payload, labels, expected_version)
        response = self._call(
            "put_secret_value",
            "writing",
            name,
            SecretId=name,
            ClientRequestToken=version_id,
            VersionStages=labels,
            **payload,
        )
        labels_now = from_aws_labels(response.get("VersionStages"))
        return VersionInfo(name, str(response["VersionId"]), labels_now)

    def _create(
        self,
        name: str,
        version_id: str,
        payload: Mapping[str, Any],
        labels: Sequence[str],
        tags: Sequence[Mapping[str, str]],
        description: str | None,
    ) -> VersionInfo:
        params: dict[str, Any] = {"Name": name}
        if tags:
            params["Tags"] = list(tags)
        if description is not None:
            params["Description"] = description
        if self._kms_key_id:
            params["KmsKeyId"] = self._kms_key_id
        if list(labels) == ["AWSCURRENT"]:
            params["ClientRequestToken"] = version_id
            response = self._call("create_secret", "creating", name, **params, **payload)
            return VersionInfo(name, str(response["VersionId"]), frozenset({CURRENT}))
        # Other stages: create it empty, then add the version (AWS makes a first version
        # current whatever its labels say).
        self._call("create_secret", "creating", name, **params)
        return self._put_then_move(name, version_id, payload, labels, None)

    def _put_then_move(
        self,
        name: str,
        version_id: str,
        payload: Mapping[str, Any],
        labels: Sequence[str],
        expected_version: str | None,
    ) -> VersionInfo:
        """Store under a temporary label, then move AWSCURRENT atomically (CAS on AWS)."""
        temp = f"{TEMP_LABEL_PREFIX}{uuid.uuid4().hex[:16]}"
        others = [label for label in labels if label != "AWSCURRENT"]
        response = self._call(
            "put_secret_value",
            "writing",
            name,
            SecretId=name,
            ClientRequestToken=version_id,
            VersionStages=[temp, *others],
            **payload,
        )
        new = str(response["VersionId"])
        stages = set(from_aws_labels(response.get("VersionStages")))
        try:
            if "AWSCURRENT" in labels and CURRENT not in stages:
                move: dict[str, Any] = {"MoveToVersionId": new}
                if expected_version:
                    move["RemoveFromVersionId"] = expected_version
                self._call(
                    "update_secret_version_stage",
                    "writing",
                    name,
                    overrides={"InvalidParameterException": Conflict},
                    SecretId=name,
                    VersionStage="AWSCURRENT",
                    **move,
                )
                stages.add(CURRENT)
        finally:
            with contextlib.suppress(SekretError):  # a stray temp label is harmless, never shown
                self._call(
                    "update_secret_version_stage",
                    "writing",
                    name,
                    SecretId=name,
                    VersionStage=temp,
                    RemoveFromVersionId=new,
                )
        return VersionInfo(name, new, frozenset(stages))

    def _token_version(self, name: str, token: str, value: SecretValue) -> VersionInfo | None:
        """The version an earlier write with ``token`` made, if any; Conflict if it differs."""
        candidates = {version_id_for(kind, token) for kind in ("text", "json")}
        for info in self.versions(name):
            if info.version not in candidates:
                continue
            stored = self.read(name, version=info.version)
            if stored.value != value:
                raise Conflict(
                    f"secret {name!r}: token already used for a different value",
                    name=name,
                    version=info.version,
                    backend=self.describe(),
                )
            return info
        return None

    def _all_versions(self, name: str) -> set[str]:
        return {info.version for info in self.versions(name)}

    def move_stage(
        self,
        name: str,
        stage: str,
        version: str | None,
        *,
        expected_version: str | None = None,
    ) -> None:
        check_aws_name(name)
        label = to_aws_label(stage)
        if label == "AWSCURRENT" and version is None:
            raise InvalidValue("the current stage cannot be removed, only moved")
        described = self._describe(name, "moving a stage of")
        by_version = described.get("VersionIdsToStages") or {}
        holder = next((str(v) for v, ls in by_version.items() if label in (ls or [])), None)
        if (
            version is not None
            and version not in by_version
            and (not _is_version_id(version) or version not in self._all_versions(name))
        ):
            raise self._no_version(name, version, None)
        if expected_version is not None and holder != (expected_version or None):
            raise Conflict(
                f"secret {name!r}: stage {stage!r} is not on version {expected_version!r}",
                name=name,
                backend=self.describe(),
            )
        if holder == version:
            return
        params: dict[str, Any] = {"SecretId": name, "VersionStage": label}
        if version is not None:
            params["MoveToVersionId"] = version
        if holder is not None:
            params["RemoveFromVersionId"] = holder
        self._call(
            "update_secret_version_stage",
            "moving a stage of",
            name,
            overrides={"InvalidParameterException": Conflict},
            **params,
        )

    def delete(self, name: str, *, recovery_days: int = DEFAULT_RECOVERY_DAYS) -> datetime:
        check_aws_name(name)
        if not MIN_RECOVERY_DAYS <= recovery_days <= MAX_RECOVERY_DAYS:
            raise InvalidValue(
                f"recovery_days={recovery_days} for {name!r}: AWS Secrets Manager keeps a deleted"
                f" secret {MIN_RECOVERY_DAYS}-{MAX_RECOVERY_DAYS} days",
                name=name,
                backend=self.describe(),
            )
        response = self._call(
            "delete_secret", "deleting", name, SecretId=name, RecoveryWindowInDays=recovery_days
        )
        return _utc(response.get("DeletionDate")) or self._clock() + timedelta(days=recovery_days)

    def restore(self, name: str) -> None:
        check_aws_name(name)
        self._call("restore_secret", "restoring", name, SecretId=name)

    def destroy(self, name: str) -> None:
        check_aws_name(name)
        # A forced delete of a missing name succeeds on AWS; say SecretNotFound instead.
        self._call("describe_secret", "destroying", name, SecretId=name)
        self._call(
            "delete_secret", "destroying", name, SecretId=name, ForceDeleteWithoutRecovery=True
        )

    # -- least privilege -----------------------------------------------------
    @classmethod
    def policy(cls, root: str, *, access: str = "read", **options: Any) -> str:
        """IAM policy JSON for ``access`` (read|rotate|admin) to the secrets under ``root``.

        Options: ``region`` and ``account`` (default ``*``), ``kms_key_arn`` (adds the
        KMS permissions, limited to use through Secrets Manager), ``partition`` (``aws``).
        """
        unknown = sorted(set(options) - {"region", "account", "kms_key_arn", "partition"})
        if unknown:
            raise ConfigurationError(
                f"unknown aws policy option(s) {', '.join(unknown)};"
                " known: region, account, kms_key_arn, partition"
            )
        return iam_policy(root, access=access, **options)


def iam_policy(
    root: str,
    *,
    access: str = "read",
    region: str = "*",
    account: str = "*",
    kms_key_arn: str | None = None,
    partition: str = "aws",
) -> str:
    """The IAM policy document behind ``AwsBackend.policy`` (see there)."""
    validate_name(root, what="policy root")
    if access not in ("read", "rotate", "admin"):
        raise InvalidValue(f"access must be 'read', 'rotate' or 'admin', not {access!r}")
    if region != "*" and not _REGION.match(region):
        raise InvalidValue(f"{region!r} is not an AWS region (e.g. us-east-1) or '*'")
    if account != "*" and not _ACCOUNT.match(account):
        raise InvalidValue(f"{account!r} is not a 12-digit AWS account id or '*'")
    if not _PARTITION.match(partition):
        raise InvalidValue(f"{partition!r} is not an AWS partition (aws, aws-cn, aws-us-gov)")
    if kms_key_arn is not None and not re.match(
        rf"arn:{re.escape(partition)}:kms:[a-z0-9-]+:\d{{12}}:(key|alias)/[A-Za-z0-9/_-]+\Z",
        kms_key_arn,
    ):
        raise InvalidValue(f"{kms_key_arn[:80]!r} is not a KMS key ARN in partition {partition!r}")
    actions = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    if access in ("rotate", "admin"):
        actions += [
            "secretsmanager:ListSecretVersionIds",
            "secretsmanager:PutSecretValue",
            "secretsmanager:UpdateSecretVersionStage",
        ]
    if access == "admin":
        actions += [
            "secretsmanager:CreateSecret",
            "secretsmanager:DeleteSecret",
            "secretsmanager:RestoreSecret",
            "secretsmanager:TagResource",
            "secretsmanager:UpdateSecret",
        ]
    statements: list[dict[str, Any]] = [
        {
            "Sid": f"Sekret{access.capitalize()}Secrets",
            "Effect": "Allow",
            "Action": actions,
            "Resource": f"arn:{partition}:secretsmanager:{region}:{account}:secret:{root}/*",
        },
        {
            # Grants nothing by itself: every secret in a batch needs GetSecretValue too.
            "Sid": "SekretBatchRead",
            "Effect": "Allow",
            "Action": ["secretsmanager:BatchGetSecretValue"]
            + (["secretsmanager:ListSecrets"] if access == "admin" else []),
            "Resource": "*",
        },
    ]
    if kms_key_arn is not None:
        kms = ["kms:Decrypt"] + (["kms:GenerateDataKey"] if access != "read" else [])
        statements.append(
            {
                "Sid": "SekretKmsViaSecretsManager",
                "Effect": "Allow",
                "Action": kms,
                "Resource": kms_key_arn,
                "Condition": {
                    "StringLike": {"kms:ViaService": f"secretsmanager.{region}.amazonaws.com"}
                },
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, indent=2)


def _tags(metadata: Mapping[str, str] | None) -> tuple[list[dict[str, str]], str | None]:
    """Split write metadata into AWS tags and the secret's description."""
    tags: list[dict[str, str]] = []
    description: str | None = None
    for key, value in (metadata or {}).items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise InvalidValue("secret metadata keys and values must be str")
        if key == "description":
            if len(value) > 2048:
                raise InvalidValue("secret description is longer than 2048 characters")
            description = value
            continue
        if not 1 <= len(key) <= 128 or len(value) > 256 or key.lower().startswith("aws:"):
            raise InvalidValue(
                f"metadata key {key[:40]!r} cannot be an AWS tag: keys are 1-128 characters"
                " and not 'aws:...', values at most 256"
            )
        tags.append({"Key": key, "Value": value})
    return tags, description


def _int_option(key: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(f"aws URL option {key} must be an integer, not {raw!r}") from None


def _float_option(key: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(f"aws URL option {key} must be a number, not {raw!r}") from None
