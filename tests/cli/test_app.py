"""The ``sekret`` group: global options, exit codes, one-line errors, the entry point."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import sekret.cli
from cli.clirunner import Cli
from sekret import exceptions as exc
from sekret.cli import COMMAND_MODULES, build_cli, main
from sekret.cli._app import (
    DEFAULT_STORE,
    EXIT_CODES,
    EXIT_INTERNAL,
    CliState,
    default_backend_url,
    exit_code_for,
)
from sekret.testing import sentinel_value


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (exc.SekretError("x"), 1),
        (exc.UnsupportedOperation("x"), 1),
        (exc.RotationError("x"), 1),
        (exc.InvalidSecretName("x"), 2),
        (exc.InvalidValue("x"), 2),
        (exc.SecretNotFound("x"), 3),
        (exc.VersionNotFound("x"), 3),
        (exc.SecretDeleted("x"), 3),
        (exc.AccessDenied("x"), 4),
        (exc.AuthenticationFailed("x"), 4),
        (exc.Conflict("x"), 5),
        (exc.BackendUnavailable("x"), 6),
        (exc.Throttled("x"), 6),
        (exc.IntegrityError("x"), 7),
        (exc.DecryptionError("x"), 7),
        (exc.WrongMasterKey("x"), 7),
        (exc.ConfigurationError("x"), 8),
        (exc.BackendNotInstalled("x"), 8),
        (exc.InsecureKeyFile("x"), 8),
    ],
)
def test_exit_code_follows_the_error_class(error: exc.SekretError, code: int) -> None:
    """Each error class maps to its documented exit code (most specific wins)."""
    assert exit_code_for(error) == code


def test_help_documents_every_exit_code() -> None:
    """sekret --help ends with the exit-code table."""
    result = CliRunner().invoke(build_cli(), ["--help"])
    assert result.exit_code == 0
    for code in ("0", "1", "2", "3", "4", "5", "6", "7", "8", "70", "130"):
        assert any(line.split()[:1] == [code] for line in result.stdout.splitlines()), code
    for command in (
        "init",
        "put",
        "get",
        "list",
        "versions",
        "rollback",
        "promote",
        "delete",
        "restore",
        "destroy",
        "rotate-master-key",
        "policy",
    ):
        assert f"  {command} " in result.stdout, command


def test_every_command_module_registers() -> None:
    """Each module in COMMAND_MODULES exposes register(group) and adds commands."""
    for name in COMMAND_MODULES:
        group = click.Group()
        __import__(name, fromlist=["register"]).register(group)
        assert group.commands, name


def test_sekret_errors_are_one_line(cli: Cli) -> None:
    """A SekretError leaves as 'sekret: error: <message>' on one line, nothing on stdout."""
    result = cli("get", "missing")
    assert result.stderr == "sekret: error: secret 'arrwdb/development/missing' not found\n"
    assert result.stdout == ""


def test_usage_errors_are_one_line(cli: Cli) -> None:
    """click's usage errors are reshaped into one line with a --help hint, exit 2."""
    result = cli("versions")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("sekret: error: Missing argument 'NAME'.")
    assert "sekret versions --help" in result.stderr


def test_bad_backend_url_is_a_configuration_error(cli: Cli) -> None:
    """A backend URL without a scheme exits 8 with one line."""
    cli.backend = "no-scheme"
    result = cli("list")
    assert result.exit_code == 8
    assert result.stderr.startswith("sekret: error: backend URL")


def test_unexpected_exception_is_one_line_without_its_text(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug exits 70 with the exception type only: no traceback, no message text."""
    value = sentinel_value("bug")

    def broken(self: CliState) -> object:
        raise RuntimeError(value)

    monkeypatch.setattr(CliState, "secrets", broken)
    result = cli("list")
    assert result.exit_code == EXIT_INTERNAL
    assert result.stderr.count("\n") == 1
    assert "RuntimeError" in result.stderr
    assert "Traceback" not in result.stderr
    assert value not in result.output


def test_debug_shows_the_traceback(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """SEKRET_DEBUG=1 adds the traceback of an unexpected exception."""

    def broken(self: CliState) -> object:
        raise RuntimeError("boom")

    monkeypatch.setattr(CliState, "secrets", broken)
    cli.env = {"SEKRET_DEBUG": "1"}
    result = cli("list")
    assert result.exit_code == EXIT_INTERNAL
    assert "Traceback" in result.stderr
    assert result.stderr.endswith("rerun with SEKRET_DEBUG=1 for the traceback\n")


def test_main_without_click_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without click, main prints one line naming sekret[cli] and returns 2."""
    monkeypatch.setitem(sys.modules, "click", None)
    assert main(["--help"]) == 2
    err = capsys.readouterr().err
    assert err == 'sekret: error: the sekret command needs click: pip install "sekret[cli]"\n'


def test_main_returns_the_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    """main() returns 0 on success and the error's code on failure."""
    assert main(["--version"]) == 0
    assert "sekret" in capsys.readouterr().out
    assert main(["--backend", "memory://", "--app", "a", "get", "x"]) == 3


def test_default_backend_is_the_local_store_in_the_working_directory(tmp_path: Path) -> None:
    """With no --backend or SEKRET_BACKEND the store is ./.sekret/secrets.db, absolute."""
    assert default_backend_url(tmp_path) == f"local://{tmp_path / DEFAULT_STORE}"
    assert CliState(None, "a", None).backend_url == default_backend_url()
    assert CliState(None, "a", None).environment == "development"


def test_click_is_imported_only_by_the_cli_package() -> None:
    """Importing sekret (and sekret.cli itself) does not import click."""
    code = "import sys, sekret, sekret.cli; print('click' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert sekret.cli.main is main


@pytest.mark.reveals
def test_installed_entry_point_runs(tmp_path: Path) -> None:
    """The installed `sekret` script inits a store, stores from stdin and reads back."""
    exe = shutil.which("sekret", path=str(Path(sys.executable).parent))
    assert exe is not None, "the sekret entry point is not installed"
    value = sentinel_value("subprocess")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEKRET_")}
    env["SEKRET_APP"] = "arrwdb"

    def sekret(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [exe, *args], input=stdin, env=env, cwd=tmp_path, capture_output=True, text=True
        )

    assert sekret("init").returncode == 0
    put = sekret("put", "cohere-api-key", stdin=value + "\n")
    assert put.stdout == "stored arrwdb/development/cohere-api-key version 1 [current]\n"
    assert sekret("get", "cohere-api-key").stdout == value + "\n"
    missing = sekret("get", "nope")
    assert (missing.returncode, missing.stdout) == (3, "")
    assert missing.stderr == "sekret: error: secret 'arrwdb/development/nope' not found\n"
    assert value not in put.stdout + put.stderr + missing.stderr
    assert (tmp_path / ".sekret" / "secrets.db").exists()


def test_cli_reference_documents_every_exit_code() -> None:
    """docs/cli.md has a row for each exit code the CLI can return."""
    doc = (Path(__file__).resolve().parents[2] / "docs" / "cli.md").read_text()
    codes = {code for _, code, _ in EXIT_CODES} | {0, EXIT_INTERNAL, 130}
    for code in sorted(codes):
        assert f"\n| {code} | " in doc, code


@pytest.mark.parametrize(
    ("raised", "code", "line"),
    [
        (KeyboardInterrupt(), 130, "sekret: error: interrupted\n"),
        (
            PermissionError(13, "Permission denied", "/srv/x.db"),
            1,
            "sekret: error: Permission denied: /srv/x.db\n",
        ),
    ],
)
def test_interrupts_and_os_errors_are_one_line(
    cli: Cli, monkeypatch: pytest.MonkeyPatch, raised: BaseException, code: int, line: str
) -> None:
    """Ctrl-C exits 130 and an OS error names the file; each in one line."""

    def broken(self: CliState) -> object:
        raise raised

    monkeypatch.setattr(CliState, "secrets", broken)
    result = cli("list")
    assert result.exit_code == code
    assert result.stderr.endswith(line)
    assert "Traceback" not in result.stderr


def test_a_command_module_that_cannot_import_is_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    """A registered module whose dependency is missing leaves the other commands working."""
    monkeypatch.setattr(
        sekret.cli, "COMMANDS", {"put": "sekret.cli.secrets", "policy": "no.such.module"}
    )
    group = build_cli()
    ctx = click.Context(group)
    assert group.get_command(ctx, "put") is not None
    assert group.get_command(ctx, "policy") is None
    assert {"put", "get"} <= set(group.list_commands(ctx))


def test_version_imports_no_command_module() -> None:
    """sekret --version loads no command module (the group is lazy)."""
    code = (
        "import sys; from sekret.cli import main; main(['--version']);"
        " print(sorted(m for m in sys.modules if m.startswith('sekret.cli.')"
        " and not m.split('.')[-1].startswith('_')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=os.environ
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_every_command_in_the_table_exists() -> None:
    """Each COMMANDS entry's module registers that command (the table cannot drift)."""
    for name, module in sekret.cli.COMMANDS.items():
        group = click.Group()
        __import__(module, fromlist=["register"]).register(group)
        assert name in group.commands, (name, module)
