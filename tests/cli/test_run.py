"""``sekret run`` and ``sekret export``, driven as real processes over an env:// manifest."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
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
    project: Path,
    *args: str,
    stdout: int = subprocess.PIPE,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run sekret in ``project``; ``env`` is added to this process's environment."""
    return subprocess.run(
        [*SEKRET, *args],
        cwd=project,
        stdout=stdout,
        stderr=subprocess.PIPE,
        env={**os.environ, **(env or {})},
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
    """--watch restarts the child with the new value, without sekret's credentials, each time."""
    _write_env(project, "first-value")
    child = _script(
        project,
        "watched.py",
        """\
        import os, sys, time
        value = os.environ["COHERE_API_KEY"]
        with open("runs.txt", "a") as f:
            f.write(value + os.environ.get("SEKRET_MASTER_KEY", "") + "\\n")
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
        env={**os.environ, "SEKRET_MASTER_KEY": "-master-key-leaked"},
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
    assert b"environment 'staging' (--env) is not declared (declared: development)" in done.stderr
    ok = _sekret(project, "--env", "development", "run", "--", sys.executable, "-c", "pass")
    assert ok.returncode == 0


def test_manifest_fields_set_one_variable_per_field(project: Path) -> None:
    """`fields = { DB_PASSWORD = "password" }` gives the child that field; a missing one exits 3."""
    manifest = project / "sekret.toml"
    manifest.write_text(
        manifest.read_text().replace(
            'env = "DATABASE_CREDENTIALS"\n',
            'env = "DATABASE_CREDENTIALS"\nfields = { DB_PASSWORD = "password" }\n',
        )
    )
    _write_env(project, "key-1234", password="pw-5678")
    child = _script(
        project,
        "field.py",
        "import os, sys\nsys.exit(0 if os.environ['DB_PASSWORD'] == 'pw-5678' else 9)\n",
    )
    assert _sekret(project, "run", "--", sys.executable, child).returncode == 0
    manifest.write_text(manifest.read_text().replace('"password" }', '"host" }'))
    done = _sekret(project, "run", "--", sys.executable, child)
    assert done.returncode == 3
    assert b"'host'" in done.stderr
    assert b"pw-5678" not in done.stderr


# -- the child's environment (issue 13 §1) ---------------------------------------------------
_CHAIN = (
    "chain://?backends=env://?dotenv=.env,aws://us-east-1,"
    "vault%2Bhttp://127.0.0.1:9/secret,azure://kv-test.vault.azure.net"
)


def _chain_project(project: Path) -> None:
    """Point development at a chain that holds every cloud backend behind the .env file."""
    text = (project / "sekret.toml").read_text()
    (project / "sekret.toml").write_text(
        text.replace('backend = "env://?dotenv=.env"', f'backend = "{_CHAIN}"').replace(
            "[secrets.cohere-api-key]",
            '[environments.production]\nbackend = "env://?dotenv=.env"\n[secrets.cohere-api-key]',
        )
    )


def _credential_variables() -> set[str]:
    from sekret.backends import backend_class
    from sekret.backends.base import CORE_CREDENTIAL_ENV

    names = set(CORE_CREDENTIAL_ENV)
    for scheme in ("local", "vault", "aws", "azure"):
        names |= backend_class(scheme).credential_env
    return names


_DUMP_ENV = "import json, os, sys; json.dump(dict(os.environ), open(sys.argv[1], 'w'))"


def _run_env(project: Path, *options: str, extra: dict[str, str]) -> dict[str, str]:
    _write_env(project, "key-1234")
    done = _sekret(
        project, "run", *options, "--", sys.executable, "-c", _DUMP_ENV, "seen.json", env=extra
    )
    assert done.returncode == 0, done.stderr
    seen: dict[str, str] = json.loads((project / "seen.json").read_text())
    return seen


def test_run_child_gets_no_credential_variable(project: Path) -> None:
    """With every credential variable a backend consumes set, the child sees none of them."""
    _chain_project(project)
    credentials = {name: f"cred-{i}" for i, name in enumerate(sorted(_credential_variables()))}
    credentials |= {"SEKRET_SOMETHING_TOKEN": "t-1", "UNRELATED_SETTING": "kept"}
    credentials["AWS_SHARED_CREDENTIALS_FILE"] = str(project / "none")
    credentials["AWS_CONFIG_FILE"] = str(project / "none")
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN"):
        credentials.pop(name)  # botocore would look these up; they are checked in the unit test
    seen = _run_env(project, extra=credentials)
    leaked = sorted(set(seen) & (set(credentials) - {"UNRELATED_SETTING", "AWS_CONFIG_FILE"}))
    assert leaked == []
    assert seen["UNRELATED_SETTING"] == "kept"
    assert seen["COHERE_API_KEY"] == "key-1234"
    assert seen["SEKRET_RUN_ENVIRONMENT"] == "development"


def test_run_keep_env_passes_one_on(project: Path) -> None:
    """--keep-env NAME passes that credential on; the others are still removed."""
    seen = _run_env(
        project,
        "--keep-env",
        "SEKRET_PASSPHRASE",
        extra={"SEKRET_PASSPHRASE": "p-1", "SEKRET_MASTER_KEY": "m-1"},
    )
    assert seen["SEKRET_PASSPHRASE"] == "p-1"
    assert "SEKRET_MASTER_KEY" not in seen


def test_run_clean_env_keeps_only_the_allow_list(project: Path) -> None:
    """--clean-env passes PATH, HOME, LANG, TERM, TZ, USER and --allow-env names only."""
    seen = _run_env(
        project,
        "--clean-env",
        "--allow-env",
        "MY_SETTING",
        extra={"MY_SETTING": "1", "OTHER_SETTING": "2", "TZ": "UTC", "PATH": os.environ["PATH"]},
    )
    assert set(seen) <= {
        "PATH",
        "HOME",
        "LANG",
        "TERM",
        "TZ",
        "USER",
        "MY_SETTING",
        "COHERE_API_KEY",
        "DATABASE_CREDENTIALS",
        "SEKRET_RUN_ENVIRONMENT",
        "LC_CTYPE",  # set by the interpreter itself (PEP 538) when LANG is unset
    }
    assert seen["MY_SETTING"] == "1"
    assert seen["TZ"] == "UTC"
    assert "OTHER_SETTING" not in seen


def test_child_environment_removes_what_each_backend_consumes() -> None:
    """child_environment drops every backend's credential_env and SEKRET_* key material."""
    from sekret.backends import backend_class
    from sekret.cli._child import child_environment

    for scheme in ("local", "vault", "aws", "azure", "gcp"):
        consumed = backend_class(scheme).credential_env
        assert consumed, scheme
        parent = {name: "x" for name in consumed} | {"SEKRET_MASTER_KEY": "m", "KEEP": "1"}
        env = child_environment(parent, {"A": "v"}, consumed=consumed, environment="dev")
        assert env == {"KEEP": "1", "A": "v", "SEKRET_RUN_ENVIRONMENT": "dev"}, scheme


def test_chain_consumes_every_member_credential() -> None:
    """A chain's consumed_env is the union of its members' (read through the audit wrapper)."""
    from sekret.backends.chain import ChainBackend
    from sekret.backends.memory import MemoryBackend
    from sekret.cli.run import consumed_env

    class Keyed(MemoryBackend):
        credential_env = frozenset({"K1"})

    class Other(MemoryBackend):
        credential_env = frozenset({"K2"})

    assert consumed_env(ChainBackend([Keyed(), Other()])) == {"K1", "K2"}


def test_nested_sekret_for_another_environment_is_refused(project: Path) -> None:
    """Inside `sekret run`, `sekret --env production get ...` is refused with a clear error."""
    _chain_project(project)
    _write_env(project, "key-1234")
    nested = (
        "import subprocess, sys;"
        f"sys.exit(subprocess.run({[*SEKRET]!r} + ['--backend', 'env://', '--app', 'arrwdb',"
        " '--env', 'production', 'get', 'cohere-api-key']).returncode)"
    )
    done = _sekret(project, "run", "--", sys.executable, "-c", nested, env={"VAULT_TOKEN": "t-1"})
    assert done.returncode == 4, done.stderr
    assert b"started by `sekret run` for environment 'development'" in done.stderr
    assert b"key-1234" not in done.stdout


def test_namespace_refuses_another_environment_inside_run(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A Namespace for another environment raises AccessDenied under SEKRET_RUN_ENVIRONMENT."""
    from sekret._names import Namespace
    from sekret.exceptions import AccessDenied

    monkeypatch.setenv("SEKRET_RUN_ENVIRONMENT", "staging")
    assert Namespace("arrwdb", "staging").root == "arrwdb/staging"
    with pytest.raises(AccessDenied, match="environment 'production'"):
        Namespace("arrwdb", "production")


# -- signals (issue 13 §9) ------------------------------------------------------------------
_CHILD_PID = """\
import os, signal, sys, time
open("pid.tmp", "w").write(str(os.getpid()))
os.rename("pid.tmp", "pid")
signal.signal(signal.SIGQUIT, lambda *a: sys.exit(43))
while True:
    time.sleep(0.05)
"""


@contextlib.contextmanager
def _running(project: Path, name: str) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    """`sekret run` of a child that records its pid; both are gone afterwards."""
    _write_env(project, "key-1234")
    child = _script(project, name, _CHILD_PID)
    proc = subprocess.Popen([*SEKRET, "run", "--", sys.executable, child], cwd=project)
    pid_file = project / "pid"
    pid = 0
    try:
        _wait_for(pid_file.exists, "the child to start")
        pid = int(pid_file.read_text())
        yield proc, pid
    finally:
        for target in (pid, proc.pid):
            if target and _alive(target):
                os.kill(target, signal.SIGCONT)
                os.kill(target, signal.SIGKILL)
        proc.wait(WAIT)


def _state(pid: int) -> str:
    """The one-letter state of a process from /proc (R, S, T, Z...), '' when gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return ""
    return stat.rsplit(")", 1)[1].split()[0]


def _alive(pid: int) -> bool:
    return _state(pid) not in ("", "Z", "X")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_run_forwards_sigquit(project: Path) -> None:
    """SIGQUIT sent to sekret reaches the child."""
    with _running(project, "quit.py") as (proc, _):
        proc.send_signal(signal.SIGQUIT)
        assert proc.wait(WAIT) == 43


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_sigkill_of_sekret_does_not_orphan_the_child(project: Path) -> None:
    """When sekret is SIGKILLed, the child dies too (parent-death signal)."""
    with _running(project, "orphan.py") as (proc, pid):
        proc.kill()
        proc.wait(WAIT)
        _wait_for(lambda: not _alive(pid), "the child to die with sekret")


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigtstp_stops_the_child_and_sigcont_resumes_it(project: Path) -> None:
    """SIGTSTP sent to sekret stops the child and sekret; SIGCONT resumes both."""
    with _running(project, "stop.py") as (proc, pid):
        proc.send_signal(signal.SIGTSTP)
        _wait_for(lambda: _state(pid) == "T" and _state(proc.pid) == "T", "both to stop")
        proc.send_signal(signal.SIGCONT)
        _wait_for(lambda: _state(pid) in ("S", "R") and _state(proc.pid) in ("S", "R"), "resume")
        proc.send_signal(signal.SIGQUIT)
        assert proc.wait(WAIT) == 43


# -- --mask: every string the child sees (issue 13 §6) ---------------------------------------
def test_mask_hides_binary_json_leaves_and_values_split_between_streams(project: Path) -> None:
    """--mask hides sekret:b64 text, raw binary, a JSON dsn, and a value split over both streams."""
    import base64

    raw = os.urandom(24)
    key = "sekret:b64:" + base64.b64encode(raw).decode()
    dsn = sentinel_value("dsn")
    split = sentinel_value("split")
    creds = json.dumps({"username": "app", "dsn": dsn, "password": split})
    (project / ".env").write_text(f"COHERE_API_KEY={key}\nDATABASE_CREDENTIALS='{creds}'\n")
    child = _script(
        project,
        "leak.py",
        """\
        import base64, json, os, sys, time
        key = os.environ["COHERE_API_KEY"]
        db = json.loads(os.environ["DATABASE_CREDENTIALS"])
        print("key", key, flush=True)
        sys.stdout.buffer.write(b"raw " + base64.b64decode(key[11:]) + b"\\n"); sys.stdout.flush()
        print("dsn", db["dsn"], flush=True)
        sys.stdout.write("half " + db["password"][:10]); sys.stdout.flush(); time.sleep(0.05)
        sys.stderr.write(db["password"][10:] + " end\\n"); sys.stderr.flush()
        """,
    )
    done = _sekret(project, "run", "--mask", "--mask-timeout", "10", "--", sys.executable, child)
    assert done.returncode == 0, done.stderr
    both = done.stdout + done.stderr
    for value in (key.encode(), raw, dsn.encode(), split.encode(), split[10:].encode()):
        assert value not in both
    assert b"key ***\n" in done.stdout
    assert b"raw ***\n" in done.stdout
    assert b"dsn ***\n" in done.stdout
    assert b"half ***" in done.stdout


# -- export formats (issues 15, 16) ---------------------------------------------------------
_TRICKY = 'it\'s "q" $HOME ${X} `id` \\ back\nline 2 $(id) ; & | * ?\n'


@pytest.mark.reveals
@pytest.mark.parametrize("load", ["set -a; . ./out.sh; set +a", 'eval "$(cat out.sh)"'])
def test_export_shell_round_trips_in_bash(project: Path, load: str) -> None:
    """export --format shell is read back byte for byte by `set -a; . file` and by `eval`."""
    creds = json.dumps({"username": "o'brien", "password": "p$w`d"})
    done = _sekret(
        project,
        "export",
        "--format",
        "shell",
        env={"COHERE_API_KEY": _TRICKY, "DATABASE_CREDENTIALS": creds},
    )
    assert done.returncode == 0, done.stderr
    (project / "out.sh").write_bytes(done.stdout)
    script = "\n".join(
        [
            load,
            'printf %s "$COHERE_API_KEY" > key.txt',
            'printf %s "$DATABASE_CREDENTIALS" > db.txt',
            "env > env.txt",
        ]
    )
    shell = subprocess.run(["bash", "-c", script], cwd=project, env={"PATH": os.environ["PATH"]})
    assert shell.returncode == 0
    assert (project / "key.txt").read_text() == _TRICKY
    assert json.loads((project / "db.txt").read_text()) == json.loads(creds)
    assert "COHERE_API_KEY=it's" in (project / "env.txt").read_text()  # exported


def test_export_docker_refuses_a_line_break_clearly(project: Path) -> None:
    """--format docker writes NAME=value lines and refuses a multi-line value, naming it."""
    done = _sekret(
        project,
        "export",
        "--format",
        "docker",
        env={"COHERE_API_KEY": "a\nb", "DATABASE_CREDENTIALS": "{}"},
    )
    assert done.returncode == 1
    assert b"COHERE_API_KEY holds a line break" in done.stderr
    assert b"a\nb" not in done.stdout + done.stderr
    assert render({"A": "x 'y' $z"}, "docker") == "A=x 'y' $z\n"


@pytest.mark.reveals
def test_export_github_writes_github_env_and_masks(project: Path) -> None:
    """--format github appends heredoc blocks to $GITHUB_ENV and prints ::add-mask:: per line."""
    github_env = project / "github_env"
    github_env.write_text("EARLIER=1\n")
    done = _sekret(
        project,
        "export",
        "--format",
        "github",
        env={
            "GITHUB_ENV": str(github_env),
            "COHERE_API_KEY": "one\ntwo 100%",
            "DATABASE_CREDENTIALS": "{}",
        },
    )
    assert done.returncode == 0, done.stderr
    masks = done.stdout.decode().splitlines()
    assert "::add-mask::one" in masks
    assert "::add-mask::two 100%25" in masks
    text = github_env.read_text()
    assert text.startswith("EARLIER=1\n")
    block = text.split("COHERE_API_KEY<<", 1)[1]
    delimiter, rest = block.split("\n", 1)
    assert rest.startswith(f"one\ntwo 100%\n{delimiter}\n")


def test_export_output_replaces_a_planted_symlink(project: Path) -> None:
    """export --output never writes through a symlink planted at the target."""
    _write_env(project, "key-1234")
    victim = project / "victim.txt"
    victim.write_text("untouched")
    target = project / "out.env"
    target.symlink_to(victim)
    done = _sekret(project, "export", "--output", str(target))
    assert done.returncode == 0, done.stderr
    assert victim.read_text() == "untouched"
    assert not target.is_symlink()
    assert target.stat().st_mode & 0o777 == 0o600


def test_export_drops_a_declared_credential_variable(project: Path) -> None:
    """A declared variable named like sekret's key material is not exported without --keep-env."""
    text = (project / "sekret.toml").read_text()
    (project / "sekret.toml").write_text(
        text.replace('kind = "api_key"', 'kind = "api_key"\nenv = "SEKRET_MASTER_KEY"')
    )
    _write_env(project, "key-1234")
    (project / ".env").write_text(
        (project / ".env").read_text().replace("COHERE_API_KEY", "SEKRET_MASTER_KEY")
    )
    done = _sekret(project, "export", "--format", "json")
    assert done.returncode == 0, done.stderr
    assert "SEKRET_MASTER_KEY" not in json.loads(done.stdout)
    assert b"--keep-env SEKRET_MASTER_KEY" in done.stderr


def test_env_variables_named_in_the_backend_url_are_consumed() -> None:
    """A *_env=VAR option in the backend URL (AppRole secret_id_env) counts as consumed."""
    from sekret.backends.memory import MemoryBackend
    from sekret.cli.run import consumed_env

    url = (
        "chain://?backends=env://,"
        "vault%2Bhttps://v:8200/secret%3Fauth%3Dapprole%26secret_id_env%3DMY_APPROLE_SECRET"
    )
    assert consumed_env(MemoryBackend(), url) == {"MY_APPROLE_SECRET"}
    direct = "vault+https://v:8200/secret?auth=approle&role_id=r&secret_id_env=SID"
    assert consumed_env(MemoryBackend(), direct) == {"SID"}


def test_export_github_prints_no_mask_lines_to_a_terminal(project: Path) -> None:
    """--format github on a terminal writes the file but never prints the values there."""
    _write_env(project, "key-1234")
    leader, follower = pty.openpty()
    try:
        done = _sekret(
            project, "export", "--format", "github", "--output", "gh.env", stdout=follower
        )
        os.set_blocking(leader, False)
        try:
            shown = os.read(leader, 65536)
        except BlockingIOError:
            shown = b""
    finally:
        os.close(follower)
        os.close(leader)
    assert done.returncode == 0, done.stderr
    assert b"key-1234" not in shown
    assert b"::add-mask:: lines not printed" in done.stderr
    assert "key-1234" in (project / "gh.env").read_text()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_DUMPABLE is Linux")
def test_sekret_run_makes_itself_non_dumpable_before_the_child_starts(project: Path) -> None:
    """The child cannot read sekret's own environment (/proc/<ppid>/environ, ptrace):
    run_child turns sekret non-dumpable first; the child is dumpable again after exec."""
    _write_env(project, "key-1234")
    child = _script(
        project,
        "dumpable.py",
        "import ctypes, os, sys\n"
        "libc = ctypes.CDLL(None)\n"
        "mine = libc.prctl(3, 0, 0, 0, 0)\n"  # PR_GET_DUMPABLE of the child itself
        "status = open(f'/proc/{os.getppid()}/status').read()\n"
        "sys.stdout.write(f'child={mine}\\n')\n",
    )
    done = _sekret(project, "run", "--", sys.executable, child)
    assert done.returncode == 0, done.stderr
    assert b"child=1" in done.stdout
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import ctypes, sys\n"
            "from sekret.cli._child import hide_own_environment\n"
            "assert hide_own_environment()\n"
            "sys.exit(ctypes.CDLL(None).prctl(3, 0, 0, 0, 0))\n",
        ],
        capture_output=True,
        check=False,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert probe.returncode == 0, probe.stderr  # PR_GET_DUMPABLE is 0 after the call


def test_run_child_hides_sekrets_environment_before_starting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """run_child calls hide_own_environment before the child exists."""
    from sekret.cli import _child

    calls: list[str] = []
    real_child = _child._Child

    def spy_child(*args: object, **kwargs: object) -> object:
        calls.append("child")
        return real_child(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(_child, "hide_own_environment", lambda: calls.append("hide") or True)
    monkeypatch.setattr(_child, "_Child", spy_child)
    code = _child.run_child([sys.executable, "-c", "pass"], dict(os.environ))
    assert code == 0
    assert calls == ["hide", "child"]
