"""`sekret read`, `sekret get NAME#field` and `sekret inject` (sekret.cli.inject)."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cli.clirunner import Cli
from sekret import Secrets
from sekret.testing import sentinel_value

SEKRET = [sys.executable, "-c", "import sys; from sekret.cli import main; sys.exit(main())"]
WAIT = 30.0  # upper bound for a background process on a loaded machine (never asserted on)


def _put(cli: Cli, name: str, value: str, *args: str) -> None:
    result = cli("put", name, *args, input=value + "\n")
    assert result.exit_code == 0, result.stderr


@pytest.mark.reveals
def test_read_prints_one_value(cli: Cli) -> None:
    """`read` prints the value a reference names: short, #field, @v1, app/env path."""
    _put(cli, "db", json.dumps({"password": "pw-1", "port": 5432}), "--json-value")
    _put(cli, "db", json.dumps({"password": "pw-2", "port": 5432}), "--json-value")
    assert cli("read", "sekret://db#password").stdout == "pw-2\n"
    assert cli("read", "sekret://db@v1#password", "-n").stdout == "pw-1"
    assert cli("read", "sekret://arrwdb/development/db#port").stdout == "5432\n"
    doc = json.loads(cli("read", "sekret://db#password", "--json").stdout)
    assert doc["field"] == "password"
    assert doc["value"] == "pw-2"


@pytest.mark.reveals
def test_get_takes_a_field(cli: Cli) -> None:
    """`get NAME#field` prints that field; plain `get NAME` is unchanged."""
    _put(cli, "database", json.dumps({"password": "pw-3"}), "--json-value")
    assert cli("get", "database#password").stdout == "pw-3\n"
    assert json.loads(cli("get", "database").stdout) == {"password": "pw-3"}


def test_read_errors_are_one_line_without_value(cli: Cli) -> None:
    """A bad reference, another environment or a missing field is one line, no value."""
    value = sentinel_value()
    _put(cli, "db", json.dumps({"password": value}), "--json-value")
    for ref, code in (
        ("sekret://db#user", 3),
        ("sekret://arrwdb/production/db", 2),
        ("sekret://db#password@v1", 2),
        ("op://x/y", 2),
    ):
        result = cli("read", ref)
        assert result.exit_code == code, (ref, result.stderr)
        assert result.stderr.startswith("sekret: error: ")
        assert result.stderr.count("\n") == 1
        assert value not in result.output


def test_inject_renders_a_private_file(cli: Cli, tmp_path: Path) -> None:
    """`inject -i -o` writes the rendered template 0600; unknown syntax names file:line."""
    value = sentinel_value()
    _put(cli, "api-key", value)
    tpl = tmp_path / "config.tpl"
    tpl.write_text('api:\n  key: "{{ sekret "sekret://api-key" }}"\n')
    out = tmp_path / "config.yaml"
    result = cli("inject", "-i", str(tpl), "-o", str(out))
    assert result.exit_code == 0, result.stderr
    assert value not in result.output
    assert out.read_text() == f'api:\n  key: "{value}"\n'
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    tpl.write_text("a: 1\nb: {{ .Data.data.password }}\n")
    result = cli("inject", "-i", str(tpl), "-o", str(out))
    assert result.exit_code == 8
    assert f"{tpl}:2:4" in result.stderr
    assert out.read_text() == f'api:\n  key: "{value}"\n'


def test_inject_on_change_runs_only_when_the_file_changes(cli: Cli, tmp_path: Path) -> None:
    """--on-change runs after a render that changed the file, not after an unchanged one."""
    _put(cli, "api-key", sentinel_value())
    tpl = tmp_path / "t.tpl"
    tpl.write_text('{{ sekret "sekret://api-key" }}')
    marker = tmp_path / "marker"
    hook = f"{sys.executable} -c \"open({str(marker)!r}, 'a').write('x')\""
    for _ in range(2):
        result = cli("inject", "-i", str(tpl), "-o", str(tmp_path / "out"), "--on-change", hook)
        assert result.exit_code == 0, result.stderr
    assert marker.read_text() == "x"


def _wait_for(predicate: object, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_inject_watch_rerenders_after_put(store_url: str, tmp_path: Path) -> None:
    """A running `inject --watch` re-renders after a `put` and runs --on-change; SIGTERM ends it."""
    secrets = Secrets(store_url, app="arrwdb", environment="development")
    first, second = sentinel_value("one"), sentinel_value("two")
    secrets.put("api-key", first)
    tpl = tmp_path / "t.tpl"
    tpl.write_text('K={{ sekret "sekret://api-key" }}\n')
    out, marker = tmp_path / "out.env", tmp_path / "reloads"
    hook = f"{sys.executable} -c \"open({str(marker)!r}, 'a').write('x')\""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    env.pop("SEKRET_READ_ONLY", None)
    argv = ["--backend", store_url, "--app", "arrwdb", "--env", "development"]
    argv += ["inject", "-i", str(tpl), "-o", str(out), "--watch", "--interval", "0.1"]
    proc = subprocess.Popen(
        [*SEKRET, *argv, "--on-change", hook],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        _wait_for(lambda: out.exists() and out.read_text() == f"K={first}\n", "first render")
        secrets.put("api-key", second)
        _wait_for(lambda: out.exists() and out.read_text() == f"K={second}\n", "re-render")
        _wait_for(lambda: marker.exists() and marker.read_text() == "xx", "two reloads")
    finally:
        proc.send_signal(signal.SIGTERM)
        stdout, stderr = proc.communicate(timeout=WAIT)
        secrets.close()
    assert proc.returncode == 0, stderr
    assert first.encode() not in stdout + stderr
    assert second.encode() not in stdout + stderr
