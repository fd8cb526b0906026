"""`sekret import` and `sekret manifest scan` on the local store and on OpenBao."""

from __future__ import annotations

import json
import secrets as _random
import tomllib
from pathlib import Path

import pytest

from cli.clirunner import Cli
from sekret import Secrets
from sekret.testing import sentinel_value
from servers.openbao import BaoServer, _bao, bao_binary


def _vault_url(server: BaoServer) -> str:
    return f"vault+http://{server.address.split('://', 1)[1]}/secret"


def _client(cli: Cli, env: str = "development") -> Secrets:
    token = cli.env.get("VAULT_TOKEN")
    options = {"token": token} if token and cli.backend.startswith("vault") else {}
    return Secrets(cli.backend, app=cli.app, environment=env, cache=False, **options)


def _kv_put(server: BaoServer, path: str, value: str) -> None:
    binary = bao_binary()
    assert binary is not None
    _bao(binary, server.address, server.root_token, "kv", "put", f"secret/{path}", f"value={value}")


@pytest.fixture
def dotenv(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    values = {"COHERE_KEY": sentinel_value(), "LEGACY_DB_PASSWORD": sentinel_value()}
    path = tmp_path / "legacy.env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path, values


def test_import_dotenv_with_mapping_dry_run_first(
    ops_cli: Cli, dotenv: tuple[Path, dict[str, str]]
) -> None:
    """--dry-run prints the plan and changes nothing; the real run writes the mapped key only."""
    path, values = dotenv
    args = ("import", "--from-dotenv", str(path), "--map", "COHERE_KEY=cohere-api-key")
    dry = ops_cli(*args, "--dry-run")
    assert dry.exit_code == 0, dry.stderr
    assert "COHERE_KEY" in dry.stdout
    assert "cohere-api-key" in dry.stdout
    assert "create" in dry.stdout
    assert "dry run: nothing changed (1 version(s) would be written)" in dry.stdout
    with _client(ops_cli) as client:
        assert list(client.list()) == []
    done = ops_cli(*args, "--json")
    assert done.exit_code == 0, done.stderr
    assert json.loads(done.stdout)["actions"] == [
        {"source": "COHERE_KEY", "target": "cohere-api-key", "action": "create", "versions": 1}
    ]
    with _client(ops_cli) as client:
        assert [i.name for i in client.list()] == ["cohere-api-key"]
        assert client.get("cohere-api-key") == values["COHERE_KEY"]
    again = ops_cli(*args, "--map", "LEGACY_DB_PASSWORD=cohere-api-key")
    assert again.exit_code == 2  # two sources on one target: refused before any write
    assert "both map to target 'cohere-api-key'" in again.stderr
    for output in (dry.output, done.output, again.output):
        assert all(v not in output for v in values.values())


def test_import_never_overwrites_without_the_flag(
    ops_cli: Cli, dotenv: tuple[Path, dict[str, str]]
) -> None:
    """An existing target is skipped; --overwrite writes a new version on top of it."""
    path, values = dotenv
    old = sentinel_value()
    assert ops_cli("put", "cohere-api-key", input=old).exit_code == 0
    args = ("import", "--from-dotenv", str(path), "--map", "COHERE_KEY=cohere-api-key")
    skipped = ops_cli(*args)
    assert skipped.exit_code == 0, skipped.stderr
    assert "skip: exists (--overwrite to replace)" in skipped.stdout
    replaced = ops_cli(*args, "--overwrite")
    assert replaced.exit_code == 0, replaced.stderr
    with _client(ops_cli) as client:
        assert client.get("cohere-api-key") == values["COHERE_KEY"]
        assert client.get("cohere-api-key", stage="previous") == old


def test_import_from_a_vault_prefix_written_with_bao(ops_cli: Cli, openbao: BaoServer) -> None:
    """Secrets written by `bao kv put KEY value=...` are imported with their versions, oldest
    first; a single-field entry reads as its text (native-first), so no --field is needed."""
    root = "legacy" + _random.token_hex(4) + "/prod"
    first, second = sentinel_value("v1-"), sentinel_value("v2-")
    _kv_put(openbao, f"{root}/COHERE_KEY", first)
    _kv_put(openbao, f"{root}/COHERE_KEY", second)
    _kv_put(openbao, f"{root}/OTHER", sentinel_value())
    ops_cli.env["VAULT_TOKEN"] = openbao.root_token  # the source reads with it too
    result = ops_cli(
        "import",
        "--from",
        _vault_url(openbao),
        "--prefix",
        root,
        "--map",
        f"{root}/COHERE_KEY=cohere-api-key",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    actions = json.loads(result.stdout)["actions"]
    assert actions == [
        {
            "source": f"{root}/COHERE_KEY",
            "target": "cohere-api-key",
            "action": "create",
            "versions": 2,
        }
    ]
    with _client(ops_cli) as client:
        assert client.get("cohere-api-key") == second
        assert client.get("cohere-api-key", stage="previous") == first
        assert [i.name for i in client.list()] == ["cohere-api-key"]
    assert first not in result.output
    assert second not in result.output


def test_import_from_another_environment_with_a_map_file(ops_cli: Cli, tmp_path: Path) -> None:
    """--from-env reads another environment; --map-file lists the renames."""
    value = sentinel_value()
    assert ops_cli("put", "old-name", input=value, env="production").exit_code == 0
    mapping = tmp_path / "map.txt"
    mapping.write_text("# production -> staging\nold-name = new-name\n")
    result = ops_cli(
        "import", "--from-env", "production", "--map-file", str(mapping), env="staging"
    )
    assert result.exit_code == 0, result.stderr
    with _client(ops_cli, "staging") as client:
        assert client.get("new-name") == value


def test_import_needs_exactly_one_source(cli: Cli) -> None:
    """No source, or two, is a usage error."""
    assert cli("import").exit_code == 2
    assert cli("import", "--from-env", "a", "--from-dotenv", "b").exit_code == 2


def test_manifest_scan_of_a_dotenv_file_prints_toml_without_values(
    tmp_path: Path, cli: Cli
) -> None:
    """Kinds are guessed from names and shapes; the output is TOML; no value appears."""
    import base64
    import os

    values = {
        "COHERE_API_KEY": sentinel_value(),
        "DB": json.dumps({"username": "app", "password": sentinel_value()}),
        "DATA_KEY": base64.b64encode(os.urandom(32)).decode(),
        "JWT_PRIVATE": "-----BEGIN PRIVATE KEY-----" + sentinel_value(),
        "NOTES": sentinel_value(),
    }
    path = tmp_path / ".env"
    path.write_text("".join(f"{k}='{v}'\n" for k, v in values.items()))
    result = cli("manifest", "scan", "--from-dotenv", str(path))
    assert result.exit_code == 0, result.stderr
    secrets = tomllib.loads(result.stdout)["secrets"]
    assert {name: spec["kind"] for name, spec in secrets.items()} == {
        "cohere-api-key": "api_key",
        "db": "generic",  # a .env value is text: JSON shape is not guessed from text
        "data-key": "encryption_key",
        "jwt-private": "jwt_signing_key",
        "notes": "generic",
    }
    assert secrets["cohere-api-key"]["env"] == "COHERE_API_KEY"
    assert all(v not in result.output for v in values.values())


def test_manifest_scan_of_a_vault_prefix(openbao: BaoServer) -> None:
    """A prefix written by `bao kv put username=... password=...` proposes db_credentials."""
    root = "scan" + _random.token_hex(4)
    binary = bao_binary()
    assert binary is not None
    password = sentinel_value()
    _bao(
        binary,
        openbao.address,
        openbao.root_token,
        "kv",
        "put",
        f"secret/{root}/orders_db",
        "username=orders",
        f"password={password}",
    )
    _kv_put(openbao, f"{root}/stripe-api-key", sentinel_value())
    cli = Cli(_vault_url(openbao), env={"VAULT_TOKEN": openbao.root_token})
    result = cli("manifest", "scan", "--from", _vault_url(openbao), "--prefix", root)
    assert result.exit_code == 0, result.stderr
    secrets = tomllib.loads(result.stdout)["secrets"]
    assert secrets["orders-db"] == {"kind": "db_credentials", "env": "ORDERS_DB"}
    assert secrets["stripe-api-key"]["kind"] == "api_key"
    assert f'--map "{root}/orders_db=orders-db"' in result.stdout
    assert password not in result.output
