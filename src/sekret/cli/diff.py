"""``sekret diff ENV_A ENV_B``: what differs between two environments.

Missing, extra and different-kind secrets, rotation drift and values shared
by both environments (found by keyed hash, see ``sekret.ops.diff``). Exits 1
when anything is found, so CI can gate on it; 0 when the two agree. Nothing
here prints a value.
"""

from __future__ import annotations

import click

from sekret.cli._app import CliState, pass_state
from sekret.cli._envs import environment_client, project_manifest
from sekret.cli._output import table, to_json
from sekret.ops.diff import compare_environments

__all__ = ["register"]


def register(group: click.Group) -> None:
    """Add ``diff`` to ``group``."""

    @group.command("diff")
    @click.argument("env_a", metavar="ENV_A")
    @click.argument("env_b", metavar="ENV_B")
    @click.option("--manifest", "manifest_path", metavar="PATH", help="sekret.toml to use.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_state
    def diff(
        state: CliState, env_a: str, env_b: str, manifest_path: str | None, as_json: bool
    ) -> int:
        """Compare two environments: drift, rotation, reused values (exit 1 if any)."""
        if env_a == env_b:
            raise click.UsageError("give two different environments")
        manifest = project_manifest(manifest_path)
        with (
            environment_client(state, env_a, manifest, read_only=True) as a,
            environment_client(state, env_b, manifest, read_only=True) as b,
        ):
            report = compare_environments(
                a, b, declared=manifest.secrets if manifest is not None else None
            )
        if as_json:
            click.echo(to_json(report.as_dict()))
        elif report.ok:
            click.echo(f"{env_a} and {env_b} agree ({report.compared} secrets compared)")
        else:
            rows = [(f.check, f.name, f.detail) for f in report.findings]
            click.echo(table(("CHECK", "SECRET", "DETAIL"), rows))
            click.echo(f"\n{len(report.findings)} finding(s) in {report.compared} secrets")
        return 0 if report.ok else 1
