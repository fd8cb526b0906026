"""Built-in rotators for generated values: ``random`` and ``api_key``.

``random`` makes tokens of a given length from an alphabet, with an optional
prefix (``sk_live_...``). ``api_key`` is the same generator for keys that
clients present to *us*: it needs no ``set`` step, and the dual-key window
(``Secrets.verify_api_key``) accepts ``current`` and ``previous`` during a
grace period so clients switch keys without downtime.

Rotators are found by name through the entry-point group ``sekret.rotators``.
"""

from __future__ import annotations

import secrets as _random
import string
from typing import Any, ClassVar

from sekret._plugins import Registry
from sekret._values import Secret
from sekret.exceptions import ConfigurationError, InvalidValue
from sekret.rotation.engine import Rotator

__all__ = ["BUILTIN", "ROTATORS", "ApiKeyRotator", "RandomRotator", "make_rotator", "rotator_class"]

ALPHABETS = {
    "alphanumeric": string.ascii_letters + string.digits,
    "urlsafe": string.ascii_letters + string.digits + "-_",
    "hex": "0123456789abcdef",
    "printable": string.ascii_letters + string.digits + "!#%+,-.:=@^_~",
}


class RandomRotator(Rotator):
    """Random tokens: ``length`` characters from ``alphabet`` after ``prefix``.

    With ``field="password"`` the secret is a JSON object and only that field
    gets a new token; every other key is kept as it is.
    """

    name: ClassVar[str] = "random"
    kinds: ClassVar[tuple[str, ...]] = ("generic", "jwt_signing_key")

    def __init__(
        self,
        *,
        length: int = 40,
        alphabet: str = "alphanumeric",
        prefix: str = "",
        field: str | None = None,
    ) -> None:
        if not 16 <= length <= 4096:
            raise InvalidValue(f"random rotator: length must be 16-4096, not {length}")
        chars = ALPHABETS.get(alphabet, alphabet)
        if len(set(chars)) < 16:
            raise InvalidValue("random rotator: the alphabet needs at least 16 distinct characters")
        self.length = length
        self.alphabet = "".join(sorted(set(chars)))
        self.prefix = prefix
        self.field = field

    def token(self) -> str:
        """One new token."""
        return self.prefix + "".join(_random.choice(self.alphabet) for _ in range(self.length))

    def generate(self, current: Secret | None) -> object:
        if self.field is None:
            return self.token()
        data = (
            current.value.json() if current is not None and current.value.kind == "json" else None
        )
        if not isinstance(data, dict) or self.field not in data:
            raise InvalidValue(
                f"random rotator: field={self.field!r} needs a JSON object with that key"
            )
        return {**data, self.field: self.token()}


class ApiKeyRotator(RandomRotator):
    """API keys clients present to this service; verified with ``verify_api_key``.

    Only for keys *this* service issues: a vendor's key (``kind = "api_key"`` in
    the manifest usually means one) cannot be generated locally, so no kind
    suggests this rotator; name it on purpose with ``rotator = "api_key"``.
    """

    name: ClassVar[str] = "api_key"
    kinds: ClassVar[tuple[str, ...]] = ()


BUILTIN = {
    "random": "sekret.rotation.rotators:RandomRotator",
    "api_key": "sekret.rotation.rotators:ApiKeyRotator",
    "postgres": "sekret.rotation.postgres:PostgresRotator",
    "encryption_key": "sekret.rotation.keyring:EncryptionKeyRotator",
}
"""Built-in rotators (also declared as entry points; resolved without a metadata scan)."""


ROTATORS = Registry("sekret.rotators", BUILTIN, what="rotator")
"""The rotator registry (the one plugin registry, see ``sekret._plugins``)."""


def rotator_class(name: str) -> type[Rotator]:
    """The rotator registered as ``name`` in the ``sekret.rotators`` entry-point group."""
    cls, target = ROTATORS.load(name)
    if not (isinstance(cls, type) and issubclass(cls, Rotator)):
        raise ConfigurationError(f"rotator entry point {name!r} is not a Rotator: {target}")
    return cls


def make_rotator(name: str, **options: Any) -> Rotator:
    """Build a rotator by registered name with its options; bad options are a clear error."""
    cls = rotator_class(name)
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigurationError(f"rotator {name!r}: bad options ({exc})") from None
