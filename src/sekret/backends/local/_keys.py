"""Where the local store's master key comes from, at open, at init and at rotation.

``resolve_master`` follows the order documented in ``sekret.backends.local``
(explicit argument, then ``SEKRET_PASSPHRASE`` for a passphrase store, or
``SEKRET_MASTER_KEY``, ``SEKRET_KEY_FILE`` and the default key file for a key
store); ``init_master`` and ``new_master`` pick or create the key of a new
store and of a rotation. Key files are read and created through
``_sealing`` (0600, refused when open to others).

This module must never log, print or put a key or passphrase in an error,
never overwrite an existing key file, and never write to a store.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sekret import _sealing
from sekret.backends.local._schema import MODE_KEY, MODE_PASSPHRASE
from sekret.exceptions import ConfigurationError, Conflict, IntegrityError

__all__ = ["default_key_file", "init_master", "new_master", "resolve_master"]


def default_key_file(path: str | Path) -> Path:
    """Where ``init_store`` puts the key file of the store at ``path``: path + ``.key``."""
    return Path(str(Path(path).expanduser()) + ".key")


def resolve_master(
    path: Path,
    meta: dict[str, Any],
    *,
    key_file: str | Path | None,
    master_key: bytes | None,
    passphrase: str | None,
) -> tuple[bytes, str, str, Path | None]:
    """(master key, seal mode, where it came from, key file used) in the documented order."""
    mode = meta["mode"]
    given = [x for x in (key_file, master_key, passphrase) if x is not None]
    if len(given) > 1:
        raise ConfigurationError("give at most one of key_file, master_key and passphrase")
    if mode == MODE_PASSPHRASE:
        if key_file is not None or master_key is not None:
            raise ConfigurationError(
                f"store {path} is sealed with a passphrase; pass passphrase= or set"
                " SEKRET_PASSPHRASE"
            )
        where = "passphrase argument"
        if passphrase is None:
            passphrase = os.environ.get("SEKRET_PASSPHRASE")
            where = "SEKRET_PASSPHRASE"
        if not passphrase:
            raise ConfigurationError(
                f"store {path} is sealed with a passphrase; pass passphrase= or set"
                " SEKRET_PASSPHRASE"
            )
        params = _sealing.KdfParams.loads(meta.get("kdf"), where=f"store {path} (meta row 'kdf')")
        return _sealing.derive_key(passphrase, params), mode, where, None
    if mode != MODE_KEY:
        raise IntegrityError(f"store {path} has an unknown seal mode {mode!r}")
    if passphrase is not None:
        raise ConfigurationError(
            f"store {path} is sealed with a master key, not a passphrase; pass"
            " key_file= or master_key=, or set SEKRET_MASTER_KEY or SEKRET_KEY_FILE"
        )
    if master_key is not None:
        key = _sealing.check_key_bytes(master_key, source="master_key")
        return key, mode, "master_key", None
    if key_file is None:
        env_key = os.environ.get("SEKRET_MASTER_KEY")
        if env_key:
            key = _sealing.decode_key(env_key, source="SEKRET_MASTER_KEY")
            return key, mode, "SEKRET_MASTER_KEY", None
        key_file = os.environ.get("SEKRET_KEY_FILE") or default_key_file(path)
    used = Path(key_file).expanduser()
    return _sealing.read_key_file(used), mode, f"key file {used}", used


def init_master(
    db: Path, *, key_file: str | Path | None, passphrase: str | None
) -> tuple[bytes, str, _sealing.KdfParams | None, Path | None, Path | None]:
    """(master key, mode, kdf params, key file, key file created) for a new store at ``db``.

    An existing key file is reused, never overwritten; a missing one gets a fresh key (0600).
    """
    created_key: Path | None = None
    params: _sealing.KdfParams | None = None
    kfile: Path | None = None
    if passphrase is not None:
        params = _sealing.KdfParams.fresh()
        master = _sealing.derive_key(passphrase, params)
        mode = MODE_PASSPHRASE
    else:
        kfile = Path(key_file).expanduser() if key_file is not None else default_key_file(db)
        if kfile.exists():
            master = _sealing.read_key_file(kfile)
        else:
            master = _sealing.new_key()
            _sealing.create_key_file(kfile, master)
            created_key = kfile
        mode = MODE_KEY
    return master, mode, params, kfile, created_key


def new_master(
    path: Path,
    current_key_file: Path | None,
    backend: str,
    *,
    new_key_file: str | Path | None,
    new_master_key: bytes | None,
    new_passphrase: str | None,
) -> tuple[bytes, str, _sealing.KdfParams | None, tuple[Path, Path] | None, Path | None]:
    """(master key, mode, kdf params, (staged file, target) or None, target) for a rotation.

    A fresh key for a key file is written next to its target (``.new``); the
    caller renames it into place once the store is updated, or removes it.
    """
    given = [x for x in (new_key_file, new_master_key, new_passphrase) if x is not None]
    if len(given) > 1:
        raise ConfigurationError("give one of new_key_file, new_master_key and new_passphrase")
    params: _sealing.KdfParams | None = None
    staged: tuple[Path, Path] | None = None
    target: Path | None = None
    if new_master_key is not None:
        master = _sealing.check_key_bytes(new_master_key, source="new_master_key")
        mode = MODE_KEY
    elif new_passphrase is not None:
        params = _sealing.KdfParams.fresh()
        master = _sealing.derive_key(new_passphrase, params)
        mode = MODE_PASSPHRASE
    else:
        if new_key_file is not None:
            target = Path(new_key_file).expanduser()
        elif current_key_file is not None:
            target = current_key_file
        else:
            raise ConfigurationError(
                f"store {path} was not opened from a key file; say where the new key"
                " goes: new_key_file=, new_master_key= or new_passphrase="
            )
        mode = MODE_KEY
        replacing = (
            current_key_file is not None
            and target.exists()
            and (target.resolve() == current_key_file.resolve())
        )
        if target.exists() and not replacing:
            master = _sealing.read_key_file(target)
        else:
            master = _sealing.new_key()
            temp = target.with_name(target.name + ".new")
            try:
                _sealing.create_key_file(temp, master)
            except FileExistsError:
                raise Conflict(
                    f"{temp} exists (left by an interrupted rotation?); find which key"
                    " opens the store, keep it, and remove the other file",
                    backend=backend,
                ) from None
            staged = (temp, target)
    return master, mode, params, staged, target
