"""Every error sekret raises, under one root.

```
SekretError
├── InvalidSecretName        a name outside the grammar (also ValueError)
│   └── InvalidReference     a `sekret://` reference outside its grammar, ambiguous or out of bounds
├── InvalidValue             empty/oversize/wrongly typed value (also ValueError)
├── ConfigurationError       bad backend URL, option or key setup
│   ├── ManifestError        sekret.toml / [tool.sekret] is broken
│   ├── BackendNotInstalled  an optional SDK is missing; names the extra (also ImportError)
│   └── InsecurePath         a file or folder another account could read, write or swap
│       └── InsecureKeyFile  a key file readable by group or others
├── UnsupportedOperation     the backend lacks the capability asked for
├── SecretNotFound           no such secret (also LookupError)
│   ├── VersionNotFound      the secret exists, that version or stage does not
│   │   └── VersionDisabled  the version exists but the service has it disabled
│   ├── FieldNotFound        the value is not a JSON object, or lacks the field asked for
│   └── SecretDeleted        scheduled for deletion; restorable until `recoverable_until`
├── AccessDenied             the service refused the caller
│   └── AuthenticationFailed the caller could not prove who it is
├── Conflict                 compare-and-set failed, name taken, rotation already running
├── BackendUnavailable       the service cannot be reached or is sealed/down
│   └── Throttled            the service asked us to slow down (after retries)
├── IntegrityError           stored data failed authentication or is corrupt
│   ├── DecryptionError      a ciphertext did not open (tampered, moved, wrong key)
│   └── WrongMasterKey       the master key does not unwrap the store's data key
├── AuditError               the audit trail could not record, or failed verification
├── SecretExpired            the version's expiry has passed and the client has strict_expiry
└── RotationError            a rotation step failed (the run was rolled back or can resume)
```

Rules every raiser follows:

* A message says what failed and where (secret name, version, backend, file),
  and never contains a secret value or a credential.
* Errors of the library underneath are translated at the backend boundary
  with ``raise ... from exc`` into the most specific class here.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from datetime import datetime

__all__ = [
    "AccessDenied",
    "AuditError",
    "AuthenticationFailed",
    "BackendNotInstalled",
    "BackendUnavailable",
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
    "ManifestError",
    "RotationError",
    "SecretDeleted",
    "SecretExpired",
    "SecretNotFound",
    "SekretError",
    "Throttled",
    "UnsupportedOperation",
    "VersionDisabled",
    "VersionNotFound",
    "WrongMasterKey",
]


class SekretError(Exception):
    """Root of every error sekret raises.

    ``name``/``version``/``backend`` identify what the error is about, when known;
    ``code`` is a short stable identifier for logs and audit events.
    """

    code = "error"

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        version: str | None = None,
        backend: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        self.version = version
        self.backend = backend

    def __str__(self) -> str:
        return self.message


class InvalidSecretName(SekretError, ValueError):
    """The name is outside the grammar; raised before any backend is touched."""

    code = "invalid_name"


class InvalidReference(InvalidSecretName):
    """A ``sekret://`` reference is malformed, ambiguous, or points outside the client's
    environment; the message says which part and how to write it."""

    code = "invalid_reference"


class InvalidValue(SekretError, ValueError):
    """The value is empty, too large, or of a type that cannot be stored."""

    code = "invalid_value"


class ConfigurationError(SekretError):
    """A backend URL, option, key file or environment variable is wrong."""

    code = "configuration"


class ManifestError(ConfigurationError):
    """The manifest is broken; the message names the file, key path and reason."""

    code = "manifest"


class BackendNotInstalled(ConfigurationError, ImportError):
    """An optional dependency (a backend SDK, a framework) is missing; names the extra."""

    code = "not_installed"


class InsecurePath(ConfigurationError):
    """A private file, or its folder, that another account could read, write or swap."""

    code = "insecure_path"


class InsecureKeyFile(InsecurePath):
    """A key file is readable or writable by group or others."""

    code = "insecure_key_file"


class UnsupportedOperation(SekretError):
    """The backend does not declare the capability this call needs."""

    code = "unsupported"


class SecretNotFound(SekretError, LookupError):
    """No secret with that name exists (for this environment)."""

    code = "not_found"


class VersionNotFound(SecretNotFound):
    """The secret exists but the version or stage asked for does not."""

    code = "version_not_found"


class VersionDisabled(VersionNotFound):
    """The version exists but is disabled by the service, so it cannot be read."""

    code = "version_disabled"


class FieldNotFound(SecretNotFound):
    """A field was asked for (``#field`` or ``field=``) and the value is not a JSON
    object or has no such field. The message names the field, never the value."""

    code = "field_not_found"


class SecretDeleted(SecretNotFound):
    """The secret is scheduled for deletion; `restore` brings it back until then."""

    code = "deleted"

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        backend: str | None = None,
        recoverable_until: datetime | None = None,
    ) -> None:
        super().__init__(message, name=name, backend=backend)
        self.recoverable_until = recoverable_until


class AccessDenied(SekretError):
    """The service refused: the caller is not allowed to do this."""

    code = "access_denied"


class AuthenticationFailed(AccessDenied):
    """The caller's credentials were missing, expired or rejected."""

    code = "authentication_failed"


class Conflict(SekretError):
    """A compare-and-set failed, the name is taken, or a rotation is already running."""

    code = "conflict"


class BackendUnavailable(SekretError):
    """The backend cannot be reached, is sealed, or is down."""

    code = "unavailable"


class Throttled(BackendUnavailable):
    """The service is rate limiting us and retries did not get through."""

    code = "throttled"


class IntegrityError(SekretError):
    """Stored data failed authentication or is structurally corrupt."""

    code = "integrity"


class DecryptionError(IntegrityError):
    """A ciphertext did not open: tampered with, moved to another name, or wrong key."""

    code = "decryption"


class WrongMasterKey(IntegrityError):
    """The master key given does not unwrap the store's data key."""

    code = "wrong_master_key"


class AuditError(SekretError):
    """The audit trail could not record an event, or a log failed verification."""

    code = "audit"


class SecretExpired(SekretError):
    """The version read carries an expiry (``expires_at``) that has passed, and the
    client was built with ``strict_expiry``; the message names the secret and the time."""

    code = "expired"


class RotationError(SekretError):
    """A rotation step failed; the message says which step and what state remains."""

    code = "rotation"
