"""Secret names and the Namespace that binds a client to one environment.

A full name is ``app/environment/name`` where ``name`` may itself hold
segments (``tenants/acme/api-key``). Grammar, checked before any I/O:

* segments of ``[A-Za-z0-9._-]``, 1 to 128 characters each, joined by ``/``;
* no empty segment (so no leading, trailing or doubled ``/``);
* no ``.`` or ``..`` segment;
* at most 256 characters in all.

Environment separation is structural: a client bound to ``production`` puts
every short name under ``app/production/``, and a short name can never climb
out of it (``..`` is not a segment).

A rejected name is described by its length and a short hash, never by its
text: a value pasted where a name goes must not come back in an error.

Inside ``sekret run`` (``SEKRET_RUN_ENVIRONMENT`` set in the child's
environment) a Namespace for any other environment is refused with
``AccessDenied``: the child was started for one environment only.

This module must never do I/O or import anything heavy.
"""

from __future__ import annotations

import os

from sekret.exceptions import AccessDenied, InvalidSecretName, InvalidValue

__all__ = [
    "MAX_NAME_LENGTH",
    "MAX_SEGMENT_LENGTH",
    "PRODUCTION_NAMES",
    "RUN_ENVIRONMENT_VARIABLE",
    "Namespace",
    "describe_name",
    "is_production",
    "validate_name",
    "validate_stage",
]

RUN_ENVIRONMENT_VARIABLE = "SEKRET_RUN_ENVIRONMENT"

MAX_NAME_LENGTH = 256
MAX_SEGMENT_LENGTH = 128
_ALLOWED = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"


def _segment_ok(segment: str) -> bool:
    # str.strip removes allowed characters from both ends, in C: nothing left means
    # every character was allowed (no `re` needed, so importing sekret stays light).
    return 0 < len(segment) <= MAX_SEGMENT_LENGTH and not segment.strip(_ALLOWED)


def describe_name(name: str) -> str:
    """``name`` for an error message: its length and a short hash, never its text.

    Names are not secret, but a value pasted where a name goes may land here.
    The hash (8 hex digits of SHA-256) lets a user match the error to what they typed.
    """
    import hashlib  # lazy: only on the error path

    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    return f"({len(name)} characters, sha256 {digest})"


def validate_name(name: object, *, what: str = "secret name") -> str:
    """Return ``name`` if it is a valid secret path, else raise InvalidSecretName."""
    if not isinstance(name, str):
        raise InvalidSecretName(f"{what} must be a str, not {type(name).__name__}")
    if not name:
        raise InvalidSecretName(f"{what} is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidSecretName(
            f"{what} {describe_name(name)} is longer than the limit of {MAX_NAME_LENGTH}"
        )
    for segment in name.split("/"):
        if not segment:
            raise InvalidSecretName(
                f"{what} {describe_name(name)} has an empty segment"
                " (leading, trailing or doubled '/')"
            )
        if segment in (".", ".."):
            raise InvalidSecretName(f"{what} {describe_name(name)} has a {segment!r} segment")
        if not _segment_ok(segment):
            if len(segment) > MAX_SEGMENT_LENGTH:
                reason = f"a segment longer than {MAX_SEGMENT_LENGTH} characters"
            else:
                reason = "a character outside [A-Za-z0-9._-]"
            raise InvalidSecretName(f"{what} {describe_name(name)} has {reason}")
    return name


_STAGE_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-"


def validate_stage(stage: object) -> str:
    """Return ``stage`` if it is a valid stage label (1-64 of ``[A-Za-z0-9_.-]``)."""
    if not isinstance(stage, str) or not 0 < len(stage) <= 64 or stage.strip(_STAGE_CHARS):
        raise InvalidValue(f"invalid stage label {str(stage)[:70]!r}: use 1-64 of [A-Za-z0-9_.-]")
    return stage


PRODUCTION_NAMES = frozenset({"production", "prod", "prd", "live"})


def is_production(environment: str) -> bool:
    """The one definition of a production environment, used by every production rule.

    ``production``, ``prod``, ``prd``, ``live`` and any name starting with
    ``prod`` (``prod-eu``, ``production-us``), in any case. The doctor's
    production checks and the audit log's default fail-closed policy both use it.
    """
    name = environment.lower()
    return name in PRODUCTION_NAMES or name.startswith("prod")


def _validate_segment(value: object, what: str) -> str:
    text = validate_name(value, what=what)
    if "/" in text:
        raise InvalidSecretName(f"{what} {describe_name(text)} must be a single segment (no '/')")
    return text


def _check_run_environment(environment: str) -> None:
    started_for = os.environ.get(RUN_ENVIRONMENT_VARIABLE)
    if started_for and started_for != environment:
        raise AccessDenied(
            f"this process was started by `sekret run` for environment {started_for!r};"
            f" opening environment {environment!r} from inside it is refused"
            " (run the command outside `sekret run`)"
        )


class Namespace:
    """``app`` + ``environment`` (+ optional ``prefix``): where a client's secrets live."""

    __slots__ = ("app", "environment", "prefix", "root")

    app: str
    environment: str
    prefix: str | None
    root: str  # the path every secret of this namespace starts with (no trailing '/')

    def __init__(self, app: str, environment: str, prefix: str | None = None) -> None:
        _validate_segment(app, "app name")
        _validate_segment(environment, "environment name")
        _check_run_environment(environment)
        if prefix is not None:
            validate_name(prefix, what="namespace prefix")
        parts = [prefix] if prefix else []
        set_ = object.__setattr__
        set_(self, "app", app)
        set_(self, "environment", environment)
        set_(self, "prefix", prefix)
        set_(self, "root", "/".join([*parts, app, environment]))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Namespace is immutable")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Namespace):
            return NotImplemented
        return (self.app, self.environment, self.prefix) == (
            other.app,
            other.environment,
            other.prefix,
        )

    def __hash__(self) -> int:
        return hash((self.app, self.environment, self.prefix))

    def __repr__(self) -> str:
        return (
            f"Namespace(app={self.app!r}, environment={self.environment!r}, prefix={self.prefix!r})"
        )

    def full(self, name: str) -> str:
        """Map a short name to its full path, validating both."""
        validate_name(name)
        return validate_name(f"{self.root}/{name}", what="full secret name")

    def short(self, full_name: str) -> str:
        """The short name of a full name inside this namespace."""
        root = self.root + "/"
        if not full_name.startswith(root):
            raise InvalidSecretName(
                f"{describe_name(full_name)} is not inside namespace {self.root!r}"
            )
        return full_name[len(root) :]

    def contains(self, full_name: str) -> bool:
        return full_name.startswith(self.root + "/")
