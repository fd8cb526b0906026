"""The IAM policy documents behind ``AwsBackend.policy`` (``sekret.backends.aws``).

``iam_policy`` writes least-privilege JSON for one access level (read, rotate,
admin) to the secrets under a root, optionally with the KMS permissions for a
customer key, limited to use through Secrets Manager.

This module must never call AWS or import ``boto3``/``botocore``, and never
grant more than the access level needs (no wildcard actions, no resource
wider than the root except for the batch/list calls that AWS cannot scope).
"""

from __future__ import annotations

import json
import re
from typing import Any

from sekret._names import validate_name
from sekret.exceptions import InvalidValue

_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d{1,2}\Z")
_ACCOUNT = re.compile(r"\d{12}\Z")
_PARTITION = re.compile(r"aws(-[a-z]+)*\Z")


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
