"""``sekret run --lease``: leased database credentials for a child, renewed, switched, revoked.

Real processes against a real OpenBao database engine and PostgreSQL: the
child logs in with the injected credentials; a short max TTL makes sekret
restart it with new ones; when it exits, the database user is gone.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from servers.dbengine import api, enable_engine, make_role, role_exists
from servers.openbao import BaoServer
from servers.postgres import PostgresServer

pytestmark = pytest.mark.service
pytest.importorskip("psycopg")

SEKRET = [sys.executable, "-c", "import sys; from sekret.cli import main; sys.exit(main())"]

CHILD = textwrap.dedent(
    """\
    import json, os, sys, time
    import psycopg
    creds = json.loads(os.environ["DB_CREDENTIALS"])
    with psycopg.connect(host=sys.argv[1], port=int(sys.argv[2]), dbname="postgres",
                         user=os.environ["PGUSER"], password=creds["password"]) as conn:
        user = conn.execute("SELECT current_user").fetchone()[0]
    starts = open(sys.argv[3], "a+")
    starts.write(user + "\\n")
    starts.close()
    if len(open(sys.argv[3]).read().split()) >= int(sys.argv[4]):
        sys.exit(0)
    time.sleep(120)
    """
)


@pytest.fixture(scope="module")
def engine(openbao: BaoServer, postgres_server: PostgresServer) -> Iterator[str]:
    mount = enable_engine(openbao, postgres_server)
    yield mount
    api(openbao, "DELETE", f"sys/mounts/{mount}")


def _run(
    tmp_path: Path, server: BaoServer, pg: PostgresServer, role: str, starts: int
) -> tuple[subprocess.CompletedProcess[bytes], list[str]]:
    (tmp_path / "sekret.toml").write_text(
        textwrap.dedent(
            f"""\
            app = "arrwdb"
            default_environment = "production"
            [environments.production]
            backend = "vault+http://{server.address.split("://", 1)[1]}/secret"
            [secrets.db-credentials]
            kind = "dynamic"
            mount = "{role.split("/")[0]}"
            role = "{role.split("/")[1]}"
            max_ttl = 600
            fields = {{ PGUSER = "username" }}
            """
        )
    )
    (tmp_path / "child.py").write_text(CHILD)
    log = tmp_path / "starts.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEKRET_", "VAULT_", "BAO_"))}
    env |= {"VAULT_TOKEN": server.root_token, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [
            *SEKRET,
            "run",
            "--lease",
            "db-credentials",
            "--grace",
            "2",
            "--",
            sys.executable,
            "child.py",
            pg.host,
            str(pg.port),
            str(log),
            str(starts),
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    return done, log.read_text().split() if log.exists() else []


def test_run_lease_logs_in_and_revokes_when_the_child_exits(
    tmp_path: Path, openbao: BaoServer, postgres_server: PostgresServer, engine: str
) -> None:
    """The child logs in with the leased user; after it exits the user no longer exists."""
    role = f"{engine}/{make_role(openbao, engine, '1m', '5m')}"
    done, users = _run(tmp_path, openbao, postgres_server, role, starts=1)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert len(users) == 1
    assert not role_exists(postgres_server, users[0])


def test_run_lease_restarts_the_child_with_new_credentials(
    tmp_path: Path, openbao: BaoServer, postgres_server: PostgresServer, engine: str
) -> None:
    """A short max TTL: sekret restarts the child with a new user before the old one expires."""
    role = f"{engine}/{make_role(openbao, engine, '2s', '5s')}"
    done, users = _run(tmp_path, openbao, postgres_server, role, starts=2)
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert len(set(users)) == 2  # every start logged in, each with its own user
    assert b"switched to new credentials; restarting" in done.stderr
    assert not any(role_exists(postgres_server, u) for u in users)


def test_run_without_lease_notes_the_dynamic_secret(tmp_path: Path) -> None:
    """Without --lease, a declared dynamic secret is not read from the store; run says so."""
    (tmp_path / "sekret.toml").write_text(
        'app = "arrwdb"\ndefault_environment = "development"\n'
        '[environments.development]\nbackend = "env://"\n'
        '[secrets.db-credentials]\nkind = "dynamic"\nmax_ttl = 600\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEKRET_")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    done = subprocess.run(
        [
            *SEKRET,
            "run",
            "--",
            sys.executable,
            "-c",
            "import os; print('DB_CREDENTIALS' in os.environ)",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    assert done.stdout == b"False\n"
    assert (
        b"dynamic secret 'db-credentials' is not set (lease it: --lease db-credentials)"
        in done.stderr
    )
