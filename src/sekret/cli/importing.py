"""``sekret import`` and ``sekret manifest scan``: adopt secrets stored elsewhere.

``import`` copies secrets from a ``.env`` file (``--from-dotenv``), a backend
prefix (``--from URL --prefix P``) or another environment (``--from-env``)
into the active environment, renamed by ``--map SRC=DST`` / ``--map-file``.
It prints the plan first; ``--dry-run`` stops there (the target is opened
read-only, so nothing can change). An existing target is never changed
without ``--overwrite``. ``manifest scan`` proposes ``[secrets.*]`` tables for
what a source holds. Neither command prints a value.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from sekret.cli._app import CliState, pass_state
from sekret.cli._envs import environment_client, project_manifest
from sekret.cli._output import table, to_json
from sekret.ops.importing import (
    BackendSource,
    DotenvSource,
    EnvironmentSource,
    Importer,
    parse_mapping,
    read_mapping_file,
)

if TYPE_CHECKING:
    from sekret.manifest import Manifest
    from sekret.ops.importing import ImportAction, Source

__all__ = ["register"]

_VERB = {
    "create": "create",
    "overwrite": "overwrite (new version on top)",
    "exists": "skip: exists (--overwrite to replace)",
    "unchanged": "skip: unchanged",
}


def _source(
    state: CliState,
    manifest: Manifest | None,
    dotenv: str | None,
    url: str | None,
    prefix: str | None,
    from_env: str | None,
) -> Source:
    given = [x for x in (dotenv, url, from_env) if x]
    if len(given) != 1:
        raise click.UsageError("give exactly one of --from-dotenv, --from and --from-env")
    if prefix and not url:
        raise click.UsageError("--prefix goes with --from URL")
    if dotenv:
        names = {s.env: s.name for s in manifest.secrets.values()} if manifest else {}
        return DotenvSource(dotenv, env_names=names)
    if url:
        return BackendSource(url, prefix or "")
    assert from_env is not None
    return EnvironmentSource(environment_client(state, from_env, manifest, read_only=True))


def _print_plan(actions: list[ImportAction], origin: str, target: str) -> None:
    click.echo(f"import from {origin} into {target}:")
    if not actions:
        click.echo("  nothing to import")
        return
    rows = [
        (a.source, a.target, _VERB[a.action], str(a.versions) if a.writes else "-") for a in actions
    ]
    click.echo(table(("SOURCE", "TARGET", "ACTION", "VERSIONS"), rows))


_FROM_OPTIONS = (
    click.option("--from-dotenv", "dotenv", metavar="PATH", help="A .env file."),
    click.option(
        "--from", "url", metavar="URL", help="A backend URL (aws://, vault+https://, local://...)."
    ),
    click.option("--prefix", metavar="PREFIX", help="With --from: only names under PREFIX/."),
)


def register(group: click.Group) -> None:
    """Add ``import`` and ``manifest scan`` to ``group``."""

    @group.command("import")
    @_FROM_OPTIONS[0]
    @_FROM_OPTIONS[1]
    @_FROM_OPTIONS[2]
    @click.option("--from-env", metavar="NAME", help="Another environment of this app.")
    @click.option(
        "--map",
        "pairs",
        multiple=True,
        metavar="SRC=DST",
        help="Import SRC as DST (repeatable); with a mapping only mapped keys are imported.",
    )
    @click.option("--map-file", metavar="PATH", help="SRC=DST lines (# comments).")
    @click.option("--field", metavar="NAME", help="Import this text field of JSON source values.")
    @click.option("--overwrite", is_flag=True, help="Add a new version to existing targets.")
    @click.option("--dry-run", is_flag=True, help="Print the plan; change nothing.")
    @click.option("--manifest", "manifest_path", metavar="PATH", help="sekret.toml to use.")
    @click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
    @pass_state
    def import_(
        state: CliState,
        dotenv: str | None,
        url: str | None,
        prefix: str | None,
        from_env: str | None,
        pairs: tuple[str, ...],
        map_file: str | None,
        field: str | None,
        overwrite: bool,
        dry_run: bool,
        manifest_path: str | None,
        as_json: bool,
    ) -> None:
        """Import secrets from a .env file, a backend prefix or another environment."""
        manifest = project_manifest(manifest_path)
        mapping = read_mapping_file(map_file) if map_file else {}
        mapping.update(parse_mapping(pairs))  # --map wins over the file
        source = _source(state, manifest, dotenv, url, prefix, from_env)
        origin = source.describe()
        try:
            with environment_client(state, None, manifest, read_only=dry_run) as target:
                importer = Importer(source, target, mapping or None, overwrite, field)
                actions = importer.plan()
                where = target.namespace.root
                if not as_json:
                    _print_plan(actions, origin, where)  # before any write
                if not dry_run:
                    importer.apply()
        finally:
            source.close()
        if as_json:
            document = {
                "source": origin,
                "target": where,
                "dry_run": dry_run,
                "actions": [a.as_dict() for a in actions],
            }
            click.echo(to_json(document))
            return
        written = sum(a.versions for a in actions if a.writes)
        if dry_run:
            click.echo(f"dry run: nothing changed ({written} version(s) would be written)")
        else:
            click.echo(f"{written} version(s) written")

    @group.group("manifest")
    def manifest_group() -> None:
        """Manifest helpers."""

    @manifest_group.command("scan")
    @_FROM_OPTIONS[0]
    @_FROM_OPTIONS[1]
    @_FROM_OPTIONS[2]
    @pass_state
    def scan_command(
        state: CliState, dotenv: str | None, url: str | None, prefix: str | None
    ) -> None:
        """Propose [secrets.*] entries (TOML) for a .env file or a backend prefix."""
        from sekret.ops.scan import scan, to_toml

        source = _source(state, None, dotenv, url, prefix, None)
        try:
            proposals = scan(source, env_names=dotenv is not None)
            click.echo(to_toml(proposals, origin=source.describe()), nl=False)
        finally:
            source.close()
