"""Per-record overhead of log redaction with 10 and 500 held secrets, and the
throughput of ``sekret run --mask`` (StreamMasker) with 10 and 500 secrets.

Compares, in one run: plain logging (no filter), sekret's RedactingFilter
(one compiled regex over every value), and the naive approach many
services use (``str.replace`` for each value), on a record that holds no
secret (the common case) and one that does. Also the structlog processor.

    .venv/bin/python benchmarks/bench_redaction.py

Prints a markdown section and writes it to docs/benchmarks/redaction.md.
"""

from __future__ import annotations

import io
import logging
import os
import platform
import random
import secrets
import sys
import time
import timeit
from collections.abc import Callable
from pathlib import Path

from sekret.integrations.redaction import (
    ByteMatcher,
    RedactingFilter,
    RedactingProcessor,
    Redactor,
    StreamMasker,
)

OUT = Path(__file__).resolve().parents[1] / "docs" / "benchmarks" / "redaction.md"
REPEAT = 25


class NaiveFilter(logging.Filter):
    """What a hand-written filter often does: one str.replace per secret."""

    def __init__(self, values: list[str]) -> None:
        super().__init__()
        self.values = values

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        for value in self.values:
            message = message.replace(value, "***")
        record.msg, record.args = message, None
        return True


def _logger(filt: logging.Filter | None) -> logging.Logger:
    handler = logging.StreamHandler(io.StringIO())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    if filt is not None:
        handler.addFilter(filt)
    log = logging.getLogger(f"bench-{id(handler)}")
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.INFO)
    return log


def _per_call_us(fn: Callable[[], object], number: int) -> float:
    best = min(timeit.repeat(fn, number=number, repeat=REPEAT))
    return best / number * 1e6


def run(count: int, number: int) -> list[tuple[str, float, float]]:
    values = [secrets.token_urlsafe(24) for _ in range(count)]
    redactor = Redactor(values)
    redactor.pattern()  # build once, as the first record would
    loggers = {
        "no filter": _logger(None),
        "sekret RedactingFilter": _logger(RedactingFilter(redactor)),
        "naive str.replace per value": _logger(NaiveFilter(values)),
    }
    rows: list[tuple[str, float, float]] = []
    leaked = values[count // 2]
    for label, log in loggers.items():
        clean = _per_call_us(
            lambda log=log: log.info(
                "GET /v1/embed tenant=%s status=%d in %.1f ms", "acme", 200, 12.5
            ),
            number,
        )
        dirty = _per_call_us(
            lambda log=log: log.info("calling cohere with key=%s for tenant=%s", leaked, "acme"),
            number,
        )
        rows.append((label, clean, dirty))
    filt = RedactingFilter(redactor)

    def record(msg: str, *args: object) -> logging.LogRecord:
        return logging.LogRecord("bench", logging.INFO, __file__, 1, msg, args, None)

    clean_args = ("GET /v1/embed tenant=%s status=%d in %.1f ms", "acme", 200, 12.5)
    dirty_args = ("calling cohere with key=%s for tenant=%s", leaked, "acme")
    base_clean = _per_call_us(lambda: record(*clean_args), number)
    base_dirty = _per_call_us(lambda: record(*dirty_args), number)
    clean = _per_call_us(lambda: filt.filter(record(*clean_args)), number) - base_clean
    dirty = _per_call_us(lambda: filt.filter(record(*dirty_args)), number) - base_dirty
    rows.append(("sekret RedactingFilter.filter alone (no handler)", clean, dirty))
    line = "GET /v1/embed tenant=acme status=200 in 12.5 ms"
    with_key = f"calling cohere with key={leaked} for tenant=acme"
    clean = _per_call_us(lambda: redactor.redact(line), number)
    dirty = _per_call_us(lambda: redactor.redact(with_key), number)
    rows.append(("sekret Redactor.redact on the message alone", clean, dirty))
    processor = RedactingProcessor(redactor)
    event = {"event": "GET /v1/embed", "tenant": "acme", "status": 200, "ms": 12.5}
    clean = _per_call_us(lambda: processor(None, "info", dict(event)), number)
    dirty = _per_call_us(lambda: processor(None, "info", {**event, "key": leaked}), number)
    rows.append(("sekret RedactingProcessor (structlog, alone)", clean, dirty))
    return rows


MASK_BYTES = 8 << 20  # 8 MiB of log-like output per round
MASK_CHUNK = 65536  # what one os.read of the child's pipe returns at most
MASK_ROUNDS = 5


def _log_output(values: list[str]) -> bytes:
    """Log-like lines (words, numbers, URLs) with a held value in one line of 1,000."""
    rng = random.Random(7)
    words = [secrets.token_urlsafe(rng.randint(2, 9)) for _ in range(3000)]
    lines: list[str] = []
    size = 0
    while size < MASK_BYTES:
        line = " ".join(rng.choice(words) for _ in range(12))
        if len(lines) % 1000 == 999:
            line += " key=" + rng.choice(values)
        lines.append(line + "\n")
        size += len(line) + 1
    return "".join(lines).encode()


def _regex_masker(redactor: Redactor, data: bytes) -> bytes:
    """The previous masker's matching: one trie-shaped regex over every value."""
    return redactor.bytes_pattern().sub(b"***", data)


def _stream_masker(redactor: Redactor, data: bytes) -> bytes:
    masker = StreamMasker(redactor)
    out = [masker.feed(data[i : i + MASK_CHUNK]) for i in range(0, len(data), MASK_CHUNK)]
    out.append(masker.flush())
    return b"".join(out)


def _index_only(redactor: Redactor, data: bytes) -> bytes:
    """The q-gram index alone (what the masker uses beyond 16 values), forced at any count."""
    return ByteMatcher((v.encode() for v in redactor.values()), few=0).mask(data)


def mask_throughput() -> list[tuple[str, dict[int, float], dict[int, float]]]:
    """MB/s (wall clock, and per CPU-second) of each masker with 10 and 500 values.

    Best of rounds, the cases interleaved in one run. CPU time is this process's:
    on a loaded shared machine it is the cost of the work itself, while wall
    time also counts the time spent waiting for a core.
    """
    cases = {}
    for count in (10, 500):
        values = [secrets.token_urlsafe(24) for _ in range(count)]
        redactor = Redactor(values)
        redactor.pattern()
        cases[count] = (redactor, _log_output(values), values)
    wall: dict[tuple[str, int], float] = {}
    cpu: dict[tuple[str, int], float] = {}
    maskers = {
        "StreamMasker (sekret run --mask)": _stream_masker,
        "its q-gram index alone, forced at 10 too": _index_only,
        "one trie regex (before)": _regex_masker,
    }
    for _ in range(MASK_ROUNDS):
        for label, fn in maskers.items():
            for count, (redactor, data, values) in cases.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                out = fn(redactor, data)
                took, took_cpu = time.perf_counter() - start, time.process_time() - start_cpu
                assert not any(v.encode() in out for v in values), "a value was not masked"
                key = (label, count)
                wall[key] = min(wall.get(key, float("inf")), took)
                cpu[key] = min(cpu.get(key, float("inf")), max(took_cpu, 1e-9))
    rows = []
    for label in maskers:
        size = {c: len(cases[c][1]) / 1e6 for c in cases}
        rows.append(
            (
                label,
                {c: size[c] / wall[(label, c)] for c in cases},
                {c: size[c] / cpu[(label, c)] for c in cases},
            )
        )
    return rows


def main() -> None:
    lines = [
        "## Log redaction overhead",
        "",
        f"Python {platform.python_version()} on {platform.machine()}, best of {REPEAT} runs;"
        ' microseconds per log record (lower is better). "Clean": the record holds no'
        ' secret (the common case); "with secret": one held value in the arguments.'
        " Logging rows include formatting and writing to an in-memory stream; the"
        ' "filter alone" row is the filter\'s own cost (record creation subtracted).',
        "",
    ]
    for count, number in ((10, 4000), (500, 1000)):
        lines += [
            f"### {count} held secrets",
            "",
            "| pipeline | clean record (µs) | with secret (µs) |",
            "|---|---:|---:|",
        ]
        for label, clean, dirty in run(count, number):
            lines.append(f"| {label} | {clean:.2f} | {dirty:.2f} |")
        lines.append("")
    lines += [
        "The matching cost (`Redactor.redact`) grows slowly with the number of secrets:"
        " one compiled, trie-shaped regular expression (shared prefixes matched once) is"
        " searched once per record and rebuilt only when the cache's set of values"
        " changes, while the naive filter scans the message once per secret. The rest"
        " of the filter's cost is fixed per record: formatting the message to search it,"
        " checking `extra` fields and the exception text. Measured on a shared 2-core"
        " machine under load: compare rows of one table, not absolute values.",
        "",
    ]
    lines += [
        "## `sekret run --mask` throughput",
        "",
        f"{MASK_BYTES >> 20} MiB of log-like output fed in {MASK_CHUNK // 1024} KiB reads"
        " (one `os.read` of the child's pipe), one held value per 1,000 lines; values are"
        f" 32 characters; best of {MASK_ROUNDS} rounds, every case interleaved in one run."
        f" Load average at the start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores."
        " The ratio is the cost per byte with 500 values over the cost with 10 (1.0: the"
        " number of secrets does not matter).",
        "",
        "| masker | 10 secrets: MB/s wall | per CPU-s | 500 secrets: MB/s wall | per CPU-s"
        " | cost ratio 500/10 (CPU) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    rows = mask_throughput()
    for label, wall, cpu in rows:
        lines.append(
            f"| {label} | {wall[10]:.0f} | {cpu[10]:.0f} | {wall[500]:.0f} | {cpu[500]:.0f}"
            f" | {cpu[10] / cpu[500]:.2f} |"
        )
    _, wall, cpu = rows[0]
    met = "met" if cpu[10] >= 100 and cpu[500] >= 50 else "**missed**"
    lines += [
        "",
        f"Target: >= 100 MB/s with 10 secrets and >= 50 MB/s with 500, per CPU-second: {met}"
        f" ({cpu[10]:.0f} and {cpu[500]:.0f}; wall clock under this load: {wall[10]:.0f}"
        f" and {wall[500]:.0f}). Cost per byte, 500 over 10 secrets: {cpu[10] / cpu[500]:.2f}x"
        f" (the index alone: {rows[1][2][10] / rows[1][2][500]:.2f}x; the trie regex it"
        f" replaces: {rows[2][2][10] / rows[2][2][500]:.0f}x). With 10 secrets the masker"
        " uses `bytes.find` per value, which is faster still at that count.",
    ]
    lines += [
        "",
        "Up to 16 values the masker runs one `bytes.find` per value (C speed, no setup);"
        " beyond, a sampled q-gram index: values of at least m bytes are indexed by their"
        " first m-q+1 q-grams (q = 8, or 4 for values of 8-15 bytes) and the output is"
        " probed every m-q+1 bytes with one set lookup, so each occurrence is seen at"
        " exactly one probe and confirmed with `startswith`. The cost per byte depends on"
        " the shortest value, not on how many there are. Values shorter than 8 bytes are"
        " found with `bytes.find`. No new dependency: a C Aho-Corasick (pyahocorasick)"
        " would add a compiled dependency to the CLI; the index meets the targets"
        " without one (not measured against it here).",
        "",
    ]
    text = "\n".join(lines)
    sys.stdout.write(text)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)


if __name__ == "__main__":
    main()
