"""Reversible name mappings for services that do not allow sekret's names.

sekret's full names are segments of ``[A-Za-z0-9._-]`` joined by ``/`` and are
case-sensitive. Azure Key Vault allows only ``[0-9A-Za-z-]`` (1-127,
compared case-insensitively) and Google Secret Manager ``[A-Za-z0-9_-]``
(1-255). Each mapping here is a prefix-free code, one code word per
character, so it is injective, reversible, and keeps prefixes: ``encode(p)``
is a prefix of ``encode(n)`` exactly when ``p`` is a prefix of ``n`` (listing
by prefix relies on it).

* Azure (escape ``-``; output is lower case, so case-insensitive comparison
  cannot merge two names): ``a-z 0-9`` as is, ``-`` -> ``--``, ``/`` -> ``-0``,
  ``.`` -> ``-1``, ``_`` -> ``-2``, an upper-case letter ``X`` -> ``-x``.
* Google (escape ``_``): ``A-Z a-z 0-9 -`` as is, ``/`` -> ``__``,
  ``_`` -> ``_u``, ``.`` -> ``_d``.

A name whose code does not fit the service's length limit is refused with
``InvalidSecretName`` before any request is made.

``companion(native)`` is the id of the secret where sekret keeps what native
readers must not see (``pending`` and its labels): the secret's code plus a
suffix no code ever contains (Azure ``-9``, Google ``_p``), so ``decode``
rejects it (listing hides it), it never collides with another name's code,
and it starts with the secret's code (a prefix-scoped policy covers it).
The length limits below leave room for the suffix.

This module must never do I/O or import a vendor SDK.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from sekret._names import validate_name
from sekret.exceptions import InvalidSecretName

__all__ = ["AZURE", "GOOGLE", "NameMap"]


class NameMap:
    """One prefix-free, character-by-character code from sekret names to service ids."""

    __slots__ = ("_decode", "_encode", "_fold", "_suffix", "max_length", "service")

    def __init__(
        self,
        service: str,
        *,
        plain: str,
        escapes: Mapping[str, str],
        max_length: int,
        fold_case: bool,
        companion_suffix: str,
    ) -> None:
        self.service = service
        self.max_length = max_length - len(companion_suffix)
        self._suffix = companion_suffix
        self._fold = fold_case
        table = {c: c for c in plain}
        table.update(escapes)
        self._encode: Mapping[str, str] = MappingProxyType(table)
        self._decode: Mapping[str, str] = MappingProxyType({v: k for k, v in table.items()})

    def _code(self, text: str, what: str) -> str:
        out = []
        for char in text:
            word = self._encode.get(char)
            if word is None:
                raise InvalidSecretName(
                    f"{what} {text[:80]!r} has a character {char!r} outside the grammar"
                )
            out.append(word)
        return "".join(out)

    def encode(self, name: str) -> str:
        """The service id for a full name; InvalidSecretName if it cannot fit."""
        validate_name(name)
        native = self._code(name, "secret name")
        if len(native) > self.max_length:
            raise InvalidSecretName(
                f"secret name {name[:80]!r} maps to a {self.service} name of {len(native)}"
                f" characters; the limit is {self.max_length}",
                name=name,
            )
        return native

    def companion(self, native: str) -> str:
        """The id of ``native``'s companion secret (never the code of any name)."""
        return native + self._suffix

    def encode_prefix(self, prefix: str) -> str:
        """The code of a listing prefix (any run of name characters, ``/`` included)."""
        return self._code(prefix, "prefix")

    def decode(self, native: str) -> str | None:
        """The full name of a service id, or None if the id is not one of ours."""
        if self._fold:
            native = native.lower()
        out = []
        i = 0
        while i < len(native):
            size = 2 if native[i] == self.escape else 1
            char = self._decode.get(native[i : i + size])
            if char is None:
                return None
            out.append(char)
            i += size
        name = "".join(out)
        try:
            return validate_name(name)
        except InvalidSecretName:
            return None

    def matches(self, native: str, encoded_prefix: str) -> bool:
        """Whether a service id starts with an encoded prefix."""
        if self._fold:
            native = native.lower()
        return native.startswith(encoded_prefix)

    @property
    def escape(self) -> str:
        return "-" if self._fold else "_"


_DIGITS: Final = "0123456789"
_LOWER: Final = "abcdefghijklmnopqrstuvwxyz"
_UPPER: Final = _LOWER.upper()

AZURE: Final = NameMap(
    "Azure Key Vault",
    plain=_LOWER + _DIGITS,
    escapes={"-": "--", "/": "-0", ".": "-1", "_": "-2", **{c: "-" + c.lower() for c in _UPPER}},
    max_length=127,
    fold_case=True,
    companion_suffix="-9",
)
"""Key Vault secret names: ``^[0-9a-zA-Z-]{1,127}$``, case-insensitive (codes up to 125)."""

GOOGLE: Final = NameMap(
    "Google Secret Manager",
    plain=_LOWER + _UPPER + _DIGITS + "-",
    escapes={"/": "__", "_": "_u", ".": "_d"},
    max_length=255,
    fold_case=False,
    companion_suffix="_p",
)
"""Secret Manager secret ids: ``[A-Za-z0-9_-]{1,255}``, case-sensitive (codes up to 253)."""
