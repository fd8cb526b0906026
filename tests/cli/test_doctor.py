"""`sekret doctor`: table or JSON, exit 0 unless a check fails (or warns, with --strict)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cli.clirunner import Cli
from conftest import need_service
from sekret._values import SecretValue
from sekret.backends.local import LocalBackend, init_store
from sekret.testing import SENTINEL_PREFIX, sentinel_value


@pytest.fixture(autouse=True)
def _needs_git() -> None:
    if shutil.which("git") is None:
        need_service("git", "the git command is not installed")


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A git project whose manifest declares one secret, stored in a local store."""
    root = tmp_path / "proj"
    store = root / ".sekret" / "dev.db"
    init_store(store)
    backend = LocalBackend(store)
    try:
        backend.write("arrwdb/development/api-key", SecretValue.of(sentinel_value()))
    finally:
        backend.close()
    (root / ".gitignore").write_text(".sekret/\n.env\n")
    (root / "sekret.toml").write_text(
        'app = "arrwdb"\ndefault_environment = "development"\n'
        f'[environments.development]\nbackend = "local://{store}"\n'
        '[secrets.api-key]\nkind = "api_key"\n'
    )
    subprocess.run(["git", "-C", str(root), "init", "-q"], check=True)
    return root


def _doctor(root: Path, *args: str) -> tuple[int, str, str]:
    result = Cli("unused").run(["doctor", "--manifest", str(root / "sekret.toml"), *args])
    assert SENTINEL_PREFIX not in result.output
    return result.exit_code, result.stdout, result.stderr


def test_clean_project_exits_zero(project: Path) -> None:
    """No failing check: exit 0 and a table with a summary line."""
    code, out, err = _doctor(project)
    assert code == 0, out + err
    assert "STATUS  CHECK" in out
    assert "0 failed" in out


def test_failing_check_exits_one(project: Path) -> None:
    """A committable .env fails: exit 1, the finding and its fix are printed."""
    (project / "deploy.env").write_text("X=1\n")
    code, out, _ = _doctor(project)
    assert code == 1
    assert "FAIL dotenv-committed" in out
    assert "  - deploy.env" in out
    assert "fix: " in out


def test_json_output(project: Path) -> None:
    """--json prints every check as a document, with ok false when one failed."""
    (project / ".env").write_text("X=1\n")
    (project / ".gitignore").write_text(".sekret/\n")
    code, out, _ = _doctor(project, "--json")
    doc = json.loads(out)
    assert code == 1
    assert doc["ok"] is False
    statuses = {c["id"]: c["status"] for c in doc["checks"]}
    assert statuses["dotenv-committed"] == "fail"
    assert statuses["secrets-exist"] == "pass"


def test_strict_fails_on_warnings(project: Path) -> None:
    """A warning exits 0, and 1 with --strict; --accept turns it into a skip."""
    manifest = project / "sekret.toml"
    manifest.write_text(
        manifest.read_text().replace(
            'kind = "api_key"\n', 'kind = "api_key"\nrotation_days = 365\n'
        )
    )
    assert _doctor(project)[0] == 0
    assert _doctor(project, "--strict")[0] == 1
    code, out, _ = _doctor(project, "--strict", "--accept", "rotation-schedules=vendor limit")
    assert code == 0
    assert "accepted (vendor limit)" in out


def test_env_option_and_bad_accept(project: Path) -> None:
    """An undeclared --env fails the manifest check; a malformed --accept is a usage error."""
    code, out, _ = _doctor(project, "--env", "staging")
    assert code == 1
    assert "environment 'staging' is not declared" in out
    code, _, err = _doctor(project, "--accept", "manifest")
    assert code == 2
    assert "CHECK_ID=REASON" in err


def test_unknown_accept_id_is_a_usage_error(project: Path) -> None:
    """--accept with a check id that does not exist exits 2 and lists the known ids."""
    code, _, err = _doctor(project, "--accept", "no-such-check=because")
    assert code == 2
    assert "no-such-check" in err
    assert "secrets-exist" in err


def test_production_checks_do_not_open_audit_sinks(project: Path, tmp_path: Path) -> None:
    """doctor --env production reads with a client that needs none of the app's audit sinks."""
    store = project / ".sekret" / "dev.db"
    backend = LocalBackend(store)
    try:
        backend.write("arrwdb/production/api-key", SecretValue.of(sentinel_value()))
    finally:
        backend.close()
    unwritable = tmp_path / "no-such-dir" / "deeper" / "audit.jsonl"
    (tmp_path / "no-such-dir").write_text("a file where a folder should be")
    text = (project / "sekret.toml").read_text()
    (project / "sekret.toml").write_text(
        text.replace(
            "[secrets.api-key]",
            f'[environments.production]\nbackend = "local://{store}"\nread_only = true\n'
            f'audit = ["jsonl://{unwritable}"]\n[secrets.api-key]',
        )
    )
    _, out, _ = _doctor(project, "--env", "production", "--json")
    checks = {c["id"]: c for c in json.loads(out)["checks"]}
    assert checks["secrets-exist"]["status"] == "pass", checks["secrets-exist"]


def test_no_manifest_gets_a_fitting_fix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without any manifest the fix says how to create one, not which key to correct."""
    monkeypatch.chdir(tmp_path)
    result = Cli("unused").run(["doctor", "--json"])
    checks = {c["id"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["manifest"]["status"] == "fail"
    assert "create sekret.toml" in checks["manifest"]["fix"]
