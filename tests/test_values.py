"""SecretValue and Secret (sekret._values): values are held, never shown."""

from __future__ import annotations

import contextlib
import logging
import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sekret import MAX_VALUE_BYTES, InvalidValue, Secret, SecretValue
from sekret._values import validate_stage
from sekret.testing import sentinel_value


def test_text_round_trip() -> None:
    """Text comes back with reveal() and text(), kind 'text'."""
    v = SecretValue.of("héllo")
    assert v.reveal() == "héllo"
    assert v.text() == "héllo"
    assert v.kind == "text"
    assert v.content_type.startswith("text/plain")


def test_bytes_and_json_round_trip() -> None:
    """Bytes reveal as bytes, dicts and lists as parsed JSON."""
    assert SecretValue.of(b"\x00\xff").reveal() == b"\x00\xff"
    assert SecretValue.of({"a": [1, "b"]}).reveal() == {"a": [1, "b"]}
    assert SecretValue.of([1, 2]).json() == [1, 2]


@given(st.text() | st.binary())
def test_any_value_is_hidden_in_every_rendering(raw: str | bytes) -> None:
    """repr, str, format and %-formatting never contain the value."""
    token = sentinel_value()
    v = SecretValue.of(raw + token if isinstance(raw, str) else raw + token.encode())
    for shown in (repr(v), str(v), f"{v}", f"{v!s:>30}", "%s" % v, "{}".format(v)):  # noqa: UP031, UP032
        assert token not in shown


def test_secret_repr_hides_the_value() -> None:
    """A Secret's repr shows name and version, not the value."""
    token = sentinel_value()
    s = Secret("a/b/c", "3", SecretValue.of(token), frozenset({"current"}))
    assert token not in repr(s)
    assert "a/b/c" in repr(s)


def test_logging_a_value_shows_stars(caplog: pytest.LogCaptureFixture) -> None:
    """Passing a SecretValue to a logger renders ***."""
    token = sentinel_value()
    with caplog.at_level(logging.INFO):
        logging.getLogger("t").info("value=%s", SecretValue.of(token))
    assert "value=***" in caplog.text


def test_values_cannot_be_pickled() -> None:
    """Pickling would carry the value in the clear, so it is refused."""
    with pytest.raises(TypeError):
        pickle.dumps(SecretValue.of("x"))


def test_values_are_immutable_and_unhashable() -> None:
    """No attribute can be set, and values cannot be dict keys."""
    v = SecretValue.of("x")
    with pytest.raises(AttributeError):
        v._data = b"y"  # type: ignore[misc]
    with pytest.raises(TypeError):
        hash(v)


def test_equality_compares_kind_and_bytes() -> None:
    """Equal bytes of the same kind are equal; text vs bytes of the same bytes are not."""
    assert SecretValue.of("x") == SecretValue.of("x")
    assert SecretValue.of("x") != SecretValue.of(b"x")


def test_size_limit() -> None:
    """64 KiB is accepted; one byte more is refused with sizes in the message."""
    SecretValue.of(b"a" * MAX_VALUE_BYTES)
    with pytest.raises(InvalidValue) as info:
        SecretValue.of(b"a" * (MAX_VALUE_BYTES + 1))
    assert str(MAX_VALUE_BYTES) in str(info.value)


@pytest.mark.parametrize("bad", [None, 3, 1.5, object(), {1, 2}])
def test_unsupported_types_are_refused(bad: object) -> None:
    """Only str, bytes, dict and list become values."""
    with pytest.raises(InvalidValue):
        SecretValue.of(bad)


def test_lone_surrogate_is_refused() -> None:
    """Text that cannot be UTF-8 encoded is an InvalidValue, not a UnicodeError."""
    with pytest.raises(InvalidValue):
        SecretValue.of("\ud800")


def test_binary_value_as_text_is_a_clear_error() -> None:
    """text() of non-UTF-8 bytes and json() of non-JSON say what is wrong, without the value."""
    token = sentinel_value()
    with pytest.raises(InvalidValue) as info:
        SecretValue.of(b"\xff" + token.encode()).text()
    assert token not in str(info.value)
    with pytest.raises(InvalidValue) as info:
        SecretValue.of(token).json()
    assert token not in str(info.value)


def test_unencodable_json_is_refused_without_the_value() -> None:
    """A dict holding a non-JSON type raises InvalidValue naming the problem only."""
    token = sentinel_value()
    with pytest.raises(InvalidValue) as info:
        SecretValue.of({"k": token, "bad": object()})
    assert token not in str(info.value)


@pytest.mark.parametrize("stage", ["", "has space", "x" * 65, "slash/no"])
def test_bad_stage_labels_are_refused(stage: str) -> None:
    """Stage labels are 1-64 of [A-Za-z0-9_.-]."""
    with pytest.raises(InvalidValue):
        validate_stage(stage)


def _chain(exc: BaseException) -> list[BaseException]:
    found: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None:
        found.append(cur)
        cur = cur.__cause__ or cur.__context__
    return found


def test_decode_errors_carry_no_value_in_their_context() -> None:
    """text(), json() and of() raise InvalidValue with no cause/context holding the value."""
    secret = sentinel_value("ctx")
    cases = [
        lambda: SecretValue.of(secret.encode() + b"\xff").text(),
        lambda: SecretValue(secret.encode(), "json").json(),
        lambda: SecretValue.of(secret + "\ud800"),
    ]
    for case in cases:
        with pytest.raises(InvalidValue) as caught:
            case()
        assert _chain(caught.value) == [caught.value]


def test_json_nested_too_deeply_is_invalid_value() -> None:
    """JSON nested past the recursion limit is InvalidValue on put and on get_json."""
    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidValue, match="nested too deeply"):
        SecretValue.of(deep)
    stored = SecretValue(b"[" * 200_000 + b"]" * 200_000, "json", max_bytes=1 << 22)
    with pytest.raises(InvalidValue, match="nested too deeply"):
        stored.json()


@given(depth=st.integers(min_value=1, max_value=300_000), kind=st.sampled_from("[{"))
def test_fuzz_json_nesting_is_parsed_or_invalid_value(depth: int, kind: str) -> None:
    """Fuzz: JSON of any nesting depth parses or is InvalidValue, never RecursionError."""
    text = "[" * depth + "]" * depth if kind == "[" else '{"a":' * depth + "1" + "}" * depth
    with contextlib.suppress(InvalidValue):
        SecretValue(text.encode(), "json", max_bytes=1 << 22).json()
