"""How the vault backend proves who it is, and keeps its token fresh.

Login methods (one class each): ``token`` (given, ``$VAULT_TOKEN``/``$BAO_TOKEN``,
a file an agent rewrites, or ``~/.vault-token`` as ``vault login``/``bao login``
write it), ``approle`` (role_id + secret_id; ``$VAULT_ROLE_ID`` and
``$VAULT_SECRET_ID`` as in Vault's docs), ``kubernetes`` (the pod's
service-account token file) and ``jwt`` (a JWT/OIDC token file).

``TokenKeeper`` tracks the token's lifetime on an injectable monotonic clock:
at two thirds of its TTL it renews the token (``renew-self``), and when the
token cannot be renewed, or the server says it is no longer valid, it logs in
again. Callers never see any of this unless the login itself is refused.

The requests themselves (failover, throttling, errors) are ``_connection``'s.
This module must never put a token, secret_id or JWT into a repr, a log line
or an exception message, and never reads credential files at import time.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Protocol

from sekret.exceptions import (
    AccessDenied,
    AuthenticationFailed,
    ConfigurationError,
    SekretError,
)

__all__ = [
    "AppRoleAuth",
    "AuthMethod",
    "JwtAuth",
    "KubernetesAuth",
    "Login",
    "TokenAuth",
    "TokenKeeper",
    "auth_from_options",
]

DEFAULT_SA_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"
TOKEN_ENV = ("VAULT_TOKEN", "BAO_TOKEN")
TOKEN_HELPER_FILE = "~/.vault-token"


class Send(Protocol):
    """The backend's request function: (method, path, body, with_token) -> JSON or None."""

    def __call__(
        self, method: str, path: str, body: Mapping[str, Any] | None = None, *, auth: bool = True
    ) -> dict[str, Any] | None: ...


@dataclass(frozen=True, slots=True)
class Login:
    """The result of a login or lookup: a token and how long it lives (0: forever)."""

    token: str
    ttl: float
    renewable: bool
    who: str | None = None

    def __repr__(self) -> str:
        return f"Login(token=***, ttl={self.ttl}, renewable={self.renewable}, who={self.who!r})"


def _read_file(path: str, what: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigurationError(f"cannot read the {what} file {path!r}: {exc.strerror}") from exc
    if not text:
        raise ConfigurationError(f"the {what} file {path!r} is empty")
    return text


def _login_result(reply: dict[str, Any] | None, method: str) -> Login:
    auth = (reply or {}).get("auth") or {}
    token = auth.get("client_token")
    if not isinstance(token, str) or not token:
        raise AuthenticationFailed(f"vault {method} login returned no token")
    meta = auth.get("metadata") or {}
    who = meta.get("role_name") or meta.get("role") or None
    return Login(token, float(auth.get("lease_duration") or 0), bool(auth.get("renewable")), who)


class AuthMethod:
    """How the backend proves who it is. Subclasses implement ``login``."""

    kind: ClassVar[str] = ""

    @property
    def can_login(self) -> bool:
        """False when there is nothing to log in again with (a static token)."""
        return True

    def login(self, send: Send) -> Login:
        raise NotImplementedError  # abstract: every subclass overrides it

    def identity(self, who: str | None) -> str:
        """A safe label for audit: the method and a role name, never a credential."""
        return f"{self.kind}:{who}" if who else self.kind

    def __repr__(self) -> str:
        return f"<{type(self).__name__}>"

    def _post_login(self, send: Send, mount: str, body: dict[str, Any]) -> Login:
        try:
            reply = send("POST", f"auth/{mount}/login", body, auth=False)
        except AuthenticationFailed:
            raise
        except SekretError as exc:
            if exc.code in ("access_denied", "configuration"):
                raise AuthenticationFailed(
                    f"vault {self.kind} login at auth/{mount} was refused: {exc.message}"
                ) from exc
            raise
        return _login_result(reply, self.kind)


class TokenAuth(AuthMethod):
    """A token given directly, from ``VAULT_TOKEN``/``BAO_TOKEN``, or from a file.

    With ``token_file`` (e.g. a Vault Agent sink) a "re-login" re-reads the file.
    """

    kind = "token"
    __slots__ = ("_file", "_token")

    def __init__(
        self,
        token: str | None = None,
        *,
        token_file: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if environ is None else environ
        self._file = token_file
        if token is None and token_file is None:
            token = next((env[k] for k in TOKEN_ENV if env.get(k)), None)
            helper = Path(env.get("HOME") or "~").expanduser() / ".vault-token"
            if token is None and "HOME" in env and helper.is_file():
                self._file = token_file = str(helper)  # what `vault login` / `bao login` wrote
            elif token is None:
                raise ConfigurationError(
                    "vault auth=token needs a token: pass token=..., token_file=..., "
                    "set VAULT_TOKEN / BAO_TOKEN, or run `bao login` (~/.vault-token)"
                )
        self._token = token

    @property
    def can_login(self) -> bool:  # a token file can be re-read (Vault Agent sink)
        return self._file is not None

    def current(self) -> str:
        if self._file is not None:
            return _read_file(self._file, "vault token")
        assert self._token is not None
        return self._token

    def login(self, send: Send) -> Login:
        return Login(self.current(), -1.0, False)  # lifetime learnt by lookup-self


class AppRoleAuth(AuthMethod):
    """AppRole: a role_id plus a secret_id given, read from a file, or from an env var."""

    kind = "approle"
    __slots__ = ("_mount", "_role_id", "_secret", "role_name")

    def __init__(
        self,
        role_id: str,
        *,
        secret_id: str | None = None,
        secret_id_file: str | None = None,
        secret_id_env: str | None = None,
        mount: str = "approle",
        role_name: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        if not role_id:
            raise ConfigurationError("vault auth=approle needs role_id")
        env = os.environ if environ is None else environ
        self._role_id = role_id
        self._mount = mount
        self.role_name = role_name
        if secret_id is not None:
            self._secret: Callable[[], str | None] = lambda: secret_id
        elif secret_id_file is not None:
            path = secret_id_file
            self._secret = lambda: _read_file(path, "AppRole secret_id")
        elif secret_id_env is not None:
            var = secret_id_env
            if not env.get(var):
                raise ConfigurationError(f"vault auth=approle: ${var} (secret_id) is not set")
            self._secret = lambda: env.get(var)
        else:
            self._secret = lambda: None  # a role with bind_secret_id=false

    def login(self, send: Send) -> Login:
        body: dict[str, Any] = {"role_id": self._role_id}
        secret = self._secret()
        if secret:
            body["secret_id"] = secret
        return self._post_login(send, self._mount, body)

    def identity(self, who: str | None) -> str:
        return f"approle:{who or self.role_name or self._role_id[:8]}"


class _JwtLogin(AuthMethod):
    __slots__ = ("_file", "_mount", "role")

    def __init__(self, role: str, *, jwt_file: str, mount: str) -> None:
        if not role:
            raise ConfigurationError(f"vault auth={self.kind} needs role")
        self.role = role
        self._file = jwt_file
        self._mount = mount

    def login(self, send: Send) -> Login:
        jwt = _read_file(self._file, f"{self.kind} JWT")  # re-read: the file is rotated
        return self._post_login(send, self._mount, {"role": self.role, "jwt": jwt})

    def identity(self, who: str | None) -> str:
        return f"{self.kind}:{who or self.role}"


class KubernetesAuth(_JwtLogin):
    """Kubernetes: the pod's service-account token, exchanged for a Vault token."""

    kind = "kubernetes"

    def __init__(
        self, role: str, *, jwt_file: str = DEFAULT_SA_TOKEN, mount: str = "kubernetes"
    ) -> None:
        super().__init__(role, jwt_file=jwt_file, mount=mount)


class JwtAuth(_JwtLogin):
    """JWT/OIDC: a signed JWT read from a file (CI job token, workload identity)."""

    kind = "jwt"

    def __init__(self, role: str, *, jwt_file: str, mount: str = "jwt") -> None:
        super().__init__(role, jwt_file=jwt_file, mount=mount)


def auth_from_options(kind: str, options: dict[str, Any]) -> AuthMethod:
    """Build the login method ``kind`` from URL/keyword options (consumed from ``options``)."""
    mount = options.pop("auth_mount", None)
    environ = options.pop("environ", None)
    if kind == "token":
        return TokenAuth(
            options.pop("token", None), token_file=options.pop("token_file", None), environ=environ
        )
    if kind == "approle":
        env = os.environ if environ is None else environ
        secret_id = options.pop("secret_id", None)
        secret_id_file = options.pop("secret_id_file", None)
        secret_id_env = options.pop("secret_id_env", None)
        if secret_id is None and secret_id_file is None and secret_id_env is None:
            secret_id_env = "VAULT_SECRET_ID" if env.get("VAULT_SECRET_ID") else None
        return AppRoleAuth(
            options.pop("role_id", "") or env.get("VAULT_ROLE_ID", ""),
            secret_id=secret_id,
            secret_id_file=secret_id_file,
            secret_id_env=secret_id_env,
            mount=mount or "approle",
            role_name=options.pop("role", None),
            environ=environ,
        )
    if kind == "kubernetes":
        return KubernetesAuth(
            options.pop("role", "") or "",
            jwt_file=options.pop("jwt_file", None) or DEFAULT_SA_TOKEN,
            mount=mount or "kubernetes",
        )
    if kind in ("jwt", "oidc"):
        jwt_file = options.pop("jwt_file", None)
        if not jwt_file:
            raise ConfigurationError(f"vault auth={kind} needs jwt_file")
        return JwtAuth(options.pop("role", "") or "", jwt_file=jwt_file, mount=mount or kind)
    raise ConfigurationError(
        f"unknown vault auth method {kind!r}; use token, approle, kubernetes or jwt"
    )


class TokenKeeper:
    """Holds the current token and keeps it valid (renew at 2/3 TTL, re-login when needed)."""

    RENEW_AT: ClassVar[float] = 2 / 3

    def __init__(
        self,
        method: AuthMethod,
        send: Send,
        apply: Callable[[str], None],
        *,
        monotonic: Callable[[], float],
    ) -> None:
        self.method = method
        self._send = send
        self._apply = apply
        self._now = monotonic
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_due: float | None = None  # None: never
        self._ttl = 0.0
        self._renewable = False
        self.who: str | None = None
        self.logins = 0
        self.renewals = 0

    # -- the hot path: one comparison, no lock ------------------------------
    def ensure(self) -> None:
        """Make sure a token is set and not due for renewal."""
        due = self._renew_due
        if self._token is not None and (due is None or self._now() < due):
            return
        with self._lock:
            if self._token is None:
                self._login()
            elif self._renew_due is not None and self._now() >= self._renew_due:
                self._renew()

    def relogin(self, stale: str | None) -> bool:
        """Log in again after the server refused ``stale``; False if that is impossible."""
        with self._lock:
            if self._token != stale:
                return True  # another thread already replaced it
            if not self.method.can_login:
                return False
            self._login()
            return True

    @property
    def token(self) -> str | None:
        return self._token

    def token_is_valid(self) -> bool:
        """Ask the server whether the current token still works (after a 403)."""
        try:
            self._send("GET", "auth/token/lookup-self")
        except SekretError:
            return False
        return True

    # -- internals (called under the lock) ----------------------------------
    def _set(self, login: Login) -> None:
        self._token = login.token
        self._apply(login.token)
        if login.who:
            self.who = login.who
        self._ttl = login.ttl
        self._renewable = login.renewable
        self._renew_due = self._now() + login.ttl * self.RENEW_AT if login.ttl > 0 else None

    def _login(self) -> None:
        login = self.method.login(self._send)
        self.logins += 1
        if login.ttl < 0:  # a static token: learn its lifetime from the server
            self._token = login.token
            self._apply(login.token)
            login = self._lookup(login.token)
        self._set(login)

    def _lookup(self, token: str) -> Login:
        try:
            reply = self._send("GET", "auth/token/lookup-self") or {}
        except AccessDenied:
            # no lookup-self in its policies (or already invalid): lifetime unknown; a refused
            # request later says which, clearly
            return Login(token, 0.0, False)
        data = reply.get("data") or {}
        meta = data.get("meta") or {}
        return Login(
            token,
            float(data.get("ttl") or 0),
            bool(data.get("renewable")),
            meta.get("role_name") or None,
        )

    def _renew(self) -> None:
        assert self._token is not None
        if self._renewable:
            try:
                reply = self._send("POST", "auth/token/renew-self", {})
            except SekretError:
                reply = None
            if reply is not None:
                renewed = _login_result(reply, "renew")
                self.renewals += 1
                # a renewal capped by max_ttl gives less than asked: log in before it ends
                if renewed.ttl >= self._ttl * (1 - self.RENEW_AT) or not self.method.can_login:
                    self._set(Login(self._token, renewed.ttl, renewed.renewable, self.who))
                    return
        if self.method.can_login:
            self._login()
        else:
            self._renew_due = None  # nothing else to do; a 403 will say so clearly
