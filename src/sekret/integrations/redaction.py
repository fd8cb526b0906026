"""Log redaction: secret values become ``***`` in log records and structlog events.

``Redactor`` knows the values to hide: every value a watched cache holds
right now (``SecretCache.held_values()``; the cache calls back through
``add_listener`` when the set changes) plus values registered explicitly
(``sekret run`` registers what it loads). Matching is one compiled regular
expression over all values, longest first, rebuilt lazily only after the set
changed, so a record costs one ``search`` however many secrets there are.

* ``RedactingFilter``: a ``logging.Filter``. Attach it to *handlers* (a
  logger's own filters do not see records propagated from child loggers);
  ``install_logging_filter()`` does that for the root logger's handlers. It
  redacts the formatted message (``msg % args``), string ``extra`` fields,
  ``stack_info`` and the exception text (``logger.exception``): the
  traceback is rendered once and stored, redacted, in ``exc_text`` (which
  standard formatters print as is); when it held a value, ``exc_info`` is
  dropped too, so no later formatter can render the raw traceback again.
* ``RedactingProcessor``: a structlog processor; put it last before the
  renderer. It redacts strings anywhere in the event dict (nested dicts,
  lists, tuples) and renders ``exc_info`` into a redacted ``exception``.

JSON values (``db_credentials``) are hidden whole and by their string fields
whose key looks secret (password, secret, token, key...). Values shorter
than ``min_length`` (default 4) are not matched: hiding every ``a`` would
make logs useless; such values are too short to be secrets anyway.

This module must never log, print or store a value outside the Redactor.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import threading
import traceback
from collections.abc import Iterable, Mapping, MutableMapping, Sequence
from typing import Any, AnyStr, Final

from sekret import SecretValue

__all__ = [
    "MASK",
    "RedactingFilter",
    "ByteMatcher",
    "RedactingProcessor",
    "Redactor",
    "SharedMasker",
    "StreamMasker",
    "child_strings",
    "default_redactor",
    "install_logging_filter",
    "secret_strings",
]

MASK: Final = "***"
_SECRET_KEY = re.compile(r"pass|secret|token|key|credential|private|auth", re.IGNORECASE)
_NEVER = re.compile(r"(?!)")  # matches nothing
_STANDARD_ATTRS = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
}


def secret_strings(value: SecretValue | str | bytes) -> list[str]:
    """The strings that reveal ``value``: its text, and secret-looking JSON fields."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, bytes):
        try:
            return [value.decode("utf-8")]
        except UnicodeDecodeError:
            return []
    try:
        text = value.text()
    except ValueError:
        return []  # binary: it cannot appear in a text log as such
    found = [text]
    if value.kind == "json":
        with contextlib.suppress(ValueError):
            _collect(value.json(), found, secret_key=False)
    return found


def child_strings(value: SecretValue) -> list[str]:
    """Every string a process given ``value`` as a variable can print (``sekret run --mask``).

    The variable's text (``sekret:b64:...`` for binary values), the raw bytes
    of a binary value (surrogate-escaped), and every string inside a JSON
    value, under any key (a ``dsn`` is as secret as a ``password``).
    """
    from sekret.backends.env import env_text  # lazy: the env backend is not needed otherwise

    found = [env_text(value)]
    if value.kind == "bytes":
        found.append(value.bytes().decode("utf-8", "surrogateescape"))
        return found
    found += secret_strings(value)
    if value.kind == "json":
        with contextlib.suppress(ValueError):
            _collect(value.json(), found, secret_key=True)
    return found


def _collect(node: object, out: list[str], *, secret_key: bool) -> None:
    if isinstance(node, str):
        if secret_key:
            out.append(node)
    elif isinstance(node, Mapping):
        for key, item in node.items():
            _collect(item, out, secret_key=secret_key or bool(_SECRET_KEY.search(str(key))))
    elif isinstance(node, list):
        for item in node:
            _collect(item, out, secret_key=secret_key)


class Redactor:
    """The set of values to hide, and one compiled pattern over them."""

    __slots__ = (
        "_bpattern",
        "_caches",
        "_dirty",
        "_explicit",
        "_last",
        "_lock",
        "_pattern",
        "min_length",
    )

    def __init__(self, values: Iterable[str | SecretValue] = (), *, min_length: int = 4) -> None:
        self.min_length = min_length
        self._lock = threading.Lock()
        self._explicit: set[str] = set()
        self._caches: list[object] = []
        self._pattern: re.Pattern[str] = _NEVER
        self._bpattern: re.Pattern[bytes] = re.compile(rb"(?!)")
        self._last: frozenset[str] = frozenset()
        self._dirty = True
        self.register(values)

    # -- sources -------------------------------------------------------------
    def register(self, values: Iterable[str | SecretValue]) -> None:
        """Hide these values from now on (e.g. what ``sekret run`` loaded)."""
        with self._lock:
            for value in values:
                self._explicit.update(secret_strings(value))
            self._dirty = True

    def clear(self) -> None:
        """Forget the explicitly registered values (watched caches stay)."""
        with self._lock:
            self._explicit.clear()
            self._dirty = True

    def watch(self, source: object) -> None:
        """Hide whatever ``source`` (a ``SecretCache`` or ``Secrets``) holds, as it changes."""
        cache = getattr(source, "cache", source)
        if cache is None:
            return
        add_listener = getattr(cache, "add_listener", None)
        if callable(add_listener):
            add_listener(self.invalidate)
        with self._lock:
            self._caches.append(cache)
            self._dirty = True

    def unwatch(self, source: object) -> None:
        """Stop hiding what ``source`` holds (e.g. when its client closes)."""
        cache = getattr(source, "cache", source)
        remove_listener = getattr(cache, "remove_listener", None)
        if callable(remove_listener):
            remove_listener(self.invalidate)
        with self._lock:
            self._caches = [c for c in self._caches if c is not cache]
            self._dirty = True

    def invalidate(self, *_: object) -> None:
        """Mark the pattern stale; the next record rebuilds it (cache listener)."""
        self._dirty = True

    def values(self) -> set[str]:
        """Every string currently hidden (for tests and the benchmark)."""
        found = set(self._explicit)
        for cache in self._caches:
            held = getattr(cache, "held_values", None)
            if callable(held):
                for value in held():
                    found.update(secret_strings(value))
        return {v for v in found if len(v) >= self.min_length}

    # -- matching ------------------------------------------------------------
    def _caches_without_listener(self) -> bool:
        return any(not callable(getattr(c, "add_listener", None)) for c in self._caches)

    def pattern(self) -> re.Pattern[str]:
        """The compiled pattern, rebuilt if the set of values changed."""
        if self._dirty or self._caches_without_listener():
            with self._lock:
                self._dirty = False
                current = frozenset(self.values())
                if current == self._last and self._pattern is not _NEVER:
                    return self._pattern
                self._last = current
                if current:
                    self._pattern = _compile(sorted(current))
                    self._bpattern = _compile(
                        sorted(v.encode("utf-8", "surrogateescape") for v in current)
                    )
                else:
                    self._pattern = _NEVER
                    self._bpattern = re.compile(rb"(?!)")
        return self._pattern

    def bytes_pattern(self) -> re.Pattern[bytes]:
        self.pattern()
        return self._bpattern

    def redact(self, text: str) -> str:
        """``text`` with every held value replaced by ``***``."""
        pattern = self.pattern()
        if pattern is _NEVER or not pattern.search(text):
            return text
        return pattern.sub(MASK, text)

    def redact_any(self, node: Any) -> Any:
        """Strings in (nested) dicts, lists and tuples redacted; other objects unchanged."""
        if isinstance(node, str):
            return self.redact(node)
        if isinstance(node, dict):
            return {k: self.redact_any(v) for k, v in node.items()}
        if isinstance(node, list):
            return [self.redact_any(v) for v in node]
        if isinstance(node, tuple):
            return tuple(self.redact_any(v) for v in node)
        return node

    def __repr__(self) -> str:
        return f"<Redactor explicit={len(self._explicit)} caches={len(self._caches)}>"


def _trie(values: Sequence[AnyStr]) -> dict[Any, Any]:
    root: dict[Any, Any] = {}
    for value in values:
        node = root
        for i in range(len(value)):
            node = node.setdefault(value[i : i + 1], {})
        node[None] = True  # a value ends here
    return root


def _emit(node: dict[Any, Any], empty: AnyStr) -> AnyStr:
    """The regex of a trie node: shared prefixes are matched once, longest value first."""
    parts: list[AnyStr] = []
    for char, child in node.items():
        if char is None:
            continue
        chain = [char]
        while len(child) == 1 and None not in child:  # compress single-child runs
            ((next_char, child),) = child.items()
            chain.append(next_char)
        rest = _emit(child, empty) if any(k is not None for k in child) else empty
        parts.append(re.escape(empty.join(chain)) + rest)
    if not parts:
        return empty
    bar, open_, close = (b"|", b"(?:", b")") if isinstance(empty, bytes) else ("|", "(?:", ")")
    body = parts[0] if len(parts) == 1 else open_ + bar.join(parts) + close
    if None in node:
        body = open_ + body + close + ("?" if isinstance(empty, str) else b"?")
    return body


def _compile(values: Sequence[AnyStr]) -> re.Pattern[AnyStr]:
    """One pattern matching every value (longest first), as a trie so it stays fast."""
    empty = values[0][:0]
    try:
        return re.compile(_emit(_trie(values), empty))
    except (RecursionError, re.error):  # pathological nesting: a flat alternation
        longest = sorted(values, key=len, reverse=True)
        bar = b"|" if isinstance(empty, bytes) else "|"
        return re.compile(bar.join(re.escape(v) for v in longest))


_DEFAULT: Redactor | None = None
_DEFAULT_LOCK = threading.Lock()


def default_redactor() -> Redactor:
    """The process-wide Redactor (``sekret run`` and ``install_logging_filter`` use it)."""
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = Redactor()
        return _DEFAULT


class RedactingFilter(logging.Filter):
    """A handler filter that hides secret values in messages, extras and tracebacks."""

    def __init__(self, redactor: Redactor | None = None, name: str = "") -> None:
        super().__init__(name)
        self.redactor = redactor or default_redactor()
        self._formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        redact = self.redactor.redact
        if self.redactor.pattern() is _NEVER:
            return True
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a broken format string: redact the parts
            message = None
        if message is not None:
            hidden = redact(message)
            if hidden is not message:
                record.msg, record.args = hidden, None
        else:
            record.msg = redact(str(record.msg))
            if isinstance(record.args, tuple):
                record.args = tuple(self.redactor.redact_any(a) for a in record.args)
        if record.exc_info and record.exc_info[0] is not None:
            text = record.exc_text or self._formatter.formatException(record.exc_info)
            record.exc_text = redact(text)
            if record.exc_text is not text:  # it held a value: nobody may render it again
                record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for key in record.__dict__.keys() - _STANDARD_ATTRS:
            value = record.__dict__[key]
            if isinstance(value, str | dict | list | tuple):
                record.__dict__[key] = self.redactor.redact_any(value)
        return True


def install_logging_filter(
    redactor: Redactor | None = None, logger: logging.Logger | None = None
) -> RedactingFilter:
    """Attach one ``RedactingFilter`` to every handler of ``logger`` (default: root)."""
    target = logger or logging.getLogger()
    filt = RedactingFilter(redactor)
    for handler in target.handlers:
        handler.addFilter(filt)
    return filt


class RedactingProcessor:
    """A structlog processor: ``structlog.configure(processors=[..., RedactingProcessor(), r])``."""

    __slots__ = ("redactor",)

    def __init__(self, redactor: Redactor | None = None) -> None:
        self.redactor = redactor or default_redactor()

    def __call__(
        self, logger: object, method_name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        exc_info = event_dict.pop("exc_info", None)
        if exc_info:
            info = sys.exc_info() if exc_info is True else exc_info
            if isinstance(info, BaseException):
                info = (type(info), info, info.__traceback__)
            if isinstance(info, tuple) and info[0] is not None:
                event_dict["exception"] = "".join(traceback.format_exception(*info)).rstrip("\n")
        if self.redactor.pattern() is _NEVER:
            return event_dict
        for key, value in event_dict.items():
            event_dict[key] = self.redactor.redact_any(value)
        return event_dict


# -- byte streams (``sekret run --mask``) ----------------------------------------
_FEW = 16  # up to this many values: one ``bytes.find`` per value (C speed, no setup)
_TIERS = ((32, 8, 1 << 62), (16, 8, 32), (8, 4, 16))  # (shortest, q-gram, longest+1)


class ByteMatcher:
    """Finds every occurrence of a fixed set of byte strings, at a cost per byte that
    does not grow with the number of strings.

    Up to ``_FEW`` values: one ``bytes.find`` per value. Beyond: a sampled q-gram
    index. Values of at least ``m`` bytes are grouped in tiers; in a tier every
    value's first ``k = m - q + 1`` q-grams are indexed, and the buffer is sampled
    every ``k`` bytes: an occurrence of a value covers exactly one sample point at
    an indexed offset, so a set lookup per sample finds it and ``startswith``
    confirms it. Values shorter than 8 bytes are found with ``bytes.find``.
    """

    __slots__ = ("_by_first", "_few", "_tiers", "longest")

    def __init__(self, values: Iterable[bytes], *, few: int = _FEW) -> None:
        """``few``: up to this many values, ``bytes.find`` per value (the benchmark sets 0)."""
        ordered = sorted({v for v in values if v}, key=len, reverse=True)
        self.longest = len(ordered[0]) if ordered else 0
        self._by_first: dict[int, list[bytes]] = {}
        for value in ordered:
            self._by_first.setdefault(value[0], []).append(value)
        self._tiers: list[tuple[int, int, dict[bytes, list[tuple[int, bytes]]]]] = []
        if len(ordered) <= few:
            self._few = ordered
            return
        self._few = [v for v in ordered if len(v) < _TIERS[-1][0]]
        for low, q, high in _TIERS:
            group = [v for v in ordered if low <= len(v) < high]
            if not group:
                continue
            k = min(map(len, group)) - q + 1
            index: dict[bytes, list[tuple[int, bytes]]] = {}
            for value in group:
                for offset in range(k):
                    index.setdefault(value[offset : offset + q], []).append((offset, value))
            self._tiers.append((q, k, index))

    def spans(self, buf: bytes) -> list[tuple[int, int]]:
        """``(start, end)`` of every occurrence, overlapping ones merged, in order."""
        found: list[tuple[int, int]] = []
        for value in self._few:
            at = buf.find(value)
            while at >= 0:
                found.append((at, at + len(value)))
                at = buf.find(value, at + 1)
        for q, k, index in self._tiers:
            for i in [i for i in range(0, len(buf) - q + 1, k) if buf[i : i + q] in index]:
                for offset, value in index[buf[i : i + q]]:
                    start = i - offset
                    if start >= 0 and buf.startswith(value, start):
                        found.append((start, start + len(value)))
        if len(found) < 2:
            return found
        found.sort()
        merged = [found[0]]
        for start, end in found[1:]:
            last_start, last_end = merged[-1]
            if start < last_end:
                merged[-1] = (last_start, max(last_end, end))
            else:
                merged.append((start, end))
        return merged

    def hold_from(self, buf: bytes, pos: int) -> int:
        """Where the longest suffix of ``buf[pos:]`` that is a proper value prefix starts."""
        for start in range(max(pos, len(buf) - self.longest + 1), len(buf)):
            candidates = self._by_first.get(buf[start])
            if candidates:
                suffix = buf[start:]
                if any(len(v) > len(suffix) and v.startswith(suffix) for v in candidates):
                    return start
        return len(buf)

    def mask(self, buf: bytes) -> bytes:
        """``buf`` with every occurrence replaced by ``***``."""
        return _masked(buf, self.spans(buf), 0, len(buf))


_BMASK: Final = MASK.encode()


def _crossing(matcher: ByteMatcher, tail: bytes, data: bytes) -> tuple[int, int] | None:
    """``(start, end)`` in ``tail + data`` of a value begun in ``tail`` and finished in ``data``."""
    cut = len(tail)
    for start, end in matcher.spans(tail + data[: matcher.longest]):
        if start < cut < end:
            return start, end
    return None


def _masked(buf: bytes, spans: Sequence[tuple[int, int]], begin: int, end: int) -> bytes:
    out: list[bytes] = []
    pos = begin
    for start, stop in spans:
        out += (buf[pos:start], _BMASK)
        pos = stop
    out.append(buf[pos:end])
    return b"".join(out)


class SharedMasker:
    """Masks values in several byte streams of one process (its stdout and stderr).

    One matcher serves every stream. ``feed(stream, data)`` returns what is safe
    to emit now, as ``(stream, bytes)`` pieces. A tail that could be the start
    of a value is held back (at most the longest value less one byte); a value
    whose start is held on one stream and whose rest arrives on another is
    masked too (the ``***`` goes to the stream where it started), so a held
    tail must not be flushed while another stream that may finish it is still
    open (even when its own stream ended). ``flush`` emits the held tails (at
    a timeout or once every stream ended). ``feed_round`` feeds chunks read
    together, in the order that lets such a value be joined.
    """

    __slots__ = ("_matcher", "_pattern", "_tails", "redactor")

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self._tails: dict[int, bytes] = {}
        self._pattern: re.Pattern[bytes] | None = None
        self._matcher = ByteMatcher(())

    def _index(self) -> ByteMatcher:
        pattern = self.redactor.bytes_pattern()
        if pattern is not self._pattern:  # the set of values changed
            self._pattern = pattern
            self._matcher = ByteMatcher(
                v.encode("utf-8", "surrogateescape") for v in self.redactor.values()
            )
        return self._matcher

    def pending(self, stream: int | None = None) -> int:
        """How many bytes are held back (on ``stream``, or on all)."""
        if stream is not None:
            return len(self._tails.get(stream, b""))
        return sum(map(len, self._tails.values()))

    def _across(self, matcher: ByteMatcher, stream: int, data: bytes) -> tuple[list[Any], bytes]:
        """A value started in another stream's held tail and continued in ``data``."""
        out: list[tuple[int, bytes]] = []
        for other, tail in list(self._tails.items()):
            if other == stream or not tail:
                continue
            span = _crossing(matcher, tail, data)
            if span is not None:
                out.append((other, tail[: span[0]] + _BMASK))
                self._tails[other] = b""
                data = data[span[1] - len(tail) :]
        return out, data

    def _continues_own(self, matcher: ByteMatcher, stream: int, data: bytes) -> bool:
        """Whether ``data`` finishes a value begun in its own stream's held tail."""
        own = self._tails.get(stream, b"")
        return bool(own) and _crossing(matcher, own, data) is not None

    def _begins_for(
        self, matcher: ByteMatcher, item: tuple[int, bytes], chunks: Sequence[tuple[int, bytes]]
    ) -> bool:
        """Whether ``item``'s stream will hold the start of a value another chunk finishes."""
        stream, data = item
        buf = self._tails.get(stream, b"") + data[-matcher.longest :]
        tail = buf[matcher.hold_from(buf, 0) :]
        return bool(tail) and any(
            _crossing(matcher, tail, other) and not self._continues_own(matcher, sid, other)
            for sid, other in chunks
            if sid != stream
        )

    def feed_round(self, chunks: Sequence[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        """``feed`` for chunks read together from several streams (one ``select`` round).

        Which was written first is unknown: a chunk that ends in the start of a
        value another chunk finishes is fed first, so that value is masked
        whichever stream began it.
        """
        if len(chunks) > 1:
            matcher = self._index()
            given = chunks

            def later(item: tuple[int, bytes]) -> bool:
                return not self._begins_for(matcher, item, given)

            chunks = sorted(given, key=later)  # stable: otherwise the order they were read in
        return [piece for stream, data in chunks for piece in self.feed(stream, data)]

    def feed(self, stream: int, data: bytes) -> list[tuple[int, bytes]]:
        """The pieces of output that are safe to emit after ``data`` arrived on ``stream``."""
        matcher = self._index()
        held_elsewhere = any(tail for sid, tail in self._tails.items() if sid != stream)
        if held_elsewhere and not self._continues_own(matcher, stream, data):
            out, data = self._across(matcher, stream, data)
        else:  # a stream finishing what it began itself comes first
            out = []
        buf = self._tails.get(stream, b"") + data
        spans = matcher.spans(buf)
        hold = matcher.hold_from(buf, 0)  # a matched value may be the start of a longer one
        while spans and spans[-1][1] > hold:  # a match running into the held tail: hold it
            hold = min(hold, spans.pop()[0])
        out.append((stream, _masked(buf, spans, 0, hold)))
        self._tails[stream] = buf[hold:]
        return [piece for piece in out if piece[1]]

    def flush(self, stream: int | None = None) -> list[tuple[int, bytes]]:
        """Emit the held tails (of ``stream``, or of every stream), masked."""
        matcher = self._index()
        out: list[tuple[int, bytes]] = []
        for sid in [stream] if stream is not None else list(self._tails):
            tail = self._tails.pop(sid, b"")
            if tail:
                out.append((sid, matcher.mask(tail)))
        return out


class StreamMasker:
    """Masks values in one byte stream that arrives in arbitrary chunks.

    ``feed`` returns what is safe to emit now. Only a tail that could still be
    the start of a value is held back (never more than the longest value less
    one byte), so a value split across two writes is still masked; ``flush``
    emits the held tail (at a timeout or at end of stream).
    """

    __slots__ = ("_shared",)

    def __init__(self, redactor: Redactor) -> None:
        self._shared = SharedMasker(redactor)

    @property
    def pending(self) -> int:
        """How many bytes are held back."""
        return self._shared.pending()

    def feed(self, data: bytes) -> bytes:
        return b"".join(piece for _, piece in self._shared.feed(0, data))

    def flush(self) -> bytes:
        return b"".join(piece for _, piece in self._shared.flush())
