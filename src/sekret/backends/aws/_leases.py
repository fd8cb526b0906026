"""Dynamic credentials on AWS: STS ``AssumeRole`` session credentials as a lease.

A secret declared dynamic on an ``aws://`` backend names an IAM role ARN
(``lease_roles``: full or short name -> ARN). ``issue`` assumes it and
returns the session credentials as a JSON value (``access_key_id``,
``secret_access_key``, ``session_token``, ``expiration``) with a lease id
``aws-sts/<role name>/<access key id>`` (the key id is an identifier AWS
itself logs; the secret key and session token are never shown).

STS sessions can be neither renewed nor revoked one by one: the grant is not
renewable (the ``Lease`` fetches new ones before expiry) and ``revoke`` does
nothing (they end at ``expiration``; keep ``lease_duration`` short).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime

from sekret._values import SecretValue
from sekret.backends.aws._client import AwsClient
from sekret.backends.aws._names import to_utc
from sekret.backends.base import LeaseGrant
from sekret.exceptions import ConfigurationError

__all__ = ["StsLeases", "check_role_arn"]

_ARN = re.compile(r"arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]{1,512}\Z")


def check_role_arn(what: str, arn: object) -> str:
    """``arn`` if it is an IAM role ARN, else ConfigurationError naming ``what``."""
    if not isinstance(arn, str) or not _ARN.match(arn):
        raise ConfigurationError(
            f"aws lease role of {what} must be an IAM role ARN (arn:aws:iam::<account>:role/<name>)"
        )
    return arn


class StsLeases:
    """Role ARNs per secret name and the STS calls that issue leases from them."""

    __slots__ = ("_clock", "_duration", "_roles")

    def __init__(
        self,
        roles: Mapping[str, str] | None,
        *,
        duration: int,
        clock: Callable[[], datetime],
    ) -> None:
        for name, arn in (roles or {}).items():
            check_role_arn(repr(name), arn)
        if not isinstance(duration, int) or not 900 <= duration <= 43200:
            raise ConfigurationError("aws lease_duration must be 900-43200 seconds")
        self._roles = dict(roles or {})
        self._duration = duration
        self._clock = clock

    def __bool__(self) -> bool:
        return bool(self._roles)

    def role_of(self, name: str) -> str:
        role = self._roles.get(name) or self._roles.get(name.rsplit("/", 1)[-1])
        if role is None:
            raise ConfigurationError(
                f"no IAM role declared for dynamic secret {name!r}: set its role ARN"
                ' (manifest: kind = "dynamic", role = "arn:aws:iam::...:role/...")',
                name=name,
            )
        return role

    def issue(self, aws: AwsClient, name: str) -> LeaseGrant:
        role = self.role_of(name)
        session = "sekret-" + re.sub(r"[^\w+=,.@-]", "-", name)[-56:]
        creds = aws.assume(role, session_name=session, duration=self._duration)
        expires = to_utc(creds.get("Expiration"))
        ttl = (expires - self._clock()).total_seconds() if expires else float(self._duration)
        value = SecretValue.of(
            {
                "access_key_id": creds["AccessKeyId"],
                "secret_access_key": creds["SecretAccessKey"],
                "session_token": creds["SessionToken"],
                "expiration": expires.isoformat() if expires else "",
            }
        )
        lease_id = f"aws-sts/{role.rsplit('/', 1)[-1]}/{creds['AccessKeyId']}"
        return LeaseGrant(lease_id, value, ttl=max(ttl, 0.0), renewable=False)
