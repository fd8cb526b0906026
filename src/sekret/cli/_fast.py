"""``sekret get NAME`` without click: the one command whose start-up is its cost.

Importing click (with ``typing`` and ``inspect`` under it) is about a third
of a ``sekret get``. The plain form, ``sekret get NAME`` with no option and
no reference, is read here with exactly what the click command uses
(``_context.CliState``, ``write_value``).
Anything else goes to click: another form, a context that cannot be
resolved, a client that cannot be built (nothing has been read then, so
nothing is done twice). An error of the read itself is reported by the
same code as every command's (``SekretGroup.report``, with the "did you
mean" of ``sekret get``), through the client already built: one read, one
audit event, the same message and exit code.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from sekret._refs import looks_like_reference

TYPE_CHECKING = False  # CliState is only a type here: it loads on use
if TYPE_CHECKING:
    from sekret.cli._context import CliState

__all__ = ["fast_get"]


def fast_get(args: Sequence[str]) -> int | None:
    """The exit code of ``sekret get NAME`` run here, or None: run it through click."""
    if len(args) != 2 or args[0] != "get" or args[1].startswith("-"):
        return None
    name = args[1]
    if looks_like_reference(name):
        return None
    from sekret.cli._context import CliState

    state = CliState()
    try:
        client = state.secrets()  # the click command's own context and client
    except Exception:  # noqa: BLE001 - click's path reports it, in its words
        return None
    try:
        from sekret.cli._output import write_value

        secret = client.get_secret(name)
        write_value(sys.stdout.buffer, secret, newline=True)
        return 0
    except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - reported as click's are
        return _report(state, name, exc)
    finally:
        state.close()


def _report(state: CliState, name: str, error: Exception | KeyboardInterrupt) -> int:
    """Report a failed read as the click command would (its suggestions included)."""
    from sekret.cli import COMMANDS
    from sekret.cli._app import build_group
    from sekret.cli.secrets import did_you_mean

    group = build_group(COMMANDS)
    group.state = state
    try:
        with did_you_mean(state, name):
            raise error
    except (Exception, KeyboardInterrupt) as final:  # noqa: BLE001 - reported below
        error = final
    return group.report(error)
