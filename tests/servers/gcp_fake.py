"""A local fake of Google Secret Manager (gRPC and REST), and its fixtures.

There is no official emulator, so the real ``google-cloud-secret-manager``
client is tested against this fake: a gRPC server built from generic
handlers and the package's own protobuf messages
(``google.cloud.secretmanager_v1.types.*.pb()``), and a JSON REST endpoint
(``http.server``) for the client's REST transport. Both serve one in-memory
model, on 127.0.0.1 only. It must never log payloads.

Where each behaviour comes from (cloud.google.com/secret-manager/docs):

* Methods, resource names (``projects/P/secrets/S/versions/N``), REST paths
  (``/v1/...:access``, ``:addVersion``, ``:disable`` ...) and messages: the
  v1 RPC and REST references (and the generated client's ``rest_base.py``).
* Secret ids ``[A-Za-z0-9_-]{1,255}``; payloads at most 64 KiB; at most 16
  KiB of annotations: "Quotas and limits" and the ``Secret`` reference.
* Versions numbered from 1; ``latest`` is the newest version whatever its
  state; aliases ``version_aliases`` (not ``latest``, only existing and not
  destroyed versions): "Assign an alias to a secret version".
* A non-enabled version cannot be accessed: FAILED_PRECONDITION "Secret
  Version [...] is in DISABLED state." (or DESTROYED): "Disable/destroy a
  secret version" (and the error as the service returns it).
* ETags on ``UpdateSecret``/``DeleteSecret``/version state changes; a stale
  etag fails with FAILED_PRECONDITION (HTTP 400): "Use entity tags for
  optimistic concurrency control". Adding a version does not change the
  secret's etag.
* DeleteSecret is immediate and removes every version: "Delete a secret".
* Paging with ``page_size``/``next_page_token``; versions listed newest
  first: the ``ListSecrets``/``ListSecretVersions`` references.
* Error bodies over REST: ``{"error": {"code", "message", "status"}}``, the
  Google API error model (AIP-193); gRPC status codes map to HTTP per
  ``google.rpc.Code``.
* CRC32C payload checksums are optional in the API and not produced here.

Control hook: ``fake.inject(grpc.StatusCode.X, times=...)`` fails the next
calls (both transports); ``fake.page_size`` caps pages to exercise paging.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import socket
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import grpc
import pytest
from google.cloud.secretmanager_v1 import types
from google.protobuf import empty_pb2, json_format, timestamp_pb2

SERVICE = "google.cloud.secretmanager.v1.SecretManagerService"
SECRET_ID = re.compile(r"[A-Za-z0-9_-]{1,255}\Z")
ALIAS = re.compile(r"[A-Za-z0-9_-]{1,63}\Z")
MAX_PAYLOAD = 64 * 1024
MAX_ANNOTATIONS = 16 * 1024
ENABLED, DISABLED, DESTROYED = 1, 2, 3
STATE_NAMES = {ENABLED: "ENABLED", DISABLED: "DISABLED", DESTROYED: "DESTROYED"}
HTTP_OF = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.UNAVAILABLE: 503,
}

Secret = types.Secret.pb()
SecretVersion = types.SecretVersion.pb()


class FakeStatus(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class _Version:
    meta: Any  # SecretVersion pb
    data: bytes


@dataclass
class _Entry:
    secret: Any  # Secret pb
    versions: list[_Version] = field(default_factory=list)


class FakeSecretManager:
    """The in-memory model behind both endpoints."""

    def __init__(self, *, page_size: int = 10) -> None:
        self.page_size = page_size
        self.calls: list[str] = []
        self._lock = threading.RLock()
        self._secrets: dict[str, _Entry] = {}
        self._etags = itertools.count(1)
        self._injections: list[list[Any]] = []  # [code, times, method]

    # -- control hook ----------------------------------------------------------
    def inject(self, code: grpc.StatusCode, *, times: int = 1, method: str | None = None) -> None:
        """Fail the next ``times`` calls (of ``method``, an RPC name) with ``code``."""
        with self._lock:
            self._injections.append([code, times, method])

    def reset(self) -> None:
        with self._lock:
            self._injections.clear()
            self.calls.clear()

    def _check_injection(self, method: str) -> None:
        with self._lock:
            self.calls.append(method)
            for inj in self._injections:
                if inj[2] in (None, method):
                    inj[1] -= 1
                    if inj[1] <= 0:
                        self._injections.remove(inj)
                    raise FakeStatus(inj[0], f"injected {inj[0].name}")

    # -- helpers ---------------------------------------------------------------
    def _etag(self) -> str:
        return f'"{next(self._etags):x}"'

    @staticmethod
    def _now() -> Any:
        ts = timestamp_pb2.Timestamp()
        ts.GetCurrentTime()
        return ts

    def _entry(self, name: str) -> _Entry:
        entry = self._secrets.get(name)
        if entry is None:
            raise FakeStatus(grpc.StatusCode.NOT_FOUND, f"Secret [{name}] not found.")
        return entry

    def _version(self, name: str) -> tuple[_Entry, _Version]:
        secret_name, _, ref = name.rpartition("/versions/")
        entry = self._secrets.get(secret_name)
        if entry is None:
            raise FakeStatus(
                grpc.StatusCode.NOT_FOUND, f"Secret [{secret_name}] not found or has no versions."
            )
        number: int | None = None
        if ref == "latest":
            number = len(entry.versions) or None
        elif ref.isdigit():
            number = int(ref)
        elif ref in entry.secret.version_aliases:
            number = entry.secret.version_aliases[ref]
        if number is None or not 1 <= number <= len(entry.versions):
            raise FakeStatus(grpc.StatusCode.NOT_FOUND, f"Secret Version [{name}] not found.")
        return entry, entry.versions[number - 1]

    @staticmethod
    def _check_etag(given: str, current: str) -> None:
        if given and given != current:
            raise FakeStatus(
                grpc.StatusCode.FAILED_PRECONDITION,
                "The etag provided in the request does not match the current etag of the resource.",
            )

    # -- methods (request pb -> response pb) -----------------------------------
    def CreateSecret(self, req: Any) -> Any:
        if not re.fullmatch(r"projects/[^/]+", req.parent):
            raise FakeStatus(grpc.StatusCode.INVALID_ARGUMENT, "Invalid parent.")
        if not SECRET_ID.match(req.secret_id):
            raise FakeStatus(
                grpc.StatusCode.INVALID_ARGUMENT,
                "Secret id must be 1-255 characters of [a-zA-Z0-9_-].",
            )
        if not req.secret.HasField("replication"):
            raise FakeStatus(grpc.StatusCode.INVALID_ARGUMENT, "Replication policy is required.")
        name = f"{req.parent}/secrets/{req.secret_id}"
        if name in self._secrets:
            raise FakeStatus(grpc.StatusCode.ALREADY_EXISTS, f"Secret [{name}] already exists.")
        secret = Secret()
        secret.CopyFrom(req.secret)
        secret.name = name
        secret.create_time.CopyFrom(self._now())
        secret.etag = self._etag()
        secret.ClearField("version_aliases")
        self._check_annotations(secret)
        self._secrets[name] = _Entry(secret)
        return secret

    def _check_annotations(self, secret: Any) -> None:
        size = sum(len(k.encode()) + len(v.encode()) for k, v in secret.annotations.items())
        if size > MAX_ANNOTATIONS:
            raise FakeStatus(
                grpc.StatusCode.INVALID_ARGUMENT, "The total size of annotations exceeds 16 KiB."
            )

    def AddSecretVersion(self, req: Any) -> Any:
        entry = self._entry(req.parent)
        data = bytes(req.payload.data)
        if len(data) > MAX_PAYLOAD:
            raise FakeStatus(
                grpc.StatusCode.INVALID_ARGUMENT, "Secret payload exceeds the 65536 byte limit."
            )
        meta = SecretVersion(
            name=f"{req.parent}/versions/{len(entry.versions) + 1}",
            state=ENABLED,
            etag=self._etag(),
        )
        meta.create_time.CopyFrom(self._now())
        entry.versions.append(_Version(meta, data))
        return meta

    def GetSecret(self, req: Any) -> Any:
        return self._entry(req.name).secret

    def UpdateSecret(self, req: Any) -> Any:
        entry = self._entry(req.secret.name)
        self._check_etag(req.secret.etag, entry.secret.etag)
        paths = list(req.update_mask.paths)
        if not paths:
            raise FakeStatus(grpc.StatusCode.INVALID_ARGUMENT, "update_mask is required.")
        updated = Secret()
        updated.CopyFrom(entry.secret)
        for path in paths:
            if path == "version_aliases":
                for alias, number in req.secret.version_aliases.items():
                    if alias == "latest" or not ALIAS.match(alias):
                        raise FakeStatus(
                            grpc.StatusCode.INVALID_ARGUMENT, f"Invalid alias {alias!r}."
                        )
                    if not 1 <= number <= len(entry.versions) or (
                        entry.versions[number - 1].meta.state == DESTROYED
                    ):
                        raise FakeStatus(
                            grpc.StatusCode.INVALID_ARGUMENT,
                            f"Alias {alias!r} points to a missing or destroyed version.",
                        )
                updated.ClearField("version_aliases")
                updated.version_aliases.update(req.secret.version_aliases)
            elif path in ("annotations", "labels"):
                updated.ClearField(path)
                getattr(updated, path).update(getattr(req.secret, path))
            else:
                raise FakeStatus(grpc.StatusCode.INVALID_ARGUMENT, f"Unsupported path {path!r}.")
        self._check_annotations(updated)
        updated.etag = self._etag()
        entry.secret = updated
        return updated

    def DeleteSecret(self, req: Any) -> Any:
        entry = self._entry(req.name)
        self._check_etag(req.etag, entry.secret.etag)
        del self._secrets[req.name]
        return empty_pb2.Empty()

    def _page(self, items: list[Any], req: Any) -> tuple[list[Any], str]:
        size = min(req.page_size or 25000, self.page_size)
        start = int(base64.urlsafe_b64decode(req.page_token).decode()) if req.page_token else 0
        chunk = items[start : start + size]
        more = start + size < len(items)
        token = base64.urlsafe_b64encode(str(start + size).encode()).decode() if more else ""
        return chunk, token

    def ListSecrets(self, req: Any) -> Any:
        prefix = req.parent + "/secrets/"
        items = [e.secret for n, e in sorted(self._secrets.items()) if n.startswith(prefix)]
        chunk, token = self._page(items, req)
        return types.ListSecretsResponse.pb()(
            secrets=chunk, next_page_token=token, total_size=len(items)
        )

    def ListSecretVersions(self, req: Any) -> Any:
        entry = self._entry(req.parent)
        items = [v.meta for v in reversed(entry.versions)]
        chunk, token = self._page(items, req)
        return types.ListSecretVersionsResponse.pb()(
            versions=chunk, next_page_token=token, total_size=len(items)
        )

    def GetSecretVersion(self, req: Any) -> Any:
        return self._version(req.name)[1].meta

    def AccessSecretVersion(self, req: Any) -> Any:
        _, version = self._version(req.name)
        if version.meta.state != ENABLED:
            raise FakeStatus(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"Secret Version [{version.meta.name}] is in"
                f" {STATE_NAMES[version.meta.state]} state.",
            )
        return types.AccessSecretVersionResponse.pb()(
            name=version.meta.name, payload=types.SecretPayload.pb()(data=version.data)
        )

    def _set_state(self, req: Any, state: int) -> Any:
        _, version = self._version(req.name)
        self._check_etag(req.etag, version.meta.etag)
        if version.meta.state == DESTROYED:
            raise FakeStatus(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"Secret Version [{version.meta.name}] is in DESTROYED state.",
            )
        version.meta.state = state
        version.meta.etag = self._etag()
        if state == DESTROYED:
            version.data = b""
            version.meta.destroy_time.CopyFrom(self._now())
        return version.meta

    def DisableSecretVersion(self, req: Any) -> Any:
        return self._set_state(req, DISABLED)

    def EnableSecretVersion(self, req: Any) -> Any:
        return self._set_state(req, ENABLED)

    def DestroySecretVersion(self, req: Any) -> Any:
        return self._set_state(req, DESTROYED)

    def call(self, method: str, request: Any) -> Any:
        with self._lock:
            self._check_injection(method)
            result = getattr(self, method)(request)
            copy = type(result)()
            copy.CopyFrom(result)  # served after the lock is released
            return copy


REQUESTS: dict[str, tuple[Any, Any]] = {
    "CreateSecret": (types.CreateSecretRequest, types.Secret),
    "AddSecretVersion": (types.AddSecretVersionRequest, types.SecretVersion),
    "GetSecret": (types.GetSecretRequest, types.Secret),
    "UpdateSecret": (types.UpdateSecretRequest, types.Secret),
    "DeleteSecret": (types.DeleteSecretRequest, None),
    "ListSecrets": (types.ListSecretsRequest, types.ListSecretsResponse),
    "ListSecretVersions": (types.ListSecretVersionsRequest, types.ListSecretVersionsResponse),
    "GetSecretVersion": (types.GetSecretVersionRequest, types.SecretVersion),
    "AccessSecretVersion": (types.AccessSecretVersionRequest, types.AccessSecretVersionResponse),
    "DisableSecretVersion": (types.DisableSecretVersionRequest, types.SecretVersion),
    "EnableSecretVersion": (types.EnableSecretVersionRequest, types.SecretVersion),
    "DestroySecretVersion": (types.DestroySecretVersionRequest, types.SecretVersion),
}


# -- gRPC ----------------------------------------------------------------------
def _grpc_handler(model: FakeSecretManager, method: str) -> Callable[[Any, Any], Any]:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return model.call(method, request)
        except FakeStatus as exc:
            context.abort(exc.code, exc.message)

    return handle


def start_grpc(model: FakeSecretManager) -> tuple[grpc.Server, int]:
    handlers = {}
    for method, (request_type, response_type) in REQUESTS.items():
        response_pb = response_type.pb() if response_type is not None else empty_pb2.Empty
        handlers[method] = grpc.unary_unary_rpc_method_handler(
            _grpc_handler(model, method),
            request_deserializer=request_type.pb().FromString,
            response_serializer=response_pb.SerializeToString,
        )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return server, port


# -- REST ----------------------------------------------------------------------
_ROUTES: list[tuple[str, re.Pattern[str], str, str, str | None]] = [
    # method, path pattern, RPC, field the path fills, field the body fills ("*": all)
    (
        "GET",
        re.compile(r"/v1/(projects/[^/]+/secrets/[^/]+/versions/[^/:]+):access"),
        "AccessSecretVersion",
        "name",
        None,
    ),
    (
        "POST",
        re.compile(r"/v1/(projects/[^/]+/secrets/[^/]+):addVersion"),
        "AddSecretVersion",
        "parent",
        "*",
    ),
    (
        "POST",
        re.compile(r"/v1/(projects/[^/]+/secrets/[^/]+/versions/[^/:]+):disable"),
        "DisableSecretVersion",
        "name",
        "*",
    ),
    (
        "POST",
        re.compile(r"/v1/(projects/[^/]+/secrets/[^/]+/versions/[^/:]+):enable"),
        "EnableSecretVersion",
        "name",
        "*",
    ),
    (
        "POST",
        re.compile(r"/v1/(projects/[^/]+/secrets/[^/]+/versions/[^/:]+):destroy"),
        "DestroySecretVersion",
        "name",
        "*",
    ),
    (
        "GET",
        re.compile(r"/v1/(projects/[^/]+/secrets/[^/]+/versions/[^/:]+)"),
        "GetSecretVersion",
        "name",
        None,
    ),
    (
        "GET",
        re.compile(r"/v1/(projects/[^/]+/secrets/[^/]+)/versions"),
        "ListSecretVersions",
        "parent",
        None,
    ),
    ("GET", re.compile(r"/v1/(projects/[^/]+/secrets/[^/]+)"), "GetSecret", "name", None),
    (
        "PATCH",
        re.compile(r"/v1/(projects/[^/]+/secrets/[^/]+)"),
        "UpdateSecret",
        "secret.name",
        "secret",
    ),
    ("DELETE", re.compile(r"/v1/(projects/[^/]+/secrets/[^/]+)"), "DeleteSecret", "name", None),
    ("GET", re.compile(r"/v1/(projects/[^/]+)/secrets"), "ListSecrets", "parent", None),
    ("POST", re.compile(r"/v1/(projects/[^/]+)/secrets"), "CreateSecret", "parent", "secret"),
]


def _route(command: str, path: str) -> tuple[re.Match[str], str, str, str | None] | None:
    for method, pattern, rpc, path_field, body_field in _ROUTES:
        match = pattern.fullmatch(path)
        if method == command and match:
            return match, rpc, path_field, body_field
    return None


def _snake(name: str) -> str:
    return re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), name)


class _RestHandler(BaseHTTPRequestHandler):
    model: FakeSecretManager
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # see azure_fake

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: keep test output clean."""

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, message: str, code: str) -> None:
        self._send(status, {"error": {"code": status, "message": message, "status": code}})

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        route = _route(self.command, parts.path)
        if route is None:
            self._error(404, "no such route", "NOT_FOUND")
            return
        match, rpc, path_field, body_field = route
        request_type = REQUESTS[rpc][0].pb()
        request: dict[str, Any] = {}
        query = parse_qs(parts.query)
        for key, values in query.items():
            if key.startswith("$"):
                continue
            if key == "updateMask":
                request["update_mask"] = values[-1]  # FieldMask's JSON form: "a,bC"
            else:
                request[_snake(key)] = values[-1]
        body = json.loads(raw) if raw else {}
        if body_field == "*":
            request.update({_snake(k): v for k, v in body.items()})
        elif body_field is not None:
            request[body_field] = body
        if path_field == "secret.name":
            request.setdefault("secret", {})["name"] = match.group(1)
        else:
            request[path_field] = match.group(1)
        try:
            pb = json_format.ParseDict(request, request_type(), ignore_unknown_fields=True)
            result = self.model.call(rpc, pb)
        except FakeStatus as exc:
            self._error(HTTP_OF.get(exc.code, 500), exc.message, exc.code.name)
            return
        except json_format.ParseError as exc:
            self._error(400, str(exc), "INVALID_ARGUMENT")
            return
        self._send(200, json_format.MessageToDict(result))

    do_GET = do_POST = do_PATCH = do_DELETE = _serve


def start_rest(model: FakeSecretManager) -> tuple[ThreadingHTTPServer, threading.Thread]:
    handler = type("Handler", (_RestHandler,), {"model": model})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread


class GcpFake:
    """Both endpoints of one fake Secret Manager; ``model`` is the shared state."""

    def __init__(self, **options: Any) -> None:
        self.model = FakeSecretManager(**options)
        self._grpc, self.grpc_port = start_grpc(self.model)
        self._rest, self._rest_thread = start_rest(self.model)
        self.grpc_target = f"127.0.0.1:{self.grpc_port}"
        self.rest_endpoint = f"http://127.0.0.1:{self._rest.server_address[1]}"

    def stop(self) -> None:
        self._grpc.stop(grace=None).wait(5)
        self._rest.shutdown()
        self._rest.server_close()
        self._rest_thread.join(timeout=5)

    def grpc_client(self) -> Any:
        """A real SecretManagerServiceClient over an insecure gRPC channel to the fake."""
        from google.cloud.secretmanager_v1 import SecretManagerServiceClient
        from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
            SecretManagerServiceGrpcTransport,
        )

        channel = grpc.insecure_channel(self.grpc_target)
        return SecretManagerServiceClient(
            transport=SecretManagerServiceGrpcTransport(channel=channel)
        )

    def rest_client(self) -> Any:
        """A real SecretManagerServiceClient over the REST transport to the fake."""
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud.secretmanager_v1 import SecretManagerServiceClient

        return SecretManagerServiceClient(
            credentials=AnonymousCredentials(),
            transport="rest",
            client_options=ClientOptions(api_endpoint=self.rest_endpoint),
        )


@pytest.fixture(scope="session")
def _gcp_fake_server() -> Iterator[GcpFake]:
    fake = GcpFake()
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture
def gcp_fake(_gcp_fake_server: GcpFake) -> Iterator[GcpFake]:
    """The shared fake Secret Manager, with no injected errors left from other tests."""
    _gcp_fake_server.model.reset()
    yield _gcp_fake_server
    _gcp_fake_server.model.reset()
