"""``sekret run -- cmd args`` and ``sekret export``: the manifest's variables for a process.

``run`` reads every secret the manifest declares for the active environment
and starts the command with them set as environment variables (they win
over variables already set). It never prints a value. The child's exit
code is sekret's; a child killed by signal N gives 128+N (like a shell).
SIGTERM, SIGINT, SIGHUP, SIGUSR1 and SIGUSR2 received by sekret are
forwarded to the child (a Ctrl-C in a terminal reaches both: the child may
see SIGINT twice).

* ``--mask``: stdout and stderr are piped through a ``StreamMasker``, so a
  value the child prints appears as ``***`` even when split across writes.
  A tail that could be the start of a value is held until the next write,
  ``--mask-timeout`` seconds, or the end of the stream.
* ``--watch``: every ``--interval`` seconds the current version of each
  secret is re-read from the backend; when one changed, the child gets
  SIGTERM, ``--grace`` seconds, then SIGKILL, and starts again with the new
  values. The child exiting on its own ends ``run`` with its exit code.

``export --format dotenv|json`` writes the same mapping to stdout or to
``--output FILE`` (created 0600), warning on stderr when stdout is a terminal.

The loaded values are also registered with the process-wide log Redactor.
"""

from __future__ import annotations

import json
import os
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, Any

import click

from sekret._secrets import Secrets
from sekret._values import Secret, SecretValue
from sekret.backends.env import env_text
from sekret.exceptions import SecretNotFound, SekretError
from sekret.integrations.redaction import Redactor, StreamMasker, default_redactor
from sekret.manifest import Manifest, load_manifest

__all__ = ["Resolved", "register", "resolve", "run_child"]

FORWARDED = ("SIGTERM", "SIGINT", "SIGHUP", "SIGUSR1", "SIGUSR2")


@dataclass
class Resolved:
    """The variables for the child (never shown) and the version each came from."""

    variables: dict[str, str] = field(default_factory=dict, repr=False)
    values: list[SecretValue] = field(default_factory=list, repr=False)
    versions: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)


def resolve(secrets: Secrets, manifest: Manifest, *, fresh: bool = False) -> Resolved:
    """Read every declared secret; ``fresh`` bypasses the cache (for ``--watch``)."""
    out = Resolved()
    for name, spec in manifest.secrets.items():
        try:
            secret = secrets.refresh(name) if fresh else secrets.get_secret(name)
        except SecretNotFound:
            out.missing.append(name)
            continue
        out.variables[spec.env] = env_text(secret.value)
        out.values.append(secret.value)
        out.versions[name] = secret.version
        if spec.fields:
            _set_fields(out, secret, spec.fields, secrets.backend.describe())
    return out


def _set_fields(out: Resolved, secret: Secret, fields: Mapping[str, str], backend: str) -> None:
    """The manifest's ``fields = { VAR = "field" }``: one variable per field of a JSON value."""
    from sekret._refs import field_text

    for variable, name in fields.items():
        text = field_text(secret, name, backend=backend)  # FieldNotFound names the field
        out.variables[variable] = text
        if text:
            out.values.append(SecretValue.of(text))


def _open(manifest_path: str | None, environment: str | None) -> tuple[Manifest, Secrets]:
    manifest = load_manifest(manifest_path)
    return manifest, Secrets(**manifest.client_arguments(environment, read_only=True))


# -- --env-file (references in an env file; sekret._envfile) --------------------
def _open_for_env_files(
    manifest_path: str | None, environment: str | None
) -> tuple[Manifest | None, Secrets]:
    """The manifest's client if there is a manifest, else the one the global options name."""
    from sekret.manifest import find_manifest

    if manifest_path is not None or find_manifest() is not None:
        return _open(manifest_path, environment)
    from sekret.cli._app import CliState

    state = click.get_current_context().find_object(CliState)
    if state is None:  # pragma: no cover - run is always registered under the group
        raise click.UsageError("--env-file without a manifest needs --backend and --app")
    if environment:
        state.env = environment
    state.read_only = True
    return None, state.secrets()


def _with_env_files(
    secrets: Secrets, manifest: Manifest | None, env_files: Sequence[Path], *, fresh: bool = False
) -> Resolved:
    """The manifest's variables (if any), then each env file's (later wins)."""
    from sekret._envfile import read_env_file, resolve_env_file

    got = resolve(secrets, manifest, fresh=fresh) if manifest is not None else Resolved()
    for path in env_files:
        layer = resolve_env_file(secrets, read_env_file(path), fresh=fresh)
        got.variables.update(layer.variables)
        got.values.extend(layer.values)
        got.versions.update(layer.versions)
    return got


# -- the child ----------------------------------------------------------------
class _Pump(threading.Thread):
    """Copies one pipe to one output stream through a StreamMasker."""

    def __init__(self, source: IO[bytes], sink: IO[bytes], masker: StreamMasker, timeout: float):
        super().__init__(daemon=True)
        self.source, self.sink, self.masker, self.timeout = source, sink, masker, timeout

    def _emit(self, data: bytes) -> None:
        if data:
            self.sink.write(data)
            self.sink.flush()

    def run(self) -> None:
        fd = self.source.fileno()
        try:
            while True:
                ready, _, _ = select.select([fd], [], [], self.timeout)
                if not ready:
                    self._emit(self.masker.flush())
                    continue
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                self._emit(self.masker.feed(chunk))
            self._emit(self.masker.flush())
        except (OSError, ValueError):
            pass  # the output went away (closed pipe); the child's exit code still counts
        finally:
            self.source.close()


class _Child:
    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        redactor: Redactor | None,
        mask_timeout: float,
        sinks: tuple[IO[bytes], IO[bytes]],
    ) -> None:
        piped = subprocess.PIPE if redactor is not None else None
        self.proc = subprocess.Popen(list(argv), env=dict(env), stdout=piped, stderr=piped)
        self.pumps: list[_Pump] = []
        if redactor is not None:
            for source, sink in zip((self.proc.stdout, self.proc.stderr), sinks, strict=True):
                if source is not None:
                    pump = _Pump(source, sink, StreamMasker(redactor), mask_timeout)
                    pump.start()
                    self.pumps.append(pump)

    def wait(self, timeout: float | None) -> int | None:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        for pump in self.pumps:
            pump.join()
        return code

    def stop(self, grace: float) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            if self.wait(grace) is None:
                self.proc.kill()
        self.wait(None)


def run_child(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    redactor: Redactor | None = None,
    mask_timeout: float = 1.0,
    watch: Callable[[], Mapping[str, str] | None] | None = None,
    interval: float = 30.0,
    grace: float = 10.0,
    sinks: tuple[IO[bytes], IO[bytes]] | None = None,
) -> int:
    """Run ``argv`` with ``env``; return its exit code (128+N when killed by signal N).

    ``redactor``: mask the child's output. ``watch``: called every ``interval``
    seconds; a returned environment restarts the child with it.
    """
    outputs = sinks or (sys.stdout.buffer, sys.stderr.buffer)
    child = _Child(argv, env, redactor, mask_timeout, outputs)
    lock = threading.RLock()  # the handler runs on the main thread, maybe inside the lock
    stopping = threading.Event()  # SIGTERM/SIGINT received: never restart after it

    def forward(signum: int, frame: FrameType | None) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT):
            stopping.set()
        with lock:
            if child.proc.poll() is None:
                child.proc.send_signal(signum)

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for name in FORWARDED:
            sig = getattr(signal, name, None)
            if sig is not None:
                previous[sig] = signal.signal(sig, forward)
    try:
        while True:
            code = child.wait(interval if watch is not None else None)
            if code is not None:
                return code if code >= 0 else 128 - code
            new_env = watch() if watch is not None and not stopping.is_set() else None
            if new_env is not None:
                child.stop(grace)
                if stopping.is_set():  # told to stop while restarting: do not start again
                    code = child.proc.returncode
                    return code if code >= 0 else 128 - code
                with lock:
                    child = _Child(argv, new_env, redactor, mask_timeout, outputs)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child.proc.poll() is None:  # interrupted by an exception: do not orphan it
            child.stop(grace)


# -- click ----------------------------------------------------------------------
def _environment(given: str | None) -> str | None:
    """``--env`` of the command, else the group's ``sekret --env``/``SEKRET_ENV``."""
    if given:
        return given
    ctx = click.get_current_context(silent=True)
    parent = ctx.find_root().params if ctx is not None else {}
    env = parent.get("env")
    return env if isinstance(env, str) and env else None


def _resolved_or_fail(
    secrets: Secrets,
    manifest: Manifest | None,
    allow_missing: bool,
    env_files: Sequence[Path] = (),
) -> Resolved:
    got = _with_env_files(secrets, manifest, env_files)
    if got.missing and not allow_missing:
        raise click.ClickException(
            "secret(s) not found in "
            f"{secrets.namespace.root}: {', '.join(sorted(got.missing))}"
            " (store them, or pass --allow-missing)"
        )
    for name in got.missing:
        click.echo(f"warning: secret {name!r} not found; its variable is not set", err=True)
    return got


_manifest_option = click.option(
    "--manifest",
    "manifest_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Manifest file (default: sekret.toml or pyproject.toml found upward).",
)
_env_option = click.option(
    "--env",
    "environment",
    default=None,
    help="Environment (default: $SEKRET_ENV, then the manifest's default_environment).",
)


@click.command(
    "run",
    context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False},
)
@_manifest_option
@_env_option
@click.option("--mask", is_flag=True, help="Replace secret values in the output with ***.")
@click.option(
    "--mask-timeout",
    type=float,
    default=1.0,
    show_default=True,
    help="Seconds to hold a possible partial value before emitting it.",
)
@click.option("--watch", is_flag=True, help="Restart the command when a secret is rotated.")
@click.option(
    "--interval",
    type=float,
    default=30.0,
    show_default=True,
    help="Seconds between --watch checks.",
)
@click.option(
    "--grace",
    type=float,
    default=10.0,
    show_default=True,
    help="Seconds between SIGTERM and SIGKILL on restart.",
)
@click.option("--allow-missing", is_flag=True, help="Start even if a declared secret is missing.")
@click.option(
    "--env-file",
    "env_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Env file whose values may be sekret:// references (repeatable; later wins).",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def run_command(
    manifest_path: str | None,
    environment: str | None,
    mask: bool,
    mask_timeout: float,
    watch: bool,
    interval: float,
    grace: float,
    allow_missing: bool,
    env_files: tuple[Path, ...],
    command: tuple[str, ...],
) -> None:
    """Run COMMAND with the manifest's secrets as environment variables.

    With --env-file, the file's NAME=sekret://... lines are resolved too and
    its literal lines pass through; the manifest is then optional.
    """
    manifest: Manifest | None
    if env_files:
        manifest, secrets = _open_for_env_files(manifest_path, _environment(environment))
    else:
        manifest, secrets = _open(manifest_path, _environment(environment))
    with secrets:
        got = _resolved_or_fail(secrets, manifest, allow_missing, env_files)
        redactor = default_redactor()
        redactor.register(got.values)
        versions = dict(got.versions)

        def check() -> dict[str, str] | None:
            try:
                fresh = _with_env_files(secrets, manifest, env_files, fresh=True)
            except SekretError as exc:
                click.echo(f"warning: --watch check failed: {exc}", err=True)
                return None
            gone = sorted(n for n in fresh.missing if n in versions)
            if gone:
                click.echo(
                    f"warning: {', '.join(gone)} disappeared; the command keeps running", err=True
                )
                return None
            if fresh.versions == versions:
                return None
            changed = sorted(n for n in fresh.versions if fresh.versions[n] != versions.get(n))
            click.echo(f"sekret: {', '.join(changed)} rotated; restarting", err=True)
            versions.clear()
            versions.update(fresh.versions)
            redactor.register(fresh.values)
            return {**os.environ, **fresh.variables}

        try:
            code = run_child(
                command,
                {**os.environ, **got.variables},
                redactor=redactor if mask else None,
                mask_timeout=mask_timeout,
                watch=check if watch else None,
                interval=interval,
                grace=grace,
            )
        except FileNotFoundError:
            raise click.ClickException(f"command not found: {command[0]}") from None
        except PermissionError:
            raise click.ClickException(f"command not executable: {command[0]}") from None
    click.get_current_context().exit(code)


def _dotenv_line(variable: str, value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"{variable}='{escaped}'\n"


def render(variables: Mapping[str, str], fmt: str) -> str:
    """The mapping as a ``.env`` file or a JSON object."""
    if fmt == "json":
        return json.dumps(dict(sorted(variables.items())), indent=2) + "\n"
    return "".join(_dotenv_line(k, v) for k, v in sorted(variables.items()))


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 (also when the file already existed)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode("utf-8"))
    finally:
        os.close(fd)


@click.command("export")
@_manifest_option
@_env_option
@click.option(
    "--format", "fmt", type=click.Choice(["dotenv", "json"]), default="dotenv", show_default=True
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (mode 0600) instead of stdout.",
)
@click.option("--allow-missing", is_flag=True, help="Skip declared secrets that are missing.")
def export_command(
    manifest_path: str | None,
    environment: str | None,
    fmt: str,
    output: Path | None,
    allow_missing: bool,
) -> None:
    """Write the manifest's variables (for local development) as dotenv or JSON."""
    manifest, secrets = _open(manifest_path, _environment(environment))
    with secrets:
        got = _resolved_or_fail(secrets, manifest, allow_missing)
    text = render(got.variables, fmt)
    if output is not None:
        write_private(output, text)
        click.echo(f"wrote {len(got.variables)} variable(s) to {output} (mode 0600)", err=True)
        return
    if sys.stdout.isatty():
        click.echo("warning: writing secret values to a terminal", err=True)
    click.echo(text, nl=False)


def register(group: click.Group) -> None:
    """Add ``run`` and ``export`` to the ``sekret`` command group."""
    group.add_command(run_command)
    group.add_command(export_command)
