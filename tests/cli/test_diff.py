"""`sekret diff ENV_A ENV_B` on the local store and on OpenBao."""

from __future__ import annotations

import json
from pathlib import Path

from cli.clirunner import Cli
from sekret.testing import sentinel_value


def _manifest(tmp_path: Path, cli: Cli) -> Path:
    path = tmp_path / "sekret.toml"
    path.write_text(
        f'app = "{cli.app}"\n'
        f'[environments.development]\nbackend = "{cli.backend}"\n'
        f'[environments.production]\nbackend = "{cli.backend}"\n'
        '[secrets.cohere-api-key]\nkind = "api_key"\n'
        '[secrets.database]\nkind = "db_credentials"\n'
    )
    return path


def _put(cli: Cli, env: str, name: str, value: str) -> None:
    result = cli("put", name, input=value, env=env)
    assert result.exit_code == 0, result.stderr


def test_diff_finds_planted_drift_and_reuse_without_values(ops_cli: Cli, tmp_path: Path) -> None:
    """Missing, extra and a production value reused in development: exit 1, no value shown."""
    manifest = _manifest(tmp_path, ops_cli)
    shared = sentinel_value("reused-")
    _put(ops_cli, "production", "cohere-api-key", shared)
    _put(ops_cli, "development", "cohere-api-key", shared)
    _put(ops_cli, "production", "database", json.dumps({"password": sentinel_value()}))
    _put(ops_cli, "development", "stray", sentinel_value())
    result = ops_cli("diff", "development", "production", "--manifest", str(manifest), "--json")
    assert result.exit_code == 1, result.stderr
    report = json.loads(result.stdout)
    found = {(f["check"], f["name"], f["environment"]) for f in report["findings"]}
    assert found == {
        ("missing", "database", "development"),
        ("extra", "stray", "development"),
        ("reuse", "cohere-api-key", None),
    }
    assert shared not in result.output
    text = ops_cli("diff", "development", "production", "--manifest", str(manifest))
    assert text.exit_code == 1
    assert "development:cohere-api-key holds the same value as production:cohere-api-key" in (
        text.stdout
    )
    assert shared not in text.output


def test_diff_of_agreeing_environments_exits_zero(ops_cli: Cli) -> None:
    """Same names, different values, no manifest: the two environments agree (exit 0)."""
    for env in ("staging", "production"):
        _put(ops_cli, env, "cohere-api-key", sentinel_value())
    result = ops_cli("diff", "staging", "production")
    assert result.exit_code == 0, result.stderr
    assert "agree (1 secrets compared)" in result.stdout


def test_diff_reads_each_environment_from_the_manifest(tmp_path: Path, cli: Cli) -> None:
    """Without --backend, each environment's backend comes from its manifest table."""
    other = tmp_path / "prod.db"
    from sekret.backends.local import init_store

    init_store(other)
    manifest = tmp_path / "sekret.toml"
    manifest.write_text(
        'app = "arrwdb"\n'
        f'[environments.development]\nbackend = "{cli.backend}"\n'
        f'[environments.production]\nbackend = "local://{other}"\n'
        '[secrets.cohere-api-key]\nkind = "api_key"\n'
    )
    _put(cli, "development", "cohere-api-key", sentinel_value())
    result = cli.run(["diff", "development", "production", "--manifest", str(manifest), "--json"])
    assert result.exit_code == 1, result.stderr
    findings = json.loads(result.stdout)["findings"]
    assert findings == [
        {
            "check": "missing",
            "name": "cohere-api-key",
            "environment": "production",
            "detail": "declared but not stored in production",
        }
    ]


def test_diff_refuses_one_environment_twice(cli: Cli) -> None:
    """Comparing an environment with itself is a usage error (exit 2)."""
    result = cli("diff", "production", "production")
    assert result.exit_code == 2
    assert "two different environments" in result.stderr
