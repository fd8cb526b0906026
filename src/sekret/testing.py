"""Test helpers shipped with sekret, for its own suite and for plugin authors.

* ``BackendContract``: the behaviour every backend must have. Subclass it
  in a pytest module and provide a ``backend`` fixture::

      class TestMyBackend(BackendContract):
          @pytest.fixture
          def backend(self):
              with MyBackend(...) as b:
                  yield b

  A capability the backend does not declare is checked too: the call must
  raise ``UnsupportedOperation``. Nothing is skipped.
* ``MemoryBackend`` (re-exported): the in-memory reference backend.
* ``CaptureSink`` (re-exported): an audit sink that keeps every event, so a
  test can assert what was recorded (``AuditLog([sink], background=False)``).
* ``sentinel_value()``: a unique, recognisable value for leak checks.

This module imports pytest; it is never imported by ``import sekret``.
"""

from __future__ import annotations

import secrets as _random
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, ClassVar

import pytest

from sekret._values import CURRENT, PENDING, PREVIOUS, Secret, SecretValue
from sekret.audit.sinks import CaptureSink
from sekret.backends.base import ABSENT, Backend, Capability
from sekret.backends.memory import MemoryBackend
from sekret.exceptions import (
    Conflict,
    InvalidSecretName,
    InvalidValue,
    SecretDeleted,
    SecretNotFound,
    SekretError,
    UnsupportedOperation,
    VersionNotFound,
)

__all__ = ["BAD_NAMES", "BackendContract", "CaptureSink", "MemoryBackend", "sentinel_value"]

SENTINEL_PREFIX = "SEKRET-SENTINEL-"

BAD_NAMES: tuple[str, ...] = (
    "",
    "/leading",
    "trailing/",
    "a//b",
    "a/../b",
    "./a",
    "has space",
    "tab\there",
    "new\nline",
    "nul\x00byte",
    "unicode-é",
    "semi;colon",
    "x" * 257,
)


def sentinel_value(label: str = "") -> str:
    """A fresh value that is easy to find in captured output (and nowhere else)."""
    return f"{SENTINEL_PREFIX}{label}{_random.token_hex(12)}"


def _expect(capable: bool, fn: Callable[[], Any]) -> Any:
    """Call ``fn``; if the backend lacks the capability it must say so clearly."""
    if capable:
        return fn()
    with pytest.raises(UnsupportedOperation):
        fn()
    return None


class BackendContract:
    """The shared behaviour of every backend. Subclasses provide ``backend``."""

    #: recovery window the delete tests use (valid for every service: AWS allows 7-30)
    recovery_days: ClassVar[int] = 7

    @pytest.fixture
    def backend(self) -> Iterator[Backend]:
        raise TypeError("subclass BackendContract and provide a `backend` fixture")

    @pytest.fixture
    def name(self) -> str:
        """A fresh full name, so tests never see each other's data."""
        return f"contract/t{uuid.uuid4().hex[:16]}/secret"

    def seed(self, backend: Backend, name: str, value: object) -> str:
        """Store ``value`` as the current version; read-only backends override this."""
        return backend.write(name, SecretValue.of(value)).version

    def caps(self, backend: Backend) -> Capability:
        return backend.capabilities

    # -- capabilities ------------------------------------------------------
    def test_declares_capabilities_as_data(self, backend: Backend) -> None:
        """Capabilities are a Capability flag that includes READ."""
        assert isinstance(backend.capabilities, Capability)
        assert Capability.READ in backend.capabilities

    def test_undeclared_write_is_unsupported(self, backend: Backend, name: str) -> None:
        """A backend that does not declare WRITE raises UnsupportedOperation on write."""
        if Capability.WRITE in backend.capabilities:
            return
        with pytest.raises(UnsupportedOperation):
            backend.write(name, SecretValue.of("x"))

    # -- round trips -------------------------------------------------------
    def test_round_trip_text(self, backend: Backend, name: str) -> None:
        """Text comes back as the same text with the text content type."""
        value = sentinel_value("text-")
        self.seed(backend, name, value)
        secret = backend.read(name)
        assert secret.value.text() == value
        assert secret.value.kind == "text"
        assert secret.name == name
        assert CURRENT in secret.stages

    def test_round_trip_unicode(self, backend: Backend, name: str) -> None:
        """Non-ASCII text (accents, CJK, emoji, RTL) survives unchanged."""
        value = "clé-密钥-🔑-مفتاح " + _random.token_hex(4)
        self.seed(backend, name, value)
        assert backend.read(name).value.text() == value

    def test_round_trip_bytes(self, backend: Backend, name: str) -> None:
        """Every byte value 0-255 survives, and the value reads back as binary."""
        value = bytes(range(256)) + _random.token_bytes(16)
        self.seed(backend, name, value)
        secret = backend.read(name)
        assert secret.value.bytes() == value
        assert secret.value.kind == "bytes"

    def test_round_trip_json(self, backend: Backend, name: str) -> None:
        """A JSON document comes back equal, marked as JSON."""
        doc = {"username": "app", "password": sentinel_value(), "port": 5432, "tags": ["a"]}
        self.seed(backend, name, doc)
        secret = backend.read(name)
        assert secret.value.json() == doc
        assert secret.value.kind == "json"

    def test_created_time_is_aware(self, backend: Backend, name: str) -> None:
        """Versions carry a timezone-aware creation time."""
        self.seed(backend, name, "v")
        created = backend.read(name).created
        assert isinstance(created, datetime)
        assert created.tzinfo is not None

    # -- limits and bad input ---------------------------------------------
    def test_value_at_limit_is_accepted(self, backend: Backend, name: str) -> None:
        """A value of exactly max_value_bytes is stored and read back."""
        value = "a" * backend.max_value_bytes
        self.seed(backend, name, value)
        assert backend.read(name).value.text() == value

    def test_oversize_value_is_refused_and_nothing_stored(
        self, backend: Backend, name: str
    ) -> None:
        """One byte over the limit raises InvalidValue and stores nothing."""
        if Capability.WRITE not in backend.capabilities:
            return
        with pytest.raises(InvalidValue):
            backend.write(name, SecretValue(b"a" * (backend.max_value_bytes + 1), "bytes"))
        with pytest.raises(SecretNotFound):
            backend.read(name)

    @pytest.mark.parametrize("bad", BAD_NAMES)
    def test_invalid_names_are_refused(self, backend: Backend, bad: str) -> None:
        """Names outside the grammar raise InvalidSecretName on read and write."""
        with pytest.raises(InvalidSecretName):
            backend.read(bad)
        if Capability.WRITE in backend.capabilities:
            with pytest.raises(InvalidSecretName):
                backend.write(bad, SecretValue.of("x"))

    def test_missing_secret_is_not_found(self, backend: Backend, name: str) -> None:
        """Reading a name never written raises SecretNotFound naming it."""
        with pytest.raises(SecretNotFound) as info:
            backend.read(name)
        assert name in str(info.value)

    # -- versions and stages ----------------------------------------------
    def test_new_version_becomes_current_old_becomes_previous(
        self, backend: Backend, name: str
    ) -> None:
        """A second write is current; the first is previous and readable by id."""
        if Capability.WRITE not in backend.capabilities:
            return
        v1 = backend.write(name, SecretValue.of("one")).version
        v2 = backend.write(name, SecretValue.of("two")).version
        assert v1 != v2
        assert backend.read(name).value.text() == "two"
        assert backend.read(name).version == v2

        def by_stage() -> Secret:
            return backend.read(name, stage=PREVIOUS)

        prev = _expect(Capability.STAGES in backend.capabilities, by_stage)
        if prev is not None:
            assert prev.version == v1
            assert prev.value.text() == "one"

        def by_version() -> Secret:
            return backend.read(name, version=v1)

        old = _expect(Capability.VERSIONS in backend.capabilities, by_version)
        if old is not None:
            assert old.value.text() == "one"

    def test_versions_listed_oldest_first_with_stages(self, backend: Backend, name: str) -> None:
        """versions() lists every version in order, with current and previous marked."""
        if Capability.WRITE not in backend.capabilities:
            return
        ids = [backend.write(name, SecretValue.of(f"v{i}")).version for i in range(3)]
        if Capability.VERSIONS not in backend.capabilities:
            with pytest.raises(UnsupportedOperation):
                backend.versions(name)
            return
        infos = backend.versions(name)
        assert [i.version for i in infos] == ids
        stages = {i.version: i.stages for i in infos}
        assert CURRENT in stages[ids[2]]
        if Capability.STAGES in backend.capabilities:
            assert PREVIOUS in stages[ids[1]]
            assert not stages[ids[0]] & {CURRENT, PREVIOUS}

    def test_missing_version_is_version_not_found(self, backend: Backend, name: str) -> None:
        """A version id or stage that does not exist raises VersionNotFound."""
        self.seed(backend, name, "v")
        if Capability.VERSIONS in backend.capabilities:
            with pytest.raises(VersionNotFound):
                backend.read(name, version="999999")
        if Capability.STAGES in backend.capabilities:
            with pytest.raises(VersionNotFound):
                backend.read(name, stage=PENDING)

    def test_pending_write_leaves_current_alone(self, backend: Backend, name: str) -> None:
        """Writing with stages=[pending] adds a version without changing current."""
        if Capability.STAGES not in backend.capabilities:
            return
        v1 = backend.write(name, SecretValue.of("live")).version
        v2 = backend.write(name, SecretValue.of("next"), stages=[PENDING]).version
        assert backend.read(name).version == v1
        assert backend.read(name).value.text() == "live"
        assert backend.read(name, stage=PENDING).version == v2

    def test_promote_pending_moves_current_to_previous(self, backend: Backend, name: str) -> None:
        """Moving current onto the pending version makes the old current previous."""
        if Capability.STAGES not in backend.capabilities:
            return
        v1 = backend.write(name, SecretValue.of("live")).version
        v2 = backend.write(name, SecretValue.of("next"), stages=[PENDING]).version
        backend.move_stage(name, CURRENT, v2, expected_version=v1)
        backend.move_stage(name, PENDING, None)
        assert backend.read(name).value.text() == "next"
        assert backend.read(name, stage=PREVIOUS).version == v1
        with pytest.raises(VersionNotFound):
            backend.read(name, stage=PENDING)

    def test_rollback_by_moving_current_back(self, backend: Backend, name: str) -> None:
        """Moving current back to the previous version swaps the two."""
        if Capability.STAGES not in backend.capabilities:
            return
        v1 = backend.write(name, SecretValue.of("one")).version
        v2 = backend.write(name, SecretValue.of("two")).version
        backend.move_stage(name, CURRENT, v1)
        assert backend.read(name).value.text() == "one"
        assert backend.read(name, stage=PREVIOUS).version == v2

    def test_move_stage_with_wrong_expectation_conflicts(self, backend: Backend, name: str) -> None:
        """move_stage with a stale expected_version raises Conflict and moves nothing."""
        if Capability.STAGES not in backend.capabilities:
            return
        v1 = backend.write(name, SecretValue.of("one")).version
        v2 = backend.write(name, SecretValue.of("two")).version
        with pytest.raises(Conflict):
            backend.move_stage(name, CURRENT, v1, expected_version=v1)
        assert backend.read(name).version == v2

    def test_move_stage_absent_expectation_is_a_lock(self, backend: Backend, name: str) -> None:
        """expected_version=ABSENT lets exactly one caller place a free label."""
        if Capability.STAGES not in backend.capabilities:
            return
        v1 = backend.write(name, SecretValue.of("one")).version
        v2 = backend.write(name, SecretValue.of("two"), stages=[PENDING]).version
        with pytest.raises(Conflict):
            backend.move_stage(name, PENDING, v1, expected_version=ABSENT)
        backend.move_stage(name, "rotating-1a2b", v1, expected_version=ABSENT)
        with pytest.raises(Conflict):
            backend.move_stage(name, "rotating-1a2b", v2, expected_version=ABSENT)
        stages = {i.version: i.stages for i in backend.versions(name)}
        assert "rotating-1a2b" in stages[v1]
        assert PENDING in stages[v2]
        backend.move_stage(name, "rotating-1a2b", None, expected_version=v1)
        assert all("rotating-1a2b" not in i.stages for i in backend.versions(name))
        assert backend.read(name).version == v1

    def test_move_stage_to_missing_version(self, backend: Backend, name: str) -> None:
        """Moving a stage to a version that does not exist raises VersionNotFound."""
        if Capability.STAGES not in backend.capabilities:
            return
        backend.write(name, SecretValue.of("one"))
        with pytest.raises(VersionNotFound):
            backend.move_stage(name, PENDING, "999999")

    def test_stages_are_unsupported_when_undeclared(self, backend: Backend, name: str) -> None:
        """Without STAGES, move_stage raises UnsupportedOperation."""
        if Capability.STAGES in backend.capabilities:
            return
        with pytest.raises(UnsupportedOperation):
            backend.move_stage(name, CURRENT, "1")

    # -- compare-and-set and idempotency ---------------------------------
    def test_compare_and_set(self, backend: Backend, name: str) -> None:
        """expected_version guards writes: ABSENT creates, a stale id conflicts."""
        if Capability.CAS not in backend.capabilities:
            return
        v1 = backend.write(name, SecretValue.of("one"), expected_version=ABSENT).version
        with pytest.raises(Conflict):
            backend.write(name, SecretValue.of("again"), expected_version=ABSENT)
        v2 = backend.write(name, SecretValue.of("two"), expected_version=v1).version
        with pytest.raises(Conflict):
            backend.write(name, SecretValue.of("lost"), expected_version=v1)
        assert backend.read(name).version == v2
        assert backend.read(name).value.text() == "two"

    def test_token_makes_writes_idempotent(self, backend: Backend, name: str) -> None:
        """The same token and value returns the same version; another value conflicts."""
        if Capability.WRITE not in backend.capabilities:
            return
        token = uuid.uuid4().hex
        first = backend.write(name, SecretValue.of("one"), token=token).version
        again = backend.write(name, SecretValue.of("one"), token=token).version
        assert again == first
        with pytest.raises(Conflict):
            backend.write(name, SecretValue.of("other"), token=token)
        if Capability.VERSIONS in backend.capabilities:
            assert len(backend.versions(name)) == 1

    # -- delete / restore / destroy -----------------------------------------
    def test_delete_and_restore(self, backend: Backend, name: str) -> None:
        """A deleted secret reads as SecretDeleted; restore brings back every version."""
        if Capability.DELETE not in backend.capabilities:
            return
        backend.write(name, SecretValue.of("one"))
        v2 = backend.write(name, SecretValue.of("two")).version
        when = backend.delete(name, recovery_days=self.recovery_days)
        assert when.tzinfo is not None
        with pytest.raises(SecretDeleted):
            backend.read(name)
        backend.restore(name)
        assert backend.read(name).version == v2
        assert backend.read(name).value.text() == "two"

    def test_write_to_deleted_secret_is_refused(self, backend: Backend, name: str) -> None:
        """A secret pending deletion cannot take new versions until restored."""
        if Capability.DELETE not in backend.capabilities:
            return
        backend.write(name, SecretValue.of("one"))
        backend.delete(name, recovery_days=self.recovery_days)
        with pytest.raises(SecretDeleted):
            backend.write(name, SecretValue.of("two"))

    def test_destroy_is_permanent(self, backend: Backend, name: str) -> None:
        """After destroy the secret is gone: not found, and restore cannot help."""
        if Capability.DESTROY not in backend.capabilities:
            return
        backend.write(name, SecretValue.of("one"))
        backend.destroy(name)
        with pytest.raises(SecretNotFound) as info:
            backend.read(name)
        assert not isinstance(info.value, SecretDeleted)
        with pytest.raises(SecretNotFound):
            backend.restore(name)

    def test_delete_missing_is_not_found(self, backend: Backend, name: str) -> None:
        """Deleting a secret that never existed raises SecretNotFound."""
        if Capability.DELETE not in backend.capabilities:
            return
        with pytest.raises(SecretNotFound):
            backend.delete(name, recovery_days=self.recovery_days)

    # -- listing -----------------------------------------------------------
    def test_list_by_prefix_with_pagination(self, backend: Backend, name: str) -> None:
        """Every secret under a prefix is listed once across pages of 2."""
        if Capability.LIST not in backend.capabilities:
            return
        prefix = name.rsplit("/", 1)[0] + "/"
        wanted = {f"{prefix}item{i}" for i in range(5)}
        for n in wanted:
            self.seed(backend, n, "v")
        self.seed(backend, prefix.rstrip("/") + "-sibling/other", "v")
        seen: list[str] = []
        token: str | None = None
        for _ in range(20):
            page = backend.list(prefix, page_size=2, page_token=token)
            assert len(page.items) <= 2
            seen += [i.name for i in page.items]
            token = page.next_token
            if token is None:
                break
        assert sorted(seen) == sorted(wanted)

    def test_list_hides_deleted_unless_asked(self, backend: Backend, name: str) -> None:
        """Soft-deleted secrets are listed only with include_deleted=True."""
        if not {Capability.LIST, Capability.DELETE} <= set(backend.capabilities):
            return
        prefix = name.rsplit("/", 1)[0] + "/"
        backend.write(name, SecretValue.of("v"))
        backend.write(prefix + "gone", SecretValue.of("v"))
        backend.delete(prefix + "gone", recovery_days=self.recovery_days)
        live = [i.name for i in backend.list(prefix).items]
        assert live == [name]
        everything = {i.name: i for i in backend.list(prefix, include_deleted=True).items}
        assert set(everything) == {name, prefix + "gone"}
        assert everything[prefix + "gone"].deleted

    # -- batch reads -------------------------------------------------------
    def test_read_many_reports_each_name(self, backend: Backend, name: str) -> None:
        """read_many returns a Secret per present name and an error per missing one."""
        base = name.rsplit("/", 1)[0]
        present = [f"{base}/p{i}" for i in range(3)]
        for n in present:
            self.seed(backend, n, n[-2:])
        missing = f"{base}/missing"
        got = backend.read_many([*present, missing])
        assert set(got) == {*present, missing}
        for n in present:
            item = got[n]
            assert isinstance(item, Secret)
            assert item.value.text() == n[-2:]
        assert isinstance(got[missing], SecretNotFound)

    # -- no leaks ------------------------------------------------------------
    def test_values_never_shown(self, backend: Backend, name: str) -> None:
        """repr/str of the secret, value, version info and backend never show the value."""
        value = sentinel_value()
        self.seed(backend, name, value)
        secret = backend.read(name)
        shown = [repr(secret), str(secret), repr(secret.value), f"{secret.value}", repr(backend)]
        shown += [repr(i) for i in backend.read_many([name]).values()]
        if Capability.VERSIONS in backend.capabilities:
            shown += [repr(v) for v in backend.versions(name)]
        try:
            backend.read(name, version="999999")
        except SekretError as exc:
            shown.append(str(exc))
        assert not [s for s in shown if value in s]
