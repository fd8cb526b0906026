"""sekret._files: the one writer and reader of private files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sekret._files import open_private_append, read_limited, read_private, write_private
from sekret.exceptions import ConfigurationError, Conflict, InsecureKeyFile, InsecurePath


def test_write_private_creates_0600_and_replaces_atomically(tmp_path: Path) -> None:
    """A written file is 0600 and a rewrite replaces it whole, leaving no temp file."""
    target = tmp_path / "f"
    write_private(target, b"one")
    write_private(target, b"two")
    assert target.read_bytes() == b"two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_write_private_replaces_a_planted_symlink_instead_of_following_it(tmp_path: Path) -> None:
    """A symlink at the target is replaced; the file it pointed to is untouched."""
    victim = tmp_path / "victim"
    victim.write_bytes(b"theirs")
    target = tmp_path / "out"
    target.symlink_to(victim)
    write_private(target, b"ours")
    assert victim.read_bytes() == b"theirs"
    assert not target.is_symlink()
    assert target.read_bytes() == b"ours"


def test_write_private_without_overwrite_refuses_an_existing_target(tmp_path: Path) -> None:
    """overwrite=False raises Conflict and keeps what is there, even a dangling symlink."""
    target = tmp_path / "k"
    target.symlink_to(tmp_path / "nowhere")
    with pytest.raises(Conflict):
        write_private(target, b"x", overwrite=False)
    assert not (tmp_path / "nowhere").exists()


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_a_folder_others_can_write_is_refused(tmp_path: Path) -> None:
    """A group/other-writable folder without the sticky bit is refused; with it, allowed."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(InsecurePath, match="chmod go-w"):
        write_private(shared / "f", b"x")
    assert not (shared / "f").exists()
    shared.chmod(0o1777)
    write_private(shared / "f", b"x")


def test_append_refuses_a_symlink_and_a_loose_mode(tmp_path: Path) -> None:
    """open_private_append never follows a symlink and refuses a file open to others."""
    (tmp_path / "real").write_bytes(b"")
    link = tmp_path / "log"
    link.symlink_to(tmp_path / "real")
    with pytest.raises(InsecurePath, match="symbolic link"):
        open_private_append(link)
    loose = tmp_path / "loose"
    loose.write_bytes(b"")
    loose.chmod(0o644)
    with pytest.raises(InsecurePath, match="chmod 600"):
        open_private_append(loose)
    fd = open_private_append(tmp_path / "new")
    os.close(fd)
    assert stat.S_IMODE((tmp_path / "new").stat().st_mode) == 0o600


def test_read_private_refusals(tmp_path: Path) -> None:
    """Missing, symlinked, non-regular, loose and oversize files are each refused."""
    with pytest.raises(ConfigurationError, match="does not exist"):
        read_private(tmp_path / "missing")
    good = tmp_path / "good"
    write_private(good, b"abc")
    assert read_private(good) == b"abc"
    link = tmp_path / "link"
    link.symlink_to(good)
    with pytest.raises(InsecurePath, match="symbolic link"):
        read_private(link)
    with pytest.raises(InsecurePath, match="not a regular file"):
        read_private(tmp_path)
    good.chmod(0o640)
    with pytest.raises(InsecureKeyFile):
        read_private(good, key=True)
    good.chmod(0o600)
    with pytest.raises(ConfigurationError, match="larger than 2 bytes"):
        read_private(good, limit=2)


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="needs root to chown")
def test_a_file_owned_by_another_account_is_refused(tmp_path: Path) -> None:
    """A private file belonging to another uid is refused even with mode 0600."""
    other = tmp_path / "other"
    write_private(other, b"x")
    os.chown(other, 65534, 65534)
    with pytest.raises(InsecurePath, match="belongs to uid 65534"):
        read_private(other)


def test_read_limited_returns_up_to_the_limit_and_none_past_it(tmp_path: Path) -> None:
    """A file of exactly ``limit`` bytes is read whole; one byte more gives None."""
    path = tmp_path / "f"
    write_private(path, b"x" * 70_000)
    fd = os.open(path, os.O_RDONLY)
    try:
        assert read_limited(fd, 70_000) == b"x" * 70_000
        os.lseek(fd, 0, os.SEEK_SET)
        assert read_limited(fd, 69_999) is None
    finally:
        os.close(fd)
