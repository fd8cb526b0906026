"""The ``sekret`` command (entry point ``sekret = "sekret.cli:main"``).

click (the ``cli`` extra) is imported only under ``sekret.cli`` and only when
the command runs; without it ``main`` prints one line naming
``pip install "sekret[cli]"`` and exits 2.

Command groups are registered through ``COMMAND_MODULES``: each module named
there exposes ``register(group: click.Group) -> None`` and adds its commands
to the ``sekret`` group. A command gets the facade with
``sekret.cli._app.pass_state`` and ``state.secrets()``; errors it lets
escape are turned into one line on stderr by the group (see ``_app``).

Nothing here may print a value except ``sekret get`` and ``sekret read``.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click

__all__ = ["COMMAND_MODULES", "build_cli", "main"]

COMMAND_MODULES: tuple[str, ...] = (
    "sekret.cli.secrets",
    "sekret.cli.store",
    "sekret.cli.policy",
    "sekret.cli.audit",
    "sekret.cli.run",
    "sekret.cli.rotation",
    "sekret.cli.backup",
    "sekret.cli.doctor",
    "sekret.cli.inject",
    "sekret.cli.precommit",
    "sekret.cli.diff",
    "sekret.cli.importing",
    "sekret.cli.incident",
)
"""Modules whose ``register(group)`` adds commands; add yours here."""

_NO_CLICK = 'sekret: error: the sekret command needs click: pip install "sekret[cli]"\n'


def build_cli() -> click.Group:
    """The ``sekret`` group with every module in ``COMMAND_MODULES`` registered."""
    from sekret.cli._app import build_group

    group = build_group()
    for module_name in COMMAND_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            # A command group whose optional dependency is missing must not take
            # `sekret get` down with it; the tests import every module directly.
            if os.environ.get("SEKRET_DEBUG") == "1":
                sys.stderr.write(f"sekret: debug: skipped {module_name}: {exc}\n")
            continue
        module.register(group)
    return group


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sekret`` with ``argv`` (default: the process's); returns the exit code."""
    try:
        import click  # noqa: F401  # only to learn whether the extra is installed
    except ImportError:
        sys.stderr.write(_NO_CLICK)
        return 2
    code: int = build_cli().main(
        args=list(argv) if argv is not None else None, prog_name="sekret", standalone_mode=False
    )
    return code
