"""`sekret backup create|verify|restore|store-copy`."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from cli.clirunner import Cli
from sekret.backends.local import init_store
from sekret.testing import SENTINEL_PREFIX, sentinel_value


def _seed(cli: Cli) -> None:
    assert cli("put", "api-key", input=sentinel_value("v1")).exit_code == 0
    assert cli("put", "api-key", input=sentinel_value("v2")).exit_code == 0
    assert (
        cli(
            "put", "db", "--json-value", input=json.dumps({"password": sentinel_value("db")})
        ).exit_code
        == 0
    )


def test_create_verify_restore(cli: Cli, tmp_path: Path) -> None:
    """create makes a 0600 file and key; verify lists it; restore fills a fresh store."""
    _seed(cli)
    backup, key = tmp_path / "b.bak", tmp_path / "b.key"
    made = cli("backup", "create", str(backup), "--key-file", str(key))
    assert made.exit_code == 0, made.stderr
    assert "new backup key written" in made.stdout
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.stat().st_mode) == 0o600

    verified = cli("backup", "verify", str(backup), "--key-file", str(key), "--json")
    assert verified.exit_code == 0, verified.stderr
    doc = json.loads(verified.stdout)
    assert doc["counts"]["versions"] == 3
    table = cli("backup", "verify", str(backup), "--key-file", str(key))
    assert "arrwdb/development/api-key" in table.stdout

    fresh = tmp_path / "fresh.db"
    init_store(fresh)
    target = Cli(f"local://{fresh}")
    restored = target("backup", "restore", str(backup), "--key-file", str(key), "--json")
    assert restored.exit_code == 0, restored.stderr
    assert json.loads(restored.stdout)["counts"]["restored"] == 2
    versions = json.loads(target("versions", "api-key", "--json").stdout)
    assert [v["stages"] for v in versions] == [["previous"], ["current"]]
    again = target("backup", "restore", str(backup), "--key-file", str(key))
    assert again.exit_code == 0
    assert "2 unchanged" in again.stdout
    for result in (made, verified, table, restored, again):
        assert SENTINEL_PREFIX not in result.output


def test_restore_without_app_uses_the_backend(cli: Cli, tmp_path: Path) -> None:
    """With no --app, restore writes the full names into the backend (a migration)."""
    _seed(cli)
    backup, key = tmp_path / "b.bak", tmp_path / "b.key"
    assert cli("backup", "create", str(backup), "--key-file", str(key)).exit_code == 0
    fresh = tmp_path / "fresh.db"
    init_store(fresh)
    result = Cli(f"local://{fresh}").run(
        ["--backend", f"local://{fresh}", "backup", "restore", str(backup), "--key-file", str(key)]
    )
    assert result.exit_code == 0, result.stderr
    assert "arrwdb/development/db" in result.stdout


def test_passphrase_from_stdin(cli: Cli, tmp_path: Path) -> None:
    """--passphrase-stdin reads the first line; a wrong one exits 7 (integrity)."""
    _seed(cli)
    backup = tmp_path / "b.bak"
    made = cli("backup", "create", str(backup), "--passphrase-stdin", input="pass phrase\n")
    assert made.exit_code == 0, made.stderr
    ok = cli("backup", "verify", str(backup), "--passphrase-stdin", input="pass phrase\n")
    assert ok.exit_code == 0, ok.stderr
    bad = cli("backup", "verify", str(backup), "--passphrase-stdin", input="other\n")
    assert bad.exit_code == 7
    assert "does not open backup" in bad.stderr


def test_errors_are_one_line_without_values(cli: Cli, tmp_path: Path) -> None:
    """Wrong key, damaged file and missing key option are one-line errors."""
    _seed(cli)
    backup, key = tmp_path / "b.bak", tmp_path / "b.key"
    assert cli("backup", "create", str(backup), "--key-file", str(key)).exit_code == 0
    other = tmp_path / "other.key"
    assert cli("backup", "create", str(tmp_path / "c.bak"), "--key-file", str(other)).exit_code == 0
    wrong = cli("backup", "verify", str(backup), "--key-file", str(other))
    assert wrong.exit_code == 7
    data = bytearray(backup.read_bytes())
    data[-3] ^= 1
    backup.write_bytes(bytes(data))
    damaged = cli("backup", "verify", str(backup), "--key-file", str(key))
    assert damaged.exit_code == 7
    assert str(backup) in damaged.stderr
    missing = cli("backup", "verify", str(backup))
    assert missing.exit_code == 2
    again = cli("backup", "create", str(tmp_path / "c.bak"), "--key-file", str(other))
    assert again.exit_code == 5
    for result in (wrong, damaged, missing, again):
        assert SENTINEL_PREFIX not in result.output
        assert result.stderr.count("\n") == 1


def test_store_copy(cli: Cli, store_url: str, tmp_path: Path) -> None:
    """store-copy writes a 0600 copy of the --backend local store."""
    _seed(cli)
    dest = tmp_path / "copy.db"
    result = cli("backup", "store-copy", str(dest))
    assert result.exit_code == 0, result.stderr
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600
    key = store_url.removeprefix("local://") + ".key"
    copy = Cli(f"local://{dest}?key_file={key}")
    listed = copy("list", "--json")
    assert listed.exit_code == 0, listed.stderr
    assert {i["name"] for i in json.loads(listed.stdout)} == {"api-key", "db"}


def test_restore_remaps_development_into_staging(cli: Cli, tmp_path: Path) -> None:
    """--from-namespace/--to-namespace restore development's secrets under staging."""
    _seed(cli)
    backup, key = tmp_path / "b.bak", tmp_path / "b.key"
    assert cli("backup", "create", str(backup), "--key-file", str(key)).exit_code == 0
    refused = cli("backup", "restore", str(backup), "--key-file", str(key), env="staging")
    assert refused.exit_code != 0
    assert "--from-namespace arrwdb/development --to-namespace arrwdb/staging" in refused.stderr
    remap = ["--from-namespace", "arrwdb/development", "--to-namespace", "arrwdb/staging"]
    done = cli("backup", "restore", str(backup), "--key-file", str(key), *remap, env="staging")
    assert done.exit_code == 0, done.stderr
    assert "arrwdb/staging/api-key" in done.stdout
    assert cli("get", "api-key", env="staging").stdout.strip().startswith(SENTINEL_PREFIX)
    half = cli("backup", "restore", str(backup), "--key-file", str(key), remap[0], remap[1])
    assert half.exit_code == 2
    for result in (refused, done, half):
        assert SENTINEL_PREFIX not in result.stderr
