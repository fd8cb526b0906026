"""Conversions between the local store's columns and sekret's values.

Times are stored as integer microseconds since the epoch, version ids as
integers, stage sets as space-separated text and metadata as JSON text;
``sekret.backends.local`` uses these on its read path (where they are
memoised) and when it writes.

This module must never touch a database or see a secret value: it converts
only timestamps, version ids, stage names and metadata.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Final

__all__ = [
    "MEMO_SIZE",
    "NO_LIMIT",
    "NO_METADATA",
    "NO_STAGES",
    "from_us",
    "metadata_of",
    "stage_set",
    "to_us",
    "version_number",
]

EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
US: Final = timedelta(microseconds=1)
NO_STAGES: Final[frozenset[str]] = frozenset()
NO_METADATA: Final[Mapping[str, str]] = {}
MEMO_SIZE: Final = 4096
NO_LIMIT: Final = 2**31  # sizes were checked on write; a store may predate a lower limit


def to_us(when: datetime) -> int:
    return (when - EPOCH) // US


def from_us(us: int) -> datetime:
    # exact: a double holds today's epoch seconds to well under half a microsecond
    return datetime.fromtimestamp(us / 1_000_000, UTC)


def version_number(version: str) -> int | None:
    """The integer id of a canonical version string ("1", "2", ...), else None."""
    if isinstance(version, str) and version.isascii() and version.isdigit():
        number = int(version)
        if str(number) == version and number < 2**62:
            return number
    return None


def stage_set(text: str | None) -> frozenset[str]:
    return frozenset(text.split(" ")) if text else frozenset()


def metadata_of(text: str | None) -> dict[str, str]:
    return dict(json.loads(text)) if text else {}
