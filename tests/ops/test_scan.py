"""sekret.ops.scan: kind guesses from names and value shapes, TOML proposals."""

from __future__ import annotations

import base64
import os
import tomllib

import pytest

from sekret._values import SecretValue
from sekret.backends.memory import MemoryBackend
from sekret.manifest import parse_manifest
from sekret.ops.importing import BackendSource
from sekret.ops.scan import guess_kind, proposed_name, scan, to_toml
from sekret.testing import sentinel_value


@pytest.mark.parametrize(
    ("name", "value", "kind"),
    [
        ("db", {"username": "u", "password": "p"}, "db_credentials"),
        ("db", {"user": "u", "password": "p"}, "db_credentials"),
        ("signing", {"kty": "RSA", "n": "x"}, "jwt_signing_key"),
        ("signing", "-----BEGIN EC PRIVATE KEY-----\nabc\n", "jwt_signing_key"),
        ("STRIPE_API_KEY", "sk_live_x", "api_key"),
        ("legacy/openai-api-key", "x", "api_key"),
        ("cohere_apikey", "x", "api_key"),
        ("data-key", base64.b64encode(os.urandom(32)).decode(), "encryption_key"),
        (
            "data-key",
            base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="),
            "encryption_key",
        ),
        ("data-key", base64.b64encode(os.urandom(31)).decode(), "generic"),
        ("notes", "hello world", "generic"),
        ("api_keys_doc", "x", "generic"),
    ],
)
def test_guess_kind(name: str, value: object, kind: str) -> None:
    """Each rule of the table in the module docstring, first match wins."""
    assert guess_kind(name, SecretValue.of(value))[0] == kind


def test_proposed_name() -> None:
    """Upper snake case becomes lower dash case, segment by segment."""
    assert proposed_name("COHERE_API_KEY") == "cohere-api-key"
    assert proposed_name("Team/DB_URL") == "team/db-url"


def test_scan_proposals_load_as_a_manifest_and_hold_no_value() -> None:
    """to_toml output pasted under an app and environment is a valid manifest, value-free."""
    backend = MemoryBackend()
    password = sentinel_value()
    backend.write("legacy/ORDERS_DB", SecretValue.of({"username": "o", "password": password}))
    backend.write("legacy/x.y", SecretValue.of(sentinel_value()))
    proposals = scan(BackendSource(backend, "legacy"))
    text = to_toml(proposals, origin="memory legacy/")
    assert password not in text
    manifest = parse_manifest('app = "a"\n[environments.dev]\nbackend = "memory://"\n' + text)
    assert manifest.secrets["orders-db"].kind == "db_credentials"
    assert manifest.secrets["x.y"].env == "X_Y"
    assert tomllib.loads(text)["secrets"]["orders-db"]["env"] == "ORDERS_DB"
