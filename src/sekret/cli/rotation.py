"""``sekret rotate``, ``sekret rotation status`` and ``sekret revoke-previous``.

``rotate NAME`` runs (or resumes) the four rotation steps for one secret;
``rotate --due`` rotates every manifest secret whose schedule is due (for cron
or a Kubernetes CronJob) and exits non-zero if any rotation failed;
``rotate NAME --rollback`` abandons a pending rotation. The rotator comes from
``--rotator`` or the manifest's ``rotator``; with neither, nothing is rotated:
the command refuses and prints the manual procedure (a vendor-issued key
cannot be generated here, and a random token would destroy it). With
``--option key=value`` settings; an option named ``<x>_secret`` is replaced by
the JSON (or text) of that secret under ``<x>`` (e.g. ``admin_secret=pg-admin``
for the postgres rotator).

``--dry-run`` prints the plan (what is due, which rotator, which steps) and
changes nothing; ``--as-of`` without it asks for confirmation (or ``--yes``).
App, environment and backend come from the shared context (``_context``);
rotating is a write, so a ``read_only`` environment needs ``--admin``.
Nothing here prints a value.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from sekret import Secrets
from sekret.cli._app import CliState, pass_state, stdin_is_terminal
from sekret.cli._output import format_time, table, unshown
from sekret.exceptions import ConfigurationError, InvalidValue, RotationError, SekretError
from sekret.manifest import Manifest, SecretSpec
from sekret.rotation import (
    RotationEngine,
    RotationPlan,
    RotationStatus,
    Rotator,
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


def _manifest(state: CliState, path: str | None) -> Manifest | None:
    if path:
        state.use_manifest(path)
    return state.context.manifest


def _client(state: CliState) -> Secrets:
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
    for position, pair in enumerate(pairs, 1):
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise InvalidValue(f"--option takes key=value, not {unshown(pair, position)}")
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


MANUAL_STEPS = (
    "get a new value from whoever issues it (the vendor's console, the DBA...)",
    "sekret put {name} --stage pending < new-value  (stored, not yet served)",
    "deploy: check the clients work with it (sekret get {name} --stage pending)",
    "sekret promote {name}  (pending becomes current, the old value previous)",
    "sekret revoke-previous {name}  (once every client uses the new value)",
)
"""How a secret without a rotator is rotated by hand (``rotate`` prints these)."""

ENGINE_STEPS = (
    "create: the rotator generates a new value, stored as pending",
    "set: the rotator applies it where the secret is used",
    "test: the rotator checks the new value works (else set is reverted)",
    "finish: pending becomes current, the old value previous",
)


def manual_procedure(name: str) -> list[str]:
    """The numbered manual rotation steps for ``name``."""
    return [f"{i}. {step.format(name=name)}" for i, step in enumerate(MANUAL_STEPS, 1)]


def _rotator_for(name: str, spec: SecretSpec | None, flag: str | None) -> str | None:
    """--rotator, else the manifest's rotator; never a default that could destroy a value."""
    return flag or (spec.rotator if spec else None)


def _plan_entry(name: str, rotator: str | None, due: bool | None) -> dict[str, Any]:
    steps = list(ENGINE_STEPS) if rotator else manual_procedure(name)
    return {"name": name, "due": due, "rotator": rotator or None, "steps": steps}


def _print_plan(entries: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({"dry_run": True, "plan": entries}, indent=2))
        return
    if not entries:
        click.echo("dry run: nothing is due")
    for entry in entries:
        due = {True: "due", False: "not due", None: "due state unknown"}[entry["due"]]
        how = f"rotator {entry['rotator']}" if entry["rotator"] else "no rotator: by hand"
        click.echo(f"dry run: {entry['name']} ({due}), {how}:")
        for step in entry["steps"]:
            click.echo(f"  {step}")


def _no_rotator(name: str) -> RotationError:
    for line in [f"{name} has no rotator; rotate it by hand:", *manual_procedure(name)]:
        click.echo(line, err=True)
    return RotationError(
        f"{name}: no rotator configured (manifest `rotator = ...` or --rotator);"
        " nothing was changed, follow the manual steps above",
        name=name,
    )


def _rotate_one(
    secrets: Secrets, name: str, rotator_name: str | None, options: dict[str, Any], rollback: bool
) -> dict[str, Any]:
    # Abandoning a pending version needs no rotator: the base one reverts nothing.
    rotator = (
        make_rotator(rotator_name, **_resolve_secret_options(secrets, options))
        if rotator_name is not None
        else Rotator()
    )
    engine = RotationEngine(secrets)
    result = engine.rollback(name, rotator) if rollback else engine.rotate(name, rotator)
    return {
        "name": name,
        "outcome": result.outcome,
        "version": result.version,
        "previous_version": result.previous_version,
        "steps": [s.value for s in result.steps],
    }


def _confirm_as_of(as_of: datetime | None, dry_run: bool, yes: bool) -> None:
    if as_of is None or dry_run or yes:
        return
    if not stdin_is_terminal():
        raise click.UsageError(
            "--as-of rotates for real: add --dry-run to see the plan, or --yes to rotate"
        )
    click.confirm(f"Rotate for real everything due as of {as_of:%Y-%m-%d}?", abort=True, err=True)


def register(group: click.Group) -> None:
    @group.command("rotate")
    @click.argument("name", required=False)
    @click.option("--due", is_flag=True, help="Rotate every manifest secret that is due.")
    @click.option(
        "--rotator",
        "rotator_name",
        metavar="NAME",
        help="random, api_key, postgres... (else the manifest's; none: rotate by hand).",
    )
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
    @click.option("--dry-run", is_flag=True, help="Print the plan (what, which rotator, steps).")
    @click.option("--yes", is_flag=True, help="Confirm a rotation --as-of a date without asking.")
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
        dry_run: bool,
        yes: bool,
        as_of: datetime | None,
    ) -> int:
        """Rotate NAME now, or every secret that is --due (exit 1 if any failed).

        A secret without a rotator is never rotated automatically: the command
        refuses and prints the manual procedure (put --stage pending, deploy,
        promote, revoke-previous). --dry-run prints the plan and changes nothing;
        --as-of without --dry-run asks for confirmation (or --yes).
        """
        if bool(name) == due:
            raise click.UsageError("give either NAME or --due")
        if dry_run and rollback:
            raise click.UsageError("--dry-run and --rollback exclude each other")
        _confirm_as_of(as_of, dry_run, yes)
        if compromised:
            from sekret.cli.incident import run_incident

            if rollback or name is None:
                raise click.UsageError("--compromised takes NAME and no --rollback")
            options = _parse_options(pairs)
            return run_incident(state, name, rotator_name, options, None, manifest_path, as_json)
        manifest = _manifest(state, manifest_path)
        secrets = _client(state)
        options = _parse_options(pairs)
        specs = manifest.secrets if manifest else {}
        if name:
            spec = specs.get(name)
            chosen = _rotator_for(name, spec, rotator_name)
            if dry_run:
                due_now: bool | None = None
                if spec is not None:
                    plan = RotationPlan(spec.name, spec.kind, spec.rotation_days, spec.rotator)
                    due_now = rotation_status(secrets, [plan], now=_clock(as_of))[0].overdue
                _print_plan([_plan_entry(name, chosen, due_now)], as_json)
                return 0
            if chosen is None and not rollback:
                raise _no_rotator(name)
            merged = {**(spec.rotator_options if spec else {}), **options}
            report = _rotate_one(secrets, name, chosen, merged, rollback)
            click.echo(
                json.dumps(report)
                if as_json
                else f"{name}: {report['outcome']}, current version {report['version']}"
            )
            return 0
        due_now_list = [
            status
            for status in rotation_status(secrets, _plans(manifest), now=_clock(as_of))
            if status.overdue
        ]
        if dry_run:
            _print_plan(
                [
                    _plan_entry(s.name, _rotator_for(s.name, specs[s.name], rotator_name), True)
                    for s in due_now_list
                ],
                as_json,
            )
            return 0
        failed = 0
        reports: list[dict[str, Any]] = []
        for status in due_now_list:
            spec = specs[status.name]
            chosen = _rotator_for(status.name, spec, rotator_name)
            if chosen is None:
                failed += 1
                reports.append(
                    {
                        "name": status.name,
                        "outcome": "manual",
                        "message": "no rotator: rotate by hand (sekret rotate NAME --dry-run)",
                    }
                )
                continue
            try:
                reports.append(
                    _rotate_one(
                        secrets, status.name, chosen, {**spec.rotator_options, **options}, False
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
        """Each manifest secret's last rotation, next due date and overdue flag."""
        manifest = _manifest(state, manifest_path)
        secrets = _client(state)
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

        manifest = _manifest(state, manifest_path)
        spec = manifest.secrets.get(name) if manifest is not None else None
        secrets = _client(state)
        rotator = None
        if spec is not None and spec.rotator:
            options = _resolve_secret_options(secrets, dict(spec.rotator_options))
            rotator = make_rotator(spec.rotator, **options)
        version, at_source = revoke(secrets, name, rotator)
        where = " (and at the source)" if at_source == "revoked" else ""
        click.echo(f"{name}: previous version {version} revoked{where}")
