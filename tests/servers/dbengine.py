"""OpenBao's database secrets engine pointed at the suite's PostgreSQL (for lease tests).

``enable_engine`` mounts the engine at a fresh path with a connection ``pg``
to the test server; ``make_role`` adds a role whose creation statements make
a login role valid until the lease's expiry. Test setup only (root token).
"""

from __future__ import annotations

import uuid
from typing import Any

from servers.openbao import BaoServer
from servers.postgres import PostgresServer

__all__ = ["CREATE", "api", "enable_engine", "make_role", "role_exists"]

CREATE = [
    "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' VALID UNTIL '{{expiration}}';",
    'GRANT CONNECT ON DATABASE postgres TO "{{name}}";',
]


def api(server: BaoServer, method: str, path: str, body: Any = None) -> Any:
    """One root-token request; asserts success; the JSON answer (None when empty)."""
    import requests

    resp = requests.request(
        method,
        f"{server.address}/v1/{path}",
        headers={"X-Vault-Token": server.root_token},
        json=body,
        timeout=10,
    )
    assert resp.status_code in (200, 204), resp.text[:300]
    return resp.json() if resp.content else None


def enable_engine(server: BaoServer, pg: PostgresServer) -> str:
    """A new database engine mount configured against ``pg``; its path."""
    mount = f"db-{uuid.uuid4().hex[:8]}"
    api(server, "POST", f"sys/mounts/{mount}", {"type": "database"})
    api(
        server,
        "POST",
        f"{mount}/config/pg",
        {
            "plugin_name": "postgresql-database-plugin",
            "connection_url": (
                "postgresql://{{username}}:{{password}}@"
                f"{pg.host}:{pg.port}/postgres?sslmode=disable"
            ),
            "username": pg.admin_user,
            "password": pg.admin_password,
            "allowed_roles": "*",
        },
    )
    return mount


def make_role(server: BaoServer, mount: str, ttl: str, max_ttl: str) -> str:
    """A role on ``mount`` issuing login roles with these TTLs; its name."""
    role = f"r{uuid.uuid4().hex[:8]}"
    api(
        server,
        "POST",
        f"{mount}/roles/{role}",
        {"db_name": "pg", "creation_statements": CREATE, "default_ttl": ttl, "max_ttl": max_ttl},
    )
    return role


def role_exists(pg: PostgresServer, username: str) -> bool:
    """Whether PostgreSQL still has the login role ``username`` (revocation drops it)."""
    import psycopg

    with psycopg.connect(
        host=pg.host,
        port=pg.port,
        dbname="postgres",
        user=pg.admin_user,
        password=pg.admin_password,
        connect_timeout=5,
    ) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_roles WHERE rolname = %s", (username,)
        ).fetchone()
        return bool(row and row[0])
