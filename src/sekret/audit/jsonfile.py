"""The JSON-lines file sink: size rotation, an fsync policy, and an optional hash chain.

* One event per line, appended; the file is created 0600.
* Rotation: when a batch would take the file past ``max_bytes`` the file is
  renamed ``<path>.000001``, ``<path>.000002``, ... (numbers only grow, nothing
  is renamed twice) and a new ``<path>`` is started. ``backups`` (default: keep
  all) prunes the oldest; a pruned chain verifies only with ``partial=True``.
* fsync policy: ``"batch"`` (default) fsyncs once per ``emit`` call, so a batch
  the audit log reports as recorded survives a power cut; ``"always"`` fsyncs
  after each record; ``"never"`` leaves it to the OS (development only).
* With ``key``: records are chained (``sekret.audit.chain``), a signed
  ``audit.checkpoint`` record is written every ``checkpoint_every`` records, and
  the sidecar anchor ``<path>.anchor`` is rewritten after each batch (or, with
  ``anchor_every=N``, at most every N seconds and at close: cheaper, but a cut
  of the records written since the last anchor is then not detectable). The
  chain continues across restarts and rotations.

This sink must never write the audit key anywhere.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Literal

from sekret.audit.chain import Chain, anchor_path, coerce_key, read_anchor, write_anchor
from sekret.audit.events import AuditEvent, utc_iso
from sekret.audit.sinks import to_json
from sekret.exceptions import AuditError, ConfigurationError

__all__ = ["FileSink"]

FsyncPolicy = Literal["batch", "always", "never"]
_TAIL_CHUNK = 1 << 16


def _last_line(path: Path) -> bytes | None:
    """The last line of ``path`` without its newline (None if empty)."""
    with path.open("rb") as fh:
        end = fh.seek(0, os.SEEK_END)
        if end == 0:
            return None
        fh.seek(end - 1)
        if fh.read(1) != b"\n":
            raise AuditError(
                f"audit log {str(path)!r} ends with an incomplete record; "
                "run `sekret audit verify` and move it aside"
            )
        pos, tail = end, b""
        while pos > 0 and tail.count(b"\n") < 2:
            step = min(_TAIL_CHUNK, pos)
            pos -= step
            fh.seek(pos)
            tail = fh.read(step) + tail
    return tail[:-1].rsplit(b"\n", 1)[-1]


class FileSink:
    """Append events as JSON lines to ``path``; chain them when given an audit ``key``."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        key: bytes | str | os.PathLike[str] | None = None,
        max_bytes: int | None = 100 * 1024 * 1024,
        backups: int | None = None,
        fsync: FsyncPolicy = "batch",
        checkpoint_every: int = 1000,
        anchor_every: float = 0.0,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if fsync not in ("batch", "always", "never"):
            raise ConfigurationError(f"fsync policy must be batch, always or never, not {fsync!r}")
        self.path = Path(path)
        self.max_bytes = max_bytes
        self.backups = backups
        self.fsync = fsync
        self.checkpoint_every = checkpoint_every
        self.anchor_every = anchor_every
        self._monotonic = monotonic
        self._anchored_at: float | None = None
        self._clock = clock
        self._lock = threading.Lock()
        self._key = coerce_key(key) if key is not None else None
        self._fd = -1
        self._total = 0  # bytes ever written by this sink
        self._open()
        self.chain = self._resume() if self._key is not None else None

    # -- state -----------------------------------------------------------------
    def _open(self) -> None:
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise ConfigurationError(
                f"cannot open audit log {str(self.path)!r}: {exc.strerror}"
            ) from exc
        self._size = os.fstat(self._fd).st_size

    def _resume(self) -> Chain:
        assert self._key is not None  # only called with a key
        chain = Chain(self._key)
        last = _last_line(self.path)
        if last is None and self._rotated():  # the log was just rotated
            last = _last_line(self._rotated()[-1])
        if last is not None:
            chain.resume_from(last)
            return chain
        anchor = anchor_path(self.path)
        if anchor.exists():  # the rotated files were moved away: continue from the anchor
            record, reason = read_anchor(anchor, self._key)
            if record is None:
                raise AuditError(f"audit anchor {str(anchor)!r} fails verification: {reason}")
            return Chain(
                self._key,
                chain_id=str(record["chain"]),
                seq=record["seq"],
                last_hash=str(record["hash"]),
            )
        return chain

    def _rotated(self) -> list[Path]:
        pattern = re.compile(re.escape(self.path.name) + r"\.(\d{6,})\Z")
        found = [p for p in self.path.parent.iterdir() if pattern.match(p.name)]
        return sorted(found, key=lambda p: int(p.name.rsplit(".", 1)[1]))

    def _rotate(self) -> None:
        os.close(self._fd)
        existing = self._rotated()
        number = int(existing[-1].name.rsplit(".", 1)[1]) + 1 if existing else 1
        os.replace(self.path, self.path.with_name(f"{self.path.name}.{number:06d}"))
        self._open()
        if self.backups is not None:
            rotated = self._rotated()
            for old in rotated[: max(0, len(rotated) - self.backups)]:
                old.unlink()

    # -- sink protocol ---------------------------------------------------------
    def _lines(self, events: Sequence[AuditEvent]) -> list[bytes]:
        chain = self.chain
        if chain is None:
            return [to_json(e).encode("utf-8") for e in events]
        lines = []
        for event in events:
            lines.append(chain.seal(event))
            if self.checkpoint_every and (chain.seq + 1) % self.checkpoint_every == 0:
                lines.append(chain.seal(self._checkpoint(chain)))
        return lines

    def _checkpoint(self, chain: Chain) -> AuditEvent:
        return {
            "time": utc_iso(self._clock()),
            "action": "audit.checkpoint",
            "outcome": "success",
            "records": chain.seq + 1,
        }

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(self._fd, view)
            view = view[written:]
            self._total += written
        self._size += len(data)

    def emit(self, events: Sequence[AuditEvent]) -> None:
        if not events:
            return
        with self._lock:
            if self._fd < 0:
                raise AuditError(f"audit log {str(self.path)!r} is closed")
            saved = (self.chain.seq, self.chain.last_hash) if self.chain else None
            total = self._total
            try:
                lines = self._lines(events)
                data = b"\n".join(lines) + b"\n"
                if self.max_bytes and self._size and self._size + len(data) > self.max_bytes:
                    self._rotate()
                if self.fsync == "always":
                    for line in lines:
                        self._write(line + b"\n")
                        os.fsync(self._fd)
                else:
                    self._write(data)
                    if self.fsync == "batch":
                        os.fsync(self._fd)
                self._anchor(force=False)
            except BaseException as exc:
                if self.chain is not None and saved is not None and self._total == total:
                    self.chain.seq, self.chain.last_hash = saved  # nothing reached the file
                if isinstance(exc, OSError):
                    raise AuditError(
                        f"cannot write audit log {str(self.path)!r}: {exc.strerror}"
                    ) from exc
                raise

    def _anchor(self, *, force: bool) -> None:
        if self.chain is None or self._key is None:
            return
        now = self._monotonic()
        due = self._anchored_at is None or now - self._anchored_at >= self.anchor_every
        if force or due:
            write_anchor(anchor_path(self.path), self._key, self.chain, sync=self.fsync != "never")
            self._anchored_at = now

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                if self._anchored_at is not None:
                    self._anchor(force=True)
                os.close(self._fd)
                self._fd = -1

    def __repr__(self) -> str:
        chained = f" chain={self.chain.chain_id}" if self.chain else ""
        return f"<FileSink {str(self.path)!r}{chained}>"
