"""The vault backend's requests: one of several addresses, throttling, errors.

``VaultConnection`` sends requests through ``hvac``'s HTTP adapter (it sets
the token and namespace headers) to one of several addresses (HA): a refused
connection, a sealed node, or a standby that cannot serve moves on to the
next address; ``429`` waits for ``Retry-After`` (bounded) and retries; every
non-success answer becomes a sekret error here, with the HTTP status kept as
its cause. A change whose connection broke mid-request is never resent (it
may have been applied). Connect and read timeouts are separate and short by
default (2 s and 5 s), so a hung server fails a read fast (an address that
timed out reading is not asked again in the same call); a TLS failure is a
``ConfigurationError`` that says which variable fixes it.

This module must never put a token into a repr, a log line or an exception
message; error texts are one sentence, never an exception's repr.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sekret.backends.base import require_extra
from sekret.backends.vault._auth import AuthMethod, TokenKeeper
from sekret.exceptions import (
    AccessDenied,
    AuthenticationFailed,
    BackendUnavailable,
    ConfigurationError,
    Conflict,
    SecretNotFound,
    SekretError,
    Throttled,
)

__all__ = ["DEFAULT_CONNECT_TIMEOUT", "DEFAULT_READ_TIMEOUT", "VaultConnection"]

DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_READ_TIMEOUT = 5.0
_UNAVAILABLE_HINTS = ("sealed", "standby", "not active", "leader", "no active", "not initialized")


class _VaultReply(Exception):
    """A non-success HTTP answer, kept as the cause of the sekret error raised for it."""

    def __init__(self, status: int, errors: Sequence[str], retry_after: str | None = None):
        self.status = status
        self.errors = [e.strip()[:200] for e in errors]
        self.retry_after = retry_after
        super().__init__(f"HTTP {status}: {'; '.join(self.errors) or 'no detail'}")


class VaultConnection:
    """Authenticated requests to one of several Vault/OpenBao addresses."""

    def __init__(
        self,
        addresses: Sequence[str],
        method: AuthMethod,
        *,
        label: str,
        namespace: str | None = None,
        verify: bool | str = True,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        read_timeout: float = DEFAULT_READ_TIMEOUT,
        session: Any = None,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        failover_rounds: int = 2,
        max_throttle_retries: int = 4,
    ) -> None:
        hvac = require_extra("hvac", "vault")
        requests = require_extra("requests", "vault")
        self._conn_errors: tuple[type[BaseException], ...] = (
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
        )
        self._refused: tuple[type[BaseException], ...] = (requests.exceptions.ConnectTimeout,)
        self._tls: tuple[type[BaseException], ...] = (requests.exceptions.SSLError,)
        self._read_timeout: tuple[type[BaseException], ...] = (requests.exceptions.ReadTimeout,)
        self._addresses = list(addresses)
        self.label = label
        self._sleep = sleep
        self._rounds = max(1, failover_rounds)
        self._max_throttle = max_throttle_retries
        self._active = 0
        if session is None:
            session = requests.Session()
            session.verify = verify
        timeout = (connect_timeout, read_timeout)
        kwargs = {"timeout": timeout, "session": session, "namespace": namespace}
        self._api = [hvac.adapters.JSONAdapter(a, **kwargs) for a in self._addresses]
        self._anon = [hvac.adapters.JSONAdapter(a, **kwargs) for a in self._addresses]
        self._session = session
        self._keeper = TokenKeeper(method, self.send, self._set_token, monotonic=monotonic)

    @property
    def keeper(self) -> TokenKeeper:
        return self._keeper

    @property
    def identity(self) -> str:
        return self._keeper.method.identity(self._keeper.who)

    def close(self) -> None:
        self._session.close()

    def _set_token(self, token: str) -> None:
        for adapter in self._api:
            adapter.token = token

    def send(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        auth: bool = True,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """One request with failover across addresses; SekretError on failure."""
        safe = method in ("GET", "LIST")
        n = len(self._addresses)
        throttled = 0
        last: BaseException | None = None
        rounds = 0
        hung: set[int] = set()  # addresses that accepted and never answered: not asked again
        while True:
            start = self._active
            i = 0
            while i < n:
                idx = (start + i) % n
                if idx in hung:
                    i += 1
                    continue
                adapter = (self._api if auth else self._anon)[idx]
                try:
                    resp = adapter.request(
                        method, f"/v1/{path}", raise_exception=False, json=body, params=params
                    )
                except self._tls as exc:
                    raise ConfigurationError(
                        f"TLS verification of {self._addresses[idx]} failed: trust its CA with "
                        "VAULT_CACERT=/path/ca.pem (or VAULT_CAPATH, or ?verify=/path/ca.pem)",
                        backend=self.label,
                    ) from exc
                except self._conn_errors as exc:
                    if not safe and not self._never_sent(exc):
                        raise BackendUnavailable(
                            f"vault {method} {path}: connection to {self._addresses[idx]} lost "
                            "mid-request; the change may or may not have been applied",
                            backend=self.label,
                        ) from exc
                    if isinstance(exc, self._read_timeout):
                        hung.add(idx)
                    last = exc
                    i += 1
                    continue
                if isinstance(resp, dict):
                    self._active = idx
                    return resp
                status = resp.status_code
                if status in (200, 204):
                    self._active = idx
                    return resp.json() if resp.content else None
                reply = self._reply(resp)
                if status == 429:
                    throttled += 1
                    if throttled > self._max_throttle:
                        raise Throttled(
                            f"vault {method} {path}: still rate limited after {throttled - 1} "
                            "retries",
                            backend=self.label,
                        ) from reply
                    self._sleep(self._retry_after(reply, throttled))
                    continue  # same address again
                if self._unavailable(reply, safe):
                    last = reply
                    i += 1
                    continue
                raise self._error(method, path, reply)
            rounds += 1
            if rounds >= self._rounds or len(hung) == n:
                raise BackendUnavailable(
                    f"vault at {', '.join(self._addresses)} cannot serve {method} {path}: "
                    f"{self._why(last)}",
                    backend=self.label,
                ) from last
            self._sleep(0.2 * rounds)

    def _why(self, last: BaseException | None) -> str:
        """One clause saying why the last address failed (never an exception's repr)."""
        if isinstance(last, _VaultReply):
            return f"HTTP {last.status} ({'; '.join(last.errors)[:120] or 'no detail'})"
        text = repr(last)
        if isinstance(last, self._refused) or "timed out" in text or "Timeout" in text:
            return "the connection timed out"
        if "refused" in text:
            return "the connection was refused"
        if "Name or service not known" in text or "getaddrinfo" in text:
            return "the host name does not resolve"
        return "the connection failed"

    def _never_sent(self, exc: BaseException) -> bool:
        """True when the request surely never reached the server (safe to resend)."""
        if isinstance(exc, self._refused):
            return True
        text = repr(exc)
        return "NewConnectionError" in text or "Connection refused" in text

    @staticmethod
    def _reply(resp: Any) -> _VaultReply:
        errors: list[str] = []
        try:
            doc = resp.json()
            errors = [str(e) for e in (doc.get("errors") or [])]
        except ValueError:
            errors = [resp.text[:200]] if resp.text else []
        return _VaultReply(resp.status_code, errors, resp.headers.get("Retry-After"))

    @staticmethod
    def _unavailable(reply: _VaultReply, safe: bool) -> bool:
        """Should the next address be tried? Changes only where Vault surely did not apply them."""
        if reply.status == 503 or (safe and reply.status in (502, 504, 412)):
            return True
        text = " ".join(reply.errors).lower()
        return reply.status in (500, 501) and any(h in text for h in _UNAVAILABLE_HINTS)

    @staticmethod
    def _retry_after(reply: _VaultReply, attempt: int) -> float:
        try:
            wait = float(reply.retry_after or "")
        except ValueError:
            return min(0.1 * 2.0**attempt, 5.0)
        return min(max(wait, 0.0), 30.0)

    def _error(self, method: str, path: str, reply: _VaultReply) -> SekretError:
        where = f"vault {method} {path}"
        detail = "; ".join(reply.errors) or f"HTTP {reply.status}"
        if reply.status == 400 and "check-and-set" in detail:
            err: SekretError = Conflict(f"{where}: {detail}", backend=self.label)
        elif reply.status == 401:
            err = AuthenticationFailed(f"{where}: {detail}", backend=self.label)
        elif reply.status == 403:
            err = AccessDenied(f"{where}: permission denied", backend=self.label)
        elif reply.status == 404:
            err = SecretNotFound(f"{where}: not found", backend=self.label)
        elif reply.status in (400, 405):
            err = ConfigurationError(f"{where} was rejected: {detail}", backend=self.label)
        else:
            err = BackendUnavailable(f"{where}: {detail}", backend=self.label)
        err.__cause__ = reply
        return err

    def call(
        self,
        method: str,
        path: str,
        body: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """An authenticated request: fresh token first, one re-login if it was refused."""
        self._keeper.ensure()
        token = self._keeper.token
        try:
            return self.send(method, path, body, params=params)
        except AccessDenied as exc:
            if self._keeper.token_is_valid():
                raise  # the token is fine: the policy says no
            if not self._keeper.relogin(token):
                raise AuthenticationFailed(
                    f"vault token for {self.label} expired or was revoked, and auth="
                    f"{self._keeper.method.kind} cannot log in again",
                    backend=self.label,
                ) from exc
        try:
            return self.send(method, path, body, params=params)
        except AccessDenied as exc:
            if isinstance(exc, AuthenticationFailed) or self._keeper.token_is_valid():
                raise
            raise AuthenticationFailed(
                f"vault refused the token of a fresh {self._keeper.method.kind} login",
                backend=self.label,
            ) from exc
