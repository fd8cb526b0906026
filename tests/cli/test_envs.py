"""sekret.cli._envs: a client for a named environment, as the active one is built."""

from __future__ import annotations

from pathlib import Path

import pytest

from sekret.cli._app import CliState
from sekret.cli._envs import environment_client, project_manifest
from sekret.exceptions import AccessDenied, ManifestError


def _manifest(tmp_path: Path, store_url: str) -> Path:
    path = tmp_path / "sekret.toml"
    path.write_text(
        'app = "arrwdb"\ndefault_environment = "development"\n'
        f'[environments.development]\nbackend = "{store_url}"\n'
        f'[environments.production]\nbackend = "{store_url}"\nread_only = true\n'
    )
    return path


def test_manifest_environments_unless_a_backend_is_explicit(tmp_path: Path, store_url: str) -> None:
    """Without --backend each environment comes from the manifest; with it, from --backend.
    The one write rule holds: a read_only environment needs --admin to be written."""
    manifest = project_manifest(str(_manifest(tmp_path, store_url)))
    state = CliState(None, None, None)
    with environment_client(state, "production", manifest, read_only=False) as prod:
        assert prod.namespace.root == "arrwdb/production"
        assert prod.read_only  # the manifest says production is read-only
    admin = CliState(None, None, None, admin=True)
    with environment_client(admin, "production", manifest, read_only=False) as prod:
        assert not prod.read_only  # --admin: the operator's explicit choice
    with environment_client(state, None, manifest, read_only=True) as active:
        assert active.namespace.root == "arrwdb/development"
        assert active.read_only
    explicit = CliState(store_url, "other", None)
    with environment_client(explicit, "development", manifest, read_only=False) as dev:
        assert dev.namespace.root == "other/development"  # --backend/--app win
    with pytest.raises(ManifestError, match="'staging'"):
        environment_client(explicit, "staging", manifest, read_only=False)  # not declared


def test_global_read_only_wins(tmp_path: Path, store_url: str) -> None:
    """--read-only makes every operator client read-only, writes refused with AccessDenied."""
    manifest = project_manifest(str(_manifest(tmp_path, store_url)))
    state = CliState(None, None, None, read_only=True)
    client = environment_client(state, "development", manifest, read_only=False)
    with client, pytest.raises(AccessDenied):
        client.put("k", "v-not-secret")
