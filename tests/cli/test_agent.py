"""``sekret agent`` as a real process: serving, restarts, SIGTERM and SIGHUP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sekret import Secrets
from sekret.backends.local import init_store
from sekret.cache import CachePolicy
from sekret.exceptions import BackendUnavailable
from sekret.testing import sentinel_value

SRC = str(Path(__file__).resolve().parents[2] / "src")


class Agent:
    """One ``sekret agent`` child process over a local store, driven by the test."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.socket = folder / "agent.sock"
        self.store = folder / "secrets.db"
        self.audit = folder / "audit.jsonl"
        self.proc: subprocess.Popen[bytes] | None = None
        init_store(self.store)
        (folder / "sekret.toml").write_text(
            'app = "arrwdb"\n'
            "[environments.production]\n"
            f'backend = "local://{self.store}"\n'
            "cache_ttl = 300\n"
            f'audit = ["jsonl://{self.audit}"]\n'
        )

    @property
    def url(self) -> str:
        return f"agent://{self.socket}"

    def plant(self, name: str = "db") -> str:
        value = sentinel_value()
        with Secrets(f"local://{self.store}", app="arrwdb", environment="production") as admin:
            admin.put(name, value)
        return value

    def start(self) -> None:
        env = {**os.environ, "PYTHONPATH": SRC, "SEKRET_ENV": "production"}
        env.pop("SEKRET_BACKEND", None)
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "import sys; from sekret.cli import main; sys.exit(main())",
                "agent",
                "--socket",
                str(self.socket),
            ],
            cwd=self.folder,
            env=env,
            stderr=subprocess.PIPE,
        )
        for _ in range(400):  # wait for the socket (bounded; no timing asserted)
            if self.socket.exists():
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.025)
        raise AssertionError(f"agent did not start: {self.stop_and_read()}")

    def signal(self, signum: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def stop_and_read(self) -> str:
        """SIGTERM, wait, and return stderr."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=30)
        return err.decode()


@pytest.fixture
def agent() -> Iterator[Agent]:
    folder = Path(tempfile.mkdtemp(prefix="sa-", dir="/tmp"))
    running = Agent(folder)
    try:
        yield running
    finally:
        if running.proc is not None and running.proc.poll() is None:
            running.proc.kill()
            running.proc.wait()
        shutil.rmtree(folder, ignore_errors=True)


def _events(path: Path) -> list[dict[str, object]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_serves_workers_and_stops_on_sigterm(agent: Agent) -> None:
    """The agent serves agent:// reads; SIGTERM exits 0, removes the socket, flushes audit."""
    value = agent.plant()
    agent.start()
    with Secrets(agent.url, app="arrwdb", environment="production", cache=False) as worker:
        assert worker.get("db") == value
        assert worker.get("db") == value
    err = agent.stop_and_read()
    assert agent.proc is not None
    assert agent.proc.returncode == 0, err
    assert not agent.socket.exists()
    actions = [e["action"] for e in _events(agent.audit)]
    assert actions.count("secret.read") == 1
    assert "secret.read.cached" in actions
    assert value not in agent.audit.read_text()
    assert value not in err


def test_sighup_reloads(agent: Agent) -> None:
    """SIGHUP re-reads the manifest: after it the agent serves from the new backend URL."""
    agent.plant()
    agent.start()
    assert agent.proc is not None
    assert agent.proc.stderr is not None
    moved = agent.folder / "moved.db"
    init_store(moved)
    with Secrets(f"local://{moved}", app="arrwdb", environment="production") as admin:
        fresh = sentinel_value()
        admin.put("db", fresh)
    manifest = agent.folder / "sekret.toml"
    manifest.write_text(manifest.read_text().replace(str(agent.store), str(moved)))
    agent.signal(signal.SIGHUP)
    lines: list[str] = []
    while not any("reloaded its configuration" in line for line in lines):
        line = agent.proc.stderr.readline().decode()
        assert line, f"the agent ended without reloading: {lines}"
        lines.append(line)
    with Secrets(agent.url, app="arrwdb", environment="production", cache=False) as worker:
        assert worker.get("db") == fresh
    agent.stop_and_read()
    assert agent.proc.returncode == 0


def test_socket_gone_fails_fast(agent: Agent) -> None:
    """With no agent listening, a worker without a cached value gets BackendUnavailable."""
    with (
        Secrets(agent.url, app="arrwdb", environment="production", cache=False) as worker,
        pytest.raises(BackendUnavailable, match="not reachable"),
    ):
        worker.get("db")


def test_restart_is_invisible_to_cached_clients(agent: Agent) -> None:
    """While the agent restarts, a worker serves its cached value (stale-if-error), then
    picks up the agent again over a new connection."""
    first = agent.plant()
    agent.start()
    now = [0.0]
    clock: Callable[[], float] = lambda: now[0]  # noqa: E731  # the injectable clock
    policy = CachePolicy(ttl=10, max_stale=600, jitter=0, retry_base=0, retry_max=0)
    with Secrets(agent.url, app="arrwdb", environment="production", cache=policy, clock=clock) as w:
        assert w.get("db") == first
        agent.stop_and_read()
        now[0] = 20.0  # past the TTL: the refresh fails, the value is served stale
        assert w.get("db") == first
        second = agent.plant()
        agent.start()
        now[0] = 40.0
        seen = w.get("db")
        for _ in range(400):  # the refresh runs in the background: poll for it
            if seen == second:
                break
            time.sleep(0.025)
            now[0] += 1
            seen = w.get("db")
        assert seen == second


def test_bad_metrics_address_is_a_configuration_error() -> None:
    """--metrics without HOST:PORT exits 8 with one line naming the expected form."""
    from cli.clirunner import Cli

    result = Cli("memory://")("agent", "--socket", "/tmp/unused.sock", "--metrics", "9464")
    assert result.exit_code == 8
    assert "HOST:PORT" in result.output


def test_listed_in_help() -> None:
    """sekret --help lists the agent command."""
    from cli.clirunner import Cli

    assert "agent" in Cli("memory://")("--help").output
