"""Tamper evidence for the JSON-lines file sink: a forward-secure hash chain, and ``verify``.

Each chained record carries five reserved fields after the event:

* ``chain``: the chain id (random, fixed for the life of the log, across rotations);
* ``seq``: 0, 1, 2, ... with no gaps;
* ``epoch``: the key epoch (0 at seq 0; one more after each ``audit.checkpoint``);
* ``prev``: SHA-256 (hex) of the previous record's line (64 zeros for seq 0);
* ``hmac``: HMAC-SHA256 under the epoch's MAC key of the line's exact bytes up to it.

A line is the record's compact ASCII JSON without ``hmac`` with
``,"hmac":"<hex>"`` appended inside the closing brace; the HMAC covers those
exact bytes, so a change either breaks the JSON or breaks the HMAC.

Forward security (as journald's Forward Secure Sealing): the key evolves.
Epoch ``n+1``'s key is SHA-256 of a label and epoch ``n``'s key (one way), and
the writer forgets the old one after each checkpoint. The verifier starts from
the initial key (kept off the host) and derives forward; someone who takes the
writer's current key can sign only the current epoch onward, never rewrite an
earlier one.

The sidecar *anchor* (``<log>.anchor``, signed, mode 0600) holds the last seq,
epoch and hash written, so a cut tail is caught; the same signed anchor can be
shipped off the host (``FileSink(anchor_sink=...)``) and checked with
``verify(anchors=...)``, which catches replayed copies and fresh starts too.
A writer that finds the log shorter than its anchor writes a signed
``audit.gap`` record naming the missing range; ``verify`` fails on it.

``verify`` streams: memory is bounded by one record (``MAX_LINE``), not the file.

This module must never log or return the audit key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets as _random
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sekret._files import read_private, write_private
from sekret.exceptions import AuditError, ConfigurationError

__all__ = [
    "GAP",
    "GENESIS",
    "RESERVED",
    "BadRecord",
    "Chain",
    "KeyState",
    "VerifyResult",
    "anchor_path",
    "evolve_key",
    "load_key",
    "load_key_state",
    "read_anchor",
    "verify",
    "write_anchor",
    "write_key_file",
    "write_key_state",
]

GENESIS: Final = "0" * 64
RESERVED: Final = frozenset({"chain", "seq", "epoch", "prev", "hmac"})
MIN_KEY_BYTES: Final = 16
MAX_LINE: Final = 1 << 20  # a record longer than 1 MiB is refused (memory bound of verify)
MAX_EPOCH: Final = 1 << 24  # bounds the work a forged epoch number can ask of the verifier
GAP: Final = "audit.gap"
CHECKPOINT: Final = "audit.checkpoint"
ANCHOR: Final = "audit.anchor"
STATE_PREFIX: Final = "sekret-audit-key-state:1:"
_EVOLVE: Final = b"sekret/audit/v1/evolve\x00"
_MAC_LABEL: Final = b"sekret/audit/v1/mac\x00"

_ENCODER: Final = json.JSONEncoder(  # built once: json.dumps(**options) builds one per call
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False, default=str
)
_FAST: Final = json.JSONEncoder(  # records: key order as given (the HMAC covers the bytes)
    separators=(",", ":"), ensure_ascii=True, allow_nan=False, default=str
)
_HMAC_FIELD: Final = b',"hmac":"'


def _canonical(obj: Mapping[str, Any]) -> bytes:
    return _ENCODER.encode(obj).encode("ascii")


# -- keys and epochs ---------------------------------------------------------------
def evolve_key(key: bytes) -> bytes:
    """The next epoch's key: one-way, so an epoch's key never gives an earlier one."""
    return hashlib.sha256(_EVOLVE + key).digest()


def _mac_key(key: bytes) -> bytes:
    return hashlib.sha256(_MAC_LABEL + key).digest()


class _Mac:
    """HMAC-SHA256 (RFC 2104) with the keyed inner/outer states computed once.

    Equal to ``hmac.digest(key, body, "sha256")`` (a test checks it); copying the
    two prepared hash states halves the cost per record.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > 64:
            key = hashlib.sha256(key).digest()
        block = key.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def hexdigest(self, body: bytes) -> str:
        inner = self._inner.copy()
        inner.update(body)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.hexdigest()

    def __repr__(self) -> str:
        return "<audit key>"


@dataclass(slots=True)
class KeyState:
    """An epoch and its key (the initial key is epoch 0). ``repr`` hides the key."""

    epoch: int
    key: bytes
    evolving: bool = False
    """True for a writer's key state file: the sink rewrites it at each epoch."""

    def at(self, epoch: int) -> KeyState:
        """This state moved forward to ``epoch`` (never backward: that is the point)."""
        if epoch < self.epoch:
            raise AuditError(f"the audit key is at epoch {self.epoch}; epoch {epoch} is gone")
        if epoch - self.epoch > MAX_EPOCH:
            raise AuditError(f"epoch {epoch} is implausibly far ahead")
        key = self.key
        for _ in range(epoch - self.epoch):
            key = evolve_key(key)
        return KeyState(epoch, key, self.evolving)

    def mac(self) -> _Mac:
        """The MAC for this epoch's records."""
        return _Mac(_mac_key(self.key))

    def __repr__(self) -> str:
        return f"<KeyState epoch={self.epoch}>"


class _Keys:
    """MACs for epochs >= the start, derived forward and cached one at a time."""

    def __init__(self, start: KeyState) -> None:
        self.start = start
        self.state = start
        self.current = start.mac()

    def mac(self, epoch: int) -> _Mac:
        if epoch != self.state.epoch:
            base = self.state if epoch > self.state.epoch else self.start
            self.state = base.at(epoch)
            self.current = self.state.mac()
        return self.current


def _parse_key_text(text: bytes, where: str) -> KeyState:
    from sekret._sealing import decode_key  # lazy: it loads cryptography (~10 ms)

    text = text.strip()
    epoch = 0
    if text.startswith(STATE_PREFIX.encode()):
        number, _, text = text[len(STATE_PREFIX) :].partition(b":")
        if not number.isdigit():
            raise ConfigurationError(f"{where} is not a valid audit key state file")
        epoch = int(number)
        return KeyState(epoch, decode_key(text, source=where), evolving=True)
    if text.startswith(STATE_PREFIX[:-2].encode()):  # a state file of another version
        version = text[len(STATE_PREFIX) - 2 :].partition(b":")[0]
        known = version.isdigit() and len(version) < MIN_KEY_BYTES  # never shows key text
        shown = f"version {version.decode()}" if known else "an unknown version"
        raise ConfigurationError(
            f"{where} is an audit key state file of {shown}; this sekret reads version 1 only"
        )
    if re.fullmatch(rb"[0-9a-fA-F]+", text) and len(text) % 2 == 0:
        key = bytes.fromhex(text.decode("ascii"))
    elif re.fullmatch(rb"[A-Za-z0-9_-]{43}=?", text):
        key = decode_key(text, source=where)
    else:
        key = text
    if len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(f"{where} holds {len(key)} bytes; at least {MIN_KEY_BYTES} needed")
    return KeyState(0, key)


def load_key_state(path: str | os.PathLike[str]) -> KeyState:
    """Read an audit key file: the initial key (epoch 0) or a writer's evolved state.

    Refuses a symlink, another account's file and one open to group or others.
    """
    p = Path(path)
    data = read_private(p, what="audit key file", limit=4096, key=True)
    return _parse_key_text(data, f"audit key file {str(p)!r}")


def load_key(path: str | os.PathLike[str]) -> bytes:
    """The initial audit key from a key file (refuses a writer's evolved key state)."""
    state = load_key_state(path)
    if state.epoch:
        raise ConfigurationError(
            f"audit key file {str(path)!r} holds the writer's key at epoch {state.epoch}; "
            "verifying needs the initial key (the copy kept off the host)"
        )
    return state.key


def write_key_file(path: str | os.PathLike[str], key: bytes | None = None) -> bytes:
    """Create a new audit key file (urlsafe base64 of 32 random bytes, 0600); never overwrites."""
    from sekret._sealing import encode_key

    key = key if key is not None else _random.token_bytes(32)
    data = (encode_key(key) + "\n").encode("ascii")
    write_private(Path(path), data, what="audit key file", overwrite=False)
    return key


def write_key_state(path: str | os.PathLike[str], state: KeyState, *, overwrite: bool) -> None:
    """Write a writer's evolving key state (epoch + key), replacing the previous one."""
    from sekret._sealing import encode_key

    data = f"{STATE_PREFIX}{state.epoch}:{encode_key(state.key)}\n".encode("ascii")
    write_private(Path(path), data, what="audit key state file", overwrite=overwrite)


def coerce_key(key: bytes | str | os.PathLike[str]) -> KeyState:
    """The key state from key bytes (epoch 0) or a key file path."""
    if isinstance(key, bytes):
        if len(key) < MIN_KEY_BYTES:
            raise ConfigurationError(f"the audit key must be at least {MIN_KEY_BYTES} bytes")
        return KeyState(0, key)
    return load_key_state(key)


# -- signed lines ------------------------------------------------------------------
def _signed(mac: _Mac, record: Mapping[str, Any]) -> dict[str, Any]:
    return {**record, "hmac": mac.hexdigest(_canonical(record))}


def _check_signed_dict(keys: _Keys, record: Mapping[str, Any]) -> str | None:
    """None if ``record`` (a parsed anchor) carries a valid hmac for its epoch, else why not."""
    body = {k: v for k, v in record.items() if k != "hmac"}
    epoch = body.get("epoch")
    if not isinstance(epoch, int) or epoch < 0 or not isinstance(record.get("hmac"), str):
        return "not signed (no epoch or hmac)"
    try:
        mac = keys.mac(epoch)
        signed = _canonical(body)
    except AuditError as exc:
        return str(exc)
    except (ValueError, RecursionError):  # NaN or Infinity: never written by a writer
        return "not signed (holds a number JSON does not allow)"
    if not hmac.compare_digest(mac.hexdigest(signed), str(record["hmac"])):
        return "HMAC mismatch (edited, or signed with another key)"
    return None


def _split_line(line: bytes) -> tuple[dict[str, Any] | None, bytes, bytes, str | None]:
    """(record without hmac, signed body, given hmac, None) or (None, b"", b"", reason)."""
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, b"", b"", "not valid JSON (edited or torn record)"
    at = line.rfind(_HMAC_FIELD)
    if not isinstance(record, dict) or at < 0 or not line.endswith(b'"}'):
        return None, b"", b"", "not a signed record (no hmac field)"
    given = line[at + len(_HMAC_FIELD) : -2]
    if record.get("hmac") != given.decode("ascii", "replace"):
        return None, b"", b"", "not a signed record (hmac is not the last field)"
    del record["hmac"]
    return record, line[:at] + b"}", given, None


def _mac_ok(mac: _Mac, body: bytes, given: bytes) -> bool:
    return hmac.compare_digest(mac.hexdigest(body).encode("ascii"), given)


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


# -- writing a chain ---------------------------------------------------------------
class Chain:
    """The running state of one chain: id, last seq and hash, and the current epoch's key.

    ``on_evolve`` is called with the new key state after each epoch change (the
    file sink persists it, replacing the old key in its key file).
    """

    __slots__ = ("_mac", "_state", "chain_id", "last_hash", "on_evolve", "seq")

    def __init__(
        self,
        key: bytes | KeyState,
        *,
        chain_id: str | None = None,
        seq: int = -1,
        last_hash: str = GENESIS,
        on_evolve: Callable[[KeyState], None] | None = None,
    ) -> None:
        self._state = key if isinstance(key, KeyState) else KeyState(0, key)
        self._mac = self._state.mac()
        self.chain_id = chain_id or _random.token_hex(8)
        self.seq = seq
        self.last_hash = last_hash
        self.on_evolve = on_evolve

    @property
    def epoch(self) -> int:
        """The epoch of the next record."""
        return self._state.epoch

    def seal(self, event: Mapping[str, Any]) -> bytes:
        """The signed line (no newline) for ``event`` as the next record; advances the chain.

        A checkpoint record closes its epoch: the key evolves right after it.
        """
        if (
            "chain" in event
            or "seq" in event
            or "epoch" in event
            or "prev" in event
            or "hmac" in event
        ):
            event = {k: v for k, v in event.items() if k not in RESERVED}  # ours replace them
        seq = self.seq + 1
        try:
            head = _FAST.encode(event)
        except ValueError as exc:
            raise AuditError(f"audit event {event.get('action')!r} is not JSON-safe") from exc
        tail = (
            f'"chain":"{self.chain_id}","seq":{seq},"epoch":{self._state.epoch},'
            f'"prev":"{self.last_hash}"}}'
        )
        body = (head[:-1] + ("," if len(head) > 2 else "") + tail).encode("ascii")
        line = body[:-1] + _HMAC_FIELD + self._mac.hexdigest(body).encode("ascii") + b'"}'
        self.seq = seq
        self.last_hash = hashlib.sha256(line).hexdigest()
        if event.get("action") == CHECKPOINT:
            self.evolve()
        return line

    def evolve(self) -> None:
        """Move to the next epoch and forget this epoch's key."""
        self._state = self._state.at(self._state.epoch + 1)
        self._mac = self._state.mac()
        if self.on_evolve is not None:
            self.on_evolve(self._state)

    def rewind(self, seq: int, last_hash: str, state: KeyState) -> None:
        """Undo seals that never reached the file (only while their keys are still held)."""
        self.seq, self.last_hash = seq, last_hash
        if state.epoch != self._state.epoch:
            self._state = state
            self._mac = state.mac()

    def snapshot(self) -> tuple[int, str, KeyState]:
        """What ``rewind`` needs."""
        return self.seq, self.last_hash, self._state

    def anchor(self, now: str) -> dict[str, Any]:
        """The signed anchor record of the chain's current head."""
        record = {
            "action": ANCHOR,
            "chain": self.chain_id,
            "seq": self.seq,
            "epoch": self._state.epoch,
            "hash": self.last_hash,
            "time": now,
        }
        return _signed(self._mac, record)

    def check_line(self, line: bytes) -> tuple[dict[str, Any] | None, str | None]:
        """Verify a line with this chain's epoch key (or a later one it can derive)."""
        record, body, given, reason = _split_line(line)
        if record is None:
            return None, reason
        epoch = _int(record.get("epoch"))
        if epoch is None or _int(record.get("seq")) is None:
            return None, "record has no seq/epoch"
        try:
            mac = self._mac if epoch == self._state.epoch else self._state.at(epoch).mac()
        except AuditError as exc:
            return None, str(exc)
        if not _mac_ok(mac, body, given):
            return None, "HMAC mismatch (record edited, or signed with another key)"
        return record, None

    def __repr__(self) -> str:
        return f"<Chain {self.chain_id} seq={self.seq} epoch={self._state.epoch}>"


def anchor_path(log_path: str | os.PathLike[str]) -> Path:
    """The sidecar anchor of a log: ``audit.log`` -> ``audit.log.anchor``."""
    return Path(str(log_path) + ".anchor")


def write_anchor(path: Path, record: Mapping[str, Any]) -> None:
    """Atomically replace the anchor file with ``record`` (``sekret._files.write_private``)."""
    write_private(path, _canonical(record) + b"\n", what="audit anchor")


def parse_anchor(data: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """The anchor record of an anchor file's bytes (signature not checked yet)."""
    if not data.endswith(b"\n") or data.count(b"\n") != 1:
        return None, "anchor file is not one signed line"
    try:
        record = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None, "anchor is not valid JSON"
    if not isinstance(record, dict):
        return None, "anchor is not a JSON object"
    if _int(record.get("seq")) is None or not isinstance(record.get("hash"), str):
        return None, "anchor lacks seq/hash"
    if _int(record.get("epoch")) is None:
        return None, "anchor lacks its epoch"
    return record, None


def read_anchor(path: Path, key: KeyState) -> tuple[dict[str, Any] | None, str | None]:
    """The anchor record, or (None, reason) if it is malformed or its signature fails."""
    record, reason = parse_anchor(read_private(path, what="audit anchor"))
    if record is None:
        return None, reason
    bad = _check_signed_dict(_Keys(key), record)
    if bad is not None:
        return None, f"anchor {bad}"
    return record, None


# -- verifying ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class BadRecord:
    """The first record that fails verification."""

    path: str
    line: int
    seq: int | None
    reason: str

    def __str__(self) -> str:
        seq = "?" if self.seq is None else str(self.seq)
        return f"{self.path}:{self.line}: seq {seq}: {self.reason}"


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """What ``verify`` found. Truthy when the whole chain verified."""

    ok: bool
    records: int
    files: tuple[str, ...]
    chain: str | None = None
    last_seq: int | None = None
    checkpoints: int = 0
    anchored: bool = False
    bad: BadRecord | None = None
    warnings: tuple[str, ...] = ()
    external_anchors: int = 0

    def __bool__(self) -> bool:
        return self.ok


class _Fail(Exception):
    def __init__(self, bad: BadRecord) -> None:
        super().__init__(str(bad))
        self.bad = bad


def _read_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(number, line without newline) of a log, one record in memory at a time."""
    with path.open("rb") as fh:
        number = 0
        while True:
            line = fh.readline(MAX_LINE + 1)
            if not line:
                return
            number += 1
            if not line.endswith(b"\n"):
                reason = (
                    "record longer than 1 MiB"
                    if len(line) > MAX_LINE
                    else "last line is incomplete (torn or truncated)"
                )
                raise _Fail(BadRecord(str(path), number, None, reason))
            yield number, line[:-1]


def _first_seq(path: Path) -> int:
    with path.open("rb") as fh:
        first = fh.readline(MAX_LINE)
    try:
        seq = json.loads(first).get("seq") if first.strip() else None
    except (ValueError, AttributeError, UnicodeDecodeError, RecursionError):
        seq = None
    if not isinstance(seq, int):
        raise _Fail(BadRecord(str(path), 1, None, "first record is unreadable (edited or torn)"))
    return seq


def _find_anchor(logs: list[Path]) -> Path | None:
    for log in reversed(logs):
        for base in (str(log), re.sub(r"\.\d+$", "", str(log))):
            candidate = anchor_path(base)
            if os.path.lexists(candidate):
                return candidate
    return None


def read_external_anchors(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line, anchor) for each ``audit.anchor`` JSON object in a shipped log.

    Lines may carry a prefix (a syslog header, a container log's timestamp):
    the JSON object starts at the first ``{``. Other lines are skipped.
    """
    with path.open("rb") as fh:
        for number, raw in enumerate(iter(lambda: fh.readline(MAX_LINE), b""), start=1):
            if b'"audit.anchor"' not in raw:
                continue
            start = raw.find(b"{")
            try:
                record = json.loads(raw[start:]) if start >= 0 else None
            except (ValueError, UnicodeDecodeError, RecursionError):
                record = None
            if isinstance(record, dict) and record.get("action") == ANCHOR:
                yield number, record


def verify(
    paths: Iterable[str | os.PathLike[str]],
    key: bytes | str | os.PathLike[str],
    *,
    anchor: str | os.PathLike[str] | None = None,
    partial: bool = False,
    allow_missing_anchor: bool = False,
    anchors: str | os.PathLike[str] | None = None,
) -> VerifyResult:
    """Verify one chain spread over ``paths`` (rotated files in any order, ``*.anchor`` allowed).

    ``key``: the initial audit key (bytes or its key file). ``anchor``: the
    sidecar; found next to the logs when omitted; a missing one fails unless
    ``allow_missing_anchor``. ``partial``: the oldest files were pruned, so
    trust the first record's ``prev`` and epoch instead of requiring seq 0.
    ``anchors``: a file of anchors shipped off the host (``audit.anchor``
    events): every one must match the log, and the last must be its chain.
    """
    state = coerce_key(key)
    if state.epoch:
        raise ConfigurationError(
            f"the audit key given is the writer's key at epoch {state.epoch}; "
            "verifying needs the initial key (the copy kept off the host)"
        )
    given = [Path(p) for p in paths]
    logs = [p for p in given if not p.name.endswith(".anchor")]
    found = [p for p in given if p.name.endswith(".anchor")]
    anchor_file = Path(anchor) if anchor is not None else (found[0] if found else None)
    if anchor_file is None:
        anchor_file = _find_anchor(logs)
    files = tuple(str(p) for p in logs)
    checker = _Verifier(state, partial, allow_missing_anchor)
    try:
        external = checker.load_external(Path(anchors)) if anchors is not None else None
        anchor_rec = checker.load_anchor(anchor_file)
        for log in sorted(logs, key=_first_seq):
            checker.check_file(log)
        checker.check_anchor(anchor_rec, anchor_file)
        if external is not None:
            checker.check_external(Path(str(anchors)), external)
    except _Fail as fail:
        return checker.result(False, files, anchor_file, fail.bad)
    except OSError as exc:
        raise AuditError(f"cannot read audit log: {exc.filename}: {exc.strerror}") from exc
    return checker.result(True, files, anchor_file, None)


class _Verifier:
    def __init__(self, key: KeyState, partial: bool, allow_missing_anchor: bool) -> None:
        self.keys = _Keys(key)
        self.partial = partial
        self.allow_missing_anchor = allow_missing_anchor
        self.chain: str | None = None
        self.epoch = 0
        self.last_seq: int | None = None
        self.last_hash: str | None = None
        self.last_checkpoint: int | None = None
        self.records = 0
        self.checkpoints = 0
        self.warnings: list[str] = []
        self.where = ("", 0)
        self.watch: dict[int, str] = {}  # seq -> expected hash (anchor + external anchors)
        self.seen: dict[int, str] = {}
        self.first_seq: int | None = None
        self.external = 0

    def result(
        self, ok: bool, files: tuple[str, ...], anchor: Path | None, bad: BadRecord | None
    ) -> VerifyResult:
        return VerifyResult(
            ok,
            self.records,
            files,
            self.chain,
            self.last_seq,
            self.checkpoints,
            anchor is not None,
            bad,
            tuple(self.warnings),
            self.external,
        )

    def fail(self, path: str, line: int, seq: int | None, reason: str) -> _Fail:
        return _Fail(BadRecord(path, line, seq, reason))

    def load_anchor(self, path: Path | None) -> dict[str, Any] | None:
        if path is None:
            return None
        try:
            data = read_private(path, what="audit anchor")
        except ConfigurationError as exc:
            raise self.fail(str(path), 1, None, str(exc)) from None
        record, reason = parse_anchor(data)
        if record is None:
            raise self.fail(str(path), 1, None, reason or "bad anchor")
        self.watch[int(record["seq"])] = str(record["hash"])
        return record

    def load_external(self, path: Path) -> list[tuple[int, dict[str, Any]]]:
        found = list(read_external_anchors(path))
        for number, record in found:
            if _int(record.get("seq")) is None or not isinstance(record.get("hash"), str):
                raise self.fail(str(path), number, None, "external anchor lacks seq/hash")
        if found:
            last_chain = found[-1][1].get("chain")
            for _, record in found:
                if record.get("chain") == last_chain:
                    self.watch.setdefault(int(record["seq"]), str(record["hash"]))
        return found

    def check_file(self, path: Path) -> None:
        name = str(path)
        number = 0
        for number, line in _read_lines(path):
            self.check_line(name, number, line)
        self.where = (name, number + 1)

    def _key_for(self, name: str, number: int, record: dict[str, Any]) -> _Mac:
        seq, epoch = _int(record.get("seq")), _int(record.get("epoch"))
        if seq is None or epoch is None:
            raise self.fail(name, number, seq, "record has no seq/epoch")
        if self.chain is None and self.partial:
            if not 0 <= epoch <= MAX_EPOCH:
                raise self.fail(name, number, seq, f"implausible epoch {epoch}")
            self.epoch = epoch
        if epoch != self.epoch:
            raise self.fail(
                name,
                number,
                seq,
                f"epoch {epoch} where the chain is at epoch {self.epoch} "
                "(re-signed with another epoch's key)",
            )
        return self.keys.mac(epoch)

    def check_line(self, name: str, number: int, line: bytes) -> None:
        record, body, given, reason = _split_line(line)
        if record is None:
            raise self.fail(name, number, None, reason or "bad record")
        seq = _int(record.get("seq"))
        mac = self._key_for(name, number, record)
        if not _mac_ok(mac, body, given):
            raise self.fail(
                name, number, seq, "HMAC mismatch (record edited, or signed with another key)"
            )
        assert seq is not None  # checked by _key_for
        chain, prev = record.get("chain"), record.get("prev")
        if self.chain is None:
            self.chain = str(chain)
            self.first_seq = seq
            if not self.partial and (seq != 0 or prev != GENESIS):
                raise self.fail(name, number, seq, "chain does not start at seq 0 (head removed)")
        elif chain != self.chain:
            raise self.fail(name, number, seq, f"record from another chain ({chain!r})")
        else:
            expected = (-1 if self.last_seq is None else self.last_seq) + 1
            if seq < expected:
                raise self.fail(name, number, seq, f"out of order: expected seq {expected}")
            if seq > expected:
                raise self.fail(
                    name, number, seq, f"expected seq {expected}: records deleted or reordered"
                )
            if prev != self.last_hash:
                raise self.fail(name, number, seq, "prev does not match the previous record")
        self.last_seq = seq
        self.last_hash = hashlib.sha256(line).hexdigest()
        self.records += 1
        action = record.get("action")
        if action == CHECKPOINT:
            self.checkpoints += 1
            self.last_checkpoint = seq
            self.epoch += 1
        elif action == GAP:
            self.gap(name, number, seq, record)
        if seq in self.watch:
            self.seen[seq] = self.last_hash

    def gap(self, name: str, number: int, seq: int, record: dict[str, Any]) -> None:
        reason = str(record.get("reason", "records missing"))
        first, last = record.get("missing_from"), record.get("missing_to")
        missing = f"seq {first}..{'?' if last is None else last}"
        text = f"the writer recorded a gap at start: {reason} ({missing})"
        if record.get("kind") == "anchor_missing" and self.allow_missing_anchor:
            self.warnings.append(text + " (allowed by --allow-missing-anchor)")
            return
        raise self.fail(name, number, seq, text)

    def check_anchor(self, anchor: dict[str, Any] | None, path: Path | None) -> None:
        name, line = self.where
        if anchor is None or path is None:
            if self.last_seq is None:
                return
            message = (
                "no anchor file: a cut tail, an older copy put back or a fresh start "
                "cannot be detected"
            )
            if self.allow_missing_anchor:
                self.warnings.append(message)
                return
            raise self.fail(
                name, line, None, message + " (pass --allow-missing-anchor if deliberate)"
            )
        if self.chain is not None and anchor.get("chain") != self.chain:
            raise self.fail(str(path), 1, anchor["seq"], "anchor belongs to another chain")
        bad = _check_signed_dict(self.keys, anchor)
        if bad is not None:
            raise self.fail(str(path), 1, anchor["seq"], f"anchor {bad}")
        last = -1 if self.last_seq is None else self.last_seq
        if anchor["seq"] > last:
            raise self.fail(
                name or str(path),
                line,
                last + 1,
                f"log truncated: the anchor records seq {anchor['seq']}, the log ends at {last}",
            )
        if self.seen.get(anchor["seq"]) != anchor["hash"]:
            raise self.fail(str(path), 1, anchor["seq"], "anchor hash does not match the log")
        if self.last_checkpoint is not None and anchor["seq"] < self.last_checkpoint:
            raise self.fail(
                str(path),
                1,
                anchor["seq"],
                f"anchor (seq {anchor['seq']}) is older than the log's checkpoint at seq "
                f"{self.last_checkpoint}: an older anchor was put back",
            )
        if anchor["seq"] < last:
            self.warnings.append(
                f"{last - anchor['seq']} record(s) after the anchor (writer still running or "
                "stopped before updating it)"
            )

    def check_external(self, path: Path, found: list[tuple[int, dict[str, Any]]]) -> None:
        name = str(path)
        if not found:
            raise self.fail(name, 0, None, "no audit.anchor record in the external anchors")
        last_number, last = found[-1]
        if last.get("chain") != self.chain:
            raise self.fail(
                name,
                last_number,
                last.get("seq"),
                f"the log is chain {self.chain}, but the last external anchor is for chain "
                f"{last.get('chain')}: the log was replaced or started afresh",
            )
        top = -1 if self.last_seq is None else self.last_seq
        keys = _Keys(self.keys.start)  # anchors in epoch order: each key derived once
        mine = [(n, r) for n, r in found if r.get("chain") == self.chain]
        for number, record in sorted(mine, key=lambda item: _int(item[1].get("epoch")) or 0):
            if self.first_seq is not None and record["seq"] < self.first_seq:
                continue  # in a pruned file (--partial)
            bad = _check_signed_dict(keys, record)
            if bad is not None:
                raise self.fail(name, number, record["seq"], f"external anchor {bad}")
            if record["seq"] > top:
                raise self.fail(
                    name,
                    number,
                    record["seq"],
                    f"the log ends at seq {top}, an external anchor records seq "
                    f"{record['seq']}: cut, or an older copy put back",
                )
            if self.seen.get(record["seq"]) != record["hash"]:
                raise self.fail(
                    name, number, record["seq"], "the log differs from the external anchor"
                )
            self.external += 1
