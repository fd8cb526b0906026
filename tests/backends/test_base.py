"""The shared rules in sekret.backends.base: one place for checks every backend applies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import sekret
from sekret import BackendNotInstalled, Capability, Conflict, InvalidValue, VersionNotFound
from sekret.backends.base import (
    capability_names,
    check_one_version,
    check_page_size,
    require_extra,
    text_kind,
    token_reused,
    utcnow,
)


def test_capability_names_are_words() -> None:
    """Capabilities print as lower-case words, never as an enum repr."""
    assert capability_names(Capability.READ | Capability.LIST) == "read, list"
    assert capability_names(Capability.NONE) == "none"


def test_page_size_rule() -> None:
    """A page size below 1 is InvalidValue; 1 and more pass."""
    check_page_size(1)
    with pytest.raises(InvalidValue, match="page_size"):
        check_page_size(0)


def test_token_reused_is_a_conflict_naming_the_version() -> None:
    """Reusing an idempotency token for another value is a Conflict naming name and version."""
    err = token_reused("a/b/c", "3", backend="memory://")
    assert isinstance(err, Conflict)
    assert err.version == "3"
    assert "different value" in str(err)


def test_utcnow_is_aware() -> None:
    """Backends stamp versions with an aware UTC time."""
    assert utcnow().utcoffset() is not None


def test_require_extra_names_the_extra_not_a_backend() -> None:
    """A missing optional module names the extra to install and does not say 'backend'."""
    with pytest.raises(BackendNotInstalled) as caught:
        require_extra("sekret_no_such_module", "fastapi")
    message = str(caught.value)
    assert 'pip install "sekret[fastapi]"' in message
    assert "backend" not in message


def test_env_backend_does_not_import_the_manifest() -> None:
    """The env backend's name mapping lives beside it: no tomllib, no manifest on import."""
    code = (
        "import sys, sekret.backends.env as e;"
        " print('sekret.manifest' in sys.modules, 'tomllib' in sys.modules,"
        " e.default_env_var('tenants/acme-1/key'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.split() == ["False", "False", "TENANTS_ACME_1_KEY"]


@pytest.mark.parametrize(
    "written",
    [
        "page_size must be at least 1",
        "token already used for a different value",
        "def utcnow(",
    ],
)
def test_shared_rules_are_written_once(written: str) -> None:
    """The page-size check, the token-reuse error and the UTC clock are written only in base.py."""
    root = Path(sekret.__file__).parent
    holders = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if written in path.read_text(encoding="utf-8")
    )
    assert holders == ["backends/base.py"]


def test_text_kind_is_json_only_for_a_parsable_object_or_array() -> None:
    """Stored text is json when it parses as an object or array, text otherwise."""
    assert text_kind('{"user": "u"}') == "json"
    assert text_kind("[1, 2]") == "json"
    assert text_kind("{not json") == "text"
    assert text_kind("42") == "text"
    assert text_kind("") == "text"


def test_a_one_version_store_has_only_current() -> None:
    """A one-version store serves current; another version or stage is VersionNotFound."""
    check_one_version("a/b/c", None, None, "v1", backend="x", why="files hold")
    check_one_version("a/b/c", "v1", "current", "v1", backend="x", why="files hold")
    with pytest.raises(VersionNotFound, match=r"no version 'v0' \(files hold one version\)"):
        check_one_version("a/b/c", "v0", None, "v1", backend="x", why="files hold")
    with pytest.raises(VersionNotFound, match="no stage 'pending'"):
        check_one_version("a/b/c", None, "pending", "v1", backend="x", why="files hold")
