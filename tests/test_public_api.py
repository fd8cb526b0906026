"""The public surface of the sekret package, and what importing it costs."""

from __future__ import annotations

import subprocess
import sys

import pytest

import sekret


def test_all_is_exactly_the_public_names() -> None:
    """__all__ lists each lazily exported name once, and every one of them resolves."""
    assert len(sekret.__all__) == len(set(sekret.__all__))
    assert set(sekret.__all__) == {*sekret._EXPORTS, "__version__"}
    for name in sekret.__all__:
        assert getattr(sekret, name) is not None, name
    assert set(sekret.__all__) <= set(dir(sekret))


def test_unknown_attribute_is_an_attribute_error() -> None:
    """A name the package does not export raises AttributeError, as for any module."""
    with pytest.raises(AttributeError, match="NoSuchThing"):
        sekret.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018


def _loaded_after(statement: str, modules: list[str]) -> str:
    code = f"import sys; {statement}; print(','.join(m for m in {modules!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


HEAVY = [
    "boto3",
    "botocore",
    "hvac",
    "azure",
    "google",
    "click",
    "dotenv",
    "pydantic",
    "fastapi",
    "asyncio",
    "sqlite3",
    "requests",
    "cryptography",
    "logging",
]


def test_import_loads_no_sdk_or_cli() -> None:
    """`import sekret` and `from sekret import Secrets` load no SDK, CLI, asyncio or logging."""
    assert _loaded_after("import sekret", HEAVY) == ""
    assert _loaded_after("from sekret import Secrets", HEAVY) == ""


def test_import_path_stays_light() -> None:
    """`from sekret import Secrets` does not pull typing, dataclasses, re, json or the cache."""
    light = ["typing", "dataclasses", "re", "json", "hmac", "sekret.cache", "sekret.audit"]
    assert _loaded_after("from sekret import Secrets", light) == ""


def test_building_a_memory_client_stays_light() -> None:
    """`Secrets('memory://')` with its cache loads no dataclasses, typing, logging, re, datetime."""
    light = ["dataclasses", "typing", "logging", "re", "inspect", "datetime", "json", "asyncio"]
    built = "from sekret import Secrets; Secrets('memory://', app='a', environment='b').get"
    assert _loaded_after(built, light) == ""
