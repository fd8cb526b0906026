"""Fixtures for the agent tests: an in-process agent on a short temporary socket."""

from __future__ import annotations

import shutil
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sekret import Secrets
from sekret.agent import AgentConfig, AgentServer, build_client
from sekret.audit import AuditLog, CaptureSink


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    """A short private folder for sockets (AF_UNIX paths are limited to 108 bytes)."""
    folder = Path(tempfile.mkdtemp(prefix="sa-", dir="/tmp"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class Running:
    server: AgentServer
    sink: CaptureSink
    store: str
    thread: threading.Thread

    @property
    def url(self) -> str:
        return f"agent://{self.server.config.socket_path}"

    def stop(self) -> None:
        self.server.stop()
        self.thread.join(10)


StartAgent = Callable[..., Running]


@pytest.fixture
def start_agent(sock_dir: Path) -> Iterator[StartAgent]:
    """Start an AgentServer in a thread over a shared memory:// store; stopped at the end."""
    started: list[Running] = []
    counter = iter(range(1000))

    def start(
        *,
        environment: str = "production",
        store: str | None = None,
        read_only: bool = False,
        **config: Any,
    ) -> Running:
        n = next(counter)
        # a fresh name per agent: memory:// stores with a name live for the process, and
        # id() of a collected list can come back in a later test
        store_name = store or f"agent-test-{uuid.uuid4().hex}-{n}"
        sink = CaptureSink()

        def build() -> Secrets:
            audit = AuditLog([sink], background=False, policy="fail_closed")
            return build_client(
                f"memory://{store_name}",
                app="arrwdb",
                environment=environment,
                audit=audit,
                read_only=read_only,
            )

        server = AgentServer(AgentConfig(sock_dir / f"a{n}.sock", **config), build)
        server.bind()
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        running = Running(server, sink, f"memory://{store_name}", thread)
        started.append(running)
        return running

    yield start
    for running in started:
        running.stop()
