"""Env files with references (sekret._envfile) and `sekret run --env-file`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sekret import ConfigurationError, InvalidReference, Secrets, SecretValue
from sekret._envfile import parse_env_file, read_env_file, resolve_env_file
from sekret.backends.local import init_store
from sekret.testing import sentinel_value

SEKRET = [sys.executable, "-c", "import sys; from sekret.cli import main; sys.exit(main())"]


def test_literals_and_references_are_told_apart() -> None:
    """Only a value that is exactly a sekret:// reference is a reference; quotes are removed."""
    entries = parse_env_file(
        "# comment\n\nexport LOG=info\nPW=sekret://db#password\n"
        "KEY=\"sekret://api-key\"\nGREETING='hi # there'\nURL=https://x.test/sekret://y # c\n"
    )
    got = [(e.variable, e.value, e.reference) for e in entries]
    assert got == [
        ("LOG", "info", False),
        ("PW", "sekret://db#password", True),
        ("KEY", "sekret://api-key", True),
        ("GREETING", "hi # there", False),
        ("URL", "https://x.test/sekret://y", False),
    ]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("A=1\nnot a line\n", "f.env:2"),
        ("1A=x", "f.env:1"),
        ("A='open", "f.env:1"),
        ("A='x' y", "f.env:1"),
        ("A=1\nB=sekret://db#a@v1", "f.env:2"),
    ],
)
def test_bad_lines_name_file_and_line(text: str, where: str) -> None:
    """A line outside the format, or a malformed reference, names file:line."""
    with pytest.raises(ConfigurationError, match=where):
        parse_env_file(text, source="f.env")


def test_resolve_reads_references_through_the_client(tmp_path: Path) -> None:
    """References resolve through the client (fields, stages); literals pass through."""
    secrets = Secrets("memory://", app="arrwdb", environment="staging")
    password, key = sentinel_value("pw"), sentinel_value("key")
    secrets.put("db", {"password": password})
    secrets.put("api-key", key)
    path = tmp_path / ".env.tpl"
    path.write_text("PW=sekret://db#password\nKEY=sekret://api-key@current\nLOG=debug\n")
    got = resolve_env_file(secrets, read_env_file(path))
    assert got.variables == {"PW": password, "KEY": key, "LOG": "debug"}
    assert password not in repr(got)
    assert set(got.versions) == {"PW <- sekret://db#password", "KEY <- sekret://api-key@current"}


def test_other_environment_is_refused(tmp_path: Path) -> None:
    """An env file cannot pull a value from another environment."""
    secrets = Secrets("memory://", app="arrwdb", environment="staging")
    path = tmp_path / ".env.tpl"
    path.write_text("PW=sekret://arrwdb/production/db\n")
    with pytest.raises(InvalidReference, match=r"\.env\.tpl:1: PW: .*environment separation"):
        resolve_env_file(secrets, read_env_file(path))


@pytest.fixture
def store(tmp_path: Path) -> str:
    path = tmp_path / "store" / "secrets.db"
    init_store(path)
    return f"local://{path}"


def test_run_env_file_resolves_and_masks(store: str, tmp_path: Path) -> None:
    """`run --env-file` gives the child resolved references and literals; --mask hides values."""
    password = sentinel_value("pw")
    with Secrets(store, app="arrwdb", environment="development") as secrets:
        secrets.put("db", {"password": password})
    (tmp_path / ".env.tpl").write_text("PW=sekret://db#password\nLOG=debug\n")
    child = (
        "import os, sys; print(os.environ['PW']); print(os.environ['LOG']);"
        "sys.exit(len(os.environ['PW']) == 0 or 7)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEKRET_")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    argv = ["--backend", store, "--app", "arrwdb", "run", "--env-file", ".env.tpl", "--mask"]
    done = subprocess.run(
        [*SEKRET, *argv, "--", sys.executable, "-c", child],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 7, done.stderr
    assert done.stdout.decode().splitlines() == ["***", "debug"]
    assert password.encode() not in done.stdout + done.stderr


def test_fresh_resolution_sees_a_new_version(tmp_path: Path) -> None:
    """With fresh=True (run --watch) a put after the first read shows as a new version."""
    secrets = Secrets("memory://", app="arrwdb", environment="staging")
    secrets.put("api-key", sentinel_value("one"))
    path = tmp_path / ".env.tpl"
    path.write_text("KEY=sekret://api-key\n")
    entries = read_env_file(path)
    first = resolve_env_file(secrets, entries)
    second_value = sentinel_value("two")
    # behind the cache's back, as another process would
    secrets.backend.write("arrwdb/staging/api-key", SecretValue.of(second_value))
    assert resolve_env_file(secrets, entries).versions == first.versions  # cached
    fresh = resolve_env_file(secrets, entries, fresh=True)
    assert fresh.versions != first.versions
    assert fresh.variables["KEY"] == second_value
