"""The ``sekret`` command group: global options, the shared state, error handling.

Command modules (``sekret.cli.secrets`` and the others in
``sekret.cli.COMMAND_MODULES``) get the facade with ``state.secrets()``
through ``pass_state``. Every error leaves as exactly one line on stderr,
``sekret: error: <message>``, with an exit code chosen by the error's class
(``EXIT_CODES``, printed in ``sekret --help``).

This module must never print a value, a traceback (unless ``SEKRET_DEBUG=1``)
or the text of an unexpected exception (it may carry anything).
"""

from __future__ import annotations

import errno
import importlib
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Final

import click

from sekret import __version__
from sekret.cli._context import (
    DEFAULT_ENV,
    DEFAULT_STORE,
    CliState,
    default_backend_url,
)
from sekret.exceptions import (
    AccessDenied,
    BackendUnavailable,
    ConfigurationError,
    Conflict,
    IntegrityError,
    InvalidSecretName,
    InvalidValue,
    SecretNotFound,
    SekretError,
)

__all__ = [
    "DEFAULT_ENV",
    "DEFAULT_STORE",
    "EXIT_CODES",
    "EXIT_ERROR",
    "EXIT_INTERNAL",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "CliState",
    "SekretGroup",
    "build_group",
    "default_backend_url",
    "exit_code_for",
    "pass_state",
    "stdin_is_terminal",
]

EXIT_ERROR: Final = 1
EXIT_USAGE: Final = 2
EXIT_INTERNAL: Final = 70  # EX_SOFTWARE from sysexits.h
EXIT_INTERRUPTED: Final = 130

EXIT_CODES: Final[tuple[tuple[type[SekretError] | None, int, str], ...]] = (
    (None, EXIT_ERROR, "any other error (unsupported operation, audit, rotation, I/O)"),
    (InvalidSecretName, EXIT_USAGE, "usage: bad option or argument, invalid name or value"),
    (InvalidValue, EXIT_USAGE, ""),
    (SecretNotFound, 3, "not found: no such secret, version or stage, or deleted"),
    (AccessDenied, 4, "access denied or authentication failed (or a read-only client)"),
    (Conflict, 5, "conflict: compare-and-set failed, the secret already exists"),
    (BackendUnavailable, 6, "backend unavailable or throttled"),
    (IntegrityError, 7, "integrity: tampered or moved data, wrong master key"),
    (ConfigurationError, 8, "configuration: bad backend URL or key file, missing extra"),
)
"""(error class, exit code, meaning); the most specific class of an error wins."""

_CODE_OF: Final = {cls: code for cls, code, _ in EXIT_CODES if cls is not None}


def exit_code_for(exc: SekretError) -> int:
    """The exit code of an error: its nearest class in ``EXIT_CODES``, else 1."""
    for cls in type(exc).__mro__:
        if cls in _CODE_OF:
            return _CODE_OF[cls]
    return EXIT_ERROR


def exit_codes_epilog() -> str:
    """The exit-code table shown at the end of ``sekret --help``."""
    lines = ["\b", "Exit codes:", "  0    success"]
    for _, code, meaning in sorted(EXIT_CODES, key=lambda row: row[1]):
        if meaning:
            lines.append(f"  {code:<4} {meaning}")
    lines.append(f"  {EXIT_INTERNAL:<4} internal error (a bug; SEKRET_DEBUG=1 shows the traceback)")
    lines.append(f"  {EXIT_INTERRUPTED:<4} interrupted")
    return "\n".join(lines)


def stdin_is_terminal() -> bool:
    """Whether a person may be typing on stdin (then prompts are used, hidden)."""
    return sys.stdin is not None and sys.stdin.isatty()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _error(message: str) -> None:
    sys.stderr.write(f"sekret: error: {_one_line(message)}\n")
    sys.stderr.flush()


pass_state = click.make_pass_decorator(CliState)


class SekretGroup(click.Group):
    """A click group whose every failure is one line on stderr and an exit code.

    ``lazy`` maps a command name to the module that registers it: the module is
    imported only when the command is looked up (a missing optional dependency
    hides that module's commands instead of breaking ``sekret get``).
    """

    lazy: Mapping[str, str] = {}
    state: CliState | None = None  # the last run's state, for error hints

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy:
            self._load(self.lazy[cmd_name])
        return self.commands.get(cmd_name)

    def _read_only_origin(self, exc: SekretError) -> str:
        """`` (read-only: sekret.toml:10)`` for a refused write: what made the client read-only."""
        context = self.state._context if self.state is not None else None
        if not isinstance(exc, AccessDenied) or context is None or not context.read_only:
            return ""
        if "read-only" not in str(exc):
            return ""
        return f" (read-only because of {context.origins['read_only'].where})"

    def _load(self, module_name: str) -> None:
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            if os.environ.get("SEKRET_DEBUG") == "1":
                sys.stderr.write(f"sekret: debug: skipped {module_name}: {exc}\n")
            return
        module.register(self)

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        code = self._guarded(args, prog_name or "sekret", complete_var, **extra)
        if standalone_mode:
            sys.exit(code)
        return code

    def _guarded(
        self, args: Sequence[str] | None, prog_name: str, complete_var: str | None, **extra: Any
    ) -> int:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except (Exception, KeyboardInterrupt) as exc:  # noqa: BLE001 - report() sorts them
            return self.report(exc)
        return result if isinstance(result, int) else 0

    def report(self, error: Exception | KeyboardInterrupt) -> int:
        """Print ``error`` as one ``sekret: error:`` line; its exit code (see ``EXIT_CODES``).

        Every command's errors end here, those of ``sekret get``'s click-free
        path (``sekret.cli._fast``) included.
        """
        try:
            raise error
        except SekretError as exc:
            _error(str(exc) + self._read_only_origin(exc))
            return exit_code_for(exc)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
            _error(exc.format_message() + hint)
            return EXIT_USAGE
        except click.ClickException as exc:
            _error(exc.format_message())
            return exc.exit_code
        except click.Abort as exc:
            if isinstance(exc.__cause__, KeyboardInterrupt):
                _error("interrupted")
                return EXIT_INTERRUPTED
            _error("aborted")
            return EXIT_ERROR
        except KeyboardInterrupt:
            _error("interrupted")
            return EXIT_INTERRUPTED
        except OSError as exc:
            if exc.errno == errno.EPIPE:
                return EXIT_ERROR
            where = f": {exc.filename}" if exc.filename else ""
            _error(f"{exc.strerror or type(exc).__name__}{where}")
            return EXIT_ERROR
        except Exception as exc:  # noqa: BLE001  # the last resort: one line, no message text
            if os.environ.get("SEKRET_DEBUG") == "1":
                import traceback  # lazy: only a bug with SEKRET_DEBUG=1 shows one

                traceback.print_exc()
            _error(
                f"internal error ({type(exc).__name__}); this is a bug,"
                " rerun with SEKRET_DEBUG=1 for the traceback"
            )
            return EXIT_INTERNAL


def build_group(lazy: Mapping[str, str] | None = None) -> SekretGroup:
    """The ``sekret`` group with its global options; ``lazy``: command -> module."""

    @click.group(
        cls=SekretGroup,
        epilog=exit_codes_epilog(),
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    )
    @click.option(
        "--backend",
        metavar="URL",
        help="Backend URL (local:///path, vault+https://..., aws://region...)."
        " Else $SEKRET_BACKEND, the manifest's backend for the environment, or the local"
        f" store ./{DEFAULT_STORE.as_posix()}.",
    )
    @click.option(
        "--app", metavar="NAME", help="Application name. Else $SEKRET_APP, the manifest's app."
    )
    @click.option(
        "--env",
        metavar="NAME",
        help="Environment name. Else $SEKRET_ENV, the manifest's default_environment,"
        f" {DEFAULT_ENV}. A manifest must declare it.",
    )
    @click.option(
        "--read-only",
        is_flag=True,
        help="Refuse every write (exit 4), as the runtime client does. Else $SEKRET_READ_ONLY,"
        " the manifest's read_only.",
    )
    @click.option(
        "--admin",
        is_flag=True,
        help="An operator client that may write, even where the manifest says read_only.",
    )
    @click.option(
        "--manifest",
        "manifest_path",
        metavar="PATH",
        help="The manifest to use. Else $SEKRET_MANIFEST, sekret.toml found upward.",
    )
    # sekret.__version__, not the installed metadata: importlib.metadata scans every
    # distribution on sys.path (~30 ms); tests/cli/test_startup.py keeps the two equal
    @click.version_option(__version__, prog_name="sekret")
    @click.pass_context
    def sekret(
        ctx: click.Context,
        backend: str | None,
        app: str | None,
        env: str | None,
        read_only: bool,
        admin: bool,
        manifest_path: str | None,
    ) -> None:
        """sekret: versioned secrets for one app and environment, on any backend.

        A short name such as cohere-api-key lives at APP/ENV/cohere-api-key.
        Values are read from stdin or a file, never from the command line;
        only `sekret get` prints a value.
        """
        if read_only and admin:
            raise click.UsageError("--read-only and --admin exclude each other")
        state = CliState(backend, app, env, read_only, admin=admin, manifest=manifest_path)
        ctx.obj = state
        ctx.call_on_close(state.close)
        if isinstance(ctx.command, SekretGroup):
            ctx.command.state = state

    sekret.lazy = dict(lazy or {})
    return sekret
