"""The client ``AwsBackend`` holds: session, botocore client, assumed role, one call.

``AwsClient`` validates the client settings, builds the one shared,
thread-safe Secrets Manager client (or assumes a role at first use and again
before its credentials expire, on the injected clock), and sends every API
call through ``call``, which turns each botocore failure into a sekret error
(``_errors``) raised ``from`` it, with botocore's body logging silenced for
that call (``_sdklogs``). ``describe_secret`` adds the one check every
operation on an existing secret needs: scheduled for deletion or not. It is
not a backend: ``AwsBackend`` (``sekret.backends.aws``) composes one.

This module must never import ``boto3``/``botocore`` at import time (only the
constructor does, through ``require_extra``), never do I/O in the constructor,
never show credentials (``describe`` drops URL userinfo; ``identity`` is the
role ARN, never keys), and never let a botocore exception reach the caller.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sekret.backends._native import no_version
from sekret.backends._sdklogs import SdkLogGuard
from sekret.backends.aws._errors import translate
from sekret.backends.aws._names import to_utc
from sekret.backends.base import require_extra, utcnow
from sekret.exceptions import (
    BackendUnavailable,
    ConfigurationError,
    SecretDeleted,
    SekretError,
    VersionNotFound,
)

Clock = Callable[[], datetime]

_RETRY_MODES = ("standard", "adaptive", "legacy")


# botocore logs request/response bodies (values, assumed-role keys) at DEBUG.
_LOGS = SdkLogGuard("botocore", "boto3", "urllib3", "s3transfer")


# AWS region names (botocore's host-label rule, lower case as urlsplit gives it).
_REGION = re.compile(r"(?![0-9]+\Z)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\Z")


class AwsClient:
    """One botocore Secrets Manager client, shared by every thread of one backend."""

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
        self._boto3 = require_extra("boto3", "aws")
        self._errors = require_extra("botocore.exceptions", "aws")
        botocore_config = require_extra("botocore.config", "aws")
        if region is not None and not _REGION.match(region):
            raise ConfigurationError(
                f"aws region {region[:40]!r} is not a region name (like eu-west-1):"
                " lower-case letters, digits and dashes"
            )
        for key, seconds in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout)):
            if not isinstance(seconds, int | float) or not 0 < seconds < 3600:
                raise ConfigurationError(f"aws {key} must be a number of seconds in (0, 3600)")
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
        self.kms_key_id = kms_key_id
        self.clock = clock
        self._lock = threading.Lock()
        self._expires: datetime | None = None
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
        """The ``role_arn`` this client assumes (None: the default credential chain)."""
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
        try:
            with _LOGS.quiet():
                client = self._session.client(
                    "secretsmanager",
                    region_name=self._region,
                    endpoint_url=self._endpoint_url,
                    config=self._config,
                    **keys,
                )
        except (self._errors.BotoCoreError, ValueError) as exc:
            # InvalidRegionError, "Invalid endpoint: ...": the URL's region or endpoint_url
            raise ConfigurationError(
                f"aws client for region {self._region!r} could not be built"
                f" ({type(exc).__name__}): check the region and endpoint_url"
            ) from exc
        _LOGS.install()
        return client

    def sm(self) -> Any:
        """The Secrets Manager client; with a role, (re)assumed before it expires."""
        client = self._client
        if self._closed:
            raise BackendUnavailable(f"backend {self.describe()} is closed")
        if self._role_arn is None:
            if client is None:
                raise BackendUnavailable(f"backend {self.describe()} is closed")
            return client
        expires = self._expires
        if client is not None and expires is not None and self.clock() < expires:
            return client
        with self._lock:
            if self._client is None or self._expires is None or self.clock() >= self._expires:
                self._client = self._assume_role()
            return self._client

    def _assume_role(self) -> Any:
        assert self._role_arn is not None
        creds = self.assume(self._role_arn, session_name=self._role_session_name)
        expiration = to_utc(creds.get("Expiration")) or self.clock() + timedelta(minutes=15)
        self._expires = expiration - timedelta(minutes=5)
        return self._new_client(creds)

    def assume(
        self, role_arn: str, *, session_name: str, duration: int | None = None
    ) -> dict[str, Any]:
        """STS ``AssumeRole``: the session credentials (``AccessKeyId``, ..., ``Expiration``)."""
        if self._session is None:
            raise ConfigurationError(
                f"{self.describe()} was built on an injected client: it cannot call STS"
            )
        sts = self._session.client(
            "sts",
            region_name=self._region,
            endpoint_url=self._sts_endpoint_url,
            config=self._config,
        )
        args: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": session_name}
        if self._external_id:
            args["ExternalId"] = self._external_id
        if duration is not None:
            args["DurationSeconds"] = duration
        try:
            with _LOGS.quiet():
                creds: dict[str, Any] = sts.assume_role(**args)["Credentials"]
        except (self._errors.ClientError, self._errors.BotoCoreError) as exc:
            what = f"assuming role {role_arn!r}"
            raise translate(self._errors, exc, what, None, backend=self.describe()) from exc
        finally:
            sts.close()
        return creds

    def call(
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
            client = self.sm()
            with _LOGS.quiet():
                response: dict[str, Any] = getattr(client, operation)(**params)
        except (self._errors.ClientError, self._errors.BotoCoreError) as exc:
            error = translate(
                self._errors, exc, what, name, backend=self.describe(), overrides=overrides
            )
            if isinstance(error, SecretDeleted) and name is not None:
                error = self._with_deletion_date(error, name)
            raise error from exc
        except SekretError:
            raise
        except Exception as exc:  # a handler or transport bug: still no SDK exception leaves
            raise BackendUnavailable(
                f"{self.describe()} failed while {what} {name!r} ({type(exc).__name__})"
                if name
                else f"{self.describe()} failed while {what} ({type(exc).__name__})",
                name=name,
                backend=self.describe(),
            ) from exc
        return response

    def _with_deletion_date(self, error: SecretDeleted, name: str) -> SecretDeleted:
        try:
            client = self.sm()
            with _LOGS.quiet():
                described = client.describe_secret(SecretId=name)
        except (self._errors.ClientError, self._errors.BotoCoreError):
            return error
        until = to_utc(described.get("DeletedDate"))
        if until is None:
            return error
        return SecretDeleted(
            f"secret {name!r} is scheduled for deletion on {until:%Y-%m-%d}; restore it first",
            name=name,
            backend=self.describe(),
            recoverable_until=until,
        )

    def describe_secret(self, name: str, what: str) -> dict[str, Any]:
        """DescribeSecret; a secret scheduled for deletion raises SecretDeleted."""
        described = self.call("describe_secret", what, name, SecretId=name)
        until = to_utc(described.get("DeletedDate"))
        if until is not None:
            raise SecretDeleted(
                f"secret {name!r} is scheduled for deletion on {until:%Y-%m-%d}; restore it first",
                name=name,
                backend=self.describe(),
                recoverable_until=until,
            )
        return described

    def no_version(self, name: str, version: str | None, stage: str | None) -> VersionNotFound:
        return no_version(name, version, stage, backend=self.describe())
