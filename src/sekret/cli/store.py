"""The embedded store's own commands: ``init``, ``rotate-master-key``, ``rotate-data-key``.

Both work on a ``local`` store by path: the PATH argument, else the path in
``--backend``/``SEKRET_BACKEND`` when it is a ``local://`` URL, else
``./.sekret/secrets.db``.

Passphrases are never taken from argv: ``SEKRET_PASSPHRASE`` (for the
current passphrase), else a hidden prompt on a terminal, else one line each
from stdin (current first, then new). Keys are never printed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

import click

from sekret.cli import _app
from sekret.cli._app import DEFAULT_STORE, CliState, pass_state

TYPE_CHECKING = False
if TYPE_CHECKING:
    from sekret.backends.local import LocalBackend

__all__ = ["register", "stdin_line", "store_location"]


def store_location(state: CliState, path: Path | None) -> tuple[Path, Path | None]:
    """(store path, key file named in the URL) for the local store a command works on."""
    if path is not None:
        return path.expanduser().absolute(), None
    if not state.backend_explicit:
        return (Path.cwd() / DEFAULT_STORE).absolute(), None
    parts = urlsplit(state.context.local_store_url())  # a dev chain's local member too
    if parts.scheme.lower() != "local":
        raise click.UsageError(
            f"this command works on the local store, but the backend is {parts.scheme}://..."
            "; pass the store's PATH"
        )
    query = dict(parse_qsl(parts.query))
    key_file = Path(query["key_file"]).expanduser() if query.get("key_file") else None
    return Path(unquote(parts.netloc + parts.path)).expanduser().absolute(), key_file


def stdin_line(what: str) -> str:
    """One line of stdin without its line ending; a clear error when it is not UTF-8."""
    try:
        line = sys.stdin.readline()
        line.encode("utf-8")  # stdin may decode with surrogateescape
    except (UnicodeDecodeError, UnicodeEncodeError):
        raise click.UsageError(f"{what}: the line on stdin is not UTF-8 text") from None
    text = line[:-1] if line.endswith("\n") else line
    return text.removesuffix("\r")


class _Passphrases:
    """Reads passphrases from a hidden prompt (terminal) or successive stdin lines."""

    def __init__(self) -> None:
        self._interactive = _app.stdin_is_terminal()

    def read(self, prompt: str, *, confirm: bool) -> str:
        if self._interactive:
            text: str = click.prompt(prompt, hide_input=True, confirmation_prompt=confirm, err=True)
        else:
            text = stdin_line(prompt.lower())
        if not text:
            raise click.UsageError(f"{prompt.lower()}: empty passphrase (none on stdin?)")
        return text


@click.command()
@click.argument("path", required=False, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where the new master key goes (default: PATH.key); an existing one is reused.",
)
@click.option(
    "--passphrase",
    "use_passphrase",
    is_flag=True,
    help="Seal with a passphrase (scrypt) instead of a key file; read from a hidden"
    " prompt or stdin, never the command line.",
)
@pass_state
def init(state: CliState, path: Path | None, key_file: Path | None, use_passphrase: bool) -> None:
    """Create a new, empty local store.

    PATH defaults to ./.sekret/secrets.db. The master key goes to a key file
    created 0600 next to the store (PATH.key) unless --key-file or
    --passphrase says otherwise. Keep it out of version control and back it
    up: without it the store cannot be opened.
    """
    from sekret.backends.local import default_key_file, init_store

    db, url_key_file = store_location(state, path)
    key_file = key_file or url_key_file
    if use_passphrase and key_file is not None:
        raise click.UsageError("--passphrase and --key-file exclude each other")
    passphrase = None
    if use_passphrase:
        passphrase = _Passphrases().read("New passphrase", confirm=True)
    fresh_dir = not db.parent.exists()
    reused = key_file is not None and key_file.exists()
    made = init_store(db, key_file=key_file, passphrase=passphrase)
    if fresh_dir and db.parent.name == DEFAULT_STORE.parent.name:
        # Keep the store and its key out of git by default.
        (db.parent / ".gitignore").write_text("*\n")
    click.echo(f"created store {db}")
    if made is None:
        click.echo("sealed with a passphrase: set SEKRET_PASSPHRASE to open it")
    else:
        how = "reused existing key file" if reused else "master key written to"
        click.echo(f"{how} {made} (mode 0600); back it up and keep it out of version control")
    if path is not None or state.context.origins["backend"].kind != "manifest":
        click.echo(f"use it: export SEKRET_BACKEND=local://{db}")  # a manifest already names it
    if made is not None and made != default_key_file(db):
        click.echo(f"        export SEKRET_KEY_FILE={made}")


# The store a rotation opens, and how: shared by rotate-master-key and rotate-data-key.
_STORE_PATH = click.argument(
    "path", required=False, type=click.Path(dir_okay=False, path_type=Path)
)
_CURRENT_KEY_FILE = click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The current key file (default: SEKRET_MASTER_KEY, SEKRET_KEY_FILE, PATH.key).",
)
_CURRENT_PASSPHRASE = click.option(
    "--passphrase",
    "use_passphrase",
    is_flag=True,
    help="The store is sealed with a passphrase: read the current one (SEKRET_PASSPHRASE,"
    " else prompt or stdin).",
)


@click.command(name="rotate-master-key")
@_STORE_PATH
@_CURRENT_KEY_FILE
@_CURRENT_PASSPHRASE
@click.option(
    "--new-key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Seal with the key in this file (a missing file gets a fresh key, mode 0600).",
)
@click.option(
    "--new-passphrase",
    is_flag=True,
    help="Seal with a new passphrase (prompt or stdin).",
)
@click.option(
    "--reencrypt",
    is_flag=True,
    help="Also make a new data key and re-seal every value under it (what to do after"
    " a key leaked: then the old key and an old copy of the store cannot open new values).",
)
@pass_state
def rotate_master_key(
    state: CliState,
    path: Path | None,
    key_file: Path | None,
    use_passphrase: bool,
    new_key_file: Path | None,
    new_passphrase: bool,
    reencrypt: bool,
) -> None:
    """Reseal the local store under a new master key.

    The data key is re-wrapped and the old master key stops working at once.
    With --reencrypt a new data key also re-seals every value (as
    rotate-data-key does), so a leaked old key together with an old copy of
    the store opens nothing written afterwards. With no --new-* option a store
    opened from a key file gets a fresh key in that same file.
    """
    from sekret.backends.local import LocalBackend, default_key_file

    if new_key_file is not None and new_passphrase:
        raise click.UsageError("--new-key-file and --new-passphrase exclude each other")
    if use_passphrase and key_file is not None:
        raise click.UsageError("--passphrase and --key-file exclude each other")
    db, url_key_file = store_location(state, path)
    key_file = key_file or url_key_file
    reader = _Passphrases()
    current = None
    if use_passphrase:
        current = os.environ.get("SEKRET_PASSPHRASE") or reader.read(
            "Current passphrase", confirm=False
        )
    new = reader.read("New passphrase", confirm=True) if new_passphrase else None
    backend = LocalBackend(db, key_file=key_file, passphrase=current)
    try:
        backend.rotate_master_key(new_key_file=new_key_file, new_passphrase=new)
        click.echo(f"re-wrapped the data key of {db}; the old master key no longer opens it")
        if reencrypt:
            _reencrypt(backend, db)
    finally:
        backend.close()
    if new is not None:
        click.echo("now sealed with the new passphrase (update SEKRET_PASSPHRASE)")
    else:
        env_file = os.environ.get("SEKRET_KEY_FILE")
        target = new_key_file or key_file or (Path(env_file) if env_file else None)
        click.echo(f"master key now in {target or default_key_file(db)} (mode 0600)")


def _reencrypt(backend: LocalBackend, db: Path) -> None:
    clean = backend.rotate_data_key(
        progress=lambda done, total: click.echo(f"re-sealed {done}/{total} versions", err=True)
    )
    click.echo(f"new data key for {db}: every value re-sealed, the old data key erased")
    if not clean:
        click.echo(
            "warning: another process kept the WAL open; old pages stay in "
            f"{db}-wal until it closes (run `sekret rotate-data-key` again then)",
            err=True,
        )
    click.echo("restart every process that had the store open (they hold the old data key)")


@click.command(name="rotate-data-key")
@_STORE_PATH
@_CURRENT_KEY_FILE
@_CURRENT_PASSPHRASE
@pass_state
def rotate_data_key(
    state: CliState, path: Path | None, key_file: Path | None, use_passphrase: bool
) -> None:
    """Re-seal every value of the local store under a new data key (resumable).

    The master key stays. Run it again after an interruption: it resumes
    where it stopped. Stop other writers first. After a leaked master key use
    `rotate-master-key --reencrypt`, which also replaces the master key.
    """
    from sekret.backends.local import LocalBackend

    if use_passphrase and key_file is not None:
        raise click.UsageError("--passphrase and --key-file exclude each other")
    db, url_key_file = store_location(state, path)
    current = None
    if use_passphrase:
        current = os.environ.get("SEKRET_PASSPHRASE") or _Passphrases().read(
            "Current passphrase", confirm=False
        )
    backend = LocalBackend(db, key_file=key_file or url_key_file, passphrase=current)
    try:
        _reencrypt(backend, db)
    finally:
        backend.close()


def register(group: click.Group) -> None:
    """Add ``init``, ``rotate-master-key`` and ``rotate-data-key`` to ``group``."""
    group.add_command(init)
    group.add_command(rotate_master_key)
    group.add_command(rotate_data_key)
