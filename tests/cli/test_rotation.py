"""`sekret rotate`, `sekret rotation status` and `sekret revoke-previous`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.clirunner import Cli
from sekret.testing import sentinel_value


@pytest.fixture
def manifest(tmp_path: Path, store_url: str) -> Path:
    path = tmp_path / "sekret.toml"
    path.write_text(
        'app = "arrwdb"\n'
        "[environments.development]\n"
        f'backend = "{store_url}"\n'
        '[secrets.cohere-api-key]\nkind = "api_key"\n'
        '[secrets.database]\nkind = "db_credentials"\nrotator = "random"\n'
        '[secrets.notes]\nkind = "generic"\n'
    )
    return path


def _seed(cli: Cli, *names: str) -> dict[str, str]:
    values = {}
    for name in names:
        values[name] = sentinel_value()
        assert cli("put", name, input=values[name]).exit_code == 0
    return values


def test_rotate_one_secret(cli: Cli) -> None:
    """rotate NAME makes a new current version and reports it without the value."""
    old = _seed(cli, "cohere-api-key")["cohere-api-key"]
    result = cli(
        "rotate", "cohere-api-key", "--rotator", "random", "--option", "prefix=sk_", "--json"
    )
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["outcome"] == "rotated"
    assert report["version"] == "2"
    assert report["steps"] == ["create", "set", "test", "finish"]
    assert old not in result.output
    versions = json.loads(cli("versions", "cohere-api-key", "--json").stdout)
    assert [v["stages"] for v in versions] == [["previous"], ["current"]]


def test_status_and_due_use_the_manifest_schedule(cli: Cli, manifest: Path) -> None:
    """status shows due dates; --due rotates only what is overdue as of a given time."""
    _seed(cli, "cohere-api-key", "database", "notes")
    status = cli("rotation", "status", "--manifest", str(manifest), "--json")
    assert status.exit_code == 0, status.stderr
    rows = {r["name"]: r for r in json.loads(status.stdout)}
    assert rows["cohere-api-key"]["interval_days"] == 90
    assert rows["database"]["interval_days"] == 30
    assert rows["notes"]["interval_days"] is None
    assert not any(r["overdue"] for r in rows.values())

    nothing = cli("rotate", "--due", "--manifest", str(manifest))
    assert nothing.exit_code == 0
    assert "nothing is due" in nothing.stdout

    later = cli(
        "rotate", "--due", "--manifest", str(manifest), "--as-of", "2099-01-01", "--yes", "--json"
    )
    assert later.exit_code == 1, later.stderr  # cohere-api-key is due but has no rotator
    rotated = {r["name"]: r["outcome"] for r in json.loads(later.stdout)}
    assert rotated == {"cohere-api-key": "manual", "database": "rotated"}
    table = cli("rotation", "status", "--manifest", str(manifest))
    assert "cohere-api-key" in table.stdout
    assert "NEXT DUE" in table.stdout


def test_due_exit_code_reports_failures(cli: Cli, manifest: Path) -> None:
    """A due rotation that fails (here: invalid rotator options) makes --due exit 1."""
    _seed(cli, "cohere-api-key", "database")
    bad = cli(
        "rotate",
        "--due",
        "--manifest",
        str(manifest),
        "--as-of",
        "2099-01-01",
        "--yes",
        "--option",
        "length=3",
    )
    assert bad.exit_code == 1
    assert "length" in bad.stdout


def test_rollback_of_nothing_pending_is_harmless(cli: Cli) -> None:
    """rotate NAME --rollback with no pending rotation changes nothing."""
    _seed(cli, "k")
    result = cli("rotate", "k", "--rollback")
    assert result.exit_code == 0, result.stderr
    assert "rolled_back" in result.stdout


def test_manual_procedure_stage_promote_revoke(cli: Cli) -> None:
    """put --stage pending, promote, then revoke-previous leaves only current."""
    _seed(cli, "k")
    assert cli("put", "k", "--stage", "pending", input=sentinel_value()).exit_code == 0
    assert cli("promote", "k").exit_code == 0
    assert cli("revoke-previous", "k").exit_code == 0
    versions = json.loads(cli("versions", "k", "--json").stdout)
    assert [v["stages"] for v in versions] == [[], ["current"]]


def test_usage_errors(cli: Cli) -> None:
    """NAME and --due together, or neither, is a usage error; bad options too."""
    assert cli("rotate").exit_code == 2
    assert cli("rotate", "k", "--due").exit_code == 2
    _seed(cli, "k")
    assert cli("rotate", "k", "--option", "novalue").exit_code == 2


def test_manifest_rotator_options_are_used(cli: Cli, tmp_path: Path, store_url: str) -> None:
    """rotator_options from the manifest shape the new value; --option overrides them."""
    path = tmp_path / "sekret.toml"
    path.write_text(
        'app = "arrwdb"\n[environments.development]\n'
        f'backend = "{store_url}"\n'
        '[secrets.tenant-key]\nkind = "api_key"\nrotator = "api_key"\n'
        '[secrets.tenant-key.rotator_options]\nprefix = "tk_"\nlength = 20\n'
    )
    _seed(cli, "tenant-key")
    assert cli("rotate", "tenant-key", "--manifest", str(path)).exit_code == 0
    first = cli("get", "tenant-key", "-n").stdout
    assert first.startswith("tk_")
    assert len(first) == 23
    assert cli("rotate", "tenant-key", "--manifest", str(path), "-o", "length=30").exit_code == 0
    assert len(cli("get", "tenant-key", "-n").stdout) == 33


def test_no_rotator_refuses_and_prints_the_manual_procedure(cli: Cli, manifest: Path) -> None:
    """A secret without a rotator is never replaced: rotate exits 1, prints the manual steps."""
    old = _seed(cli, "cohere-api-key")["cohere-api-key"]
    result = cli("rotate", "cohere-api-key", "--manifest", str(manifest))
    assert result.exit_code == 1
    for step in ("put cohere-api-key --stage pending", "promote", "revoke-previous"):
        assert step in result.stderr
    assert cli("get", "cohere-api-key").stdout.rstrip("\n") == old
    assert len(json.loads(cli("versions", "cohere-api-key", "--json").stdout)) == 1


def test_rotator_keeps_json_kind(cli: Cli) -> None:
    """A rotator that would turn JSON credentials into text is refused; nothing is written."""
    password = sentinel_value()
    doc = json.dumps({"username": "app", "password": password})
    assert cli("put", "db", "--json-value", input=doc).exit_code == 0
    refused = cli("rotate", "db", "--rotator", "random")
    assert refused.exit_code == 1
    assert "json object with keys password, username" in refused.stderr
    assert password not in refused.output
    assert len(json.loads(cli("versions", "db", "--json").stdout)) == 1
    ok = cli("rotate", "db", "--rotator", "random", "-o", "field=password")
    assert ok.exit_code == 0, ok.stderr
    new = json.loads(cli("get", "db").stdout)
    assert set(new) == {"username", "password"}
    assert new["username"] == "app"
    assert new["password"] != password


def test_dry_run_prints_the_plan_and_changes_nothing(cli: Cli, manifest: Path) -> None:
    """--dry-run (NAME or --due) lists what is due, the rotator and the steps; no write."""
    _seed(cli, "cohere-api-key", "database")
    plan = cli(
        "rotate",
        "--due",
        "--manifest",
        str(manifest),
        "--as-of",
        "2099-01-01",
        "--dry-run",
        "--json",
    )
    assert plan.exit_code == 0, plan.stderr
    entries = {e["name"]: e for e in json.loads(plan.stdout)["plan"]}
    assert entries["database"]["rotator"] == "random"
    assert entries["database"]["steps"][0].startswith("create")
    assert entries["cohere-api-key"]["rotator"] is None
    assert "promote" in " ".join(entries["cohere-api-key"]["steps"])
    one = cli("rotate", "database", "--manifest", str(manifest), "--dry-run")
    assert "rotator random" in one.stdout
    for name in ("cohere-api-key", "database"):
        assert len(json.loads(cli("versions", name, "--json").stdout)) == 1


def test_as_of_without_dry_run_needs_confirmation(cli: Cli, manifest: Path) -> None:
    """rotate --due --as-of without --dry-run or --yes is refused (usage, exit 2)."""
    _seed(cli, "database")
    result = cli("rotate", "--due", "--manifest", str(manifest), "--as-of", "2099-01-01")
    assert result.exit_code == 2
    assert "--dry-run" in result.stderr
    assert len(json.loads(cli("versions", "database", "--json").stdout)) == 1


def test_status_shows_expiry_within_days(ops_cli: Cli, tmp_path: Path) -> None:
    """status --within flags an expires_at inside the window and EXPIRED past it (--as-of)."""
    cli = ops_cli
    manifest = tmp_path / "ops.toml"
    manifest.write_text(
        f'app = "{cli.app}"\n[environments.development]\nbackend = "{cli.backend}"\n'
        '[secrets.cohere-api-key]\nkind = "api_key"\n'
    )
    value = sentinel_value()
    put = cli("put", "cohere-api-key", "--meta", "expires_at=2027-01-01", input=value)
    assert put.exit_code == 0, put.stderr
    base = ("rotation", "status", "--manifest", str(manifest))
    early = cli(*base, "--as-of", "2026-11-01", "--json")
    rows = {r["name"]: r for r in json.loads(early.stdout)}
    assert rows["cohere-api-key"]["expires_at"] == "2027-01-01T00:00:00+00:00"
    assert rows["cohere-api-key"]["expiring"] is False
    soon = cli(*base, "--as-of", "2026-12-10", "--within", "30")
    assert "expires in 22d" in soon.stdout
    late = cli(*base, "--as-of", "2027-01-02")
    assert "EXPIRED" in late.stdout
    assert value not in late.output


def test_revoke_previous_names_the_version_and_uses_the_manifest(cli: Cli, manifest: Path) -> None:
    """revoke-previous prints the revoked version; a rotator without revoke acts in sekret only."""
    _seed(cli, "database")
    assert cli("rotate", "database", "--manifest", str(manifest)).exit_code == 0
    result = cli("revoke-previous", "database", "--manifest", str(manifest))
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "database: previous version 1 revoked"
    again = cli("revoke-previous", "database", "--manifest", str(manifest))
    assert again.exit_code == 3  # nothing left to revoke
