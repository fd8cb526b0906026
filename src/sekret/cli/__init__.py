"""The ``sekret`` command (entry point ``sekret = "sekret.cli:main"``).

click (the ``cli`` extra) is imported only under ``sekret.cli`` and only when
the command runs; without it ``main`` prints one line naming
``pip install "sekret[cli]"`` and exits 2.

Commands are listed in ``COMMANDS`` (command name -> module); each module
exposes ``register(group: click.Group) -> None`` and adds its commands to the
``sekret`` group, imported lazily the first time one of them is needed. A
command gets the facade with ``sekret.cli._app.pass_state`` and
``state.secrets()`` (the context comes from ``_context``); errors it lets
escape are turned into one line on stderr by the group (see ``_app``).

Nothing here may print a value except ``sekret get`` and ``sekret read``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import click

__all__ = ["COMMANDS", "COMMAND_MODULES", "build_cli", "main"]

COMMANDS: Mapping[str, str] = MappingProxyType(
    {
        "put": "sekret.cli.secrets",
        "get": "sekret.cli.secrets",
        "list": "sekret.cli.secrets",
        "versions": "sekret.cli.secrets",
        "rollback": "sekret.cli.secrets",
        "promote": "sekret.cli.secrets",
        "delete": "sekret.cli.secrets",
        "restore": "sekret.cli.secrets",
        "destroy": "sekret.cli.secrets",
        "context": "sekret.cli.context",
        "completion": "sekret.cli.completion",
        "init": "sekret.cli.store",
        "rotate-master-key": "sekret.cli.store",
        "rotate-data-key": "sekret.cli.store",
        "policy": "sekret.cli.policy",
        "audit": "sekret.cli.audit",
        "run": "sekret.cli.run",
        "export": "sekret.cli.run",
        "rotate": "sekret.cli.rotation",
        "rotation": "sekret.cli.rotation",
        "revoke-previous": "sekret.cli.rotation",
        "backup": "sekret.cli.backup",
        "doctor": "sekret.cli.doctor",
        "read": "sekret.cli.inject",
        "inject": "sekret.cli.inject",
        "precommit": "sekret.cli.precommit",
        "agent": "sekret.cli.agent",
        "diff": "sekret.cli.diff",
        "import": "sekret.cli.importing",
        "manifest": "sekret.cli.importing",
        "incident": "sekret.cli.incident",
    }
)
"""Top-level command -> the module whose ``register(group)`` adds it; add yours here.

Modules are imported only when one of their commands runs (or ``--help``
lists them), so ``sekret --version`` and ``sekret get`` stay fast.
"""

COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(COMMANDS.values()))
"""Every command module, in ``COMMANDS`` order."""

_NO_CLICK = 'sekret: error: the sekret command needs click: pip install "sekret[cli]"\n'


def build_cli() -> click.Group:
    """The ``sekret`` group; each command's module loads when that command is used."""
    from sekret.cli._app import build_group

    return build_group(COMMANDS)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sekret`` with ``argv`` (default: the process's); returns the exit code."""
    from sekret.cli._fast import fast_get

    done = fast_get(sys.argv[1:] if argv is None else argv)  # `sekret get NAME`: no click
    if done is not None:
        return done
    try:
        import click  # noqa: F401  # only to learn whether the extra is installed
    except ImportError:
        sys.stderr.write(_NO_CLICK)
        return 2
    code: int = build_cli().main(
        args=list(argv) if argv is not None else None, prog_name="sekret", standalone_mode=False
    )
    return code
