"""The hash chain: verify passes untouched logs and names the first bad record otherwise."""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sekret._sealing import encode_key
from sekret.audit.chain import (
    GENESIS,
    MAX_EPOCH,
    MAX_LINE,
    RESERVED,
    BadRecord,
    Chain,
    KeyState,
    VerifyResult,
    anchor_path,
    evolve_key,
    load_key,
    load_key_state,
    verify,
    write_key_state,
)
from sekret.audit.jsonfile import FileSink
from sekret.audit.sinks import StdoutSink
from sekret.exceptions import AuditError, ConfigurationError, InsecureKeyFile, InsecurePath

KEY = b"k" * 32


def event(i: int) -> dict[str, object]:
    return {
        "time": f"2026-01-01T00:00:{i % 60:02d}.000000Z",
        "action": "secret.read",
        "outcome": "success",
        "secret": f"arrwdb/production/s{i}",
        "version": str(i),
    }


def write_log(
    path: Path,
    count: int,
    *,
    max_bytes: int | None = None,
    checkpoint_every: int = 1000,
    batch: int = 1,
) -> FileSink:
    sink = FileSink(
        path, key=KEY, max_bytes=max_bytes, fsync="never", checkpoint_every=checkpoint_every
    )
    for start in range(0, count, batch):
        sink.emit([event(i) for i in range(start, min(count, start + batch))])
    sink.close()
    return sink


def logs(tmp: Path) -> list[Path]:
    return sorted(tmp.glob("audit.log*"))


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


@pytest.fixture
def log(tmp_path: Path) -> Path:
    path = tmp_path / "audit.log"
    write_log(path, 10)
    return path


# -- the chain's pieces, one property each (issue 21: these run first, they are fast) --
def spec_hmac(key: bytes, epoch: int, body: bytes) -> str:
    """The record HMAC as the module docstring specifies it, written out independently."""
    import hashlib
    import hmac

    for _ in range(epoch):
        key = hashlib.sha256(b"sekret/audit/v1/evolve\x00" + key).digest()
    mac_key = hashlib.sha256(b"sekret/audit/v1/mac\x00" + key).digest()
    return hmac.new(mac_key, body, "sha256").hexdigest()


def test_records_follow_the_documented_format() -> None:
    """Lines are compact JSON, chained by SHA-256 from 64 zeros, signed per the documented spec."""
    import hashlib

    chain = Chain(KEY, chain_id="c0ffee")
    first = chain.seal({"action": "a", "n": 1})
    at = first.rindex(b',"hmac":"')
    assert (
        first[:at]
        == b'{"action":"a","n":1,"chain":"c0ffee","seq":0,"epoch":0,"prev":"' + (b"0" * 64) + b'"'
    )
    assert first[at + 9 : -2].decode() == spec_hmac(KEY, 0, first[:at] + b"}")
    assert first.endswith(b'"}')
    assert GENESIS == "0" * 64
    checkpoint = chain.seal({"action": "audit.checkpoint"})
    third = chain.seal({})
    record = json.loads(third)
    assert record["prev"] == hashlib.sha256(checkpoint).hexdigest()
    assert (record["seq"], record["epoch"], chain.epoch) == (2, 1, 1)
    at = third.rindex(b',"hmac":"')
    assert third[:at].startswith(b'{"chain":"c0ffee","seq":2,')  # an empty event: no stray comma
    assert third[at + 9 : -2].decode() == spec_hmac(KEY, 1, third[:at] + b"}")


@pytest.mark.parametrize("name", sorted(RESERVED))
def test_an_event_cannot_forge_a_reserved_field(name: str) -> None:
    """An event's own chain/seq/epoch/prev/hmac is dropped: each appears once, ours, signed."""
    assert {"chain", "seq", "epoch", "prev", "hmac"} == RESERVED
    chain = Chain(KEY, chain_id="c0ffee")
    line = chain.seal({"action": "a", name: "forged"})
    assert line.count(f'"{name}"'.encode()) == 1
    assert b"forged" not in line
    record, reason = Chain(KEY).check_line(line)
    assert reason is None
    assert record is not None
    assert "hmac" not in record


def test_chain_ids_are_64_random_bits() -> None:
    """A new chain gets a fresh id of 16 hex digits; a given id is kept."""
    import re

    ids = {Chain(KEY).chain_id for _ in range(4)}
    assert len(ids) == 4
    assert all(re.fullmatch("[0-9a-f]{16}", i) for i in ids)
    assert Chain(KEY, chain_id="given").chain_id == "given"


def test_an_event_that_is_not_json_safe_is_an_audit_error() -> None:
    """A value JSON cannot hold (NaN) raises AuditError; the chain does not advance."""
    chain = Chain(KEY)
    with pytest.raises(AuditError, match="not JSON-safe"):
        chain.seal({"action": "a", "x": float("nan")})
    assert chain.seq == -1
    assert json.loads(chain.seal({"action": "a"}))["seq"] == 0


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (b"{not json", "not valid JSON"),
        (b'{"a":1}', "no hmac field"),
        (b"[1]", "no hmac field"),
        (b'{"a":1,"hmac":"00"', "not valid JSON"),
        (b'{"a":1,"hmac":"00","q":"w"}', "not the last field"),
        ('{"a":1,"hmac":"\u00e9"}'.encode(), "not the last field"),  # non-ASCII hmac bytes
        (b'{"seq":0,"epoch":true,"hmac":"00"}', "no seq/epoch"),
        (b'{"seq":true,"epoch":0,"hmac":"00"}', "no seq/epoch"),
        (b'{"epoch":0,"hmac":"00"}', "no seq/epoch"),
        (b'{"seq":0,"epoch":0,"hmac":"00"}', "HMAC mismatch"),
    ],
)
def test_check_line_names_what_is_wrong(line: bytes, why: str) -> None:
    """Unsigned, malformed, boolean-numbered or forged lines are refused with their reason."""
    record, reason = Chain(KEY).check_line(line)
    assert record is None
    assert reason is not None
    assert why in reason


def test_check_line_accepts_later_epochs_but_never_earlier_ones() -> None:
    """A chain checks lines of its epoch or later (deriving forward), never of an earlier epoch."""
    writer = Chain(KEY)
    old = writer.seal({"action": "audit.checkpoint"})
    newer = writer.seal({"action": "audit.checkpoint"})
    latest = writer.seal({"action": "a"})
    reader = Chain(KeyState(1, KeyState(0, KEY).at(1).key))
    assert reader.check_line(newer)[1] is None
    assert reader.check_line(latest)[1] is None
    record, reason = reader.check_line(old)
    assert record is None
    assert reason is not None
    assert "gone" in reason
    assert Chain(KEY).check_line(latest)[1] is None


def test_key_state_moves_forward_only() -> None:
    """at() derives forward one-way, keeps the evolving flag, and refuses to go back."""
    start = KeyState(3, KEY, evolving=True)
    assert start.at(3) == start
    two = start.at(5)
    assert (two.epoch, two.evolving) == (5, True)
    assert two.key == evolve_key(evolve_key(KEY))
    assert two.key != KEY
    with pytest.raises(AuditError, match="gone"):
        start.at(2)
    with pytest.raises(AuditError, match="implausibly far"):
        start.at(3 + MAX_EPOCH + 1)


def test_key_state_reaches_exactly_max_epoch_ahead(monkeypatch: pytest.MonkeyPatch) -> None:
    """MAX_EPOCH epochs ahead is still derived (the bound is inclusive); one more is refused."""
    from sekret.audit import chain as module

    assert MAX_EPOCH == 1 << 24
    monkeypatch.setattr(module, "evolve_key", lambda key: key)  # 16M derivations, kept cheap
    assert KeyState(1, KEY).at(1 + MAX_EPOCH).epoch == 1 + MAX_EPOCH


def test_macs_of_any_epoch_order_match_fresh_derivation() -> None:
    """The verifier's key cache gives each epoch's own MAC, forward, backward and repeated."""
    from sekret.audit.chain import _Keys

    keys = _Keys(KeyState(0, KEY))
    for epoch in (0, 2, 2, 1, 3, 0):
        assert keys.mac(epoch).hexdigest(b"x") == spec_hmac(KEY, epoch, b"x")


def test_mac_and_key_state_reprs_hide_the_key() -> None:
    """repr of a MAC or a key state is a plain string holding no key material."""
    from sekret.audit.chain import _Mac

    key = os.urandom(32)
    for shown in (repr(_Mac(key)), repr(KeyState(4, key)), repr(KeyState(4, key).mac())):
        assert isinstance(shown, str)
        assert key.hex() not in shown
        assert encode_key(key) not in shown
    assert "epoch=4" in repr(KeyState(4, key))


@pytest.mark.parametrize("size", [63, 64, 65])
def test_hmac_key_sizes_around_the_block_size(size: int) -> None:
    """Keys up to the 64-byte block are used as they are, longer ones hashed first (RFC 2104)."""
    import hmac

    from sekret.audit.chain import _Mac

    key = bytes(range(size))
    assert _Mac(key).hexdigest(b"body") == hmac.digest(key, b"body", "sha256").hex()


def test_evolve_hook_sees_each_new_epoch_and_rewind_restores_a_snapshot() -> None:
    """Each checkpoint calls on_evolve with the next epoch; rewind returns to a snapshot whole."""
    seen: list[int] = []
    chain = Chain(KEY, on_evolve=lambda state: seen.append(state.epoch))
    chain.seal({"action": "a"})
    snap = chain.snapshot()
    first = chain.seal({"action": "audit.checkpoint"})
    chain.seal({"action": "audit.checkpoint"})
    assert seen == [1, 2]
    chain.rewind(*snap)
    assert (chain.seq, chain.last_hash, chain.epoch) == (snap[0], snap[1], 0)
    assert chain.seal({"action": "audit.checkpoint"}) == first
    same = chain.snapshot()
    chain.rewind(*same)
    assert chain.seal({"action": "b"}) == Chain(
        KeyState(0, KEY).at(1), chain_id=chain.chain_id, seq=same[0], last_hash=same[1]
    ).seal({"action": "b"})


def test_signed_anchor_round_trip_and_refusals(tmp_path: Path) -> None:
    """An anchor a chain writes reads back; edited, unsigned or misshapen anchors are refused."""
    from sekret.audit.chain import parse_anchor, read_anchor, write_anchor

    chain = Chain(KEY)
    chain.seal({"action": "audit.checkpoint"})
    anchor = chain.anchor("2026-01-01T00:00:00Z")
    assert (anchor["action"], anchor["seq"], anchor["epoch"]) == ("audit.anchor", 0, 1)
    assert anchor["hash"] == chain.last_hash
    assert (anchor["chain"], anchor["time"]) == (chain.chain_id, "2026-01-01T00:00:00Z")
    path = anchor_path(tmp_path / "audit.log")
    assert path == tmp_path / "audit.log.anchor"
    write_anchor(path, anchor)
    assert stat_mode(path) == 0o600
    assert read_anchor(path, KeyState(0, KEY)) == (anchor, None)
    edited = dict(anchor, hash="0" * 64)
    write_anchor(path, edited)
    record, reason = read_anchor(path, KeyState(0, KEY))
    assert record is None
    assert reason is not None
    assert "HMAC mismatch" in reason
    for unsigned in ({**anchor, "epoch": -1}, {k: v for k, v in anchor.items() if k != "hmac"}):
        write_anchor(path, unsigned)
        assert read_anchor(path, KeyState(0, KEY))[0] is None
    write_anchor(path, {**anchor, "epoch": MAX_EPOCH + 5})
    assert "implausibly far" in str(read_anchor(path, KeyState(0, KEY))[1])
    good = json.dumps(anchor).encode()
    for data, why in [
        (good, "one signed line"),
        (good + b"\n" + good + b"\n", "one signed line"),
        (b"{x\n", "not valid JSON"),
        (b"[1]\n", "not a JSON object"),
        (b'{"seq":1}\n', "lacks seq/hash"),
        (b'{"seq":true,"hash":"h","epoch":0}\n', "lacks seq/hash"),
        (b'{"seq":1,"hash":2,"epoch":0}\n', "lacks seq/hash"),
        (b'{"seq":1,"hash":"h"}\n', "lacks its epoch"),
    ]:
        record, reason = parse_anchor(data)
        assert record is None
        assert reason is not None
        assert why in reason
    assert parse_anchor(good + b"\n") == (anchor, None)
    path.write_bytes(b"{x\n")
    record, reason = read_anchor(path, KeyState(0, KEY))
    assert record is None
    assert reason is not None
    assert "not valid JSON" in reason


def stat_mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_key_text_forms(tmp_path: Path) -> None:
    """Key files hold hex, urlsafe base64 or raw bytes (>= 16), or a writer's epoch state."""
    path = tmp_path / "k"
    cases = [
        (("ab" * 16).encode(), bytes.fromhex("ab" * 16)),
        (("AB" * 20).encode(), bytes.fromhex("AB" * 20)),
        (encode_key(bytes(range(32))).encode(), bytes(range(32))),
        (b"abc" * 7, b"abc" * 7),  # odd length: not hex, taken as raw bytes
        (b"k" * 16, b"k" * 16),
    ]
    for text, key in cases:
        path.unlink(missing_ok=True)
        write_private_bytes(path, text + b"\n")
        assert load_key(path) == key
        assert load_key_state(path) == KeyState(0, key)
        assert not load_key_state(path).evolving  # an initial key file is never rewritten
    write_key_state(path, KeyState(7, KEY, evolving=True), overwrite=True)
    assert load_key_state(path) == KeyState(7, KEY, evolving=True)
    with pytest.raises(ConfigurationError, match="epoch 7"):
        load_key(path)
    write_private_bytes(path, b"sekret-audit-key-state:1:x7:" + encode_key(KEY).encode())
    with pytest.raises(ConfigurationError, match="not a valid audit key state"):
        load_key_state(path)
    write_private_bytes(path, b"k" * 15)
    with pytest.raises(ConfigurationError, match="at least 16"):
        load_key_state(path)


@pytest.mark.parametrize(
    ("version", "shown"),
    [
        (b"2", "version 2"),
        (b"0", "version 0"),
        (b"10", "version 10"),
        (b"1" * 15, "version " + "1" * 15),
        (b"1" * 16, "an unknown version"),  # as long as a key: never shown
        (b"v1", "an unknown version"),
        (b"", "an unknown version"),
    ],
)
def test_a_key_state_file_of_another_version_is_refused(
    tmp_path: Path, version: bytes, shown: str
) -> None:
    """A key state file of a version other than 1 is refused (file, version), not read as a key."""
    path = tmp_path / "state.key"
    write_private_bytes(
        path, b"sekret-audit-key-state:" + version + b":7:" + encode_key(KEY).encode()
    )
    with pytest.raises(ConfigurationError) as info:
        load_key_state(path)
    message = str(info.value)
    assert repr(str(path)) in message
    assert f"audit key state file of {shown};" in message
    assert encode_key(KEY) not in message
    with pytest.raises(ConfigurationError, match=shown):
        load_key(path)


def test_only_the_state_prefix_with_its_colon_marks_a_state_file(tmp_path: Path) -> None:
    """A raw key that merely starts like the state prefix (no colon after it) is a raw key."""
    path = tmp_path / "raw.key"
    raw = b"sekret-audit-key-states-are-just-bytes"
    write_private_bytes(path, raw)
    assert load_key(path) == raw


def write_private_bytes(path: Path, data: bytes) -> None:
    from sekret._files import write_private

    write_private(path, data)


def test_key_bytes_shorter_than_16_are_refused() -> None:
    """An audit key given as bytes needs at least 16 of them; 16 is enough."""
    from sekret.audit.chain import coerce_key

    with pytest.raises(ConfigurationError, match="at least 16"):
        coerce_key(b"k" * 15)
    assert coerce_key(b"k" * 16) == KeyState(0, b"k" * 16)
    with pytest.raises(ConfigurationError, match="at least 16"):
        verify([], b"k" * 15)


def test_new_key_file_holds_32_random_bytes_and_is_never_replaced(tmp_path: Path) -> None:
    """write_key_file writes a fresh 32-byte key (or the one given) and refuses an existing file."""
    from sekret.audit.chain import write_key_file
    from sekret.exceptions import Conflict

    first = write_key_file(tmp_path / "a")
    second = write_key_file(tmp_path / "b")
    assert len(first) == 32
    assert first != second
    assert load_key(tmp_path / "a") == first
    assert write_key_file(tmp_path / "c", KEY) == KEY
    assert load_key(tmp_path / "c") == KEY
    with pytest.raises(Conflict):
        write_key_file(tmp_path / "a")
    assert load_key(tmp_path / "a") == first


def test_a_record_of_nearly_1_mib_verifies_and_one_over_is_refused(tmp_path: Path) -> None:
    """The record bound is 1 MiB: a record just under it verifies, a line just over it fails."""
    chain = Chain(KEY)
    big = chain.seal({"action": "a", "blob": "x" * ((1 << 20) - 500)})
    assert (1 << 20) - 500 < len(big) < 1 << 20
    path = tmp_path / "audit.log"
    path.write_bytes(big + b"\n")
    assert verify([path], KEY, allow_missing_anchor=True).ok
    over = chain.seal({"action": "a", "blob": "y" * (1 << 20)})  # validly signed, too long
    path.write_bytes(big + b"\n" + over + b"\n")
    bad = first_bad(path, allow_missing_anchor=True)
    assert (bad.line, bad.seq) == (2, None)
    assert "longer" in bad.reason


def test_an_anchor_holding_nan_fails_verify_without_a_traceback(tmp_path: Path) -> None:
    """An anchor (local or shipped) with NaN in it is a failed verify, not a raw ValueError."""
    chain = Chain(KEY)
    path = tmp_path / "audit.log"
    path.write_bytes(chain.seal({"action": "a"}) + b"\n")
    anchor = chain.anchor("2026-01-01T00:00:00Z")
    hostile = json.dumps({**anchor, "x": float("nan")}).encode() + b"\n"
    write_private_bytes(anchor_path(path), hostile)
    result = verify([path], KEY)
    assert not result.ok
    assert result.bad is not None
    assert "not signed" in result.bad.reason
    write_private_bytes(anchor_path(path), json.dumps(anchor).encode() + b"\n")
    assert verify([path], KEY).ok
    shipped = tmp_path / "anchors.jsonl"
    shipped.write_bytes(hostile)
    result = verify([path], KEY, anchors=shipped)
    assert not result.ok


def test_anchor_signature_survives_key_reordering_not_odd_text(tmp_path: Path) -> None:
    """Anchors are signed in canonical JSON: reordered keys verify; non-ASCII fails cleanly."""
    chain = Chain(KEY)
    path = tmp_path / "audit.log"
    path.write_bytes(chain.seal({"action": "a"}) + b"\n")
    anchor = chain.anchor("2026-01-01T00:00:00Z")
    reordered = dict(reversed(list(anchor.items())))  # as a log shipper may rewrite it
    write_private_bytes(anchor_path(path), json.dumps(reordered).encode() + b"\n")
    assert verify([path], KEY).ok
    odd = json.dumps({**anchor, "note": "\u00e9\u2603"}, ensure_ascii=False).encode() + b"\n"
    write_private_bytes(anchor_path(path), odd)
    result = verify([path], KEY)
    assert not result.ok
    assert result.bad is not None
    assert "HMAC mismatch" in result.bad.reason


def test_non_ascii_event_text_is_sealed_as_ascii_json() -> None:
    """Event text outside ASCII is escaped: the line is ASCII and the text reads back."""
    chain = Chain(KEY)
    line = chain.seal({"action": "a", "who": "J\u00fcrgen \u2603"})
    assert line.isascii()
    record, reason = Chain(KEY).check_line(line)
    assert reason is None
    assert record is not None
    assert record["who"] == "J\u00fcrgen \u2603"


def first_bad(path: Path, **options: Any) -> BadRecord:
    """The first bad record verify reports for the log at ``path`` (it must fail)."""
    result = verify([path], KEY, **options)
    assert result.bad is not None
    assert not result.ok
    return result.bad


def chain_log(
    path: Path, count: int, *, checkpoints: tuple[int, ...] = (), anchor_at: int | None = None
) -> Chain:
    """A log of ``count`` records sealed by a bare Chain; checkpoints at the given seqs."""
    chain = Chain(KEY, chain_id="c0ffee")
    out = []
    for seq in range(count):
        action = "audit.checkpoint" if seq in checkpoints else "secret.read"
        out.append(chain.seal({"action": action}) + b"\n")
        if seq == anchor_at:
            write_private_bytes(anchor_path(path), json.dumps(chain.anchor("t")).encode() + b"\n")
    path.write_bytes(b"".join(out))
    return chain


def test_verify_result_reports_the_whole_chain(tmp_path: Path) -> None:
    """A verified log reports records, files, chain id, last seq, checkpoints and its anchor."""
    path = tmp_path / "audit.log"
    chain_log(path, 6, checkpoints=(1, 3), anchor_at=5)
    result = verify([path], KEY)
    assert result
    assert result.ok
    assert (result.records, result.files, result.chain) == (6, (str(path),), "c0ffee")
    assert (result.last_seq, result.checkpoints, result.anchored) == (5, 2, True)
    assert (result.bad, result.warnings, result.external_anchors) == (None, (), 0)


def test_verify_results_are_immutable_values(tmp_path: Path) -> None:
    """A verify result and its bad record cannot be altered after the fact."""
    import dataclasses

    path = tmp_path / "audit.log"
    chain_log(path, 2)
    result = verify([path], KEY)
    assert result.bad is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.ok = True  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.bad.reason = "fine"  # type: ignore[misc]
    assert hash(result.bad) == hash(dataclasses.replace(result.bad))


def test_records_after_the_anchor_are_a_warning_not_a_failure(tmp_path: Path) -> None:
    """An anchor behind the log's end (writer still running) verifies with a counted warning."""
    path = tmp_path / "audit.log"
    chain_log(path, 6, anchor_at=3)
    result = verify([path], KEY)
    assert result.ok
    assert len(result.warnings) == 1
    assert result.warnings[0].startswith("2 record(s) after the anchor")


def test_an_anchor_ahead_of_the_log_is_a_cut_tail(tmp_path: Path) -> None:
    """An anchor naming a seq past the log's end fails at the line after the last record."""
    path = tmp_path / "audit.log"
    chain_log(path, 6, anchor_at=5)
    path.write_bytes(b"".join(lines(path)[:4]))
    bad = first_bad(path)
    assert (bad.path, bad.line, bad.seq) == (str(path), 5, 4)
    assert "truncated" in bad.reason


def test_an_anchor_given_explicitly_or_among_the_paths_is_used(tmp_path: Path) -> None:
    """anchor= or an .anchor file among the paths is the anchor checked (not a guess)."""
    path = tmp_path / "audit.log"
    chain_log(path, 4, anchor_at=3)
    moved = tmp_path / "kept-elsewhere.anchor"
    anchor_path(path).rename(moved)
    assert not verify([path], KEY).ok  # none beside the log
    assert verify([path], KEY, anchor=moved).anchored
    assert verify([moved, path], KEY).ok
    assert verify([moved, path], KEY).files == (str(path),)


def test_verify_needs_the_initial_key_not_the_writer_state(tmp_path: Path) -> None:
    """A writer key state at epoch > 0 is refused as the verify key, before reading the log."""
    path = tmp_path / "audit.log"
    chain_log(path, 2)
    state = tmp_path / "writer.key"
    write_key_state(state, KeyState(0, KEY).at(2), overwrite=False)
    with pytest.raises(ConfigurationError, match="epoch 2"):
        verify([path], state)
    start = tmp_path / "start.key"
    write_key_state(start, KeyState(0, KEY), overwrite=False)
    assert verify([path], start, allow_missing_anchor=True).ok


def test_an_unreadable_log_is_an_audit_error(tmp_path: Path) -> None:
    """A log path that cannot be read raises AuditError naming it, not a bare OSError."""
    with pytest.raises(AuditError, match=r"missing\.log"):
        verify([tmp_path / "missing.log"], KEY)


def test_an_emptied_log_fails_verify(tmp_path: Path) -> None:
    """A log emptied of its records fails at line 1 (its head is gone), anchor or not."""
    path = tmp_path / "audit.log"
    chain_log(path, 3, anchor_at=2)
    path.write_bytes(b"")
    for options in ({}, {"allow_missing_anchor": True}):
        bad = verify([path], KEY, **options).bad  # type: ignore[arg-type]
        assert bad is not None
        assert (bad.path, bad.line, bad.seq) == (str(path), 1, None)
        assert str(bad) == f"{path}:1: seq ?: {bad.reason}"


def test_partial_trusts_the_first_record_but_bounds_its_epoch(tmp_path: Path) -> None:
    """partial: a log starting at seq 3, epoch 1 verifies; an implausible first epoch fails."""
    path = tmp_path / "audit.log"
    chain_log(path, 6, checkpoints=(1,), anchor_at=5)
    path.write_bytes(b"".join(lines(path)[3:]))
    bad = first_bad(path)
    assert (bad.line, bad.seq) == (1, 3)
    result = verify([path], KEY, partial=True)
    assert result.ok
    assert (result.records, result.last_seq) == (3, 5)
    anchor_path(path).unlink()
    far = Chain(KeyState(0, KEY).at(3), seq=9)
    path.write_bytes(far.seal({"action": "a"}) + b"\n")
    assert verify([path], KEY, partial=True, allow_missing_anchor=True).ok
    forged = json.loads(far.seal({"action": "a"}))
    forged["epoch"] = MAX_EPOCH + 1
    path.write_bytes(json.dumps(forged, separators=(",", ":")).encode() + b"\n")
    bad = first_bad(path, partial=True, allow_missing_anchor=True)
    assert "implausible epoch" in bad.reason


def test_a_record_signed_with_the_wrong_epoch_key_is_refused(tmp_path: Path) -> None:
    """After a checkpoint the next record must carry the next epoch (and its key)."""
    path = tmp_path / "audit.log"
    chain = Chain(KEY)
    first = chain.seal({"action": "audit.checkpoint"})
    stale = Chain(KEY, chain_id=chain.chain_id, seq=chain.seq, last_hash=chain.last_hash)
    path.write_bytes(first + b"\n" + stale.seal({"action": "a"}) + b"\n")
    bad = first_bad(path, allow_missing_anchor=True)
    assert (bad.line, bad.seq) == (2, 1)
    assert "epoch 0 where the chain is at epoch 1" in bad.reason


def test_untouched_log_verifies(log: Path) -> None:
    """A log written by the chained file sink verifies, anchor included."""
    result = verify([log], KEY)
    assert result.ok, result.bad
    assert (result.records, result.last_seq, result.anchored) == (10, 9, True)
    first = json.loads(lines(log)[0])
    assert (first["seq"], first["prev"]) == (0, GENESIS)


def test_rotated_logs_verify_as_one_chain_in_any_order(tmp_path: Path) -> None:
    """Rotated files plus the live one, given in any order, verify as one chain."""
    write_log(tmp_path / "audit.log", 50, max_bytes=2000, checkpoint_every=7, batch=3)
    files = logs(tmp_path)
    assert len([f for f in files if not f.name.endswith(".anchor")]) > 3
    result = verify(list(reversed(files)), KEY)
    assert result.ok, result.bad
    assert result.checkpoints >= 7
    assert result.records == 50 + result.checkpoints


def test_chain_continues_after_reopen(tmp_path: Path) -> None:
    """A new FileSink on an existing log continues its chain."""
    path = tmp_path / "audit.log"
    write_log(path, 3)
    write_log(path, 3)
    result = verify([path], KEY)
    assert result.ok
    assert result.records == 6


def test_edited_byte_is_reported_with_file_and_line(log: Path) -> None:
    """Changing one character of a record names that file:line."""
    data = lines(log)
    data[4] = data[4].replace(b"s4", b"s5")
    log.write_bytes(b"".join(data))
    bad = verify([log], KEY).bad
    assert bad is not None
    assert (bad.path, bad.line, bad.seq) == (str(log), 5, 4)
    assert "HMAC" in bad.reason
    assert str(bad) == f"{log}:5: seq 4: {bad.reason}"


def test_deleted_record_is_reported(log: Path) -> None:
    """Removing a record from the middle breaks the sequence at the next one."""
    data = lines(log)
    del data[3]
    log.write_bytes(b"".join(data))
    bad = verify([log], KEY).bad
    assert bad is not None
    assert bad.line == 4
    assert bad.seq == 4
    assert "expected seq 3" in bad.reason


def test_reordered_records_are_reported(log: Path) -> None:
    """Swapping two records is caught at the first one out of place."""
    data = lines(log)
    data[2], data[3] = data[3], data[2]
    log.write_bytes(b"".join(data))
    bad = verify([log], KEY).bad
    assert bad is not None
    assert bad.line == 3
    assert "expected seq 2" in bad.reason


def test_record_from_another_chain_is_reported(tmp_path: Path, log: Path) -> None:
    """A validly signed record from another log spliced in is named as foreign."""
    other = tmp_path / "other" / "audit.log"
    other.parent.mkdir()
    write_log(other, 10)
    data = lines(log)
    data[6] = lines(other)[6]
    log.write_bytes(b"".join(data))
    bad = verify([log], KEY).bad
    assert bad is not None
    assert bad.line == 7
    assert "another chain" in bad.reason


def test_truncated_tail_is_reported_through_the_anchor(log: Path) -> None:
    """Cutting the last records is caught: the anchor remembers the last seq."""
    data = lines(log)
    log.write_bytes(b"".join(data[:-2]))
    bad = verify([log], KEY).bad
    assert bad is not None
    assert "truncated" in bad.reason
    assert bad.seq == 8


def test_deleted_rotated_file_is_reported(tmp_path: Path) -> None:
    """A missing middle file shows as missing records; a missing first file as a cut head."""
    write_log(tmp_path / "audit.log", 40, max_bytes=1500, batch=4)
    files = [*sorted(tmp_path.glob("audit.log.0*")), tmp_path / "audit.log"]
    middle = files[1]
    assert not verify([f for f in files if f != middle], KEY).ok
    rest = [f for f in files if f != files[0]]
    bad = verify(rest, KEY).bad
    assert bad is not None
    assert "seq 0" in bad.reason
    assert verify(rest, KEY, partial=True).ok


def test_log_without_anchor_fails_unless_allowed(log: Path) -> None:
    """A missing anchor fails verify; allow_missing_anchor turns it into a warning."""
    os.remove(str(log) + ".anchor")
    bad = verify([log], KEY).bad
    assert bad is not None
    assert "no anchor file" in bad.reason
    result = verify([log], KEY, allow_missing_anchor=True)
    assert result.ok
    assert not result.anchored
    assert "no anchor file" in result.warnings[0]


def test_wrong_key_fails(log: Path) -> None:
    """A log checked with another key fails at its first record."""
    bad = verify([log], b"x" * 32).bad
    assert bad is not None
    assert "HMAC" in bad.reason


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_any_single_byte_change_is_detected(tmp_path: Path, data: st.DataObject) -> None:
    """Property: changing any one byte of any file (rotated logs or anchor) fails verify."""
    # A fresh directory per example, not drawn: a replayed example must not find it taken.
    root = Path(tempfile.mkdtemp(dir=tmp_path))
    try:
        write_log(root / "audit.log", 12, max_bytes=1800, checkpoint_every=5, batch=2)
        files = logs(root)
        assert verify(files, KEY).ok
        # Draws do not depend on the files' sizes (timestamps vary them between replays).
        target = files[data.draw(st.integers(0, 10**6)) % len(files)]
        blob = bytearray(target.read_bytes())
        index = data.draw(st.integers(0, 10**9)) % len(blob)
        blob[index] ^= data.draw(st.integers(1, 255))
        target.write_bytes(bytes(blob))
        assert not verify(files, KEY).ok
    finally:
        shutil.rmtree(root)


def test_key_file_must_be_private(tmp_path: Path) -> None:
    """A key file readable by others is refused; a short key is refused."""
    path = tmp_path / "k"
    path.write_text("ab" * 32)
    path.chmod(0o644)
    with pytest.raises(InsecureKeyFile, match="chmod 600"):
        load_key(path)
    path.chmod(0o600)
    assert load_key(path) == bytes.fromhex("ab" * 32)
    path.write_text("short")
    with pytest.raises(ConfigurationError, match="at least 16"):
        load_key(path)


def test_key_file_writer_creates_0600(key_file: Path) -> None:
    """write_key_file creates a 0600 file holding a 256-bit key."""
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert len(load_key(key_file)) == 32


@given(key=st.binary(min_size=16, max_size=200), body=st.binary(max_size=600))
def test_prepared_hmac_equals_the_standard_library(key: bytes, body: bytes) -> None:
    """The precomputed-state HMAC gives exactly hmac.digest(key, body, sha256)."""
    import hmac

    from sekret.audit.chain import _Mac

    assert _Mac(key).hexdigest(body) == hmac.digest(key, body, "sha256").hex()


# -- the tamperings of issue 13 §2 (docs/audit.md has the table) ---------------------
def chained(path: Path, key: bytes | Path = KEY, **options: Any) -> FileSink:
    options.setdefault("fsync", "never")
    return FileSink(path, key=key, **options)


def write(sink: FileSink, start: int, count: int) -> None:
    for i in range(start, start + count):
        sink.emit([event(i)])


def gaps(path: Path) -> list[dict[str, Any]]:
    records = [json.loads(line) for line in lines(path)]
    return [r for r in records if r.get("action") == "audit.gap"]


def test_cut_and_restart_writes_a_gap_and_fails_verify(log: Path) -> None:
    """Cut the tail, restart the writer: a signed gap names the range, verify fails."""
    log.write_bytes(b"".join(lines(log)[:-3]))
    sink = chained(log)
    write(sink, 100, 2)
    sink.close()
    (gap,) = gaps(log)
    assert (gap["missing_from"], gap["missing_to"], gap["kind"]) == (7, 9, "cut")
    bad = verify([log], KEY).bad
    assert bad is not None
    assert "gap" in bad.reason
    assert "seq 7..9" in bad.reason


def test_cut_and_restart_raises_when_fail_closed(log: Path) -> None:
    """A fail-closed writer records the gap, then refuses to start."""
    log.write_bytes(b"".join(lines(log)[:-3]))
    with pytest.raises(AuditError, match=r"audit\.gap"):
        chained(log, fail_closed=True)
    assert len(gaps(log)) == 1


def test_cut_and_anchor_deleted_fails_verify(log: Path) -> None:
    """Cut the tail and delete the anchor: verify fails (no anchor), before and after a restart."""
    log.write_bytes(b"".join(lines(log)[:-3]))
    os.remove(str(log) + ".anchor")
    assert "no anchor file" in str(verify([log], KEY).bad)
    sink = chained(log)
    write(sink, 100, 1)
    sink.close()
    assert gaps(log)[0]["kind"] == "anchor_missing"
    assert "anchor file is missing" in str(verify([log], KEY).bad)


def test_older_anchor_put_back_fails_verify(tmp_path: Path) -> None:
    """An older anchor copied back over a longer log is older than its checkpoints: fails."""
    path = tmp_path / "audit.log"
    sink = chained(path, checkpoint_every=4)
    write(sink, 0, 2)
    old = anchor_path(path).read_bytes()
    write(sink, 2, 8)
    sink.close()
    anchor_path(path).write_bytes(old)
    bad = first_bad(path)
    assert "older anchor was put back" in bad.reason
    restarted = chained(path, checkpoint_every=4)
    restarted.close()
    assert gaps(path)[0]["kind"] == "stale_anchor"


def shipping(tmp_path: Path) -> tuple[Path, io.StringIO, FileSink]:
    """A chained log whose anchors are shipped to a stream (as a log shipper would keep them)."""
    path, shipped = tmp_path / "audit.log", io.StringIO()
    return path, shipped, chained(path, anchor_sink=StdoutSink(shipped))


def kept(tmp_path: Path, shipped: io.StringIO) -> Path:
    """The shipped anchors as the file an auditor passes to --anchors."""
    external = tmp_path / "anchors.jsonl"
    external.write_text(shipped.getvalue())
    return external


def test_replayed_copy_of_log_and_anchor_is_caught_by_external_anchors(tmp_path: Path) -> None:
    """An older copy of log + anchor put back verifies locally, but not against shipped anchors."""
    path, shipped, sink = shipping(tmp_path)
    write(sink, 0, 3)
    copy = (path.read_bytes(), anchor_path(path).read_bytes())
    write(sink, 3, 3)
    sink.close()
    external = kept(tmp_path, shipped)
    assert verify([path], KEY, anchors=external).external_anchors == 7
    path.write_bytes(copy[0])
    anchor_path(path).write_bytes(copy[1])
    assert verify([path], KEY).ok  # the local anchor cannot tell
    bad = first_bad(path, anchors=external)
    assert "an older copy put back" in bad.reason


def test_fresh_start_is_caught_by_external_anchors(tmp_path: Path) -> None:
    """Deleting log and anchor and starting afresh verifies locally, not against shipped anchors."""
    path, shipped, sink = shipping(tmp_path)
    write(sink, 0, 3)
    sink.close()
    path.unlink()
    anchor_path(path).unlink()
    write_log(path, 2)
    assert verify([path], KEY).ok
    bad = verify([path], KEY, anchors=kept(tmp_path, shipped)).bad
    assert bad is not None
    assert "replaced or started afresh" in bad.reason


def test_forged_external_anchor_is_refused(tmp_path: Path) -> None:
    """An external anchor whose hash was edited (its HMAC no longer matches) fails verify."""
    path, shipped, sink = shipping(tmp_path)
    write(sink, 0, 2)
    sink.close()
    external = tmp_path / "anchors.jsonl"
    records = [json.loads(x) for x in shipped.getvalue().splitlines()]
    records[-1]["seq"] = 5
    external.write_text("\n".join(json.dumps(r) for r in records) + "\n")
    assert "HMAC mismatch" in str(verify([path], KEY, anchors=external).bad)


def writer_key(tmp_path: Path) -> tuple[bytes, Path]:
    """The initial key (kept offline) and the writer's evolving key state file."""
    initial = os.urandom(32)
    state = tmp_path / "writer.key"
    write_key_state(state, KeyState(0, initial, evolving=True), overwrite=False)
    return initial, state


def test_writer_key_evolves_and_forgets_the_old_one(tmp_path: Path) -> None:
    """Each checkpoint moves the writer key file to the next epoch; verify takes the initial key."""
    initial, state = writer_key(tmp_path)
    path = tmp_path / "audit.log"
    sink = chained(path, state, checkpoint_every=3)
    write(sink, 0, 7)
    sink.close()
    held = load_key_state(state)
    assert held.epoch == 3
    assert held.key == KeyState(0, initial).at(3).key
    assert initial.hex() not in state.read_text()
    assert verify([path], initial).ok
    with pytest.raises(ConfigurationError, match="initial key"):
        verify([path], state)


def test_current_key_cannot_rewrite_earlier_epochs(tmp_path: Path) -> None:
    """An attacker holding the writer's current key cannot re-sign history from earlier epochs."""
    initial, state = writer_key(tmp_path)
    path = tmp_path / "audit.log"
    sink = chained(path, state, checkpoint_every=3)
    write(sink, 0, 7)
    sink.close()
    stolen = load_key_state(state)
    records = [json.loads(x) for x in lines(path)]
    records[1]["secret"] = "arrwdb/production/innocent"
    for keep_epochs in (True, False):
        forged = Chain(stolen, chain_id=records[0]["chain"])
        out = []
        for record in records:
            body = {k: v for k, v in record.items() if k not in RESERVED}
            epoch = record["epoch"] if keep_epochs else stolen.epoch
            forged._state = stolen.at(max(epoch, stolen.epoch))  # the best the attacker can do
            forged._mac = forged._state.mac()
            out.append(forged.seal(body) + b"\n")
        path.write_bytes(b"".join(out))
        anchor_path(path).unlink(missing_ok=True)
        bad = verify([path], initial, allow_missing_anchor=True).bad
        assert bad is not None
        assert bad.seq == 0


def test_fresh_start_with_an_evolved_writer_key_is_recorded(tmp_path: Path) -> None:
    """Log and anchor deleted, writer restarted: the new log opens with a gap, verify fails."""
    initial, state = writer_key(tmp_path)
    path = tmp_path / "audit.log"
    sink = chained(path, state, checkpoint_every=3)
    write(sink, 0, 4)
    sink.close()
    path.unlink()
    anchor_path(path).unlink()
    again = chained(path, state, checkpoint_every=3)
    write(again, 10, 1)
    again.close()
    assert gaps(path)[0]["kind"] == "vanished"
    assert not verify([path], initial).ok


def test_cut_back_past_an_epoch_is_recorded(tmp_path: Path) -> None:
    """A cut to before the last checkpoint is caught by the key epoch even without an anchor."""
    _, state = writer_key(tmp_path)
    path = tmp_path / "audit.log"
    sink = chained(path, state, checkpoint_every=3)
    write(sink, 0, 7)
    sink.close()
    path.write_bytes(b"".join(lines(path)[:2]))
    anchor_path(path).unlink()
    again = chained(path, state)
    again.close()
    (gap,) = gaps(path)
    assert gap["kind"] == "cut"


def test_time_based_epochs(tmp_path: Path) -> None:
    """With epoch_seconds, a batch after the period opens a new epoch with a checkpoint."""
    now = [0.0]
    path = tmp_path / "audit.log"
    sink = chained(path, epoch_seconds=60.0, monotonic=lambda: now[0])
    write(sink, 0, 2)
    now[0] = 61.0
    write(sink, 2, 1)
    sink.close()
    epochs = [json.loads(x)["epoch"] for x in lines(path)]
    assert epochs == [0, 0, 0, 1]
    assert verify([path], KEY).checkpoints == 1


def test_symlink_at_log_or_anchor_is_refused(tmp_path: Path) -> None:
    """A symlink planted at the log or the anchor path is never followed."""
    victim = tmp_path / "victim"
    victim.write_text("untouched")
    path = tmp_path / "audit.log"
    path.symlink_to(victim)
    with pytest.raises(InsecurePath, match="symbolic link"):
        chained(path)
    path.unlink()
    write_log(path, 2)
    anchor_path(path).unlink()
    anchor_path(path).symlink_to(victim)
    with pytest.raises(InsecurePath, match="symbolic link"):
        chained(path)
    assert victim.read_text() == "untouched"


def test_group_writable_folder_is_refused(tmp_path: Path) -> None:
    """A log in a folder others can write to (no sticky bit) is refused."""
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o775)
    with pytest.raises(InsecurePath, match="writable by group or others"):
        chained(folder / "audit.log")


def test_verify_memory_is_bounded_by_a_record(tmp_path: Path) -> None:
    """Verify streams: its peak allocation stays far below the size of the log it checks."""
    path = tmp_path / "audit.log"
    sink = chained(path, checkpoint_every=5000)
    batch = [dict(event(i), padding="x" * 300) for i in range(500)]
    for _ in range(40):  # 20,000 records, about 9 MB
        sink.emit(batch)
    sink.close()
    size = path.stat().st_size
    assert size > 8_000_000
    tracemalloc.start()
    try:
        result = verify([path], KEY)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok, result.bad
    assert result.records == 20_004
    assert peak < 256 * 1024, f"peak {peak} bytes for a {size}-byte log"


def test_overlong_record_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    """A line longer than MAX_LINE fails as such (verify never holds more than one record)."""
    path = tmp_path / "audit.log"
    write_log(path, 2)
    with path.open("ab") as fh:
        fh.write(b"x" * (MAX_LINE + 10) + b"\n")
    bad = first_bad(path)
    assert "longer than 1 MiB" in bad.reason


def test_keys_never_appear_in_reprs_or_errors(tmp_path: Path) -> None:
    """Key states, chains and sinks show epochs and ids, never key material; errors neither."""
    initial, state_file = writer_key(tmp_path)
    texts = {initial.hex(), encode_key(initial), str(initial)}
    path = tmp_path / "audit.log"
    sink = chained(path, state_file, checkpoint_every=2)
    write(sink, 0, 3)
    held = load_key_state(state_file)
    texts |= {held.key.hex(), encode_key(held.key)}
    shown = [repr(held), repr(KeyState(0, initial)), repr(sink), repr(sink.chain)]
    with pytest.raises(ConfigurationError) as refused:
        load_key(state_file)
    shown.append(str(refused.value))
    sink.close()
    shown.append(path.read_text() + anchor_path(path).read_text())
    assert not [t for t in texts for s in shown if t in s]


def test_key_file_moves_only_after_the_checkpoint_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the batch that closes an epoch fails to write, the key file keeps the old epoch."""
    initial, state = writer_key(tmp_path)
    path = tmp_path / "audit.log"
    sink = chained(path, state, checkpoint_every=2)
    write(sink, 0, 1)
    real = os.write

    def full(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(AuditError, match="No space left"):
        write(sink, 1, 1)
    monkeypatch.setattr(os, "write", real)
    assert load_key_state(state).epoch == 0
    write(sink, 1, 1)
    assert load_key_state(state).epoch == 1
    sink.close()
    assert verify([path], initial).ok


def test_audit_key_file_size_limit_is_4096_bytes(tmp_path: Path) -> None:
    """An audit key file (key plus padding) of 4096 bytes is read; 4097 is refused."""
    path = tmp_path / "k"
    text = encode_key(KEY).encode()
    write_private_bytes(path, text + b"\n" * (4096 - len(text)))
    assert load_key(path) == KEY
    write_private_bytes(path, text + b"\n" * (4097 - len(text)))
    with pytest.raises(ConfigurationError, match="larger than 4096"):
        load_key(path)


def test_a_torn_last_line_is_reported_at_its_line(tmp_path: Path) -> None:
    """A last record without its newline (a torn write) fails at that line, with no seq."""
    path = tmp_path / "audit.log"
    chain_log(path, 3)
    path.write_bytes(path.read_bytes()[:-1])
    bad = first_bad(path, allow_missing_anchor=True)
    assert (bad.line, bad.seq) == (3, None)
    assert "incomplete" in bad.reason


def test_the_anchor_of_rotated_files_is_found_by_the_live_name(tmp_path: Path) -> None:
    """Given only rotated files (audit.log.3), the anchor beside the live log is the one used."""
    from sekret.audit.chain import _find_anchor

    live = tmp_path / "audit.log"
    write_private_bytes(anchor_path(live), b"{}\n")
    assert _find_anchor([tmp_path / "audit.log.3"]) == anchor_path(live)
    other = tmp_path / "other.log"
    write_private_bytes(anchor_path(other), b"{}\n")
    assert _find_anchor([live, other]) == anchor_path(other)  # the last log's anchor
    assert _find_anchor([tmp_path / "none.log"]) is None


def test_shipped_anchors_are_found_behind_any_prefix(tmp_path: Path) -> None:
    """Anchor objects are read after any line prefix; other lines and look-alikes are skipped."""
    from sekret.audit.chain import read_external_anchors

    anchor = {"action": "audit.anchor", "seq": 3, "hash": "h"}
    shipped = tmp_path / "shipped.log"
    shipped.write_text(
        "\n".join(
            [
                "Nov 30 06:00:00 host sekret: " + json.dumps(anchor),
                '{"action":"audit.anchor" torn',  # right after an anchor: not read as it again
                json.dumps({"action": "secret.read", "note": "audit.anchor"}),
                'no brace but "audit.anchor"',
                json.dumps({"note": '"audit.anchor"', "action": "x"}),
                json.dumps({**anchor, "seq": 4}),
            ]
        )
        + "\n"
    )
    assert list(read_external_anchors(shipped)) == [(1, anchor), (6, {**anchor, "seq": 4})]


def test_a_replayed_record_is_out_of_order(tmp_path: Path) -> None:
    """A record repeated later in the log fails there as out of order (seq goes back)."""
    path = tmp_path / "audit.log"
    chain_log(path, 3)
    data = lines(path)
    path.write_bytes(b"".join([data[0], data[1], data[1], data[2]]))
    bad = first_bad(path, allow_missing_anchor=True)
    assert (bad.line, bad.seq) == (3, 1)
    assert "out of order" in bad.reason


def test_a_re_signed_record_with_another_prev_breaks_the_chain(tmp_path: Path) -> None:
    """A validly signed record whose prev is not the previous line's hash is refused."""
    path = tmp_path / "audit.log"
    chain = chain_log(path, 2)
    forged = Chain(KEY, chain_id="c0ffee", seq=chain.seq, last_hash="f" * 64)
    path.write_bytes(path.read_bytes() + forged.seal({"action": "a"}) + b"\n")
    bad = first_bad(path, allow_missing_anchor=True)
    assert (bad.line, bad.seq) == (3, 2)
    assert "prev" in bad.reason


def test_an_anchor_signed_for_another_hash_fails(tmp_path: Path) -> None:
    """A signed anchor whose hash is not the log's record at that seq fails verify."""
    path = tmp_path / "audit.log"
    chain = chain_log(path, 3)
    chain.last_hash = "0" * 64
    write_private_bytes(anchor_path(path), json.dumps(chain.anchor("t")).encode() + b"\n")
    bad = first_bad(path)
    assert (bad.path, bad.line, bad.seq) == (str(anchor_path(path)), 1, 2)


def test_a_recorded_missing_anchor_can_be_allowed_other_gaps_cannot(tmp_path: Path) -> None:
    """An anchor_missing gap is a warning with allow_missing_anchor; any other gap fails."""
    path = tmp_path / "audit.log"
    chain = Chain(KEY)
    gap = {"action": "audit.gap", "kind": "anchor_missing", "missing_from": 0}
    path.write_bytes(chain.seal(gap) + b"\n" + chain.seal({"action": "a"}) + b"\n")
    assert not verify([path], KEY).ok
    result = verify([path], KEY, allow_missing_anchor=True)
    assert result.ok
    assert any("seq 0..?" in w for w in result.warnings)
    other = Chain(KEY)
    path.write_bytes(other.seal({**gap, "kind": "truncated", "missing_to": 5}) + b"\n")
    bad = first_bad(path, allow_missing_anchor=True)
    assert "seq 0..5" in bad.reason


def test_external_anchor_refusals(tmp_path: Path) -> None:
    """Shipped anchors: none, one without seq/hash, one past the log, or a differing hash fail."""
    path = tmp_path / "audit.log"
    chain = chain_log(path, 3, anchor_at=2)
    shipped = tmp_path / "anchors.jsonl"
    good = chain.anchor("t")

    def check(*records: dict[str, object]) -> VerifyResult:
        shipped.write_text("".join(json.dumps(r) + "\n" for r in records))
        return verify([path], KEY, anchors=shipped)

    assert check(good).ok
    assert check(good).external_anchors == 1
    assert not check().ok
    assert not check({"action": "audit.anchor", "seq": 1}).ok
    ahead = Chain(KEY, chain_id="c0ffee", seq=5, last_hash=chain.last_hash).anchor("t")
    assert not check(ahead).ok
    wrong = Chain(KEY, chain_id="c0ffee", seq=2, last_hash="0" * 64).anchor("t")
    assert not check(wrong).ok
    foreign = Chain(KEY, chain_id="another", seq=9, last_hash="0" * 64).anchor("t")
    assert check(foreign, good).ok  # only the last chain's anchors count
    assert not check(good, foreign).ok  # the log must be the last chain shipped
    anchor_path(path).unlink()  # now only the shipped anchors vouch for the log
    shipped.write_text(json.dumps(foreign) + "\n" + json.dumps(good) + "\n")
    assert verify([path], KEY, anchors=shipped, allow_missing_anchor=True).external_anchors == 1


def test_verify_without_records_fails_cleanly(tmp_path: Path) -> None:
    """Only an anchor, or shipped anchors without a chain id, and no log: a failure, no crash."""
    path = tmp_path / "audit.log"
    chain = chain_log(path, 2, anchor_at=1)
    anchor = anchor_path(path)
    result = verify([anchor], KEY)
    assert result.bad is not None
    assert (result.bad.path, result.bad.line, result.bad.seq) == (str(anchor), 0, 0)
    shipped = tmp_path / "anchors.jsonl"
    shipped.write_text(json.dumps({"action": "audit.anchor", "seq": 0, "hash": "h"}) + "\n")
    assert not verify([], KEY, anchors=shipped).ok
    assert chain.seq == 1


def test_an_anchor_open_to_others_fails_verify(tmp_path: Path) -> None:
    """An anchor file others may read or write is a failure at the anchor, not an exception."""
    path = tmp_path / "audit.log"
    chain_log(path, 2, anchor_at=1)
    anchor_path(path).chmod(0o644)
    bad = first_bad(path)
    assert (bad.path, bad.line, bad.seq) == (str(anchor_path(path)), 1, None)


def test_the_record_bound_is_exact(tmp_path: Path) -> None:
    """A record of exactly MAX_LINE bytes verifies; one byte more is refused as too long."""
    chain = Chain(KEY, chain_id="c0ffee")
    first = chain.seal({"action": "a"}) + b"\n"
    snap = chain.snapshot()

    def second_record(size: int) -> bytes:
        chain.rewind(*snap)
        return chain.seal({"action": "a", "blob": "x" * size})

    base = len(second_record(0))
    path = tmp_path / "audit.log"
    path.write_bytes(first + second_record(MAX_LINE - base) + b"\n")
    assert verify([path], KEY, allow_missing_anchor=True).ok
    path.write_bytes(first + second_record(MAX_LINE - base + 1) + b"\n")
    bad = first_bad(path, allow_missing_anchor=True)
    assert (bad.line, bad.seq) == (2, None)
    assert "longer" in bad.reason
    path.write_bytes(first + second_record(MAX_LINE - base))  # torn: no newline
    bad = first_bad(path, allow_missing_anchor=True)
    assert "incomplete" in bad.reason


def test_a_signed_record_without_seq_fails_cleanly(tmp_path: Path) -> None:
    """A record signed with the right key but lacking its seq is a failure, not a crash."""
    path = tmp_path / "audit.log"
    chain = Chain(KEY, chain_id="c0ffee")
    first = chain.seal({"action": "a"})
    body = f'{{"action":"a","chain":"c0ffee","epoch":0,"prev":"{chain.last_hash}"}}'.encode()
    mac = KeyState(0, KEY).mac().hexdigest(body)
    path.write_bytes(first + b"\n" + body[:-1] + b',"hmac":"' + mac.encode() + b'"}\n')
    bad = first_bad(path, allow_missing_anchor=True)
    assert (bad.line, bad.seq) == (2, None)


def test_a_first_record_must_link_to_genesis(tmp_path: Path) -> None:
    """Seq 0 whose prev is not 64 zeros fails (a head replaced); partial accepts it."""
    path = tmp_path / "audit.log"
    path.write_bytes(Chain(KEY, last_hash="f" * 64).seal({"action": "a"}) + b"\n")
    bad = first_bad(path, allow_missing_anchor=True)
    assert (bad.line, bad.seq) == (1, 0)
    assert verify([path], KEY, allow_missing_anchor=True, partial=True).ok


def test_partial_skips_shipped_anchors_of_pruned_records(tmp_path: Path) -> None:
    """With partial, a shipped anchor for a record before the first one kept is skipped."""
    path = tmp_path / "audit.log"
    chain = Chain(KEY, chain_id="c0ffee")
    out = []
    anchors = []
    for _ in range(4):
        out.append(chain.seal({"action": "a"}) + b"\n")
        anchors.append(chain.anchor("t"))
    path.write_bytes(b"".join(out[2:]))
    shipped = tmp_path / "anchors.jsonl"
    shipped.write_text("".join(json.dumps(a) + "\n" for a in anchors))
    result = verify([path], KEY, anchors=shipped, partial=True, allow_missing_anchor=True)
    assert result.ok
    assert result.external_anchors == 2


def test_an_anchor_of_another_chain_is_named_as_such(tmp_path: Path) -> None:
    """A validly signed anchor of another chain beside the log fails as another chain's."""
    path = tmp_path / "audit.log"
    chain_log(path, 2)
    other = Chain(KEY, chain_id="another", seq=1, last_hash="0" * 64).anchor("t")
    write_private_bytes(anchor_path(path), json.dumps(other).encode() + b"\n")
    bad = first_bad(path)
    assert (bad.path, bad.line, bad.seq) == (str(anchor_path(path)), 1, 1)
    assert "another chain" in bad.reason
