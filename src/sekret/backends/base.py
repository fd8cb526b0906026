"""The backend contract: what every secrets manager adapter implements.

A backend works on *full* names (``app/env/name``), already inside the name
grammar, and speaks in sekret's own types (``Secret``, ``VersionInfo``,
``Page``) and errors: vendor exceptions are translated here, at the
boundary, with ``raise ... from exc``.

Capabilities are data (``Backend.capabilities``), so callers can ask before
they act; a method a backend lacks raises ``UnsupportedOperation`` through
the defaults below, never a bare "not implemented".

Semantics every backend follows (the contract suite in ``sekret.testing``
checks them):

* ``write`` adds a new version. With ``current`` among its stages the old
  current version becomes ``previous`` (AWS's AWSCURRENT/AWSPREVIOUS move).
  ``expected_version`` is compare-and-set on the current version
  (``ABSENT``: the secret must not exist yet). ``token`` is an idempotency
  token: the same token with the same value returns the existing version,
  with another value raises ``Conflict``.
* ``read`` with neither version nor stage reads ``current`` through the
  stage map, never "latest".
* ``move_stage`` moves one label atomically; moving ``current`` labels the
  version that had it ``previous``. ``expected_version`` is compare-and-set
  on the label: the version that must hold it now, or ``ABSENT`` for "no
  version holds it" (rotation uses this as its lock). Custom labels (any
  ``validate_stage`` label, e.g. ``rotating-1a2b``) work like the built-ins.
* ``delete`` is soft: the secret reads as ``SecretDeleted`` until
  ``restore`` or until the recovery window ends; ``destroy`` is immediate
  and permanent.

Backends must never import the cache, the audit trail or each other.
"""

from __future__ import annotations

import enum
import importlib

from sekret._values import (
    CURRENT,
    MAX_VALUE_BYTES,
    PREVIOUS,
    Page,
    Secret,
    SecretValue,
    VersionInfo,
)
from sekret.exceptions import (
    AccessDenied,
    BackendNotInstalled,
    Conflict,
    InvalidValue,
    SekretError,
    UnsupportedOperation,
    VersionNotFound,
)

TYPE_CHECKING = False  # annotations only: keeps typing off the import path of sekret
if TYPE_CHECKING:
    from collections.abc import Collection, Mapping, Sequence
    from datetime import datetime
    from types import ModuleType, TracebackType
    from typing import Any, ClassVar, Final

    from sekret._values import Kind

__all__ = [
    "ABSENT",
    "CORE_CREDENTIAL_ENV",
    "DEFAULT_RECOVERY_DAYS",
    "PutResults",
    "WriteRequest",
    "Backend",
    "Capability",
    "LeaseGrant",
    "ReadOnlyView",
    "capability_names",
    "check_expected_version",
    "check_one_version",
    "check_page_size",
    "check_stage_holder",
    "is_credential_env",
    "move_label",
    "require",
    "require_extra",
    "text_kind",
    "token_reused",
    "utcnow",
]

ABSENT: Final = ""
"""``expected_version=ABSENT``: the write must create the secret (it must not exist)."""

DEFAULT_RECOVERY_DAYS: Final = 30

CORE_CREDENTIAL_ENV: Final = frozenset(
    {
        "SEKRET_MASTER_KEY",
        "SEKRET_PASSPHRASE",
        "SEKRET_KEY_FILE",
        "SEKRET_BACKUP_KEY_FILE",
        "SEKRET_AUDIT_KEY",
        "SEKRET_AUDIT_KEY_FILE",
    }
)
"""sekret's own key material: never handed to a child process (``sekret run``/``export``).

Any other ``SEKRET_*`` variable whose name says key, passphrase, password,
token or secret counts too (``is_credential_env``).
"""

_CREDENTIAL_WORDS: Final = ("KEY", "PASSPHRASE", "PASSWORD", "TOKEN", "SECRET", "CREDENTIAL")


def is_credential_env(variable: str) -> bool:
    """True for sekret's own key material (``CORE_CREDENTIAL_ENV`` or a ``SEKRET_*KEY*``...)."""
    if variable in CORE_CREDENTIAL_ENV:
        return True
    upper = variable.upper()
    return upper.startswith("SEKRET_") and any(w in upper[7:] for w in _CREDENTIAL_WORDS)


class Capability(enum.Flag):
    """What a backend can do. Combine with ``|``; test with ``in``."""

    NONE = 0
    READ = enum.auto()
    WRITE = enum.auto()
    DELETE = enum.auto()  # soft delete + restore
    DESTROY = enum.auto()  # permanent delete
    VERSIONS = enum.auto()  # read by version, list versions
    STAGES = enum.auto()  # current/pending/previous and move_stage
    LIST = enum.auto()
    BATCH_READ = enum.auto()  # read_many in fewer round trips than names
    BATCH_WRITE = enum.auto()  # put_many in fewer transactions than writes
    CAS = enum.auto()  # write(expected_version=...)
    LEASES = enum.auto()  # issue_lease / renew_lease / revoke_lease (dynamic credentials)

    @classmethod
    def full(cls) -> Capability:
        return (
            cls.READ
            | cls.WRITE
            | cls.DELETE
            | cls.DESTROY
            | cls.VERSIONS
            | cls.STAGES
            | cls.LIST
            | cls.CAS
        )


def require_extra(module: str, extra: str) -> ModuleType:
    """Import an optional dependency, or raise BackendNotInstalled naming the extra.

    The one place an optional import fails (backends, integrations, rotators,
    sinks): the message names the module and the extra to install, and does not
    guess what the caller is (``'fastapi' is not installed: pip install "sekret[fastapi]"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise BackendNotInstalled(
            f'{module!r} is not installed: pip install "sekret[{extra}]"'
        ) from exc


require = require_extra
"""The former name of ``require_extra``, kept for third-party backends."""


def utcnow() -> datetime:
    """The current time, aware, in UTC: the one wall clock backends stamp versions with."""
    from datetime import UTC, datetime  # runtime import; see TYPE_CHECKING

    return datetime.now(UTC)


def text_kind(text: str) -> Kind:
    """``json`` for text holding a JSON object or array, else ``text``.

    The kind of a value read from a store that records none (variables, files).
    """
    if text[:1] in ("{", "["):
        import json  # runtime import: only stores without kinds guess

        try:
            json.loads(text)
        except ValueError:
            return "text"
        return "json"
    return "text"


def check_one_version(
    name: str, version: str | None, stage: str | None, current: str, *, backend: str, why: str
) -> None:
    """The read rule of a store that holds one version (``why`` says which store).

    Only ``current`` exists: another ``version`` or any other ``stage`` is
    ``VersionNotFound``.
    """
    if (version is not None and version != current) or stage not in (None, CURRENT):
        wanted = f"version {version!r}" if version is not None else f"stage {stage!r}"
        raise VersionNotFound(
            f"secret {name!r} has no {wanted} ({why} one version)",
            name=name,
            version=version,
            backend=backend,
        )


def check_page_size(page_size: int) -> None:
    """The ``list(page_size=...)`` rule of every backend: at least 1."""
    if page_size < 1:
        raise InvalidValue("page_size must be at least 1")


def token_reused(name: str, version: str, *, backend: str) -> Conflict:
    """The error when an idempotency ``token`` was already used for a different value."""
    return Conflict(
        f"secret {name!r}: token already used for a different value",
        name=name,
        version=version,
        backend=backend,
    )


def check_expected_version(
    name: str, expected: str | None, *, exists: bool, current: str | None, backend: str
) -> None:
    """The compare-and-set rule of ``write(expected_version=...)``, for every backend.

    ``None``: no check. ``ABSENT``: the secret must not exist. Otherwise the
    current version must be ``expected``. Raises ``Conflict`` naming both.
    """
    if expected is None:
        return
    if expected == ABSENT:
        if exists:
            raise Conflict(f"secret {name!r} already exists", name=name, backend=backend)
    elif current != expected:
        raise Conflict(
            f"secret {name!r}: expected current version {expected!r}, found {current!r}",
            name=name,
            backend=backend,
        )


def check_stage_holder(
    name: str, stage: str, held: str | None, expected: str | None, *, backend: str
) -> None:
    """The compare-and-set rule of ``move_stage(expected_version=...)``.

    ``held`` is the version holding ``stage`` now (None: no version does);
    ``expected`` None means no check, ``ABSENT`` means "no version may hold it".
    """
    if expected is not None and held != (expected or None):
        raise Conflict(
            f"secret {name!r}: stage {stage!r} is not on version {expected!r}",
            name=name,
            backend=backend,
        )


def move_label(stages: dict[str, str], stage: str, version: str | None) -> None:
    """Move ``stage`` to ``version`` (None: remove it) in a stage map, in place.

    Moving ``current`` labels the version that held it ``previous``: the one rule
    every backend that keeps its own stage map applies.
    """
    old = stages.get(stage)
    if version is None:
        stages.pop(stage, None)
    elif old != version:
        stages[stage] = version
        if stage == CURRENT and old is not None:
            stages[PREVIOUS] = old


class LeaseGrant:
    """One set of dynamic credentials a backend issued: what ``issue_lease`` returns.

    ``credentials`` is a JSON ``SecretValue`` (never in a repr); ``lease_id`` is
    an identifier (safe to log and audit); ``ttl`` is the lease duration in
    seconds when issued; ``renewable`` says whether ``renew_lease`` may extend it.
    """

    __slots__ = ("credentials", "lease_id", "renewable", "ttl")

    def __init__(
        self, lease_id: str, credentials: SecretValue, *, ttl: float, renewable: bool
    ) -> None:
        self.lease_id = lease_id
        self.credentials = credentials
        self.ttl = float(ttl)
        self.renewable = renewable

    def __repr__(self) -> str:  # never the credentials
        return f"LeaseGrant({self.lease_id!r}, ttl={self.ttl:g}, renewable={self.renewable})"


PutResults = list[VersionInfo | SekretError]
"""What ``put_many`` returns: per write, its new version or its error, in order."""


class WriteRequest:
    """One write of ``Backend.put_many``: the arguments ``write`` takes, as data."""

    __slots__ = ("expected_version", "metadata", "name", "stages", "token", "value")

    def __init__(
        self,
        name: str,
        value: SecretValue,
        *,
        stages: Collection[str] = (CURRENT,),
        expected_version: str | None = None,
        token: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.value = value
        self.stages = stages
        self.expected_version = expected_version
        self.token = token
        self.metadata = metadata

    def __repr__(self) -> str:  # never the value
        return f"WriteRequest({self.name!r}, stages={sorted(self.stages)!r})"


class Backend:
    """Base class of every backend. Subclasses override what they declare."""

    scheme: ClassVar[str] = ""
    capabilities: Capability = Capability.READ
    max_value_bytes: int = MAX_VALUE_BYTES
    credential_env: ClassVar[frozenset[str]] = frozenset()
    """Environment variables this backend (or its SDK) reads credentials from.

    ``sekret run`` removes them from the child's environment; list every one
    the SDK's default credential chain consults, secret or not.
    """

    def consumed_env(self) -> frozenset[str]:
        """The credential variables this instance used (default: ``credential_env``)."""
        return self.credential_env

    # -- construction ------------------------------------------------------
    @classmethod
    def from_url(cls, url: str, **options: Any) -> Backend:
        """Build the backend from its URL (``scheme://...``) and keyword options."""
        raise UnsupportedOperation(f"backend {cls.scheme!r} cannot be built from a URL")

    def describe(self) -> str:
        """Where this backend points, as a URL without credentials (safe to log)."""
        return f"{self.scheme}://"

    @property
    def identity(self) -> str | None:
        """Who the backend acts as (AppRole, IAM role...) when known; for audit."""
        return None

    # -- reads -------------------------------------------------------------
    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        """One version: by ``version`` id, by ``stage``, or (neither) ``current``."""
        raise self._unsupported("read", Capability.READ)

    def read_many(self, names: Sequence[str]) -> dict[str, Secret | SekretError]:
        """The current version of each name; per-name errors are returned, not raised.

        The default reads one by one; backends with a batch API override it and
        declare ``BATCH_READ``.
        """
        out: dict[str, Secret | SekretError] = {}
        for name in names:
            try:
                out[name] = self.read(name)
            except SekretError as exc:
                out[name] = exc
        return out

    def versions(self, name: str) -> list[VersionInfo]:
        """Every live version of a secret, oldest first."""
        raise self._unsupported("versions", Capability.VERSIONS)

    def list(
        self,
        prefix: str = "",
        *,
        page_size: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> Page:
        """Secrets whose full name starts with ``prefix``, one page at a time."""
        raise self._unsupported("list", Capability.LIST)

    # -- writes ------------------------------------------------------------
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
        """Add a version carrying ``stages``; see the module docstring."""
        raise self._unsupported("write", Capability.WRITE)

    def put_many(self, writes: Sequence[WriteRequest]) -> PutResults:
        """Many writes, in order; per-write errors are returned in place, not raised.

        Each write follows ``write``'s rules and is atomic on its own; the batch
        is not (a failed write leaves the others stored). The default writes one
        by one; backends that can group writes into fewer transactions override
        it and declare ``BATCH_WRITE``.
        """
        out: PutResults = []
        for w in writes:
            try:
                out.append(
                    self.write(
                        w.name,
                        w.value,
                        stages=w.stages,
                        expected_version=w.expected_version,
                        token=w.token,
                        metadata=w.metadata,
                    )
                )
            except SekretError as exc:
                out.append(exc)
        return out

    def move_stage(
        self,
        name: str,
        stage: str,
        version: str | None,
        *,
        expected_version: str | None = None,
    ) -> None:
        """Put ``stage`` on ``version`` (None: remove it), atomically.

        ``expected_version``: the version that must hold the stage now (``ABSENT``:
        no version may hold it), else Conflict.
        """
        raise self._unsupported("move_stage", Capability.STAGES)

    def delete(self, name: str, *, recovery_days: int = DEFAULT_RECOVERY_DAYS) -> datetime:
        """Soft delete; returns when the secret will be gone for good."""
        raise self._unsupported("delete", Capability.DELETE)

    def restore(self, name: str) -> None:
        """Undo a soft delete inside its recovery window."""
        raise self._unsupported("restore", Capability.DELETE)

    def destroy(self, name: str) -> None:
        """Delete every version now, permanently."""
        raise self._unsupported("destroy", Capability.DESTROY)

    # -- leases (dynamic credentials) ----------------------------------------
    def issue_lease(self, name: str, *, replaces: str | None = None) -> LeaseGrant:
        """New dynamic credentials for ``name`` (``replaces``: the lease they succeed)."""
        raise self._unsupported("issue_lease", Capability.LEASES)

    def renew_lease(self, lease_id: str, *, increment: float | None = None) -> float:
        """Extend a lease by ``increment`` seconds (None: its default); the new TTL.

        The service may grant less than asked (a max TTL): the caller compares.
        """
        raise self._unsupported("renew_lease", Capability.LEASES)

    def revoke_lease(self, lease_id: str) -> None:
        """End a lease now: its credentials stop working. Idempotent."""
        raise self._unsupported("revoke_lease", Capability.LEASES)

    # -- least privilege ---------------------------------------------------
    @classmethod
    def policy(cls, root: str, *, access: str = "read", **options: Any) -> str:
        """The service's policy document granting ``access`` (read|rotate) under ``root``."""
        raise UnsupportedOperation(f"backend {cls.scheme!r} has no policy generator")

    # -- lifecycle ---------------------------------------------------------
    def close(self) -> None:
        """Release connections and files. Idempotent."""

    def __enter__(self) -> Backend:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"

    # -- helpers for subclasses -------------------------------------------
    def _unsupported(self, operation: str, needed: Capability) -> UnsupportedOperation:
        return UnsupportedOperation(
            f"backend {self.describe()} does not support {operation} "
            f"(needs {capability_names(needed)}; it offers {capability_names(self.capabilities)})",
            backend=self.describe(),
        )


def capability_names(caps: Capability) -> str:
    """``read, list`` for ``READ|LIST`` (``none`` when empty): never an enum repr."""
    names = [c.name.lower() for c in Capability if c.name and c in caps and c.value]
    return ", ".join(names) or "none"


READ_CAPABILITIES: Final = Capability.READ | Capability.VERSIONS | Capability.LIST
READ_CAPABILITIES_ALL: Final = (
    READ_CAPABILITIES | Capability.BATCH_READ | Capability.STAGES | Capability.LEASES
)


class ReadOnlyView(Backend):
    """A backend seen through a read-only client: reads pass through, writes are refused.

    A read-only ``Secrets`` exposes this as ``client.backend``, so a write cannot
    go around the facade's check. Refusals are ``AccessDenied`` with a hint.
    """

    def __init__(self, inner: Backend, hint: str = "") -> None:
        self._inner = inner
        self._hint = hint or "build the client with read_only=False (sekret --admin)"
        self.capabilities = inner.capabilities & READ_CAPABILITIES_ALL
        self.max_value_bytes = inner.max_value_bytes

    def describe(self) -> str:
        return self._inner.describe()

    def consumed_env(self) -> frozenset[str]:
        """The credentials the wrapped backend used (``sekret run`` keeps them from children)."""
        return self._inner.consumed_env()

    @property
    def identity(self) -> str | None:
        return self._inner.identity

    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        return self._inner.read(name, version=version, stage=stage)

    def read_many(self, names: Sequence[str]) -> dict[str, Secret | SekretError]:
        return self._inner.read_many(names)

    def versions(self, name: str) -> list[VersionInfo]:
        return self._inner.versions(name)

    def list(
        self,
        prefix: str = "",
        *,
        page_size: int = 100,
        page_token: str | None = None,
        include_deleted: bool = False,
    ) -> Page:
        return self._inner.list(
            prefix, page_size=page_size, page_token=page_token, include_deleted=include_deleted
        )

    def issue_lease(self, name: str, *, replaces: str | None = None) -> LeaseGrant:
        return self._inner.issue_lease(name, replaces=replaces)  # a lease is a read

    def renew_lease(self, lease_id: str, *, increment: float | None = None) -> float:
        return self._inner.renew_lease(lease_id, increment=increment)

    def revoke_lease(self, lease_id: str) -> None:
        self._inner.revoke_lease(lease_id)  # giving back what this client was issued

    def _refuse(self, operation: str) -> AccessDenied:
        return AccessDenied(
            f"this client is read-only (least privilege): {operation} refused; {self._hint}",
            backend=self.describe(),
        )

    def write(self, name: str, value: SecretValue, **options: Any) -> VersionInfo:
        raise self._refuse("write")

    def move_stage(self, name: str, stage: str, version: str | None, **options: Any) -> None:
        raise self._refuse("move_stage")

    def delete(self, name: str, *, recovery_days: int = DEFAULT_RECOVERY_DAYS) -> datetime:
        raise self._refuse("delete")

    def restore(self, name: str) -> None:
        raise self._refuse("restore")

    def destroy(self, name: str) -> None:
        raise self._refuse("destroy")

    def close(self) -> None:
        self._inner.close()
