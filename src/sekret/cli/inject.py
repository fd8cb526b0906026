"""``sekret read REF`` and ``sekret inject -i TEMPLATE -o FILE [--watch]``.

``read`` is the only command besides ``get`` that prints a value: one
reference, resolved through the client (cache, audit, namespace).

``inject`` renders a template (``{{ sekret "sekret://..." }}``, see
sekret._template) into a 0600 file, atomically; ``--watch`` re-renders every
``--interval`` seconds and runs ``--on-change`` when the file changed, like
Vault Agent's template stanza. The command is split with shell rules but run
without a shell (write ``sh -c '...'`` for one).

Nothing here may put a value into a message or an error.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

import click

from sekret._refs import field_text, parse_reference
from sekret._template import load_template, render_to_file, watch
from sekret.cli._app import CliState, pass_state
from sekret.cli._output import to_json, write_value
from sekret.exceptions import SekretError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from sekret import Secrets

__all__ = ["print_reference", "register"]


def print_reference(
    secrets: Secrets,
    ref: str,
    *,
    version: str | None = None,
    stage: str | None = None,
    newline: bool = True,
    as_json: bool = False,
) -> None:
    """Write the value a reference (or ``name#field``) names to stdout."""
    full, version, stage, field = secrets._target(ref, version, stage, None)
    secret = secrets._read(full, version, stage)
    if field is None:
        if as_json:
            from sekret.cli._output import secret_document

            click.echo(to_json(secret_document(ref, secret)))
            return
        write_value(sys.stdout.buffer, secret, newline=newline)
        return
    text = field_text(secret, field, backend=secrets.backend.describe())
    if as_json:
        doc = {"reference": ref, "name": full, "version": secret.version, "field": field}
        click.echo(to_json({**doc, "value": text}))
        return
    out = sys.stdout.buffer
    out.write(text.encode("utf-8") + (b"\n" if newline else b""))
    out.flush()


@click.command()
@click.argument("reference")
@click.option("-n", "--no-newline", is_flag=True, help="Do not add a newline after the value.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON with the value and its origin.")
@pass_state
def read(state: CliState, reference: str, no_newline: bool, as_json: bool) -> None:
    """Print the value REFERENCE names (this reveals it).

    sekret://NAME, sekret://NAME#FIELD, sekret://NAME@previous, @v3,
    sekret://APP/ENV/NAME (see docs/references.md).
    """
    parse_reference(reference, require_scheme=False)  # syntax errors before any I/O
    print_reference(state.secrets(), reference, newline=not no_newline, as_json=as_json)


class _Stop:
    """A wait that SIGTERM/SIGINT interrupts (so a sidecar stops at once, exit 0)."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.event.set())

    def __call__(self, seconds: float) -> bool:
        return self.event.wait(seconds)


def _runner(command: str | None) -> Callable[[], None] | None:
    if not command:
        return None
    argv = shlex.split(command)

    def run() -> None:
        try:
            code = subprocess.run(argv, check=False).returncode
        except OSError as exc:
            click.echo(f"sekret: warning: --on-change {argv[0]!r} failed: {exc.strerror}", err=True)
            return
        if code != 0:
            click.echo(f"sekret: warning: --on-change command exited {code}", err=True)

    return run


def _report(exc: SekretError) -> None:
    click.echo(f"sekret: error: {exc.message} (kept the previous file)", err=True)


@click.command()
@click.option(
    "-i",
    "--in",
    "template_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help='Template file with {{ sekret "sekret://NAME" }} tags.',
)
@click.option(
    "-o",
    "--out",
    "output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="File to write (0600, replaced atomically).",
)
@click.option(
    "--watch", "watch_", is_flag=True, help="Keep running; re-render when a value changes."
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0.05),
    default=60.0,
    show_default=True,
    help="Seconds between checks with --watch.",
)
@click.option("--on-change", metavar="CMD", help="Run CMD (no shell) after the file changed.")
@pass_state
def inject(
    state: CliState,
    template_path: Path,
    output: Path,
    watch_: bool,
    interval: float,
    on_change: str | None,
) -> None:
    """Render a template's {{ sekret "REF" }} tags into OUT (0600, atomic)."""
    template = load_template(template_path)  # syntax errors before any read
    secrets = state.secrets()
    if not watch_:
        changed = render_to_file(template, secrets, output)
        click.echo(f"{'rendered' if changed else 'unchanged'} {output}", err=True)
        if changed:
            run = _runner(on_change)
            if run is not None:
                run()
        return
    stop = _Stop()
    stop.install()
    watch(
        template_path,
        output,
        secrets,
        wait=stop,
        interval=interval,
        on_change=_runner(on_change),
        on_error=_report,
    )


def register(group: click.Group) -> None:
    """Add ``read`` and ``inject`` to ``group``."""
    group.add_command(read)
    group.add_command(inject)
