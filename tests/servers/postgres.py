"""A throwaway PostgreSQL server for the rotation tests.

Uses Debian's server binaries (``initdb``/``pg_ctl`` under
/usr/lib/postgresql/<v>/bin or on PATH). PostgreSQL refuses to run as root,
so as root the server runs as the ``postgres`` system user (created by the
Debian package). It listens on 127.0.0.1 on a free port, authenticates with
SCRAM, keeps its data in a temporary directory, and is stopped at the end
of the session. No binaries: the tests that need it call ``need_service``.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    admin_user: str
    admin_password: str
    dbname: str = "postgres"

    def admin_creds(self) -> dict[str, object]:
        return {
            "username": self.admin_user,
            "password": self.admin_password,
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
        }


def _bin_dir() -> Path | None:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run_as(user: str | None, args: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    cmd = ["runuser", "-u", user, "--", *args] if user else args
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120, **kw)  # type: ignore[call-overload, no-any-return]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    from conftest import need_service

    bindir = _bin_dir()
    if bindir is None:
        need_service("PostgreSQL", "initdb not found (install Debian's postgresql)")
        raise AssertionError("unreachable")
    user: str | None = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            need_service("PostgreSQL", "running as root and there is no 'postgres' user")
        user = "postgres"
    base = Path(tempfile.mkdtemp(prefix="sekret-pg-"))
    data, sock = base / "data", base / "sock"
    sock.mkdir()
    password = secrets.token_urlsafe(24)
    pwfile = base / "pw"
    pwfile.write_text(password)
    pwfile.chmod(0o600)
    if user:
        entry = pwd.getpwnam(user)
        for p in (base, sock, pwfile):
            os.chown(p, entry.pw_uid, entry.pw_gid)
    port = _free_port()
    _run_as(
        user,
        [
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "admin",
            "--auth=scram-sha-256",
            f"--pwfile={pwfile}",
            "--no-sync",
        ],
    )
    opts = f"-p {port} -k {sock} -c listen_addresses=127.0.0.1 -c fsync=off"
    _run_as(
        user,
        [
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            opts,
            "-w",
            "-t",
            "60",
            "-l",
            str(base / "log"),
            "start",
        ],
    )
    server = PostgresServer("127.0.0.1", port, "admin", password)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield server
    finally:
        subprocess.run(
            (["runuser", "-u", user, "--"] if user else [])
            + [str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(base, ignore_errors=True)
