"""The everyday commands: put, get, list, versions, rollback, promote, delete,
restore, destroy. All of them go through the ``Secrets`` facade.

``put`` takes its value from stdin, a hidden prompt or ``--file``, never from
the command line: argv leaks into shell history and ``ps``. It has no value
argument, and stray arguments are refused without being echoed.

Only ``get`` writes a value (to stdout, on purpose). Nothing here may put a
value into a message, an error or a table.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Final

import click

from sekret import ABSENT, CURRENT, MAX_VALUE_BYTES, PENDING, Secret
from sekret._refs import looks_like_reference
from sekret.backends.base import DEFAULT_RECOVERY_DAYS
from sekret.cli import _app
from sekret.cli._app import CliState, pass_state
from sekret.cli._output import (
    format_stages,
    format_time,
    info_document,
    metadata_pairs,
    secret_document,
    table,
    to_json,
    version_document,
    versions_table,
    write_value,
)
from sekret.exceptions import (
    InvalidValue,
    SecretDeleted,
    SecretNotFound,
    SekretError,
    VersionNotFound,
)

__all__ = ["read_value", "register"]

READ_LIMIT: Final = 16 * MAX_VALUE_BYTES
"""Never read more than this from stdin or a file (the backend enforces its own limit)."""

_JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _strip_newline(text: str) -> str:
    if text.endswith("\r\n"):
        return text[:-2]
    if text.endswith("\n"):
        return text[:-1]
    return text


def _read_limited(stream: BinaryIO, where: str) -> bytes:
    data = stream.read(READ_LIMIT + 1)
    if len(data) > READ_LIMIT:
        raise InvalidValue(f"the value on {where} is larger than {READ_LIMIT} bytes")
    return data


def read_value(
    file: Path | None, *, raw: bool, binary: bool, json_value: bool
) -> str | bytes | Any:
    """The value to store, from ``file`` or stdin (a hidden prompt on a terminal).

    Text from stdin loses exactly one trailing newline (``\\n`` or ``\\r\\n``) unless
    ``raw``; a file is taken as it is; ``binary`` keeps bytes as they are.
    """
    if file is not None:
        with file.open("rb") as fh:
            data = _read_limited(fh, str(file))
        strip = False
    elif not binary and _app.stdin_is_terminal():
        data = click.prompt("Value (input hidden)", hide_input=True, err=True).encode()
        strip = False
    else:
        data = _read_limited(sys.stdin.buffer, "stdin")
        strip = not raw
    if not data:
        raise InvalidValue("the value is empty: pipe it on stdin or pass --file PATH")
    if binary:
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidValue("the value is not UTF-8 text; pass --binary to store bytes") from None
    if strip:
        text = _strip_newline(text)
        if not text:
            raise InvalidValue("the value is empty (only a newline on stdin)")
    if not json_value:
        return text
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        # The decoder's message can quote the document; say only where it broke.
        line, col = getattr(exc, "lineno", "?"), getattr(exc, "colno", "?")
        raise InvalidValue(f"--json-value: not valid JSON (line {line}, column {col})") from None
    if not isinstance(parsed, dict | list):
        raise InvalidValue("--json-value: the value must be a JSON object or array")
    return parsed


MAX_SUGGESTIONS: Final = 3


@contextlib.contextmanager
def did_you_mean(state: CliState, name: str) -> Iterator[None]:
    """Add "did you mean ..." (close names in this environment) to a not-found error.

    Only names are compared and shown, never values. A backend that cannot
    list, or fails to, leaves the error as it was.
    """
    try:
        yield
    except SecretNotFound as exc:
        if isinstance(exc, VersionNotFound | SecretDeleted):
            raise
        try:
            names = [info.name for info in state.secrets().list()]
        except SekretError:
            raise exc from None
        import difflib  # lazy: only a miss looks for close names

        close = difflib.get_close_matches(name, names, n=MAX_SUGGESTIONS, cutoff=0.6)
        if not close:
            raise
        hint = " or ".join(close)
        raise SecretNotFound(
            f"{exc.message}; did you mean {hint}?",
            name=exc.name,
            backend=exc.backend,
        ) from None


def _stages_word(stages: Any) -> str:
    shown = format_stages(stages)
    return f" [{shown}]" if shown else ""


@click.command(context_settings={"ignore_unknown_options": True})
@click.argument("name")
@click.argument("stray", nargs=-1, type=click.UNPROCESSED, metavar="")
@click.option(
    "--file",
    "file",
    type=click.Path(exists=True, dir_okay=False, readable=True, path_type=Path),
    help="Read the value from this file (taken as is) instead of stdin.",
)
@click.option(
    "--stage",
    "stages",
    multiple=True,
    metavar="STAGE",
    help="Stage(s) the new version gets (repeatable). Default: current; pending stages it.",
)
@click.option(
    "--expected-version",
    metavar="VERSION",
    help="Compare-and-set: fail with a conflict unless VERSION is current.",
)
@click.option("--create", is_flag=True, help="Fail with a conflict if the secret exists.")
@click.option("--raw", is_flag=True, help="Keep the trailing newline read from stdin.")
@click.option("--json-value", is_flag=True, help="Parse the value as JSON (object or array).")
@click.option("--binary", is_flag=True, help="Store the bytes as they are (no text decoding).")
@click.option("--meta", multiple=True, metavar="KEY=VALUE", help="Metadata (repeatable).")
@_JSON_OPTION
@pass_state
def put(
    state: CliState,
    name: str,
    stray: tuple[str, ...],
    file: Path | None,
    stages: tuple[str, ...],
    expected_version: str | None,
    create: bool,
    raw: bool,
    json_value: bool,
    binary: bool,
    meta: tuple[str, ...],
    as_json: bool,
) -> None:
    """Store a new version of NAME, read from stdin or --file.

    \b
      printf %s "$KEY" | sekret put cohere-api-key
      sekret put database --json-value --file db.json
      sekret put cohere-api-key --stage pending < new-key.txt
    """
    if stray or name.startswith("-"):
        # Never echo them: a stray argument is most likely the value itself.
        raise click.UsageError(
            "put takes no value on the command line (shell history and `ps` would show it):"
            " pipe it on stdin or pass --file PATH (unexpected arguments not shown)"
        )
    if binary and json_value:
        raise click.UsageError("--binary and --json-value exclude each other")
    if create and expected_version is not None:
        raise click.UsageError("--create and --expected-version exclude each other")
    try:
        metadata = metadata_pairs(meta)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--meta") from None
    secrets = state.secrets()
    secrets.full_name(name)  # a bad name fails before anything is read
    value = read_value(file, raw=raw, binary=binary, json_value=json_value)
    stored = secrets.put(
        name,
        value,
        stages=stages or (CURRENT,),
        expected_version=ABSENT if create else expected_version,
        metadata=metadata or None,
    )
    if as_json:
        doc = {"name": name, "full_name": stored.name, **version_document(stored.info)}
        click.echo(to_json(doc))
    else:
        click.echo(f"stored {stored.name} version {stored.version}{_stages_word(stored.stages)}")


@click.command()
@click.argument("name")
@click.option("--version", "version", metavar="VERSION", help="Read this version.")
@click.option("--stage", metavar="STAGE", help=f"Read the version in STAGE (e.g. {PENDING}).")
@click.option("-n", "--no-newline", is_flag=True, help="Do not add a newline after a text value.")
@_JSON_OPTION
@pass_state
def get(
    state: CliState,
    name: str,
    version: str | None,
    stage: str | None,
    no_newline: bool,
    as_json: bool,
) -> None:
    """Print the value of NAME (this reveals it).

    NAME may select a field of a JSON secret (``database#password``) or be a
    reference (``sekret://database@previous#password``, docs/references.md).

    The current version unless --version/--stage. This is the one command
    that reveals a value. Bytes are written as they
    are; --json wraps the value (base64 for bytes) with its metadata.
    """
    if version is not None and stage is not None:
        raise click.UsageError("--version and --stage exclude each other")
    if looks_like_reference(name):  # NAME#field, NAME@stage, sekret://...
        from sekret.cli.inject import print_reference

        print_reference(
            state.secrets(),
            name,
            version=version,
            stage=stage,
            newline=not no_newline,
            as_json=as_json,
        )
        return
    with did_you_mean(state, name):
        secret: Secret = state.secrets().get_secret(name, version=version, stage=stage)
    if as_json:
        click.echo(to_json(secret_document(name, secret)))
        return
    write_value(sys.stdout.buffer, secret, newline=not no_newline)


@click.command(name="list")
@click.argument("prefix", default="", required=False)
@click.option("--deleted", is_flag=True, help="Include secrets scheduled for deletion.")
@_JSON_OPTION
@pass_state
def list_(state: CliState, prefix: str, deleted: bool, as_json: bool) -> None:
    """List this environment's secrets.

    Names under PREFIX (all by default), current version, last update; no values.
    """
    infos = list(state.secrets().list(prefix, include_deleted=deleted))
    if as_json:
        click.echo(to_json([info_document(i) for i in infos]))
        return
    rows = [
        (
            i.name,
            i.current_version or "",
            format_time(i.updated),
            f"deleted, restorable until {format_time(i.recoverable_until)}" if i.deleted else "",
        )
        for i in infos
    ]
    click.echo(table(("NAME", "CURRENT", "UPDATED", "STATE"), rows))


@click.command()
@click.argument("name")
@_JSON_OPTION
@pass_state
def versions(state: CliState, name: str, as_json: bool) -> None:
    """List the versions of NAME and their stages.

    Oldest first; no values.
    """
    with did_you_mean(state, name):
        found = state.secrets().versions(name)
    if as_json:
        click.echo(to_json([version_document(v) for v in found]))
    else:
        click.echo(versions_table(found))


@click.command()
@click.argument("name")
@click.option("--to", "to_version", metavar="VERSION", help="Version to make current.")
@pass_state
def rollback(state: CliState, name: str, to_version: str | None) -> None:
    """Make the previous version of NAME current.

    --to VERSION picks another version. The version that was current becomes
    previous.
    """
    secrets = state.secrets()
    with did_you_mean(state, name):
        now = secrets.rollback(name, to_version)
    click.echo(f"{secrets.full_name(name)}: version {now.version} is current")


@click.command()
@click.argument("name")
@pass_state
def promote(state: CliState, name: str) -> None:
    """Make the pending version of NAME current.

    The version that was current becomes previous.
    """
    secrets = state.secrets()
    with did_you_mean(state, name):
        now = secrets.promote(name)
    click.echo(f"{secrets.full_name(name)}: version {now.version} is current")


@click.command()
@click.argument("name")
@click.option(
    "--recovery-days",
    type=click.IntRange(min=0),
    metavar="DAYS",
    default=DEFAULT_RECOVERY_DAYS,
    show_default=True,
    help="Days during which `sekret restore` can bring it back.",
)
@pass_state
def delete(state: CliState, name: str, recovery_days: int) -> None:
    """Soft-delete NAME.

    It reads as not found, and `sekret restore` brings it back until the
    recovery window ends.
    """
    secrets = state.secrets()
    with did_you_mean(state, name):
        until = secrets.delete(name, recovery_days=recovery_days)
    click.echo(
        f"{secrets.full_name(name)}: deleted; `sekret restore {name}` brings it back"
        f" until {format_time(until)}"
    )


@click.command()
@click.argument("name")
@pass_state
def restore(state: CliState, name: str) -> None:
    """Undo the delete of NAME (inside its recovery window)."""
    secrets = state.secrets()
    secrets.restore(name)
    click.echo(f"{secrets.full_name(name)}: restored")


@click.command()
@click.argument("name")
@click.option("--yes", is_flag=True, help="Confirm: every version is gone for good.")
@pass_state
def destroy(state: CliState, name: str, yes: bool) -> None:
    """Delete every version of NAME now. There is no undo."""
    secrets = state.secrets()
    full = secrets.full_name(name)
    if not yes:
        if not _app.stdin_is_terminal():
            raise click.UsageError("destroy cannot be undone: pass --yes to confirm")
        click.confirm(f"Destroy every version of {full}? There is no undo", abort=True, err=True)
    secrets.destroy(name)
    click.echo(f"{full}: destroyed")


COMMANDS: Final[Mapping[str, click.Command]] = {
    cmd.name or "": cmd
    for cmd in (put, get, list_, versions, rollback, promote, delete, restore, destroy)
}


def register(group: click.Group) -> None:
    """Add the everyday commands to ``group``."""
    for command in COMMANDS.values():
        group.add_command(command)
