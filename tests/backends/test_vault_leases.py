"""Dynamic database credentials from a real OpenBao against a real PostgreSQL.

The database secrets engine is enabled at a fresh mount and pointed at the
suite's PostgreSQL; each role's ``creation_statements`` create a login role
valid until the lease's expiry. Logins prove what the leases promise.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from sekret import Secrets
from sekret.backends.vault import VaultBackend
from sekret.exceptions import AccessDenied, SecretNotFound, SekretError
from sekret.leases import Lease
from sekret.leases.hooks import connect_kwargs, psycopg_pool
from servers.dbengine import api as _api
from servers.dbengine import enable_engine, make_role
from servers.openbao import BaoServer
from servers.postgres import PostgresServer

pytestmark = pytest.mark.service
psycopg = pytest.importorskip("psycopg")


@pytest.fixture(scope="module")
def engine(openbao: BaoServer, postgres_server: PostgresServer) -> Iterator[str]:
    """A database secrets engine mount configured against the test PostgreSQL."""
    mount = enable_engine(openbao, postgres_server)
    yield mount
    _api(openbao, "DELETE", f"sys/mounts/{mount}")


def client(server: BaoServer, mount: str, role: str) -> Secrets:
    backend = VaultBackend(
        server.address,
        token=server.root_token,
        check_mount=False,
        lease_roles={"db-credentials": f"{mount}/{role}"},
    )
    return Secrets(backend, app="arrwdb", environment="production", cache=False, read_only=True)


def login(pg: PostgresServer, creds: dict[str, str]) -> int:
    with psycopg.connect(
        host=pg.host, port=pg.port, dbname="postgres", connect_timeout=5, **creds
    ) as conn:
        row = conn.execute("SELECT 1").fetchone()
        return int(row[0]) if row else 0


def test_a_lease_logs_in_and_revoke_makes_login_fail(
    openbao: BaoServer, postgres_server: PostgresServer, engine: str
) -> None:
    """Leased credentials log in to PostgreSQL; after close() (revoke) the same login fails."""
    secrets = client(openbao, engine, make_role(openbao, engine, "1m", "5m"))
    lease = secrets.lease("db-credentials", start=False)
    creds = connect_kwargs(lease)
    assert lease.lease_id.startswith(f"{engine}/creds/")
    assert lease.renewable
    assert login(postgres_server, creds) == 1
    secrets.close()
    with pytest.raises(psycopg.OperationalError):
        login(postgres_server, creds)


def test_renewal_extends_the_lease(openbao: BaoServer, engine: str) -> None:
    """renew() asks for the full TTL again and the server's answer becomes the new expiry."""
    clock = [5000.0]
    secrets = client(openbao, engine, make_role(openbao, engine, "60s", "10m"))
    lease = secrets.lease(
        "db-credentials", start=False, monotonic=lambda: clock[0], wall=lambda: clock[0]
    )
    first = lease.expires_at
    clock[0] += 30
    assert lease.renew() is False  # renewed in place, same credentials
    assert lease.ttl >= 59
    assert (lease.expires_at - first).total_seconds() >= 29
    looked = _api(openbao, "PUT", "sys/leases/lookup", {"lease_id": lease.lease_id})
    assert looked["data"]["ttl"] > 50
    secrets.close()


def test_unknown_role_is_a_clear_error(openbao: BaoServer, engine: str) -> None:
    """A role the engine does not have is SecretNotFound naming the role and mount."""
    secrets = client(openbao, engine, "no-such-role")
    with pytest.raises(SecretNotFound, match="no-such-role"):
        secrets.lease("db-credentials")


def test_pool_keeps_serving_across_switches(
    openbao: BaoServer, postgres_server: PostgresServer, engine: str
) -> None:
    """Short max TTL: the lease switches users several times, and no pooled query fails."""
    pytest.importorskip("psycopg_pool")
    secrets = client(openbao, engine, make_role(openbao, engine, "2s", "5s"))
    lease = secrets.lease("db-credentials")
    pg = postgres_server
    pool = psycopg_pool(
        lease,
        f"host={pg.host} port={pg.port} dbname=postgres connect_timeout=5",
        min_size=1,
        max_size=4,
        open=True,
    )
    users: set[str] = set()
    failures: list[str] = []
    done = threading.Event()
    switched = threading.Event()
    lease.on_rotate(lambda held: switched.set() if held.generation >= 3 else None)

    def work() -> None:
        while not done.is_set():
            try:
                with pool.connection(timeout=10) as conn:
                    row = conn.execute("SELECT current_user").fetchone()
                    users.add(str(row[0]) if row else "")
            except Exception as exc:  # counted, then asserted to be none
                failures.append(type(exc).__name__)

    workers = [threading.Thread(target=work) for _ in range(3)]
    for w in workers:
        w.start()
    try:
        assert switched.wait(60), "the lease did not switch three times"
    finally:
        done.set()
        for w in workers:
            w.join(30)
        pool.close()
        secrets.close()
    assert failures == []
    assert len(users) >= 3


def test_generated_policy_allows_own_leases_only(openbao: BaoServer, engine: str) -> None:
    """VaultBackend.policy(leases=...) lets a token lease, renew, revoke its role, not another's."""
    mine = make_role(openbao, engine, "1m", "5m")
    other = make_role(openbao, engine, "1m", "5m")
    name = f"lease-{mine}"
    hcl = VaultBackend.policy("arrwdb/production", leases=f"{engine}/{mine}")
    _api(openbao, "PUT", f"sys/policies/acl/{name}", {"policy": hcl})
    token = _api(openbao, "POST", "auth/token/create", {"policies": [name], "ttl": "10m"})
    limited = VaultBackend(
        openbao.address,
        token=token["auth"]["client_token"],
        check_mount=False,
        lease_roles={"db-credentials": f"{engine}/{mine}", "other": f"{engine}/{other}"},
    )
    grant = limited.issue_lease("arrwdb/production/db-credentials")
    assert limited.renew_lease(grant.lease_id, increment=60) > 0
    with pytest.raises(AccessDenied):
        limited.issue_lease("arrwdb/production/other")
    foreign = _api(openbao, "GET", f"{engine}/creds/{other}")["lease_id"]
    with pytest.raises(AccessDenied):
        limited.renew_lease(foreign, increment=60)
    with pytest.raises(AccessDenied):
        limited.revoke_lease(foreign)
    limited.revoke_lease(grant.lease_id)
    with pytest.raises(SekretError):
        _api_lookup(openbao, grant.lease_id)
    _api(openbao, "PUT", "sys/leases/revoke", {"lease_id": foreign})


def _api_lookup(server: BaoServer, lease_id: str) -> Any:
    import requests

    resp = requests.put(
        f"{server.address}/v1/sys/leases/lookup",
        headers={"X-Vault-Token": server.root_token},
        json={"lease_id": lease_id},
        timeout=10,
    )
    if resp.status_code != 200:
        raise SekretError(f"lookup: HTTP {resp.status_code}")
    return resp.json()


def test_openbao_down_during_renewal_keeps_valid_credentials(
    postgres_server: PostgresServer,
) -> None:
    """OpenBao dies: renewal fails, the lease keeps its still-valid credentials and backs off."""
    from servers.openbao import start_dev_server

    server = start_dev_server()
    try:
        mount = enable_engine(server, postgres_server)
        role = make_role(server, mount, "5m", "10m")
        backend = VaultBackend(
            server.address,
            token=server.root_token,
            check_mount=False,
            lease_roles={"db": f"{mount}/{role}"},
            sleep=lambda _s: None,
            connect_timeout=1,
        )
        clock = [100.0]
        lease = Lease(
            backend, "arrwdb/production/db", start=False, monotonic=lambda: clock[0], backoff=2.0
        )
        before = lease.json()
        server.node.kill()
        assert lease.renew() is False
        assert lease.json() == before
        assert lease.next_action == clock[0] + 2.0  # first retry after the backoff
        clock[0] = lease.next_action
        assert lease.maintain() is False
        assert lease.next_action == clock[0] + 4.0  # then doubled
        assert login(postgres_server, connect_kwargs(lease)) == 1  # still valid
        lease.close()  # revoke fails (server gone): left to expire by TTL, no error
    finally:
        server.stop()


def test_killed_process_credentials_expire_by_ttl(
    openbao: BaoServer, postgres_server: PostgresServer, engine: str, tmp_path: Any
) -> None:
    """A SIGKILLed process cannot revoke: its credentials stop working when the lease ends."""
    import os
    import subprocess
    import sys
    import time

    role = make_role(openbao, engine, "2s", "3s")
    script = (
        "import json, sys, time\n"
        "from sekret.backends.vault import VaultBackend\n"
        "from sekret.leases import Lease\n"
        f"b = VaultBackend({openbao.address!r}, token={openbao.root_token!r}, check_mount=False,"
        f" lease_roles={{'db': '{engine}/{role}'}})\n"
        "lease = Lease(b, 'arrwdb/production/db')\n"
        f"open({str(tmp_path / 'creds.json')!r}, 'w').write(json.dumps(lease.json()))\n"
        "time.sleep(60)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen([sys.executable, "-c", script], env=env)
    creds_file = tmp_path / "creds.json"
    try:
        deadline = time.monotonic() + 30
        while not creds_file.exists() or not creds_file.read_text():
            assert time.monotonic() < deadline, "the child never wrote its credentials"
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    import json

    doc = json.loads(creds_file.read_text())
    creds = {"user": doc["username"], "password": doc["password"]}
    deadline = time.monotonic() + 30
    while True:  # the lease (max 3 s) ends; then the login must fail
        try:
            login(postgres_server, creds)
        except psycopg.OperationalError:
            break
        assert time.monotonic() < deadline, "credentials of a killed process still work"
        time.sleep(0.2)
