"""`sekret precommit FILE...` (sekret.cli.precommit) and the .pre-commit-hooks.yaml entry."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.clirunner import Cli
from sekret._values import SecretValue
from sekret.backends.local import LocalBackend, init_store
from sekret.cli.precommit import check_files
from sekret.testing import SENTINEL_PREFIX, sentinel_value

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A project with a manifest and a local store holding one value."""
    store = tmp_path / ".sekret" / "dev.db"
    init_store(store)
    value = sentinel_value("api")
    with LocalBackend(store) as backend:
        backend.write("arrwdb/development/api-key", SecretValue.of(value))
    (tmp_path / "sekret.toml").write_text(
        'app = "arrwdb"\ndefault_environment = "development"\n'
        f'[environments.development]\nbackend = "local://{store}"\n'
        '[secrets.api-key]\nkind = "api_key"\n'
    )
    monkeypatch.chdir(tmp_path)
    for var in ("SEKRET_ENV", "SEKRET_BACKEND", "SEKRET_APP"):
        monkeypatch.delenv(var, raising=False)
    return tmp_path, value


def test_only_the_given_files_are_checked(project: tuple[Path, str]) -> None:
    """A value in a given file and a given .env fail; the same in other files is not looked at."""
    root, value = project
    (root / "leak.py").write_text(f"KEY = '{value}'\n")
    (root / "other.py").write_text(f"KEY = '{value}'\n")
    (root / ".env").write_text("A=1\n")
    (root / "clean.py").write_text("print('hi')\n")
    results = {r.id: r for r in check_files([Path("clean.py")])}
    assert results["dotenv-committed"].status == "pass"
    assert results["values-in-source"].status == "pass"
    results = {r.id: r for r in check_files([Path("leak.py"), Path(".env"), Path("clean.py")])}
    assert results["dotenv-committed"].findings == (".env",)
    assert results["values-in-source"].findings == ("leak.py:1 (secret api-key)",)
    assert SENTINEL_PREFIX not in json.dumps([r.as_dict() for r in results.values()])


def test_command_exit_codes(project: tuple[Path, str]) -> None:
    """`sekret precommit` exits 1 naming file:line when a staged file holds a value, else 0."""
    root, value = project
    (root / "leak.py").write_text(f"\n\nKEY = '{value}'\n")
    (root / "clean.py").write_text("print('hi')\n")
    cli = Cli("unused://")
    ok = cli.run(["precommit", "clean.py"])
    assert ok.exit_code == 0, ok.output
    bad = cli.run(["precommit", "clean.py", "leak.py", "--json"])
    assert bad.exit_code == 1
    doc = json.loads(bad.stdout)
    assert doc["ok"] is False
    assert "leak.py:3 (secret api-key)" in json.dumps(doc)
    assert value not in bad.output


def test_without_manifest_only_dotenv_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a manifest the value check is skipped (not failed); .env still fails."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env.local").write_text("A=1\n")
    results = {r.id: r for r in check_files([Path(".env.local")], root=tmp_path)}
    assert results["values-in-source"].status == "skip"
    assert results["dotenv-committed"].status == "fail"


def test_hook_file_declares_the_command() -> None:
    """.pre-commit-hooks.yaml runs `sekret precommit` on the staged files."""
    text = (REPO / ".pre-commit-hooks.yaml").read_text()
    assert "- id: sekret-precommit" in text
    assert "entry: sekret precommit" in text
    assert "pass_filenames: true" in text
