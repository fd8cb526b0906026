"""``sekret doctor``: run the security checklist on this project.

Prints one row per check (or ``--json``) and exits 0 when no check failed,
1 otherwise; warnings fail only with ``--strict``. ``--accept ID=REASON``
records why a warning or failure is acceptable here (the check is then
reported as skipped, with the reason). The environment is ``--env`` (of the
command or of ``sekret``), else ``SEKRET_ENV``, else the manifest's default;
an explicit ``--backend`` replaces the manifest's backend URL.

Nothing here prints a value: results carry file names, lines and secret names.
"""

from __future__ import annotations

import os

import click

from sekret.cli._app import CliState, pass_state
from sekret.cli._output import table, to_json, unshown
from sekret.doctor import TITLES, CheckResult, run_checks
from sekret.exceptions import InvalidValue

__all__ = ["register"]

_MARK = {"pass": "ok", "warn": "WARN", "fail": "FAIL", "skip": "skip"}


def _accepted(pairs: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for position, pair in enumerate(pairs, 1):
        check_id, sep, reason = pair.partition("=")
        if not sep or not check_id or not reason.strip():
            raise InvalidValue(f"--accept takes CHECK_ID=REASON, not {unshown(pair, position)}")
        out[check_id.strip()] = reason.strip()
    unknown = sorted(set(out) - set(TITLES))
    if unknown:
        # A typo on the command line is a usage error (exit 2), not configuration.
        raise click.BadParameter(
            f"unknown check id(s) {', '.join(unknown)}; known: {', '.join(sorted(TITLES))}",
            param_hint="--accept",
        )
    return out


def _text(results: list[CheckResult]) -> str:
    rows = [(_MARK[r.status], r.id, r.detail) for r in results]
    lines = [table(("STATUS", "CHECK", "DETAIL"), rows)]
    for r in results:
        if r.status in ("warn", "fail") or (r.status == "skip" and r.findings):
            lines.append("")
            lines.append(f"{_MARK[r.status]} {r.id}: {r.title}")
            lines.extend(f"  - {finding}" for finding in r.findings)
            if r.fix:
                lines.append(f"  fix: {r.fix}")
    counts = {s: sum(1 for r in results if r.status == s) for s in _MARK}
    lines.append("")
    lines.append(
        f"{counts['pass']} passed, {counts['warn']} warnings, {counts['fail']} failed,"
        f" {counts['skip']} skipped"
    )
    return "\n".join(lines)


def register(group: click.Group) -> None:
    """Add ``doctor`` to ``group``."""

    @group.command("doctor")
    @click.option(
        "--manifest",
        "manifest_path",
        metavar="PATH",
        help="sekret.toml to check (default: found upward from here).",
    )
    @click.option("--env", "env_name", metavar="NAME", help="The environment to check.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.option("--strict", is_flag=True, help="Warnings fail too (exit 1).")
    @click.option(
        "--accept",
        "accepts",
        multiple=True,
        metavar="ID=REASON",
        help="Accept a check's warning or failure, saying why (repeatable).",
    )
    @pass_state
    def doctor(
        state: CliState,
        manifest_path: str | None,
        env_name: str | None,
        as_json: bool,
        strict: bool,
        accepts: tuple[str, ...],
    ) -> int:
        """Check this project against the security checklist (exit 1 if a check fails)."""
        accepted = _accepted(accepts)
        # Not state.context: the doctor reports a broken manifest or an undeclared
        # environment as a finding instead of failing before the checklist runs.
        flags = state.flags
        results = run_checks(
            manifest_path or flags.manifest,
            environment=env_name or flags.env,
            backend=flags.backend or os.environ.get("SEKRET_BACKEND") or None,
            accept=accepted,
        )
        failing = {"fail", "warn"} if strict else {"fail"}
        code = 1 if any(r.status in failing for r in results) else 0
        if as_json:
            click.echo(to_json({"ok": code == 0, "checks": [r.as_dict() for r in results]}))
        else:
            click.echo(_text(results))
        return code
