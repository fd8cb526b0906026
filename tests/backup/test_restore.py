"""Restore: new secrets in batches without probes, renamed namespaces, careful resumes."""

from __future__ import annotations

from pathlib import Path

import pytest

from sekret import Secrets, SecretValue
from sekret.backends.base import WriteRequest
from sekret.backends.env import EnvBackend
from sekret.backends.local import LocalBackend, init_store
from sekret.backends.memory import MemoryBackend
from sekret.backup import create_backup_key, export_backup, restore_backup
from sekret.exceptions import ConfigurationError, UnsupportedOperation
from sekret.testing import sentinel_value


@pytest.fixture
def key(tmp_path: Path) -> Path:
    return create_backup_key(tmp_path / "backup.key")


def _store(tmp_path: Path, name: str) -> LocalBackend:
    init_store(tmp_path / name)
    return LocalBackend(tmp_path / name)


@pytest.fixture
def backup(tmp_path: Path, key: Path) -> Path:
    """A backup of 1,500 development secrets (one with three versions and a pending)."""
    source = _store(tmp_path, "src.db")
    source.put_many(
        [
            WriteRequest(f"arrwdb/development/k{i:04d}", SecretValue.of(sentinel_value(str(i))))
            for i in range(1_500)
        ]
    )
    name = "arrwdb/development/k0000"
    source.write(name, SecretValue.of(sentinel_value("second")))
    source.write(name, SecretValue.of(sentinel_value("next")), stages=["pending"])
    path = tmp_path / "dev.bak"
    export_backup(source, path, prefix="arrwdb/development/", key_file=key)
    source.close()
    return path


def _statements(backend: LocalBackend) -> list[str]:
    seen: list[str] = []
    backend._conn().set_trace_callback(seen.append)
    return seen


def test_restore_of_new_secrets_is_batched_without_probes(
    backup: Path, key: Path, tmp_path: Path
) -> None:
    """Restoring 1,500 new secrets takes 2 write transactions and no per-secret probe."""
    target = _store(tmp_path, "dst.db")
    sql = _statements(target)
    report = restore_backup(backup, target, key_file=key)
    assert report.count("restored") == 1_500
    assert sum(1 for s in sql if s.startswith("COMMIT")) == 2
    assert not any("ORDER BY v.version" in s for s in sql)  # no versions() probe
    versions = target.versions("arrwdb/development/k0000")
    assert [sorted(v.stages) for v in versions] == [["previous"], ["current"], ["pending"]]


def test_rerun_after_a_batched_restore_is_unchanged(
    backup: Path, key: Path, tmp_path: Path
) -> None:
    """A second restore of the same backup changes nothing (the careful path)."""
    target = _store(tmp_path, "dst.db")
    restore_backup(backup, target, key_file=key)
    again = restore_backup(backup, target, key_file=key)
    assert again.count("unchanged") == 1_500
    assert len(target.versions("arrwdb/development/k0001")) == 1


def test_restore_renames_a_namespace(backup: Path, key: Path, tmp_path: Path) -> None:
    """rename=(development, staging) restores every secret under staging, same values."""
    target = _store(tmp_path, "dst.db")
    client = Secrets(target, app="arrwdb", environment="staging", cache=False)
    report = restore_backup(
        backup, client, key_file=key, rename=("arrwdb/development", "arrwdb/staging")
    )
    assert report.count("restored") == 1_500
    assert client.get_secret("k0007").version == "1"
    assert not target.list("arrwdb/development/").items


def test_rename_from_the_wrong_namespace_writes_nothing(
    backup: Path, key: Path, tmp_path: Path
) -> None:
    """A --from-namespace the backup was not taken under is refused before any write."""
    target = _store(tmp_path, "dst.db")
    with pytest.raises(ConfigurationError, match="outside namespace 'arrwdb/production'"):
        restore_backup(backup, target, key_file=key, rename=("arrwdb/production", "arrwdb/staging"))
    assert not target.list("").items


def test_restore_into_a_backend_without_batches_takes_the_careful_path(
    backup: Path, key: Path
) -> None:
    """A backend without BATCH_WRITE gets every secret restored one by one, same result."""
    memory = MemoryBackend()
    report = restore_backup(backup, memory, key_file=key)
    assert report.count("restored") == 1_500
    versions = memory.versions("arrwdb/development/k0000")
    assert [sorted(v.stages) for v in versions] == [["previous"], ["current"], ["pending"]]


def test_restore_into_a_read_only_kind_names_capabilities_as_words(backup: Path, key: Path) -> None:
    """A target that cannot take a restore is refused with capability words, never an enum repr."""
    with pytest.raises(UnsupportedOperation) as caught:
        restore_backup(backup, EnvBackend(), key_file=key)
    message = str(caught.value)
    assert "it offers read, list" in message
    assert "Capability" not in message


def test_restore_tokens_are_stable_across_releases() -> None:
    """The idempotency token of a source version is HMAC-SHA256(backup id, name@version):
    an interrupted restore resumes under a later release without writing versions twice."""
    import hmac

    from sekret.backup._restore import _token

    backup_id = "00112233445566778899aabbccddeeff"
    expected = hmac.new(bytes.fromhex(backup_id), b"app/env/db@7", "sha256").hexdigest()
    assert _token(backup_id, "app/env/db", "7") == "bk" + expected[:30]
    assert _token(backup_id, "app/env/db", "7") == "bk3b230b76139aac398e2f620fb03295"
