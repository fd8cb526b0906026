"""The chunked backup format: chunks authenticated in order, memory bounded by a chunk."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sekret import SecretValue
from sekret.backends.base import WriteRequest
from sekret.backends.local import LocalBackend, init_store
from sekret.backup import _format, create_backup_key, export_backup, verify_backup
from sekret.exceptions import IntegrityError, SekretError
from sekret.testing import sentinel_value

_LEN = struct.Struct(">I")


@pytest.fixture
def store(tmp_path: Path) -> LocalBackend:
    """A local store with 60 secrets of about 2 KiB each."""
    init_store(tmp_path / "s.db")
    backend = LocalBackend(tmp_path / "s.db")
    backend.put_many(
        [
            WriteRequest(f"app/env/k{i:03d}", SecretValue.of(sentinel_value(str(i)) + "x" * 2000))
            for i in range(60)
        ]
    )
    return backend


@pytest.fixture
def key(tmp_path: Path) -> Path:
    return create_backup_key(tmp_path / "backup.key")


@pytest.fixture
def backup(store: LocalBackend, key: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A backup of the store cut into chunks of about 16 KiB (several chunks)."""
    monkeypatch.setattr(_format, "CHUNK_BYTES", 16 * 1024)
    path = tmp_path / "b.bak"
    export_backup(store, path, prefix="app/", key_file=key)
    return path


def _chunks(path: Path) -> tuple[bytes, list[bytes]]:
    """(header line, raw chunks with their length prefix) of a backup file."""
    raw = path.read_bytes()
    end = raw.index(b"\n") + 1
    head, rest, chunks = raw[:end], raw[end:], []
    while rest:
        (size,) = _LEN.unpack(rest[:4])
        chunks.append(rest[: 4 + size])
        rest = rest[4 + size :]
    return head, chunks


def _rewrite(path: Path, head: bytes, chunks: list[bytes], tail: bytes = b"") -> None:
    path.write_bytes(head + b"".join(chunks) + tail)


def test_backup_is_cut_into_chunks_and_verifies(backup: Path, key: Path) -> None:
    """A backup larger than a chunk is several chunks, and verify reads all of them."""
    _, chunks = _chunks(backup)
    assert len(chunks) >= 5
    assert len(verify_backup(backup, key_file=key).secrets) == 60


@pytest.mark.parametrize(
    "tamper",
    ["drop-last", "drop-middle", "swap", "duplicate", "trailing", "cut-inside", "flip-bit"],
)
def test_tampered_chunks_fail_with_integrity_error(backup: Path, key: Path, tamper: str) -> None:
    """A truncated, reordered, duplicated, extended or edited backup fails verification."""
    head, chunks = _chunks(backup)
    tail = b""
    if tamper == "drop-last":
        chunks = chunks[:-1]
    elif tamper == "drop-middle":
        del chunks[2]
    elif tamper == "swap":
        chunks[1], chunks[2] = chunks[2], chunks[1]
    elif tamper == "duplicate":
        chunks.insert(2, chunks[1])
    elif tamper == "trailing":
        tail = chunks[-1]
    elif tamper == "cut-inside":
        chunks[-1] = chunks[-1][:-7]
    else:
        middle = bytearray(chunks[2])
        middle[40] ^= 1
        chunks[2] = bytes(middle)
    _rewrite(backup, head, chunks, tail)
    with pytest.raises(IntegrityError):
        verify_backup(backup, key_file=key)


def test_chunk_from_another_backup_fails(backup: Path, key: Path, store: LocalBackend) -> None:
    """A chunk moved from another backup with the same key fails (bound to its header)."""
    other = backup.with_name("other.bak")
    export_backup(store, other, prefix="app/", key_file=key)
    head, chunks = _chunks(backup)
    _, foreign = _chunks(other)
    chunks[1] = foreign[1]
    _rewrite(backup, head, chunks)
    with pytest.raises(IntegrityError):
        verify_backup(backup, key_file=key)


def test_impossible_chunk_length_fails_without_allocating(backup: Path, key: Path) -> None:
    """A chunk length of 4 GiB is refused as damage before any read of that size."""
    head, chunks = _chunks(backup)
    chunks[0] = _LEN.pack(0xFFFFFFFF) + chunks[0][4:]
    _rewrite(backup, head, chunks)
    with pytest.raises(IntegrityError, match="impossible length"):
        verify_backup(backup, key_file=key)


def test_export_memory_is_bounded_by_a_chunk(
    store: LocalBackend, key: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Peak memory of an export stays near one chunk, far below the size of the backup."""
    monkeypatch.setattr(_format, "CHUNK_BYTES", 16 * 1024)
    store.put_many(
        [
            WriteRequest(f"app/more/k{i:03d}", SecretValue.of("y" * 4000 + str(i)))
            for i in range(400)
        ]
    )
    export_backup(store, tmp_path / "warm.bak", prefix="app/", key_file=key)  # imports done
    tracemalloc.start()
    try:
        summary = export_backup(
            store, tmp_path / "m.bak", prefix="app/", key_file=key, outline=False
        )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = (tmp_path / "m.bak").stat().st_size
    assert size > 2_000_000
    assert peak < size / 10
    assert summary.as_dict()["counts"] == {
        "secrets": 460,
        "versions": 460,
        "deleted": 0,
        "skipped": 0,
    }


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cut=st.one_of(st.none(), st.integers(min_value=0, max_value=10_000)),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(1, 255)), max_size=4),
    extra=st.binary(max_size=16),
)
def test_fuzz_any_damage_is_a_sekret_error(
    tmp_path: Path,
    key: Path,
    cut: int | None,
    flips: list[tuple[int, int]],
    extra: bytes,
) -> None:
    """Fuzz: a backup cut, bit-flipped or extended anywhere fails as a SekretError only."""
    good = tmp_path / "good.bak"
    if not good.exists():
        init_store(tmp_path / "f.db")
        with LocalBackend(tmp_path / "f.db") as backend:
            backend.write("app/env/a", SecretValue.of("value-a"))
            backend.write("app/env/b", SecretValue.of({"k": "v"}))
            export_backup(backend, good, prefix="app/", key_file=key)
    data = bytearray(good.read_bytes())
    for position, mask in flips:
        data[position % len(data)] ^= mask
    if cut is not None:
        del data[cut % len(data) :]
    damaged = tmp_path / "damaged.bak"
    damaged.write_bytes(bytes(data) + extra)
    damaged.chmod(0o600)
    if bytes(data) + extra == good.read_bytes():
        return
    with pytest.raises(SekretError):
        verify_backup(damaged, key_file=key)
