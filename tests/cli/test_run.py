"""``sekret run`` and ``sekret export``, driven as real processes over an env:// manifest."""

from __future__ import annotations

import json
import os
import pty
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from dotenv import dotenv_values

from sekret import SecretValue
from sekret.backends.env import EnvBackend
from sekret.cli.run import render, run_child
from sekret.integrations.redaction import Redactor
from sekret.testing import sentinel_value

SEKRET = [sys.executable, "-c", "import sys; from sekret.cli import main; sys.exit(main())"]
WAIT = 30.0  # generous upper bound for a child to show up on a loaded machine


def _wait_for(predicate: object, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A project whose manifest reads two secrets from a .env file."""
    (tmp_path / "sekret.toml").write_text(
        textwrap.dedent(
            """\
            app = "arrwdb"
            default_environment = "development"
            [environments.development]
            backend = "env://?dotenv=.env"
            [secrets.cohere-api-key]
            kind = "api_key"
            [secrets.db-credentials]
            kind = "db_credentials"
            env = "DATABASE_CREDENTIALS"
            """
        )
    )
    for var in ("COHERE_API_KEY", "DATABASE_CREDENTIALS"):  # SEKRET_*: tests/conftest.py
        monkeypatch.delenv(var, raising=False)
    return tmp_path


def _write_env(project: Path, key: str, password: str = "pw-0000") -> None:
    creds = json.dumps({"username": "app", "password": password})
    (project / ".env").write_text(f"COHERE_API_KEY='{key}'\nDATABASE_CREDENTIALS='{creds}'\n")


def _sekret(
    project: Path, *args: str, stdout: int = subprocess.PIPE
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [*SEKRET, *args],
        cwd=project,
        stdout=stdout,
        stderr=subprocess.PIPE,
        timeout=WAIT,
        check=False,
    )


def _script(project: Path, name: str, body: str) -> str:
    path = project / name
    path.write_text(textwrap.dedent(body))
    return str(path)


def test_run_sets_variables_and_passes_exit_code(project: Path) -> None:
    """The child sees the manifest's variables; its exit code is sekret's."""
    _write_env(project, "key-1234")
    child = _script(
        project,
        "child.py",
        """\
        import json, os, sys
        open("seen.json", "w").write(json.dumps({
            "key": os.environ["COHERE_API_KEY"],
            "db": json.loads(os.environ["DATABASE_CREDENTIALS"]),
        }))
        sys.exit(7)
        """,
    )
    done = _sekret(project, "run", "--", sys.executable, child)
    assert done.returncode == 7
    seen = json.loads((project / "seen.json").read_text())
    assert seen == {"key": "key-1234", "db": {"username": "app", "password": "pw-0000"}}
    assert b"key-1234" not in done.stdout + done.stderr


def test_run_killed_child_gives_128_plus_signal(project: Path) -> None:
    """A child killed by SIGKILL makes sekret exit with 128+9."""
    _write_env(project, "key-1234")
    child = _script(project, "die.py", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    assert _sekret(project, "run", "--", sys.executable, child).returncode == 128 + 9


@pytest.mark.slow
def test_run_forwards_sigterm(project: Path) -> None:
    """SIGTERM sent to sekret reaches the child, whose exit code comes back."""
    _write_env(project, "key-1234")
    child = _script(
        project,
        "term.py",
        """\
        import signal, sys, time
        signal.signal(signal.SIGTERM, lambda *a: sys.exit(42))
        open("ready", "w").close()
        while True:
            time.sleep(0.05)
        """,
    )
    proc = subprocess.Popen([*SEKRET, "run", "--", sys.executable, child], cwd=project)
    try:
        _wait_for(lambda: (project / "ready").exists(), "the child to start")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(WAIT) == 42
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_run_missing_secret_fails_naming_it(project: Path) -> None:
    """A declared secret that is not set stops run with its name; --allow-missing starts."""
    (project / ".env").write_text("COHERE_API_KEY=k-123456\n")
    done = _sekret(project, "run", "--", sys.executable, "-c", "pass")
    assert done.returncode != 0
    assert b"db-credentials" in done.stderr
    ok = _sekret(project, "run", "--allow-missing", "--", sys.executable, "-c", "pass")
    assert ok.returncode == 0
    assert b"db-credentials" in ok.stderr


def test_run_unknown_command(project: Path) -> None:
    """A command that does not exist is one clear error line."""
    _write_env(project, "key-1234")
    done = _sekret(project, "run", "--", "no-such-command-sekret-test")
    assert done.returncode == 1
    assert b"command not found: no-such-command-sekret-test" in done.stderr


def test_mask_hides_values_split_across_writes(project: Path) -> None:
    """--mask replaces a value printed in two separate writes (stdout and stderr) with ***."""
    key = sentinel_value()
    password = sentinel_value("pw")
    _write_env(project, key, password)
    child = _script(
        project,
        "leak.py",
        """\
        import json, os, sys, time
        key = os.environ["COHERE_API_KEY"]
        for stream in (sys.stdout, sys.stderr):
            stream.write("key=" + key[:9]); stream.flush(); time.sleep(0.05)
            stream.write(key[9:] + " done\\n"); stream.flush()
        db = json.loads(os.environ["DATABASE_CREDENTIALS"])
        print("user", db["username"], "password", db["password"], flush=True)
        """,
    )
    done = _sekret(project, "run", "--mask", "--mask-timeout", "10", "--", sys.executable, child)
    assert done.returncode == 0
    out, err = done.stdout.decode(), done.stderr.decode()
    assert "key=*** done" in out
    assert "key=*** done" in err
    assert "user app password ***" in out
    assert key not in out + err
    assert password not in out + err


@pytest.mark.slow
def test_watch_restarts_child_on_rotation(project: Path) -> None:
    """--watch stops the child and starts it again with the new value after a rotation."""
    _write_env(project, "first-value")
    child = _script(
        project,
        "watched.py",
        """\
        import os, sys, time
        value = os.environ["COHERE_API_KEY"]
        with open("runs.txt", "a") as f:
            f.write(value + "\\n")
        if value == "second-value":
            sys.exit(0)
        while True:
            time.sleep(0.05)
        """,
    )
    proc = subprocess.Popen(
        [
            *SEKRET,
            "run",
            "--watch",
            "--interval",
            "0.05",
            "--grace",
            "5",
            "--",
            sys.executable,
            child,
        ],
        cwd=project,
        stderr=subprocess.PIPE,
    )
    runs = project / "runs.txt"
    try:
        _wait_for(lambda: runs.exists() and runs.read_text(), "the first child")
        _write_env(project, "second-value")
        assert proc.wait(WAIT) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert runs.read_text().split() == ["first-value", "second-value"]
    assert proc.stderr is not None
    assert b"cohere-api-key rotated; restarting" in proc.stderr.read()


@pytest.mark.slow
def test_watch_escalates_to_sigkill(tmp_path: Path) -> None:
    """A child ignoring SIGTERM is killed after the grace period and restarted."""
    child = _script(
        tmp_path,
        "stubborn.py",
        """\
        import os, signal, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        with open(sys.argv[1], "a") as f:
            f.write(os.environ["V"] + "\\n")
        if os.environ["V"] == "2":
            sys.exit(3)
        while True:
            time.sleep(0.05)
        """,
    )
    starts = tmp_path / "starts.txt"
    calls: list[int] = []

    def watch() -> dict[str, str] | None:
        if not (starts.exists() and starts.read_text()):
            return None
        calls.append(1)
        return {**os.environ, "V": "2"} if len(calls) == 1 else None

    code = run_child(
        [sys.executable, child, str(starts)],
        {**os.environ, "V": "1"},
        watch=watch,
        interval=0.05,
        grace=0.3,
    )
    assert code == 3
    assert starts.read_text().split() == ["1", "2"]


# -- export -------------------------------------------------------------------------------
@pytest.mark.reveals
def test_export_dotenv_round_trips(project: Path) -> None:
    """export --format dotenv output parses back (python-dotenv and env://) to the same values."""
    tricky = 'it\'s a \\ "quoted" $HOME ${X} value'
    _write_env(project, "plain-key")
    creds = '{"username": "app", "password": "pw-0000"}'
    (project / ".env").write_text(
        "COHERE_API_KEY='" + tricky.replace("\\", "\\\\").replace("'", "\\'") + "'\n"
        f"DATABASE_CREDENTIALS='{creds}'\n"
    )
    done = _sekret(project, "export")
    assert done.returncode == 0, done.stderr
    out = project / "exported.env"
    out.write_bytes(done.stdout)
    parsed = dotenv_values(out, interpolate=False)
    assert parsed["COHERE_API_KEY"] == tricky
    assert json.loads(parsed["DATABASE_CREDENTIALS"] or "") == json.loads(creds)
    again = EnvBackend(dotenv=out, environ={})
    assert again.read("arrwdb/development/cohere-api-key").value.text() == tricky
    assert b"warning" not in done.stderr


def test_export_json_to_private_file(project: Path) -> None:
    """export --format json --output writes a 0600 file and prints no value."""
    _write_env(project, "key-1234")
    target = project / "out.json"
    target.write_text("{}")
    target.chmod(0o644)
    done = _sekret(project, "export", "--format", "json", "--output", str(target))
    assert done.returncode == 0, done.stderr
    assert target.stat().st_mode & 0o777 == 0o600
    assert json.loads(target.read_text())["COHERE_API_KEY"] == "key-1234"
    assert b"key-1234" not in done.stdout + done.stderr


@pytest.mark.reveals
def test_export_warns_on_a_terminal(project: Path) -> None:
    """Writing to a terminal prints a warning on stderr."""
    _write_env(project, "key-1234")
    leader, follower = pty.openpty()
    try:
        done = _sekret(project, "export", stdout=follower)
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 0
    assert b"warning: writing secret values to a terminal" in done.stderr


def test_render_formats() -> None:
    """render sorts variables; dotenv single-quotes with escapes; json is an object."""
    assert render({"B": "x'y", "A": "1"}, "dotenv") == "A='1'\nB='x\\'y'\n"
    assert json.loads(render({"A": "1"}, "json")) == {"A": "1"}


def test_run_child_masks_with_injected_sinks(tmp_path: Path) -> None:
    """run_child with a redactor pipes output through the masker into the given sinks."""
    import io

    value = sentinel_value()
    out, err = io.BytesIO(), io.BytesIO()
    code = run_child(
        [sys.executable, "-c", f"print('v={value[:4]}', end='', flush=True); print('{value[4:]}')"],
        dict(os.environ),
        redactor=Redactor([SecretValue.of(value)]),
        mask_timeout=10,
        sinks=(out, err),
    )
    assert code == 0
    assert out.getvalue() == b"v=***\n"


def test_group_env_option_picks_the_environment(project: Path) -> None:
    """`sekret --env NAME run` uses the group's environment; an unknown one is exit 8."""
    _write_env(project, "key-1234")
    done = _sekret(project, "--env", "staging", "run", "--", sys.executable, "-c", "pass")
    assert done.returncode == 8
    assert b"environment 'staging' is not declared (known: development)" in done.stderr
    ok = _sekret(project, "--env", "development", "run", "--", sys.executable, "-c", "pass")
    assert ok.returncode == 0
