"""The vault backend against a real OpenBao dev server (started by tests/servers/openbao.py)."""

from __future__ import annotations

import contextlib
import http.server
import os
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests

from sekret import (
    AccessDenied,
    AuthenticationFailed,
    BackendUnavailable,
    Capability,
    ConfigurationError,
    Conflict,
    InvalidSecretName,
    SecretDeleted,
    SecretNotFound,
    SecretValue,
    Throttled,
    UnsupportedOperation,
    VersionNotFound,
)
from sekret.backends import open_backend
from sekret.backends.vault import VaultBackend
from sekret.testing import BAD_NAMES, BackendContract, sentinel_value
from servers.openbao import BaoServer

# Names the KV v2 API would happily store but our grammar refuses.
VAULT_ACCEPTS_WE_REFUSE = ("a b/c", "a/./b", "x/../../sys/policy", "ümlaut/key", "a//b", "a/b/")


def admin(server: BaoServer, **options: Any) -> VaultBackend:
    return VaultBackend(server.address, token=server.root_token, admin=True, **options)


class Counter:
    """A requests Session that counts (and remembers the paths of) every response."""

    def __init__(self) -> None:
        self.paths: list[str] = []
        self.session = requests.Session()
        self.session.hooks["response"].append(self._hook)

    def _hook(self, resp: requests.Response, *args: Any, **kwargs: Any) -> None:
        self.paths.append(resp.request.path_url)


class TestVaultContract(BackendContract):
    @pytest.fixture
    def backend(self, openbao: BaoServer) -> Iterator[VaultBackend]:
        with admin(openbao) as b:
            yield b


# -- URL, options, describe ----------------------------------------------------
def test_url_builds_backend_with_several_addresses(openbao: BaoServer) -> None:
    """A vault+http URL with a comma list of hosts builds a VaultBackend with each address."""
    hostport = openbao.address.split("://")[1]
    b = open_backend(
        f"vault+http://127.0.0.1:1,{hostport}/secret?auth=token&admin=true",
        token=openbao.root_token,
    )
    assert isinstance(b, VaultBackend)
    assert b.describe() == f"vault+http://127.0.0.1:1,{hostport}/secret?auth=token"
    assert b.admin
    assert Capability.WRITE in b.capabilities
    b.close()


@pytest.mark.parametrize("option", ["token", "secret_id", "jwt"])
def test_credentials_in_url_are_refused(option: str) -> None:
    """A token, secret_id or JWT in the URL query is a ConfigurationError (URLs get logged)."""
    with pytest.raises(ConfigurationError, match=option):
        VaultBackend.from_url(f"vault+https://vault:8200/secret?{option}=x")


def test_missing_token_and_unknown_option_are_configuration_errors() -> None:
    """No token anywhere, or an unknown option, fails fast with ConfigurationError."""
    with pytest.raises(ConfigurationError, match="VAULT_TOKEN"):
        VaultBackend("http://127.0.0.1:1", environ={})
    with pytest.raises(ConfigurationError, match="bogus"):
        VaultBackend("http://127.0.0.1:1", token="t", bogus=1)
    with pytest.raises(ConfigurationError, match="unknown vault auth"):
        VaultBackend("http://127.0.0.1:1", auth="ldap")


def test_repr_and_errors_never_show_the_token(openbao: BaoServer) -> None:
    """The token appears in neither repr, describe, identity nor an error message."""
    b = VaultBackend("http://127.0.0.1:1", token=openbao.root_token, failover_rounds=1)
    shown = [repr(b), b.describe(), str(b.identity)]
    with pytest.raises(BackendUnavailable) as info:
        b.read("a/b")
    shown.append(str(info.value))
    assert not [s for s in shown if openbao.root_token in s]


# -- bad input is refused before any request -------------------------------------
@pytest.mark.parametrize("bad", [*BAD_NAMES, *VAULT_ACCEPTS_WE_REFUSE])
def test_bad_names_refused_before_any_request(openbao: BaoServer, bad: str) -> None:
    """Names outside the grammar raise InvalidSecretName and send no request at all."""
    counter = Counter()
    b = admin(openbao, session=counter.session)
    for call in (
        lambda: b.read(bad),
        lambda: b.write(bad, SecretValue.of("x")),
        lambda: b.versions(bad),
        lambda: b.delete(bad),
        lambda: b.destroy(bad),
        lambda: b.move_stage(bad, "current", "1"),
    ):
        with pytest.raises(InvalidSecretName):
            call()
    assert counter.paths == []


def test_bad_name_on_unreachable_server_is_invalid_name() -> None:
    """With no server reachable, a bad name is still InvalidSecretName, not BackendUnavailable."""
    b = VaultBackend("http://127.0.0.1:1", token="t", admin=True, failover_rounds=1)
    with pytest.raises(InvalidSecretName):
        b.read("a b")
    with pytest.raises(BackendUnavailable):
        b.read("a/b")


# -- policies and least privilege ----------------------------------------------------
def test_policy_read_and_rotate_hcl() -> None:
    """policy() grants data/metadata reads and the companion tree; rotate adds writes."""
    read = VaultBackend.policy("arrwdb/production")
    assert 'path "secret/data/arrwdb/production/*"' in read
    assert 'path "secret/data/.sekret/arrwdb/production/*"' in read
    assert 'capabilities = ["read"]' in read
    assert 'capabilities = ["read", "list"]' in read
    assert "update" not in read
    rotate = VaultBackend.policy("arrwdb/production", access="rotate", mount="kv")
    assert 'path "kv/metadata/arrwdb/production/*"' in rotate
    assert 'path "kv/data/.sekret/arrwdb/production/*"' in rotate
    for cap in ("create", "update"):
        assert f'"{cap}"' in rotate
    with pytest.raises(ConfigurationError):
        VaultBackend.policy("arrwdb/production", access="write")
    with pytest.raises(InvalidSecretName):
        VaultBackend.policy("../etc")


def test_read_only_client_refuses_changes_without_a_request(openbao: BaoServer) -> None:
    """Without admin=True every change raises UnsupportedOperation before touching the server."""
    counter = Counter()
    b = VaultBackend(openbao.address, token=openbao.root_token, session=counter.session)
    assert Capability.WRITE not in b.capabilities
    assert Capability.STAGES in b.capabilities  # reading by stage still works
    for call in (
        lambda: b.write("a/b", SecretValue.of("x")),
        lambda: b.move_stage("a/b", "current", "1"),
        lambda: b.delete("a/b"),
        lambda: b.restore("a/b"),
        lambda: b.destroy("a/b"),
    ):
        with pytest.raises(UnsupportedOperation, match="admin=True"):
            call()
    assert counter.paths == []


@pytest.fixture(scope="module")
def approle(openbao: BaoServer) -> dict[str, str]:
    """AppRole auth enabled, a read-only policy on ``ro/<id>`` and a role bound to it."""
    root = openbao.client()
    if "approle/" not in root.sys.list_auth_methods()["data"]:
        root.sys.enable_auth_method("approle")
    base = f"ro/{uuid.uuid4().hex[:8]}"
    root.sys.create_or_update_policy("sekret-ro", VaultBackend.policy(base, access="read"))
    root.auth.approle.create_or_update_approle(
        "reader", token_policies=["sekret-ro"], token_ttl="60s", token_max_ttl="1h"
    )
    role_id = root.auth.approle.read_role_id("reader")["data"]["role_id"]
    secret_id = root.auth.approle.generate_secret_id("reader")["data"]["secret_id"]
    return {"base": base, "role_id": role_id, "secret_id": secret_id}


def _secret_id_file(tmp_path: Path, secret_id: str) -> str:
    path = tmp_path / "secret-id"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(secret_id)
    return str(path)


def test_approle_read_only_policy_reads_but_cannot_write(
    openbao: BaoServer, approle: dict[str, str], tmp_path: Path
) -> None:
    """AppRole + the generated read policy: reads (pending too) work, a write is AccessDenied."""
    name = f"{approle['base']}/db-password"
    value = sentinel_value()
    with admin(openbao) as a:
        v1 = a.write(name, SecretValue.of(value)).version
        a.write(name, SecretValue.of(b"\x00next"), stages=["pending"])
    reader = VaultBackend.from_url(
        f"vault+{openbao.address}/secret?auth=approle&role=reader&admin=true"
        f"&role_id={approle['role_id']}&secret_id_file="
        + _secret_id_file(tmp_path, approle["secret_id"]),
    )
    assert reader.read(name).value.text() == value
    assert [v.version for v in reader.versions(name)] == [v1, "p1"]
    assert reader.read(name, stage="pending").value.bytes() == b"\x00next"  # companion covered
    assert [i.name for i in reader.list(approle["base"] + "/").items] == [name]
    assert reader.identity == "approle:reader"
    with pytest.raises(AccessDenied) as info:
        reader.write(name, SecretValue.of("changed"))
    assert not isinstance(info.value, AuthenticationFailed)
    with pytest.raises(AccessDenied):
        reader.delete(name)
    with pytest.raises(AccessDenied):
        reader.read(f"other/{uuid.uuid4().hex[:8]}/x")  # outside the policy's root
    with admin(openbao) as a:
        assert a.read(name).version == v1
        assert a.read(name).value.text() == value


def test_approle_bad_secret_id_is_authentication_failed(
    openbao: BaoServer, approle: dict[str, str]
) -> None:
    """A wrong secret_id raises AuthenticationFailed naming the login, not the credential."""
    bogus = sentinel_value()
    b = VaultBackend(openbao.address, auth="approle", role_id=approle["role_id"], secret_id=bogus)
    with pytest.raises(AuthenticationFailed) as info:
        b.read(f"{approle['base']}/x")
    assert "approle" in str(info.value)
    assert bogus not in str(info.value)


# -- token lifetime ------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_renewed_before_expiry_without_caller_noticing(
    openbao: BaoServer, approle: dict[str, str]
) -> None:
    """At 2/3 of the token TTL (fake clock) the next read renews it first, transparently."""
    name = f"{approle['base']}/renewed"
    with admin(openbao) as a:
        a.write(name, SecretValue.of("v"))
    clock, counter = FakeClock(), Counter()
    b = VaultBackend(
        openbao.address,
        auth="approle",
        role_id=approle["role_id"],
        secret_id=approle["secret_id"],
        monotonic=clock,
        session=counter.session,
    )
    assert b.read(name).value.text() == "v"
    assert sum("renew-self" in p for p in counter.paths) == 0
    clock.now += 45  # token_ttl is 60 s: past two thirds
    assert b.read(name).value.text() == "v"
    assert sum("renew-self" in p for p in counter.paths) == 1
    assert sum("/login" in p for p in counter.paths) == 1


def test_revoked_token_triggers_one_relogin(openbao: BaoServer, approle: dict[str, str]) -> None:
    """A token revoked behind our back is replaced by one new login; the read succeeds."""
    name = f"{approle['base']}/relogin"
    with admin(openbao) as a:
        a.write(name, SecretValue.of("v"))
    counter = Counter()
    b = VaultBackend(
        openbao.address,
        auth="approle",
        role_id=approle["role_id"],
        secret_id=approle["secret_id"],
        session=counter.session,
    )
    assert b.read(name).value.text() == "v"
    token = b._conn.keeper.token
    openbao.client().auth.token.revoke(token)
    assert b.read(name).value.text() == "v"
    assert sum("/login" in p for p in counter.paths) == 2
    assert b._conn.keeper.token != token


def test_revoked_static_token_is_authentication_failed(openbao: BaoServer) -> None:
    """A static token that was revoked cannot log in again: AuthenticationFailed."""
    root = openbao.client()
    token = root.auth.token.create(ttl="1h")["auth"]["client_token"]
    b = VaultBackend(openbao.address, token=token)
    with pytest.raises(SecretNotFound):
        b.read(f"nothing/{uuid.uuid4().hex[:8]}")
    root.auth.token.revoke(token)
    with pytest.raises(AuthenticationFailed):
        b.read(f"x/{uuid.uuid4().hex[:8]}")


def test_token_file_is_reread_on_relogin(openbao: BaoServer, tmp_path: Path) -> None:
    """With token_file (a Vault Agent sink) a revoked token is replaced by the file's new one."""
    root = openbao.client()
    path = tmp_path / "token"
    first = root.auth.token.create(ttl="1h")["auth"]["client_token"]
    path.write_text(first)
    with admin(openbao) as a:
        a.write("tf/secret", SecretValue.of("v"))
    b = VaultBackend(openbao.address, token_file=str(path))
    root.sys.create_or_update_policy("tf-read", VaultBackend.policy("tf"))
    path.write_text(root.auth.token.create(policies=["tf-read"], ttl="1h")["auth"]["client_token"])
    root.auth.token.revoke(first)
    assert b.read("tf/secret").value.text() == "v"


# -- failover, sealed nodes, throttling ------------------------------------------------
class _SealedHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b'{"errors":["Vault is sealed"]}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def sealed_node() -> Iterator[str]:
    """A fake node that answers every request with 503 'Vault is sealed'."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SealedHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_failover_skips_dead_and_sealed_addresses(openbao: BaoServer, sealed_node: str) -> None:
    """A refused connection and a sealed node are skipped; reads and writes reach the live one."""
    b = VaultBackend(
        addresses=["http://127.0.0.1:1", sealed_node, openbao.address],
        token=openbao.root_token,
        admin=True,
    )
    name = f"ha/{uuid.uuid4().hex[:8]}/k"
    v = b.write(name, SecretValue.of("v")).version
    assert b.read(name).version == v


def test_all_sealed_is_backend_unavailable(sealed_node: str) -> None:
    """When every address is sealed or down the call raises BackendUnavailable after its rounds."""
    sleeps: list[float] = []
    b = VaultBackend(addresses=[sealed_node, "http://127.0.0.1:1"], token="t", sleep=sleeps.append)
    with pytest.raises(BackendUnavailable, match="cannot serve GET"):
        b.read("a/b")
    assert len(sleeps) == 1  # two rounds, one pause between them


def test_429_honours_retry_after_then_throttled(openbao: BaoServer) -> None:
    """A rate-limit quota's 429 is retried after Retry-After, then surfaces as Throttled."""
    root = openbao.client()
    mount = f"t{uuid.uuid4().hex[:6]}"
    root.sys.enable_secrets_engine("kv", path=mount, options={"version": "2"})
    root.write_data(
        f"sys/quotas/rate-limit/{mount}", data={"path": f"{mount}/", "rate": 1, "interval": "1m"}
    )
    sleeps: list[float] = []
    b = VaultBackend(
        openbao.address,
        mount=mount,
        token=openbao.root_token,
        sleep=sleeps.append,
        max_throttle_retries=2,
    )

    def read_until_throttled() -> None:
        for _ in range(10):  # the quota allows one request per minute
            with contextlib.suppress(SecretNotFound):
                b.read("a/b")

    with pytest.raises(Throttled):
        read_until_throttled()
    assert len(sleeps) == 2
    assert all(0 < s <= 60 for s in sleeps)
    root.delete(f"sys/quotas/rate-limit/{mount}")


# -- namespaces, foreign entries, recovery windows ----------------------------------------
def test_namespace_option_scopes_every_request(openbao: BaoServer) -> None:
    """With namespace=..., secrets live in that OpenBao namespace and not in the root one."""
    root = openbao.client()
    ns = f"team{uuid.uuid4().hex[:6]}"
    root.write_data(f"sys/namespaces/{ns}", data={})
    scoped = openbao.client()
    scoped.adapter.namespace = ns
    scoped.sys.enable_secrets_engine("kv", path="secret", options={"version": "2"})
    b = admin(openbao, namespace=ns)
    assert b.describe().endswith(f"namespace={ns}")
    b.write("ns/key", SecretValue.of("in-namespace"))
    assert b.read("ns/key").value.text() == "in-namespace"
    with admin(openbao) as outside, pytest.raises(SecretNotFound):
        outside.read("ns/key")


def test_foreign_kv_entry_reads_as_json_with_latest_current(openbao: BaoServer) -> None:
    """A multi-field path written by `kv put` reads as JSON; current is its latest version."""
    path = f"foreign/{uuid.uuid4().hex[:8]}/db"
    kv = openbao.client().secrets.kv.v2
    kv.create_or_update_secret(path, secret={"user": "app", "port": "5432"})
    kv.create_or_update_secret(path, secret={"user": "app2", "port": "5432"})
    b = admin(openbao)
    got = b.read(path)
    assert got.version == "2"
    assert got.value.json() == {"user": "app2", "port": "5432"}
    v3 = b.write(path, SecretValue.of("managed")).version
    assert b.read(path, stage="previous").version == "2"
    assert b.read(path).version == v3


def test_recovery_window_ends_with_the_clock(openbao: BaoServer) -> None:
    """After the window (injected clock) a deleted secret is gone and restore cannot help."""
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    b = admin(openbao, clock=lambda: now[0])
    name = f"window/{uuid.uuid4().hex[:8]}/k"
    b.write(name, SecretValue.of("v"))
    until = b.delete(name, recovery_days=7)
    assert until == now[0] + timedelta(days=7)
    with pytest.raises(SecretDeleted) as info:
        b.read(name)
    assert info.value.recoverable_until == until
    now[0] += timedelta(days=8)
    with pytest.raises(SecretNotFound) as gone:
        b.read(name)
    assert not isinstance(gone.value, SecretDeleted)
    assert "recovery window has ended" in str(gone.value)
    with pytest.raises(SecretNotFound) as restored:
        b.restore(name)
    assert not isinstance(restored.value, SecretDeleted)
    assert name in str(restored.value)
    import hvac.exceptions

    raw = openbao.client().secrets.kv.v2
    with pytest.raises(
        hvac.exceptions.InvalidPath
    ):  # 404: the admin read past the window purged it
        raw.read_secret_metadata(path=name)


def test_pending_write_leaves_the_native_latest_alone(openbao: BaoServer) -> None:
    """A pending write goes to the companion: the KV latest version is still current."""
    b = admin(openbao)
    name = f"stage/{uuid.uuid4().hex[:8]}/k"
    b.write(name, SecretValue.of("live"))
    pending = b.write(name, SecretValue.of("next"), stages=["pending"]).version
    assert pending.startswith("p")
    kv = openbao.client().secrets.kv.v2
    raw = kv.read_secret_version(path=name, raise_on_deleted_version=True)
    assert raw["data"]["metadata"]["version"] == 1
    assert raw["data"]["data"] == {"value": "live"}
    assert b.read(name).value.text() == "live"
    assert b.read(name, stage="pending").value.text() == "next"


# -- JWT/OIDC and Kubernetes logins ------------------------------------------------------
def _signed_jwt(key: Any, claims: dict[str, Any]) -> str:
    """An RS256 JWT built with `cryptography` only (no JWT library needed)."""
    import base64
    import json

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    head = b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    body = b64(json.dumps(claims).encode())
    signature = key.sign(f"{head}.{body}".encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{head}.{body}.{b64(signature)}"


@pytest.fixture(scope="module")
def jwt_login(openbao: BaoServer) -> dict[str, Any]:
    """A JWT auth method (mounted at jwt-<id> and at k8s-<id>) trusting a fresh RSA key."""
    import time

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    root = openbao.client()
    suffix = uuid.uuid4().hex[:6]
    base = f"jwt{suffix}/prod"
    root.sys.create_or_update_policy(f"jwt-{suffix}", VaultBackend.policy(base))
    mounts = {"jwt": f"jwt-{suffix}", "kubernetes": f"k8s-{suffix}"}
    for mount in mounts.values():
        root.sys.enable_auth_method("jwt", path=mount)
        root.write_data(f"auth/{mount}/config", data={"jwt_validation_pubkeys": [pem]})
        root.write_data(
            f"auth/{mount}/role/app",
            data={
                "role_type": "jwt",
                "user_claim": "sub",
                "bound_audiences": ["sekret"],
                "token_policies": [f"jwt-{suffix}"],
                "token_ttl": "5m",
            },
        )
    now = int(time.time())
    claims = {"sub": "ci-job", "aud": "sekret", "iat": now, "nbf": now - 5, "exp": now + 3600}
    with admin(openbao) as a:
        a.write(f"{base}/api-key", SecretValue.of("jwt-readable"))
    return {"jwt": _signed_jwt(key, claims), "mounts": mounts, "base": base}


def test_jwt_login_from_file(openbao: BaoServer, jwt_login: dict[str, Any], tmp_path: Path) -> None:
    """auth=jwt reads the JWT from its file, logs in with the role, and reads under the policy."""
    path = tmp_path / "jwt"
    path.write_text(jwt_login["jwt"])
    b = VaultBackend.from_url(
        f"vault+{openbao.address}/secret?auth=jwt&role=app&jwt_file={path}"
        f"&auth_mount={jwt_login['mounts']['jwt']}"
    )
    assert b.read(f"{jwt_login['base']}/api-key").value.text() == "jwt-readable"
    assert b.identity == "jwt:app"


def test_kubernetes_login_sends_service_account_token(
    openbao: BaoServer, jwt_login: dict[str, Any], tmp_path: Path
) -> None:
    """auth=kubernetes posts {role, jwt=<SA token file>} to auth/<mount>/login.

    The Kubernetes method itself needs a cluster's TokenReview API, so a JWT
    method trusting the same key stands in for it at the Kubernetes mount: the
    request sekret sends is the same.
    """
    token_file = tmp_path / "serviceaccount-token"
    token_file.write_text(jwt_login["jwt"])
    b = VaultBackend(
        openbao.address,
        auth="kubernetes",
        role="app",
        jwt_file=str(token_file),
        auth_mount=jwt_login["mounts"]["kubernetes"],
    )
    assert b.read(f"{jwt_login['base']}/api-key").value.text() == "jwt-readable"
    assert b.identity == "kubernetes:app"


def test_missing_jwt_file_is_a_configuration_error(tmp_path: Path) -> None:
    """A JWT/SA token file that does not exist is a ConfigurationError naming the file."""
    b = VaultBackend(
        "http://127.0.0.1:1",
        auth="kubernetes",
        role="app",
        jwt_file=str(tmp_path / "absent"),
        sleep=lambda s: None,
    )
    with pytest.raises(ConfigurationError, match="absent"):
        b.read("a/b")


# -- stage moves are check-and-set ----------------------------------------------------------
def _racing_session(action: Any) -> requests.Session:
    """A session that runs ``action`` once, right after the first companion read returns."""
    session = requests.Session()
    fired: list[bool] = []

    def hook(resp: requests.Response, *args: Any, **kwargs: Any) -> None:
        if not fired and resp.request.method == "GET" and "/.sekret/" in resp.request.path_url:
            fired.append(True)
            action()

    session.hooks["response"].append(hook)
    return session


def test_racing_stage_moves_lose_no_update(openbao: BaoServer) -> None:
    """A label move racing a promotion is retried on companion CAS failure: both survive."""
    a = admin(openbao)
    name = f"race/{uuid.uuid4().hex[:8]}/k"
    v1 = a.write(name, SecretValue.of("one")).version
    v2 = a.write(name, SecretValue.of("two"), stages=["pending"]).version
    b = admin(openbao, session=_racing_session(lambda: a.move_stage(name, "canary", v1)))
    b.move_stage(name, "current", v2)
    assert a.read(name).value.text() == "two"
    assert a.read(name, stage="previous").version == v1
    assert a.read(name, stage="canary").version == v1  # the racer's change was not overwritten
    with pytest.raises(VersionNotFound):
        a.read(name, stage="pending")  # promotion consumed the pending version


def test_racing_promotions_with_expectation_conflict(openbao: BaoServer) -> None:
    """Two promotions expecting the same current: the one that loses the race gets Conflict."""
    a = admin(openbao)
    name = f"race/{uuid.uuid4().hex[:8]}/k"
    v1 = a.write(name, SecretValue.of("one")).version
    v2 = a.write(name, SecretValue.of("two"), stages=["candidate-a"]).version
    v3 = a.write(name, SecretValue.of("three"), stages=["candidate-b"]).version
    racer = _racing_session(lambda: a.move_stage(name, "current", v2, expected_version=v1))
    b = admin(openbao, session=racer)
    with pytest.raises(Conflict):
        b.move_stage(name, "current", v3, expected_version=v1)
    assert a.read(name).value.text() == "two"
    assert a.read(name, version=v2).value.text() == "two"  # a promoted id still reads
    assert a.read(name, stage="previous").version == v1


class _DropWritesHandler(http.server.BaseHTTPRequestHandler):
    """Answers reads like an empty server; drops the connection on every write."""

    posts: ClassVar[list[str]] = []

    def _json(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if "lookup-self" in self.path:
            self._json(200, b'{"data": {"ttl": 0, "renewable": false}}')
        else:
            self._json(404, b'{"errors": []}')

    def do_POST(self) -> None:
        type(self).posts.append(self.path)
        self.close_connection = True
        self.connection.shutdown(2)  # mid-request: the server got it, no answer comes back

    def log_message(self, *args: Any) -> None:
        pass


def test_write_whose_connection_broke_is_not_resent() -> None:
    """A write that lost its connection mid-request raises BackendUnavailable and is sent once."""
    _DropWritesHandler.posts = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _DropWritesHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        b = VaultBackend(
            f"http://127.0.0.1:{server.server_address[1]}",
            token="t",
            admin=True,
            sleep=lambda s: None,
            check_mount=False,
        )
        with pytest.raises(BackendUnavailable, match="may or may not"):
            b.write("a/b", SecretValue.of("v"))
        assert _DropWritesHandler.posts == ["/v1/secret/metadata/a/b"]  # markers go first
    finally:
        server.shutdown()
        server.server_close()


def test_malformed_url_is_a_configuration_error() -> None:
    """A URL urllib cannot parse (a '[' in the host) is a ConfigurationError, not ValueError."""
    with pytest.raises(ConfigurationError, match="not a valid URL"):
        VaultBackend.from_url("vault+https://[v:8200/secret", token="t")


def test_url_options_are_parsed() -> None:
    """timeout, verify, namespace and mount come from the URL; describe() shows no secrets."""
    b = VaultBackend.from_url(
        "vault+https://v1:8200,v2:8200/team/kv?namespace=eng&timeout=3&verify=false",
        token="t",
    )
    assert b.describe() == "vault+https://v1:8200,v2:8200/team/kv?auth=token&namespace=eng"
    assert not b.admin
    with pytest.raises(ConfigurationError, match="timeout"):
        VaultBackend.from_url("vault+https://v:8200/secret?timeout=soon", token="t")
    with pytest.raises(ConfigurationError):
        VaultBackend.from_url("vault+ftp://v:8200/secret", token="t")


def test_secrets_facade_over_vault_url(openbao: BaoServer) -> None:
    """Secrets built from a vault URL puts, promotes and rolls back through the stage map."""
    from sekret import Secrets

    env = f"e{uuid.uuid4().hex[:8]}"
    with Secrets(
        f"vault+{openbao.address}/secret?admin=true",
        app="arrwdb",
        environment=env,
        cache=False,
        token=openbao.root_token,
    ) as secrets:
        v1 = secrets.put("api-key", "one").version
        v2 = secrets.put("api-key", "two", stages=["pending"]).version
        assert secrets.get("api-key") == "one"
        assert v2.startswith("p")
        promoted = secrets.promote("api-key").version
        assert int(promoted) == int(v1) + 1
        assert secrets.get("api-key") == "two"
        assert int(secrets.rollback("api-key").version) == int(promoted) + 1
        assert secrets.get("api-key") == "one"
        assert [i.name for i in secrets.list()] == ["api-key"]


# -- the vault CLI's conventions and timeouts -----------------------------------------------
def test_token_from_vault_token_file_written_by_bao_login(
    openbao: BaoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without VAULT_TOKEN/BAO_TOKEN the token comes from ~/.vault-token, as `bao login` writes."""
    monkeypatch.delenv("VAULT_TOKEN", raising=False)
    monkeypatch.delenv("BAO_TOKEN", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".vault-token").write_text(openbao.root_token + "\n")
    b = VaultBackend(openbao.address, admin=True)
    b.write(f"helper/{uuid.uuid4().hex[:8]}/k", SecretValue.of("v"))
    (tmp_path / ".vault-token").unlink()
    with pytest.raises(ConfigurationError, match="bao login"):
        VaultBackend(openbao.address)


def test_cacert_and_namespace_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """VAULT_CACERT sets the CA bundle and VAULT_NAMESPACE the namespace, as for the vault CLI."""
    monkeypatch.setenv("VAULT_CACERT", "/etc/ssl/vault-ca.pem")
    monkeypatch.setenv("VAULT_NAMESPACE", "eng")
    b = VaultBackend("https://vault.internal:8200", token="t")
    assert b._conn._session.verify == "/etc/ssl/vault-ca.pem"
    assert "namespace=eng" in b.describe()
    monkeypatch.delenv("VAULT_CACERT")
    monkeypatch.setenv("VAULT_CAPATH", "/etc/ssl/vault-cas")
    assert VaultBackend("https://v:8200", token="t")._conn._session.verify == "/etc/ssl/vault-cas"


def test_approle_from_vault_role_id_and_secret_id(
    openbao: BaoServer, approle: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """auth=approle takes VAULT_ROLE_ID and VAULT_SECRET_ID from the environment."""
    monkeypatch.setenv("VAULT_ROLE_ID", approle["role_id"])
    monkeypatch.setenv("VAULT_SECRET_ID", approle["secret_id"])
    b = VaultBackend(openbao.address, auth="approle")
    with pytest.raises(SecretNotFound):
        b.read(f"{approle['base']}/missing")
    assert b.identity is not None
    assert b.identity.startswith("approle:")


def test_connect_and_read_timeouts_are_separate_url_options() -> None:
    """?connect_timeout= and ?read_timeout= reach the HTTP adapter as a (connect, read) pair."""
    b = VaultBackend.from_url(
        "vault+https://v:8200/secret?connect_timeout=0.5&read_timeout=1.5", token="t"
    )
    assert {a._kwargs["timeout"] for a in b._conn._api} == {(0.5, 1.5)}
    default = VaultBackend("https://v:8200", token="t")
    assert {a._kwargs["timeout"] for a in default._conn._api} == {(2.0, 5.0)}
    with pytest.raises(ConfigurationError, match="read_timeout"):
        VaultBackend("https://v:8200", token="t", read_timeout=0)


def test_hung_server_read_fails_with_one_sentence() -> None:
    """A server that accepts and never answers: one timeout, BackendUnavailable saying so."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    try:
        port = listener.getsockname()[1]
        sleeps: list[float] = []
        b = VaultBackend(
            f"http://127.0.0.1:{port}",
            token="t",
            read_timeout=0.2,
            sleep=sleeps.append,
            check_mount=False,
        )
        with pytest.raises(BackendUnavailable, match="timed out") as info:
            b.read("a/b")
        assert "Error(" not in str(info.value)
        assert sleeps == []  # a hung address is not asked again after a pause
    finally:
        listener.close()
