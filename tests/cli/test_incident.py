"""`sekret incident NAME` and `sekret rotate NAME --compromised` on the local store and OpenBao."""

from __future__ import annotations

import json
from pathlib import Path

from cli.clirunner import Cli
from sekret.testing import sentinel_value


def _stages(cli: Cli, name: str) -> list[list[str]]:
    result = cli("versions", name, "--json", env="production")
    assert result.exit_code == 0, result.stderr
    return [v["stages"] for v in json.loads(result.stdout)]


def test_incident_rotates_revokes_and_prints_the_checklist(ops_cli: Cli) -> None:
    """The leaked version is replaced and previous revoked at once; the checklist is filled in."""
    leaked = sentinel_value()
    assert ops_cli("put", "cohere-api-key", input=leaked, env="production").exit_code == 0
    result = ops_cli(
        "incident",
        "cohere-api-key",
        "--rotator",
        "random",
        "--since",
        "2026-11-29T12:00:00",
        env="production",
    )
    assert result.exit_code == 0, result.stderr
    assert "cohere-api-key: rotated, current version 2" in result.stdout
    assert "previous version 1 revoked" in result.stdout
    full = f"{ops_cli.app}/production/cohere-api-key"
    assert (
        f"sekret audit show AUDIT.jsonl --secret {full} --action 'secret.read*'"
        " --since 2026-11-29T12:00:00+00:00"
    ) in result.stdout
    assert "revoke the old value at the vendor" in result.stdout
    assert _stages(ops_cli, "cohere-api-key") == [[], ["current"]]
    assert leaked not in result.output


def test_a_secret_without_rotator_is_not_pretended_rotated(ops_cli: Cli) -> None:
    """No rotator: exit 1, 'NOT rotated', the manual procedure, nothing written."""
    assert ops_cli("put", "vendor-key", input=sentinel_value(), env="production").exit_code == 0
    result = ops_cli("incident", "vendor-key", "--json", env="production")
    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["outcome"] == "manual"
    assert report["checklist"][0].startswith("MANUAL ROTATION NEEDED")
    assert _stages(ops_cli, "vendor-key") == [["current"]]


def test_rotate_compromised_uses_the_manifest_rotator_and_audits(tmp_path: Path, cli: Cli) -> None:
    """rotate --compromised is the incident; the manifest's audit file gets the event."""
    log = tmp_path / "audit.jsonl"
    manifest = tmp_path / "sekret.toml"
    manifest.write_text(
        'app = "arrwdb"\n'
        f'[environments.production]\nbackend = "{cli.backend}"\naudit = ["jsonl://{log}"]\n'
        '[secrets.api-key]\nkind = "api_key"\nrotator = "api_key"\n'
    )
    assert cli("put", "api-key", input=sentinel_value(), env="production").exit_code == 0
    result = cli.run(
        ["--env", "production", "rotate", "api-key", "--compromised", "--manifest", str(manifest)]
    )
    assert result.exit_code == 0, result.stderr
    assert f"sekret audit show {log} --secret arrwdb/production/api-key" in result.stdout
    events = [json.loads(line) for line in log.read_text().splitlines()]
    incident = [e for e in events if e["action"] == "secret.incident"]
    assert len(incident) == 1
    assert incident[0]["incident"] == "rotated"
    assert incident[0]["revoked_version"] == "1"
