"""sekret._files: the one writer and reader of private files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from sekret import _files
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
    with pytest.raises(InsecurePath, match="belongs to uid 65534"):
        open_private_append(other)


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


@pytest.mark.skipif(os.name != "posix" or os.geteuid() != 0, reason="needs root-owned files")
def test_a_file_owned_by_root_is_trusted_when_not_running_as_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root's files are trusted as well as this user's: root could replace them anyway."""
    good = tmp_path / "good"
    write_private(good, b"abc")
    monkeypatch.setattr(os, "geteuid", lambda: 4242)
    assert read_private(good) == b"abc"


@pytest.mark.skipif(os.name != "posix", reason="POSIX owners")
def test_a_folder_of_another_account_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A folder that neither this user nor root owns is refused before anything is written."""
    monkeypatch.setattr(_files, "_trusted_uids", lambda: (os.stat(tmp_path).st_uid + 1,))
    with pytest.raises(InsecurePath, match="belongs to uid"):
        write_private(tmp_path / "f", b"x")
    assert not (tmp_path / "f").exists()


def test_a_folder_that_cannot_be_examined_is_a_configuration_error(tmp_path: Path) -> None:
    """A folder path through a regular file gives ConfigurationError, not a raw OSError."""
    (tmp_path / "plain").write_bytes(b"")
    with pytest.raises(ConfigurationError, match="cannot be read"):
        write_private(tmp_path / "plain" / "sub" / "f", b"x")


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
@pytest.mark.parametrize(("mode", "refused"), [(0o720, True), (0o702, True), (0o755, False)])
def test_only_group_or_other_write_makes_a_folder_unsafe(
    tmp_path: Path, mode: int, refused: bool
) -> None:
    """Group write or other write alone is refused; read and search bits for others are fine."""
    folder = tmp_path / "d"
    folder.mkdir()
    folder.chmod(mode)
    if refused:
        with pytest.raises(InsecurePath, match="writable by group or others"):
            write_private(folder / "f", b"x")
    else:
        write_private(folder / "f", b"x")
        assert (folder / "f").read_bytes() == b"x"


@pytest.mark.skipif(os.name != "posix", reason="POSIX fsync of a folder")
def test_write_private_fsyncs_the_file_and_then_its_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The data is fsynced before the rename and the folder after it, so the rename is durable."""
    synced: list[str] = []
    real = os.fsync

    def record(fd: int) -> None:
        synced.append("folder" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file")
        real(fd)

    monkeypatch.setattr(os, "fsync", record)
    write_private(tmp_path / "f", b"x")
    assert synced == ["file", "folder"]


def _open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_private_file_calls_leave_no_descriptor_open(tmp_path: Path) -> None:
    """write_private and read_private close every descriptor they open, on success and refusal."""
    before = _open_descriptors()
    for _ in range(3):
        write_private(str(tmp_path / "f"), b"x")  # a str path is accepted as well as a Path
        assert read_private(str(tmp_path / "f")) == b"x"
        with pytest.raises(InsecurePath):
            read_private(tmp_path)
    assert _open_descriptors() == before


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_write_private_creates_missing_folders_0700(tmp_path: Path) -> None:
    """Missing folders on the way are created; the file's own folder is private (0700)."""
    target = tmp_path / "a" / "b" / "f"
    write_private(target, b"x")
    assert target.read_bytes() == b"x"
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_written_file_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    """A restrictive umask cannot leave a private file unreadable or unwritable by its owner."""
    old = os.umask(0o277)
    try:
        write_private(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "f").stat().st_mode) == 0o600


def test_write_private_without_overwrite_creates_a_new_file(tmp_path: Path) -> None:
    """overwrite=False writes a missing target whole and leaves no temporary file beside it."""
    write_private(tmp_path / "k", b"new", overwrite=False)
    assert (tmp_path / "k").read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["k"]


def test_a_target_appearing_during_a_no_overwrite_write_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A target created after the existence check still raises Conflict and is never replaced."""
    target = tmp_path / "k"
    target.write_bytes(b"theirs")
    monkeypatch.setattr(os.path, "lexists", lambda _path: False)  # the race: it appears later
    with pytest.raises(Conflict):
        write_private(target, b"ours", overwrite=False)
    assert target.read_bytes() == b"theirs"
    assert [p.name for p in tmp_path.iterdir()] == ["k"]


def test_a_failed_write_raises_and_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A write that fails (disk full) raises, keeps the previous file and removes its temp file."""
    target = tmp_path / "f"
    write_private(target, b"old")

    def full(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)  # where a full disk shows up on a buffered write
    with pytest.raises(OSError, match="No space"):
        write_private(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f"]


def test_append_accepts_a_str_path_and_checks_the_folder_by_default(tmp_path: Path) -> None:
    """open_private_append takes a str path, and refuses a folder others can write to."""
    fd = open_private_append(str(tmp_path / "log"))
    os.close(fd)
    assert (tmp_path / "log").exists()
    if os.name == "posix":
        shared = tmp_path / "shared"
        shared.mkdir()
        shared.chmod(0o777)
        with pytest.raises(InsecurePath, match="writable by group or others"):
            open_private_append(shared / "log")


def test_append_refuses_what_cannot_be_opened_or_is_not_a_file(tmp_path: Path) -> None:
    """A folder at the path is a ConfigurationError; a device is refused as not a regular file."""
    (tmp_path / "dir").mkdir()
    with pytest.raises(ConfigurationError, match="cannot be opened"):
        open_private_append(tmp_path / "dir")
    if os.path.exists(os.devnull) and os.name == "posix":
        with pytest.raises(InsecurePath, match="not a regular file"):
            open_private_append(Path(os.devnull), check=False)


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
@pytest.mark.parametrize("mode", [0o601, 0o610, 0o604, 0o640])
def test_any_access_for_group_or_others_is_refused(tmp_path: Path, mode: int) -> None:
    """Even a single execute bit for group or others makes a log or key file refused."""
    path = tmp_path / "f"
    write_private(path, b"x")
    path.chmod(mode)
    with pytest.raises(InsecurePath, match="chmod 600"):
        open_private_append(path)
    with pytest.raises(InsecurePath, match="chmod 600"):
        read_private(path)


def test_read_private_limit_is_inclusive_and_bad_paths_are_configuration_errors(
    tmp_path: Path,
) -> None:
    """A file of exactly ``limit`` bytes is read; a path through a file is a ConfigurationError."""
    path = tmp_path / "f"
    write_private(path, b"ab")
    assert read_private(str(path), limit=2) == b"ab"
    big = bytes(range(256)) * 600  # several read chunks
    write_private(path, big)
    assert read_private(path, limit=len(big)) == big
    with pytest.raises(ConfigurationError, match="larger than"):
        read_private(path, limit=len(big) - 1)
    with pytest.raises(ConfigurationError, match="cannot be opened"):
        read_private(path / "sub")


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")
def test_a_refused_append_closes_its_descriptor(tmp_path: Path) -> None:
    """open_private_append closes the descriptor it opened when it then refuses the file."""
    loose = tmp_path / "loose"
    loose.write_bytes(b"")
    loose.chmod(0o644)
    before = _open_descriptors()
    for _ in range(3):
        with pytest.raises(InsecurePath):
            open_private_append(loose)
    assert _open_descriptors() == before


def test_read_private_defaults_64_kib_and_a_plain_insecure_path(tmp_path: Path) -> None:
    """By default 64 KiB is the most read_private returns, and a loose file is not a key error."""
    path = tmp_path / "f"
    write_private(path, b"x" * (1 << 16))
    assert len(read_private(path)) == 1 << 16
    write_private(path, b"x" * ((1 << 16) + 1))
    with pytest.raises(ConfigurationError, match="larger than 65536"):
        read_private(path)
    if os.name == "posix":
        path.chmod(0o640)
        with pytest.raises(InsecurePath) as refused:
            read_private(path)
        assert not isinstance(refused.value, InsecureKeyFile)


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_append_creates_missing_folders_0700(tmp_path: Path) -> None:
    """open_private_append creates missing folders; the log's own folder is private (0700)."""
    fd = open_private_append(tmp_path / "a" / "b" / "log")
    os.close(fd)
    assert (tmp_path / "a" / "b" / "log").is_file()
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o700


@pytest.mark.skipif(os.name != "posix", reason="POSIX modes")
def test_a_streamed_private_file_checks_its_folder_by_default(tmp_path: Path) -> None:
    """write_private_stream (backups) refuses a folder others can write to unless told not to."""
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with (
        pytest.raises(InsecurePath, match="chmod go-w"),
        _files.write_private_stream(shared / "b") as out,
    ):
        out.write(b"x")
    assert not (shared / "b").exists()
    with _files.write_private_stream(shared / "b", check=False) as out:
        out.write(b"x")
    assert (shared / "b").read_bytes() == b"x"
