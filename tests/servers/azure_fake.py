"""A local fake of the Azure Key Vault secrets REST API, and its fixtures.

It exists so the real ``azure-keyvault-secrets`` client can be tested
without Azure; there is no official emulator. It speaks HTTPS (a
self-signed certificate made at test time, see ``make_certificate``) on
127.0.0.1, from an ``http.server`` thread. It must never log request bodies
(values travel in them) and never listen beyond 127.0.0.1.

Where each behaviour comes from (Microsoft Learn, Key Vault documentation):

* Operations, paths and JSON shapes (SecretBundle, SecretItem,
  DeletedSecretBundle, ``attributes`` with Unix-time ``created``/``updated`` (and ``exp``),
  ``id`` = ``{vault}/secrets/{name}/{version}``, paged ``{"value": [...],
  "nextLink": ...}`` with ``maxresults`` at most 25): REST API reference,
  "Key Vault > Secrets": Set Secret, Get Secret (empty version = latest),
  Get Secrets, Get Secret Versions, Update Secret (PATCH replaces tags),
  Delete Secret, Get Deleted Secret(s), Purge Deleted Secret, Recover
  Deleted Secret.
* Error body ``{"error": {"code", "message", "innererror"}}`` and status
  codes (400 BadParameter, 401, 403 Forbidden, 404 SecretNotFound, 409
  Conflict, 429 Throttled with ``Retry-After``): "Common error codes for
  Azure Key Vault" and "Azure Key Vault throttling guidance".
* The 401 bearer challenge on a request without a token (``WWW-Authenticate:
  Bearer authorization="https://login.microsoftonline.com/<tenant>",
  resource="https://vault.azure.net"``): "Authentication, requests and
  responses" (Key Vault general docs).
* Names ``^[0-9a-zA-Z-]{1,127}$``, compared case-insensitively (the case
  given first is kept): "About keys, secrets, and certificates" (object
  identifiers) and the Set Secret parameter pattern.
* Values at most 25 KB, at most 15 tags: "Azure Key Vault service limits"
  and "About Azure Key Vault secrets".
* Soft delete: a deleted name cannot take new versions (409 "... is
  currently in a deleted but recoverable state"), recover brings back every
  version, purge deletes for good, ``scheduledPurgeDate`` = deletion +
  retention days (7-90): "Azure Key Vault soft-delete overview".
* A disabled version cannot be read: 403 Forbidden "Operation get is not
  allowed on a disabled secret." (inner code ``SecretDisabled``): "About
  Azure Key Vault secrets" (secret attributes) and the error codes page.

Control hook for tests: ``fake.inject(status, times=..., method=...)``
answers the next authenticated requests with an error (403, 429 ...);
``fake.disable(name, version)`` disables a version; ``fake.now`` is the
fake's clock (aware UTC datetime, settable).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

NAME = re.compile(r"[0-9a-zA-Z-]{1,127}\Z")
MAX_VALUE = 25 * 1024
MAX_TAGS = 15
PAGE_MAX = 25
CHALLENGE = (
    'Bearer authorization="https://login.microsoftonline.com/00000000-0000-0000-0000-000000000000",'
    ' resource="https://vault.azure.net"'
)
DISABLED = "Operation get is not allowed on a disabled secret."


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (its own CA), and its key (0600)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sekret azure fake")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file = directory / "azure-fake-cert.pem"
    key_file = directory / "azure-fake-key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_file, key_file


@dataclass
class _Version:
    id: str
    value: str
    content_type: str | None
    tags: dict[str, str]
    enabled: bool
    created: int
    updated: int
    expires: int | None = None  # attributes.exp (Unix time), as Key Vault keeps it


@dataclass
class _Secret:
    name: str
    versions: list[_Version] = field(default_factory=list)
    deleted: int | None = None
    purge: int | None = None

    @property
    def latest(self) -> _Version:
        return self.versions[-1]


class FakeError(Exception):
    def __init__(self, status: int, code: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra


@dataclass
class _Injection:
    status: int
    times: int
    method: str | None
    code: str
    retry_after: str | None


class FakeKeyVault:
    """The in-memory vault and its HTTPS server."""

    def __init__(self, cert: Path, key: Path, *, page_size: int = 25, retention_days: int = 90):
        self.cert = cert
        self.token = "fake-azure-token"
        self.page_size = page_size
        self.retention_days = retention_days
        self.now = dt.datetime.now(dt.UTC)
        self.requests: list[tuple[str, str, bool]] = []  # method, path, had a token
        self._lock = threading.RLock()
        self._live: dict[str, _Secret] = {}
        self._deleted: dict[str, _Secret] = {}
        self._injections: list[_Injection] = []
        handler = type("Handler", (_Handler,), {"fake": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self.url = f"https://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> FakeKeyVault:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- control hook --------------------------------------------------------
    def inject(
        self,
        status: int,
        *,
        times: int = 1,
        method: str | None = None,
        code: str | None = None,
        retry_after: str | None = "0",
    ) -> None:
        """Answer the next ``times`` authenticated requests (of ``method``) with ``status``."""
        codes = {403: "Forbidden", 429: "Throttled", 500: "InternalServerError", 409: "Conflict"}
        with self._lock:
            self._injections.append(
                _Injection(status, times, method, code or codes.get(status, "Error"), retry_after)
            )

    def reset(self) -> None:
        with self._lock:
            self._injections.clear()
            self.requests.clear()

    def disable(self, name: str, version: str) -> None:
        with self._lock:
            for v in self._live[name.lower()].versions:
                if v.id == version:
                    v.enabled = False

    def _injected(self, method: str) -> _Injection | None:
        with self._lock:
            for inj in self._injections:
                if inj.method in (None, method):
                    inj.times -= 1
                    if inj.times <= 0:
                        self._injections.remove(inj)
                    return inj
        return None

    # -- model ---------------------------------------------------------------
    def _ts(self) -> int:
        return int(self.now.timestamp())

    def _expire(self) -> None:
        for key, secret in list(self._deleted.items()):
            if secret.purge is not None and self._ts() >= secret.purge:
                del self._deleted[key]

    def _bundle(self, s: _Secret, v: _Version, *, value: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": f"{self.url}/secrets/{s.name}/{v.id}",
            "attributes": self._attributes(v),
            "tags": dict(v.tags),
        }
        if v.content_type is not None:
            out["contentType"] = v.content_type
        if value:
            out["value"] = v.value
        return out

    def _attributes(self, v: _Version) -> dict[str, Any]:
        out = {
            "enabled": v.enabled,
            "created": v.created,
            "updated": v.updated,
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": self.retention_days,
        }
        if v.expires is not None:
            out["exp"] = v.expires
        return out

    def _deleted_bundle(self, s: _Secret) -> dict[str, Any]:
        out = self._bundle(s, s.latest, value=False)
        out.update(
            recoveryId=f"{self.url}/deletedsecrets/{s.name}",
            deletedDate=s.deleted,
            scheduledPurgeDate=s.purge,
        )
        return out

    def _not_found(self, what: str) -> FakeError:
        return FakeError(
            404,
            "SecretNotFound",
            f"A secret with (name/id) {what} was not found in this key vault. If you recently"
            " deleted this secret you may be able to recover it using the correct recovery"
            " command.",
        )

    def _find(self, name: str) -> _Secret:
        secret = self._live.get(name.lower())
        if secret is None:
            raise self._not_found(name)
        return secret

    def _version(self, secret: _Secret, version: str) -> _Version:
        if not version:
            return secret.latest
        for v in secret.versions:
            if v.id == version:
                return v
        raise self._not_found(f"{secret.name}/{version}")

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> Any:
        with self._lock:
            self._expire()
            parts = [p for p in path.split("/")]
            if parts and parts[0] == "":
                parts = parts[1:]
            route = parts[0] if parts else ""
            if route == "secrets":
                return self._secrets(method, parts[1:], query, body)
            if route == "deletedsecrets":
                return self._deleted_secrets(method, parts[1:], query)
            raise FakeError(400, "BadParameter", f"unsupported path {path!r}")

    def _check_name(self, name: str) -> None:
        if not NAME.match(name):
            raise FakeError(
                400, "BadParameter", f"The request URI contains an invalid name: {name}"
            )

    def _secrets(self, method: str, rest: list[str], query: dict[str, str], body: Any) -> Any:
        if not rest or rest == [""]:
            if method != "GET":
                raise FakeError(405, "MethodNotAllowed", "method not allowed")
            items = [
                self._item(s, s.latest, with_version=False)
                for s in sorted(self._live.values(), key=lambda s: s.name.lower())
            ]
            return self._page(items, "secrets", query)
        name = rest[0]
        self._check_name(name)
        tail = rest[1] if len(rest) > 1 else ""
        if method == "PUT" and not tail:
            return self._set(name, body or {})
        if method == "DELETE" and not tail:
            secret = self._find(name)
            del self._live[name.lower()]
            secret.deleted = self._ts()
            secret.purge = secret.deleted + self.retention_days * 86400
            self._deleted[name.lower()] = secret
            return self._deleted_bundle(secret)
        if method == "GET" and tail == "versions":
            secret = self._find(name)
            items = [self._item(secret, v, with_version=True) for v in secret.versions]
            return self._page(items, f"secrets/{secret.name}/versions", query)
        if method == "GET":
            secret = self._find(name)
            v = self._version(secret, tail)
            if not v.enabled:
                raise FakeError(403, "Forbidden", DISABLED, innererror={"code": "SecretDisabled"})
            return self._bundle(secret, v)
        if method == "PATCH":
            secret = self._find(name)
            v = self._version(secret, tail)
            body = body or {}
            if "tags" in body:
                tags = dict(body["tags"] or {})
                if len(tags) > MAX_TAGS:
                    raise FakeError(400, "BadParameter", "A maximum of 15 tags is allowed")
                v.tags = tags
            if "contentType" in body:
                v.content_type = body["contentType"]
            if "enabled" in (body.get("attributes") or {}):
                v.enabled = bool(body["attributes"]["enabled"])
            v.updated = self._ts()
            return self._bundle(secret, v, value=False)
        raise FakeError(405, "MethodNotAllowed", "method not allowed")

    def _set(self, name: str, body: dict[str, Any]) -> Any:
        key = name.lower()
        if key in self._deleted:
            raise FakeError(
                409,
                "Conflict",
                f"Secret {name} is currently in a deleted but recoverable state, and its name"
                " cannot be reused; in this state, the secret can only be recovered or purged.",
            )
        value = body.get("value")
        if not isinstance(value, str):
            raise FakeError(400, "BadParameter", "Property 'value' is required")
        if len(value.encode("utf-8")) > MAX_VALUE:
            raise FakeError(400, "BadParameter", "The secret value exceeds 25 KB")
        tags = dict(body.get("tags") or {})
        if len(tags) > MAX_TAGS:
            raise FakeError(400, "BadParameter", "A maximum of 15 tags is allowed")
        attributes = body.get("attributes") or {}
        secret = self._live.setdefault(key, _Secret(name))
        ts = self._ts()
        v = _Version(
            uuid.uuid4().hex,
            value,
            body.get("contentType"),
            tags,
            bool(attributes.get("enabled", True)),
            ts,
            ts,
            int(attributes["exp"]) if attributes.get("exp") is not None else None,
        )
        secret.versions.append(v)
        return self._bundle(secret, v)

    def _item(self, s: _Secret, v: _Version, *, with_version: bool) -> dict[str, Any]:
        item = self._bundle(s, v, value=False)
        if not with_version:
            item["id"] = f"{self.url}/secrets/{s.name}"
        return item

    def _page(self, items: list[dict[str, Any]], path: str, query: dict[str, str]) -> Any:
        size = min(int(query.get("maxresults") or PAGE_MAX), PAGE_MAX, self.page_size)
        start = int(query.get("$skiptoken") or 0)
        chunk = items[start : start + size]
        next_link = None
        if start + size < len(items):
            next_link = (
                f"{self.url}/{quote(path)}?api-version={query.get('api-version', '')}"
                f"&$skiptoken={start + size}&maxresults={size}"
            )
        return {"value": chunk, "nextLink": next_link}

    def _deleted_secrets(self, method: str, rest: list[str], query: dict[str, str]) -> Any:
        if not rest or rest == [""]:
            items = []
            for s in sorted(self._deleted.values(), key=lambda s: s.name.lower()):
                item = self._deleted_bundle(s)
                item["id"] = f"{self.url}/secrets/{s.name}"
                items.append(item)
            return self._page(items, "deletedsecrets", query)
        name = rest[0]
        self._check_name(name)
        secret = self._deleted.get(name.lower())
        if secret is None:
            raise FakeError(404, "SecretNotFound", f"Deleted Secret not found: {name}")
        tail = rest[1] if len(rest) > 1 else ""
        if method == "GET" and not tail:
            return self._deleted_bundle(secret)
        if method == "DELETE" and not tail:
            del self._deleted[name.lower()]
            return None
        if method == "POST" and tail == "recover":
            del self._deleted[name.lower()]
            secret.deleted = secret.purge = None
            self._live[name.lower()] = secret
            return self._bundle(secret, secret.latest, value=False)
        raise FakeError(405, "MethodNotAllowed", "method not allowed")


class _Handler(BaseHTTPRequestHandler):
    fake: FakeKeyVault
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # headers and body go out in two writes: without this, Nagle + delayed ACK
        # add ~40 ms to every response
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: request lines are not secret, but test output stays clean."""

    def _send(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = b"" if payload is None else json.dumps(payload).encode()
        self.send_response(status)
        if data:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for key, val in (headers or {}).items():
            self.send_header(key, val)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, exc: FakeError, headers: dict[str, str] | None = None) -> None:
        error: dict[str, Any] = {"code": exc.code, "message": exc.message}
        error.update(exc.extra)
        self._send(exc.status, {"error": error}, headers)

    def _serve(self) -> None:
        fake = self.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        auth = self.headers.get("Authorization") or ""
        fake.requests.append((self.command, parts.path, bool(auth)))
        if not auth.startswith("Bearer "):
            self._error(
                FakeError(401, "Unauthorized", "AKV10000: Request is missing a Bearer token"),
                {"WWW-Authenticate": CHALLENGE},
            )
            return
        if auth != f"Bearer {fake.token}":
            self._error(
                FakeError(401, "Unauthorized", "AKV10032: Invalid issuer."),
                {"WWW-Authenticate": CHALLENGE},
            )
            return
        if "api-version" not in query:
            self._error(FakeError(400, "BadParameter", "api-version query parameter is required"))
            return
        inj = fake._injected(self.command)
        if inj is not None:
            headers = {}
            if inj.retry_after is not None and inj.status in (429, 503):
                headers["Retry-After"] = inj.retry_after
            message = {
                403: "The user, group or application does not have secrets get permission.",
                429: "Request was not allowed because the rate limit was exceeded.",
            }.get(inj.status, "Injected error")
            self._error(FakeError(inj.status, inj.code, message), headers)
            return
        try:
            body = json.loads(raw) if raw else None
            result = fake.handle(self.command, parts.path, query, body)
        except FakeError as exc:
            self._error(exc)
            return
        except ValueError:
            self._error(FakeError(400, "BadParameter", "The request body is not valid JSON"))
            return
        if result is None:
            self._send(204, None)
        else:
            self._send(200, result)

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST = _serve


class StaticTokenCredential:
    """A TokenCredential that hands out one fixed bearer token (never a real one)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes.extend(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)


def fake_client(fake: FakeKeyVault, token: str | None = None, **options: Any) -> Any:
    """A real SecretClient pointed at the fake, trusting its certificate."""
    from azure.keyvault.secrets import SecretClient

    options.setdefault("retry_total", 2)
    options.setdefault("retry_backoff_factor", 0.01)
    options.setdefault("retry_backoff_max", 0.05)
    return SecretClient(
        fake.url,
        StaticTokenCredential(token or fake.token),
        verify_challenge_resource=False,
        connection_verify=str(fake.cert),
        **options,
    )


def start_fake(directory: Path, **options: Any) -> FakeKeyVault:
    cert, key = make_certificate(directory)
    return FakeKeyVault(cert, key, **options).start()


@pytest.fixture(scope="session")
def _azure_fake_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeKeyVault]:
    fake = start_fake(tmp_path_factory.mktemp("azure-fake"))
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def azure_fake(_azure_fake_server: FakeKeyVault) -> Iterator[FakeKeyVault]:
    """The shared fake Key Vault, with no injected errors left over from other tests."""
    _azure_fake_server.reset()
    yield _azure_fake_server
    _azure_fake_server.reset()


@pytest.fixture
def fresh_azure_fake(tmp_path: Path) -> Iterator[FakeKeyVault]:
    """A fake Key Vault of its own (new origin, so the SDK meets the 401 challenge again)."""
    fake = start_fake(tmp_path)
    try:
        yield fake
    finally:
        fake.stop()
