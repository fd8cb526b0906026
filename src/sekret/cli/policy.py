"""``sekret policy BACKEND``: print the least-privilege policy for one namespace.

Generic over backends: it asks the backend class registered for BACKEND
(``Backend.policy``) for the document granting ``read`` or ``rotate`` access
under ``APP/ENV``, and prints it. No backend is connected to.

This module must never invent policy text itself; each backend owns its own.
"""

from __future__ import annotations

import click

from sekret._names import Namespace
from sekret.backends import policy_document
from sekret.cli._app import CliState, pass_state
from sekret.cli._output import metadata_pairs
from sekret.exceptions import SekretError

__all__ = ["register"]


@click.command()
@click.argument("backend", metavar="[BACKEND]", required=False)
@click.option(
    "--env",
    "env",
    metavar="NAME",
    help="Environment the policy covers (else the global --env / SEKRET_ENV; required).",
)
@click.option("--app", "app", metavar="NAME", help="Application (else --app / SEKRET_APP).")
@click.option(
    "--access",
    type=click.Choice(["read", "rotate", "admin"]),
    default="read",
    show_default=True,
    help="read: the runtime client; rotate: what rotation needs (read and write);"
    " admin: provisioning (create, delete, tag) where the backend has it.",
)
@click.option(
    "--option",
    "options",
    multiple=True,
    metavar="KEY=VALUE",
    help="Backend-specific option (repeatable), e.g. mount=secret or region=us-east-1.",
)
@pass_state
def policy(
    state: CliState,
    backend: str | None,
    env: str | None,
    app: str | None,
    access: str,
    options: tuple[str, ...],
) -> None:
    """Print BACKEND's least-privilege policy for APP/ENV.

    BACKEND is a scheme (vault, aws, azure, gcp) or a backend URL; without it,
    the backend the manifest (or --backend / SEKRET_BACKEND) names for ENV, so
    the policy uses its mount, region, account, vault or project.

    \b
      sekret policy vault --app arrwdb --env production
      sekret policy aws --app arrwdb --env production --access rotate
      sekret policy vault --env production --option leases=database/arrwdb-prod

    With a manifest, the policy also covers its kind = "dynamic" secrets:
    vault, their engine roles (read creds, renew and revoke their own leases);
    aws, sts:AssumeRole on their IAM roles.
    """
    env = env or state.env
    if not env:
        raise click.UsageError("policy needs the environment: pass --env NAME or set SEKRET_ENV")
    if backend is None:
        state.override(env=env)
        if not state.backend_explicit:
            raise click.UsageError(
                "policy needs a backend: pass BACKEND (a scheme or URL), or run it in a"
                " project whose sekret.toml names the environment's backend"
            )
        backend = state.backend_url
    app = app or state.app
    if not app:
        raise click.UsageError("policy needs the app: pass --app NAME or set SEKRET_APP")
    try:
        extra = dict(metadata_pairs(options))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--option") from None
    root = Namespace(app, env).root
    scheme = backend.split("://", 1)[0].split("+", 1)[0].lower()
    if "leases" not in extra and scheme in ("vault", "aws"):
        roles = _manifest_lease_roles(state, env, scheme)
        if roles:  # the manifest's dynamic secrets: their engine roles / IAM roles too
            extra["leases"] = ",".join(sorted(set(roles.values())))
    document = policy_document(backend, root, access=access, **extra)
    click.echo(document.rstrip("\n"))


def _manifest_lease_roles(state: CliState, env: str, scheme: str) -> dict[str, str]:
    """The manifest's dynamic secrets in ``env`` (none when there is no usable manifest)."""
    try:
        manifest = state.context.manifest
    except SekretError:
        return {}
    if manifest is None or env not in manifest.environments:
        return {}
    options = manifest.backend_options(f"{scheme}://", env)
    return dict(options.get("lease_roles", {}))


def register(group: click.Group) -> None:
    """Add ``policy`` to ``group``."""
    group.add_command(policy)
