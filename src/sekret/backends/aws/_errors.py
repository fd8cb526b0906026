"""botocore failures -> sekret errors, for the AWS backend (``sekret.backends.aws``).

``translate`` maps any ``ClientError``/``BotoCoreError`` (the caller passes
the ``botocore.exceptions`` module it imported, so this module imports no
SDK); ``from_code`` maps an AWS error code, which is also how a failed item of
a BatchGetSecretValue is reported. The caller raises the result ``from`` the
vendor exception.

This module must never put the service's own message text in an error (AWS
validation messages can echo request parameters, so values), never a value,
and never import ``boto3``/``botocore`` itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sekret.exceptions import (
    AccessDenied,
    AuthenticationFailed,
    BackendUnavailable,
    ConfigurationError,
    Conflict,
    DecryptionError,
    InvalidValue,
    SecretDeleted,
    SecretNotFound,
    SekretError,
    Throttled,
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
_CREDENTIAL_ERRORS = (
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


def translate(
    errors: Any,
    exc: BaseException,
    what: str,
    name: str | None,
    *,
    backend: str,
    overrides: Mapping[str, type[SekretError]] | None = None,
) -> SekretError:
    """The sekret error for a botocore failure; ``errors`` is ``botocore.exceptions``."""
    if isinstance(exc, errors.ClientError):
        error = exc.response.get("Error", {})
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        return from_code(
            str(error.get("Code", "")),
            str(error.get("Message", "")),
            what,
            name,
            backend=backend,
            status=int(status or 0),
            overrides=overrides,
        )
    on = f" on {name!r}" if name else ""
    credential_errors = tuple(getattr(errors, n) for n in _CREDENTIAL_ERRORS if hasattr(errors, n))
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


def from_code(
    code: str,
    message: str,
    what: str,
    name: str | None,
    *,
    backend: str,
    status: int = 0,
    overrides: Mapping[str, type[SekretError]] | None = None,
) -> SekretError:
    """Map an AWS error code to a sekret error. ``message`` is inspected, never shown."""
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
