"""The file:// backend: mounted secret files (Docker, Kubernetes volumes, CSI)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from sekret import Secrets
from sekret._values import SecretValue
from sekret.backends import open_backend
from sekret.backends.base import Backend, Capability
from sekret.backends.chain import ChainBackend
from sekret.backends.file import FileBackend
from sekret.backends.memory import MemoryBackend
from sekret.exceptions import (
    ConfigurationError,
    InsecurePath,
    SecretNotFound,
    UnsupportedOperation,
    VersionNotFound,
)
from sekret.testing import BackendContract, sentinel_value


def _mount(root: Path, relative: str, data: bytes, mode: int = 0o400) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.exists():
        path.chmod(0o600)
    path.write_bytes(data)
    path.chmod(mode)
    return path


def _bytes_of(value: object) -> bytes:
    return SecretValue.of(value).bytes()


class TestFileContract(BackendContract):
    """Seeding writes a file under a full-layout mount."""

    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[FileBackend]:
        self.root = tmp_path / "mount"
        self.root.mkdir(mode=0o700)
        with FileBackend(self.root, layout="full") as b:
            yield b

    def seed(self, backend: Backend, name: str, value: object) -> str:
        _mount(self.root, name, _bytes_of(value))
        return backend.read(name).version


@pytest.fixture
def root(tmp_path: Path) -> Path:
    folder = tmp_path / "run-secrets"
    folder.mkdir(mode=0o700)
    return folder


def test_short_layout_maps_the_name_after_app_and_environment(root: Path) -> None:
    """`arrwdb/production/db` reads <root>/db; a nested name reads a subfolder."""
    value = sentinel_value()
    _mount(root, "db", value.encode())
    _mount(root, "tenants/acme/key", b"k")
    backend = open_backend(f"file://{root}")
    assert backend.read("arrwdb/production/db").value.text() == value
    assert backend.read("arrwdb/production/tenants/acme/key").value.text() == "k"
    names = [i.name for i in backend.list("arrwdb/production/").items]
    assert names == ["arrwdb/production/db", "arrwdb/production/tenants/acme/key"]


def test_values_keep_their_kind(root: Path) -> None:
    """A JSON object file reads as JSON (fields work), binary as bytes, a trailing newline stays."""
    _mount(root, "db", b'{"password": "p"}')
    _mount(root, "bin", b"\xff\x00")
    _mount(root, "text", b"line\n")
    with Secrets(f"file://{root}", app="arrwdb", environment="production") as secrets:
        assert secrets.get("db#password") == "p"
        assert secrets.get_bytes("bin") == b"\xff\x00"
        assert secrets.get("text") == "line\n"


def test_kubernetes_data_swap_is_followed(root: Path) -> None:
    """Keys linked through `..data` follow an atomic swap: the new content is a new version."""
    old, new = sentinel_value("old"), sentinel_value("new")
    _mount(root, "..2026_01_01_00_00_00.1/api-key", old.encode())
    os.symlink("..2026_01_01_00_00_00.1", root / "..data")
    os.symlink("..data/api-key", root / "api-key")
    backend = FileBackend(root)
    first = backend.read("arrwdb/production/api-key")
    assert first.value.text() == old
    assert [i.name for i in backend.list("arrwdb/production/").items] == [
        "arrwdb/production/api-key"
    ]
    # what the kubelet does: write a new folder, swap ..data atomically, remove the old one
    _mount(root, "..2026_01_02_00_00_00.2/api-key", new.encode())
    os.symlink("..2026_01_02_00_00_00.2", root / "..data_tmp")
    os.replace(root / "..data_tmp", root / "..data")
    (root / "..2026_01_01_00_00_00.1" / "api-key").chmod(0o600)
    (root / "..2026_01_01_00_00_00.1" / "api-key").unlink()
    (root / "..2026_01_01_00_00_00.1").rmdir()
    second = backend.read("arrwdb/production/api-key")
    assert second.value.text() == new
    assert second.version != first.version
    with pytest.raises(VersionNotFound):
        backend.read("arrwdb/production/api-key", version=first.version)


def test_cache_refresh_sees_a_rotated_file(root: Path) -> None:
    """Through Secrets, refresh() picks up changed file content as the new current value."""
    _mount(root, "api-key", b"one")
    with Secrets(f"file://{root}", app="a", environment="e") as secrets:
        assert secrets.get("api-key") == "one"
        _mount(root, "api-key", b"two")
        assert secrets.refresh("api-key").value.text() == "two"
        assert secrets.get("api-key") == "two"


def test_links_out_of_the_root_are_refused(root: Path, tmp_path: Path) -> None:
    """A link that leads outside the mount raises InsecurePath, even to a 0400 file."""
    outside = _mount(tmp_path, "elsewhere", b"x")
    os.symlink(outside, root / "escape")
    os.symlink("../elsewhere", root / "relative-escape")
    backend = FileBackend(root)
    for name in ("escape", "relative-escape"):
        with pytest.raises(InsecurePath, match="outside the mount"):
            backend.read(f"a/e/{name}")


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_permissions_are_checked_like_key_files(root: Path) -> None:
    """0644/0444 are refused naming the fix; 0440 only with group_read=1."""
    value = sentinel_value()
    _mount(root, "k8s-default", value.encode(), 0o644)
    _mount(root, "swarm-default", value.encode(), 0o444)
    _mount(root, "fsgroup", value.encode(), 0o440)
    strict, grouped = FileBackend(root), FileBackend(root, group_read=True)
    for name in ("k8s-default", "swarm-default", "fsgroup"):
        with pytest.raises(InsecurePath, match="0400") as info:
            strict.read(f"a/e/{name}")
        assert value not in str(info.value)
    assert grouped.read("a/e/fsgroup").value.text() == value
    with pytest.raises(InsecurePath):
        grouped.read("a/e/k8s-default")


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_root_writable_by_others_is_refused(root: Path) -> None:
    """A mount folder others can write to (without the sticky bit) is refused."""
    _mount(root, "k", b"v")
    root.chmod(0o777)
    try:
        with pytest.raises(InsecurePath, match="writable by group or others"):
            FileBackend(root).read("a/e/k")
    finally:
        root.chmod(0o700)


def test_missing_file_hidden_names_and_missing_root(root: Path, tmp_path: Path) -> None:
    """Missing files are not found; dot names never map to files; a missing root says so."""
    _mount(root, ".hidden", b"x")
    backend = FileBackend(root)
    with pytest.raises(SecretNotFound, match="no file"):
        backend.read("a/e/nope")
    with pytest.raises(SecretNotFound):
        backend.read("a/e/.hidden")
    assert list(backend.list("a/e/").items) == []
    with pytest.raises(ConfigurationError, match="is the volume mounted"):
        FileBackend(tmp_path / "absent").read("a/e/k")


def test_read_only_and_url_options(root: Path) -> None:
    """Writes are unsupported; the URL takes layout/group_read and refuses anything else."""
    backend = open_backend(f"file://{root}?layout=full&group_read=1")
    assert isinstance(backend, FileBackend)
    assert (backend.layout, backend.group_read) == ("full", True)
    assert backend.capabilities == Capability.READ | Capability.LIST
    assert backend.describe() == f"file://{root}?layout=full&group_read=1"
    with pytest.raises(UnsupportedOperation):
        backend.write("a/e/k", SecretValue.of("v"))
    for url in ("file://host/x", f"file://{root}?mode=1", f"file://{root}?layout=flat"):
        with pytest.raises(ConfigurationError):
            open_backend(url)


def test_chain_member_mounted_files_first(root: Path) -> None:
    """In a chain, a mounted file wins and the manager behind answers the rest."""
    manager = MemoryBackend()
    manager.write("arrwdb/production/db", SecretValue.of("from-manager"))
    manager.write("arrwdb/production/other", SecretValue.of("only-manager"))
    _mount(root, "db", b"from-file")
    chain = ChainBackend([FileBackend(root), manager])
    with Secrets(chain, app="arrwdb", environment="production") as secrets:
        assert secrets.get("db") == "from-file"
        assert secrets.get("other") == "only-manager"
