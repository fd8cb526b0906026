"""Keys and AES-256-GCM sealing for the ``local`` store.

Two layers of keys:

* the **data key**: 32 random bytes made once per store; it seals every value
  with AES-256-GCM. It is stored only wrapped.
* the **master key**: 32 bytes from a key file, ``SEKRET_MASTER_KEY``, explicit
  bytes, or derived from a passphrase with scrypt. It wraps the data key
  (AES-256-GCM, the store id as associated data). Rotating it re-wraps the
  data key; rotating the data key (``LocalBackend.rotate_data_key``) re-seals
  every value, opening the ones not re-sealed yet with the previous key
  (``RekeyingSealer``).

Every sealed value's associated data binds it to its store, its secret (full
name and the secret's random id) and its version, so a row copied or moved
anywhere else fails to open.

Key files hold the urlsafe base64 text of the key, are created 0600, and are
refused when group or others may read or write them.

This module must never log, print or put a key or a value in an error message.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
import struct
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from sekret._files import check_folder, read_private, write_private
from sekret._values import _Copyable
from sekret.exceptions import ConfigurationError, DecryptionError, IntegrityError, WrongMasterKey

__all__ = [
    "KEY_BYTES",
    "KdfParams",
    "RekeyingSealer",
    "Sealer",
    "create_key_file",
    "decode_key",
    "derive_key",
    "encode_key",
    "new_key",
    "read_key_file",
    "unwrap_data_key",
    "wrap_data_key",
]

KEY_BYTES = 32
NONCE_BYTES = 12
_WRAP_AD = b"sekret/local/v1/data-key\x00"
_SEAL_AD = b"sekret/local/v1/value\x00"


def new_key() -> bytes:
    """32 fresh random bytes from the OS CSPRNG."""
    return os.urandom(KEY_BYTES)


def encode_key(key: bytes) -> str:
    """The text form of a key: urlsafe base64 (what key files and SEKRET_MASTER_KEY hold)."""
    return base64.urlsafe_b64encode(key).decode("ascii")


def decode_key(text: str | bytes, *, source: str) -> bytes:
    """Parse the text form of a key; ``source`` names where it came from (never the key)."""
    try:
        raw = text.strip() if isinstance(text, bytes) else text.strip().encode("ascii")
        key = base64.urlsafe_b64decode(raw + b"=" * (-len(raw) % 4))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        key = b""
    if len(key) != KEY_BYTES:
        raise ConfigurationError(
            f"{source} does not hold a master key (expected urlsafe base64 of {KEY_BYTES} bytes)"
        )
    return key


def check_key_bytes(key: object, *, source: str) -> bytes:
    """Return ``key`` if it is 32 bytes, else a ConfigurationError naming ``source``."""
    if not isinstance(key, bytes | bytearray) or len(key) != KEY_BYTES:
        raise ConfigurationError(f"{source} must be {KEY_BYTES} bytes")
    return bytes(key)


# -- key files ------------------------------------------------------------


def read_key_file(path: Path) -> bytes:
    """The key in ``path``; refuses a missing file, a symlink, another owner's file and
    one open to group or others (``sekret._files.read_private``), and one in a
    folder another account could swap it in (``check_folder``)."""
    if not os.path.lexists(path):
        raise ConfigurationError(
            f"key file {path} does not exist; pass key_file=, set SEKRET_MASTER_KEY,"
            " or run `sekret init`"
        )
    check_folder(Path(path).absolute().parent, what="key file")
    data = read_private(path, what="key file", limit=4096, key=True)
    return decode_key(data, source=f"key file {path}")


def create_key_file(path: Path, key: bytes) -> None:
    """Write ``key`` to a new file at ``path``, mode 0600, fsynced; never overwrites."""
    write_private(path, (encode_key(key) + "\n").encode("ascii"), what="key file", overwrite=False)


# -- passphrases ------------------------------------------------------------


class KdfParams(_Copyable):
    """scrypt parameters, stored in the database next to the wrapped data key.

    An immutable record (``sekret._values._Copyable``), not a frozen dataclass: that
    costs ~3 ms at import (``dataclasses`` and the class build), on every open of a
    local store, ``sekret get`` included.
    """

    __slots__ = ("salt", "n", "r", "p")

    salt: bytes
    n: int
    r: int
    p: int

    def __init__(self, salt: bytes, n: int = 2**17, r: int = 8, p: int = 1) -> None:
        self._set(salt=salt, n=n, r=r, p=p)

    @classmethod
    def fresh(cls) -> KdfParams:
        return cls(salt=os.urandom(16))

    def dumps(self) -> str:
        salt = base64.b64encode(self.salt).decode("ascii")
        return json.dumps({"kdf": "scrypt", "salt": salt, "n": self.n, "r": self.r, "p": self.p})

    def usable(self) -> bool:
        """Whether these parameters are safe to run: scrypt's cost is bounded.

        N a power of two from 2**10 to 2**20, r 1-32, p 1-16, at most 256 MiB of
        memory (128·N·r), a salt of at least 16 bytes: parameters read from a
        file (a store's ``meta`` row, a backup header) are checked with this
        before scrypt runs, so a damaged or hostile file cannot exhaust memory.
        """
        n, r, p = self.n, self.r, self.p
        return (
            type(n) is int
            and 2**10 <= n <= 2**20
            and n & (n - 1) == 0
            and type(r) is int
            and 1 <= r <= 32
            and 128 * n * r <= 2**28
            and type(p) is int
            and 1 <= p <= 16
            and isinstance(self.salt, bytes)
            and len(self.salt) >= 16
        )

    @classmethod
    def loads(cls, text: object, *, where: str = "the store") -> KdfParams:
        """Parameters from their stored JSON; ``IntegrityError`` naming ``where`` when
        they are unreadable or outside the bounds of ``usable``."""
        try:
            if not isinstance(text, str | bytes):
                raise TypeError("kdf")
            doc = json.loads(text)
            if doc["kdf"] != "scrypt":
                raise ValueError("kdf")
            params = cls(base64.b64decode(doc["salt"], validate=True), doc["n"], doc["r"], doc["p"])
        except (ValueError, KeyError, TypeError, binascii.Error, RecursionError):
            raise IntegrityError(f"{where}: the passphrase parameters are unreadable") from None
        if not params.usable():
            raise IntegrityError(f"{where}: the passphrase parameters are out of bounds")
        return params


def derive_key(passphrase: str, params: KdfParams) -> bytes:
    """The master key a passphrase gives under ``params`` (scrypt)."""
    if not isinstance(passphrase, str) or not passphrase:
        raise ConfigurationError("the passphrase must be a non-empty str")
    try:
        secret = passphrase.encode("utf-8")
    except UnicodeEncodeError:
        raise ConfigurationError("the passphrase is not valid UTF-8 text") from None
    kdf = Scrypt(salt=params.salt, length=KEY_BYTES, n=params.n, r=params.r, p=params.p)
    return kdf.derive(secret)


# -- wrapping the data key -------------------------------------------------


def _wrap_ad(store_id: bytes, mode: str) -> bytes:
    return _WRAP_AD + store_id + mode.encode("ascii")


def wrap_data_key(master: bytes, data_key: bytes, *, store_id: bytes, mode: str) -> bytes:
    """nonce || AES-GCM(master, data_key) bound to the store id and seal mode."""
    nonce = os.urandom(NONCE_BYTES)
    return nonce + AESGCM(master).encrypt(nonce, data_key, _wrap_ad(store_id, mode))


def unwrap_data_key(
    master: bytes, wrapped: bytes, *, store_id: bytes, mode: str, where: str
) -> bytes:
    """The data key, or WrongMasterKey (``where`` names the store and the key's source)."""
    try:
        key = AESGCM(master).decrypt(
            wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], _wrap_ad(store_id, mode)
        )
    except (InvalidTag, ValueError) as exc:
        raise WrongMasterKey(f"the master key does not open {where}") from exc
    if len(key) != KEY_BYTES:
        raise WrongMasterKey(f"the master key does not open {where}")
    return key


# -- sealing values ----------------------------------------------------------


_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


def _field(data: bytes) -> bytes:
    return _U32.pack(len(data)) + data


class Sealer:
    """Seals and opens values with the data key, bound to store, secret and version."""

    __slots__ = ("_aead", "_prefix")

    def __init__(self, data_key: bytes, store_id: bytes) -> None:
        self._aead = AESGCM(data_key)
        self._prefix = _SEAL_AD + _field(store_id)

    def _ad(self, name: str, uid: bytes, version: int, content_type: str) -> bytes:
        # length-prefixed fields, so no two (name, uid, version, type) share an AD
        encoded = name.encode("utf-8")
        return (
            self._prefix
            + _U32.pack(len(encoded))
            + encoded
            + _U32.pack(len(uid))
            + uid
            + _U64.pack(version)
            + content_type.encode("utf-8")
        )

    def seal(self, plaintext: bytes, *, name: str, uid: bytes, version: int, ctype: str) -> bytes:
        """nonce || ciphertext+tag."""
        nonce = os.urandom(NONCE_BYTES)
        ad = self._ad(name, uid, version, ctype)
        return nonce + self._aead.encrypt(nonce, plaintext, ad)

    def open(self, sealed: bytes, *, name: str, uid: bytes, version: int, ctype: str) -> bytes:
        """The plaintext, or DecryptionError naming the secret and version."""
        try:
            return self._aead.decrypt(
                sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], self._ad(name, uid, version, ctype)
            )
        except (InvalidTag, ValueError, TypeError) as exc:
            raise DecryptionError(
                f"secret {name!r} version {version} failed authentication: the stored"
                " ciphertext was altered, copied from another secret, or sealed by another key",
                name=name,
                version=str(version),
            ) from exc


class RekeyingSealer(Sealer):
    """A ``Sealer`` during a data-key rotation: seals with the new data key, opens with
    the new one and, for versions not re-sealed yet, with the previous one."""

    __slots__ = ("_previous",)

    def __init__(self, data_key: bytes, store_id: bytes, previous: Sealer) -> None:
        super().__init__(data_key, store_id)
        self._previous = previous

    def open(self, sealed: bytes, *, name: str, uid: bytes, version: int, ctype: str) -> bytes:
        try:
            return super().open(sealed, name=name, uid=uid, version=version, ctype=ctype)
        except DecryptionError:
            return self._previous.open(sealed, name=name, uid=uid, version=version, ctype=ctype)
