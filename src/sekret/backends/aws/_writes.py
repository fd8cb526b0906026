"""The AWS backend's write path: writes, idempotency tokens, compare-and-set, stages.

``AwsWrites`` sits between ``AwsConnection`` (``_client``) and
``AwsBackend`` (``sekret.backends.aws``, whose docstring explains the model):
``write`` creates the secret (metadata as tags) or adds a version, returns the
earlier version for a repeated token, and for a CAS write or one without
AWSCURRENT stores the version under a temporary label and then moves
AWSCURRENT from the expected version, atomically on the service.
``move_stage`` moves one label, optionally only from an expected holder.

This module must never retag an existing secret, never delete or rewrite a
stored version (a refused CAS leaves an unlabeled version AWS purges itself),
never show a temporary label, and never put a value into a message.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sekret._values import CURRENT, SecretValue, VersionInfo
from sekret.backends.aws._client import AwsConnection
from sekret.backends.aws._names import (
    TEMP_LABEL_PREFIX,
    check_aws_name,
    current_of,
    from_aws_labels,
    is_version_id,
    tags_of,
    to_aws_label,
    version_id_for,
)
from sekret.backends.base import ABSENT, check_expected_version
from sekret.exceptions import (
    Conflict,
    InvalidValue,
    SecretDeleted,
    SecretNotFound,
    SekretError,
)


class AwsWrites(AwsConnection):
    """The writing half of ``AwsBackend`` (reads, listing and deletes live there)."""

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
            described: dict[str, Any] | None = self._describe(name, "writing")
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
            and (not is_version_id(version) or version not in self._all_versions(name))
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
