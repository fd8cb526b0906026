"""``sekret precommit FILE...``: the doctor's file checks on the files being committed.

Runs ``dotenv-committed`` and ``values-in-source`` from ``sekret.doctor`` on
exactly the files given (what pre-commit passes: the staged files), not on the
whole work tree, so it is fast enough for every commit. The secret values it
looks for are the current values of the manifest's secrets in the active
environment (``--env``, ``SEKRET_ENV``, the manifest's default), read once,
compared in memory, never printed. Exit 1 when a check fails; a check that
cannot run (no manifest, backend unreachable) is reported as skipped and does
not block the commit.

``.pre-commit-hooks.yaml`` at the repository root declares the hook.
"""

from __future__ import annotations

from pathlib import Path

import click

from sekret.cli._output import to_json
from sekret.doctor import (
    CheckResult,
    Git,
    Project,
    check_dotenv_committed,
    check_values_in_source,
)
from sekret.exceptions import SekretError

__all__ = ["check_files", "register"]


def check_files(
    files: list[Path],
    *,
    manifest: str | None = None,
    environment: str | None = None,
    root: Path | None = None,
) -> list[CheckResult]:
    """The two file checks of the doctor, limited to ``files``."""
    import os
    from datetime import UTC, datetime

    from sekret.doctor import _load

    start = (root or Path.cwd()).absolute()
    path, loaded, error = _load(manifest, start)
    active = None
    if loaded is not None:
        try:
            active = loaded.environment(environment).name
        except SekretError as exc:
            loaded, error = None, str(exc)
    folder = path.parent.absolute() if path is not None else start
    git = Git(folder)
    given = {(start / f).absolute() for f in files}
    git._files = sorted(p for p in given if p.is_relative_to(folder) and p.is_file())
    project = Project(
        root=folder,
        manifest_path=path,
        manifest=loaded,
        manifest_error=error,
        environment=active,
        environ=os.environ,
        now=lambda: datetime.now(UTC),
        git=git,
    )
    try:
        results = [check_dotenv_committed(project)]
        if loaded is None:
            results.append(
                CheckResult(
                    "values-in-source",
                    "No current secret value in a committed file",
                    "skip",
                    f"the manifest did not load ({error})" if error else "no manifest",
                )
            )
        else:
            results.append(check_values_in_source(project))
    finally:
        project.close()
    return results


def register(group: click.Group) -> None:
    """Add ``precommit`` to ``group``."""

    @group.command("precommit")
    @click.argument("files", nargs=-1, type=click.Path(path_type=Path))
    @click.option("--manifest", "manifest_path", metavar="PATH", help="sekret.toml to use.")
    @click.option("--env", "env_name", metavar="NAME", help="Environment whose values to find.")
    @click.option("--json", "as_json", is_flag=True, help="Print JSON.")
    @click.pass_context
    def precommit(
        ctx: click.Context,
        files: tuple[Path, ...],
        manifest_path: str | None,
        env_name: str | None,
        as_json: bool,
    ) -> int:
        """Check FILES (the staged files) for .env files and current secret values."""
        parent = ctx.find_root().params.get("env")
        results = check_files(
            list(files),
            manifest=manifest_path,
            environment=env_name or (parent if isinstance(parent, str) else None),
        )
        code = 1 if any(r.status == "fail" for r in results) else 0
        if as_json:
            click.echo(to_json({"ok": code == 0, "checks": [r.as_dict() for r in results]}))
            return code
        for r in results:
            click.echo(f"{r.status:4} {r.id}: {r.detail}", err=code != 0)
            for finding in r.findings:
                click.echo(f"  - {finding}", err=code != 0)
            if r.status == "fail" and r.fix:
                click.echo(f"  fix: {r.fix}", err=True)
        return code
