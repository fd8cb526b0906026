"""sekret._sealing: key text, key files, scrypt, data-key wrapping and value sealing."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

import pytest

from sekret._sealing import (
    KEY_BYTES,
    KdfParams,
    RekeyingSealer,
    Sealer,
    check_key_bytes,
    create_key_file,
    decode_key,
    derive_key,
    encode_key,
    new_key,
    read_key_file,
    unwrap_data_key,
    wrap_data_key,
)
from sekret.exceptions import (
    ConfigurationError,
    Conflict,
    DecryptionError,
    InsecureKeyFile,
    InsecurePath,
    IntegrityError,
    SekretError,
    WrongMasterKey,
)
from sekret.testing import sentinel_value

STORE = b"store-id-0123456"
SMALL = KdfParams(salt=b"s" * 16, n=2**10, r=8, p=1)  # cheap scrypt for tests


def test_keys_are_32_fresh_random_bytes() -> None:
    """new_key gives 32 bytes, different each time."""
    keys = {new_key() for _ in range(4)}
    assert len(keys) == 4
    assert {len(k) for k in keys} == {32}
    assert KEY_BYTES == 32


@pytest.mark.parametrize("size", [16, 31, 33, 64])
def test_key_text_must_hold_exactly_32_bytes(size: int) -> None:
    """decode_key refuses base64 of any length but 32 bytes, naming the source only."""
    with pytest.raises(ConfigurationError, match="the source"):
        decode_key(encode_key(b"k" * size), source="the source")


def test_key_text_round_trips_with_or_without_padding_and_whitespace() -> None:
    """encode_key/decode_key round-trip; str or bytes, padding and surrounding space optional."""
    key = new_key()
    text = encode_key(key)
    assert base64.urlsafe_b64decode(text) == key
    for form in (text, text.rstrip("="), f"  {text}\n", text.encode(), f" {text} ".encode()):
        assert decode_key(form, source="s") == key


@pytest.mark.parametrize("text", ["", "not base64 at all!", "é" * 43, b"\xff" * 44])
def test_garbage_key_text_is_a_configuration_error(text: str | bytes) -> None:
    """Text that is not urlsafe base64 of a key is a ConfigurationError, not a crash."""
    with pytest.raises(ConfigurationError):
        decode_key(text, source="s")


def test_key_bytes_check() -> None:
    """check_key_bytes accepts 32 bytes (or a bytearray, returned as bytes) and nothing else."""
    key = new_key()
    assert check_key_bytes(key, source="s") == key
    copied = check_key_bytes(bytearray(key), source="s")
    assert type(copied) is bytes
    assert copied == key
    for bad in (key[:-1], key + b"x", encode_key(key), None):
        with pytest.raises(ConfigurationError, match="must be 32 bytes"):
            check_key_bytes(bad, source="s")


def test_key_file_round_trip_is_0600_and_never_overwritten(tmp_path: Path) -> None:
    """create_key_file writes a 0600 file read_key_file reads back; a second create refuses."""
    path = tmp_path / "master.key"
    key = new_key()
    create_key_file(path, key)
    assert path.read_text() == encode_key(key) + "\n"  # the documented file: base64 text
    assert read_key_file(path) == key
    if os.name == "posix":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with pytest.raises(Conflict):
        create_key_file(path, new_key())
    assert read_key_file(path) == key


def test_key_file_refusals(tmp_path: Path) -> None:
    """Missing, symlinked, non-regular, loose, oversize or wrong-length key files are refused."""
    key = new_key()
    with pytest.raises(ConfigurationError, match="does not exist"):
        read_key_file(tmp_path / "missing")
    good = tmp_path / "good.key"
    create_key_file(good, key)
    link = tmp_path / "link.key"
    link.symlink_to(good)
    with pytest.raises(InsecurePath):
        read_key_file(link)
    (tmp_path / "dir.key").mkdir()
    with pytest.raises(InsecurePath):
        read_key_file(tmp_path / "dir.key")
    if os.name == "posix":
        good.chmod(0o640)
        with pytest.raises(InsecureKeyFile):
            read_key_file(good)
        good.chmod(0o600)
    big = tmp_path / "big.key"
    big.write_bytes(encode_key(key).encode() + b" " * 5000)
    big.chmod(0o600)
    with pytest.raises(ConfigurationError):
        read_key_file(big)
    short = tmp_path / "short.key"
    short.write_text(encode_key(key[:16]))
    short.chmod(0o600)
    with pytest.raises(ConfigurationError):
        read_key_file(short)


def test_key_file_error_never_shows_the_key(tmp_path: Path) -> None:
    """A refused key file's error names the file, never its content."""
    path = tmp_path / "k"
    planted = sentinel_value("keyfile")  # 47 characters: not base64 of 32 bytes
    path.write_text(planted)
    path.chmod(0o600)
    with pytest.raises(ConfigurationError) as caught:
        read_key_file(path)
    assert planted not in str(caught.value)
    assert str(path) in str(caught.value)


def test_default_scrypt_parameters_and_fresh_salts() -> None:
    """Passphrase keys default to scrypt N=2**17, r=8, p=1 with a fresh 16-byte salt each time."""
    a, b = KdfParams.fresh(), KdfParams.fresh()
    assert (a.n, a.r, a.p) == (2**17, 8, 1)
    assert len(a.salt) == 16
    assert a.salt != b.salt


def test_kdf_parameters_round_trip_and_refuse_damage() -> None:
    """dumps/loads round-trip; another kdf, missing fields or bad JSON are a SekretError."""
    assert KdfParams.loads(SMALL.dumps()) == SMALL
    params = KdfParams(salt=os.urandom(16), n=2**11, r=4, p=2)
    assert KdfParams.loads(params.dumps()) == params
    for bad in (
        SMALL.dumps().replace('"scrypt"', '"pbkdf2"'),
        SMALL.dumps().replace('"salt"', '"pepper"'),
        "{",
        "[]",
    ):
        with pytest.raises(SekretError):
            KdfParams.loads(bad)


def test_derive_key_is_scrypt_of_the_utf8_passphrase() -> None:
    """derive_key is scrypt(passphrase as UTF-8, salt, N, r, p) giving 32 bytes."""
    expected = hashlib.scrypt(b"p\xc3\xa4ss", salt=SMALL.salt, n=SMALL.n, r=SMALL.r, p=SMALL.p)
    assert derive_key("päss", SMALL) == expected[:32]
    assert len(derive_key("päss", SMALL)) == 32
    other = KdfParams(salt=b"t" * 16, n=2**10)
    assert derive_key("päss", other) != derive_key("päss", SMALL)


@pytest.mark.parametrize("bad", ["", None, b"bytes"])
def test_empty_or_non_text_passphrase_is_refused(bad: object) -> None:
    """A passphrase must be a non-empty str."""
    with pytest.raises(ConfigurationError):
        derive_key(bad, SMALL)  # type: ignore[arg-type]


def test_wrapped_data_key_opens_only_with_its_master_store_and_mode() -> None:
    """A wrapped data key unwraps with the same master, store id and mode, nothing else."""
    master, data_key = new_key(), new_key()
    wrapped = wrap_data_key(master, data_key, store_id=STORE, mode="key")
    assert unwrap_data_key(master, wrapped, store_id=STORE, mode="key", where="w") == data_key
    again = wrap_data_key(master, data_key, store_id=STORE, mode="key")
    assert again[:12] != wrapped[:12]  # a fresh 12-byte nonce each time
    assert len(wrapped) == 12 + 32 + 16
    for other_master, store_id, mode in (
        (new_key(), STORE, "key"),
        (master, b"other-store-0000", "key"),
        (master, STORE, "passphrase"),
    ):
        with pytest.raises(WrongMasterKey, match="does not open w"):
            unwrap_data_key(other_master, wrapped, store_id=store_id, mode=mode, where="w")
    with pytest.raises(WrongMasterKey):
        unwrap_data_key(master, wrapped[:20], store_id=STORE, mode="key", where="w")


def test_a_wrapped_key_of_the_wrong_length_is_refused() -> None:
    """Unwrapping something that is not a 32-byte key fails as a wrong master key."""
    master = new_key()
    wrapped = wrap_data_key(master, b"k" * 16, store_id=STORE, mode="key")
    with pytest.raises(WrongMasterKey):
        unwrap_data_key(master, wrapped, store_id=STORE, mode="key", where="w")


def test_sealed_values_open_only_where_they_were_sealed() -> None:
    """A value opens with its store, name, id, version and type; any change fails to open."""
    data_key = new_key()
    sealer = Sealer(data_key, STORE)
    where = {"name": "app/prod/key", "uid": b"uid-1", "version": 3, "ctype": "text"}
    sealed = sealer.seal(b"the value", **where)  # type: ignore[arg-type]
    assert sealer.open(sealed, **where) == b"the value"  # type: ignore[arg-type]
    assert sealer.seal(b"the value", **where)[:12] != sealed[:12]  # type: ignore[arg-type]
    changes = [
        {"name": "app/prod/kez"},
        {"uid": b"uid-2"},
        {"version": 4},
        {"version": 3 + 2**32},
        {"ctype": "json"},
    ]
    for change in changes:
        with pytest.raises(DecryptionError):
            sealer.open(sealed, **{**where, **change})  # type: ignore[arg-type]
    with pytest.raises(DecryptionError):
        Sealer(data_key, b"other-store-0000").open(sealed, **where)  # type: ignore[arg-type]
    with pytest.raises(DecryptionError):
        Sealer(new_key(), STORE).open(sealed, **where)  # type: ignore[arg-type]
    with pytest.raises(DecryptionError):
        sealer.open(sealed[:-1], **where)  # type: ignore[arg-type]


def test_associated_data_fields_cannot_slide_into_each_other() -> None:
    """Name and id are length-prefixed: ('ab', 'c') and ('a', 'bc') are different places."""
    sealer = Sealer(new_key(), STORE)
    sealed = sealer.seal(b"v", name="ab", uid=b"c", version=1, ctype="t")
    with pytest.raises(DecryptionError):
        sealer.open(sealed, name="a", uid=b"bc", version=1, ctype="t")
    store_a = Sealer(key := new_key(), b"ab")
    moved = store_a.seal(b"v", name="c", uid=b"u", version=1, ctype="t")
    with pytest.raises(DecryptionError):
        Sealer(key, b"a").open(moved, name="bc", uid=b"u", version=1, ctype="t")


def test_open_failure_names_the_secret_never_the_value() -> None:
    """DecryptionError names secret and version; the plaintext never appears."""
    planted = sentinel_value("sealed")
    sealer = Sealer(new_key(), STORE)
    sealed = sealer.seal(planted.encode(), name="n", uid=b"u", version=7, ctype="t")
    with pytest.raises(DecryptionError) as caught:
        sealer.open(sealed, name="n", uid=b"u", version=8, ctype="t")
    assert planted not in str(caught.value)
    assert "'n'" in str(caught.value)


def test_sealed_values_use_the_documented_layout() -> None:
    """nonce(12) || AES-256-GCM, the AD binding label, store, name, id, version and type.

    Spelled out here independently, so a store written today opens tomorrow.
    """
    import struct

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    data_key = new_key()
    sealed = Sealer(data_key, STORE).seal(b"v", name="app/n", uid=b"id", version=5, ctype="text")
    ad = (
        b"sekret/local/v1/value\x00"
        + struct.pack(">I", len(STORE))
        + STORE
        + struct.pack(">I", 5)
        + b"app/n"
        + struct.pack(">I", 2)
        + b"id"
        + struct.pack(">Q", 5)
        + b"text"
    )
    assert AESGCM(data_key).decrypt(sealed[:12], sealed[12:], ad) == b"v"
    master = new_key()
    wrapped = wrap_data_key(master, data_key, store_id=STORE, mode="key")
    wrap_ad = b"sekret/local/v1/data-key\x00" + STORE + b"key"
    assert AESGCM(master).decrypt(wrapped[:12], wrapped[12:], wrap_ad) == data_key


def test_key_file_size_limit_is_4096_bytes(tmp_path: Path) -> None:
    """A key file (key plus padding) of 4096 bytes is read; 4097 is refused unread."""
    key = new_key()
    path = tmp_path / "k"
    text = encode_key(key).encode()
    path.write_bytes(text + b" " * (4096 - len(text)))
    path.chmod(0o600)
    assert read_key_file(path) == key
    path.write_bytes(text + b" " * (4097 - len(text)))
    with pytest.raises(ConfigurationError, match="larger than 4096"):
        read_key_file(path)


def test_kdf_parameters_are_immutable() -> None:
    """Stored scrypt parameters cannot be changed in place."""
    before = SMALL.n
    with pytest.raises(AttributeError):
        SMALL.n = 2  # type: ignore[misc]
    assert before == SMALL.n


def test_kdf_parameters_pickle_and_compare() -> None:
    """Stored scrypt parameters round-trip through pickle and compare by value."""
    import pickle

    again = pickle.loads(pickle.dumps(SMALL))  # noqa: S301 - our own bytes
    assert again == SMALL
    assert hash(again) == hash(SMALL)
    assert again != KdfParams(salt=b"t" * 16, n=2**10)


@pytest.mark.parametrize(
    ("n", "r", "p", "salt", "usable"),
    [
        (2**10, 1, 1, 16, True),  # every lower bound
        (2**9, 8, 1, 16, False),  # N below 2**10
        (2**20, 2, 16, 16, True),  # N at its top, 128*N*r exactly 256 MiB, p at its top
        (2**21, 1, 1, 16, False),  # N above 2**20
        (3 * 2**10, 8, 1, 16, False),  # N not a power of two
        (2**10, 0, 1, 16, False),  # r below 1
        (2**10, 32, 1, 16, True),  # r at its top
        (2**10, 33, 1, 16, False),  # r above 32
        (2**20, 3, 1, 16, False),  # N and r in bounds, memory 128*N*r above 256 MiB
        (2**10, 8, 0, 16, False),  # p below 1
        (2**10, 8, 17, 16, False),  # p above 16
        (2**10, 8, 1, 15, False),  # a salt shorter than 16 bytes
    ],
)
def test_scrypt_parameters_are_usable_only_within_their_bounds(
    n: int, r: int, p: int, salt: int, usable: bool
) -> None:
    """usable(): N a power of two in 2**10..2**20, r 1-32, p 1-16, 128*N*r <= 256 MiB, salt 16+."""
    params = KdfParams(salt=b"s" * salt, n=n, r=r, p=p)
    assert params.usable() is usable
    if not usable:  # read from a file, such parameters are refused before scrypt runs
        with pytest.raises(IntegrityError, match="the backup header"):
            KdfParams.loads(params.dumps(), where="the backup header")
    else:
        assert KdfParams.loads(params.dumps()) == params


def test_stored_scrypt_parameters_must_be_text_with_a_strict_base64_salt() -> None:
    """loads refuses a bytearray or a number, and a salt with characters outside base64."""
    good = SMALL.dumps()
    for bad in (bytearray(good.encode()), 42):
        with pytest.raises(IntegrityError, match="unreadable"):
            KdfParams.loads(bad)
    salt = base64.b64encode(SMALL.salt).decode()
    with pytest.raises(IntegrityError, match="unreadable"):
        KdfParams.loads(good.replace(salt, "!" + salt))


def test_a_passphrase_that_is_not_utf8_text_is_refused() -> None:
    """A passphrase holding a lone surrogate (not encodable as UTF-8) is a ConfigurationError."""
    with pytest.raises(ConfigurationError, match="not valid UTF-8"):
        derive_key("pass\ud800word", SMALL)


def test_a_key_file_in_a_folder_others_can_write_is_refused(tmp_path: Path) -> None:
    """read_key_file refuses a key in a group/other-writable folder without the sticky bit."""
    folder = tmp_path / "keys"
    folder.mkdir()
    create_key_file(folder / "master.key", new_key())
    folder.chmod(0o777)
    try:
        with pytest.raises(InsecurePath, match="writable by group or others"):
            read_key_file(folder / "master.key")
    finally:
        folder.chmod(0o700)


def test_a_rekeying_sealer_seals_with_the_new_key_and_opens_both() -> None:
    """During a data-key rotation, new seals use the new key; old ones still open; others fail."""
    where = {"name": "a/b/c", "uid": b"u" * 16, "version": 1, "ctype": "text"}
    old = Sealer(new_key(), b"s" * 16)
    rekeying = RekeyingSealer(new_key(), b"s" * 16, previous=old)
    value = sentinel_value().encode()
    sealed_before = old.seal(value, **where)  # type: ignore[arg-type]
    sealed_now = rekeying.seal(value, **where)  # type: ignore[arg-type]
    assert rekeying.open(sealed_before, **where) == value  # type: ignore[arg-type]
    assert rekeying.open(sealed_now, **where) == value  # type: ignore[arg-type]
    with pytest.raises(DecryptionError):
        old.open(sealed_now, **where)  # type: ignore[arg-type]
    stranger = Sealer(new_key(), b"s" * 16).seal(value, **where)  # type: ignore[arg-type]
    with pytest.raises(DecryptionError):
        rekeying.open(stranger, **where)  # type: ignore[arg-type]
