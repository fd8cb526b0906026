"""``sekret init`` and ``sekret rotate-master-key`` on the embedded store."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cli.clirunner import Cli
from sekret.backends.local import LocalBackend
from sekret.cli import _app
from sekret.testing import sentinel_value


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _cli_at(path: Path, **env: str) -> Cli:
    return Cli(f"local://{path}", env=env)


def test_init_creates_store_and_key_file_0600(tmp_path: Path) -> None:
    """init PATH creates the store and PATH.key, both 0600, and says where."""
    db = tmp_path / "app" / "secrets.db"
    result = Cli("unused://").run(["init", str(db)])
    assert result.exit_code == 0, result.stderr
    key = Path(str(db) + ".key")
    assert (_mode(db), _mode(key)) == (0o600, 0o600)
    assert f"created store {db}" in result.stdout
    assert str(key) in result.stdout
    assert key.read_text().strip() not in result.output  # the key itself is never printed


def test_init_defaults_to_dot_sekret_in_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without PATH or --backend, init creates ./.sekret/secrets.db with a .gitignore."""
    monkeypatch.chdir(tmp_path)
    cli = Cli("unused://")
    assert cli.run(["init"]).exit_code == 0
    assert (tmp_path / ".sekret" / "secrets.db").is_file()
    assert (tmp_path / ".sekret" / ".gitignore").read_text() == "*\n"
    result = cli.run(["--app", "arrwdb", "put", "k"], input=sentinel_value())
    assert result.exit_code == 0, result.stderr


def test_init_uses_the_backend_url_path(tmp_path: Path) -> None:
    """init follows --backend local://PATH when no PATH argument is given."""
    db = tmp_path / "via-url.db"
    assert _cli_at(db).run(["--backend", f"local://{db}", "init"]).exit_code == 0
    assert db.is_file()


def test_init_refuses_a_non_local_backend(tmp_path: Path) -> None:
    """init with a non-local --backend and no PATH is a usage error."""
    result = Cli("x").run(["--backend", "vault+https://vault:8200", "init"])
    assert result.exit_code == 2
    assert "local store" in result.stderr


def test_init_twice_is_a_conflict(tmp_path: Path) -> None:
    """init on an existing store exits 5 and leaves it alone."""
    db = tmp_path / "secrets.db"
    cli = Cli("unused://")
    assert cli.run(["init", str(db)]).exit_code == 0
    before = db.read_bytes()
    result = cli.run(["init", str(db)])
    assert result.exit_code == 5
    assert result.stderr.startswith("sekret: error: ")
    assert result.stderr.count("\n") == 1
    assert db.read_bytes() == before


def test_init_custom_key_file_is_reported(tmp_path: Path) -> None:
    """init --key-file writes the key there and tells how to point sekret at it."""
    db, key = tmp_path / "secrets.db", tmp_path / "keys" / "master.key"
    key.parent.mkdir()
    result = Cli("unused://").run(["init", str(db), "--key-file", str(key)])
    assert result.exit_code == 0, result.stderr
    assert f"export SEKRET_KEY_FILE={key}" in result.stdout
    assert _mode(key) == 0o600


def test_init_with_passphrase_from_stdin(tmp_path: Path) -> None:
    """init --passphrase reads it from stdin; the store then opens with SEKRET_PASSPHRASE."""
    db = tmp_path / "secrets.db"
    passphrase = sentinel_value("pass")
    result = Cli("unused://").run(["init", str(db), "--passphrase"], input=passphrase + "\n")
    assert result.exit_code == 0, result.stderr
    assert not Path(str(db) + ".key").exists()
    assert passphrase not in result.output
    cli = _cli_at(db, SEKRET_PASSPHRASE=passphrase)
    assert cli("put", "k", input=sentinel_value()).exit_code == 0
    locked = _cli_at(db)("list")
    assert locked.exit_code == 8
    assert "SEKRET_PASSPHRASE" in locked.stderr


def test_init_passphrase_prompt_asks_twice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal init --passphrase asks twice, hidden; a mismatch asks again."""
    monkeypatch.setattr(_app, "stdin_is_terminal", lambda: True)
    db = tmp_path / "secrets.db"
    first, second = sentinel_value("p1"), sentinel_value("p2")
    typed = f"{first}\n{second}\n{first}\n{first}\n"
    result = Cli("unused://").run(["init", str(db), "--passphrase"], input=typed)
    assert result.exit_code == 0, result.stderr
    assert "Repeat for confirmation" in result.stderr
    assert first not in result.output
    assert second not in result.output
    assert _cli_at(db, SEKRET_PASSPHRASE=first)("list").exit_code == 0


def test_init_with_empty_passphrase_is_refused(tmp_path: Path) -> None:
    """An empty passphrase on stdin is a usage error and creates nothing."""
    db = tmp_path / "secrets.db"
    result = Cli("unused://").run(["init", str(db), "--passphrase"], input="\n")
    assert result.exit_code == 2
    assert not db.exists()


@pytest.mark.reveals
def test_rotate_master_key_replaces_the_key_file(cli: Cli, store_url: str) -> None:
    """rotate-master-key puts a fresh key in the same file; values still read."""
    value = sentinel_value()
    cli("put", "k", input=value)
    db = Path(store_url.removeprefix("local://"))
    key = Path(str(db) + ".key")
    old_key = key.read_text()
    result = cli("rotate-master-key")
    assert result.exit_code == 0, result.stderr
    assert f"master key now in {key}" in result.stdout
    assert key.read_text() != old_key
    assert old_key.strip() not in result.output
    assert key.read_text().strip() not in result.output
    assert _mode(key) == 0o600
    assert cli("get", "k", "-n").stdout == value


def test_rotate_master_key_to_a_new_key_file(cli: Cli, store_url: str, tmp_path: Path) -> None:
    """--new-key-file reseals with that file; the old file no longer opens the store."""
    cli("put", "k", input=sentinel_value())
    db = Path(store_url.removeprefix("local://"))
    new_key = tmp_path / "new.key"
    result = cli("rotate-master-key", "--new-key-file", str(new_key))
    assert result.exit_code == 0, result.stderr
    assert _mode(new_key) == 0o600
    assert cli("list").exit_code == 7  # the default key file is the old key: wrong master key
    moved = _cli_at(db, SEKRET_KEY_FILE=str(new_key))
    assert moved("versions", "k").exit_code == 0


def test_rotate_master_key_to_a_passphrase_and_back(cli: Cli, store_url: str) -> None:
    """--new-passphrase reseals with a passphrase read from stdin; --passphrase opens it again."""
    cli("put", "k", input=sentinel_value())
    db = Path(store_url.removeprefix("local://"))
    passphrase = sentinel_value("pass")
    result = cli("rotate-master-key", "--new-passphrase", input=passphrase + "\n")
    assert result.exit_code == 0, result.stderr
    assert passphrase not in result.output
    with LocalBackend(db, passphrase=passphrase) as backend:
        assert [v.version for v in backend.versions("arrwdb/development/k")] == ["1"]
    new_key = db.parent / "back.key"
    back = cli(
        "rotate-master-key", "--passphrase", "--new-key-file", str(new_key), input=passphrase
    )
    assert back.exit_code == 0, back.stderr
    assert _cli_at(db, SEKRET_KEY_FILE=str(new_key))("versions", "k").exit_code == 0


def test_rotate_master_key_with_wrong_key_changes_nothing(cli: Cli, store_url: str) -> None:
    """A key file that does not open the store exits 7 and leaves the store as it was."""
    cli("put", "k", input=sentinel_value())
    db = Path(store_url.removeprefix("local://"))
    other = db.parent / "other.db"
    Cli("unused://").run(["init", str(other)])
    result = cli("rotate-master-key", "--key-file", str(other) + ".key")
    assert result.exit_code == 7
    assert result.stderr.count("\n") == 1
    assert cli("versions", "k").exit_code == 0


@pytest.mark.parametrize("line", [b"\xff\xfe not utf-8\n", b"caf\xe9\n", b"\xed\xa0\x80\n"])
def test_init_with_a_non_utf8_passphrase_on_stdin_is_a_usage_error(
    tmp_path: Path, line: bytes
) -> None:
    """Bytes that are not UTF-8 on stdin are a clear usage error, and no store is made."""
    db = tmp_path / "p.db"
    result = Cli("unused://").run(["init", str(db), "--passphrase"], input=line + line)
    assert result.exit_code == 2, result.output
    assert "not UTF-8" in result.stderr
    assert not db.exists()


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(min_size=1, max_size=40))
def test_any_bytes_as_a_passphrase_on_stdin_give_a_clear_outcome(
    tmp_path: Path, data: bytes
) -> None:
    """Fuzz: any bytes as the current passphrase give a clear outcome, never a crash (exit 70)."""
    db = tmp_path / "fuzz.db"
    if not db.exists():
        assert (
            Cli("unused://").run(["init", str(db), "--passphrase"], input="pw-1\npw-1\n").exit_code
            == 0
        )
    result = Cli("unused://").run(
        ["rotate-master-key", str(db), "--passphrase", "--new-passphrase"],
        input=data.replace(b"\n", b"") + b"\nnew\nnew\n",
    )
    assert result.exit_code != 70, result.output  # 70: an internal error (a crash)
    assert "Traceback" not in result.output
    if result.exit_code == 0:
        Cli("unused://").run(
            ["rotate-master-key", str(db), "--passphrase", "--new-passphrase"],
            input=b"new\npw-1\npw-1\n",
        )


def test_rotate_master_key_reencrypt_replaces_both_keys(cli: Cli, store_url: str) -> None:
    """--reencrypt gives a new master key and a new data key; values still read."""
    value = sentinel_value()
    cli("put", "k", input=value)
    db = Path(store_url.removeprefix("local://"))
    with LocalBackend(db) as before:
        old_data_key = before._data_key
    result = cli("rotate-master-key", "--reencrypt")
    assert result.exit_code == 0, result.stderr
    assert "every value re-sealed" in result.stdout
    with LocalBackend(db) as after:
        assert after._data_key != old_data_key
    assert cli("get", "k", "-n").stdout == value
    assert value not in result.output


def test_rotate_data_key_keeps_the_master_key(cli: Cli, store_url: str) -> None:
    """rotate-data-key re-seals under a new data key with the same key file."""
    value = sentinel_value()
    cli("put", "k", input=value)
    db = Path(store_url.removeprefix("local://"))
    key = Path(str(db) + ".key").read_text()
    result = cli("rotate-data-key")
    assert result.exit_code == 0, result.stderr
    assert Path(str(db) + ".key").read_text() == key
    assert cli("get", "k", "-n").stdout == value


def _dev_manifest(folder: Path) -> None:
    (folder / "sekret.toml").write_text(
        'app = "arrwdb"\ndefault_environment = "dev"\n'
        '[environments.dev]\nbackend = "local://.sekret/dev.db"\n'
    )


def test_init_of_the_manifest_store_does_not_suggest_sekret_backend(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """init of the store a manifest names says nothing about SEKRET_BACKEND."""
    _dev_manifest(tmp_path)
    sub = tmp_path / "src"
    sub.mkdir()
    monkeypatch.chdir(sub)
    result = Cli("unused://").run(["init"])
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / ".sekret" / "dev.db").is_file()
    assert "SEKRET_BACKEND" not in result.output


def test_init_with_a_path_still_shows_how_to_use_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """init PATH under a manifest prints the SEKRET_BACKEND line for that other store."""
    _dev_manifest(tmp_path)
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "other.db"
    result = Cli("unused://").run(["init", str(db)])
    assert result.exit_code == 0, result.stderr
    assert f"export SEKRET_BACKEND=local://{db}" in result.stdout
