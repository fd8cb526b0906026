"""The backup file format: key sources, a sealed stream of chunks, and reading one.

A backup file (``sekret.backup``, format 2) is::

    {header JSON, one line}\n
    chunk 0, chunk 1, ..., chunk n (the last one flagged final)

    chunk = length (4 bytes, big-endian) || AES-256-GCM(JSON of its secrets)

Each chunk holds the secrets (with every version and value) that fit in about
``CHUNK_BYTES`` of JSON, so memory while writing or reading is bounded by a
chunk, not by the backup. The final chunk adds the list of unreadable
versions and the counts. Every chunk is sealed under a key derived
(HKDF-SHA256, the backup id as salt) from a backup key: 32 random bytes (given,
or from a 0600 key file in the local store's format) or a passphrase through
scrypt. Its nonce is its index, and its associated data binds the SHA-256 of
the header, its index and whether it is the final chunk: an edited header, a
chunk edited, dropped, duplicated or moved, a truncated file (no final chunk)
and bytes after the final chunk all fail with ``IntegrityError``.

The header holds the format version, backup id, created time, the source's
``describe()``, the key derivation parameters and a key check, never a name or
a value. ``BackupWriter`` seals a backup chunk by chunk into a file object;
``BackupReader`` checks the header and the key, then yields the secrets of
each chunk once it is authenticated.

This module must never put a name or a value in the header, never put a
value, a key or a passphrase in an error, never accept scrypt parameters
that would take more than 256 MiB, and never write a file (``_files``
does that).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets as _random
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sekret import _sealing
from sekret.backup._files import open_backup_file
from sekret.exceptions import ConfigurationError, IntegrityError, WrongMasterKey

FORMAT: Final = 2
CHUNK_BYTES: Final = 1 << 20  # about 1 MiB of JSON per chunk
_MAGIC: Final = "sekret-backup"
_AD: Final = b"sekret/backup/v2/chunk\x00"
_HKDF_INFO: Final = b"sekret/backup/v2/keys"
_CHECK: Final = 16
_TAG: Final = 16
_MAX_HEADER: Final = 64 * 1024
_MAX_CHUNK: Final = 256 << 20  # a hostile length never allocates more than this
_LEN: Final = struct.Struct(">I")
_U64: Final = struct.Struct(">Q")
_NONCE_PAD: Final = b"\x00" * 4

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


class BackupWriter:
    """Seals secrets into a backup, one chunk at a time, written to ``out``."""

    def __init__(
        self,
        out: BinaryIO,
        keys: KeySource,
        kdf: KdfParams | None,
        target: Path,
        *,
        source: str,
        root: str,
        clock: Callable[[], datetime] | None,
        chunk_bytes: int | None = None,
    ) -> None:
        backup_id = _random.token_bytes(16)
        params = None
        if keys.passphrase is not None:
            params = kdf or KdfParams.fresh()
            _check_kdf(params, target)
        enc_key, check = _subkeys(keys.master(params), backup_id)
        created = (clock() if clock is not None else datetime.now(UTC)).astimezone(UTC)
        self.header: dict[str, Any] = {
            "format": _MAGIC,
            "version": FORMAT,
            "backup_id": backup_id.hex(),
            "created": created.isoformat(),
            "source": source,
            "root": root,
            "cipher": "AES-256-GCM",
            "chunking": "sekret-chunks-v1",
            "kdf": _kdf_doc(params),
            "key_check": b64(check),
        }
        head = json.dumps(self.header, separators=(",", ":"), sort_keys=True).encode("ascii")
        self._out = out
        self._aead = AESGCM(enc_key)
        self._head_hash = hashlib.sha256(head).digest()
        self._index = 0
        self._pending: list[bytes] = []
        self._size = 0
        self._chunk_bytes = chunk_bytes or CHUNK_BYTES
        self.counts = {"secrets": 0, "versions": 0, "deleted": 0, "skipped": 0}
        out.write(head + b"\n")

    def add(self, entry: dict[str, Any]) -> None:
        """One secret (with its versions and values); seals a chunk when one is full."""
        text = json.dumps(entry, separators=(",", ":"), sort_keys=True).encode("ascii")
        self._pending.append(text)
        self._size += len(text) + 1
        self.counts["deleted" if entry["deleted"] else "secrets"] += 1
        self.counts["versions"] += len(entry["versions"])
        if self._size >= self._chunk_bytes:
            self._seal(b'{"secrets":[' + b",".join(self._pending) + b"]}", final=False)
            self._pending, self._size = [], 0

    def finish(self, skipped: Sequence[str]) -> None:
        """Seal the final chunk: the last secrets, the unreadable versions and the counts."""
        self.counts["skipped"] = len(skipped)
        tail = json.dumps(
            {"skipped": list(skipped), "counts": self.counts}, separators=(",", ":"), sort_keys=True
        ).encode("ascii")
        body = b'{"secrets":[' + b",".join(self._pending) + b"]," + tail[1:]
        self._seal(body, final=True)
        self._pending, self._size = [], 0

    def _seal(self, body: bytes, *, final: bool) -> None:
        sealed = self._aead.encrypt(
            _nonce(self._index), body, _chunk_ad(self._head_hash, self._index, final)
        )
        self._out.write(_LEN.pack(len(sealed)) + sealed)
        self._index += 1


def _nonce(index: int) -> bytes:
    return _NONCE_PAD + _U64.pack(index)


def _chunk_ad(head_hash: bytes, index: int, final: bool) -> bytes:
    return _AD + head_hash + _U64.pack(index) + (b"\x01" if final else b"\x00")


def _kdf_doc(params: KdfParams | None) -> dict[str, Any]:
    if params is None:
        return {"type": "key"}
    return {"type": "scrypt", "salt": b64(params.salt), "n": params.n, "r": params.r, "p": params.p}


def _check_kdf(params: KdfParams, where: Path) -> None:
    if not params.usable():
        raise IntegrityError(f"backup {where} has unusable scrypt parameters")


# -- reading a backup ---------------------------------------------------------


def damaged(path: Path, why: str) -> IntegrityError:
    return IntegrityError(f"backup {path} is damaged or not a sekret backup: {why}")


def _read_header(path: Path, handle: BinaryIO) -> tuple[dict[str, Any], bytes]:
    line = handle.readline(_MAX_HEADER)
    if not line.endswith(b"\n"):
        raise damaged(path, "no header")
    head = line[:-1]
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
    return header, head


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


class BackupReader:
    """An open backup: the header checked and the key proven; ``entries()`` streams the
    secrets chunk by chunk, each chunk authenticated before any of it is returned.

    ``skipped`` and ``counts`` are known once ``entries()`` has reached the final chunk.
    """

    def __init__(
        self,
        path: str | Path,
        key: bytes | None,
        key_file: str | Path | None,
        passphrase: str | None,
    ) -> None:
        keys = KeySource.of(key, key_file, passphrase)
        self.path = where = Path(path).expanduser()
        with open_backup_file(where) as handle:
            self.header, self._head = _read_header(where, handle)
        params = _header_kdf(self.header, where)
        if params is not None and keys.passphrase is None:
            raise ConfigurationError(f"backup {where} is sealed with a passphrase, not a key")
        if params is None and keys.passphrase is not None:
            raise ConfigurationError(f"backup {where} is sealed with a key file, not a passphrase")
        backup_id = _header_bytes(self.header, "backup_id", where)
        check = _header_bytes(self.header, "key_check", where)
        if len(backup_id) != 16 or len(check) != _CHECK:
            raise damaged(where, "malformed header")
        enc_key, expected = _subkeys(keys.master(params), backup_id)
        if not hmac.compare_digest(check, expected):
            raise WrongMasterKey(
                f"the {keys.where} does not open backup {where}"
                " (wrong key or passphrase, or the backup's header was altered)"
            )
        self._aead = AESGCM(enc_key)
        self.skipped: list[str] = []
        self.counts: dict[str, int] = {}

    def entries(self) -> Iterator[dict[str, Any]]:
        """Every secret of the backup, in order; IntegrityError on any tampering."""
        where = self.path
        head_hash = hashlib.sha256(self._head).digest()
        with open_backup_file(where) as handle:
            _, head = _read_header(where, handle)
            if head != self._head:
                raise damaged(where, "the header changed while it was read")
            index = 0
            while True:
                raw_len = handle.read(_LEN.size)
                if len(raw_len) < _LEN.size:
                    raise damaged(where, "truncated (the final chunk is missing)")
                (size,) = _LEN.unpack(raw_len)
                if not _TAG <= size <= _MAX_CHUNK:
                    raise damaged(where, f"chunk {index} has an impossible length")
                sealed = handle.read(size)
                if len(sealed) < size:
                    raise damaged(where, f"truncated inside chunk {index}")
                body, final = self._open(sealed, head_hash, index)
                doc = self._parse(body, index, final)
                yield from doc["secrets"]
                if final:
                    if handle.read(1):
                        raise damaged(where, "data after the final chunk")
                    self.skipped = list(doc["skipped"])
                    self.counts = dict(doc["counts"])
                    return
                index += 1

    def _open(self, sealed: bytes, head_hash: bytes, index: int) -> tuple[bytes, bool]:
        for final in (False, True):
            try:
                body = self._aead.decrypt(_nonce(index), sealed, _chunk_ad(head_hash, index, final))
            except InvalidTag:
                continue
            return body, final
        raise damaged(
            self.path,
            f"chunk {index} failed authentication (the file was altered, truncated or reordered)",
        )

    def _parse(self, body: bytes, index: int, final: bool) -> dict[str, Any]:
        try:
            doc = json.loads(body)
            if not isinstance(doc, dict) or not isinstance(doc["secrets"], list):
                raise TypeError("chunk")
            if final and not (isinstance(doc["skipped"], list) and isinstance(doc["counts"], dict)):
                raise TypeError("final chunk")
        except (ValueError, KeyError, TypeError, RecursionError):
            raise damaged(self.path, f"chunk {index} is unreadable") from None
        return doc
