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
from sekret.exceptions import BackendUnavailable
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
