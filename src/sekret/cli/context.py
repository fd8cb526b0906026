"""``sekret context``: what the other commands would work on, and why.

Prints the resolved app, environment, backend, read_only, cache and audit,
and where each came from (a flag, a variable, a manifest ``file:line``, or
the default), like ``kubectl config current-context``. ``--json`` for tools.
It opens no backend and shows no value (credentials in URLs are masked).
"""

from __future__ import annotations

import click

from sekret.cli._app import CliState, pass_state
from sekret.cli._output import table, to_json

__all__ = ["register"]


def _cache_text(ttl: float | None, stale: float | None) -> str:
    if ttl is None and stale is None:
        return "library defaults"
    shown_ttl = "default" if ttl is None else f"{ttl:g}s"
    shown_stale = "default" if stale is None else f"{stale:g}s"
    return f"ttl {shown_ttl}, max_stale {shown_stale}"


@click.command("context")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def context(state: CliState, as_json: bool) -> None:
    """Show the app, environment, backend... a command would use, and where each came from."""
    ctx = state.context
    doc = ctx.as_dict()
    if as_json:
        click.echo(to_json(doc))
        return
    origins = doc["origins"]
    audit = ", ".join(a if isinstance(a, str) else str(a.get("sink")) for a in doc["audit"])
    rows = [
        ("app", doc["app"] or "(none)", str(origins["app"]["where"])),
        ("environment", doc["environment"], origins["environment"]["where"]),
        ("backend", doc["backend"], origins["backend"]["where"]),
        ("read_only", "yes" if doc["read_only"] else "no", origins["read_only"]["where"]),
        ("cache", _cache_text(ctx.cache_ttl, ctx.max_stale), origins["cache"]["where"]),
        ("audit", audit or "(none)", origins["audit"]["where"]),
        ("manifest", doc["manifest"] or "(none found)", origins["manifest"]["where"]),
    ]
    click.echo(table(("PART", "VALUE", "FROM"), rows))


def register(group: click.Group) -> None:
    """Add ``context`` to ``group``."""
    group.add_command(context)
