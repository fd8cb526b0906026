"""The ``postgres`` rotator: database passwords changed through an admin connection.

The secret is JSON: ``{"username", "password", "host", "port", "dbname"}``.

* ``strategy="single"``: ``ALTER ROLE <username>`` to the new password. Between
  *set* and *finish* the old password no longer works, so clients should
  re-read on an authentication failure (``Secrets.refresh``).
* ``strategy="alternating"`` (AWS's alternating users): two roles take turns;
  *set* changes the password of the role that is *not* current, so the live
  credentials keep working through the whole rotation.
* ``revoke(old)`` (``sekret revoke-previous``, ``sekret incident``): the
  previous role's password is replaced by one nobody holds and its login is
  disabled (alternating); in the single strategy *set* already invalidated it.

Passwords reach the server as verifiers computed by libpq on the admin
connection (``PQencryptPasswordConn`` through psycopg's
``pgconn.encrypt_password``), which follows the server's
``password_encryption`` setting (SCRAM-SHA-256 by default), so the plaintext
never appears in the server's statement log and sekret does not reimplement
SCRAM. *test* connects with
the new credentials. A failed test reverts *set* (single strategy).
Error messages carry the role and host, never a password.
"""

from __future__ import annotations

import secrets as _random
import string
from collections.abc import Mapping
from typing import Any, ClassVar

from sekret._values import Secret
from sekret.backends.base import require_extra
from sekret.exceptions import ConfigurationError, InvalidValue, RotationError
from sekret.rotation.engine import Rotator

__all__ = ["PostgresRotator", "encrypted_password"]

_FIELDS = ("username", "password", "host", "port", "dbname")
_ALPHABET = string.ascii_letters + string.digits


def encrypted_password(conn: Any, role: str, password: str) -> str:
    """The verifier the server behind ``conn`` stores for ``role``/``password``.

    libpq asks the server for its ``password_encryption`` and hashes locally;
    the plaintext never leaves this process.
    """
    verifier: bytes = conn.pgconn.encrypt_password(password.encode("utf-8"), role.encode("utf-8"))
    return verifier.decode("ascii")


def _creds(secret: Secret | Mapping[str, Any], what: str) -> dict[str, Any]:
    data = secret.value.json() if isinstance(secret, Secret) else dict(secret)
    if not isinstance(data, dict):
        raise InvalidValue(f"{what}: database credentials must be a JSON object")
    missing = [f for f in _FIELDS if f not in data]
    if missing:
        raise InvalidValue(f"{what}: database credentials lack {', '.join(missing)}")
    return data


class PostgresRotator(Rotator):
    """Rotate a PostgreSQL role's password (or alternate between two roles)."""

    name: ClassVar[str] = "postgres"
    kinds: ClassVar[tuple[str, ...]] = ("db_credentials",)

    def __init__(
        self,
        *,
        admin: Mapping[str, Any],
        strategy: str = "single",
        users: tuple[str, str] | list[str] | None = None,
        password_length: int = 32,
        connect_timeout: int = 5,
    ) -> None:
        if strategy not in ("single", "alternating"):
            raise ConfigurationError(f"postgres rotator: unknown strategy {strategy!r}")
        if strategy == "alternating" and (not users or len(users) != 2):
            raise ConfigurationError("postgres rotator: 'alternating' needs users=[role_a, role_b]")
        self.admin = _creds(admin, "postgres rotator admin")
        self.strategy = strategy
        self.users = tuple(users) if users else ()
        self.password_length = password_length
        self.connect_timeout = connect_timeout
        self._psycopg = require_extra("psycopg", "postgres")

    def _connect(self, creds: Mapping[str, Any]) -> Any:
        try:
            return self._psycopg.connect(
                host=creds["host"],
                port=int(creds["port"]),
                dbname=creds["dbname"],
                user=creds["username"],
                password=creds["password"],
                connect_timeout=self.connect_timeout,
                autocommit=True,
            )
        except self._psycopg.Error as exc:
            raise RotationError(
                f"cannot connect to PostgreSQL at {creds['host']}:{creds['port']}"
                f" as {creds['username']!r} ({type(exc).__name__})"
            ) from None

    def _set_password(self, role: str, password: str, *, login: bool = True) -> None:
        sql = self._psycopg.sql
        with self._connect(self.admin) as conn:
            try:
                statement = sql.SQL("ALTER ROLE {} WITH {} PASSWORD {}").format(
                    sql.Identifier(role),
                    sql.SQL("LOGIN" if login else "NOLOGIN"),
                    sql.Literal(encrypted_password(conn, role, password)),
                )
                conn.execute(statement)
            except self._psycopg.Error as exc:
                raise RotationError(f"ALTER ROLE {role!r} failed ({type(exc).__name__})") from None

    def generate(self, current: Secret | None) -> object:
        if current is None:
            raise RotationError("postgres rotator needs current credentials to rotate from")
        creds = _creds(current, f"secret {current.name!r}")
        password = "".join(_random.choice(_ALPHABET) for _ in range(self.password_length))
        if self.strategy == "alternating":
            a, b = self.users
            creds["username"] = b if creds["username"] == a else a
        creds["password"] = password
        return creds

    def set(self, pending: Secret, current: Secret | None) -> None:
        creds = _creds(pending, f"secret {pending.name!r}")
        self._set_password(creds["username"], creds["password"])

    def test(self, pending: Secret) -> None:
        creds = _creds(pending, f"secret {pending.name!r}")
        with self._connect(creds) as conn:
            conn.execute("SELECT 1")

    def revert(self, pending: Secret, current: Secret | None) -> None:
        if current is None:
            return
        old = _creds(current, f"secret {current.name!r}")
        new = _creds(pending, f"secret {pending.name!r}")
        if old["username"] == new["username"]:
            self._set_password(old["username"], old["password"])

    def revoke(self, old: Secret) -> None:
        """Invalidate ``old`` at the database now (``sekret incident``, ``revoke-previous``).

        The old credentials' role gets a fresh random password nobody holds; a
        role that is not the current one (alternating strategy) also loses
        ``LOGIN`` until its next turn, when *set* gives it back. In the single
        strategy the role is the current one: *set* already replaced its
        password, so nothing is changed (its login stays).
        """
        creds = _creds(old, f"secret {old.name!r}")
        if self.strategy == "single":
            return
        unusable = "".join(_random.choice(_ALPHABET) for _ in range(self.password_length))
        self._set_password(creds["username"], unusable, login=False)
