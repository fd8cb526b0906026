"""The shared stage rule and error helpers of the native-first cloud backends."""

from __future__ import annotations

import ssl

import pytest

from sekret._values import CURRENT, PENDING, PREVIOUS
from sekret.backends._native import Stages, check_write, no_version, tls_failure
from sekret.exceptions import InvalidValue, UnsupportedOperation, VersionNotFound


def test_current_and_previous_are_derived_labels_come_from_the_map() -> None:
    """holder/of answer current and previous from the facts, other stages from the labels."""
    stages = Stages("3", "2", {PENDING: "p7", "rotating-x": "3"})
    assert stages.holder(CURRENT) == "3"
    assert stages.holder(PREVIOUS) == "2"
    assert stages.holder(PENDING) == "p7"
    assert stages.holder("absent") is None
    assert stages.of("3") == {CURRENT, "rotating-x"}
    assert stages.of("2") == {PREVIOUS}
    assert stages.of("p7") == {PENDING}
    assert stages.of("1") == frozenset()


def test_a_label_map_cannot_claim_current_or_previous() -> None:
    """A tampered label map naming current/previous does not decide them."""
    stages = Stages("3", None, {CURRENT: "1", PREVIOUS: "1"})
    assert stages.holder(CURRENT) == "3"
    assert stages.holder(PREVIOUS) is None


def test_pick_resolves_a_stage_or_checks_a_version_against_it() -> None:
    """pick maps a stage to its holder and refuses an unheld stage or a version without it."""
    stages = Stages("3", "2", {PENDING: "p7"})
    assert stages.pick("a/b/c", None, PENDING, backend="x") == "p7"
    assert stages.pick("a/b/c", "2", None, backend="x") == "2"
    assert stages.pick("a/b/c", "3", CURRENT, backend="x") == "3"
    with pytest.raises(VersionNotFound, match="in stage 'rotating'"):
        stages.pick("a/b/c", None, "rotating", backend="x")
    with pytest.raises(VersionNotFound, match="version '2' in stage 'current'"):
        stages.pick("a/b/c", "2", CURRENT, backend="x")


def test_no_version_names_version_and_stage() -> None:
    """The error names the secret, the version and the stage asked for."""
    error = no_version("app/dev/k", "v9", PENDING, backend="azure://v")
    assert isinstance(error, VersionNotFound)
    assert "'v9'" in str(error)
    assert "'pending'" in str(error)


def test_tls_failure_is_found_through_wrapping() -> None:
    """A certificate error wrapped as inner_exception or __cause__ is recognised."""

    class Wrapped(Exception):
        def __init__(self, inner: BaseException) -> None:
            super().__init__("connection failed")
            self.inner_exception = inner

    assert tls_failure(Wrapped(ssl.SSLCertVerificationError("bad cert")))
    outer = OSError("wrapped")
    outer.__cause__ = ssl.SSLError("handshake")
    assert tls_failure(outer)
    assert not tls_failure(ConnectionRefusedError("refused"))


def test_check_write_refuses_cas_and_previous() -> None:
    """A CAS write is UnsupportedOperation saying why; writing previous is InvalidValue."""
    check_write("a/b/c", {CURRENT, PENDING}, None, backend="x://", why="no preconditions")
    with pytest.raises(UnsupportedOperation, match="no preconditions"):
        check_write("a/b/c", {CURRENT}, "v1", backend="x://", why="no preconditions")
    with pytest.raises(InvalidValue):
        check_write("a/b/c", {PREVIOUS}, None, backend="x://", why="")
