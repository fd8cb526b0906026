"""Helpers for the CLI tests: run ``sekret`` in-process against one store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from click.testing import CliRunner, Result

from sekret.cli import build_cli

_CLEAN_ENV: dict[str, str | None] = dict.fromkeys(
    (
        "SEKRET_BACKEND",
        "SEKRET_APP",
        "SEKRET_ENV",
        "SEKRET_DEBUG",
        "SEKRET_KEY_FILE",
        "SEKRET_MASTER_KEY",
        "SEKRET_PASSPHRASE",
        "SEKRET_READ_ONLY",
    )
)


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
        runner = CliRunner(env={**_CLEAN_ENV, **self.env})
        return runner.invoke(build_cli(), list(argv), input=input, catch_exceptions=False)
