"""sekret: the secrets layer for Python services.

    from sekret import Secrets
    secrets = Secrets("local:///var/lib/app/secrets.db", app="arrwdb", environment="production")
    key = secrets.get("cohere-api-key")

Importing this package loads no cloud SDK and does no I/O.
"""

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
    InsecureKeyFile,
    IntegrityError,
    InvalidSecretName,
    InvalidValue,
    ManifestError,
    RotationError,
    SecretDeleted,
    SecretNotFound,
    SekretError,
    Throttled,
    UnsupportedOperation,
    VersionDisabled,
    VersionNotFound,
    WrongMasterKey,
)

__version__ = "0.1.0"

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
    "InsecureKeyFile",
    "IntegrityError",
    "InvalidSecretName",
    "InvalidValue",
    "ManifestError",
    "Namespace",
    "Page",
    "RotationError",
    "Secret",
    "SecretDeleted",
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
    "__version__",
    "validate_name",
]
