"""Tamper evidence for the JSON-lines file sink: a hash chain with HMACs, and ``verify``.

Each chained record carries four reserved fields next to the event:

* ``chain``: the chain id (random, fixed for the life of the log, across rotations);
* ``seq``: 0, 1, 2, ... with no gaps;
* ``prev``: SHA-256 (hex) of the previous record's line (64 zeros for seq 0);
* ``hmac``: HMAC-SHA256 under the audit key of the line's exact bytes up to it.

A line is the record's compact ASCII JSON without ``hmac`` (the event's
fields, then ``chain``, ``seq``, ``prev``) with ``,"hmac":"<hex>"`` appended
inside the closing brace. The HMAC covers those exact bytes, so every byte of
a line is covered: a change either breaks the JSON or breaks the HMAC. (No
re-serialisation is needed to verify, so the writer does not sort keys: that
keeps sealing cheap.)
The sidecar *anchor* (``<log>.anchor``, HMAC-signed, mode 0600) holds the
last seq and hash written, so a truncated tail is caught too.

This module must never log or return the audit key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets as _random
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from sekret.exceptions import AuditError, ConfigurationError, InsecureKeyFile

__all__ = [
    "GENESIS",
    "RESERVED",
    "BadRecord",
    "Chain",
    "VerifyResult",
    "anchor_path",
    "load_key",
    "read_anchor",
    "verify",
    "write_anchor",
    "write_key_file",
]

GENESIS: Final = "0" * 64
RESERVED: Final = frozenset({"chain", "seq", "prev", "hmac"})
MIN_KEY_BYTES: Final = 16


_ENCODER: Final = json.JSONEncoder(  # built once: json.dumps(**options) builds one per call
    sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False, default=str
)


_FAST: Final = json.JSONEncoder(  # records: key order as given (the HMAC covers the bytes)
    separators=(",", ":"), ensure_ascii=True, allow_nan=False, default=str
)
_HMAC_FIELD: Final = b',"hmac":"'


def _canonical(obj: Mapping[str, Any]) -> bytes:
    return _ENCODER.encode(obj).encode("ascii")


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


Key = bytes | _Mac


def _mac(key: Key, body: bytes) -> str:
    if isinstance(key, _Mac):
        return key.hexdigest(body)
    return hmac.digest(key, body, "sha256").hex()


def _signed_line(key: Key, record: Mapping[str, Any]) -> bytes:
    body = _canonical(record)
    return body[:-1] + b',"hmac":"' + _mac(key, body).encode("ascii") + b'"}'


def _claimed_seq(line: bytes) -> int | None:
    """The seq a line claims (for the report only; it is not trusted)."""
    try:
        seq = json.loads(line).get("seq")
    except (ValueError, AttributeError, UnicodeDecodeError):
        return None
    return seq if isinstance(seq, int) else None


def _check_signed(key: Key, line: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """Parse a signed line; return (record, None) or (None, reason)."""
    try:
        record = json.loads(line)
    except (ValueError, UnicodeDecodeError):
        return None, "not valid JSON (edited or torn record)"
    at = line.rfind(_HMAC_FIELD)
    if not isinstance(record, dict) or at < 0 or not line.endswith(b'"}'):
        return None, "not a signed record (no hmac field)"
    given = line[at + len(_HMAC_FIELD) : -2]
    if record.get("hmac") != given.decode("ascii", "replace"):
        return None, "not a signed record (hmac is not the last field)"
    if not hmac.compare_digest(_mac(key, line[:at] + b"}").encode("ascii"), given):
        return None, "HMAC mismatch (record edited, or signed with another key)"
    del record["hmac"]
    return record, None


# -- the audit key ---------------------------------------------------------------
def load_key(path: str | os.PathLike[str]) -> bytes:
    """Read an audit key file (mode 0600; hex text or raw bytes, at least 16 bytes)."""
    p = Path(path)
    try:
        mode = p.stat().st_mode
        data = p.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"cannot read audit key file {str(p)!r}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InsecureKeyFile(
            f"audit key file {str(p)!r} is accessible by group or others "
            f"(mode {stat.S_IMODE(mode):04o}); chmod 600 it"
        )
    text = data.strip()
    if re.fullmatch(rb"[0-9a-fA-F]+", text) and len(text) % 2 == 0:
        key = bytes.fromhex(text.decode("ascii"))
    else:
        key = text
    if len(key) < MIN_KEY_BYTES:
        raise ConfigurationError(
            f"audit key file {str(p)!r} holds {len(key)} bytes; at least {MIN_KEY_BYTES} needed"
        )
    return key


def write_key_file(path: str | os.PathLike[str]) -> None:
    """Create a new random 256-bit audit key file (mode 0600); refuses to overwrite."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(_random.token_hex(32) + "\n")


def coerce_key(key: bytes | str | os.PathLike[str]) -> bytes:
    """Key bytes as given, or loaded from a key file path."""
    if isinstance(key, bytes):
        if len(key) < MIN_KEY_BYTES:
            raise ConfigurationError(f"the audit key must be at least {MIN_KEY_BYTES} bytes")
        return key
    return load_key(key)


# -- writing a chain ---------------------------------------------------------------
class Chain:
    """The running state of one chain: id, last seq and last record hash."""

    __slots__ = ("_key", "chain_id", "last_hash", "seq")

    def __init__(
        self, key: bytes, *, chain_id: str | None = None, seq: int = -1, last_hash: str = GENESIS
    ) -> None:
        self._key = _Mac(key)
        self.chain_id = chain_id or _random.token_hex(8)
        self.seq = seq
        self.last_hash = last_hash

    def seal(self, event: Mapping[str, Any]) -> bytes:
        """The signed line (no newline) for ``event`` as the next record; advances the chain."""
        if "chain" in event or "seq" in event or "prev" in event or "hmac" in event:
            event = {k: v for k, v in event.items() if k not in RESERVED}  # ours replace them
        seq = self.seq + 1
        try:
            head = _FAST.encode(event)
        except ValueError as exc:
            raise AuditError(f"audit event {event.get('action')!r} is not JSON-safe") from exc
        tail = f'"chain":"{self.chain_id}","seq":{seq},"prev":"{self.last_hash}"}}'
        body = (head[:-1] + ("," if len(head) > 2 else "") + tail).encode("ascii")
        line = body[:-1] + _HMAC_FIELD + _mac(self._key, body).encode("ascii") + b'"}'
        self.seq = seq
        self.last_hash = hashlib.sha256(line).hexdigest()
        return line

    def resume_from(self, line: bytes) -> None:
        """Continue after an existing last record (verified with the key first)."""
        record, reason = _check_signed(self._key, line)
        if record is None or not isinstance(record.get("seq"), int):
            raise AuditError(
                f"the audit log's last record fails verification ({reason}); "
                "run `sekret audit verify` and move the log aside"
            )
        self.chain_id = str(record["chain"])
        self.seq = int(record["seq"])
        self.last_hash = hashlib.sha256(line).hexdigest()

    def __repr__(self) -> str:
        return f"<Chain {self.chain_id} seq={self.seq}>"


def anchor_path(log_path: str | os.PathLike[str]) -> Path:
    """The sidecar anchor of a log: ``audit.log`` -> ``audit.log.anchor``."""
    return Path(str(log_path) + ".anchor")


def write_anchor(path: Path, key: Key, chain: Chain, *, sync: bool) -> None:
    """Atomically replace the anchor with the chain's last seq and hash (mode 0600)."""
    line = _signed_line(key, {"chain": chain.chain_id, "seq": chain.seq, "hash": chain.last_hash})
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, line + b"\n")
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_anchor(path: Path, key: Key) -> tuple[dict[str, Any] | None, str | None]:
    """The anchor record, or (None, reason) if it is missing fields or was edited."""
    data = path.read_bytes()
    if not data.endswith(b"\n") or data.count(b"\n") != 1:
        return None, "anchor file is not one signed line"
    record, reason = _check_signed(key, data[:-1])
    if record is None:
        return None, f"anchor {reason}"
    if not (isinstance(record.get("seq"), int) and isinstance(record.get("hash"), str)):
        return None, "anchor lacks seq/hash"
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

    def __bool__(self) -> bool:
        return self.ok


class _Fail(Exception):
    def __init__(self, bad: BadRecord) -> None:
        super().__init__(str(bad))
        self.bad = bad


def _first_seq(path: Path) -> int:
    with path.open("rb") as fh:
        first = fh.readline()
    try:
        seq = json.loads(first).get("seq") if first.strip() else None
    except (ValueError, AttributeError, UnicodeDecodeError):
        seq = None
    if not isinstance(seq, int):
        raise _Fail(BadRecord(str(path), 1, None, "first record is unreadable (edited or torn)"))
    return seq


def _find_anchor(logs: list[Path]) -> Path | None:
    for log in reversed(logs):
        for base in (str(log), re.sub(r"\.\d+$", "", str(log))):
            candidate = anchor_path(base)
            if candidate.exists():
                return candidate
    return None


def verify(
    paths: Iterable[str | os.PathLike[str]],
    key: bytes | str | os.PathLike[str],
    *,
    anchor: str | os.PathLike[str] | None = None,
    partial: bool = False,
) -> VerifyResult:
    """Verify one chain spread over ``paths`` (rotated files in any order, ``*.anchor`` allowed).

    ``key``: the audit key bytes or its key file. ``anchor``: the sidecar; found
    next to the logs when omitted. ``partial``: the oldest files were pruned, so
    trust the first record's ``prev`` instead of requiring seq 0.
    """
    secret = coerce_key(key)
    given = [Path(p) for p in paths]
    logs = [p for p in given if not p.name.endswith(".anchor")]
    anchors = [p for p in given if p.name.endswith(".anchor")]
    anchor_file = Path(anchor) if anchor is not None else (anchors[0] if anchors else None)
    if anchor_file is None:
        anchor_file = _find_anchor(logs)
    files = tuple(str(p) for p in logs)
    state = _Verifier(secret, partial)
    try:
        anchor_rec = state.load_anchor(anchor_file)
        for log in sorted(logs, key=_first_seq):
            state.check_file(log)
        state.check_anchor(anchor_rec, anchor_file)
    except _Fail as fail:
        return VerifyResult(
            False,
            state.records,
            files,
            state.chain,
            state.last_seq,
            state.checkpoints,
            anchor_file is not None,
            fail.bad,
            tuple(state.warnings),
        )
    except OSError as exc:
        raise AuditError(f"cannot read audit log: {exc.filename}: {exc.strerror}") from exc
    return VerifyResult(
        True,
        state.records,
        files,
        state.chain,
        state.last_seq,
        state.checkpoints,
        anchor_file is not None,
        None,
        tuple(state.warnings),
    )


class _Verifier:
    def __init__(self, key: bytes, partial: bool) -> None:
        self.key = _Mac(key)
        self.partial = partial
        self.chain: str | None = None
        self.last_seq: int | None = None
        self.last_hash: str | None = None
        self.records = 0
        self.checkpoints = 0
        self.warnings: list[str] = []
        self.where = ("", 0)
        self.anchor_seq: int | None = None
        self.hash_at_anchor: str | None = None

    def fail(self, path: str, line: int, seq: int | None, reason: str) -> _Fail:
        return _Fail(BadRecord(path, line, seq, reason))

    def load_anchor(self, path: Path | None) -> dict[str, Any] | None:
        if path is None:
            self.warnings.append("no anchor file: a truncated tail cannot be detected")
            return None
        record, reason = read_anchor(path, self.key)
        if record is None:
            raise self.fail(str(path), 1, None, reason or "bad anchor")
        self.anchor_seq = int(record["seq"])
        return record

    def check_file(self, path: Path) -> None:
        name = str(path)
        data = path.read_bytes()
        lines = data.split(b"\n")
        if lines[-1]:
            raise self.fail(name, len(lines), None, "last line is incomplete (torn or truncated)")
        for number, line in enumerate(lines[:-1], start=1):
            self.check_line(name, number, line)
        self.where = (name, len(lines))

    def check_line(self, name: str, number: int, line: bytes) -> None:
        record, reason = _check_signed(self.key, line)
        seq = record.get("seq") if record is not None else None
        if record is None or not isinstance(seq, int):
            raise self.fail(name, number, _claimed_seq(line), reason or "record has no seq")
        chain, prev = record.get("chain"), record.get("prev")
        if self.chain is None:
            self.chain = str(chain)
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
        if record.get("action") == "audit.checkpoint":
            self.checkpoints += 1
        if seq == self.anchor_seq:
            self.hash_at_anchor = self.last_hash

    def check_anchor(self, anchor: dict[str, Any] | None, path: Path | None) -> None:
        if anchor is None or path is None:
            return
        name, line = self.where
        if self.chain is not None and anchor.get("chain") != self.chain:
            raise self.fail(str(path), 1, anchor["seq"], "anchor belongs to another chain")
        last = -1 if self.last_seq is None else self.last_seq
        if anchor["seq"] > last:
            raise self.fail(
                name or str(path),
                line,
                last + 1,
                f"log truncated: the anchor records seq {anchor['seq']}, the log ends at {last}",
            )
        if self.hash_at_anchor != anchor["hash"]:
            raise self.fail(str(path), 1, anchor["seq"], "anchor hash does not match the log")
        if anchor["seq"] < last:
            self.warnings.append(
                f"{last - anchor['seq']} record(s) after the anchor (writer still running or "
                "stopped before updating it)"
            )
