"""How sekret's names, stages, kinds and metadata map onto AWS Secrets Manager's.

Pure helpers for the AWS backend (``sekret.backends.aws``): the name check
AWS adds to sekret's grammar, stage <-> label mapping, the VersionIds that
carry the JSON kind and the idempotency token, write metadata -> tags and
description, and the secret, current version and metadata read back from
AWS's response shapes.

This module must never call AWS or import ``boto3``/``botocore``, and never
put a value into a message.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Final

from sekret._names import validate_name
from sekret._values import (
    CURRENT,
    MAX_VALUE_BYTES,
    PENDING,
    PREVIOUS,
    Secret,
    SecretValue,
    validate_stage,
)
from sekret.exceptions import InvalidSecretName, InvalidValue

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

MAX_AWS_NAME: Final = 512
_AWS_NAME = re.compile(r"[A-Za-z0-9/_+=.@-]{1,512}\Z")
_READ_LIMIT = 4 * MAX_VALUE_BYTES  # a 64 Ki-character SecretString may be longer in UTF-8


def to_utc(when: object) -> datetime | None:
    """A timestamp from a response as an aware UTC datetime; None if it is not one."""
    if isinstance(when, datetime):
        return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    return None


def is_version_id(version: str) -> bool:
    """Whether ``version`` is shaped like an AWS VersionId (else AWS would refuse it)."""
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


def chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def secret_from(name: str, response: Mapping[str, Any]) -> Secret:
    """The ``Secret`` in a GetSecretValue (or BatchGetSecretValue item) response."""
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
        to_utc(response.get("CreatedDate")),
    )


def current_of(stages_by_version: object) -> str | None:
    """The version holding AWSCURRENT in a ``VersionIdsToStages`` mapping, if any."""
    if isinstance(stages_by_version, Mapping):
        for version, labels in stages_by_version.items():
            if isinstance(labels, list) and "AWSCURRENT" in labels:
                return str(version)
    return None


def metadata_of(described: Mapping[str, Any]) -> dict[str, str]:
    """A secret's metadata: its tags, and its description as ``description``."""
    out = {
        str(tag.get("Key")): str(tag.get("Value", ""))
        for tag in described.get("Tags") or []
        if isinstance(tag, Mapping) and tag.get("Key")
    }
    if described.get("Description"):
        out["description"] = str(described["Description"])
    return out


def tags_of(metadata: Mapping[str, str] | None) -> tuple[list[dict[str, str]], str | None]:
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
