"""sekret: the secrets layer for Python services.

    from sekret import Secrets
    secrets = Secrets("local:///var/lib/app/secrets.db", app="arrwdb", environment="production")
    key = secrets.get("cohere-api-key")

Importing this package loads no cloud SDK and does no I/O. Public names are
resolved on first use (PEP 562), so ``import sekret`` costs almost nothing
and each name costs only the modules it needs.
"""

from __future__ import annotations

from sekret.exceptions import __all__ as _ERRORS  # every error class; imports nothing heavy

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)

__version__ = "0.1.0"

# name -> module that defines it
_EXPORTS = {
    "ABSENT": "sekret.backends.base",
    "CURRENT": "sekret._values",
    "MAX_VALUE_BYTES": "sekret._values",
    "PENDING": "sekret._values",
    "PREVIOUS": "sekret._values",
    "AsyncSecrets": "sekret._secrets",
    "Backend": "sekret.backends.base",
    "CachePolicy": "sekret.cache",
    "Capability": "sekret.backends.base",
    "Lease": "sekret.leases",
    "Namespace": "sekret._names",
    "Page": "sekret._values",
    "Secret": "sekret._values",
    "SecretInfo": "sekret._values",
    "SecretValue": "sekret._values",
    "Secrets": "sekret._secrets",
    "VersionInfo": "sekret._values",
    "validate_name": "sekret._names",
}
_EXPORTS.update(dict.fromkeys(_ERRORS, "sekret.exceptions"))

__all__ = [
    "ABSENT",
    "CURRENT",
    "MAX_VALUE_BYTES",
    "PENDING",
    "PREVIOUS",
    "AccessDenied",
    "AsyncSecrets",
    "AuditError",
    "AuthenticationFailed",
    "Backend",
    "BackendNotInstalled",
    "BackendUnavailable",
    "CachePolicy",
    "Capability",
    "ConfigurationError",
    "Conflict",
    "DecryptionError",
    "FieldNotFound",
    "InsecureKeyFile",
    "InsecurePath",
    "IntegrityError",
    "InvalidReference",
    "InvalidSecretName",
    "InvalidValue",
    "Lease",
    "ManifestError",
    "Namespace",
    "Page",
    "RotationError",
    "Secret",
    "SecretDeleted",
    "SecretExpired",
    "SecretInfo",
    "SecretNotFound",
    "SecretValue",
    "Secrets",
    "SekretError",
    "Throttled",
    "UnsupportedOperation",
    "VersionDisabled",
    "VersionInfo",
    "VersionNotFound",
    "WrongMasterKey",
    "validate_name",
    "__version__",
]


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sekret' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:
    from sekret._names import Namespace, validate_name
    from sekret._secrets import AsyncSecrets, Secrets
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
    )
    from sekret.backends.base import ABSENT, Backend, Capability
    from sekret.cache import CachePolicy
    from sekret.exceptions import (
        AccessDenied,
        AuditError,
        AuthenticationFailed,
        BackendNotInstalled,
        BackendUnavailable,
        ConfigurationError,
        Conflict,
        DecryptionError,
        FieldNotFound,
        InsecureKeyFile,
        InsecurePath,
        IntegrityError,
        InvalidReference,
        InvalidSecretName,
        InvalidValue,
        ManifestError,
        RotationError,
        SecretDeleted,
        SecretExpired,
        SecretNotFound,
        SekretError,
        Throttled,
        UnsupportedOperation,
        VersionDisabled,
        VersionNotFound,
        WrongMasterKey,
    )
    from sekret.leases import Lease
