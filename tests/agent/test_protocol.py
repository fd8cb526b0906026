"""The agent's frames: encoding, limits, versions, and errors that keep their class."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from sekret import exceptions
from sekret._values import Secret, SecretValue
from sekret.agent import protocol as wire
from sekret.exceptions import BackendUnavailable, SecretDeleted, SekretError


def _every_error_class() -> list[type[SekretError]]:
    return [
        getattr(exceptions, n)
        for n in exceptions.__all__
        if isinstance(getattr(exceptions, n), type)
        and issubclass(getattr(exceptions, n), SekretError)
    ]


@pytest.mark.parametrize("cls", _every_error_class(), ids=lambda c: c.__name__)
def test_every_error_code_maps_back_to_its_class(cls: type[SekretError]) -> None:
    """An error sent as its code comes back as exactly the same class with its ids."""
    if cls is SecretDeleted:
        exc: SekretError = cls("gone", name="a/b/c", backend="memory://")
    else:
        exc = cls("it failed", name="a/b/c", version="3", backend="memory://")
    back = wire.error_from_wire(wire.error_to_wire(exc))
    assert type(back) is cls
    assert (back.message, back.name, back.backend) == (exc.message, "a/b/c", "memory://")


def test_deleted_keeps_recovery_time() -> None:
    """SecretDeleted's recoverable_until survives the trip."""
    until = datetime(2026, 12, 1, tzinfo=UTC)
    exc = SecretDeleted("gone", name="a/b/c", recoverable_until=until)
    back = wire.error_from_wire(wire.error_to_wire(exc))
    assert isinstance(back, SecretDeleted)
    assert back.recoverable_until == until


def test_secret_round_trip_keeps_kind_and_bytes() -> None:
    """A secret's bytes, kind, stages, created time and metadata survive the trip."""
    created = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    for value in (
        SecretValue.of("t\u00e9xt"),
        SecretValue.of(b"\x00\xff"),
        SecretValue.of({"a": 1}),
    ):
        secret = Secret("a/b/c", "7", value, {"current"}, created, {"k": "v"})
        assert wire.secret_from_wire(wire.secret_to_wire(secret)) == secret


def test_frames_round_trip_over_a_socket() -> None:
    """send_frame/recv_frame carry one JSON object each; a clean close reads as None."""
    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        wire.send_frame(a, {"v": wire.VERSION, "op": "hello"})
        wire.send_frame(a, {"v": wire.VERSION, "op": "read", "name": "x/y/z"})
        assert wire.recv_frame(b) == {"v": 1, "op": "hello"}
        assert wire.recv_frame(b) == {"v": 1, "op": "read", "name": "x/y/z"}
        a.shutdown(socket.SHUT_WR)
        assert wire.recv_frame(b) is None


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ((wire.MAX_FRAME + 1).to_bytes(4, "big"), "exceeds"),
        (b"\x00\x00\x00\x05{not", "middle of a frame"),
        (b"\x00\x00\x00\x04nope", "not JSON"),
        (b"\x00\x00\x00\x02[]", "not a JSON object"),
        (b'\x00\x00\x00\x08{"v":2 }', "version"),
    ],
)
def test_bad_frames_are_refused(raw: bytes, match: str) -> None:
    """Oversize, truncated, non-JSON, non-object and other-version frames are refused."""
    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        a.sendall(raw)
        a.shutdown(socket.SHUT_WR)
        with pytest.raises(BackendUnavailable, match=match):
            wire.recv_frame(b)


def test_malformed_error_is_unavailable() -> None:
    """An error frame that is not an object becomes BackendUnavailable, not a crash."""
    assert isinstance(wire.error_from_wire("junk"), BackendUnavailable)
