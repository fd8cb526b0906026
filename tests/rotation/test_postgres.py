"""The postgres rotator against a real PostgreSQL server (sekret.rotation.postgres)."""

from __future__ import annotations

import secrets as _random

import psycopg
import pytest
from psycopg import sql

from sekret import PREVIOUS, RotationError, Secrets
from sekret.backends.memory import MemoryBackend
from sekret.rotation import RotationEngine, Step
from sekret.rotation.postgres import PostgresRotator, encrypted_password
from servers.postgres import PostgresServer

pytestmark = pytest.mark.service


def _admin(server: PostgresServer) -> psycopg.Connection:
    return psycopg.connect(
        host=server.host,
        port=server.port,
        user=server.admin_user,
        password=server.admin_password,
        dbname=server.dbname,
        autocommit=True,
    )


def _make_role(server: PostgresServer, role: str, password: str) -> None:
    with _admin(server) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(encrypted_password(conn, role, password))
            )
        )


def _can_login(creds: dict[str, object]) -> bool:
    try:
        with psycopg.connect(
            host=creds["host"],
            port=creds["port"],
            user=creds["username"],
            password=creds["password"],
            dbname=creds["dbname"],
            connect_timeout=5,
        ) as conn:
            conn.execute("SELECT 1")
        return True
    except psycopg.OperationalError:
        return False


@pytest.fixture
def role(postgres_server: PostgresServer) -> str:
    return "app_" + _random.token_hex(4)


@pytest.fixture
def secrets() -> Secrets:
    return Secrets(MemoryBackend(), app="arrwdb", environment="production")


def _creds(server: PostgresServer, role: str, password: str) -> dict[str, object]:
    return {
        "username": role,
        "password": password,
        "host": server.host,
        "port": server.port,
        "dbname": server.dbname,
    }


def _alternating(
    server: PostgresServer, secrets: Secrets, prefix: str
) -> tuple[str, str, dict[str, object], PostgresRotator]:
    """Two fresh roles, the first one's credentials stored as "database", and the rotator."""
    a, b = prefix + _random.token_hex(3), prefix + _random.token_hex(3)
    first = _creds(server, a, _random.token_urlsafe(16))
    _make_role(server, a, str(first["password"]))
    _make_role(server, b, _random.token_urlsafe(16))
    secrets.put("database", first)
    rotator = PostgresRotator(admin=server.admin_creds(), strategy="alternating", users=[a, b])
    return a, b, first, rotator


def test_rotated_password_is_stored_as_the_servers_scram_verifier(
    postgres_server: PostgresServer, role: str, secrets: Secrets
) -> None:
    """ALTER ROLE sends libpq's verifier: pg_authid holds SCRAM, never the plaintext."""
    old = _creds(postgres_server, role, _random.token_urlsafe(16))
    _make_role(postgres_server, role, str(old["password"]))
    secrets.put("database", old)
    RotationEngine(secrets).rotate("database", PostgresRotator(admin=postgres_server.admin_creds()))
    new_password = secrets.get_json("database")["password"]
    with _admin(postgres_server) as conn:
        query = "SELECT rolpassword FROM pg_authid WHERE rolname = %s"
        row = conn.execute(query, (role,)).fetchone()
    assert row is not None
    stored = row[0]
    assert stored.startswith("SCRAM-SHA-256$4096:")
    assert new_password not in stored


def test_single_role_rotation(postgres_server: PostgresServer, role: str, secrets: Secrets) -> None:
    """The role's password changes; the new one logs in, the old one no longer does."""
    old = _creds(postgres_server, role, _random.token_urlsafe(16))
    _make_role(postgres_server, role, str(old["password"]))
    secrets.put("database", old)
    rotator = PostgresRotator(admin=postgres_server.admin_creds())
    result = RotationEngine(secrets).rotate("database", rotator)
    assert result.steps == (Step.CREATE, Step.SET, Step.TEST, Step.FINISH)
    new = secrets.get_json("database")
    assert new["username"] == role
    assert new["password"] != old["password"]
    assert _can_login(new)
    assert not _can_login(old)


def test_alternating_users(postgres_server: PostgresServer, secrets: Secrets) -> None:
    """With two roles, each rotation moves to the other role and the live one keeps working."""
    a, b, first, rotator = _alternating(postgres_server, secrets, "alt_")

    def still_live(name: str, step: Step, version: str) -> None:
        if step == Step.SET:
            assert _can_login(first)

    RotationEngine(secrets, on_step=still_live).rotate("database", rotator)
    second = secrets.get_json("database")
    assert second["username"] == b
    assert _can_login(second)
    assert _can_login(first)  # the previous role still works until its next turn
    RotationEngine(secrets).rotate("database", rotator)
    third = secrets.get_json("database")
    assert third["username"] == a
    assert _can_login(third)
    assert not _can_login(first)
    assert secrets.get_json("database", stage=PREVIOUS)["username"] == b


def test_failed_test_step_rolls_back(
    postgres_server: PostgresServer, role: str, secrets: Secrets
) -> None:
    """If the new password cannot log in, the old one is restored and current stays."""
    old = _creds(postgres_server, role, _random.token_urlsafe(16))
    _make_role(postgres_server, role, str(old["password"]))
    secrets.put("database", old)

    class BrokenTest(PostgresRotator):
        def test(self, pending: object) -> None:
            raise ConnectionError("simulated: new credentials refused")

    with pytest.raises(RotationError, match="rolled back"):
        RotationEngine(secrets).rotate("database", BrokenTest(admin=postgres_server.admin_creds()))
    assert secrets.get_json("database") == old
    assert _can_login(old)


def test_bad_admin_credentials_are_a_clear_error(
    postgres_server: PostgresServer, role: str, secrets: Secrets
) -> None:
    """A wrong admin password fails the set step with a message naming host and role only."""
    old = _creds(postgres_server, role, _random.token_urlsafe(16))
    _make_role(postgres_server, role, str(old["password"]))
    secrets.put("database", old)
    wrong = dict(postgres_server.admin_creds(), password=_random.token_urlsafe(8))
    with pytest.raises(RotationError) as info:
        RotationEngine(secrets).rotate("database", PostgresRotator(admin=wrong))
    assert str(wrong["password"]) not in str(info.value)
    assert str(old["password"]) not in str(info.value)
    assert _can_login(old)


def test_revoke_disables_the_previous_alternate_role(
    postgres_server: PostgresServer, secrets: Secrets
) -> None:
    """revoke(old) makes the previous role's credentials fail at once; set re-enables it."""
    _, _, first, rotator = _alternating(postgres_server, secrets, "rev_")
    RotationEngine(secrets).rotate("database", rotator)
    assert _can_login(first)
    rotator.revoke(secrets.get_secret("database", stage=PREVIOUS))
    assert not _can_login(first)
    assert _can_login(secrets.get_json("database"))
    RotationEngine(secrets).rotate("database", rotator)  # a's turn again: LOGIN restored
    assert _can_login(secrets.get_json("database"))


def test_revoke_in_the_single_strategy_changes_nothing(
    postgres_server: PostgresServer, role: str, secrets: Secrets
) -> None:
    """Single strategy: set already replaced the old password; revoke keeps the role usable."""
    old = _creds(postgres_server, role, _random.token_urlsafe(16))
    _make_role(postgres_server, role, str(old["password"]))
    secrets.put("database", old)
    rotator = PostgresRotator(admin=postgres_server.admin_creds())
    RotationEngine(secrets).rotate("database", rotator)
    rotator.revoke(secrets.get_secret("database", stage=PREVIOUS))
    assert not _can_login(old)
    assert _can_login(secrets.get_json("database"))
