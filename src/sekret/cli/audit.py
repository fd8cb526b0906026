"""``sekret audit verify|show|init-key``: check and read audit logs, make audit keys.

``verify FILE... --key-file K`` checks a hash-chained log written by the file
sink (rotated files in any order, the ``.anchor`` sidecar found next to
them; ``--anchors`` adds the anchors shipped off the host) and names the
first bad record as ``file:line``; it reads one record at a time. ``show
FILE...`` prints events as a table, or one JSON object per line with
``--json``, filtered by secret, action, outcome and time. ``init-key PATH``
creates an audit key file (0600), and with ``--writer`` the writer's
evolving copy.

This module must never print the audit key; audit events hold no values.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click

from sekret.audit.chain import KeyState, write_key_file, write_key_state
from sekret.audit.chain import verify as verify_chain
from sekret.cli._output import table
from sekret.exceptions import AuditError, Conflict

__all__ = ["audit", "parse_since", "register"]

_RELATIVE = re.compile(r"(\d+)([smhdw])\Z")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


@click.group()
def audit() -> None:
    """Verify and read audit logs written by the file sink; create audit keys."""


@audit.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--key-file",
    required=True,
    type=click.Path(exists=True, dir_okay=False),
    help="The initial audit key file (mode 0600) the log was chained with.",
)
@click.option(
    "--anchor", type=click.Path(dir_okay=False), help="Anchor file (default: FILE.anchor)."
)
@click.option(
    "--anchors",
    "external",
    type=click.Path(exists=True, dir_okay=False),
    help="Anchors shipped off the host (audit.anchor lines): catches replay and fresh starts.",
)
@click.option("--partial", is_flag=True, help="Older files were pruned: do not require seq 0.")
@click.option(
    "--allow-missing-anchor",
    is_flag=True,
    help="A missing anchor (deliberately removed) is a warning, not a failure.",
)
def verify(
    files: tuple[str, ...],
    key_file: str,
    anchor: str | None,
    external: str | None,
    partial: bool,
    allow_missing_anchor: bool,
) -> None:
    """Check that FILE... form one untouched chain; report the first bad record.

    Exit 0 only if every record, the anchor and any external anchors match.

    \b
      sekret audit verify /var/log/app/audit.log* --key-file /etc/app/audit.key
    """
    result = verify_chain(
        files,
        key_file,
        anchor=anchor,
        partial=partial,
        allow_missing_anchor=allow_missing_anchor,
        anchors=external,
    )
    for warning in result.warnings:
        click.echo(f"sekret: warning: {warning}", err=True)
    if result.bad is not None:
        raise AuditError(f"audit log verification failed: {result.bad}")
    click.echo(
        f"ok: {result.records} records in {len(result.files)} file(s), chain {result.chain}, "
        f"last seq {result.last_seq}, {result.checkpoints} checkpoint(s)"
        + (", anchor matches" if result.anchored else "")
        + (f", {result.external_anchors} external anchor(s) match" if external else "")
    )


@audit.command("init-key")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option(
    "--writer",
    type=click.Path(dir_okay=False),
    help="Also write the writer's evolving key file here (forward security): give it to the "
    "file sink as key=, and keep PATH off the host for verify.",
)
def init_key(path: str, writer: str | None) -> None:
    """Create a new audit key file at PATH (mode 0600; never overwrites).

    \b
      sekret audit init-key /secure/offline/audit.key --writer /etc/app/audit.key
    """
    if writer is not None and os.path.lexists(writer):
        raise Conflict(f"writer key file {writer} already exists; refusing to overwrite it")
    key = write_key_file(Path(path))
    if writer is not None:
        write_key_state(Path(writer), KeyState(0, key, evolving=True), overwrite=False)
    click.echo(f"audit key written to {path} (0600)")
    if writer is not None:
        click.echo(
            f"writer key written to {writer} (0600); it moves to a new epoch at each "
            f"checkpoint. Keep {path} off the host: verify needs it."
        )


def parse_since(text: str, *, now: datetime | None = None) -> datetime:
    """``15m``/``2h``/``7d``/``1w`` ago, or an ISO 8601 time (UTC if no zone)."""
    match = _RELATIVE.match(text.strip())
    if match:
        delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return (now or datetime.now(UTC)) - delta
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a duration (15m, 2h, 7d) nor an ISO 8601 time",
            param_hint="--since",
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _order(path: Path) -> tuple[str, int, int]:
    """Rotated files (``audit.log.000001``...) first, oldest first, the live file last."""
    head, _, tail = path.name.rpartition(".")
    if head and tail.isdigit():
        return (str(path.with_name(head)), 0, int(tail))
    return (str(path), 1, 0)


def read_events(paths: Sequence[str]) -> Iterator[tuple[str, int, dict[str, Any]]]:
    """(file, line, event) for every JSON line of the logs, in chain order."""
    logs = sorted((Path(p) for p in paths if not p.endswith(".anchor")), key=_order)
    for log in logs:
        with log.open("rb") as fh:
            for number, line in enumerate(fh, start=1):
                try:
                    event = json.loads(line)
                except ValueError:
                    raise AuditError(f"{log}:{number}: not a JSON audit record") from None
                if isinstance(event, dict):
                    yield str(log), number, event


def _secret_matches(name: str, pattern: str) -> bool:
    """A pattern with ``/`` matches the full name; a short one (no ``/``) the last part."""
    if "/" in pattern:
        return fnmatch.fnmatchcase(name, pattern)
    return fnmatch.fnmatchcase(name.rpartition("/")[2], pattern)


def _matches(
    event: dict[str, Any],
    secret: str | None,
    action: str | None,
    outcome: str | None,
    since: datetime | None,
) -> bool:
    if secret and not _secret_matches(str(event.get("secret") or ""), secret):
        return False
    if action and not fnmatch.fnmatchcase(str(event.get("action", "")), action):
        return False
    if outcome and event.get("outcome") != outcome:
        return False
    if since is not None:
        try:
            when = datetime.fromisoformat(str(event.get("time", "")).replace("Z", "+00:00"))
        except ValueError:
            return False
        if when < since:
            return False
    return True


def _row(event: dict[str, Any]) -> list[str]:
    error = event.get("error") or {}
    detail = error.get("code", "") if isinstance(error, dict) else ""
    if event.get("action") == "secret.read.cached":
        detail = f"{event.get('count')} hits"
    return [
        str(event.get("time", "")),
        str(event.get("action", "")),
        str(event.get("outcome", "")),
        str(event.get("secret") or event.get("prefix") or ""),
        str(event.get("version") or ""),
        detail,
    ]


@audit.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--secret", help="Full or short secret name, or a glob (arrwdb/*/db-*).")
@click.option("--action", help="Action or glob (secret.write, secret.read*).")
@click.option("--outcome", type=click.Choice(["success", "failure"]))
@click.option("--since", help="Only events after this: 15m, 2h, 7d or an ISO 8601 time.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line (for jq).")
def show(
    files: tuple[str, ...],
    secret: str | None,
    action: str | None,
    outcome: str | None,
    since: str | None,
    as_json: bool,
) -> None:
    """Print the events of FILE... (rotated files in order), filtered.

    \b
      sekret audit show audit.log --secret cohere-api-key --outcome failure --since 24h
    """
    after = parse_since(since) if since else None
    chosen = [
        event
        for _, _, event in read_events(files)
        if _matches(event, secret, action, outcome, after)
    ]
    if as_json:
        for event in chosen:
            click.echo(json.dumps(event, separators=(",", ":"), ensure_ascii=False))
        return
    headers = ("TIME", "ACTION", "OUTCOME", "SECRET", "VERSION", "DETAIL")
    click.echo(table(headers, (_row(e) for e in chosen)))


def register(group: click.Group) -> None:
    """Add the ``audit`` group to ``group``."""
    group.add_command(audit)
