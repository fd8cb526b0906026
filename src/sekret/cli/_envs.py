"""A client for a NAMED environment (``sekret diff A B``, ``import --from-env``).

The global options (``sekret._app.CliState``) resolve the active
environment; the operator commands also need other environments of the same
app. ``environment_client`` builds one the way the active one is built: from
the manifest's ``[environments.<name>]`` unless ``--backend`` names a backend
explicitly (then every environment is read from that backend, under its own
``app/<name>/`` namespace). This is the only place the operator commands turn
an environment name into a client.
"""

from __future__ import annotations

from sekret._secrets import Secrets
from sekret.cli._app import CliState
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
    """A cache-less client for ``environment`` (audited as the manifest says).

    ``environment`` None: the active one (``--env``/``SEKRET_ENV``, else the
    manifest's default, else ``development``).
    """
    if manifest is not None and not state.backend_explicit:
        # Like `sekret rotate`: the command's own need decides, not the manifest's
        # runtime read_only (an operator command is the admin client); --read-only wins.
        writable = not (read_only or state.read_only)
        return Secrets(
            **manifest.client_arguments(
                environment or state.env, cache=False, read_only=not writable
            )
        )
    app = state.app or (manifest.app if manifest is not None else None) or state.require_app()
    return Secrets(
        state.backend_url,
        app=app,
        environment=environment or state.environment,
        cache=False,
        read_only=read_only or state.read_only,
        **state.backend_options,
    )
