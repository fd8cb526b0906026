"""sekret.cli._envs: a client for a named environment, as the active one is built."""

from __future__ import annotations

from pathlib import Path

import pytest

from sekret.cli._app import CliState
from sekret.cli._envs import environment_client, project_manifest
from sekret.exceptions import AccessDenied


def _manifest(tmp_path: Path, store_url: str) -> Path:
    path = tmp_path / "sekret.toml"
    path.write_text(
        'app = "arrwdb"\ndefault_environment = "development"\n'
        f'[environments.development]\nbackend = "{store_url}"\n'
        f'[environments.production]\nbackend = "{store_url}"\nread_only = true\n'
    )
    return path


def test_manifest_environments_unless_a_backend_is_explicit(tmp_path: Path, store_url: str) -> None:
    """Without --backend each environment comes from the manifest; with it, from --backend."""
    manifest = project_manifest(str(_manifest(tmp_path, store_url)))
    state = CliState(None, None, None)
    with environment_client(state, "production", manifest, read_only=False) as prod:
        assert prod.namespace.root == "arrwdb/production"
        assert not prod.read_only  # an operator command decides, not the runtime flag
    with environment_client(state, None, manifest, read_only=True) as active:
        assert active.namespace.root == "arrwdb/development"
        assert active.read_only
    explicit = CliState(store_url, "other", None)
    with environment_client(explicit, "staging", manifest, read_only=False) as staging:
        assert staging.namespace.root == "other/staging"


def test_global_read_only_wins(tmp_path: Path, store_url: str) -> None:
    """--read-only makes every operator client read-only, writes refused with AccessDenied."""
    manifest = project_manifest(str(_manifest(tmp_path, store_url)))
    state = CliState(None, None, None, read_only=True)
    client = environment_client(state, "development", manifest, read_only=False)
    with client, pytest.raises(AccessDenied):
        client.put("k", "v-not-secret")
