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
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import click

from sekret._secrets import Secrets
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

DEFAULT_STORE: Final = Path(".sekret") / "secrets.db"
"""The store used when neither ``--backend`` nor ``SEKRET_BACKEND`` names one."""

DEFAULT_ENV: Final = "development"
"""The environment used when neither ``--env`` nor ``SEKRET_ENV`` names one."""

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


def default_backend_url(cwd: Path | None = None) -> str:
    """``local://`` + the absolute path of ``./.sekret/secrets.db``."""
    return "local://" + str(((cwd or Path.cwd()) / DEFAULT_STORE).absolute())


def stdin_is_terminal() -> bool:
    """Whether a person may be typing on stdin (then prompts are used, hidden)."""
    return sys.stdin is not None and sys.stdin.isatty()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _error(message: str) -> None:
    sys.stderr.write(f"sekret: error: {_one_line(message)}\n")
    sys.stderr.flush()


class CliState:
    """What the global options chose; builds the facade on first use."""

    def __init__(
        self, backend: str | None, app: str | None, env: str | None, read_only: bool = False
    ) -> None:
        self.backend_url = backend or default_backend_url()
        self.read_only = read_only
        self.backend_explicit = backend is not None
        self.app = app
        self.env = env  # None: not given (the facade then uses DEFAULT_ENV)
        self.backend_options: dict[str, Any] = {}
        self._secrets: Secrets | None = None

    @property
    def environment(self) -> str:
        return self.env or DEFAULT_ENV

    def require_app(self) -> str:
        if not self.app:
            raise click.UsageError("no app given: pass --app NAME or set SEKRET_APP")
        return self.app

    def secrets(self) -> Secrets:
        """The facade (no cache: each command is one short-lived call)."""
        if self._secrets is None:
            self._secrets = Secrets(
                self.backend_url,
                app=self.require_app(),
                environment=self.environment,
                cache=False,
                read_only=self.read_only,
                **self.backend_options,
            )
        return self._secrets

    def close(self) -> None:
        if self._secrets is not None:
            self._secrets.close()
            self._secrets = None


pass_state = click.make_pass_decorator(CliState)


class SekretGroup(click.Group):
    """A click group whose every failure is one line on stderr and an exit code."""

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
        except SekretError as exc:
            _error(str(exc))
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
                traceback.print_exc()
            _error(
                f"internal error ({type(exc).__name__}); this is a bug,"
                " rerun with SEKRET_DEBUG=1 for the traceback"
            )
            return EXIT_INTERNAL
        return result if isinstance(result, int) else 0


def build_group() -> SekretGroup:
    """The bare ``sekret`` group with its global options (no commands yet)."""

    @click.group(
        cls=SekretGroup,
        epilog=exit_codes_epilog(),
        context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
    )
    @click.option(
        "--backend",
        envvar="SEKRET_BACKEND",
        show_envvar=True,
        metavar="URL",
        help="Backend URL (local:///path, vault+https://..., aws://region...)."
        f" Default: the local store ./{DEFAULT_STORE.as_posix()}.",
    )
    @click.option(
        "--app", envvar="SEKRET_APP", show_envvar=True, metavar="NAME", help="Application name."
    )
    @click.option(
        "--env",
        envvar="SEKRET_ENV",
        show_envvar=True,
        metavar="NAME",
        help=f"Environment name. Default: {DEFAULT_ENV}.",
    )
    @click.option(
        "--read-only",
        is_flag=True,
        envvar="SEKRET_READ_ONLY",
        show_envvar=True,
        help="Refuse every write (exit 4), as the runtime client does.",
    )
    @click.version_option(package_name="sekret", prog_name="sekret")
    @click.pass_context
    def sekret(
        ctx: click.Context, backend: str | None, app: str | None, env: str | None, read_only: bool
    ) -> None:
        """sekret: versioned secrets for one app and environment, on any backend.

        A short name such as cohere-api-key lives at APP/ENV/cohere-api-key.
        Values are read from stdin or a file, never from the command line;
        only `sekret get` prints a value.
        """
        state = CliState(backend, app, env, read_only)
        ctx.obj = state
        ctx.call_on_close(state.close)

    return sekret
