"""``sekret rotate``, ``sekret rotation status`` and ``sekret revoke-previous``.

``rotate NAME`` runs (or resumes) the four rotation steps for one secret;
``rotate --due`` rotates every manifest secret whose schedule is due (for cron
or a Kubernetes CronJob) and exits non-zero if any rotation failed;
``rotate NAME --rollback`` abandons a pending rotation. The rotator comes from
``--rotator`` or the manifest's ``rotator`` (default: ``random``), with
``--option key=value`` settings; an option named ``<x>_secret`` is replaced by
the JSON (or text) of that secret under ``<x>`` (e.g. ``admin_secret=pg-admin``
for the postgres rotator).

With a manifest and no explicit ``--backend``, the manifest's backend for the
environment is used. Nothing here prints a value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from sekret._secrets import Secrets
from sekret.cli._app import CliState, pass_state
from sekret.cli._output import format_time, table
from sekret.exceptions import ConfigurationError, InvalidValue, SekretError
from sekret.manifest import Manifest, find_manifest, load_manifest
from sekret.rotation import (
    RotationEngine,
    RotationPlan,
    RotationStatus,
    make_rotator,
    rotation_status,
)

__all__ = ["register"]


_AS_OF = click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]),
    help="Decide what is due as of this UTC time instead of now (plan ahead, test schedules).",
)


def _clock(as_of: datetime | None) -> Callable[[], datetime]:
    if as_of is None:
        return lambda: datetime.now(UTC)
    at = as_of.replace(tzinfo=UTC)
    return lambda: at


def _manifest(path: str | None) -> Manifest | None:
    if path:
        return load_manifest(path)
    found = find_manifest()
    return load_manifest(found) if found else None


def _client(state: CliState, manifest: Manifest | None) -> Secrets:
    if manifest is not None and not state.backend_explicit:
        return Secrets(**manifest.client_arguments(state.env, cache=False, read_only=False))
    return state.secrets()


def _expired(row: RotationStatus, at: datetime) -> bool:
    return row.expires_at is not None and row.expires_at <= at


def _plans(manifest: Manifest | None) -> list[RotationPlan]:
    if manifest is None:
        raise ConfigurationError("no manifest (sekret.toml) found: schedules come from it")
    return [
        RotationPlan(spec.name, spec.kind, spec.rotation_days, spec.rotator)
        for spec in manifest.secrets.values()
    ]


def _parse_options(pairs: tuple[str, ...]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidValue(f"--option takes key=value, not {pair[:40]!r}")
        try:
            options[key] = json.loads(raw)
        except ValueError:
            options[key] = raw
    return options


def _resolve_secret_options(secrets: Secrets, options: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in options.items():
        if key.endswith("_secret") and isinstance(value, str):
            held = secrets.get_secret(value).value
            out[key.removesuffix("_secret")] = held.json() if held.kind == "json" else held.text()
        else:
            out[key] = value
    return out


def _rotate_one(
    secrets: Secrets, name: str, rotator_name: str, options: dict[str, Any], rollback: bool
) -> dict[str, Any]:
    rotator = make_rotator(rotator_name, **_resolve_secret_options(secrets, options))
    engine = RotationEngine(secrets)
    result = engine.rollback(name, rotator) if rollback else engine.rotate(name, rotator)
    return {
        "name": name,
        "outcome": result.outcome,
        "version": result.version,
        "previous_version": result.previous_version,
        "steps": [s.value for s in result.steps],
    }


def register(group: click.Group) -> None:
    @group.command("rotate")
    @click.argument("name", required=False)
    @click.option("--due", is_flag=True, help="Rotate every manifest secret that is due.")
    @click.option("--rotator", "rotator_name", metavar="NAME", help="random, api_key, postgres...")
    @click.option(
        "--option",
        "-o",
        "pairs",
        multiple=True,
        metavar="KEY=VALUE",
        help="A rotator option (repeatable).",
    )
    @click.option("--rollback", is_flag=True, help="Abandon a pending rotation of NAME.")
    @click.option(
        "--compromised", is_flag=True, help="NAME leaked: the same as sekret incident NAME."
    )
    @click.option("--manifest", "manifest_path", metavar="PATH", help="sekret.toml to use.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @_AS_OF
    @pass_state
    def rotate(
        state: CliState,
        name: str | None,
        due: bool,
        rotator_name: str | None,
        pairs: tuple[str, ...],
        rollback: bool,
        compromised: bool,
        manifest_path: str | None,
        as_json: bool,
        as_of: datetime | None,
    ) -> int:
        """Rotate NAME now, or every secret that is --due (exit 1 if any failed)."""
        if bool(name) == due:
            raise click.UsageError("give either NAME or --due")
        if compromised:
            from sekret.cli.incident import run_incident

            if rollback or name is None:
                raise click.UsageError("--compromised takes NAME and no --rollback")
            options = _parse_options(pairs)
            return run_incident(state, name, rotator_name, options, None, manifest_path, as_json)
        manifest = _manifest(manifest_path)
        secrets = _client(state, manifest)
        options = _parse_options(pairs)
        specs = manifest.secrets if manifest else {}
        if name:
            spec = specs.get(name)
            chosen = rotator_name or (spec.rotator if spec else None) or "random"
            merged = {**(spec.rotator_options if spec else {}), **options}
            report = _rotate_one(secrets, name, chosen, merged, rollback)
            click.echo(
                json.dumps(report)
                if as_json
                else f"{name}: {report['outcome']}, current version {report['version']}"
            )
            return 0
        failed = 0
        reports: list[dict[str, Any]] = []
        for status in rotation_status(secrets, _plans(manifest), now=_clock(as_of)):
            if not status.overdue:
                continue
            spec = specs[status.name]
            try:
                reports.append(
                    _rotate_one(
                        secrets,
                        status.name,
                        rotator_name or spec.rotator or "random",
                        {**spec.rotator_options, **options},
                        False,
                    )
                )
            except SekretError as exc:
                failed += 1
                reports.append(
                    {
                        "name": status.name,
                        "outcome": "failed",
                        "error": exc.code,
                        "message": str(exc),
                    }
                )
        if as_json:
            click.echo(json.dumps(reports))
        else:
            for r in reports:
                detail = f"current version {r['version']}" if "version" in r else r["message"]
                click.echo(f"{r['name']}: {r['outcome']}, {detail}")
            if not reports:
                click.echo("nothing is due")
        return 1 if failed else 0

    @group.group("rotation")
    def rotation() -> None:
        """Rotation schedules."""

    @rotation.command("status")
    @click.option("--manifest", "manifest_path", metavar="PATH", help="sekret.toml to use.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @click.option(
        "--within",
        type=click.IntRange(0, 3650),
        default=30,
        show_default=True,
        metavar="DAYS",
        help="Flag secrets whose expires_at falls within DAYS.",
    )
    @_AS_OF
    @pass_state
    def status(
        state: CliState,
        manifest_path: str | None,
        as_json: bool,
        within: int,
        as_of: datetime | None,
    ) -> None:
        """Each manifest secret's last rotation, next due date, overdue flag and expiry."""
        manifest = _manifest(manifest_path)
        secrets = _client(state, manifest)
        now = _clock(as_of)
        rows = rotation_status(secrets, _plans(manifest), now=now)
        at = now()
        if as_json:
            documents = [
                {
                    **r.as_dict(),
                    "expiring": r.expires_within(within, at),
                    "expired": _expired(r, at),
                }
                for r in rows
            ]
            click.echo(json.dumps(documents, indent=2))
            return
        header = (
            "NAME",
            "KIND",
            "EVERY",
            "VERSION",
            "LAST ROTATED",
            "NEXT DUE",
            "EXPIRES",
            "STATE",
        )
        lines = []
        for r in rows:
            state_text = (
                "missing"
                if r.missing
                else "EXPIRED"
                if _expired(r, at)
                else "OVERDUE"
                if r.overdue
                else f"expires in {(r.expires_at - at).days}d"
                if r.expires_at is not None and r.expires_within(within, at)
                else "pending"
                if r.pending
                else "ok"
            )
            lines.append(
                (
                    r.name,
                    r.kind,
                    f"{r.interval_days}d" if r.interval_days else "-",
                    r.version or "-",
                    format_time(r.last_rotated),
                    format_time(r.next_due),
                    format_time(r.expires_at),
                    state_text,
                )
            )
        click.echo(table(header, lines))

    @group.command("revoke-previous")
    @click.argument("name")
    @click.option("--manifest", "manifest_path", metavar="PATH", help="sekret.toml to use.")
    @pass_state
    def revoke_previous(state: CliState, name: str, manifest_path: str | None) -> None:
        """Stop accepting the previous value of NAME (after clients moved to current).

        When NAME's rotator (manifest) can revoke at the source (postgres), it does too.
        """
        from sekret.ops.incident import revoke_previous as revoke

        manifest = _manifest(manifest_path)
        spec = manifest.secrets.get(name) if manifest is not None else None
        secrets = _client(state, manifest)
        rotator = None
        if spec is not None and spec.rotator:
            options = _resolve_secret_options(secrets, dict(spec.rotator_options))
            rotator = make_rotator(spec.rotator, **options)
        version, at_source = revoke(secrets, name, rotator)
        where = " (and at the source)" if at_source == "revoked" else ""
        click.echo(f"{name}: previous version {version} revoked{where}")
