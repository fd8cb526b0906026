"""The backup file format: key sources, sealing a backup and opening one.

A backup file (``sekret.backup``) is::

    {header JSON, one line}\\n nonce(12) || AES-256-GCM(body JSON)

The header holds the format version, backup id, created time, the source's
``describe()``, the key derivation parameters, a key check and counts; it is
the associated data of the body, so editing either one fails authentication.
The body is sealed under a key derived (HKDF-SHA256, the backup id as salt)
from a backup key: 32 random bytes (given, or from a 0600 key file in the
local store's format) or a passphrase through scrypt. ``seal_backup`` builds
the file's bytes; ``open_backup`` checks the header, the key and the tag and
returns the body.

This module must never put a name or a value in the header, never put a
value, a key or a passphrase in an error, never accept scrypt parameters
that would take more than 256 MiB, and never write a file (``_files``
does that).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import secrets as _random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sekret import _sealing
from sekret.backup._files import open_backup_file
from sekret.exceptions import ConfigurationError, IntegrityError, WrongMasterKey

FORMAT: Final = 1
_MAGIC: Final = "sekret-backup"
_AD: Final = b"sekret/backup/v1\x00"
_HKDF_INFO: Final = b"sekret/backup/v1/keys"
_NONCE: Final = 12
_CHECK: Final = 16
_MAX_HEADER: Final = 64 * 1024

KdfParams = _sealing.KdfParams


@dataclass(frozen=True, slots=True)
class KeySource:
    """Where the backup key comes from: raw bytes, a key file, or a passphrase."""

    key: bytes | None = None
    passphrase: str | None = None
    where: str = "key"

    @classmethod
    def of(
        cls, key: bytes | None, key_file: str | Path | None, passphrase: str | None
    ) -> KeySource:
        given = [x for x in (key, key_file, passphrase) if x is not None]
        if len(given) != 1:
            raise ConfigurationError("give exactly one of key=, key_file= and passphrase=")
        if key is not None:
            return cls(key=_sealing.check_key_bytes(key, source="the backup key"))
        if key_file is not None:
            kfile = Path(key_file).expanduser()
            # read_key_file refuses a key file open to group or others (InsecureKeyFile)
            return cls(key=_sealing.read_key_file(kfile), where=f"key file {kfile}")
        if not isinstance(passphrase, str) or not passphrase:
            raise ConfigurationError("the backup passphrase must be a non-empty str")
        return cls(passphrase=passphrase, where="passphrase")

    def master(self, kdf: KdfParams | None) -> bytes:
        if self.key is not None:
            return self.key
        if self.passphrase is None or kdf is None:
            raise ConfigurationError("a passphrase backup needs its scrypt parameters")
        return _sealing.derive_key(self.passphrase, kdf)


def _subkeys(master: bytes, backup_id: bytes) -> tuple[bytes, bytes]:
    """(encryption key, key check) derived from the backup key for one backup."""
    out = HKDF(algorithm=hashes.SHA256(), length=32 + _CHECK, salt=backup_id, info=_HKDF_INFO)
    derived = out.derive(master)
    return derived[:32], derived[32:]


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def seal_backup(
    keys: KeySource,
    kdf: KdfParams | None,
    target: Path,
    *,
    source: str,
    root: str,
    entries: Sequence[dict[str, Any]],
    skipped: Sequence[str],
    clock: Callable[[], datetime] | None,
) -> tuple[dict[str, Any], bytes]:
    """(header, file bytes) of a new backup of ``entries``, sealed with ``keys``."""
    backup_id = _random.token_bytes(16)
    params = None
    if keys.passphrase is not None:
        params = kdf or KdfParams.fresh()
        _check_kdf(params, target)
    enc_key, check = _subkeys(keys.master(params), backup_id)
    created = (clock() if clock is not None else datetime.now(UTC)).astimezone(UTC)
    nonce = _random.token_bytes(_NONCE)
    header = {
        "format": _MAGIC,
        "version": FORMAT,
        "backup_id": backup_id.hex(),
        "created": created.isoformat(),
        "source": source,
        "root": root,
        "cipher": "AES-256-GCM",
        "kdf": _kdf_doc(params),
        "key_check": b64(check),
        "nonce": b64(nonce),
        "counts": {
            "secrets": sum(1 for e in entries if not e["deleted"]),
            "versions": sum(len(e["versions"]) for e in entries),
            "deleted": sum(1 for e in entries if e["deleted"]),
            "skipped": len(skipped),
        },
    }
    head = json.dumps(header, separators=(",", ":"), sort_keys=True).encode("ascii")
    body = json.dumps(
        {"secrets": entries, "skipped": skipped}, separators=(",", ":"), sort_keys=True
    ).encode("ascii")
    sealed = AESGCM(enc_key).encrypt(nonce, body, _AD + head)
    return header, head + b"\n" + sealed


def _kdf_doc(params: KdfParams | None) -> dict[str, Any]:
    if params is None:
        return {"type": "key"}
    return {"type": "scrypt", "salt": b64(params.salt), "n": params.n, "r": params.r, "p": params.p}


def _check_kdf(params: KdfParams, where: Path) -> None:
    if not params.usable():
        raise IntegrityError(f"backup {where} has unusable scrypt parameters")


# -- reading a backup ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Opened:
    header: dict[str, Any]
    entries: list[dict[str, Any]]
    skipped: list[str]


def damaged(path: Path, why: str) -> IntegrityError:
    return IntegrityError(f"backup {path} is damaged or not a sekret backup: {why}")


def _parse_header(path: Path, raw: bytes) -> tuple[dict[str, Any], bytes, bytes]:
    end = raw.find(b"\n", 0, _MAX_HEADER)
    if end < 0:
        raise damaged(path, "no header")
    head, sealed = raw[:end], raw[end + 1 :]
    try:
        header = json.loads(head.decode("ascii"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise damaged(path, "unreadable header") from None
    if not isinstance(header, dict) or header.get("format") != _MAGIC:
        raise damaged(path, "unknown header")
    if header.get("version") != FORMAT:
        raise damaged(
            path, f"format version {str(header.get('version'))[:10]!r} (this sekret reads {FORMAT})"
        )
    return header, head, sealed


def _header_bytes(header: dict[str, Any], field_name: str, path: Path) -> bytes:
    text = header.get(field_name)
    if not isinstance(text, str):
        raise damaged(path, f"header field {field_name!r} is missing")
    try:
        if field_name == "backup_id":
            return bytes.fromhex(text)
        return base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise damaged(path, f"header field {field_name!r} is malformed") from None


def _header_kdf(header: dict[str, Any], path: Path) -> KdfParams | None:
    doc = header.get("kdf")
    if not isinstance(doc, dict) or doc.get("type") not in ("key", "scrypt"):
        raise damaged(path, "unknown key derivation")
    if doc["type"] == "key":
        return None
    try:
        params = KdfParams(
            base64.b64decode(doc["salt"], validate=True), doc["n"], doc["r"], doc["p"]
        )
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise damaged(path, "unreadable scrypt parameters") from None
    _check_kdf(params, path)
    return params


def open_backup(
    path: str | Path, key: bytes | None, key_file: str | Path | None, passphrase: str | None
) -> tuple[Path, Opened]:
    keys = KeySource.of(key, key_file, passphrase)
    where = Path(path).expanduser()
    with open_backup_file(where) as handle:
        raw = handle.read()
    header, head, sealed = _parse_header(where, raw)
    params = _header_kdf(header, where)
    if params is not None and keys.passphrase is None:
        raise ConfigurationError(f"backup {where} is sealed with a passphrase, not a key")
    if params is None and keys.passphrase is not None:
        raise ConfigurationError(f"backup {where} is sealed with a key file, not a passphrase")
    backup_id = _header_bytes(header, "backup_id", where)
    check = _header_bytes(header, "key_check", where)
    nonce = _header_bytes(header, "nonce", where)
    if len(backup_id) != 16 or len(check) != _CHECK or len(nonce) != _NONCE:
        raise damaged(where, "malformed header")
    enc_key, expected = _subkeys(keys.master(params), backup_id)
    if not hmac.compare_digest(check, expected):
        raise WrongMasterKey(
            f"the {keys.where} does not open backup {where}"
            " (wrong key or passphrase, or the backup's header was altered)"
        )
    try:
        body = AESGCM(enc_key).decrypt(nonce, sealed, _AD + head)
    except (InvalidTag, ValueError):
        raise damaged(where, "authentication failed (the file was altered or truncated)") from None
    try:
        doc = json.loads(body)
        entries, skipped = doc["secrets"], doc["skipped"]
        if not isinstance(entries, list) or not isinstance(skipped, list):
            raise TypeError("body")
    except (ValueError, KeyError, TypeError):
        raise damaged(where, "unreadable body") from None
    return where, Opened(header, entries, skipped)
