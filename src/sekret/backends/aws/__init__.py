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
Errors are translated at the boundary (``_errors``), ``raise ... from
exc``; no botocore exception reaches the caller. A message never carries a
value, and never the service's own message text (AWS validation messages can
echo request parameters).

The backend is split into private modules, each readable on its own:
``_client`` (session, client, assumed role, one call), ``_writes``
(writes, tokens, compare-and-set, stage moves), ``_errors`` (botocore ->
sekret errors), ``_names`` (names, labels, VersionIds, tags) and
``_policy`` (IAM policies). This module holds ``AwsBackend`` itself: the
URL, reads, listing, deletes, and the names other code imports from here.

``boto3``/``botocore`` are imported in the constructor only: this module and
the ones above must never import them at import time.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final
from urllib.parse import parse_qsl, urlsplit

from sekret._values import (
    CURRENT,
    MAX_VALUE_BYTES,
    Page,
    Secret,
    SecretInfo,
    VersionInfo,
)
from sekret.backends.aws._client import Clock as Clock
from sekret.backends.aws._client import utcnow as utcnow
from sekret.backends.aws._errors import from_code
from sekret.backends.aws._names import JSON_VERSION_PREFIX as JSON_VERSION_PREFIX
from sekret.backends.aws._names import MAX_AWS_NAME as MAX_AWS_NAME
from sekret.backends.aws._names import STAGE_FROM_AWS as STAGE_FROM_AWS
from sekret.backends.aws._names import STAGE_TO_AWS as STAGE_TO_AWS
from sekret.backends.aws._names import TEMP_LABEL_PREFIX as TEMP_LABEL_PREFIX
from sekret.backends.aws._names import check_aws_name as check_aws_name
from sekret.backends.aws._names import (
    chunks,
    current_of,
    is_version_id,
    metadata_of,
    secret_from,
    to_utc,
)
from sekret.backends.aws._names import from_aws_labels as from_aws_labels
from sekret.backends.aws._names import to_aws_label as to_aws_label
from sekret.backends.aws._names import version_id_for as version_id_for
from sekret.backends.aws._policy import iam_policy as iam_policy
from sekret.backends.aws._writes import AwsWrites
from sekret.backends.base import DEFAULT_RECOVERY_DAYS, Capability
from sekret.exceptions import (
    AccessDenied,
    AuthenticationFailed,
    ConfigurationError,
    InvalidSecretName,
    InvalidValue,
    SecretDeleted,
    SecretNotFound,
    SekretError,
)

__all__ = ["AwsBackend"]

BATCH_LIMIT: Final = 20
MIN_RECOVERY_DAYS: Final = 7
MAX_RECOVERY_DAYS: Final = 30
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


class AwsBackend(AwsWrites):
    """AWS Secrets Manager. Thread-safe: one botocore client, shared."""

    scheme: ClassVar[str] = "aws"
    credential_env: ClassVar[frozenset[str]] = frozenset(
        {
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_SECURITY_TOKEN",
            "AWS_PROFILE",
            "AWS_DEFAULT_PROFILE",
            "AWS_SHARED_CREDENTIALS_FILE",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_ROLE_SESSION_NAME",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN",
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        }
    )  # botocore's default credential chain (see Backend.credential_env)
    capabilities = Capability.full() | Capability.BATCH_READ
    max_value_bytes: int = MAX_VALUE_BYTES

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

    # -- reads ---------------------------------------------------------------
    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        check_aws_name(name)
        label = to_aws_label(stage) if stage is not None else None
        params: dict[str, Any] = {"SecretId": name}
        if version is not None:
            if not is_version_id(version):
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
        secret = secret_from(name, response)
        if version is not None and stage is not None and stage not in secret.stages:
            raise self._no_version(name, version, stage)
        return secret

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
        for chunk in chunks(wanted, BATCH_LIMIT):
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
                    out[name] = secret_from(name, item)
            for error in response.get("Errors") or []:
                name = str(error.get("SecretId"))
                if name in chunk:
                    out[name] = from_code(
                        str(error.get("ErrorCode", "")),
                        str(error.get("Message", "")),
                        "reading",
                        name,
                        backend=self.describe(),
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
                created = to_utc(item.get("CreatedDate"))
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
            deleted_at = to_utc(entry.get("DeletedDate"))
            if deleted_at is not None and not include_deleted:
                continue
            items.append(
                SecretInfo(
                    name,
                    created=to_utc(entry.get("CreatedDate")),
                    updated=to_utc(entry.get("LastChangedDate")),
                    current_version=current_of(entry.get("SecretVersionsToStages")),
                    deleted=deleted_at is not None,
                    recoverable_until=deleted_at,
                    metadata=metadata_of(entry),
                )
            )
        return Page.of(items, response.get("NextToken") or None)

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
        return to_utc(response.get("DeletionDate")) or self._clock() + timedelta(days=recovery_days)

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
