"""The JSON-lines file sink: size rotation, an fsync policy, and an optional hash chain.

* One event per line, appended; the file is created 0600 through
  ``sekret._files`` (no symlink followed, a folder others can write refused).
* Rotation: when a batch would take the file past ``max_bytes`` the file is
  renamed ``<path>.000001``, ``<path>.000002``, ... (numbers only grow, nothing
  is renamed twice) and a new ``<path>`` is started. ``backups`` (default: keep
  all) prunes the oldest; a pruned chain verifies only with ``partial=True``.
* fsync policy: ``"batch"`` (default) fsyncs once per ``emit`` call, so a batch
  the audit log reports as recorded survives a power cut; ``"always"`` fsyncs
  after each record; ``"never"`` leaves it to the OS (development only).
* With ``key``: records are chained (``sekret.audit.chain``), a signed
  ``audit.checkpoint`` record is written every ``checkpoint_every`` records
  and at least every ``epoch_seconds`` of writing; each checkpoint ends a key
  epoch (the key evolves, the old one is forgotten, and a key *state* file
  made by ``sekret audit init-key --writer`` is rewritten). The sidecar anchor
  ``<path>.anchor`` is rewritten after each batch (or, with ``anchor_every=N``,
  at most every N seconds and at close) and, with ``anchor_sink``, shipped to
  a second sink (syslog, webhook, stdout) off the host.
* On start the sink compares the log with its anchor. A log that ends before
  the anchor, differs from it, lost its anchor, or vanished is never
  continued silently: a signed ``audit.gap`` record naming the missing range
  is written first (``verify`` fails on it), and with ``fail_closed=True``
  the sink then raises ``AuditError``.

This sink must never write the audit key anywhere but its own key state file.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from sekret._files import check_folder, open_private_append
from sekret.audit.chain import (
    CHECKPOINT,
    GAP,
    MAX_LINE,
    Chain,
    KeyState,
    anchor_path,
    coerce_key,
    read_anchor,
    write_anchor,
    write_key_state,
)
from sekret.audit.events import AuditEvent, utc_iso
from sekret.audit.sinks import Sink, to_json
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
        while pos > 0 and tail.count(b"\n") < 2 and len(tail) <= MAX_LINE:
            step = min(_TAIL_CHUNK, pos)
            pos -= step
            fh.seek(pos)
            tail = fh.read(step) + tail
    return tail[:-1].rsplit(b"\n", 1)[-1]


def _lines_back(path: Path) -> Iterator[bytes]:
    """The lines of ``path`` from the last to the first (without newlines)."""
    with path.open("rb") as fh:
        pos = fh.seek(0, os.SEEK_END)
        rest = b""
        while pos > 0:
            step = min(_TAIL_CHUNK, pos)
            pos -= step
            fh.seek(pos)
            rest = fh.read(step) + rest
            parts = rest.split(b"\n")
            rest = parts[0]
            for line in reversed(parts[1:]):
                if line:
                    yield line
        if rest:
            yield rest


def _fields(line: bytes) -> dict[str, Any]:
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return {}
    return record if isinstance(record, dict) else {}


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
        epoch_seconds: float | None = 900.0,
        anchor_every: float = 0.0,
        anchor_sink: Sink | str | Mapping[str, Any] | None = None,
        fail_closed: bool = False,
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
        self.epoch_seconds = epoch_seconds
        self.anchor_every = anchor_every
        self.fail_closed = fail_closed
        self._monotonic = monotonic
        self._anchored_at: float | None = None
        self._clock = clock
        self._lock = threading.Lock()
        self._key_file = Path(key) if isinstance(key, str | os.PathLike) else None
        state = coerce_key(key) if key is not None else None
        self._fd = -1
        self._pending: KeyState | None = None
        self._total = 0  # bytes ever written by this sink
        self._anchor_sink = self._build_anchor_sink(anchor_sink)
        self.gap: str | None = None
        """Why the log was found cut or replaced at start (None when it was intact)."""
        check_folder(self.path.parent, what="audit log")
        self._open()
        self.chain = self._resume(state) if state is not None else None
        self._epoch_started = monotonic()

    @staticmethod
    def _build_anchor_sink(spec: Sink | str | Mapping[str, Any] | None) -> Sink | None:
        if spec is None or isinstance(spec, Sink):
            return spec
        from sekret.audit.config import sink_from_spec  # lazy: config imports the log

        return sink_from_spec(spec)

    # -- state -----------------------------------------------------------------
    def _open(self) -> None:
        self._fd = open_private_append(self.path, what="audit log", check=False)
        self._size = os.fstat(self._fd).st_size

    def _persist(self, state: KeyState) -> None:
        if self._key_file is not None and state.evolving:
            write_key_state(self._key_file, state, overwrite=True)

    def _evolved(self, state: KeyState) -> None:
        """The chain moved to a new epoch: persist it once the closing records are written."""
        self._pending = state

    def _resume(self, state: KeyState) -> Chain:
        anchor_file = anchor_path(self.path)
        anchor: dict[str, Any] | None = None
        anchor_problem: str | None = None
        if os.path.lexists(anchor_file):
            anchor, anchor_problem = read_anchor(anchor_file, state)
        source = self.path
        last = _last_line(self.path)
        if last is None and self._rotated():  # the log was just rotated
            source = self._rotated()[-1]
            last = _last_line(source)
        if last is None:
            return self._resume_empty(state, anchor, anchor_problem)
        fields = _fields(last)
        seq, epoch = fields.get("seq"), fields.get("epoch")
        if not isinstance(seq, int) or not isinstance(epoch, int):
            raise AuditError(
                f"the audit log's last record is not a chained record; "
                f"run `sekret audit verify` and move {str(source)!r} aside"
            )
        after = epoch + (1 if fields.get("action") == CHECKPOINT else 0)
        chain = Chain(state, on_evolve=self._evolved)
        if after < state.epoch:
            # Our key moved past the log's last epoch: the records that moved it are gone.
            chain.chain_id, chain.seq = str(fields.get("chain")), seq
            chain.last_hash = hashlib.sha256(last).hexdigest()
            self._record_gap(
                chain,
                "cut",
                f"the log ends in key epoch {epoch} but the writer's key is at epoch "
                f"{state.epoch}: records were cut",
                seq + 1,
                None,
            )
            return chain
        if epoch >= state.epoch:  # a checkpoint closing the previous epoch cannot be re-checked
            record, reason = chain.check_line(last)
            if record is None:
                raise AuditError(
                    f"the audit log's last record fails verification ({reason}); "
                    "run `sekret audit verify` and move the log aside"
                )
        chain = Chain(
            state.at(after),
            chain_id=str(fields["chain"]),
            seq=seq,
            last_hash=hashlib.sha256(last).hexdigest(),
            on_evolve=self._evolved,
        )
        if after > state.epoch:
            self._persist(state.at(after))
        self._compare(chain, source, anchor, anchor_problem)
        return chain

    def _resume_empty(
        self, state: KeyState, anchor: dict[str, Any] | None, problem: str | None
    ) -> Chain:
        if problem is not None:
            raise AuditError(f"audit anchor {str(anchor_path(self.path))!r} fails: {problem}")
        if anchor is not None:  # the rotated files were moved away: continue from the anchor
            epoch = int(anchor["epoch"])
            return Chain(
                state.at(max(epoch, state.epoch)),
                chain_id=str(anchor["chain"]),
                seq=int(anchor["seq"]),
                last_hash=str(anchor["hash"]),
                on_evolve=self._evolved,
            )
        chain = Chain(state, on_evolve=self._evolved)
        if state.epoch:
            self._record_gap(
                chain,
                "vanished",
                f"log and anchor are gone but the writer's key is at epoch {state.epoch}: "
                "an earlier log was deleted",
                None,
                None,
            )
        return chain

    def _compare(
        self,
        chain: Chain,
        source: Path,
        anchor: dict[str, Any] | None,
        problem: str | None,
    ) -> None:
        """Write a gap record if the log does not reach or match its anchor."""
        last = chain.seq
        if problem is not None:
            self._record_gap(chain, "anchor_bad", f"the anchor {problem}", None, None)
        elif anchor is None:
            self._record_gap(
                chain,
                "anchor_missing",
                "the anchor file is missing; records after the last one may have been cut",
                last + 1,
                None,
            )
        elif anchor.get("chain") != chain.chain_id:
            self._record_gap(chain, "replaced", "the anchor is for another chain", None, None)
        elif anchor["seq"] > last:
            self._record_gap(
                chain,
                "cut",
                f"the log ends at seq {last}, the anchor records seq {anchor['seq']}",
                last + 1,
                int(anchor["seq"]),
            )
        else:
            self._compare_back(chain, source, anchor)

    def _compare_back(self, chain: Chain, source: Path, anchor: dict[str, Any]) -> None:
        checkpoint: int | None = None
        for line in _lines_back(source):
            fields = _fields(line)
            seq = fields.get("seq")
            if not isinstance(seq, int) or seq < anchor["seq"]:
                return
            if fields.get("action") == CHECKPOINT and seq > anchor["seq"] and checkpoint is None:
                checkpoint = seq
            if seq == anchor["seq"]:
                if hashlib.sha256(line).hexdigest() != anchor["hash"]:
                    self._record_gap(
                        chain,
                        "replaced",
                        f"the log's record at seq {seq} is not the one the anchor records",
                        None,
                        None,
                    )
                elif checkpoint is not None:
                    self._record_gap(
                        chain,
                        "stale_anchor",
                        f"the anchor (seq {seq}) is older than the checkpoint at seq "
                        f"{checkpoint}: an older anchor was put back",
                        None,
                        None,
                    )
                return

    def _record_gap(
        self, chain: Chain, kind: str, reason: str, first: int | None, last: int | None
    ) -> None:
        """Seal and write the signed ``audit.gap`` record (then raise if fail-closed)."""
        event: AuditEvent = {
            "time": utc_iso(self._clock()),
            "action": GAP,
            "outcome": "failure",
            "kind": kind,
            "reason": reason,
            "missing_from": first,
            "missing_to": last,
        }
        self.gap = reason
        self._write(chain.seal(event) + b"\n")
        if self.fsync != "never":
            os.fsync(self._fd)
        self.chain = chain
        self._anchor(force=True)
        if self.fail_closed:
            os.close(self._fd)
            self._fd = -1
            raise AuditError(
                f"audit log {str(self.path)!r}: {reason}; a signed audit.gap record was written"
            )

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
        seconds = self.epoch_seconds
        if seconds is not None and chain.seq >= 0 and self._elapsed() >= seconds:
            lines.append(chain.seal(self._checkpoint(chain)))
        for event in events:
            lines.append(chain.seal(event))
            if self.checkpoint_every and (chain.seq + 1) % self.checkpoint_every == 0:
                lines.append(chain.seal(self._checkpoint(chain)))
        return lines

    def _elapsed(self) -> float:
        return self._monotonic() - self._epoch_started

    def _checkpoint(self, chain: Chain) -> AuditEvent:
        self._epoch_started = self._monotonic()
        return {
            "time": utc_iso(self._clock()),
            "action": CHECKPOINT,
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
            saved = self.chain.snapshot() if self.chain else None
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
                if self._pending is not None:
                    self._persist(self._pending)  # only now may the old key go
                    self._pending = None
                self._anchor(force=False)
            except BaseException as exc:
                if self.chain is not None and saved is not None and self._total == total:
                    self.chain.rewind(*saved)  # nothing reached the file
                    self._pending = None
                if isinstance(exc, OSError):
                    raise AuditError(
                        f"cannot write audit log {str(self.path)!r}: {exc.strerror}"
                    ) from exc
                raise

    def _anchor(self, *, force: bool) -> None:
        if self.chain is None:
            return
        now = self._monotonic()
        due = self._anchored_at is None or now - self._anchored_at >= self.anchor_every
        if force or due:
            record = self.chain.anchor(utc_iso(self._clock()))
            write_anchor(anchor_path(self.path), record)
            self._anchored_at = now
            if self._anchor_sink is not None:
                try:
                    self._anchor_sink.emit([record])
                except Exception as exc:
                    raise AuditError(
                        f"audit log {str(self.path)!r}: records written, but the anchor "
                        f"could not be shipped ({type(exc).__name__})"
                    ) from exc

    def close(self) -> None:
        with self._lock:
            if self._fd >= 0:
                try:
                    if self._anchored_at is not None:
                        self._anchor(force=True)
                finally:
                    os.close(self._fd)
                    self._fd = -1
                    if self._anchor_sink is not None:
                        self._anchor_sink.close()

    def __repr__(self) -> str:
        chained = f" chain={self.chain.chain_id}" if self.chain else ""
        return f"<FileSink {str(self.path)!r}{chained}>"
