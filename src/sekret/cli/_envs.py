"""A client for a NAMED environment (``sekret diff A B``, ``import --from-env``).

The global options (``sekret.cli._app.CliState``) resolve the active
environment; the operator commands also need other environments of the same
app. ``environment_client`` builds one the way the active one is built, through
the one resolution (``sekret.cli._context``) with the environment replaced:
the manifest's ``[environments.<name>]``, unless ``--backend``/``SEKRET_BACKEND``
names a backend (then every environment is read from that backend, under its
own ``app/<name>/`` namespace). This is the only place the operator commands
turn an environment name into a client.
"""

from __future__ import annotations

from typing import Any

from sekret import Secrets
from sekret.cli._app import CliState
from sekret.cli._context import resolve_context
from sekret.manifest import Manifest, find_manifest, load_manifest

__all__ = ["environment_client", "project_manifest"]


def project_manifest(path: str | None) -> Manifest | None:
    """``--manifest PATH``, else the manifest found upward from here, else None."""
    if path:
        return load_manifest(path)
    found = find_manifest()
    return load_manifest(found) if found else None


def environment_client(
    state: CliState, environment: str | None, manifest: Manifest | None, *, read_only: bool
) -> Secrets:
    """A cache-less client for ``environment``, resolved like every command's client
    (``sekret._context``: flags, ``SEKRET_*``, the manifest) with the environment
    replaced; audited as the manifest says. ``environment`` None: the active one.

    ``read_only``: the command only reads (diff, a dry run), whatever the write
    rule says; otherwise the one write rule decides (manifest ``read_only``,
    ``--read-only``/``--admin``).
    """
    changes: dict[str, Any] = {}
    if environment:
        changes["env"] = environment
    if manifest is not None and manifest.path is not None:
        changes["manifest"] = str(manifest.path)
    if read_only:
        changes.update(read_only=True, admin=False)
    context = resolve_context(state.flags.replace(**changes), state.environ)
    return Secrets(**context.client_arguments(cache=False, **state.backend_options))
