"""The hash chain: verify passes untouched logs and names the first bad record otherwise."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sekret.audit.chain import GENESIS, load_key, verify
from sekret.audit.jsonfile import FileSink
from sekret.exceptions import ConfigurationError, InsecureKeyFile

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
    assert (bad.path, bad.line, bad.reason) == (str(log), 5, bad.reason)
    assert "HMAC" in bad.reason


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


def test_log_without_anchor_verifies_with_a_warning(log: Path) -> None:
    """Without the anchor, verify still checks the chain and warns about the tail."""
    os.remove(str(log) + ".anchor")
    result = verify([log], KEY)
    assert result.ok
    assert not result.anchored
    assert "truncated tail" in result.warnings[0]


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
