"""Fixtures for the CLI tests: a runner bound to a fresh embedded store."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli.clirunner import Cli
from sekret.backends.local import init_store


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    """A fresh local store (key file next to it, found by default)."""
    path = tmp_path / "secrets.db"
    init_store(path)
    return f"local://{path}"


@pytest.fixture
def cli(store_url: str) -> Cli:
    return Cli(store_url)


@pytest.fixture(params=["local", "openbao"])
def ops_cli(request: pytest.FixtureRequest, store_url: str) -> Cli:
    """A runner on the local store or on the OpenBao dev server, for a fresh app each time."""
    import secrets as _random

    app = "ops" + _random.token_hex(4)
    if request.param == "local":
        return Cli(store_url, app=app)
    server = request.getfixturevalue("openbao")
    host = server.address.split("://", 1)[1]
    return Cli(
        f"vault+http://{host}/secret?admin=true", app=app, env={"VAULT_TOKEN": server.root_token}
    )
