"""sekret.cli._fast: `sekret get NAME` without click prints, fails and audits as click's would."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sekret import Secrets, SecretValue
from sekret.backends.local import init_store
from sekret.cli import main
from sekret.testing import sentinel_value


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, str]:
    """A local store holding ``api-key`` (and a JSON audit log) named by a sekret.toml."""
    for name in ("SEKRET_BACKEND", "SEKRET_APP", "SEKRET_ENV", "SEKRET_MANIFEST"):
        monkeypatch.delenv(name, raising=False)
    store, log = tmp_path / "store.db", tmp_path / "audit.jsonl"
    init_store(store)
    (tmp_path / "sekret.toml").write_text(
        'app = "fast"\ndefault_environment = "development"\n\n'
        f'[environments.development]\nbackend = "local://{store}"\naudit = ["jsonl://{log}"]\n'
    )
    value = sentinel_value("fast")
    with Secrets(f"local://{store}", app="fast", environment="development", cache=False) as c:
        c.put("api-key", SecretValue.of(value))
    monkeypatch.chdir(tmp_path)
    return log, value


def _run(args: list[str], capfdbinary: pytest.CaptureFixture[bytes]) -> tuple[int, bytes, bytes]:
    code = main(args)
    out, err = capfdbinary.readouterr()
    return code, out, err


def test_plain_get_prints_what_the_click_command_prints(
    project: tuple[Path, str], capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    """`get NAME` (no click) and `--env development get NAME` (click) print the same bytes."""
    _, value = project
    fast = _run(["get", "api-key"], capfdbinary)
    slow = _run(["--env", "development", "get", "api-key"], capfdbinary)
    assert fast == slow
    assert fast[0] == 0
    assert fast[1] == value.encode() + b"\n"


@pytest.mark.parametrize("name", ["api-ky", "missing", "Bad Name!"])
def test_a_failed_get_reports_as_the_click_command_does(
    project: tuple[Path, str], capfdbinary: pytest.CaptureFixture[bytes], name: str
) -> None:
    """Not found (with its "did you mean"), a bad name: the same message and exit code."""
    fast = _run(["get", name], capfdbinary)
    slow = _run(["--env", "development", "get", name], capfdbinary)
    assert fast == slow
    assert fast[0] != 0
    assert fast[2].startswith(b"sekret: error: ")


def test_a_get_without_an_app_falls_back_to_click(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    """No manifest, no app: the click command reports it (usage, exit 2) as it always did."""
    for name in ("SEKRET_BACKEND", "SEKRET_APP", "SEKRET_ENV", "SEKRET_MANIFEST"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(["get", "api-key"], capfdbinary)
    assert code == 2
    assert out == b""
    assert b"no app given" in err
    assert b"see 'sekret get --help'" in err


def test_each_get_is_one_read_in_the_audit(
    project: tuple[Path, str], capfdbinary: pytest.CaptureFixture[bytes]
) -> None:
    """A plain get, found or not, is one read in the audit (a miss also lists, to suggest)."""
    log, value = project
    assert _run(["get", "api-key"], capfdbinary)[0] == 0
    assert _run(["get", "missing"], capfdbinary)[0] == 3
    events = [json.loads(line) for line in log.read_text().splitlines()]
    reads = [(e["action"], e["secret"], e["outcome"]) for e in events if e["secret"]]
    assert reads == [
        ("secret.read", "fast/development/api-key", "success"),
        ("secret.read", "fast/development/missing", "failure"),
    ]
    assert value not in log.read_text()
