"""Versioned encryption keys and their rotation (sekret.rotation.keyring)."""

from __future__ import annotations

import os

import pytest

from sekret import DecryptionError, Secrets
from sekret.backends.memory import MemoryBackend
from sekret.rotation import EncryptionKeyRotator, Keyring, RotationEngine


@pytest.fixture
def secrets() -> Secrets:
    s = Secrets(MemoryBackend(), app="arrwdb", environment="production")
    s.put("data-key", os.urandom(32))
    return s


def test_old_ciphertexts_decrypt_after_rotation(secrets: Secrets) -> None:
    """Data sealed with key version 1 still opens after two rotations."""
    ring = Keyring(secrets, "data-key")
    old = ring.encrypt(b"vector payload", b"tenant-1")
    engine = RotationEngine(secrets)
    engine.rotate("data-key", EncryptionKeyRotator())
    engine.rotate("data-key", EncryptionKeyRotator())
    assert ring.key_version(old) == "1"
    assert ring.decrypt(old, b"tenant-1") == b"vector payload"
    new = ring.encrypt(b"fresh")
    assert ring.key_version(new) == "3"


def test_reencrypt_moves_to_the_current_key(secrets: Secrets) -> None:
    """reencrypt gives a ciphertext under the current version with the same plaintext."""
    ring = Keyring(secrets, "data-key")
    old = ring.encrypt(b"payload")
    RotationEngine(secrets).rotate("data-key", EncryptionKeyRotator())
    moved = ring.reencrypt(old)
    assert ring.key_version(moved) == "2"
    assert ring.decrypt(moved) == b"payload"
    assert ring.reencrypt(moved) == moved


@pytest.mark.parametrize("where", [0, 3, 5, 10, -1])
def test_tampering_is_detected(secrets: Secrets, where: int) -> None:
    """Any flipped byte (header, nonce, body or tag) fails with DecryptionError."""
    ring = Keyring(secrets, "data-key")
    token = bytearray(ring.encrypt(b"payload", b"aad"))
    token[where] ^= 0x01
    with pytest.raises(DecryptionError):
        ring.decrypt(bytes(token), b"aad")


def test_wrong_associated_data_fails(secrets: Secrets) -> None:
    """A ciphertext bound to one context does not open in another."""
    ring = Keyring(secrets, "data-key")
    with pytest.raises(DecryptionError):
        ring.decrypt(ring.encrypt(b"payload", b"tenant-1"), b"tenant-2")


def test_truncated_ciphertext_is_a_clear_error(secrets: Secrets) -> None:
    """A cut-off ciphertext raises DecryptionError, not IndexError."""
    with pytest.raises(DecryptionError):
        Keyring(secrets, "data-key").decrypt(b"SK1\x01")
