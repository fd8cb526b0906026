"""``sekret incident NAME``: respond to a leaked secret (see ``sekret.ops.incident``).

Rotates NAME now with its rotator (``--rotator`` or the manifest's; no
default: a secret without one is rotated by hand, and the command says so
and exits 1 instead of pretending), revokes ``previous`` at once (at the
source too when the rotator can), records a ``secret.incident`` audit event
and prints the checklist of what sekret cannot do. ``sekret rotate NAME
--compromised`` runs the same thing. Nothing here prints a value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import click

from sekret.cli._app import CliState, pass_state
from sekret.cli._envs import environment_client, project_manifest
from sekret.cli._output import to_json
from sekret.ops.incident import respond
from sekret.rotation import make_rotator

__all__ = ["register", "run_incident"]


def run_incident(
    state: CliState,
    name: str,
    rotator_name: str | None,
    options: dict[str, Any],
    since: datetime | None,
    manifest_path: str | None,
    as_json: bool,
) -> int:
    """The body of ``incident`` (and ``rotate --compromised``); returns the exit code."""
    from sekret.cli.rotation import _resolve_secret_options

    manifest = project_manifest(manifest_path)
    spec = manifest.secrets.get(name) if manifest is not None else None
    chosen = rotator_name or (spec.rotator if spec is not None else None)
    merged = {**(spec.rotator_options if spec is not None else {}), **options}
    audit_specs: tuple[object, ...] = ()
    if manifest is not None and not state.backend_explicit:
        audit_specs = tuple(manifest.environment(state.env).audit)
    with environment_client(state, None, manifest, read_only=False) as secrets:
        rotator = (
            make_rotator(chosen, **_resolve_secret_options(secrets, merged)) if chosen else None
        )
        at = since.replace(tzinfo=UTC) if since is not None and since.tzinfo is None else since
        report = respond(secrets, name, rotator, since=at, audit_specs=audit_specs)
    if as_json:
        click.echo(to_json(report.as_dict()))
    else:
        if report.outcome == "rotated":
            click.echo(f"{name}: rotated, current version {report.version}")
            if report.revoked_version is not None:
                source = {
                    "revoked": "and at the source",
                    "unsupported": "in sekret only (the rotator cannot revoke at the source)",
                }.get(report.at_source, "")
                click.echo(f"{name}: previous version {report.revoked_version} revoked {source}")
        else:
            click.echo(f"{name}: NOT rotated: no rotator (--rotator or the manifest's rotator)")
        click.echo("incident recorded; checklist:")
        for step in report.steps:
            click.echo(step if step.startswith("  ") else f"- {step}")
    return 0 if report.outcome == "rotated" else 1


def register(group: click.Group) -> None:
    """Add ``incident`` to ``group``."""

    @group.command("incident")
    @click.argument("name")
    @click.option("--rotator", "rotator_name", metavar="NAME", help="random, api_key, postgres...")
    @click.option(
        "--option", "-o", "pairs", multiple=True, metavar="KEY=VALUE", help="A rotator option."
    )
    @click.option(
        "--since",
        type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
        help="When the leak happened, UTC (default: when the leaked version was created).",
    )
    @click.option("--manifest", "manifest_path", metavar="PATH", help="sekret.toml to use.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_state
    def incident(
        state: CliState,
        name: str,
        rotator_name: str | None,
        pairs: tuple[str, ...],
        since: datetime | None,
        manifest_path: str | None,
        as_json: bool,
    ) -> int:
        """Respond to a leak of NAME: rotate now, revoke previous, log, print the checklist."""
        from sekret.cli.rotation import _parse_options

        return run_incident(
            state, name, rotator_name, _parse_options(pairs), since, manifest_path, as_json
        )
