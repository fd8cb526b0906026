"""Log redaction: logging.Filter, structlog processor, and the stream masker."""

from __future__ import annotations

import io
import logging
import sys
from collections.abc import Callable, Iterator

import pytest
import structlog
from hypothesis import given, settings
from hypothesis import strategies as st

from sekret import SecretValue
from sekret.integrations.redaction import (
    RedactingFilter,
    RedactingProcessor,
    Redactor,
    StreamMasker,
    install_logging_filter,
    secret_strings,
)
from sekret.testing import sentinel_value


class FakeCache:
    """What SecretCache will offer: held_values() and add_listener()."""

    def __init__(self) -> None:
        self.held: list[SecretValue] = []
        self.listeners: list[Callable[[], None]] = []

    def held_values(self) -> list[SecretValue]:
        return list(self.held)

    def add_listener(self, callback: Callable[[], None]) -> None:
        self.listeners.append(callback)

    def hold(self, value: object) -> None:
        self.held.append(SecretValue.of(value))
        for callback in self.listeners:
            callback()


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, io.StringIO, Redactor]]:
    """A private logger whose handler has a RedactingFilter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s %(detail)s"))
    redactor = Redactor()
    log = logging.getLogger(f"sekret-test-{id(stream)}")
    log.propagate = False
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    install_logging_filter(redactor, log)
    yield log, stream, redactor
    log.removeHandler(handler)


def test_message_and_args_are_redacted(logger: tuple[logging.Logger, io.StringIO, Redactor]):
    """A held value in the format string or in %-args becomes ***."""
    log, stream, redactor = logger
    value = sentinel_value()
    redactor.register([value])
    log.info("key=%s and %r", value, {"nested": value}, extra={"detail": f"x{value}"})
    log.info(f"inline {value}", extra={"detail": "-"})
    out = stream.getvalue()
    assert value not in out
    assert out.count("***") == 4


def test_exception_traceback_is_redacted(logger: tuple[logging.Logger, io.StringIO, Redactor]):
    """logger.exception output hides a value carried in the exception message."""
    log, stream, redactor = logger
    value = sentinel_value()
    redactor.register([value])
    try:
        raise RuntimeError(f"connect failed with password {value}")
    except RuntimeError:
        log.exception("boom", extra={"detail": "-"})
    out = stream.getvalue()
    assert "Traceback" in out
    assert "RuntimeError: connect failed with password ***" in out
    assert value not in out


def test_cache_values_are_watched_and_rebuilt_on_change(
    logger: tuple[logging.Logger, io.StringIO, Redactor],
) -> None:
    """Values the cache holds are hidden; a new one is hidden after the listener fires."""
    log, stream, redactor = logger
    cache = FakeCache()
    first, second = sentinel_value("a"), sentinel_value("b")
    cache.hold(first)
    redactor.watch(cache)
    log.info("%s", first, extra={"detail": "-"})
    cache.hold(second)
    log.info("%s", second, extra={"detail": "-"})
    out = stream.getvalue()
    assert first not in out
    assert second not in out


def test_cache_without_listener_is_polled() -> None:
    """A cache lacking add_listener is re-read on each record (fallback)."""
    held: list[SecretValue] = []

    class PollOnly:
        def held_values(self) -> list[SecretValue]:
            return held

    redactor = Redactor()
    redactor.watch(PollOnly())
    value = sentinel_value()
    held.append(SecretValue.of(value))
    assert redactor.redact(f"x {value}") == "x ***"


def test_json_secret_fields_are_hidden() -> None:
    """A JSON secret's password field is hidden; its username is not."""
    value = SecretValue.of({"username": "appuser", "password": "pw-123456"})
    strings = secret_strings(value)
    assert "pw-123456" in strings
    assert "appuser" not in strings
    assert Redactor([value]).redact("login appuser/pw-123456") == "login appuser/***"


def test_short_values_are_not_matched() -> None:
    """Values shorter than min_length are ignored so logs stay readable."""
    assert Redactor(["abc"]).redact("abc") == "abc"
    assert Redactor(["abc"], min_length=3).redact("abc") == "***"


def test_longest_value_wins() -> None:
    """When one value contains another, the whole longer value is hidden."""
    assert Redactor(["abcd", "abcdefgh"]).redact("[abcdefgh]") == "[***]"


def test_filter_without_values_changes_nothing() -> None:
    """With nothing to hide, records pass untouched (args kept)."""
    record = logging.LogRecord("n", logging.INFO, "f", 1, "a %s", ("b",), None)
    assert RedactingFilter(Redactor()).filter(record)
    assert record.args == ("b",)


def test_broken_format_string_still_redacted() -> None:
    """A record whose msg % args fails is still redacted part by part."""
    value = sentinel_value()
    record = logging.LogRecord("n", logging.INFO, "f", 1, f"{value} %d", ("x",), None)
    RedactingFilter(Redactor([value])).filter(record)
    assert value not in str(record.msg)


def test_structlog_processor_redacts_events_and_exceptions() -> None:
    """The processor hides values in nested event fields and in exc_info tracebacks."""
    value = sentinel_value()
    redactor = Redactor([value])
    out = io.StringIO()
    log = structlog.wrap_logger(
        structlog.PrintLogger(out),
        processors=[RedactingProcessor(redactor), structlog.processors.JSONRenderer()],
    )
    log.info("login", token=value, nested={"list": [value, 1]})
    try:
        raise ValueError(f"bad {value}")
    except ValueError:
        log.error("failed", exc_info=True)
    text = out.getvalue()
    assert value not in text
    assert "ValueError: bad ***" in text


# -- streams (sekret run --mask) --------------------------------------------------------
def _masked(values: list[str], chunks: list[bytes]) -> bytes:
    masker = StreamMasker(Redactor(values))
    return b"".join(masker.feed(c) for c in chunks) + masker.flush()


def test_stream_value_split_across_writes() -> None:
    """A value split over two (or many) writes is still masked."""
    value = sentinel_value().encode()
    assert _masked([value.decode()], [b"key=" + value[:7], value[7:] + b"\n"]) == b"key=***\n"
    one_by_one = [value[i : i + 1] for i in range(len(value))]
    assert _masked([value.decode()], [b"<", *one_by_one, b">"]) == b"<***>"


def test_stream_holds_only_possible_prefixes() -> None:
    """Output that cannot start a value is emitted at once; a possible prefix waits."""
    masker = StreamMasker(Redactor(["secret-value"]))
    assert masker.feed(b"hello world\n") == b"hello world\n"
    assert masker.feed(b"a secr") == b"a "
    assert masker.pending == 4
    assert masker.feed(b"et!") == b"secret!"


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.text(alphabet="abcxyz", min_size=4, max_size=8), min_size=1, max_size=4),
    st.text(alphabet="abcxyz \n", max_size=60),
    st.data(),
)
def test_stream_masking_equals_whole_text_masking(
    values: list[str], text: str, data: st.DataObject
) -> None:
    """However the output is split into writes, the result equals masking it whole: every
    occurrence, overlapping ones merged (``aaaaa`` with value ``aaaa`` is all hidden), and
    no value survives. (The log redactor's regex masks leftmost occurrences only, so it
    may leave the tail of an overlap; the stream masker hides the union.)"""
    raw = text.encode()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=6)))
    chunks = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    out = _masked(values, chunks).decode()
    assert out == _naive_mask(values, text)
    assert not any(v in out for v in values)


def test_clean_exception_keeps_exc_info() -> None:
    """A traceback without any held value keeps exc_info for other handlers."""
    redactor = Redactor([sentinel_value()])
    try:
        raise KeyError("nothing secret")
    except KeyError:
        record = logging.LogRecord("n", logging.ERROR, "f", 1, "m", None, sys.exc_info())
    RedactingFilter(redactor).filter(record)
    assert record.exc_info is not None
    assert record.exc_text is not None
    assert "KeyError" in record.exc_text


def test_unwatch_stops_hiding_a_cache() -> None:
    """After unwatch the cache's values are no longer matched and its listener is gone."""
    cache = FakeCache()
    value = sentinel_value()
    cache.hold(value)
    redactor = Redactor()
    redactor.watch(cache)
    assert redactor.redact(value) == "***"
    cache.remove_listener = cache.listeners.remove  # type: ignore[attr-defined]
    redactor.unwatch(cache)
    assert cache.listeners == []
    assert redactor.values() == set()


def test_real_cache_values_are_hidden_after_a_read() -> None:
    """With a real Secrets client, a value is hidden once the cache holds it."""
    from sekret import Secrets
    from sekret.backends.memory import MemoryBackend

    value = sentinel_value()
    with Secrets(MemoryBackend(), app="a", environment="e") as secrets:
        secrets.put("k", value)
        redactor = Redactor()
        redactor.watch(secrets)
        secrets.get("k")
        assert redactor.redact(f"token {value}") == "token ***"
        redactor.unwatch(secrets)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(alphabet="abc", min_size=4, max_size=7), min_size=1, max_size=8),
    st.text(alphabet="abc ", max_size=80),
)
def test_trie_pattern_matches_like_a_longest_first_alternation(
    values: list[str], text: str
) -> None:
    """The trie-shaped pattern hides exactly what a flat longest-first alternation hides."""
    import re

    flat = re.compile("|".join(map(re.escape, sorted(set(values), key=len, reverse=True))))
    assert Redactor(values).redact(text) == flat.sub("***", text)


def _naive_mask(values: list[str], text: str) -> str:
    """Reference: every occurrence of every value, overlapping ones merged, becomes ***."""
    spans: list[tuple[int, int]] = []
    for value in set(values):
        at = text.find(value)
        while at >= 0:
            spans.append((at, at + len(value)))
            at = text.find(value, at + 1)
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start < merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, pos = [], 0
    for start, end in merged:
        out += [text[pos:start], "***"]
        pos = end
    return "".join(out) + text[pos:]


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.text(alphabet="abcd", min_size=4, max_size=40), min_size=17, max_size=40, unique=True
    ),
    st.lists(st.text(alphabet="abcd \n", max_size=30), max_size=8),
    st.data(),
)
def test_many_values_stream_masking_matches_the_reference(
    values: list[str], fillers: list[str], data: st.DataObject
) -> None:
    """With many values (q-gram index) chunked masking equals the naive reference."""
    planted = [data.draw(st.sampled_from(values)) for _ in fillers]
    text = "".join(f + p for f, p in zip(fillers, planted, strict=True))
    raw = text.encode()
    cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=6)))
    chunks = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
    out = _masked(values, chunks).decode()
    assert out == _naive_mask(values, text)
    assert not any(v in out for v in values)


def test_shared_masker_masks_a_value_split_between_streams() -> None:
    """A value begun on stdout and finished on stderr is masked; *** goes where it began."""
    from sekret.integrations.redaction import SharedMasker

    value = sentinel_value().encode()
    masker = SharedMasker(Redactor([value.decode()]))
    pieces = masker.feed(0, b"out " + value[:12])
    pieces += masker.feed(1, value[12:] + b" err\n")
    pieces += masker.flush()
    stdout = b"".join(p for s, p in pieces if s == 0)
    stderr = b"".join(p for s, p in pieces if s == 1)
    assert (stdout, stderr) == (b"out ***", b" err\n")


def _by_stream(pieces: list[tuple[int, bytes]]) -> list[bytes]:
    return [b"".join(p for s, p in pieces if s == i) for i in (0, 1)]


@pytest.mark.parametrize("begins", [0, 1])
def test_shared_masker_feed_round_joins_a_value_whichever_stream_began_it(begins: int) -> None:
    """feed_round: chunks read in one round are fed so a value begun on either stream is masked."""
    from sekret.integrations.redaction import SharedMasker

    value = sentinel_value("split").encode()
    masker = SharedMasker(Redactor([value.decode()]))
    ends = 1 - begins
    chunks = sorted([(begins, b"half " + value[:10]), (ends, value[10:] + b" end\n")])
    pieces = masker.feed_round(chunks) + masker.flush()
    out = _by_stream(pieces)
    assert out[begins] == b"half ***"
    assert out[ends] == b" end\n"
    assert not any(value[10:] in part or value[:10] in part for part in out)


def test_shared_masker_prefers_a_streams_own_held_start_to_the_other_streams() -> None:
    """Both streams hold the same start: the rest on stdout finishes stdout's, not stderr's."""
    from sekret.integrations.redaction import SharedMasker

    value = sentinel_value().encode()
    masker = SharedMasker(Redactor([value.decode()]))
    pieces = masker.feed(0, b"out=" + value[:9])
    pieces += masker.feed(1, b"err=" + value[:9])
    pieces += masker.feed(0, value[9:] + b" done\n")
    assert _by_stream(pieces) == [b"out=*** done\n", b"err="]
    pieces += masker.feed(1, value[9:] + b" done\n")
    assert _by_stream(pieces) == [b"out=*** done\n", b"err=*** done\n"]


def test_shared_masker_feed_round_keeps_a_streams_own_continuation_first() -> None:
    """One round with stdout's rest and stderr's start of the same value: stdout's is masked."""
    from sekret.integrations.redaction import SharedMasker

    value = sentinel_value().encode()
    masker = SharedMasker(Redactor([value.decode()]))
    pieces = masker.feed(0, b"out=" + value[:9])
    pieces += masker.feed_round([(0, value[9:] + b" done\n"), (1, b"err=" + value[:9])])
    pieces += masker.feed(1, value[9:] + b" done\n")
    assert _by_stream(pieces) == [b"out=*** done\n", b"err=*** done\n"]


def test_child_strings_cover_what_a_child_sees() -> None:
    """child_strings: binary as sekret:b64 text and raw bytes, every JSON string leaf."""
    import base64

    from sekret.integrations.redaction import child_strings

    raw = b"\x00\xffbinary-key-bytes"
    strings = child_strings(SecretValue.of(raw))
    assert "sekret:b64:" + base64.b64encode(raw).decode() in strings
    assert raw.decode("utf-8", "surrogateescape") in strings
    dsn = sentinel_value("dsn")
    found = child_strings(SecretValue.of({"dsn": dsn, "nested": [{"host": "db.internal"}]}))
    assert dsn in found
    assert "db.internal" in found
