"""``sekret run -- cmd args`` and ``sekret export``: the manifest's variables for a process.

``run`` reads every secret the manifest declares for the active environment
and starts the command with them set as environment variables (they win
over variables already set). It never prints a value. The child's exit
code is sekret's; a child killed by signal N gives 128+N (like a shell).
Signals: see ``cli/_child.py`` (TERM, INT, HUP, QUIT, USR1, USR2 forwarded;
TSTP/CONT stop and resume the child with sekret; on Linux the child dies
with a SIGKILLed sekret).

The child never receives the credentials sekret used: every variable the
backend consumed (``Backend.consumed_env``) and sekret's key material
(``SEKRET_MASTER_KEY``...) are removed unless kept with ``--keep-env NAME``;
``--clean-env`` passes only PATH, HOME, LANG, TERM, TZ, USER and
``--allow-env NAME``. A declared variable named like one of those
credentials is not set either (warning) unless kept. The child is marked
with ``SEKRET_RUN_ENVIRONMENT``: a sekret client inside it cannot open
another environment.

* ``--mask``: stdout and stderr are read through one ``SharedMasker``, so a
  value the child prints appears as ``***`` even when split across writes or
  between the two streams. Every string the child can see is registered:
  the variable's text (``sekret:b64:...`` for binary values) and every string
  inside a JSON value. A tail that could be the start of a value is held
  until the next write, ``--mask-timeout`` seconds, or the end of both streams.
* ``--lease NAME`` (repeatable): NAME is leased (``Secrets.lease``: dynamic
  credentials, e.g. a database user from Vault's database engine) instead of
  read; its variable (and its ``fields`` variables) hold the leased
  credentials. The lease renews for the child's lifetime; when it switches to
  new credentials the child is restarted with them (SIGTERM, ``--grace``,
  SIGKILL) before the old ones expire; when the child exits (or sekret is
  stopped) every lease is revoked. Declared ``kind = "dynamic"`` secrets are
  never read from the store: they are set only when named with ``--lease``.
* ``--watch``: every ``--interval`` seconds the current version of each
  secret is re-read from the backend; when one changed, the child gets
  SIGTERM, ``--grace`` seconds, then SIGKILL, and starts again with the new
  values (same environment rules). The child exiting on its own ends ``run``
  with its exit code.

``export --format dotenv|shell|docker|json|github`` writes the same mapping
(``cli/_export.py``) to stdout or to ``--output FILE`` (``_files.write_private``:
0600, atomic, never through a symlink), warning on stderr when stdout is a
terminal; ``github`` appends to ``$GITHUB_ENV`` and prints ``::add-mask::``.

The loaded values are also registered with the process-wide log Redactor.
"""

from __future__ import annotations

import os
import stat
import sys
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

import click

from sekret import Secret, Secrets, SecretValue
from sekret._files import check_owner, write_private
from sekret.backends.base import Backend, is_credential_env
from sekret.backends.env import default_env_var, env_text
from sekret.cli._app import CliState, pass_state
from sekret.cli._child import FORWARDED, child_environment, run_child
from sekret.cli._export import FORMATS, github_masks, render
from sekret.exceptions import InsecurePath, SecretNotFound, SekretError
from sekret.integrations.redaction import child_strings, default_redactor
from sekret.manifest import Manifest, load_manifest

TYPE_CHECKING = False
if TYPE_CHECKING:
    from sekret.leases import Lease

__all__ = ["FORWARDED", "Resolved", "leased", "register", "render", "resolve", "run_child"]

LEASE_POLL = 1.0
"""Seconds between checks of ``--lease`` switches (no I/O: the lease renews itself)."""


@dataclass
class Resolved:
    """The variables for the child (never shown) and the version each came from."""

    variables: dict[str, str] = field(default_factory=dict, repr=False)
    values: list[SecretValue] = field(default_factory=list, repr=False)
    versions: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    literals: set[str] = field(default_factory=set)  # env-file literals: not secrets

    def strings(self) -> list[str]:
        """Every secret string the child can see: the variables' text and JSON strings
        inside (an env file's literal values are not secrets and are not masked)."""
        out: list[str] = []
        for value in self.values:
            out += child_strings(value)
        out += [v for k, v in self.variables.items() if k not in self.literals]
        return out


def resolve(secrets: Secrets, manifest: Manifest, *, fresh: bool = False) -> Resolved:
    """Read every declared secret; ``fresh`` bypasses the cache (for ``--watch``).

    ``kind = "dynamic"`` secrets are issued, not stored: ``leased`` sets them.
    """
    out = Resolved()
    for name, spec in manifest.secrets.items():
        if spec.kind == "dynamic":
            continue
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


def leased(leases: Mapping[str, Lease], manifest: Manifest | None, backend: str) -> Resolved:
    """The variables of each lease's current credentials (manifest ``env`` and ``fields``)."""
    out = Resolved()
    for name, lease in leases.items():
        spec = manifest.secrets.get(name) if manifest is not None else None
        value = lease.credentials
        out.variables[spec.env if spec is not None else default_env_var(name)] = env_text(value)
        out.values.append(value)
        out.versions[name] = lease.lease_id
        if spec is not None and spec.fields:
            secret = Secret(lease.name, lease.lease_id, value)
            _set_fields(out, secret, spec.fields, backend)
    return out


def _set_fields(out: Resolved, secret: Secret, fields: Mapping[str, str], backend: str) -> None:
    """The manifest's ``fields = { VAR = "field" }``: one variable per field of a JSON value."""
    from sekret._refs import field_text

    for variable, name in fields.items():
        text = field_text(secret, name, backend=backend)  # FieldNotFound names the field
        out.variables[variable] = text
        if text:
            out.values.append(SecretValue.of(text))


def _open(
    state: CliState,
    manifest_path: str | None,
    environment: str | None,
    *,
    need_manifest: bool = True,
) -> tuple[Manifest | None, Secrets]:
    """The read-only client for run/export, resolved like every other command's
    (flags, then ``SEKRET_*``, then the manifest found upward), and its manifest."""
    state.override(manifest=manifest_path, env=environment, read_only=True)
    manifest = state.context.manifest
    if manifest is None and need_manifest:
        manifest = load_manifest(manifest_path)  # no manifest: its error says how to make one
    return manifest, state.secrets()


def _with_env_files(
    secrets: Secrets, manifest: Manifest | None, env_files: Sequence[Path], *, fresh: bool = False
) -> Resolved:
    """The manifest's variables (if any), then each env file's (later wins)."""
    from sekret._envfile import read_env_file, resolve_env_file

    got = resolve(secrets, manifest, fresh=fresh) if manifest is not None else Resolved()
    for path in env_files:
        layer = resolve_env_file(secrets, read_env_file(path), fresh=fresh)
        got.variables.update(layer.variables)
        got.literals -= set(layer.variables)
        got.literals |= layer.literals
        got.values.extend(layer.values)
        got.versions.update(layer.versions)
    return got


def consumed_env(backend: Backend, url: str = "") -> frozenset[str]:
    """The credential variables ``backend`` (through any wrapper, e.g. audit) consumed.

    ``url``: the backend URL it was built from; a ``*_env=VAR`` option there
    (e.g. Vault AppRole's ``secret_id_env``) names a variable it read too.
    """
    seen = backend
    while isinstance(getattr(seen, "inner", None), Backend):
        seen = seen.inner  # type: ignore[attr-defined]
    return seen.consumed_env() | _url_env_variables(url)


def _url_env_variables(url: str, depth: int = 0) -> frozenset[str]:
    """Variables named by ``*_env`` options of a backend URL (and of chain members)."""
    found: set[str] = set()
    if depth > 4 or "?" not in url:
        return frozenset()
    for key, value in parse_qsl(url.split("?", 1)[1], keep_blank_values=False):
        if key.endswith("_env") and value:
            found.add(value)
        for member in value.split(","):
            if "://" in member:
                found |= _url_env_variables(member, depth + 1)
    return frozenset(found)


def _credential_filter(
    variables: dict[str, str], consumed: Collection[str], keep: Collection[str]
) -> dict[str, str]:
    """Drop (with a warning) declared variables that are named like a consumed credential."""
    out: dict[str, str] = {}
    for variable, text in variables.items():
        if variable not in keep and (variable in consumed or is_credential_env(variable)):
            click.echo(
                f"warning: {variable} is a credential sekret itself uses; not passed on"
                f" (--keep-env {variable} to pass it on purpose)",
                err=True,
            )
            continue
        out[variable] = text
    return out


# -- click ----------------------------------------------------------------------
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
_keep_env_option = click.option(
    "--keep-env",
    "keep_env",
    multiple=True,
    metavar="NAME",
    help="Pass this credential variable on anyway (repeatable); removed by default.",
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
    "--lease",
    "lease_names",
    multiple=True,
    metavar="NAME",
    help="Lease dynamic credentials for NAME (repeatable): renewed while the command runs,"
    " the command restarted when they change, revoked when it exits.",
)
@click.option(
    "--env-file",
    "env_files",
    multiple=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Env file whose values may be sekret:// references (repeatable; later wins).",
)
@_keep_env_option
@click.option(
    "--clean-env",
    is_flag=True,
    help="Start from an empty environment plus PATH, HOME, LANG, TERM, TZ, USER.",
)
@click.option(
    "--allow-env",
    "allow_env",
    multiple=True,
    metavar="NAME",
    help="With --clean-env: also pass this variable on (repeatable).",
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@pass_state
def run_command(
    state: CliState,
    manifest_path: str | None,
    environment: str | None,
    mask: bool,
    mask_timeout: float,
    watch: bool,
    interval: float,
    grace: float,
    allow_missing: bool,
    lease_names: tuple[str, ...],
    env_files: tuple[Path, ...],
    keep_env: tuple[str, ...],
    clean_env: bool,
    allow_env: tuple[str, ...],
    command: tuple[str, ...],
) -> None:
    """Run COMMAND with the manifest's secrets as environment variables.

    With --env-file, the file's NAME=sekret://... lines are resolved too and
    its literal lines pass through; the manifest is then optional.
    """
    manifest, secrets = _open(
        state, manifest_path, environment, need_manifest=not (env_files or lease_names)
    )
    with secrets:  # closing the client revokes every lease
        got = _resolved_or_fail(secrets, manifest, allow_missing, env_files)
        leases = {name: secrets.lease(name) for name in lease_names}
        for name, spec in (manifest.secrets if manifest is not None else {}).items():
            if spec.kind == "dynamic" and name not in leases:
                click.echo(
                    f"note: dynamic secret {name!r} is not set (lease it: --lease {name})",
                    err=True,
                )
        generations = {name: lease.generation for name, lease in leases.items()}
        backend = secrets.backend.describe()

        def with_leases(base: Resolved) -> Resolved:
            layer = leased(leases, manifest, backend)
            base.variables.update(layer.variables)
            base.values.extend(layer.values)
            return base

        got = with_leases(got)
        url = state.context.backend
        consumed = consumed_env(secrets.backend, url)
        parent = dict(os.environ)

        def environ(variables: dict[str, str]) -> dict[str, str]:
            return child_environment(
                parent,
                _credential_filter(variables, consumed, keep_env),
                consumed=consumed,
                environment=secrets.namespace.environment,
                keep=keep_env,
                clean=clean_env,
                allow=allow_env,
            )

        redactor = default_redactor()
        redactor.register(got.strings())
        versions = dict(got.versions)

        last_watch = [time.monotonic()]

        def check() -> dict[str, str] | None:
            changed_leases = sorted(
                n for n, ls in leases.items() if ls.generation != generations[n]
            )
            if changed_leases:
                generations.update({n: ls.generation for n, ls in leases.items()})
                click.echo(
                    f"sekret: {', '.join(changed_leases)} switched to new credentials; restarting",
                    err=True,
                )
                fresh = with_leases(_with_env_files(secrets, manifest, env_files))
                redactor.register(fresh.strings())
                return environ(fresh.variables)
            if not watch or (leases and time.monotonic() - last_watch[0] < interval):
                return None  # with leases, check() runs every LEASE_POLL s: --watch every interval
            last_watch[0] = time.monotonic()
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
            redactor.register(fresh.strings())
            return environ(with_leases(fresh).variables)

        try:
            code = run_child(
                command,
                environ(got.variables),
                redactor=redactor if mask else None,
                mask_timeout=mask_timeout,
                watch=check if (watch or leases) else None,
                interval=min(interval, LEASE_POLL) if leases else interval,
                grace=grace,
            )
        except FileNotFoundError:
            raise click.ClickException(f"command not found: {command[0]}") from None
        except PermissionError:
            raise click.ClickException(f"command not executable: {command[0]}") from None
    click.get_current_context().exit(code)


def _append_github_env(path: Path, text: str) -> None:
    """Append to the runner's ``$GITHUB_ENV`` (which must exist), never through a symlink."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if os.path.islink(path):
            raise InsecurePath(f"$GITHUB_ENV {path} is a symbolic link; refusing it") from None
        raise click.ClickException(f"$GITHUB_ENV {path} cannot be opened: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InsecurePath(f"$GITHUB_ENV {path} is not a regular file")
        check_owner(st, path, what="$GITHUB_ENV")
        view = memoryview(text.encode("utf-8"))
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


@click.command("export")
@_manifest_option
@_env_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="dotenv",
    show_default=True,
    help="dotenv, shell (set -a; . FILE or eval), docker (--env-file), json,"
    " github (appends to $GITHUB_ENV and prints ::add-mask::).",
)
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (mode 0600, replaced atomically) instead of stdout.",
)
@click.option("--allow-missing", is_flag=True, help="Skip declared secrets that are missing.")
@_keep_env_option
@pass_state
def export_command(
    state: CliState,
    manifest_path: str | None,
    environment: str | None,
    fmt: str,
    output: Path | None,
    allow_missing: bool,
    keep_env: tuple[str, ...],
) -> None:
    """Write the manifest's variables (for local development, containers or CI)."""
    manifest, secrets = _open(state, manifest_path, environment)
    if manifest is None:  # pragma: no cover - _open loads one or raises
        raise click.UsageError("export needs a manifest (sekret.toml)")
    with secrets:
        got = _resolved_or_fail(secrets, manifest, allow_missing)
        url = state.context.backend
        consumed = consumed_env(secrets.backend, url)
        variables = _credential_filter(got.variables, consumed, keep_env)
    try:
        text = render(variables, fmt)
    except SekretError as exc:
        raise click.ClickException(str(exc)) from None
    if fmt == "github":
        target = output or Path(os.environ.get("GITHUB_ENV", ""))
        if not str(target) or str(target) == ".":
            raise click.UsageError("--format github needs $GITHUB_ENV (set by Actions) or --output")
        if sys.stdout.isatty():  # not a runner's log: ::add-mask:: would show every value
            click.echo("warning: stdout is a terminal; ::add-mask:: lines not printed", err=True)
        else:
            click.echo(github_masks(variables), nl=False)  # the runner hides them first
        if output is None:
            _append_github_env(target, text)
        else:
            write_private(output, text.encode("utf-8"), what="export file")
        click.echo(f"wrote {len(variables)} variable(s) to {target}", err=True)
        return
    if output is not None:
        write_private(output, text.encode("utf-8"), what="export file")
        click.echo(f"wrote {len(variables)} variable(s) to {output} (mode 0600)", err=True)
        return
    if sys.stdout.isatty():
        click.echo("warning: writing secret values to a terminal", err=True)
    click.echo(text, nl=False)


def register(group: click.Group) -> None:
    """Add ``run`` and ``export`` to the ``sekret`` command group."""
    group.add_command(run_command)
    group.add_command(export_command)
