"""The agent:// backend: the shared contract through a live agent, and its faults."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.conftest import StartAgent
from sekret import Secrets
from sekret.backends import open_backend
from sekret.backends.agent import AgentBackend
from sekret.backends.base import Capability
from sekret.exceptions import BackendUnavailable, SekretError
from sekret.testing import BackendContract, sentinel_value

pytest_plugins = ["agent.conftest"]


class TestAgentContract(BackendContract):
    """Every contract test, through an agent started with writes allowed (memory behind)."""

    @pytest.fixture
    def backend(self, start_agent: StartAgent) -> Iterator[AgentBackend]:
        agent = start_agent(allow_writes=True)
        with AgentBackend(str(agent.server.config.socket_path), writes=True) as b:
            yield b  # type: ignore[misc]  # Backend.__enter__ is typed as Backend

    @pytest.fixture
    def name(self) -> str:
        return f"arrwdb/production/t{uuid.uuid4().hex[:16]}/secret"


def test_url_names_the_socket() -> None:
    """agent:///run/x.sock opens the socket path; ?timeout= and ?writes= are options."""
    backend = open_backend("agent:///run/sekret/agent.sock?timeout=2&writes=1")
    assert isinstance(backend, AgentBackend)
    assert (backend.path, backend.timeout) == ("/run/sekret/agent.sock", 2.0)
    assert Capability.WRITE in backend.capabilities
    assert Capability.WRITE not in open_backend("agent:///x.sock").capabilities


def test_no_listener_fails_fast(sock_dir: Path) -> None:
    """A socket file nobody listens on raises BackendUnavailable at once."""
    dead = sock_dir / "dead.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(dead))
    s.close()
    with pytest.raises(BackendUnavailable, match="not reachable"):
        AgentBackend(str(dead)).read("arrwdb/production/db")


def test_reconnects_after_agent_restart(start_agent: StartAgent, sock_dir: Path) -> None:
    """A kept connection the agent closed is reopened once; the read succeeds."""
    first = start_agent(store="restart-test")
    with Secrets(first.store, app="arrwdb", environment="production") as admin:
        admin.put("db", sentinel_value())
    backend = AgentBackend(str(first.server.config.socket_path))
    assert backend.read("arrwdb/production/db").version == "1"
    first.stop()
    second = start_agent(store="restart-test")
    second.server.config.socket_path.rename(first.server.config.socket_path)
    assert backend.read("arrwdb/production/db").version == "1"
    backend.close()


def test_forked_child_opens_its_own_connection(start_agent: StartAgent) -> None:
    """A child forked after the parent connected reads over its own connection, and the
    parent's connection keeps working."""
    import os

    agent = start_agent()
    with Secrets(agent.store, app="arrwdb", environment="production") as admin:
        admin.put("db", sentinel_value())
    backend = AgentBackend(str(agent.server.config.socket_path))
    parent_sock = None
    assert backend.read("arrwdb/production/db").version == "1"
    parent_sock = backend._local.sock
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: read, and report whether it used a socket of its own
        ok = 0
        try:
            ok = int(backend.read("arrwdb/production/db").version == "1")
            ok &= int(backend._local.sock is not parent_sock)
        finally:
            os.write(write, bytes([ok]))
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as pipe:
        assert pipe.read() == b"\x01"
    assert backend.read("arrwdb/production/db").version == "1"
    assert backend._local.sock is parent_sock
    backend.close()


def test_unexpected_server_error_is_one_error_frame(start_agent: StartAgent) -> None:
    """A bug in the agent answers a SekretError naming only its class; the agent lives on."""
    agent = start_agent()
    backend = AgentBackend(str(agent.server.config.socket_path))

    def broken(op: str, req: object) -> dict[str, object]:
        raise RuntimeError("SEKRET-SENTINEL-should-not-leak")

    agent.server._dispatch = broken  # type: ignore[method-assign]
    with pytest.raises(SekretError, match=r"internal error in the sekret agent \(RuntimeError\)"):
        backend.read("arrwdb/production/db")
    backend.close()


def test_client_loads_no_server_code() -> None:
    """Opening an agent:// backend imports the protocol only: no server, audit or metrics."""
    import subprocess
    import sys

    code = (
        "import sys; from sekret.backends import open_backend;"
        "open_backend('agent:///run/sekret/agent.sock');"
        "bad = [m for m in ('sekret.agent.server', 'sekret.audit', 'sekret.metrics',"
        " 'sekret.cache', 'http.server') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_processes_share_the_agents_one_lease(sock_dir: Path) -> None:
    """Through the agent, every process gets the same lease; only the agent talks to the backend."""
    import threading

    from leases.test_lease import Clock, FakeLeases
    from sekret.agent import AgentConfig, AgentServer

    leasing = FakeLeases(Clock(), ttl=600, max_ttl=3600)
    server = AgentServer(
        AgentConfig(sock_dir / "lease.sock"),
        lambda: Secrets(leasing, app="arrwdb", environment="production", cache=False),
    )
    server.bind()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    url = f"agent://{sock_dir / 'lease.sock'}"
    workers = [Secrets(url, app="arrwdb", environment="production") for _ in range(3)]
    try:
        leases = [w.lease("db", start=False) for w in workers]
        assert {ls.lease_id for ls in leases} == {"database/creds/role/1"}
        assert leases[0].json() == leases[1].json()
        assert leases[0].renew() is False  # asks the agent again: same lease, no switch
        assert leases[0].generation == 0
        assert leasing.calls == ["issue"]
        for w in workers:
            w.close()  # a worker does not revoke the shared lease
        assert leasing.revoked == []
    finally:
        server.stop()
        thread.join(10)
    assert leasing.revoked == ["database/creds/role/1"]  # the agent revokes it when it stops
