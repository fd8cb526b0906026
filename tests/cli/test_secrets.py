"""The everyday commands (put, get, list, versions, rollback, promote, delete,
restore, destroy) on a fresh store, through click's CliRunner."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from cli.clirunner import Cli
from sekret.cli import _app
from sekret.testing import sentinel_value


def _put(cli: Cli, name: str, value: str, *args: str) -> None:
    result = cli("put", name, *args, input=value + "\n")
    assert result.exit_code == 0, result.stderr


def _get(cli: Cli, name: str, *args: str) -> str:
    result = cli("get", name, *args)
    assert result.exit_code == 0, result.stderr
    return result.stdout


def _assert_one_line_error(stderr: str) -> None:
    assert stderr.startswith("sekret: error: ")
    assert stderr.count("\n") == 1
    assert "Traceback" not in stderr


# -- put / get -------------------------------------------------------------


@pytest.mark.reveals
def test_put_from_stdin_then_get_prints_the_value(cli: Cli) -> None:
    """A value piped to put comes back from get, newline-terminated."""
    value = sentinel_value("stdin")
    result = cli("put", "cohere-api-key", input=value + "\n")
    assert result.exit_code == 0
    assert result.stdout == "stored arrwdb/development/cohere-api-key version 1 [current]\n"
    assert value not in result.output
    assert _get(cli, "cohere-api-key") == value + "\n"
    assert _get(cli, "cohere-api-key", "--no-newline") == value


@pytest.mark.reveals
def test_put_strips_exactly_one_trailing_newline_unless_raw(cli: Cli) -> None:
    """stdin loses one trailing newline; --raw keeps it; a second newline stays."""
    cli("put", "a", input="v\n\n")
    assert _get(cli, "a", "-n") == "v\n"
    cli("put", "b", input="v\r\n")
    assert _get(cli, "b", "-n") == "v"
    cli("put", "c", "--raw", input="v\n")
    assert _get(cli, "c", "-n") == "v\n"


@pytest.mark.reveals
def test_put_file_is_stored_as_is(cli: Cli, tmp_path: Path) -> None:
    """--file reads the file, trailing newline included."""
    path = tmp_path / "value.txt"
    value = sentinel_value("file")
    path.write_text(value + "\n")
    assert cli("put", "tls-cert", "--file", str(path)).exit_code == 0
    assert _get(cli, "tls-cert", "-n") == value + "\n"


@pytest.mark.reveals
def test_put_json_value_stores_json(cli: Cli) -> None:
    """--json-value stores JSON; get --json returns it parsed with its metadata."""
    doc = {"user": "app", "password": sentinel_value("db")}
    assert cli("put", "database", "--json-value", input=json.dumps(doc)).exit_code == 0
    out = json.loads(_get(cli, "database", "--json"))
    assert out["value"] == doc
    assert out["kind"] == "json"
    assert out["version"] == "1"
    assert out["stages"] == ["current"]
    assert out["full_name"] == "arrwdb/development/database"


@pytest.mark.reveals
def test_put_binary_round_trips_bytes(cli: Cli, tmp_path: Path) -> None:
    """--binary stores bytes untouched; get writes them raw, --json as base64."""
    data = bytes(range(256)) + b"\n"
    path = tmp_path / "key.bin"
    path.write_bytes(data)
    assert cli("put", "tls-key", "--binary", "--file", str(path)).exit_code == 0
    assert cli("get", "tls-key").stdout_bytes == data
    out = json.loads(_get(cli, "tls-key", "--json"))
    assert (out["encoding"], base64.b64decode(out["value"])) == ("base64", data)


@pytest.mark.reveals
def test_put_on_a_terminal_prompts_with_hidden_input(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal put asks for the value on stderr and does not echo it."""
    monkeypatch.setattr(_app, "stdin_is_terminal", lambda: True)
    value = sentinel_value("typed")
    result = cli("put", "k", input=value + "\n")
    assert result.exit_code == 0, result.stderr
    assert "Value (input hidden)" in result.stderr
    assert value not in result.output
    assert _get(cli, "k", "-n") == value


def test_put_json_output_names_the_version(cli: Cli) -> None:
    """put --json prints the stored version's metadata, no value."""
    value = sentinel_value()
    result = cli("put", "k", "--json", "--meta", "owner=search", input=value)
    doc = json.loads(result.stdout)
    assert (doc["version"], doc["stages"]) == ("1", ["current"])
    assert doc["metadata"] == {"owner": "search"}
    assert value not in result.output


@pytest.mark.parametrize(
    "argv",
    [
        ["put", "cohere-api-key", "{v}"],
        ["put", "cohere-api-key", "--value", "{v}"],
        ["put", "--value={v}"],
        ["put", "cohere-api-key", "--", "{v}"],
    ],
)
def test_put_never_takes_a_value_from_argv(cli: Cli, argv: list[str]) -> None:
    """A value on the command line is refused (exit 2) and never echoed."""
    value = sentinel_value("argv")
    result = cli(*[a.format(v=value) for a in argv], input="")
    assert result.exit_code == 2
    _assert_one_line_error(result.stderr)
    assert "no value on the command line" in result.stderr
    assert value not in result.output
    assert cli("list").stdout.count("\n") == 1  # header only: nothing stored


def test_put_invalid_json_value_is_a_usage_error_without_the_value(cli: Cli) -> None:
    """Bad JSON says where it broke, exit 2, and does not quote the input."""
    value = sentinel_value("json")
    result = cli("put", "database", "--json-value", input='{"password": ' + value)
    assert result.exit_code == 2
    _assert_one_line_error(result.stderr)
    assert "not valid JSON" in result.stderr
    assert value not in result.output


def test_put_json_value_must_be_an_object_or_array(cli: Cli) -> None:
    """A JSON scalar is refused with exit 2."""
    result = cli("put", "database", "--json-value", input='"just a string"')
    assert result.exit_code == 2
    assert "object or array" in result.stderr


def test_put_non_utf8_text_asks_for_binary(cli: Cli) -> None:
    """Bytes that are not UTF-8 are refused as text and the error names --binary."""
    result = cli("put", "blob", input=b"\xff\xfe")
    assert result.exit_code == 2
    assert "--binary" in result.stderr


@pytest.mark.parametrize("stdin", ["", "\n"])
def test_put_refuses_an_empty_value(cli: Cli, stdin: str) -> None:
    """Nothing (or only a newline) on stdin is refused with exit 2: a forgotten pipe."""
    result = cli("put", "k", input=stdin)
    assert result.exit_code == 2
    assert "empty" in result.stderr
    assert cli("versions", "k").exit_code == 3


def test_put_expected_version_mismatch_is_a_conflict(cli: Cli) -> None:
    """--expected-version that is not current exits 5 and stores nothing."""
    _put(cli, "k", sentinel_value())
    _put(cli, "k", sentinel_value(), "--expected-version", "1")
    result = cli("put", "k", "--expected-version", "1", input=sentinel_value())
    assert result.exit_code == 5
    _assert_one_line_error(result.stderr)
    assert [v["version"] for v in json.loads(cli("versions", "k", "--json").stdout)] == ["1", "2"]


def test_put_create_refuses_an_existing_secret(cli: Cli) -> None:
    """--create succeeds once, then exits 5 (conflict)."""
    assert cli("put", "k", "--create", input=sentinel_value()).exit_code == 0
    assert cli("put", "k", "--create", input=sentinel_value()).exit_code == 5


@pytest.mark.reveals
def test_put_stage_pending_then_promote(cli: Cli) -> None:
    """A pending version leaves current alone until promote moves it."""
    old, new = sentinel_value("old"), sentinel_value("new")
    _put(cli, "k", old)
    result = cli("put", "k", "--stage", "pending", input=new)
    assert result.stdout.endswith("version 2 [pending]\n")
    assert _get(cli, "k", "-n") == old
    assert _get(cli, "k", "-n", "--stage", "pending") == new
    assert cli("promote", "k").stdout == "arrwdb/development/k: version 2 is current\n"
    assert _get(cli, "k", "-n") == new
    assert _get(cli, "k", "-n", "--version", "1") == old


def test_get_missing_secret_exits_3(cli: Cli) -> None:
    """get of an unknown name is one line on stderr and exit 3."""
    result = cli("get", "nope")
    assert result.exit_code == 3
    assert result.stdout == ""
    _assert_one_line_error(result.stderr)
    assert "arrwdb/development/nope" in result.stderr


def test_get_missing_version_exits_3(cli: Cli) -> None:
    """A version that does not exist is 'not found' too."""
    _put(cli, "k", sentinel_value())
    assert cli("get", "k", "--version", "9").exit_code == 3


def test_get_version_and_stage_exclude_each_other(cli: Cli) -> None:
    """--version with --stage is a usage error."""
    result = cli("get", "k", "--version", "1", "--stage", "current")
    assert result.exit_code == 2
    _assert_one_line_error(result.stderr)


def test_invalid_name_is_a_usage_error_before_reading_stdin(cli: Cli) -> None:
    """A name outside the grammar exits 2 with the grammar's message."""
    value = sentinel_value()
    result = cli("put", "has space", input=value)
    assert result.exit_code == 2
    _assert_one_line_error(result.stderr)
    assert value not in result.output


# -- list / versions ---------------------------------------------------------


def test_list_shows_names_and_versions_only(cli: Cli) -> None:
    """list prints an aligned table of short names; no value appears."""
    values = [sentinel_value("a"), sentinel_value("b")]
    _put(cli, "cohere-api-key", values[0])
    _put(cli, "tenants/acme/token", values[1])
    _put(cli, "tenants/acme/token", values[1])
    out = cli("list").stdout
    lines = out.splitlines()
    assert lines[0].split() == ["NAME", "CURRENT", "UPDATED", "STATE"]
    assert [line.split()[:2] for line in lines[1:]] == [
        ["cohere-api-key", "1"],
        ["tenants/acme/token", "2"],
    ]
    assert lines[1].index("1") == lines[2].index("2")  # columns aligned
    assert not any(v in out for v in values)
    assert cli("list", "tenants/").stdout.splitlines()[1].startswith("tenants/acme/token")


def test_list_json(cli: Cli) -> None:
    """list --json is an array of entries with name and current version."""
    _put(cli, "k", sentinel_value())
    docs = json.loads(cli("list", "--json").stdout)
    assert [(d["name"], d["current_version"], d["deleted"]) for d in docs] == [("k", "1", False)]


def test_versions_table_and_json(cli: Cli) -> None:
    """versions lists every version with its stages, oldest first."""
    _put(cli, "k", sentinel_value())
    _put(cli, "k", sentinel_value())
    lines = cli("versions", "k").stdout.splitlines()
    assert lines[0].split() == ["VERSION", "STAGES", "CREATED"]
    assert [line.split()[:2] for line in lines[1:]] == [["1", "previous"], ["2", "current"]]
    docs = json.loads(cli("versions", "k", "--json").stdout)
    assert [(d["version"], d["stages"]) for d in docs] == [("1", ["previous"]), ("2", ["current"])]


# -- rollback / delete / restore / destroy -----------------------------------


@pytest.mark.reveals
def test_rollback_makes_previous_current(cli: Cli) -> None:
    """rollback returns to the previous version; --to picks one."""
    first, second = sentinel_value("1"), sentinel_value("2")
    _put(cli, "k", first)
    _put(cli, "k", second)
    result = cli("rollback", "k")
    assert result.stdout == "arrwdb/development/k: version 1 is current\n"
    assert _get(cli, "k", "-n") == first
    assert cli("rollback", "k", "--to", "2").exit_code == 0
    assert _get(cli, "k", "-n") == second


def test_rollback_without_previous_exits_3(cli: Cli) -> None:
    """A secret with one version has nothing to roll back to."""
    _put(cli, "k", sentinel_value())
    result = cli("rollback", "k")
    assert result.exit_code == 3
    _assert_one_line_error(result.stderr)


def test_delete_then_restore(cli: Cli) -> None:
    """A deleted secret reads as not found, shows in list --deleted, and comes back."""
    _put(cli, "k", sentinel_value())
    result = cli("delete", "k", "--recovery-days", "7")
    assert result.exit_code == 0
    assert "sekret restore k" in result.stdout
    assert cli("get", "k").exit_code == 3
    assert cli("list").stdout.count("\n") == 1
    assert "deleted" in cli("list", "--deleted").stdout
    assert cli("restore", "k").stdout == "arrwdb/development/k: restored\n"
    assert cli("versions", "k").exit_code == 0


def test_destroy_on_a_terminal_asks_first(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal destroy asks; 'n' keeps the secret, 'y' destroys it."""
    monkeypatch.setattr(_app, "stdin_is_terminal", lambda: True)
    _put(cli, "k", sentinel_value())
    kept = cli("destroy", "k", input="n\n")
    assert kept.exit_code == 1
    assert kept.stderr.endswith("sekret: error: aborted\n")
    assert cli("versions", "k").exit_code == 0
    assert cli("destroy", "k", input="y\n").exit_code == 0
    assert cli("versions", "k").exit_code == 3


def test_destroy_needs_yes_when_not_interactive(cli: Cli) -> None:
    """destroy without --yes on a pipe is a usage error and keeps the secret."""
    _put(cli, "k", sentinel_value())
    result = cli("destroy", "k")
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert cli("versions", "k").exit_code == 0
    assert cli("destroy", "k", "--yes").stdout == "arrwdb/development/k: destroyed\n"
    assert cli("versions", "k").exit_code == 3


# -- namespaces and configuration ----------------------------------------------


def test_environments_are_separate(cli: Cli) -> None:
    """A secret put in development is not visible with --env production."""
    _put(cli, "k", sentinel_value())
    result = cli("get", "k", env="production")
    assert result.exit_code == 3
    assert "arrwdb/production/k" in result.stderr


def test_environment_variables_configure_the_cli(cli: Cli) -> None:
    """SEKRET_BACKEND, SEKRET_APP and SEKRET_ENV stand in for the options."""
    cli.env = {"SEKRET_BACKEND": cli.backend, "SEKRET_APP": "arrwdb", "SEKRET_ENV": "staging"}
    result = cli.run(["put", "k"], input=sentinel_value())
    assert result.stdout == "stored arrwdb/staging/k version 1 [current]\n"
    assert cli.run(["--env", "qa", "versions", "k"]).exit_code == 3


def test_read_only_refuses_writes_but_reads(cli: Cli) -> None:
    """--read-only (or SEKRET_READ_ONLY=1) makes put exit 4; listing still works."""
    _put(cli, "k", sentinel_value())
    refused = cli("--read-only", "put", "k", input=sentinel_value())
    assert refused.exit_code == 4
    assert "read-only" in refused.stderr
    cli.env = {"SEKRET_READ_ONLY": "1"}
    assert cli("delete", "k").exit_code == 4
    assert cli("versions", "k").exit_code == 0


def test_missing_app_is_a_usage_error(cli: Cli) -> None:
    """Without --app or SEKRET_APP a command that needs the store exits 2."""
    result = cli.run(["--backend", cli.backend, "list"])
    assert result.exit_code == 2
    _assert_one_line_error(result.stderr)
    assert "SEKRET_APP" in result.stderr


def test_no_command_but_get_reveals_a_value(cli: Cli, tmp_path: Path) -> None:
    """Across every writing and listing command, planted values never reach the output."""
    value = sentinel_value("leak")
    path = tmp_path / "v"
    path.write_text(value)
    runs = [
        cli("put", "k", input=value),
        cli("put", "k", "--file", str(path), "--json"),
        cli("put", "k", "--stage", "pending", input=value),
        cli("list"),
        cli("list", "--json"),
        cli("versions", "k"),
        cli("versions", "k", "--json"),
        cli("promote", "k"),
        cli("rollback", "k"),
        cli("put", "k", "--expected-version", "1", input=value),
        cli("put", "k", value, input=""),
        cli("put", "--create", "k", input=value),
        cli("delete", "k"),
        cli("get", "k"),
        cli("restore", "k"),
        cli("destroy", "k", "--yes"),
    ]
    assert [r.exit_code for r in runs] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 2, 5, 0, 3, 0, 0]
    for r in runs:
        assert value not in r.output


def test_put_meta_error_does_not_echo_the_argument(cli: Cli) -> None:
    """A malformed --meta (maybe a pasted value) is reported by its length, never echoed."""
    value = sentinel_value("meta")
    result = cli("put", "cohere-api-key", "--meta", value, input="v-1234\n")
    assert result.exit_code == 2
    assert f"({len(value)} characters, not shown)" in result.output
    assert value not in result.output


def test_did_you_mean_names_close_secret_names(cli: Cli) -> None:
    """A mistyped name gets "did you mean" with close names only, never a value."""
    value = sentinel_value()
    assert cli("put", "cohere-api-key", input=value).exit_code == 0
    result = cli("get", "cohere-apikey")
    assert result.exit_code == 3
    assert "did you mean cohere-api-key?" in result.stderr
    assert value not in result.output
    far = cli("get", "zzz")
    assert far.exit_code == 3
    assert "did you mean" not in far.stderr


def test_did_you_mean_for_lifecycle_commands(cli: Cli) -> None:
    """promote, rollback and delete of a mistyped name suggest the close name."""
    assert cli("put", "cohere-api-key", input=sentinel_value()).exit_code == 0
    for command in ("promote", "rollback", "delete"):
        result = cli(command, "cohere-api-kee")
        assert result.exit_code == 3, command
        assert "did you mean cohere-api-key?" in result.stderr, command
