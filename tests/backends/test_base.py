"""sekret.backends.base: the shared rules every backend applies (compare-and-set, stage
moves, paging, tokens, capability words, optional imports), written once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

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


# -- credentials kept from children, batch writes, leases, the read-only view -----------
def test_sekrets_own_key_material_is_exactly_six_variables() -> None:
    """CORE_CREDENTIAL_ENV: the master key, passphrase, key files and audit keys."""
    from sekret.backends.base import CORE_CREDENTIAL_ENV

    assert (
        frozenset(
            {
                "SEKRET_MASTER_KEY",
                "SEKRET_PASSPHRASE",
                "SEKRET_KEY_FILE",
                "SEKRET_BACKUP_KEY_FILE",
                "SEKRET_AUDIT_KEY",
                "SEKRET_AUDIT_KEY_FILE",
            }
        )
        == CORE_CREDENTIAL_ENV
    )


@pytest.mark.parametrize(
    ("variable", "credential"),
    [
        ("SEKRET_MASTER_KEY", True),
        ("SEKRET_AUDIT_KEY_FILE", True),
        ("SEKRET_KEY", True),
        ("SEKRET_SIGNING_KEY", True),
        ("SEKRET_OLD_PASSPHRASE", True),
        ("SEKRET_DB_PASSWORD", True),
        ("SEKRET_AGENT_TOKEN", True),
        ("SEKRET_CLIENT_SECRET", True),
        ("SEKRET_CREDENTIALS_FILE", True),
        ("sekret_agent_token", True),  # names are compared upper-case
        ("SEKRET_APP", False),
        ("SEKRET_ENV", False),
        ("SEKRET_BACKEND", False),
        ("SEKRET_READ_ONLY", False),
        ("MY_SEKRET_TOKEN", False),  # not sekret's own: only the SEKRET_ prefix counts
        ("API_KEY", False),
        ("SEKRET_", False),
    ],
)
def test_is_credential_env_knows_sekrets_key_material(variable: str, credential: bool) -> None:
    """The core six, and any SEKRET_* naming a key, passphrase, password, token, secret."""
    from sekret.backends.base import is_credential_env

    assert is_credential_env(variable) is credential


def test_lease_grant_keeps_its_fields_and_never_shows_the_credentials() -> None:
    """A LeaseGrant holds id, credentials, ttl (a float) and renewable; repr shows no value."""
    from sekret import SecretValue
    from sekret.backends.base import LeaseGrant
    from sekret.testing import sentinel_value

    password = sentinel_value()
    creds = SecretValue.of({"username": "u", "password": password})
    grant = LeaseGrant("db/creds/app/abc", creds, ttl=3600, renewable=True)
    assert (grant.lease_id, grant.credentials, grant.renewable) == ("db/creds/app/abc", creds, True)
    assert grant.ttl == 3600.0
    assert isinstance(grant.ttl, float)
    assert repr(grant) == "LeaseGrant('db/creds/app/abc', ttl=3600, renewable=True)"
    assert password not in repr(grant)


def test_write_request_keeps_the_write_arguments_and_never_shows_the_value() -> None:
    """A WriteRequest carries write()'s arguments (current by default); repr shows no value."""
    from sekret import CURRENT, SecretValue
    from sekret.backends.base import WriteRequest
    from sekret.testing import sentinel_value

    value = SecretValue.of(sentinel_value())
    plain = WriteRequest("a/b/c", value)
    assert (plain.name, plain.value, tuple(plain.stages)) == ("a/b/c", value, (CURRENT,))
    assert (plain.expected_version, plain.token, plain.metadata) == (None, None, None)
    full = WriteRequest(
        "a/b/c", value, stages=("pending",), expected_version="2", token="t", metadata={"k": "v"}
    )
    assert (full.stages, full.expected_version, full.token, full.metadata) == (
        ("pending",),
        "2",
        "t",
        {"k": "v"},
    )
    assert repr(full) == "WriteRequest('a/b/c', stages=['pending'])"
    assert value.text() not in repr(plain)


def test_default_put_many_writes_in_order_and_returns_errors_in_place() -> None:
    """put_many writes one by one with each request's arguments; a SekretError stays in place."""
    from sekret import SecretValue
    from sekret.backends.base import WriteRequest
    from sekret.backends.memory import MemoryBackend

    class OneByOne(MemoryBackend):
        put_many = Backend.put_many  # the base class's default, not the memory backend's

    backend = OneByOne()
    got = backend.put_many(
        [
            WriteRequest("a/b/x", SecretValue.of("one")),
            WriteRequest("a/b/x", SecretValue.of("two"), expected_version="7"),  # a conflict
            WriteRequest("a/b/y", SecretValue.of("three"), metadata={"owner": "team"}),
            WriteRequest("a/b/x", SecretValue.of("four"), stages=("pending",)),
        ]
    )
    assert [type(r).__name__ for r in got] == [
        "VersionInfo",
        "Conflict",
        "VersionInfo",
        "VersionInfo",
    ]
    assert backend.read("a/b/x").value.text() == "one"
    assert backend.read("a/b/x", stage="pending").value.text() == "four"
    assert backend.read("a/b/y").metadata.get("owner") == "team"


def test_a_bare_backend_has_no_leases_and_consumes_its_declared_credentials() -> None:
    """issue/renew/revoke_lease are UnsupportedOperation; consumed_env is credential_env."""

    class WithCreds(Backend):
        scheme = "creds"
        credential_env = frozenset({"CREDS_TOKEN"})

    backend = WithCreds()
    assert backend.consumed_env() == frozenset({"CREDS_TOKEN"})
    assert Backend().consumed_env() == frozenset()
    for call in (
        lambda: backend.issue_lease("n"),
        lambda: backend.renew_lease("lease"),
        lambda: backend.revoke_lease("lease"),
    ):
        with pytest.raises(UnsupportedOperation, match="needs leases"):
            call()


class _Inner(Backend):
    """A backend that records what the read-only view passes through, and returns markers."""

    scheme = "inner"
    capabilities = Capability.full() | Capability.BATCH_READ | Capability.LEASES
    max_value_bytes = 1234
    credential_env = frozenset({"INNER_TOKEN"})

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    @property
    def identity(self) -> str | None:
        return "role/app"

    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Any:
        self.calls.append(("read", name, version, stage))
        return "secret"

    def read_many(self, names: Any) -> Any:
        self.calls.append(("read_many", tuple(names)))
        return {"many": True}

    def versions(self, name: str) -> Any:
        self.calls.append(("versions", name))
        return ["v"]

    def list(self, prefix: str = "", **options: Any) -> Any:
        self.calls.append(("list", prefix, tuple(sorted(options.items()))))
        return "page"

    def issue_lease(self, name: str, *, replaces: str | None = None) -> Any:
        self.calls.append(("issue_lease", name, replaces))
        return "grant"

    def renew_lease(self, lease_id: str, *, increment: float | None = None) -> float:
        self.calls.append(("renew_lease", lease_id, increment))
        return 60.0

    def revoke_lease(self, lease_id: str) -> None:
        self.calls.append(("revoke_lease", lease_id))

    def close(self) -> None:
        self.calls.append(("close",))


def test_a_read_only_view_passes_reads_and_leases_through() -> None:
    """Reads, listing, versions and leases reach the wrapped backend with every argument."""
    from sekret.backends.base import ReadOnlyView

    inner = _Inner()
    view = ReadOnlyView(inner)
    assert view.read("a/b/c", version="2", stage="previous") == "secret"
    assert view.read_many(["a", "b"]) == {"many": True}
    assert view.versions("a/b/c") == ["v"]
    assert view.list("a/", page_size=5, page_token="t", include_deleted=True) == "page"
    assert view.issue_lease("a/b/db", replaces="old") == "grant"
    assert view.renew_lease("lease-1", increment=30.0) == 60.0
    view.revoke_lease("lease-1")
    view.close()
    assert inner.calls == [
        ("read", "a/b/c", "2", "previous"),
        ("read_many", ("a", "b")),
        ("versions", "a/b/c"),
        ("list", "a/", (("include_deleted", True), ("page_size", 5), ("page_token", "t"))),
        ("issue_lease", "a/b/db", "old"),
        ("renew_lease", "lease-1", 30.0),
        ("revoke_lease", "lease-1"),
        ("close",),
    ]
    assert view.describe() == "inner://"
    assert view.identity == "role/app"
    assert view.consumed_env() == frozenset({"INNER_TOKEN"})
    assert view.max_value_bytes == 1234


def test_a_read_only_view_offers_only_read_capabilities() -> None:
    """The view keeps the wrapped backend's read, versions, list, batch read, stages, leases."""
    from sekret.backends.base import READ_CAPABILITIES, READ_CAPABILITIES_ALL, ReadOnlyView

    assert READ_CAPABILITIES == Capability.READ | Capability.VERSIONS | Capability.LIST
    assert READ_CAPABILITIES_ALL == (
        READ_CAPABILITIES | Capability.BATCH_READ | Capability.STAGES | Capability.LEASES
    )
    assert ReadOnlyView(_Inner()).capabilities == READ_CAPABILITIES_ALL
    assert ReadOnlyView(_Reader()).capabilities == Capability.READ


def test_a_read_only_view_refuses_every_write_with_a_hint() -> None:
    """write, move_stage, delete, restore and destroy are AccessDenied; nothing reaches inside."""
    from sekret import AccessDenied, SecretValue
    from sekret.backends.base import ReadOnlyView

    inner = _Inner()
    default = ReadOnlyView(inner)
    hinted = ReadOnlyView(inner, hint="use the rotation role")
    for view, hint in ((default, "sekret --admin"), (hinted, "use the rotation role")):
        for name, call in (
            ("write", lambda v=view: v.write("a/b/c", SecretValue.of("x"))),
            ("move_stage", lambda v=view: v.move_stage("a/b/c", "current", "1")),
            ("delete", lambda v=view: v.delete("a/b/c")),
            ("restore", lambda v=view: v.restore("a/b/c")),
            ("destroy", lambda v=view: v.destroy("a/b/c")),
        ):
            with pytest.raises(AccessDenied, match=f"read-only.*{name} refused.*{hint}") as caught:
                call()
            assert caught.value.backend == "inner://"
    assert inner.calls == []


def test_every_capability_has_a_word() -> None:
    """All capabilities, in declaration order, as capability_names writes them."""
    every = Capability.NONE
    for cap in Capability:
        every |= cap
    assert capability_names(every) == (
        "read, write, delete, destroy, versions, stages, list, batch_read, batch_write, cas, leases"
    )


def test_a_read_only_view_lists_with_the_list_defaults() -> None:
    """view.list(prefix) passes the documented defaults: pages of 100, no token, live only."""
    from sekret.backends.base import ReadOnlyView

    inner = _Inner()
    ReadOnlyView(inner).list("a/")
    assert inner.calls == [
        ("list", "a/", (("include_deleted", False), ("page_size", 100), ("page_token", None)))
    ]
