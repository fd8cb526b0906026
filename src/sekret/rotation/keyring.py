"""Versioned encryption keys: encrypt with ``current``, decrypt with any kept version.

The key is a sekret secret of 32 random bytes; each rotation adds a version
and keeps the old ones readable (rotation never destroys versions), so data
encrypted last year still decrypts. A ciphertext records the key version
that sealed it::

    b"SK1" | len(version) (1 byte) | version (ASCII) | nonce (12) | AES-256-GCM(ciphertext+tag)

The header is part of the associated data, so the version cannot be swapped.
``reencrypt`` moves a ciphertext to the current key (for a background sweep).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, ClassVar

from sekret._values import Secret
from sekret.exceptions import DecryptionError, InvalidValue, VersionNotFound
from sekret.rotation.engine import Rotator

if TYPE_CHECKING:
    from sekret._secrets import Secrets

__all__ = ["EncryptionKeyRotator", "Keyring"]

MAGIC = b"SK1"
KEY_BYTES = 32


def _aesgcm(key: bytes, where: str) -> object:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if len(key) != KEY_BYTES:
        raise InvalidValue(f"{where} is {len(key)} bytes; an encryption key must be 32")
    return AESGCM(key)


class Keyring:
    """AES-256-GCM with the key versions of one secret (``name``) in ``secrets``."""

    def __init__(self, secrets: Secrets, name: str) -> None:
        self.secrets = secrets
        self.name = name

    def _key(self, version: str | None) -> tuple[str, object]:
        secret = self.secrets.get_secret(self.name, version=version)
        where = f"key {self.secrets.full_name(self.name)!r} version {secret.version}"
        return secret.version, _aesgcm(secret.value.bytes(), where)

    def encrypt(self, plaintext: bytes, associated_data: bytes = b"") -> bytes:
        """Seal with the current key version."""
        version, aead = self._key(None)
        header = MAGIC + bytes([len(version)]) + version.encode("ascii")
        nonce = os.urandom(12)
        sealed: bytes = aead.encrypt(nonce, plaintext, header + associated_data)  # type: ignore[attr-defined]
        return header + nonce + sealed

    def key_version(self, token: bytes) -> str:
        """The key version a ciphertext was sealed with."""
        if len(token) < 4 or token[:3] != MAGIC:
            raise DecryptionError(f"not a sekret keyring ciphertext (key {self.name!r})")
        n = token[3]
        if len(token) < 4 + n + 12 + 16:
            raise DecryptionError(f"keyring ciphertext is truncated (key {self.name!r})")
        raw = token[4 : 4 + n]
        if not raw or not raw.isascii():
            raise DecryptionError(f"keyring ciphertext header is corrupt (key {self.name!r})")
        return raw.decode("ascii")

    def decrypt(self, token: bytes, associated_data: bytes = b"") -> bytes:
        """Open with whichever kept key version sealed it."""
        from cryptography.exceptions import InvalidTag

        version = self.key_version(token)
        header_len = 4 + len(version)
        try:
            _, aead = self._key(version)
        except VersionNotFound:
            raise DecryptionError(
                f"keyring ciphertext names key version {version[:20]!r} of {self.name!r},"
                " which does not exist (corrupt, or the version was destroyed)",
                version=version,
            ) from None
        nonce = token[header_len : header_len + 12]
        try:
            plain: bytes = aead.decrypt(  # type: ignore[attr-defined]
                nonce, token[header_len + 12 :], token[:header_len] + associated_data
            )
        except InvalidTag:
            raise DecryptionError(
                f"keyring ciphertext failed authentication (key {self.name!r} version {version})",
                version=version,
            ) from None
        return plain

    def reencrypt(self, token: bytes, associated_data: bytes = b"") -> bytes:
        """The same plaintext sealed with the current key (unchanged if already current)."""
        current = self.secrets.get_secret(self.name).version
        if self.key_version(token) == current:
            return token
        return self.encrypt(self.decrypt(token, associated_data), associated_data)


class EncryptionKeyRotator(Rotator):
    """New 256-bit key versions; old versions stay for decryption."""

    name: ClassVar[str] = "encryption_key"
    kinds: ClassVar[tuple[str, ...]] = ("encryption_key",)

    def generate(self, current: Secret | None) -> object:
        return os.urandom(KEY_BYTES)

    def test(self, pending: Secret) -> None:
        aead = _aesgcm(pending.value.bytes(), f"pending key version {pending.version}")
        nonce = os.urandom(12)
        probe = os.urandom(16)
        if aead.decrypt(nonce, aead.encrypt(nonce, probe, b""), b"") != probe:  # type: ignore[attr-defined]
            raise DecryptionError("pending key failed its round trip")
