"""sekret.backends.base: the shared rules every backend applies (compare-and-set, stage
moves, paging, tokens, capability words, optional imports), written once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import sekret
from sekret import BackendNotInstalled, Capability, Conflict, InvalidValue, VersionNotFound
from sekret.backends.base import (
    ABSENT,
    DEFAULT_RECOVERY_DAYS,
    Backend,
    capability_names,
    check_expected_version,
    check_one_version,
    check_page_size,
    check_stage_holder,
    move_label,
    require,
    require_extra,
    text_kind,
    token_reused,
    utcnow,
)
from sekret.exceptions import (
    SecretNotFound,
    SekretError,
    UnsupportedOperation,
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


def test_write_cas_without_expectation_never_refuses() -> None:
    """expected_version=None checks nothing, whatever exists."""
    for exists, current in ((False, None), (True, "3")):
        check_expected_version("n", None, exists=exists, current=current, backend="b")


def test_write_cas_absent_means_the_secret_must_not_exist() -> None:
    """ABSENT ('') passes for a new secret and raises Conflict for an existing one."""
    assert ABSENT == ""
    check_expected_version("n", ABSENT, exists=False, current=None, backend="b")
    with pytest.raises(Conflict) as caught:
        check_expected_version("n", ABSENT, exists=True, current="1", backend="b")
    assert caught.value.name == "n"
    assert caught.value.backend == "b"


def test_write_cas_on_a_version_needs_that_current_version() -> None:
    """A version id passes only when it is the current one; else Conflict."""
    check_expected_version("n", "2", exists=True, current="2", backend="b")
    for current in ("3", None):
        with pytest.raises(Conflict) as caught:
            check_expected_version(
                "n", "2", exists=current is not None, current=current, backend="b"
            )
        assert caught.value.name == "n"
        assert caught.value.backend == "b"


def test_stage_cas_rules() -> None:
    """move_stage CAS: None never refuses, ABSENT needs no holder, a version must hold it."""
    for held in (None, "1"):
        check_stage_holder("n", "current", held, None, backend="b")
    check_stage_holder("n", "pending", None, ABSENT, backend="b")
    check_stage_holder("n", "current", "1", "1", backend="b")
    refusals = [("1", ABSENT), ("2", "1"), (None, "1")]
    for held, expected in refusals:
        with pytest.raises(Conflict) as caught:
            check_stage_holder("n", "current", held, expected, backend="b")
        assert caught.value.name == "n"
        assert caught.value.backend == "b"


def test_moving_current_labels_the_old_holder_previous() -> None:
    """current moves and its old holder becomes previous; other labels move alone."""
    stages = {"current": "1"}
    move_label(stages, "current", "2")
    assert stages == {"current": "2", "previous": "1"}
    move_label(stages, "pending", "3")
    assert stages == {"current": "2", "previous": "1", "pending": "3"}
    move_label(stages, "pending", "4")
    assert stages == {"current": "2", "previous": "1", "pending": "4"}


def test_moving_a_label_where_it_is_changes_nothing() -> None:
    """Moving current to the version that already holds it keeps previous as it was."""
    stages = {"current": "2", "previous": "1"}
    move_label(stages, "current", "2")
    assert stages == {"current": "2", "previous": "1"}


def test_first_current_has_no_previous_and_none_removes_a_label() -> None:
    """A first current sets no previous; version None removes a label (absent is fine)."""
    stages: dict[str, str] = {}
    move_label(stages, "current", "1")
    assert stages == {"current": "1"}
    move_label(stages, "pending", None)
    assert stages == {"current": "1"}
    move_label(stages, "current", None)
    assert stages == {}


def test_full_capabilities() -> None:
    """full() is every capability except BATCH_READ (a backend declares that itself)."""
    full = Capability.full()
    for cap in ("READ", "WRITE", "DELETE", "DESTROY", "VERSIONS", "STAGES", "LIST", "CAS"):
        assert Capability[cap] in full
    assert Capability.BATCH_READ not in full
    assert not Capability.NONE


def test_require_imports_or_names_the_extra() -> None:
    """require returns the module, or raises BackendNotInstalled naming the pip extra."""
    import json

    assert require("json", "core") is json
    with pytest.raises(BackendNotInstalled, match=r"sekret\[nosuch\]"):
        require("sekret_no_such_module_xyz", "nosuch")


class _Reader(Backend):
    scheme = "reader"

    def __init__(self) -> None:
        self.closed = 0

    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> object:  # type: ignore[override]
        if name == "missing":
            raise SecretNotFound(f"{name} not found", name=name)
        if name == "boom":
            raise ValueError("a bug, not a SekretError")
        return f"secret:{name}"

    def close(self) -> None:
        self.closed += 1


def test_default_read_many_collects_per_name_errors() -> None:
    """read_many reads each name; a SekretError is returned for its name, other errors raise."""
    got = _Reader().read_many(["a", "missing", "b"])
    assert list(got) == ["a", "missing", "b"]
    assert got["a"] == "secret:a"
    assert isinstance(got["missing"], SecretNotFound)
    with pytest.raises(ValueError, match="a bug"):
        _Reader().read_many(["a", "boom"])


def test_operations_a_backend_lacks_raise_unsupported() -> None:
    """Every default method raises UnsupportedOperation naming the backend, never silently."""
    backend = Backend()
    calls = [
        lambda: backend.read("n"),
        lambda: backend.versions("n"),
        lambda: backend.list(),
        lambda: backend.write("n", "v"),  # type: ignore[arg-type]
        lambda: backend.move_stage("n", "current", "1"),
        lambda: backend.delete("n"),
        lambda: backend.restore("n"),
        lambda: backend.destroy("n"),
        lambda: Backend.from_url("x://"),
        lambda: Backend.policy("app/prod"),
    ]
    for call in calls:
        with pytest.raises(UnsupportedOperation) as caught:
            call()
        assert isinstance(caught.value, SekretError)
    with pytest.raises(UnsupportedOperation) as caught:
        backend.read("n")
    assert caught.value.backend == backend.describe()


def test_defaults_of_a_bare_backend() -> None:
    """A bare backend reads only, has no identity, a 30-day recovery window, a URL-like repr."""
    backend = _Reader()
    assert Backend.capabilities == Capability.READ
    assert backend.identity is None
    assert DEFAULT_RECOVERY_DAYS == 30
    assert backend.describe() == "reader://"
    assert repr(backend) == "<_Reader reader://>"


def test_context_manager_closes_the_backend() -> None:
    """``with backend:`` returns the backend and closes it on exit, even after an error."""
    backend = _Reader()
    with backend as inside:
        assert inside is backend
    assert backend.closed == 1
    with pytest.raises(RuntimeError), backend:
        raise RuntimeError("x")
    assert backend.closed == 2
