"""The local store's files: refused when another account owns them or could swap them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from sekret import InsecureKeyFile, InsecurePath, SecretValue
from sekret.backends.local import LocalBackend, init_store
from sekret.backup import create_backup_key, export_backup, verify_backup
from sekret.testing import sentinel_value

KEY_ENV = ("SEKRET_MASTER_KEY", "SEKRET_KEY_FILE", "SEKRET_PASSPHRASE")
OTHER_UID = 65534  # "nobody": the second account these tests simulate


@pytest.fixture(autouse=True)
def _no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Key variables from the developer's shell must not change what these tests see."""
    for var in KEY_ENV:
        monkeypatch.delenv(var, raising=False)


def _need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("simulating a second account (chown) needs root; CI runs as root")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A private folder (0700) for one store."""
    path = tmp_path / "private"
    path.mkdir(mode=0o700)
    return path


def test_store_in_a_world_writable_folder_is_refused(folder: Path) -> None:
    """A store whose folder is 0777 (no sticky bit) is refused with InsecurePath at open."""
    db = folder / "s.db"
    init_store(db)
    folder.chmod(0o777)
    with pytest.raises(InsecurePath, match="writable by group or others"):
        LocalBackend(db)


def test_sticky_shared_folder_is_accepted(folder: Path) -> None:
    """A folder writable by others but with the sticky bit (like /tmp) is accepted."""
    db = folder / "s.db"
    init_store(db)
    folder.chmod(0o1777)
    with LocalBackend(db) as backend:
        backend.write("a/b/c", SecretValue.of("x"))
    with LocalBackend(db) as backend:
        assert backend.read("a/b/c").value.text() == "x"


def test_init_in_a_world_writable_folder_is_refused(folder: Path) -> None:
    """init_store refuses to create a store in a folder others could write to."""
    folder.chmod(0o777)
    with pytest.raises(InsecurePath):
        init_store(folder / "s.db")
    assert not (folder / "s.db").exists()
    assert not (folder / "s.db.key").exists()


def test_swapped_store_and_key_are_refused(folder: Path, tmp_path: Path) -> None:
    """Another account's store + key swapped into a 0777 folder never open."""
    _need_root()
    db = folder / "s.db"
    init_store(db)
    planted = sentinel_value("planted")
    attacker = tmp_path / "attacker"
    attacker.mkdir()
    init_store(attacker / "s.db")
    with LocalBackend(attacker / "s.db") as other:
        other.write("a/b/c", SecretValue.of(planted))
    folder.chmod(0o777)
    for name in ("s.db", "s.db.key"):
        shutil.copy(attacker / name, folder / name)
        os.chown(folder / name, OTHER_UID, OTHER_UID)
    with pytest.raises(InsecurePath) as caught:
        LocalBackend(db)
    assert planted not in str(caught.value)
    folder.chmod(0o700)
    with pytest.raises(InsecurePath, match="uid 65534"):
        LocalBackend(db)


def test_store_of_another_account_is_refused(folder: Path) -> None:
    """A store file owned by another account is refused even in a private folder."""
    _need_root()
    db = folder / "s.db"
    init_store(db)
    os.chown(db, OTHER_UID, OTHER_UID)
    with pytest.raises(InsecurePath, match=f"uid {OTHER_UID}"):
        LocalBackend(db)


def test_key_file_of_another_account_is_refused(folder: Path) -> None:
    """A key file owned by another account is refused (even 0600)."""
    _need_root()
    db = folder / "s.db"
    init_store(db)
    os.chown(folder / "s.db.key", OTHER_UID, OTHER_UID)
    with pytest.raises(InsecurePath, match=f"uid {OTHER_UID}"):
        LocalBackend(db)


def test_key_file_in_a_world_writable_folder_is_refused(folder: Path, tmp_path: Path) -> None:
    """A key file kept in a folder others can write to is refused."""
    shared = tmp_path / "shared"
    shared.mkdir()
    db = folder / "s.db"
    init_store(db, key_file=shared / "k")
    shared.chmod(0o777)
    with pytest.raises(InsecurePath, match="writable by group or others"):
        LocalBackend(db, key_file=shared / "k")


def test_key_file_open_to_others_is_still_insecure_key_file(folder: Path) -> None:
    """The older rule stays: a key file readable by others is InsecureKeyFile."""
    db = folder / "s.db"
    init_store(db)
    (folder / "s.db.key").chmod(0o644)
    with pytest.raises(InsecureKeyFile):
        LocalBackend(db)


def test_backup_in_a_world_writable_folder_is_refused(folder: Path, tmp_path: Path) -> None:
    """A backup read from a folder others can write to (no sticky bit) is refused."""
    db = folder / "s.db"
    init_store(db)
    key = create_backup_key(folder / "backup.key")
    with LocalBackend(db) as backend:
        backend.write("a/b/c", SecretValue.of("x"))
        shared = tmp_path / "shared"
        shared.mkdir()
        export_backup(backend, shared / "b.sekret", key_file=key)
    shared.chmod(0o777)
    with pytest.raises(InsecurePath):
        verify_backup(shared / "b.sekret", key_file=key)


def test_backup_of_another_account_is_refused(folder: Path) -> None:
    """A backup file owned by another account is refused."""
    _need_root()
    db = folder / "s.db"
    init_store(db)
    key = create_backup_key(folder / "backup.key")
    with LocalBackend(db) as backend:
        backend.write("a/b/c", SecretValue.of("x"))
        export_backup(backend, folder / "b.sekret", key_file=key)
    os.chown(folder / "b.sekret", OTHER_UID, OTHER_UID)
    with pytest.raises(InsecurePath, match=f"uid {OTHER_UID}"):
        verify_backup(folder / "b.sekret", key_file=key)
