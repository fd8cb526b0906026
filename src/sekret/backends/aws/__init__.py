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

Errors are translated at the boundary (``_errors``), ``raise ... from
exc``; no botocore exception reaches the caller. A message never carries a
value, and never the service's own message text (AWS validation messages can
echo request parameters).

``AwsBackend`` holds an ``AwsClient`` (``_client``: session, botocore
client, assumed role, one translated and log-silenced call) and decides
every operation here: the URL, reads, batch reads, listing, writes with
their tokens and compare-and-set, stage moves, deletes. Its private parts,
each readable on its own: ``_writes`` (the create and put-then-move calls),
``_errors`` (botocore -> sekret errors), ``_names`` (names, labels,
VersionIds, tags) and ``_policy`` (IAM policies).

``sekret policy aws://eu-west-1?account=123456789012`` uses the URL's
region and account (or the account of ``?role_arn=``); ``account`` and
``partition`` are accepted in runtime URLs and ignored by the client.

``boto3``/``botocore`` are imported in the constructor only: this module and
the ones above must never import them at import time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Final
from urllib.parse import parse_qsl, urlsplit

from sekret._values import (
    CURRENT,
    MAX_VALUE_BYTES,
    Page,
    Secret,
    SecretInfo,
    SecretValue,
    VersionInfo,
)
from sekret.backends.aws._client import AwsClient
from sekret.backends.aws._errors import from_code
from sekret.backends.aws._leases import StsLeases, check_role_arn
from sekret.backends.aws._names import JSON_VERSION_PREFIX as JSON_VERSION_PREFIX
from sekret.backends.aws._names import (
    check_aws_name,
    chunks,
    current_of,
    from_aws_labels,
    is_version_id,
    metadata_of,
    secret_from,
    tags_of,
    to_aws_label,
    to_utc,
    version_id_for,
)
from sekret.backends.aws._policy import iam_policy
from sekret.backends.aws._writes import create, put_then_move
from sekret.backends.base import (
    ABSENT,
    DEFAULT_RECOVERY_DAYS,
    Backend,
    Capability,
    LeaseGrant,
    check_expected_version,
    check_page_size,
    token_reused,
)
from sekret.exceptions import (
    AccessDenied,
    AuthenticationFailed,
    ConfigurationError,
    Conflict,
    InvalidSecretName,
    InvalidValue,
    SecretDeleted,
    SecretNotFound,
    SekretError,
    UnsupportedOperation,
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
    "lease_duration",
)  # and role.<name>=<IAM role ARN> (lease_roles)
# Read by ``policy_options`` only (the runtime client does not need them).
_POLICY_ONLY = ("account", "partition")


class AwsBackend(Backend):
    """AWS Secrets Manager. Thread-safe: one ``AwsClient`` (one botocore client), shared."""

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

    def __init__(
        self,
        region: str | None = None,
        *,
        lease_roles: Mapping[str, str] | None = None,
        lease_duration: int = 3600,
        **options: Any,
    ) -> None:
        """``region`` and ``AwsClient``'s options (endpoint_url, profile, role_arn...).

        ``lease_roles``: secret name (full or short) -> IAM role ARN whose STS
        session credentials ``issue_lease`` returns (``lease_duration`` seconds).
        """
        self._aws = AwsClient(region, **options)
        self._batch_allowed = True
        self._sts = StsLeases(lease_roles, duration=lease_duration, clock=self._aws.clock)
        if self._sts:
            self.capabilities = type(self).capabilities | Capability.LEASES

    # -- leases: STS AssumeRole (see _leases) ---------------------------------------
    def issue_lease(self, name: str, *, replaces: str | None = None) -> LeaseGrant:
        if not self._sts:
            raise self._unsupported("issue_lease", Capability.LEASES)
        return self._sts.issue(self._aws, name)

    def renew_lease(self, lease_id: str, *, increment: float | None = None) -> float:
        raise UnsupportedOperation(
            "STS session credentials cannot be renewed; the lease fetches new ones",
            backend=self.describe(),
        )

    def revoke_lease(self, lease_id: str) -> None:
        """Nothing to do: an STS session cannot be revoked alone; it ends at its expiration."""

    def describe(self) -> str:
        return self._aws.describe()

    @property
    def identity(self) -> str | None:
        """The IAM role this backend assumes, when one is configured (never keys)."""
        return self._aws.identity

    def close(self) -> None:
        self._aws.close()

    @property
    def client(self) -> AwsClient:
        """The one ``AwsClient`` (for callers that must make a raw Secrets Manager call,
        e.g. the Lambda rotation handler writing AWS's own ClientRequestToken)."""
        return self._aws

    def _sm(self) -> Any:
        """The botocore client (tests check it is reused and re-made on expiry)."""
        return self._aws.sm()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> AwsBackend:
        """``aws://<region>?endpoint_url=...&profile=...&role_arn=...&retry_mode=...``.

        ``account`` and ``partition`` are accepted for ``sekret policy`` and
        not used by the client.
        """
        region, raw = _parse_url(url)
        query: dict[str, Any] = {k: v for k, v in raw.items() if k not in _POLICY_ONLY}
        for key in ("max_attempts", "lease_duration"):
            if key in query:
                query[key] = _int_option(key, query[key])
        roles = {k[5:]: query.pop(k) for k in list(query) if k.startswith("role.")}
        if roles:  # ?role.<name>=arn:aws:iam::...: the IAM role a dynamic secret assumes
            query["lease_roles"] = roles
        for key in ("connect_timeout", "read_timeout"):
            if key in query:
                query[key] = _float_option(key, query[key])
        return cls(region, **{**query, **options})

    @classmethod
    def policy_options(cls, url: str) -> dict[str, str]:
        """What an ``aws://`` URL says that the IAM policy can use.

        The region (the URL's host), ``?account=`` (else the account of
        ``?role_arn=``), ``?partition=`` and ``?kms_key_id=`` when it is a key ARN.
        """
        region, query = _parse_url(url)
        found: dict[str, str] = {}
        if region:
            found["region"] = region
        role = _ROLE_ARN.match(query.get("role_arn", ""))
        account = query.get("account") or (role.group(2) if role else None)
        if account:
            found["account"] = account
        partition = query.get("partition") or (role.group(1) if role else None)
        if partition:
            found["partition"] = partition
        if query.get("kms_key_id", "").startswith("arn:"):
            found["kms_key_arn"] = query["kms_key_id"]
        return found

    # -- reads ---------------------------------------------------------------
    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        check_aws_name(name)
        label = to_aws_label(stage) if stage is not None else None
        params: dict[str, Any] = {"SecretId": name}
        if version is not None:
            if not is_version_id(version):
                self._aws.describe_secret(name, "reading")
                raise self._aws.no_version(name, version, stage)
            params["VersionId"] = version
        else:
            # Explicit even for current: moto's default pointer lags behind stage moves.
            params["VersionStage"] = label or "AWSCURRENT"
        try:
            response = self._aws.call("get_secret_value", "reading", name, **params)
        except SecretDeleted:
            raise
        except SecretNotFound as exc:
            self._aws.describe_secret(name, "reading")  # raises if the secret itself is missing
            raise self._aws.no_version(name, version, stage or CURRENT) from exc.__cause__
        secret = secret_from(name, response)
        if version is not None and stage is not None and stage not in secret.stages:
            raise self._aws.no_version(name, version, stage)
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
                response = self._aws.call("batch_get_secret_value", "batch reading", None, **params)
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
        self._aws.describe_secret(name, "listing versions of")
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
            response = self._aws.call(
                "list_secret_version_ids", "listing versions of", name, **params
            )
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
        check_page_size(page_size)
        params: dict[str, Any] = {
            "MaxResults": min(page_size, 100),
            "IncludePlannedDeletion": include_deleted,
        }
        if prefix:
            params["Filters"] = [{"Key": "name", "Values": [prefix]}]
        if page_token:
            params["NextToken"] = page_token
        response = self._aws.call("list_secrets", "listing", prefix or None, **params)
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
        tags, description = tags_of(metadata)
        payload: dict[str, Any] = (
            {"SecretBinary": value.bytes()}
            if value.kind == "bytes"
            else {"SecretString": value.text()}
        )
        version_id = version_id_for(value.kind, token)
        try:
            described: dict[str, Any] | None = self._aws.describe_secret(name, "writing")
        except SecretDeleted:
            raise
        except SecretNotFound:
            described = None
        if expected_version is not None:
            current = current_of(described.get("VersionIdsToStages")) if described else None
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
                info = create(self._aws, name, version_id, payload, labels, tags, description)
            except Conflict:
                if expected_version == ABSENT:
                    raise
                # Someone created it between our describe and create: add a version instead.
                self._aws.describe_secret(name, "writing")
            else:
                return info
        if expected_version or not labels:
            return put_then_move(self._aws, name, version_id, payload, labels, expected_version)
        response = self._aws.call(
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

    def _token_version(self, name: str, token: str, value: SecretValue) -> VersionInfo | None:
        """The version an earlier write with ``token`` made, if any; Conflict if it differs."""
        candidates = {version_id_for(kind, token) for kind in ("text", "json")}
        for info in self.versions(name):
            if info.version not in candidates:
                continue
            stored = self.read(name, version=info.version)
            if stored.value != value:
                raise token_reused(name, info.version, backend=self.describe())
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
        described = self._aws.describe_secret(name, "moving a stage of")
        by_version = described.get("VersionIdsToStages") or {}
        holder = next((str(v) for v, ls in by_version.items() if label in (ls or [])), None)
        if (
            version is not None
            and version not in by_version
            and (not is_version_id(version) or version not in self._all_versions(name))
        ):
            raise self._aws.no_version(name, version, None)
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
        self._aws.call(
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
        response = self._aws.call(
            "delete_secret", "deleting", name, SecretId=name, RecoveryWindowInDays=recovery_days
        )
        return to_utc(response.get("DeletionDate")) or self._aws.clock() + timedelta(
            days=recovery_days
        )

    def restore(self, name: str) -> None:
        check_aws_name(name)
        self._aws.call("restore_secret", "restoring", name, SecretId=name)

    def destroy(self, name: str) -> None:
        check_aws_name(name)
        # A forced delete of a missing name succeeds on AWS; say SecretNotFound instead.
        self._aws.call("describe_secret", "destroying", name, SecretId=name)
        self._aws.call(
            "delete_secret", "destroying", name, SecretId=name, ForceDeleteWithoutRecovery=True
        )

    # -- least privilege -----------------------------------------------------
    @classmethod
    def policy(cls, root: str, *, access: str = "read", **options: Any) -> str:
        """IAM policy JSON for ``access`` (read|rotate|admin) to the secrets under ``root``.

        Options: ``region`` and ``account`` (default ``*``), ``kms_key_arn`` (adds the
        KMS permissions, limited to use through Secrets Manager), ``partition`` (``aws``),
        ``leases`` (IAM role ARNs, comma-separated: adds ``sts:AssumeRole`` on them, for
        the dynamic secrets whose STS sessions the client leases).
        """
        known = {"region", "account", "kms_key_arn", "partition", "leases"}
        unknown = sorted(set(options) - known)
        if unknown:
            raise ConfigurationError(
                f"unknown aws policy option(s) {', '.join(unknown)};"
                " known: region, account, kms_key_arn, partition, leases"
            )
        leases = options.pop("leases", None)
        document = iam_policy(root, access=access, **options)
        arns = [a.strip() for a in (leases or "").split(",") if a.strip()]
        if not arns:
            return document
        for arn in arns:
            check_role_arn("policy option leases", arn)
        doc = json.loads(document)
        doc["Statement"].append(
            {"Sid": "SekretLeases", "Effect": "Allow", "Action": "sts:AssumeRole", "Resource": arns}
        )
        return json.dumps(doc, indent=2)


_ROLE_ARN = re.compile(r"arn:(aws[a-z-]*):iam::(\d{12}):role/")


def _parse_url(url: str) -> tuple[str | None, dict[str, str]]:
    """The region and the query options of an ``aws://`` URL (ConfigurationError if bad)."""
    parts = urlsplit(url)
    if parts.username or parts.password:
        raise ConfigurationError(
            "aws URLs must not carry credentials; use a profile, a role or the environment"
        )
    if ":" in parts.netloc or parts.path.strip("/") or parts.fragment:
        raise ConfigurationError("aws backend URL must be aws://<region>[?option=value&...]")
    query: dict[str, str] = {}
    for key, raw in parse_qsl(parts.query, keep_blank_values=False):
        if key not in _URL_OPTIONS and key not in _POLICY_ONLY and not key.startswith("role."):
            known = ", ".join((*_URL_OPTIONS, *_POLICY_ONLY))
            raise ConfigurationError(f"unknown aws URL option {key[:40]!r}; known: {known}")
        query[key] = raw
    return parts.hostname or None, query


def _int_option(key: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigurationError(
            f"aws URL option {key} must be an integer, not {raw[:40]!r}"
        ) from None


def _float_option(key: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ConfigurationError(
            f"aws URL option {key} must be a number, not {raw[:40]!r}"
        ) from None
