"""Every command resolves app, environment, backend, read_only and audit in one place."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from cli.clirunner import Cli
from sekret.backends.local import init_store
from sekret.cli._context import Flags, Origin, resolve_context
from sekret.exceptions import ManifestError
from sekret.testing import sentinel_value

MANIFEST = """\
app = "arrwdb"
default_environment = "dev"

[environments.dev]
backend = "local://.sekret/secrets.db"
cache_ttl = 30
{dev_extra}

[environments.production]
backend = "memory://context-prod"
read_only = true
"""


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project with a manifest whose dev store is relative, worked on from a subfolder."""
    (tmp_path / "sekret.toml").write_text(MANIFEST.format(dev_extra=""))
    init_store(tmp_path / ".sekret" / "secrets.db")
    sub = tmp_path / "src" / "pkg"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    return tmp_path


def _cli() -> Cli:
    return Cli(backend="")


def test_flags_beat_variables_beat_manifest(project: Path) -> None:
    """A flag wins over SEKRET_*, which wins over the manifest; each origin is recorded."""
    from_manifest = resolve_context(Flags(), {})
    assert from_manifest.app == "arrwdb"
    assert from_manifest.environment == "dev"
    assert from_manifest.origins["environment"].where.endswith("sekret.toml:2")
    from_var = resolve_context(Flags(), {"SEKRET_ENV": "production"})
    assert from_var.environment == "production"
    assert from_var.origins["environment"].kind == "variable"
    assert from_var.read_only is True
    from_flag = resolve_context(Flags(env="dev", admin=True), {"SEKRET_ENV": "production"})
    assert (from_flag.environment, from_flag.read_only) == ("dev", False)
    assert from_flag.origins["read_only"].where == "--admin"


def test_relative_local_path_resolves_from_the_manifest_folder(project: Path) -> None:
    """local://.sekret/secrets.db in the manifest is the project's store, from any subfolder."""
    ctx = resolve_context(Flags(), {})
    assert ctx.backend == f"local://{project / '.sekret' / 'secrets.db'}"


def test_undeclared_environment_is_an_error(project: Path) -> None:
    """With a manifest, an environment it does not declare fails; no local store is used."""
    with pytest.raises(ManifestError, match=r"'staging'.*not declared.*dev, production"):
        resolve_context(Flags(env="staging"), {})
    result = _cli().run(["--env", "staging", "put", "k"], input="v")
    assert result.exit_code == 8
    assert "not declared" in result.output
    assert not (Path.cwd() / ".sekret").exists()


def test_put_and_list_use_the_manifest_and_default_environment(project: Path) -> None:
    """put without --app stores under the manifest's app and default_environment."""
    cli = _cli()
    value = sentinel_value()
    result = cli.run(["put", "k"], input=value)
    assert result.exit_code == 0, result.output
    assert "arrwdb/dev/k" in result.output
    listed = cli.run(["list", "--json"])
    assert [row["name"] for row in json.loads(listed.output)] == ["k"]


def test_manifest_read_only_refuses_with_a_hint(project: Path) -> None:
    """A read_only environment refuses writes (exit 4) and says how to get write access."""
    result = _cli().run(["--env", "production", "put", "k"], input="v")
    assert result.exit_code == 4
    assert "--admin" in result.output
    assert "read-only because of" in result.output
    assert "sekret.toml:11" in result.output
    ok = _cli().run(["--env", "production", "--admin", "put", "k"], input="v")
    assert ok.exit_code == 0, ok.output


def test_read_only_and_admin_exclude_each_other(project: Path) -> None:
    """--read-only with --admin is a usage error (exit 2)."""
    result = _cli().run(["--read-only", "--admin", "list"])
    assert result.exit_code == 2


def test_operator_commands_are_audited_through_manifest_sinks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CLI write is recorded by the manifest's audit sink, with the OS user and host."""
    log = tmp_path / "audit.jsonl"
    (tmp_path / "sekret.toml").write_text(MANIFEST.format(dev_extra=f'audit = ["jsonl://{log}"]'))
    init_store(tmp_path / ".sekret" / "secrets.db")
    monkeypatch.chdir(tmp_path)
    value = sentinel_value()
    result = _cli().run(["put", "k"], input=value)
    assert result.exit_code == 0, result.output
    text = log.read_text()
    assert value not in text
    events = [json.loads(line) for line in text.splitlines()]
    writes = [e for e in events if e.get("action") == "write"] or events
    actor = writes[-1]["actor"]
    assert actor.get("user")
    assert actor.get("host")


def test_context_command_shows_origins(project: Path) -> None:
    """sekret context --json names every part and where it came from."""
    result = _cli().run(["--env", "production", "context", "--json"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["environment"] == "production"
    assert doc["origins"]["environment"] == {"kind": "flag", "where": "--env"}
    assert doc["origins"]["backend"]["where"].endswith("sekret.toml:10")
    assert doc["origins"]["read_only"]["kind"] == "manifest"
    text = _cli().run(["context"])
    assert "sekret.toml:2" in text.output
    assert "FROM" in text.output


def test_context_without_manifest_uses_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a manifest the defaults apply and are labelled as such."""
    monkeypatch.chdir(tmp_path)
    ctx = resolve_context(Flags(), {"SEKRET_APP": "a"})
    assert ctx.environment == "development"
    assert ctx.origins["backend"].kind == "default"
    assert ctx.origins["app"].where == "SEKRET_APP"


def test_context_masks_credentials_in_urls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A credential in a backend URL never reaches sekret context's output."""
    monkeypatch.chdir(tmp_path)
    secret = sentinel_value()
    result = _cli().run(
        ["--backend", f"vault+https://u:{secret}@v:8200/kv?token={secret}", "context"]
    )
    assert result.exit_code == 0
    assert secret not in result.output


def test_vault_write_gate_follows_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writable context opens Vault as admin, a read-only one does not (one rule for writes)."""
    monkeypatch.chdir(tmp_path)
    url = "vault+https://127.0.0.1:8200/secret"
    writable = resolve_context(Flags(backend=url, app="a"), {})
    assert writable.client_arguments()["admin"] is True
    read_only = resolve_context(Flags(backend=url, app="a", read_only=True), {})
    assert read_only.client_arguments()["admin"] is False
    local = resolve_context(Flags(app="a"), {})
    assert "admin" not in local.client_arguments()


def test_documented_dev_chain_works_for_versions_and_rotation_status(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """chain://?backends=env://,local://... answers versions and rotation status, no repr."""
    (tmp_path / "sekret.toml").write_text(
        'app = "arrwdb"\ndefault_environment = "development"\n'
        '[environments.development]\nbackend = "chain://?backends=env://,local://.sekret/s.db"\n'
        '[secrets.cohere-api-key]\nkind = "api_key"\n'
    )
    init_store(tmp_path / ".sekret" / "s.db")
    monkeypatch.chdir(tmp_path)
    cli = _cli()
    assert cli.run(["put", "cohere-api-key"], input=sentinel_value()).exit_code == 0
    cli.env["COHERE_API_KEY"] = sentinel_value()  # an env override in front of the store
    versions = cli.run(["versions", "cohere-api-key", "--json"])
    assert versions.exit_code == 0, versions.output
    assert [v["version"] for v in json.loads(versions.stdout)] == ["1"]
    status = cli.run(["rotation", "status", "--json"])
    assert status.exit_code == 0, status.output
    assert "Capability" not in status.output


def test_init_creates_the_dev_chain_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """sekret init in a project whose backend is the dev chain creates the chain's local store."""
    (tmp_path / "sekret.toml").write_text(
        'app = "arrwdb"\n[environments.development]\n'
        'backend = "chain://?backends=env://,local://.sekret/s.db"\n'
    )
    sub = tmp_path / "sub"
    sub.mkdir()
    monkeypatch.chdir(sub)
    result = _cli().run(["init"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / ".sekret" / "s.db").is_file()
    assert not (sub / ".sekret").exists()


def test_manifest_lines_are_found_only_when_shown(project: Path) -> None:
    """Resolving reads no line numbers; an origin finds its line once, when asked."""
    calls: list[int] = []

    def locate() -> str:
        calls.append(1)
        return "sekret.toml:2"

    origin = Origin("manifest", locate)
    assert calls == []
    assert (origin.where, str(origin), origin.where) == ("sekret.toml:2",) * 3
    assert calls == [1]
    assert origin == Origin("manifest", "sekret.toml:2")
    ctx = resolve_context(Flags(), {})
    manifest = ctx.origins["backend"]
    assert manifest.kind == "manifest"
    assert manifest._where is None  # not looked up by resolving
    assert manifest.where.endswith("sekret.toml:5")


def test_flags_replace_copies_with_changes() -> None:
    """Flags.replace returns a changed copy, leaves the original, refuses unknown names."""
    flags = Flags(app="a", read_only=True)
    changed = flags.replace(env="prod", read_only=False)
    assert changed == Flags(app="a", env="prod")
    assert flags == Flags(app="a", read_only=True)
    assert copy.copy(flags) == flags
    with pytest.raises(AttributeError):
        flags.app = "b"  # type: ignore[misc]
    with pytest.raises(TypeError):
        flags.replace(nope=1)
