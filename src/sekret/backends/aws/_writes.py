"""The AWS write calls ``AwsBackend`` makes through its ``AwsClient``.

``create`` creates a secret (metadata as tags) with its first version;
``put_then_move`` stores a version under a temporary label and then moves
AWSCURRENT from the expected version, atomically on the service (the
compare-and-set ``AwsBackend.write`` offers, and the path for a version
written without AWSCURRENT). ``AwsBackend`` (``sekret.backends.aws``, whose
docstring explains the model) decides which to call.

This module must never retag an existing secret, never delete or rewrite a
stored version (a refused CAS leaves an unlabeled version AWS purges itself),
never show a temporary label, and never put a value into a message.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sekret._values import CURRENT, VersionInfo
from sekret.backends.aws._client import AwsClient
from sekret.backends.aws._names import TEMP_LABEL_PREFIX, from_aws_labels
from sekret.exceptions import Conflict, SekretError

__all__ = ["create", "put_then_move"]


def create(
    aws: AwsClient,
    name: str,
    version_id: str,
    payload: Mapping[str, Any],
    labels: Sequence[str],
    tags: Sequence[Mapping[str, str]],
    description: str | None,
) -> VersionInfo:
    """CreateSecret with the first version (or empty, then ``put_then_move`` for other labels)."""
    params: dict[str, Any] = {"Name": name}
    if tags:
        params["Tags"] = list(tags)
    if description is not None:
        params["Description"] = description
    if aws.kms_key_id:
        params["KmsKeyId"] = aws.kms_key_id
    if list(labels) == ["AWSCURRENT"]:
        params["ClientRequestToken"] = version_id
        response = aws.call("create_secret", "creating", name, **params, **payload)
        return VersionInfo(name, str(response["VersionId"]), frozenset({CURRENT}))
    # Other stages: create it empty, then add the version (AWS makes a first version
    # current whatever its labels say).
    aws.call("create_secret", "creating", name, **params)
    return put_then_move(aws, name, version_id, payload, labels, None)


def put_then_move(
    aws: AwsClient,
    name: str,
    version_id: str,
    payload: Mapping[str, Any],
    labels: Sequence[str],
    expected_version: str | None,
) -> VersionInfo:
    """Store under a temporary label, then move AWSCURRENT atomically (CAS on AWS)."""
    temp = f"{TEMP_LABEL_PREFIX}{uuid.uuid4().hex[:16]}"
    others = [label for label in labels if label != "AWSCURRENT"]
    response = aws.call(
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
            aws.call(
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
            aws.call(
                "update_secret_version_stage",
                "writing",
                name,
                SecretId=name,
                VersionStage=temp,
                RemoveFromVersionId=new,
            )
    return VersionInfo(name, new, frozenset(stages))
