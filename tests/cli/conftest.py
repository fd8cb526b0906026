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
