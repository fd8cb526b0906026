"""``sekret completion bash|zsh|fish``: the shell completion script, on stdout.

Uses click's own shell completion (the ``_SEKRET_COMPLETE`` variable), so
commands, options and their choices complete; secret names are not completed
(that would read the backend on every key press). Install with, e.g.::

    sekret completion bash > ~/.local/share/bash-completion/completions/sekret
    sekret completion zsh > "${fpath[1]}/_sekret"
    sekret completion fish > ~/.config/fish/completions/sekret.fish
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

__all__ = ["COMPLETE_VAR", "SHELLS", "register"]

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_SEKRET_COMPLETE"


@click.command("completion")
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    \b
      eval "$(sekret completion bash)"      # this shell only
      sekret completion fish > ~/.config/fish/completions/sekret.fish
    """
    root = ctx.find_root().command
    cls = get_completion_class(shell)
    if cls is None:  # pragma: no cover  # the three shells are built into click
        raise click.UsageError(f"no completion for {shell}")
    click.echo(cls(root, {}, "sekret", COMPLETE_VAR).source())


def register(group: click.Group) -> None:
    """Add ``completion`` to ``group``."""
    group.add_command(completion)
