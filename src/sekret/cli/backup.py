"""``sekret backup create|verify|restore|store-copy``: encrypted backups and recovery.

``create`` writes one encrypted file of the namespace (``--app``/``--env``) or,
with ``--prefix``, of a prefix of the whole backend. ``verify`` opens and
authenticates it and lists what it holds. ``restore`` writes it back into the
backend of ``--backend`` (any kind: local to Vault is a migration). The backup
key comes from ``--key-file`` (``SEKRET_BACKUP_KEY_FILE``; ``create`` makes a
new 0600 key file when the file does not exist) or ``--passphrase-stdin``
(first line of stdin, or a hidden prompt on a terminal), never from argv.
``store-copy`` is a raw, consistent copy of a local store's SQLite file.

Nothing here prints a value or a key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import click

from sekret.backends import open_backend
from sekret.backends.base import Backend
from sekret.backup import (
    BackupSummary,
    Mode,
    RestoreReport,
    backup_local_store,
    create_backup_key,
    export_backup,
    restore_backup,
    verify_backup,
)
from sekret.cli import _app
from sekret.cli._app import CliState, pass_state
from sekret.cli._output import table, to_json
from sekret.cli.store import stdin_line

__all__ = ["register"]

_PATH = click.Path(dir_okay=False, path_type=Path)
_KEY_FILE = click.option(
    "--key-file",
    type=_PATH,
    envvar="SEKRET_BACKUP_KEY_FILE",
    show_envvar=True,
    help="The backup key file (32 random bytes, mode 0600). Keep it apart from the backups.",
)
_PASSPHRASE = click.option(
    "--passphrase-stdin",
    "use_passphrase",
    is_flag=True,
    help="Seal/open with a passphrase (scrypt) read from the first line of stdin"
    " (a hidden prompt on a terminal).",
)
_JSON = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def _passphrase(confirm: bool) -> str:
    if _app.stdin_is_terminal():
        text: str = click.prompt(
            "Backup passphrase", hide_input=True, confirmation_prompt=confirm, err=True
        )
    else:
        text = stdin_line("backup passphrase")
    if not text:
        raise click.UsageError("empty backup passphrase (none on stdin?)")
    return text


def _key_args(key_file: Path | None, use_passphrase: bool, *, confirm: bool) -> dict[str, Any]:
    if key_file is not None and use_passphrase:
        raise click.UsageError("--key-file and --passphrase-stdin exclude each other")
    if key_file is None and not use_passphrase:
        raise click.UsageError(
            "say how the backup is sealed: --key-file FILE (or SEKRET_BACKUP_KEY_FILE)"
            " or --passphrase-stdin"
        )
    if use_passphrase:
        return {"passphrase": _passphrase(confirm)}
    return {"key_file": key_file}


def _backend(state: CliState) -> Backend:
    return open_backend(state.backend_url, **state.backend_options)


def _summary_text(summary: BackupSummary) -> str:
    doc = summary.as_dict()
    counts = doc["counts"]
    lines = [
        f"backup {summary.path}",
        f"  id {summary.backup_id}, created {summary.created}, sealed with a {summary.sealed_with}",
        f"  from {summary.source} under {summary.root or '(everything)'!r}",
        f"  {counts['secrets']} secrets, {counts['versions']} versions,"
        f" {counts['deleted']} soft-deleted (flagged, no values), {counts['skipped']} unreadable",
    ]
    rows = [
        (name, v["version"], ",".join(v["stages"]), v["content_type"].split(";")[0], v["created"])
        for name, versions in summary.secrets.items()
        for v in versions
    ]
    if rows:
        lines.append("")
        lines.append(table(("NAME", "VERSION", "STAGES", "TYPE", "CREATED"), rows))
    return "\n".join(lines)


def _report_text(report: RestoreReport) -> str:
    rows = [
        (
            s.name,
            s.outcome,
            " ".join(f"{a}->{b}" for a, b in s.versions.items()) or "-",
            s.reason,
        )
        for s in report.secrets
    ]
    counts = report.as_dict()["counts"]
    done = ", ".join(f"{n} {what}" for what, n in counts.items() if n)
    return "\n".join(
        [
            table(("NAME", "OUTCOME", "VERSIONS (backup->target)", "REASON"), rows),
            "",
            f"restored backup {report.backup_id} into {report.target} ({report.mode}):"
            f" {done or 'nothing to do'}",
        ]
    )


@click.group("backup")
def backup() -> None:
    """Encrypted backups of secrets, and recovery into any backend."""


@backup.command("create")
@click.argument("path", type=_PATH)
@_KEY_FILE
@_PASSPHRASE
@click.option(
    "--prefix",
    metavar="PREFIX",
    help="Back up every secret of the backend under PREFIX (no --app needed).",
)
@click.option("--force", is_flag=True, help="Replace an existing file at PATH.")
@_JSON
@pass_state
def create(
    state: CliState,
    path: Path,
    key_file: Path | None,
    use_passphrase: bool,
    prefix: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Write an encrypted backup of the namespace (all versions and stages) to PATH."""
    made_key = False
    if key_file is not None and not use_passphrase and not key_file.exists():
        create_backup_key(key_file)
        made_key = True
    keys = _key_args(key_file, use_passphrase, confirm=True)
    # without --json only the counts are printed: keep no per-secret outline
    if prefix is not None:
        with _backend(state) as backend:
            summary = export_backup(
                backend, path, prefix=prefix, overwrite=force, outline=as_json, **keys
            )
    else:
        summary = export_backup(state.secrets(), path, overwrite=force, outline=as_json, **keys)
    if as_json:
        click.echo(to_json(summary.as_dict()))
        return
    counts = summary.as_dict()["counts"]
    click.echo(
        f"wrote {path} (mode 0600): {counts['secrets']} secrets, {counts['versions']} versions,"
        f" {counts['deleted']} soft-deleted flagged"
    )
    if made_key:
        click.echo(
            f"new backup key written to {key_file} (mode 0600); store it apart from the backup:"
            " without it the backup cannot be opened"
        )


@backup.command("verify")
@click.argument("path", type=_PATH)
@_KEY_FILE
@_PASSPHRASE
@_JSON
def verify(path: Path, key_file: Path | None, use_passphrase: bool, as_json: bool) -> None:
    """Open and authenticate the backup at PATH and list what it holds (no values)."""
    summary = verify_backup(path, **_key_args(key_file, use_passphrase, confirm=False))
    click.echo(to_json(summary.as_dict()) if as_json else _summary_text(summary))


@backup.command("restore")
@click.argument("path", type=_PATH)
@_KEY_FILE
@_PASSPHRASE
@click.option(
    "--mode",
    type=click.Choice(["missing", "overwrite"]),
    default="missing",
    show_default=True,
    help="missing: only secrets the target lacks; overwrite: also add the backup's versions"
    " on top of existing secrets and move their stages (nothing is deleted).",
)
@click.option(
    "--from-namespace",
    metavar="APP/ENV",
    help="Restore the secrets the backup holds under this namespace (e.g. arrwdb/development)...",
)
@click.option(
    "--to-namespace",
    metavar="APP/ENV",
    help="...as the same names under this one (e.g. arrwdb/staging).",
)
@_JSON
@pass_state
def restore(
    state: CliState,
    path: Path,
    key_file: Path | None,
    use_passphrase: bool,
    mode: str,
    from_namespace: str | None,
    to_namespace: str | None,
    as_json: bool,
) -> None:
    """Restore the backup at PATH into --backend (the namespace's client when --app is set).

    --from-namespace and --to-namespace (together) restore a backup of one
    environment into another: arrwdb/development/db becomes arrwdb/staging/db.
    """
    if (from_namespace is None) != (to_namespace is None):
        raise click.UsageError("--from-namespace and --to-namespace go together")
    rename = (from_namespace, to_namespace) if from_namespace and to_namespace else None
    keys = _key_args(key_file, use_passphrase, confirm=False)
    chosen = cast(Mode, mode)
    if state.app:
        report = restore_backup(path, state.secrets(), mode=chosen, rename=rename, **keys)
    else:
        with _backend(state) as backend:
            report = restore_backup(path, backend, mode=chosen, rename=rename, **keys)
    click.echo(to_json(report.as_dict()) if as_json else _report_text(report))


@backup.command("store-copy")
@click.argument("dest", type=_PATH)
@click.argument("store", required=False, type=_PATH)
@click.option("--force", is_flag=True, help="Replace an existing file at DEST.")
@pass_state
def store_copy(state: CliState, dest: Path, store: Path | None, force: bool) -> None:
    """Copy a local store's SQLite file consistently (online backup) to DEST, mode 0600.

    STORE defaults to the local:// path of --backend, else ./.sekret/secrets.db.
    Values stay sealed: the copy opens with the store's master key (back it up apart).
    """
    from sekret.cli.store import store_location

    db, _ = store_location(state, store)
    copy = backup_local_store(db, dest, overwrite=force)
    click.echo(f"copied {copy.source} to {copy.path} (mode 0600, {copy.secrets} secrets)")


def register(group: click.Group) -> None:
    """Add the ``backup`` group to ``group``."""
    group.add_command(backup)
