"""Encrypted backups: export, verify, restore into any backend, raw local copies."""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sekret import Secrets
from sekret._values import SecretValue, VersionInfo
from sekret.backends.base import Backend
from sekret.backends.local import LocalBackend, init_store
from sekret.backends.memory import MemoryBackend
from sekret.backup import (
    KdfParams,
    backup_local_store,
    create_backup_key,
    export_backup,
    restore_backup,
    verify_backup,
)
from sekret.exceptions import (
    AccessDenied,
    BackendUnavailable,
    ConfigurationError,
    Conflict,
    InsecureKeyFile,
    IntegrityError,
    WrongMasterKey,
)
from sekret.testing import SENTINEL_PREFIX, sentinel_value

FAST_KDF = KdfParams(salt=b"s" * 16, n=2**10)  # tests only: cheap scrypt


def _local(tmp_path: Path, name: str) -> LocalBackend:
    path = tmp_path / name
    init_store(path)
    return LocalBackend(path)


@pytest.fixture
def source(tmp_path: Path) -> Secrets:
    """A local store holding several versions, stages, content types and metadata."""
    client = Secrets(
        _local(tmp_path, "src.db"), app="arrwdb", environment="production", cache=False
    )
    client.put("api-key", sentinel_value("a1"))
    client.put("api-key", sentinel_value("a2"), metadata={"owner": "search"})
    client.put("api-key", sentinel_value("a3"), stages=["pending"])
    client.put("blob", sentinel_value("b").encode() + b"\x00\xff")
    client.put("db", {"user": "app", "password": sentinel_value("db")})
    client.put("tenants/acme/token", sentinel_value("t"), stages=["current", "custom-1"])
    client.put("old", sentinel_value("old"))
    client.delete("old")
    return client


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return create_backup_key(tmp_path / "backup.key")


def _snapshot(backend: Backend, prefix: str) -> dict[str, list[tuple[Any, ...]]]:
    """Per secret, in order: stages, content type, value digest, metadata (no values)."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    page = backend.list(prefix)
    for info in page.items:
        rows = []
        for v in backend.versions(info.name):
            value = backend.read(info.name, version=v.version).value
            rows.append(
                (
                    sorted(v.stages),
                    value.content_type,
                    hashlib.sha256(value.bytes()).hexdigest(),
                    dict(v.metadata),
                )
            )
        out[info.name] = rows
    return out


def _no_sentinel(*texts: object) -> None:
    for text in texts:
        assert SENTINEL_PREFIX not in str(text)


def test_round_trip_into_a_fresh_local_store(
    source: Secrets, key_file: Path, tmp_path: Path
) -> None:
    """Every version, stage, content type and metadata comes back in a new local store."""
    summary = export_backup(source, tmp_path / "b.bak", key_file=key_file)
    assert summary.version_count == 6
    assert summary.deleted == ("arrwdb/production/old",)
    target = _local(tmp_path, "dst.db")
    report = restore_backup(tmp_path / "b.bak", target, key_file=key_file)
    assert report.count("restored") == 4
    assert _snapshot(target, "arrwdb/") == _snapshot(source.backend, "arrwdb/")
    _no_sentinel(summary.as_dict(), report.as_dict(), summary, report)


def test_round_trip_into_memory(source: Secrets, key_file: Path, tmp_path: Path) -> None:
    """The same backup restores into another kind of backend (a migration)."""
    export_backup(source, tmp_path / "b.bak", key_file=key_file)
    target = MemoryBackend()
    report = restore_backup(tmp_path / "b.bak", target, key_file=key_file)
    assert _snapshot(target, "arrwdb/") == _snapshot(source.backend, "arrwdb/")
    mapping = {s.name: dict(s.versions) for s in report.secrets}
    assert mapping["arrwdb/production/api-key"] == {"1": "1", "2": "2", "3": "3"}


def test_restore_into_a_client_of_the_namespace(
    source: Secrets, key_file: Path, tmp_path: Path
) -> None:
    """A Secrets target takes the backup of its own namespace and refuses another one."""
    export_backup(source, tmp_path / "b.bak", key_file=key_file)
    same = Secrets("memory://", app="arrwdb", environment="production")
    restore_backup(tmp_path / "b.bak", same, key_file=key_file)
    assert same.get_secret("db").value == source.get_secret("db").value
    other = Secrets("memory://", app="arrwdb", environment="staging")
    with pytest.raises(ConfigurationError, match="outside this client's namespace"):
        restore_backup(tmp_path / "b.bak", other, key_file=key_file)
    read_only = Secrets("memory://", app="arrwdb", environment="production", read_only=True)
    with pytest.raises(AccessDenied):
        restore_backup(tmp_path / "b.bak", read_only, key_file=key_file)


def test_backend_prefix_backup(source: Secrets, key_file: Path, tmp_path: Path) -> None:
    """A backend with a prefix backs up only the names under it."""
    summary = export_backup(
        source.backend, tmp_path / "b.bak", prefix="arrwdb/production/t", key_file=key_file
    )
    assert list(summary.secrets) == ["arrwdb/production/tenants/acme/token"]


def test_header_and_files_hold_no_value(source: Secrets, key_file: Path, tmp_path: Path) -> None:
    """The header shows parameters, never a name, value or count; files are 0600."""
    path = tmp_path / "b.bak"
    export_backup(source, path, key_file=key_file)
    raw = path.read_bytes()
    assert SENTINEL_PREFIX.encode() not in raw
    header = json.loads(raw.split(b"\n", 1)[0])
    assert "counts" not in header  # counts are sealed in the final chunk
    assert header["source"] == source.backend.describe()
    assert b"api-key" not in raw
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_verify_lists_without_values(source: Secrets, key_file: Path, tmp_path: Path) -> None:
    """verify authenticates the file and lists names, versions and stages."""
    export_backup(source, tmp_path / "b.bak", key_file=key_file)
    summary = verify_backup(tmp_path / "b.bak", key_file=key_file)
    versions = summary.secrets["arrwdb/production/api-key"]
    assert [v["stages"] for v in versions] == [["previous"], ["current"], ["pending"]]
    assert summary.sealed_with == "key"
    _no_sentinel(summary.as_dict())


def test_existing_backup_file_is_not_replaced(
    source: Secrets, key_file: Path, tmp_path: Path
) -> None:
    """A second export to the same path is refused unless overwrite=True."""
    path = tmp_path / "b.bak"
    first = export_backup(source, path, key_file=key_file)
    with pytest.raises(Conflict):
        export_backup(source, path, key_file=key_file)
    second = export_backup(source, path, key_file=key_file, overwrite=True)
    assert second.backup_id != first.backup_id


def test_wrong_key_is_a_clear_error(source: Secrets, key_file: Path, tmp_path: Path) -> None:
    """Another key raises WrongMasterKey naming the file, and nothing else."""
    path = tmp_path / "b.bak"
    export_backup(source, path, key_file=key_file)
    other = create_backup_key(tmp_path / "other.key")
    with pytest.raises(WrongMasterKey, match="does not open backup") as caught:
        verify_backup(path, key_file=other)
    assert str(path) in str(caught.value)
    _no_sentinel(caught.value)
    with pytest.raises(ConfigurationError, match="key file, not a passphrase"):
        verify_backup(path, passphrase="nope")


def test_passphrase_backup(source: Secrets, tmp_path: Path) -> None:
    """A passphrase seals through scrypt; the wrong one is WrongMasterKey."""
    path = tmp_path / "b.bak"
    export_backup(source, path, passphrase="correct horse", kdf=FAST_KDF)
    header = json.loads(path.read_bytes().split(b"\n", 1)[0])
    assert header["kdf"]["type"] == "scrypt"
    assert verify_backup(path, passphrase="correct horse").sealed_with == "passphrase"
    with pytest.raises(WrongMasterKey):
        verify_backup(path, passphrase="wrong horse")
    with pytest.raises(ConfigurationError, match="passphrase, not a key"):
        verify_backup(path, key=os.urandom(32))


def test_insecure_key_file_is_refused(source: Secrets, key_file: Path, tmp_path: Path) -> None:
    """A key file readable by group or others raises InsecureKeyFile."""
    key_file.chmod(0o644)
    with pytest.raises(InsecureKeyFile):
        export_backup(source, tmp_path / "b.bak", key_file=key_file)
    assert not (tmp_path / "b.bak").exists()


def test_any_flipped_byte_is_detected(source: Secrets, key_file: Path, tmp_path: Path) -> None:
    """Changing any byte of the file (header or body) raises IntegrityError naming it."""
    path = tmp_path / "b.bak"
    export_backup(source, path, key_file=key_file)
    original = path.read_bytes()
    damaged = tmp_path / "damaged.bak"

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(position=st.integers(0, len(original) - 1), mask=st.integers(1, 255))
    def flip(position: int, mask: int) -> None:
        data = bytearray(original)
        data[position] ^= mask
        damaged.write_bytes(bytes(data))
        with pytest.raises(IntegrityError) as caught:
            verify_backup(damaged, key_file=key_file)
        assert str(damaged) in str(caught.value)

    flip()


def test_truncated_file_is_detected(source: Secrets, key_file: Path, tmp_path: Path) -> None:
    """A file cut short anywhere raises IntegrityError naming it."""
    path = tmp_path / "b.bak"
    export_backup(source, path, key_file=key_file)
    original = path.read_bytes()
    cut = tmp_path / "cut.bak"
    for length in (
        0,
        1,
        20,
        original.index(b"\n"),
        original.index(b"\n") + 5,
        len(original) - 16,
        len(original) - 1,
    ):
        cut.write_bytes(original[:length])
        with pytest.raises(IntegrityError, match=str(cut)):
            verify_backup(cut, key_file=key_file)


def test_restore_twice_is_idempotent(source: Secrets, key_file: Path, tmp_path: Path) -> None:
    """A second restore finds everything in place and writes nothing."""
    export_backup(source, tmp_path / "b.bak", key_file=key_file)
    target = MemoryBackend()
    restore_backup(tmp_path / "b.bak", target, key_file=key_file)
    before = _snapshot(target, "")
    again = restore_backup(tmp_path / "b.bak", target, key_file=key_file)
    assert again.count("unchanged") == 4
    assert again.count("restored") == 0
    again = restore_backup(tmp_path / "b.bak", target, key_file=key_file, mode="overwrite")
    assert again.count("unchanged") == 4
    assert _snapshot(target, "") == before


def test_existing_secret_is_left_alone_without_overwrite(
    source: Secrets, key_file: Path, tmp_path: Path
) -> None:
    """mode=missing skips a secret the target has; overwrite adds on top, losing nothing."""
    export_backup(source, tmp_path / "b.bak", key_file=key_file)
    target = MemoryBackend()
    mine = sentinel_value("mine")
    target.write("arrwdb/production/db", SecretValue.of(mine))
    report = restore_backup(tmp_path / "b.bak", target, key_file=key_file)
    outcome = {s.name: s for s in report.secrets}["arrwdb/production/db"]
    assert outcome.outcome == "skipped"
    assert target.read("arrwdb/production/db").value == SecretValue.of(mine)

    report = restore_backup(tmp_path / "b.bak", target, key_file=key_file, mode="overwrite")
    outcome = {s.name: s for s in report.secrets}["arrwdb/production/db"]
    assert outcome.outcome == "overwritten"
    assert outcome.versions == {"1": "2"}
    assert target.read("arrwdb/production/db").value == source.get_secret("db").value
    assert target.read("arrwdb/production/db", version="1").value == SecretValue.of(mine)
    assert "previous" in target.versions("arrwdb/production/db")[0].stages
    rerun = restore_backup(tmp_path / "b.bak", target, key_file=key_file, mode="overwrite")
    assert len(target.versions("arrwdb/production/db")) == 2
    _no_sentinel(rerun.as_dict())


def test_deleted_on_target_is_skipped(source: Secrets, key_file: Path, tmp_path: Path) -> None:
    """A secret soft-deleted on the target is not written (restore it there first)."""
    export_backup(source, tmp_path / "b.bak", key_file=key_file)
    target = MemoryBackend()
    target.write("arrwdb/production/blob", SecretValue.of("x" * 10))
    target.delete("arrwdb/production/blob")
    report = restore_backup(tmp_path / "b.bak", target, key_file=key_file, mode="overwrite")
    outcome = {s.name: s for s in report.secrets}["arrwdb/production/blob"]
    assert outcome.outcome == "skipped"
    assert "deleted on the target" in outcome.reason


class _FailingAfter(MemoryBackend):
    """A memory backend whose writes fail after ``budget`` of them (a crash mid-restore)."""

    def __init__(self, budget: int) -> None:
        super().__init__()
        self.budget = budget

    def write(
        self,
        name: str,
        value: SecretValue,
        *,
        stages: Collection[str] = ("current",),
        expected_version: str | None = None,
        token: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> VersionInfo:
        if self.budget <= 0:
            raise BackendUnavailable("simulated outage")
        self.budget -= 1
        return super().write(
            name,
            value,
            stages=stages,
            expected_version=expected_version,
            token=token,
            metadata=metadata,
        )


def test_interrupted_restore_resumes(source: Secrets, key_file: Path, tmp_path: Path) -> None:
    """A restore cut off mid-secret finishes on rerun without duplicating versions."""
    export_backup(source, tmp_path / "b.bak", key_file=key_file)
    target = _FailingAfter(budget=2)  # api-key gets 2 of its 3 versions
    with pytest.raises(BackendUnavailable):
        restore_backup(tmp_path / "b.bak", target, key_file=key_file)
    target.budget = 100
    report = restore_backup(tmp_path / "b.bak", target, key_file=key_file)
    assert {s.name: s.outcome for s in report.secrets}["arrwdb/production/api-key"] == "resumed"
    assert _snapshot(target, "arrwdb/") == _snapshot(source.backend, "arrwdb/")


def test_raw_local_copy(source: Secrets, tmp_path: Path) -> None:
    """The online copy is 0600, opens with the same key and keeps soft-deleted secrets."""
    assert isinstance(source.backend, LocalBackend)
    db = source.backend.path
    copy = backup_local_store(db, tmp_path / "copies" / "copy.db")
    assert copy.secrets == 5
    assert stat.S_IMODE(copy.path.stat().st_mode) == 0o600
    opened = LocalBackend(copy.path, key_file=Path(str(db) + ".key"))
    try:
        opened.restore("arrwdb/production/old")
        assert opened.read("arrwdb/production/old").value.kind == "text"
        assert _snapshot(opened, "arrwdb/production/a") == _snapshot(
            source.backend, "arrwdb/production/a"
        )
    finally:
        opened.close()
    with pytest.raises(Conflict):
        backup_local_store(db, copy.path)


def test_raw_copy_refuses_a_foreign_file(tmp_path: Path) -> None:
    """A file that is not a sekret store is an IntegrityError, and no copy is left."""
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(b"not sqlite at all" * 100)
    with pytest.raises(IntegrityError):
        backup_local_store(bogus, tmp_path / "copy.db")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bogus.db"]
