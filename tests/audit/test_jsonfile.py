"""The JSON-lines file sink: format, permissions, rotation, fsync policy, chain resume."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from sekret.audit.chain import verify
from sekret.audit.jsonfile import FileSink
from sekret.exceptions import AuditError, ConfigurationError

KEY = b"q" * 32


def ev(i: int) -> dict[str, object]:
    return {"action": "secret.read", "outcome": "success", "secret": f"a/b/s{i}"}


def test_plain_lines_and_private_file(tmp_path: Path) -> None:
    """Without a key: one JSON object per line, file mode 0600, no chain fields."""
    path = tmp_path / "audit.log"
    sink = FileSink(path)
    sink.emit([ev(1), ev(2)])
    sink.close()
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["secret"] for r in records] == ["a/b/s1", "a/b/s2"]
    assert "hmac" not in records[0]
    assert path.stat().st_mode & 0o777 == 0o600


def test_rotation_by_size_and_pruning(tmp_path: Path) -> None:
    """Past max_bytes the file rolls to .000001, .000002...; backups keeps the newest."""
    path = tmp_path / "audit.log"
    sink = FileSink(path, max_bytes=200, backups=2)
    for i in range(20):
        sink.emit([ev(i)])
    sink.close()
    rotated = sorted(p.name for p in tmp_path.glob("audit.log.*"))
    assert len(rotated) == 2
    assert int(rotated[-1].rsplit(".", 1)[1]) > 2
    assert path.stat().st_size <= 200


@pytest.mark.parametrize(("policy", "expected"), [("batch", 2), ("always", 4), ("never", 0)])
def test_fsync_policy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, policy: str, expected: int
) -> None:
    """batch fsyncs once per emit, always once per record, never not at all."""
    calls: list[int] = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append(fd), real(fd))[1])
    sink = FileSink(tmp_path / "audit.log", fsync=policy)  # type: ignore[arg-type]
    sink.emit([ev(1), ev(2)])
    sink.emit([ev(3), ev(4)])
    sink.close()
    assert len(calls) == expected


def test_unknown_fsync_policy_is_refused(tmp_path: Path) -> None:
    """A misspelled fsync policy is a configuration error."""
    with pytest.raises(ConfigurationError, match="fsync"):
        FileSink(tmp_path / "a.log", fsync="sometimes")  # type: ignore[arg-type]


def test_chain_resumes_from_anchor_after_rotation(tmp_path: Path) -> None:
    """A restart right after a rotation (empty live file) continues from the anchor."""
    path = tmp_path / "audit.log"
    sink = FileSink(path, key=KEY, fsync="never")
    sink.emit([ev(1), ev(2)])
    sink.close()
    os.replace(path, tmp_path / "audit.log.000001")
    path.touch(mode=0o600)
    again = FileSink(path, key=KEY, fsync="never")
    again.emit([ev(3)])
    again.close()
    assert json.loads(path.read_text())["seq"] == 2
    assert verify([tmp_path / "audit.log.000001", path], KEY).ok


def test_torn_last_record_refuses_to_extend(tmp_path: Path) -> None:
    """A log ending in a half-written record is not silently extended."""
    path = tmp_path / "audit.log"
    path.write_bytes(b'{"seq":0')
    path.chmod(0o600)
    with pytest.raises(AuditError, match="incomplete record"):
        FileSink(path, key=KEY)


def test_tampered_last_record_refuses_to_extend(tmp_path: Path) -> None:
    """A chained log whose last record fails its HMAC is not extended."""
    path = tmp_path / "audit.log"
    sink = FileSink(path, key=KEY, fsync="never")
    sink.emit([ev(1)])
    sink.close()
    path.write_bytes(path.read_bytes().replace(b"s1", b"s2"))
    with pytest.raises(AuditError, match="fails verification"):
        FileSink(path, key=KEY)


def test_write_after_close_raises(tmp_path: Path) -> None:
    """Emitting to a closed file sink raises AuditError (the log then applies its policy)."""
    sink = FileSink(tmp_path / "audit.log")
    sink.close()
    with pytest.raises(AuditError, match="closed"):
        sink.emit([ev(1)])


def test_failed_write_does_not_advance_the_chain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If the write fails, the next record keeps the chain's sequence without a gap."""
    path = tmp_path / "audit.log"
    sink = FileSink(path, key=KEY, fsync="never")
    sink.emit([ev(1)])
    real = os.write

    def full(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(AuditError, match="No space left"):
        sink.emit([ev(2)])
    monkeypatch.setattr(os, "write", real)
    sink.emit([ev(3)])
    sink.close()
    assert verify([path], KEY).ok


def test_chain_resumes_from_the_newest_rotated_file(tmp_path: Path) -> None:
    """A restart with an empty live file continues after the last rotated record.

    Its anchor was deleted too, so the writer records that as a gap first.
    """
    path = tmp_path / "audit.log"
    sink = FileSink(path, key=KEY, fsync="never", max_bytes=300)
    for i in range(6):
        sink.emit([ev(i)])
    sink.close()
    newest = sorted(tmp_path.glob("audit.log.0*"))[-1]
    os.replace(path, newest.with_name(f"audit.log.{int(newest.suffix[1:]) + 1:06d}"))
    path.touch(mode=0o600)
    (tmp_path / "audit.log.anchor").unlink()
    again = FileSink(path, key=KEY, fsync="never")
    assert again.gap is not None
    again.emit([ev(9)])
    again.close()
    files = sorted(tmp_path.glob("audit.log*"))
    assert "anchor file is missing" in str(verify(files, KEY).bad)
    assert verify(files, KEY, allow_missing_anchor=True).ok


def test_anchor_every_trades_tail_detection_for_speed(tmp_path: Path) -> None:
    """With anchor_every, the anchor lags between writes (verify warns) and is current at close."""
    clock = [0.0]
    path = tmp_path / "audit.log"
    sink = FileSink(path, key=KEY, fsync="never", anchor_every=10.0, monotonic=lambda: clock[0])
    sink.emit([ev(1)])
    sink.emit([ev(2)])
    lagging = verify([path], KEY)
    assert lagging.ok
    assert "after the anchor" in lagging.warnings[0]
    sink.close()
    assert verify([path], KEY).warnings == ()
