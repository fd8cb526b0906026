"""Tables, times and JSON documents of the CLI output."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from sekret import Secret, SecretValue
from sekret.cli._output import (
    format_stages,
    format_time,
    metadata_pairs,
    secret_document,
    table,
)


def test_table_pads_columns_and_trims_trailing_space() -> None:
    """Columns line up at their widest cell, two spaces apart, no trailing blanks."""
    out = table(("NAME", "V"), [("a", "10"), ("longer-name", "2")])
    assert out.splitlines() == ["NAME         V", "a            10", "longer-name  2"]


def test_table_with_no_rows_is_the_header() -> None:
    """An empty listing prints only the header."""
    assert table(("NAME", "CURRENT"), []) == "NAME  CURRENT"


def test_format_time_is_utc_seconds() -> None:
    """Times print as UTC ISO 8601 to the second; unknown is empty."""
    when = datetime(2026, 1, 2, 4, 5, 6, 789, tzinfo=timezone(timedelta(hours=1)))
    assert format_time(when) == "2026-01-02T03:05:06Z"
    assert format_time(None) == ""


def test_stages_print_in_lifecycle_order() -> None:
    """current, pending, previous come first, then other labels alphabetically."""
    assert format_stages({"zeta", "previous", "alpha", "current"}) == "current,previous,alpha,zeta"


def test_metadata_pairs_split_on_the_first_equals() -> None:
    """KEY=VALUE pairs parse; a pair without '=' or key is refused."""
    assert metadata_pairs(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    for bad in ("novalue", "=v"):
        with pytest.raises(ValueError, match="KEY=VALUE"):
            metadata_pairs([bad])


def test_secret_document_encodes_each_kind() -> None:
    """Text is a string, JSON a value, bytes base64."""
    made = datetime(2026, 1, 1, tzinfo=UTC)
    docs = [
        secret_document("k", Secret("a/b/k", "1", SecretValue.of(v), {"current"}, made))
        for v in ("text", {"a": 1}, b"\x00\x01")
    ]
    assert [(d["encoding"], d["value"]) for d in docs] == [
        ("text", "text"),
        ("json", {"a": 1}),
        ("base64", "AAE="),
    ]
    assert docs[0]["created"] == "2026-01-01T00:00:00Z"
