"""Helpers for the CLI tests: run ``sekret`` in-process against one store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from click.testing import CliRunner, Result

from sekret.cli import build_cli


@dataclass
class Cli:
    """``cli("put", "name", input="v")`` runs sekret with the fixture's store and app."""

    backend: str
    app: str = "arrwdb"
    env: dict[str, str] = field(default_factory=dict)

    def __call__(
        self, *args: str, input: str | bytes | None = None, env: str | None = None
    ) -> Result:
        options = ["--backend", self.backend, "--app", self.app]
        if env is not None:
            options += ["--env", env]
        return self.run([*options, *args], input=input)

    def run(self, argv: Sequence[str], *, input: str | bytes | None = None) -> Result:
        runner = CliRunner(env=dict(self.env))  # SEKRET_* are cleared by tests/conftest.py
        return runner.invoke(build_cli(), list(argv), input=input, catch_exceptions=False)
