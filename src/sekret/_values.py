"""Secret values and versions.

``SecretValue`` holds the bytes of a value and how to read them back (text,
bytes or JSON). Its ``repr``, ``str`` and format never show the value;
``reveal()`` (or ``text``/``bytes``/``json``) is the explicit way out. It
cannot be pickled, so it cannot leak through a cache file or a queue.

``Secret`` is one immutable version of a secret, ``VersionInfo`` the same
without the value (what ``versions()`` lists), ``SecretInfo`` one entry of a
listing.

This module must never do I/O.
"""

from __future__ import annotations

from types import MappingProxyType

from sekret._names import validate_stage  # re-exported: it lives beside validate_name
from sekret.exceptions import InvalidValue

# Nothing here imports typing, dataclasses, re, json or hmac at import time:
# this module is on every import path of sekret and must stay light.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping
    from datetime import datetime
    from typing import Any, Final, Literal

    Kind = Literal["text", "bytes", "json"]

__all__ = [
    "CURRENT",
    "MAX_VALUE_BYTES",
    "PENDING",
    "PREVIOUS",
    "Page",
    "Secret",
    "SecretInfo",
    "SecretValue",
    "VersionInfo",
    "validate_stage",
]

CURRENT: Final = "current"
PENDING: Final = "pending"
PREVIOUS: Final = "previous"

MAX_VALUE_BYTES: Final = 64 * 1024
"""Default bound on a value's encoded size: 64 KiB, the AWS Secrets Manager limit."""

CONTENT_TYPES: Final[Mapping[str, Kind]] = MappingProxyType(
    {
        "text/plain; charset=utf-8": "text",
        "application/octet-stream": "bytes",
        "application/json": "json",
    }
)
_TYPE_OF_KIND: Final[Mapping[Kind, str]] = MappingProxyType(
    {kind: ctype for ctype, kind in CONTENT_TYPES.items()}
)


class SecretValue:
    """A secret's value. Never shown by repr/str/format; reveal it explicitly."""

    __slots__ = ("_data", "_kind")

    _data: bytes
    _kind: Kind

    def __init__(self, data: bytes, kind: Kind = "bytes", *, max_bytes: int = MAX_VALUE_BYTES):
        if not isinstance(data, bytes):
            raise InvalidValue(f"SecretValue needs bytes, not {type(data).__name__}")
        if kind not in _TYPE_OF_KIND:
            raise InvalidValue(f"unknown value kind {kind!r}")
        if len(data) > max_bytes:
            raise InvalidValue(f"secret value is {len(data)} bytes; the limit is {max_bytes} bytes")
        object.__setattr__(self, "_data", data)
        object.__setattr__(self, "_kind", kind)

    # -- construction -------------------------------------------------------
    @classmethod
    def of(cls, value: object, *, max_bytes: int = MAX_VALUE_BYTES) -> SecretValue:
        """Wrap a str (text), bytes (binary), dict/list (JSON) or SecretValue."""
        if isinstance(value, SecretValue):
            if len(value._data) > max_bytes:
                raise InvalidValue(
                    f"secret value is {len(value._data)} bytes; the limit is {max_bytes} bytes"
                )
            return value
        if isinstance(value, str):
            try:
                return cls(value.encode("utf-8"), "text", max_bytes=max_bytes)
            except UnicodeEncodeError:
                pass  # raised below, outside the handler: the error's .object is the value
            raise InvalidValue("secret text is not valid Unicode (lone surrogate)")
        if isinstance(value, bytes | bytearray | memoryview):
            return cls(bytes(value), "bytes", max_bytes=max_bytes)
        if isinstance(value, dict | list):
            import json  # lazy: only JSON values need it

            try:
                data = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
            except (TypeError, ValueError, RecursionError) as exc:
                reason = type(exc).__name__
                if isinstance(exc, RecursionError):
                    reason = "nested too deeply"
                raise InvalidValue(f"secret JSON could not be encoded: {reason}") from None
            return cls(data, "json", max_bytes=max_bytes)
        raise InvalidValue(
            f"a secret value must be str, bytes, dict or list, not {type(value).__name__}"
        )

    @classmethod
    def from_stored(
        cls, data: bytes, content_type: str, *, max_bytes: int = MAX_VALUE_BYTES
    ) -> SecretValue:
        """Rebuild a value from stored bytes and its content type."""
        return cls(data, CONTENT_TYPES.get(content_type, "bytes"), max_bytes=max_bytes)

    # -- explicit reveal ----------------------------------------------------
    @property
    def kind(self) -> Kind:
        return self._kind

    @property
    def content_type(self) -> str:
        return _TYPE_OF_KIND[self._kind]

    @property
    def size(self) -> int:
        return len(self._data)

    def reveal(self) -> str | bytes | Any:
        """The value as it was stored: str for text, bytes for binary, parsed JSON."""
        if self._kind == "text":
            return self.text()
        if self._kind == "json":
            return self.json()
        return self._data

    def bytes(self) -> bytes:
        return self._data

    def text(self) -> str:
        try:
            return self._data.decode("utf-8")
        except UnicodeDecodeError:
            pass  # raised below, outside the handler: the error's .object is the value
        raise InvalidValue("secret value is binary, not UTF-8 text; use bytes()")

    def json(self) -> Any:
        import json  # lazy: only JSON values need it

        try:
            return json.loads(self._data)
        except RecursionError:
            raise InvalidValue("secret value is JSON nested too deeply to parse") from None
        except ValueError:
            pass  # raised below, outside the handler: JSONDecodeError.doc is the value
        raise InvalidValue("secret value is not valid JSON")

    # -- never show ---------------------------------------------------------
    def __repr__(self) -> str:
        return f"SecretValue(kind={self._kind!r}, value=***)"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SecretValue):
            return NotImplemented
        from hmac import compare_digest  # lazy: hashlib/OpenSSL cost milliseconds to import

        return self._kind == other._kind and compare_digest(self._data, other._data)

    __hash__ = None  # type: ignore[assignment]  # equal values must not be findable by hash

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("SecretValue is immutable")

    def __reduce__(self) -> Any:
        raise TypeError("SecretValue cannot be pickled: it would carry the value in the clear")


_EMPTY: Mapping[str, str] = MappingProxyType({})
_put = object.__setattr__  # records set their slots once, past their own __setattr__


def _frozen(mapping: Mapping[str, str] | None) -> Mapping[str, str]:
    if not mapping:
        return _EMPTY
    if isinstance(mapping, MappingProxyType):
        return mapping
    return MappingProxyType(dict(mapping))


class _Record:
    """An immutable record: fields are its ``__slots__``, set once; repr/eq from them."""

    __slots__ = ()

    def _set(self, **fields: object) -> None:
        for key, value in fields.items():
            _put(self, key, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _names(self) -> tuple[str, ...]:
        return tuple(type(self).__slots__)  # the record's fields, in order

    def _fields(self) -> tuple[object, ...]:
        return tuple(getattr(self, f) for f in self._names())

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, _Record)
        return self._fields() == other._fields()

    def __hash__(self) -> int:
        return hash(self._fields())

    def __repr__(self) -> str:
        shown = ", ".join(f"{f}={getattr(self, f)!r}" for f in self._names())
        return f"{type(self).__name__}({shown})"


class _Copyable(_Record):
    """A ``_Record`` that ``copy`` and ``pickle`` rebuild through ``__init__``, which
    must take the record's slots in order (as a frozen dataclass's does)."""

    __slots__ = ()

    def __reduce__(self) -> tuple[Any, tuple[object, ...]]:
        return type(self), self._fields()


class VersionInfo(_Record):
    """One version of a secret, without its value."""

    __slots__ = ("name", "version", "stages", "created", "metadata")

    name: str
    version: str
    stages: frozenset[str]
    created: datetime | None
    metadata: Mapping[str, str]

    def __init__(
        self,
        name: str,
        version: str,
        stages: Iterable[str] = frozenset(),
        created: datetime | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self._set(
            name=name,
            version=version,
            stages=frozenset(stages),
            created=created,
            metadata=_frozen(metadata),
        )


class Secret(_Record):
    """One immutable version of a secret, value included (never shown by repr)."""

    __slots__ = ("name", "version", "value", "stages", "created", "metadata")

    name: str
    version: str
    value: SecretValue
    stages: frozenset[str]
    created: datetime | None
    metadata: Mapping[str, str]

    def __init__(
        self,
        name: str,
        version: str,
        value: SecretValue,
        stages: Iterable[str] = frozenset(),
        created: datetime | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        # One Secret per backend read: set the slots directly (no kwargs dict).
        _put(self, "name", name)
        _put(self, "version", version)
        _put(self, "value", value)
        _put(self, "stages", stages if type(stages) is frozenset else frozenset(stages))
        _put(self, "created", created)
        _put(self, "metadata", _frozen(metadata))

    @property
    def info(self) -> VersionInfo:
        return VersionInfo(self.name, self.version, self.stages, self.created, self.metadata)

    def with_name(self, name: str) -> Secret:
        """The same version seen under another name (short vs full)."""
        return Secret(name, self.version, self.value, self.stages, self.created, self.metadata)


class SecretInfo(_Record):
    """One entry of a listing: a secret's name and state, no value."""

    __slots__ = (
        "name",
        "created",
        "updated",
        "current_version",
        "deleted",
        "recoverable_until",
        "metadata",
    )

    name: str
    created: datetime | None
    updated: datetime | None
    current_version: str | None
    deleted: bool
    recoverable_until: datetime | None
    metadata: Mapping[str, str]

    def __init__(
        self,
        name: str,
        created: datetime | None = None,
        updated: datetime | None = None,
        current_version: str | None = None,
        deleted: bool = False,
        recoverable_until: datetime | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self._set(
            name=name,
            created=created,
            updated=updated,
            current_version=current_version,
            deleted=deleted,
            recoverable_until=recoverable_until,
            metadata=_frozen(metadata),
        )


class Page(_Record):
    """One page of a listing; pass ``next_token`` back for the next page (None: done)."""

    __slots__ = ("items", "next_token")

    items: tuple[SecretInfo, ...]
    next_token: str | None

    def __init__(self, items: Iterable[SecretInfo], next_token: str | None = None) -> None:
        self._set(items=tuple(items), next_token=next_token)

    @classmethod
    def of(cls, items: Iterable[SecretInfo], next_token: str | None = None) -> Page:
        return cls(items, next_token)

    @classmethod
    def after(
        cls,
        names: Iterable[str],
        info: Callable[[str], SecretInfo],
        *,
        page_token: str | None,
        page_size: int,
    ) -> Page:
        """The page of ``names`` (any order) after ``page_token``: sorted, at most
        ``page_size``, and the last name as ``next_token`` while more remain. The
        paging rule of every backend that lists by name."""
        rest = sorted(n for n in names if not page_token or n > page_token)
        chunk = rest[:page_size]
        return cls([info(n) for n in chunk], chunk[-1] if len(rest) > page_size else None)
