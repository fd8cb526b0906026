"""The embedded encrypted store: the shared contract, sealing, keys and files."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sekret import (
    CURRENT,
    PREVIOUS,
    BackendUnavailable,
    ConfigurationError,
    Conflict,
    DecryptionError,
    InsecureKeyFile,
    IntegrityError,
    SecretDeleted,
    SecretNotFound,
    SecretValue,
    WrongMasterKey,
    _sealing,
)
from sekret.backends import open_backend
from sekret.backends.local import LocalBackend, init_store
from sekret.testing import BackendContract, sentinel_value

KEY_ENV = ("SEKRET_MASTER_KEY", "SEKRET_KEY_FILE", "SEKRET_PASSPHRASE")


@pytest.fixture(autouse=True)
def _no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Key variables from the developer's shell must not change what these tests see."""
    for var in KEY_ENV:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """A fresh store with its default key file."""
    db = tmp_path / "secrets.db"
    init_store(db)
    return db


@pytest.fixture
def backend(store: Path) -> Iterator[LocalBackend]:
    """An open backend on the fresh store."""
    with LocalBackend(store) as b:
        yield b


class TestLocalContract(BackendContract):
    """The local store passes the shared backend contract."""

    @pytest.fixture
    def backend(self, tmp_path: Path) -> Iterator[LocalBackend]:
        """A fresh store per test, opened through its default key file."""
        db = tmp_path / "contract.db"
        init_store(db)
        with LocalBackend(db) as b:
            yield b


def _raw(db: Path) -> sqlite3.Connection:
    return sqlite3.connect(db, isolation_level=None)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- init and URLs -------------------------------------------------------------


def test_init_creates_db_and_key_file_0600(tmp_path: Path) -> None:
    """init makes the database and key file 0600, and the -wal/-shm files sqlite creates too."""
    db = tmp_path / "s.db"
    key = init_store(db)
    assert key == Path(str(db) + ".key")
    with LocalBackend(db) as b:
        b.write("a/b", SecretValue.of("v"))
        b.read("a/b")
        for path in (db, key, Path(str(db) + "-wal"), Path(str(db) + "-shm")):
            assert path.exists(), path
            assert _mode(path) == 0o600, path


def test_init_refuses_to_overwrite(store: Path) -> None:
    """A second init on the same path raises Conflict and leaves the store usable."""
    with LocalBackend(store) as b:
        b.write("a/b", SecretValue.of("kept"))
    with pytest.raises(Conflict):
        init_store(store)
    with LocalBackend(store) as b:
        assert b.read("a/b").value.text() == "kept"


def test_init_reuses_an_existing_key_file(tmp_path: Path) -> None:
    """Two stores initialised with one key file both open with it; the file is unchanged."""
    key = tmp_path / "shared.key"
    init_store(tmp_path / "a.db", key_file=key)
    before = key.read_bytes()
    assert init_store(tmp_path / "b.db", key_file=key) == key
    assert key.read_bytes() == before
    for db in ("a.db", "b.db"):
        LocalBackend(tmp_path / db, key_file=key).close()


def test_url_absolute_with_key_file(tmp_path: Path) -> None:
    """local:///abs/path.db?key_file=/abs/k opens the store with that key file."""
    db, key = tmp_path / "u.db", tmp_path / "u.key"
    init_store(db, key_file=key)
    with open_backend(f"local://{db}?key_file={key}") as b:
        assert isinstance(b, LocalBackend)
        assert b.describe() == f"local://{db}"
        b.write("a/b", SecretValue.of("v"))


def test_url_relative_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """local://relative/path.db is relative to the working directory."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rel").mkdir()
    init_store("rel/s.db")
    with LocalBackend.from_url("local://rel/s.db") as b:
        assert b.path == Path("rel/s.db")


def test_url_refuses_credentials_and_unknown_options(store: Path) -> None:
    """A passphrase or key in the URL, or an unknown option, is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match="does not belong in a URL"):
        LocalBackend.from_url(f"local://{store}?passphrase=x")
    with pytest.raises(ConfigurationError, match="unknown"):
        LocalBackend.from_url(f"local://{store}?mode=fast")
    with pytest.raises(ConfigurationError):
        LocalBackend.from_url("local://")


def test_missing_store_is_a_configuration_error(tmp_path: Path) -> None:
    """Opening a path with no store says so and points at `sekret init`, creating nothing."""
    db = tmp_path / "nothing.db"
    with pytest.raises(ConfigurationError, match=r"no store at .*sekret init"):
        LocalBackend(db)
    assert not db.exists()


# -- master keys ---------------------------------------------------------------


def test_wrong_master_key_touches_nothing(store: Path) -> None:
    """A wrong key raises WrongMasterKey naming the store; the file is unchanged."""
    with LocalBackend(store) as b:
        b.write("a/b", SecretValue.of("v"))
        b._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    before = store.read_bytes()
    with pytest.raises(WrongMasterKey, match=str(store)):
        LocalBackend(store, master_key=_sealing.new_key())
    assert store.read_bytes() == before


def test_missing_key_file_names_the_path(store: Path, tmp_path: Path) -> None:
    """A key file that does not exist is a ConfigurationError naming its path."""
    missing = tmp_path / "gone.key"
    with pytest.raises(ConfigurationError, match=str(missing)):
        LocalBackend(store, key_file=missing)


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660])
def test_key_file_open_to_others_is_refused(store: Path, mode: int) -> None:
    """A key file readable or writable by group or others raises InsecureKeyFile."""
    key = Path(str(store) + ".key")
    key.chmod(mode)
    with pytest.raises(InsecureKeyFile, match="chmod 600"):
        LocalBackend(store)


def test_env_master_key_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SEKRET_MASTER_KEY opens a store whose key is no longer in any file."""
    db = tmp_path / "e.db"
    key_file = init_store(db)
    assert key_file is not None
    monkeypatch.setenv("SEKRET_MASTER_KEY", key_file.read_text().strip())
    key_file.unlink()
    with LocalBackend(db) as b:
        b.write("a/b", SecretValue.of("v"))
    monkeypatch.setenv("SEKRET_MASTER_KEY", "not-a-key")
    with pytest.raises(ConfigurationError, match="SEKRET_MASTER_KEY"):
        LocalBackend(db)


def test_env_key_file_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """SEKRET_KEY_FILE names the key that opens the store; another key there is refused."""
    db, key = tmp_path / "e.db", tmp_path / "elsewhere.key"
    init_store(db, key_file=key)
    value = sentinel_value()
    with LocalBackend(db, key_file=key) as b:
        b.write("a/b", SecretValue.of(value))
    monkeypatch.setenv("SEKRET_KEY_FILE", str(key))
    with LocalBackend(db) as b:
        assert b.read("a/b").value.text() == value
        assert b._key_file == key
    assert not Path(str(db) + ".key").exists()
    wrong = tmp_path / "wrong.key"
    _sealing.create_key_file(wrong, _sealing.new_key())
    monkeypatch.setenv("SEKRET_KEY_FILE", str(wrong))
    with pytest.raises(WrongMasterKey):
        LocalBackend(db)


def test_master_key_rotation(store: Path) -> None:
    """After rotation the old key is refused, the new key opens it, values are intact."""
    old_key = _sealing.read_key_file(Path(str(store) + ".key"))
    value = sentinel_value()
    new_key = _sealing.new_key()
    with LocalBackend(store) as b:
        b.write("a/b", SecretValue.of(value))
        b.rotate_master_key(new_master_key=new_key)
        assert b.read("a/b").value.text() == value  # the open handle keeps working
    with pytest.raises(WrongMasterKey):
        LocalBackend(store, master_key=old_key)
    with LocalBackend(store, master_key=new_key) as b:
        assert b.read("a/b").value.text() == value


def test_rotation_in_place_replaces_the_key_file(store: Path) -> None:
    """Rotating a key-file store with no argument writes a fresh key to the same file, 0600."""
    key_path = Path(str(store) + ".key")
    old = key_path.read_bytes()
    with LocalBackend(store) as b:
        b.write("a/b", SecretValue.of("v"))
        b.rotate_master_key()
    assert key_path.read_bytes() != old
    assert _mode(key_path) == 0o600
    assert not Path(str(key_path) + ".new").exists()
    with LocalBackend(store) as b:
        assert b.read("a/b").value.text() == "v"
    with pytest.raises(WrongMasterKey):
        LocalBackend(store, master_key=_sealing.decode_key(old, source="old"))


def test_passphrase_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A passphrase store opens with its passphrase, refuses others, and rotates to a key."""
    db = tmp_path / "p.db"
    assert init_store(db, passphrase="correct horse") is None
    assert not Path(str(db) + ".key").exists()
    with LocalBackend(db, passphrase="correct horse") as b:
        b.write("a/b", SecretValue.of("v"))
    with pytest.raises(WrongMasterKey):
        LocalBackend(db, passphrase="wrong horse")
    with pytest.raises(ConfigurationError, match="passphrase"):
        LocalBackend(db)  # no passphrase anywhere: say what is needed
    monkeypatch.setenv("SEKRET_PASSPHRASE", "correct horse")
    new_key = tmp_path / "new.key"
    with LocalBackend(db) as b:
        b.rotate_master_key(new_key_file=new_key)
    assert _mode(new_key) == 0o600
    with LocalBackend(db, key_file=new_key) as b:
        assert b.read("a/b").value.text() == "v"
    with pytest.raises(ConfigurationError, match="not a passphrase"):
        LocalBackend(db, passphrase="correct horse")


# -- sealing ----------------------------------------------------------------


def test_flipped_ciphertext_byte_names_secret_and_version(backend: LocalBackend) -> None:
    """One flipped byte of a stored ciphertext gives DecryptionError naming secret and version."""
    backend.write("app/prod/db", SecretValue.of(sentinel_value()))
    backend.write("app/prod/db", SecretValue.of(sentinel_value()))
    with _raw(backend.path) as raw:
        (sealed,) = raw.execute("SELECT sealed FROM versions WHERE version = 2").fetchone()
        flipped = bytearray(sealed)
        flipped[20] ^= 0x01
        raw.execute("UPDATE versions SET sealed = ? WHERE version = 2", (bytes(flipped),))
    with pytest.raises(IntegrityError) as info:
        backend.read("app/prod/db")
    assert isinstance(info.value, DecryptionError)
    assert "'app/prod/db' version 2" in str(info.value)
    assert (info.value.name, info.value.version) == ("app/prod/db", "2")
    assert backend.read("app/prod/db", version="1").version == "1"  # the rest still opens


def test_row_moved_to_another_name_fails(backend: LocalBackend) -> None:
    """A ciphertext copied onto another secret, or a secret renamed, does not decrypt."""
    backend.write("app/prod/a", SecretValue.of(sentinel_value()))
    backend.write("app/prod/b", SecretValue.of(sentinel_value()))
    with _raw(backend.path) as raw:
        raw.execute(
            "UPDATE versions SET sealed = (SELECT sealed FROM versions WHERE name = 'app/prod/a')"
            " WHERE name = 'app/prod/b'"
        )
    with pytest.raises(DecryptionError, match="'app/prod/b' version 1"):
        backend.read("app/prod/b")
    with _raw(backend.path) as raw:
        raw.execute("PRAGMA foreign_keys = OFF")
        raw.execute("UPDATE secrets SET name = 'app/prod/c' WHERE name = 'app/prod/a'")
        raw.execute("UPDATE versions SET name = 'app/prod/c' WHERE name = 'app/prod/a'")
        raw.execute("UPDATE stages SET name = 'app/prod/c' WHERE name = 'app/prod/a'")
    with pytest.raises(DecryptionError, match="'app/prod/c' version 1"):
        backend.read("app/prod/c")


def test_versions_swapped_within_a_secret_fail(backend: LocalBackend) -> None:
    """Swapping the ciphertexts of two versions of one secret is detected on read."""
    backend.write("a/b", SecretValue.of(sentinel_value()))
    backend.write("a/b", SecretValue.of(sentinel_value()))
    with _raw(backend.path) as raw:
        one, two = (r[0] for r in raw.execute("SELECT sealed FROM versions ORDER BY version"))
        raw.execute("UPDATE versions SET sealed = ? WHERE version = 1", (two,))
        raw.execute("UPDATE versions SET sealed = ? WHERE version = 2", (one,))
    with pytest.raises(DecryptionError, match="'a/b' version 2"):
        backend.read("a/b")
    with pytest.raises(DecryptionError, match="'a/b' version 1"):
        backend.read("a/b", version="1")


def test_row_copied_to_another_store_fails(tmp_path: Path) -> None:
    """The same name and version in another store (same key) does not accept a copied row."""
    key = tmp_path / "k.key"
    one, two = tmp_path / "one.db", tmp_path / "two.db"
    init_store(one, key_file=key)
    init_store(two, key_file=key)
    with LocalBackend(one, key_file=key) as a, LocalBackend(two, key_file=key) as b:
        a.write("x/y", SecretValue.of(sentinel_value()))
        b.write("x/y", SecretValue.of(sentinel_value()))
        with _raw(one) as r1, _raw(two) as r2:
            sealed, uid = r1.execute(
                "SELECT v.sealed, s.uid FROM versions v JOIN secrets s ON s.name = v.name"
            ).fetchone()
            r2.execute("UPDATE versions SET sealed = ?", (sealed,))
            r2.execute("UPDATE secrets SET uid = ?", (uid,))
        with pytest.raises(DecryptionError):
            b.read("x/y")


def test_values_are_not_stored_in_the_clear(backend: LocalBackend) -> None:
    """The database file never holds a value's bytes."""
    value = sentinel_value()
    backend.write("a/b", SecretValue.of(value))
    backend._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for suffix in ("", "-wal"):
        path = Path(str(backend.path) + suffix)
        if path.exists():
            assert value.encode() not in path.read_bytes()


# -- damaged files ----------------------------------------------------------


def test_not_a_database_is_an_integrity_error(tmp_path: Path) -> None:
    """A file that is not SQLite raises IntegrityError naming it, never a raw sqlite3 error."""
    bogus = tmp_path / "bogus.db"
    bogus.write_bytes(os.urandom(8192))
    with pytest.raises(IntegrityError, match=str(bogus)):
        LocalBackend(bogus)


def test_foreign_sqlite_file_is_an_integrity_error(tmp_path: Path) -> None:
    """An SQLite file without sekret's tables raises IntegrityError naming it."""
    other = tmp_path / "other.db"
    with _raw(other) as raw:
        raw.execute("CREATE TABLE t (x)")
    with pytest.raises(IntegrityError, match="not a sekret store"):
        LocalBackend(other)


def test_corrupted_pages_are_an_integrity_error(backend: LocalBackend) -> None:
    """Garbage written over the table pages surfaces as IntegrityError, not sqlite3.Error."""
    for i in range(50):
        backend.write(f"a/s{i}", SecretValue.of("v" * 500))
    backend._conn().execute("PRAGMA wal_checkpoint(TRUNCATE)")
    backend.close()
    data = bytearray(backend.path.read_bytes())
    data[4096:] = os.urandom(len(data) - 4096)
    backend.path.write_bytes(bytes(data))

    def read_all() -> None:
        with LocalBackend(backend.path) as b:
            for i in range(50):
                b.read(f"a/s{i}")

    with pytest.raises(IntegrityError) as info:
        read_all()
    assert str(backend.path) in str(info.value)


def test_locked_store_is_backend_unavailable(store: Path) -> None:
    """A store held locked past the busy timeout raises BackendUnavailable naming the file."""
    blocker = _raw(store)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with LocalBackend(store, timeout=0.05, retries=2) as b:
            with pytest.raises(BackendUnavailable, match="locked") as info:
                b.write("a/b", SecretValue.of("v"))
            assert str(store) in str(info.value)
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


# -- time, threads, details ------------------------------------------------------


def test_recovery_window_expires_with_the_clock(store: Path) -> None:
    """Past the recovery window a deleted secret is not found and cannot be restored."""
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    with LocalBackend(store, clock=lambda: now[0]) as b:
        b.write("a/b", SecretValue.of("v"))
        until = b.delete("a/b", recovery_days=7)
        assert until == now[0] + timedelta(days=7)
        with pytest.raises(SecretDeleted):
            b.read("a/b")
        now[0] += timedelta(days=8)
        with pytest.raises(SecretNotFound) as info:
            b.read("a/b")
        assert not isinstance(info.value, SecretDeleted)
        with pytest.raises(SecretNotFound):
            b.restore("a/b")
        assert b.write("a/b", SecretValue.of("new")).version == "1"  # a fresh secret


def test_recovery_days_bounds(backend: LocalBackend) -> None:
    """recovery_days outside 1-365 is refused before anything changes."""
    backend.write("a/b", SecretValue.of("v"))
    for bad in (0, 366, -1):
        with pytest.raises(ValueError, match="recovery_days"):
            backend.delete("a/b", recovery_days=bad)
    assert backend.read("a/b").value.text() == "v"


def test_metadata_round_trip(backend: LocalBackend) -> None:
    """Version metadata is stored and listed with the version."""
    backend.write("a/b", SecretValue.of("v"), metadata={"kind": "api_key"})
    assert dict(backend.read("a/b").metadata) == {"kind": "api_key"}
    assert dict(backend.versions("a/b")[0].metadata) == {"kind": "api_key"}


def test_threads_share_a_backend(backend: LocalBackend) -> None:
    """Eight threads writing distinct names and reading them back all succeed."""
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for j in range(10):
                backend.write(f"t/{i}/n{j}", SecretValue.of(f"{i}-{j}"))
                assert backend.read(f"t/{i}/n{j}").value.text() == f"{i}-{j}"
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(backend.list("t/").items) == 80


def test_rollback_and_previous(backend: LocalBackend) -> None:
    """Moving current back and forth keeps previous pointing at the other version."""
    backend.write("a/b", SecretValue.of("one"))
    backend.write("a/b", SecretValue.of("two"))
    backend.move_stage("a/b", CURRENT, "1")
    assert backend.read("a/b", stage=PREVIOUS).version == "2"
    backend.move_stage("a/b", CURRENT, "2", expected_version="1")
    assert backend.read("a/b").value.text() == "two"


def test_closed_backend_is_unavailable(store: Path) -> None:
    """Using a closed backend raises BackendUnavailable, not a raw sqlite3 error."""
    b = LocalBackend(store)
    b.close()
    b.close()
    with pytest.raises(BackendUnavailable):
        b.read("a/b")


# -- model-based property test -----------------------------------------------

_names = st.sampled_from(["p/a", "p/b", "p/c/d"])
_ops = st.lists(
    st.one_of(
        st.tuples(st.just("write"), _names, st.text(max_size=8) | st.binary(max_size=8)),
        st.tuples(st.just("read"), _names, st.none()),
        st.tuples(st.just("rollback"), _names, st.none()),
        st.tuples(st.just("destroy"), _names, st.none()),
    ),
    max_size=12,
)


def test_matches_a_dict_model(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Random writes, reads, rollbacks and destroys agree with a plain dict model."""
    db = tmp_path_factory.mktemp("model") / "m.db"
    init_store(db)
    backend = LocalBackend(db)

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(ops=_ops)
    def run(ops: list[tuple[str, str, str | bytes | None]]) -> None:
        for n in ("p/a", "p/b", "p/c/d"):
            with contextlib.suppress(SecretNotFound):
                backend.destroy(n)
        versions: dict[str, list[str | bytes]] = {}
        current: dict[str, int] = {}
        previous: dict[str, int] = {}
        for op, name, value in ops:
            if op == "write":
                if value == "":
                    value = "empty"
                assert value is not None
                versions.setdefault(name, []).append(value)
                got = backend.write(name, SecretValue.of(value)).version
                assert got == str(len(versions[name]))
                if name in current:
                    previous[name] = current[name]
                current[name] = len(versions[name])
            elif op == "read":
                if name not in versions:
                    with pytest.raises(SecretNotFound):
                        backend.read(name)
                else:
                    secret = backend.read(name)
                    assert secret.version == str(current[name])
                    assert secret.value.reveal() == versions[name][current[name] - 1]
            elif op == "rollback" and name in previous:
                assert backend.read(name, stage=PREVIOUS).version == str(previous[name])
                backend.move_stage(name, CURRENT, str(previous[name]))
                current[name], previous[name] = previous[name], current[name]
            elif op == "destroy" and name in versions:
                backend.destroy(name)
                versions.pop(name)
                current.pop(name)
                previous.pop(name, None)
        listed = {i.name for i in backend.list("p/").items}
        assert listed == set(versions)

    try:
        run()
    finally:
        backend.close()
