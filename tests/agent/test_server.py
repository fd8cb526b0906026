"""The agent server: who it serves, what it serves, and what it records."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from agent.conftest import StartAgent
from sekret import Secrets
from sekret.agent import protocol as wire
from sekret.backends.agent import AgentBackend
from sekret.exceptions import AccessDenied, ConfigurationError, SecretNotFound
from sekret.testing import sentinel_value


def _plant(store: str, name: str = "db", environment: str = "production") -> str:
    value = sentinel_value()
    with Secrets(store, app="arrwdb", environment=environment, cache=False) as admin:
        admin.put(name, value)
    return value


def test_serves_reads_through_the_backend_url(start_agent: StartAgent) -> None:
    """A worker's Secrets("agent://...") reads what the agent's backend holds."""
    agent = start_agent()
    value = _plant(agent.store)
    with Secrets(agent.url, app="arrwdb", environment="production") as worker:
        assert worker.get("db") == value


def test_socket_is_private(start_agent: StartAgent) -> None:
    """The socket file is created 0600 without a --group."""
    agent = start_agent()
    mode = os.stat(agent.server.config.socket_path).st_mode & 0o777
    assert mode == 0o600


def test_group_socket_is_0660(start_agent: StartAgent) -> None:
    """With a group the socket is 0660 and belongs to that group."""
    agent = start_agent(group=os.getgid())
    st = os.stat(agent.server.config.socket_path)
    assert (st.st_mode & 0o777, st.st_gid) == (0o660, os.getgid())


def test_refuses_another_environment(start_agent: StartAgent) -> None:
    """An agent started for production refuses names of staging, with AccessDenied."""
    agent = start_agent()
    _plant(agent.store, environment="staging")
    with (
        Secrets(agent.url, app="arrwdb", environment="staging") as worker,
        pytest.raises(AccessDenied, match="serves arrwdb/production only"),
    ):
        worker.get("db")


def test_refuses_writes_unless_allowed(start_agent: StartAgent) -> None:
    """Writes are refused with AccessDenied by an agent started without --allow-writes."""
    agent = start_agent()
    backend = AgentBackend(str(agent.server.config.socket_path), writes=True)
    with Secrets(backend, app="arrwdb", environment="production") as worker:
        with pytest.raises(AccessDenied, match="allow-writes"):
            worker.put("db", sentinel_value())
        with pytest.raises(SecretNotFound):
            worker.get("db")


def test_writes_when_allowed(start_agent: StartAgent) -> None:
    """An agent started with allow_writes stores a put, and invalidates its cache entry."""
    agent = start_agent(allow_writes=True)
    first = _plant(agent.store)
    backend = AgentBackend(str(agent.server.config.socket_path), writes=True)
    with Secrets(backend, app="arrwdb", environment="production", cache=False) as worker:
        assert worker.get("db") == first
        second = sentinel_value()
        worker.put("db", second)
        assert worker.get("db") == second


def test_read_only_configuration_wins_over_allow_writes(start_agent: StartAgent) -> None:
    """A configuration marked read_only is never written through, even with allow_writes."""
    agent = start_agent(allow_writes=True, read_only=True)
    backend = AgentBackend(str(agent.server.config.socket_path), writes=True)
    with (
        Secrets(backend, app="arrwdb", environment="production") as worker,
        pytest.raises(AccessDenied, match="read-only"),
    ):
        worker.put("db", sentinel_value())


def test_errors_keep_their_class(start_agent: StartAgent) -> None:
    """A missing secret raises SecretNotFound in the worker, as against the backend."""
    agent = start_agent()
    with (
        Secrets(agent.url, app="arrwdb", environment="production") as worker,
        pytest.raises(SecretNotFound, match="not found"),
    ):
        worker.get("nope")


def test_batch_read_is_one_round_trip(start_agent: StartAgent) -> None:
    """get_many over the agent is one read_many request, whatever the number of names."""
    agent = start_agent()
    values = {f"s{i}": _plant(agent.store, f"s{i}") for i in range(5)}
    with Secrets(agent.url, app="arrwdb", environment="production") as worker:
        got = worker.get_many([*values, "missing"])
    assert {k: v.value.text() for k, v in got.items() if k != "missing"} == values
    assert isinstance(got["missing"], SecretNotFound)
    assert agent.server.metrics.value("requests_total", op="read_many", outcome="ok") == 1
    assert agent.server.metrics.value("requests_total", op="read", outcome="ok") == 0


def test_backend_access_audited_with_the_caller(start_agent: StartAgent) -> None:
    """A backend read is recorded once by the agent with the caller's pid and uid."""
    agent = start_agent()
    _plant(agent.store)
    with Secrets(agent.url, app="arrwdb", environment="production", cache=False) as worker:
        worker.get("db")
        worker.get("db")
    reads = [e for e in agent.sink.events if e["action"] == "secret.read"]
    assert len(reads) == 1
    me = {"pid": os.getpid(), "uid": os.getuid(), "gid": os.getgid()}
    assert reads[0]["actor"]["caller"] == me


def test_cache_hits_aggregated_per_caller(start_agent: StartAgent) -> None:
    """Reads the agent's cache answers are flushed as one secret.read.cached event per caller."""
    agent = start_agent()
    _plant(agent.store)
    with Secrets(agent.url, app="arrwdb", environment="production", cache=False) as worker:
        for _ in range(4):
            worker.get("db")
    assert agent.server.flush_hits() == 1
    cached = [e for e in agent.sink.events if e["action"] == "secret.read.cached"]
    assert [(e["count"], e["actor"]["caller"]["pid"]) for e in cached] == [(3, os.getpid())]


def test_no_value_in_audit(start_agent: StartAgent) -> None:
    """No audit event of the agent carries the value it served."""
    agent = start_agent()
    value = _plant(agent.store)
    with Secrets(agent.url, app="arrwdb", environment="production", cache=False) as worker:
        worker.get("db")
        worker.get("db")
    agent.server.flush_hits()
    assert agent.sink.events
    assert value not in repr(agent.sink.events)


def _read_as_nobody(path: Path) -> str:
    """Read one secret from a forked child running as uid/gid 65534; its outcome's name."""
    os.chmod(path, 0o666)  # noqa: S103  # the file mode must not be what refuses the child
    os.chmod(path.parent, 0o755)  # noqa: S103  # idem for the folder
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, try to read, report the outcome's class
        outcome = "crash"
        try:
            os.setgid(65534)
            os.setuid(65534)
            AgentBackend(str(path)).read("arrwdb/production/db")
            outcome = "ok"
        except BaseException as exc:  # any outcome is reported by name
            outcome = type(exc).__name__
        finally:
            os.write(write, outcome.encode())
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read, "rb") as pipe:
        return pipe.read().decode()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a child as uid 65534")
def test_refuses_other_uids(start_agent: StartAgent) -> None:
    """A process of another uid gets AccessDenied and nothing else."""
    agent = start_agent()
    _plant(agent.store)
    assert _read_as_nobody(agent.server.config.socket_path) == "AccessDenied"
    assert agent.server.metrics.value("refused_total") == 1


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a child as uid 65534")
def test_serves_allowed_uid(start_agent: StartAgent) -> None:
    """A uid given with --uid is served."""
    agent = start_agent(allowed_uids=frozenset({65534}))
    _plant(agent.store)
    assert _read_as_nobody(agent.server.config.socket_path) == "ok"


def test_wrong_protocol_version_refused(start_agent: StartAgent) -> None:
    """A frame of another protocol version gets an error frame, not an answer."""
    agent = start_agent()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(agent.server.config.socket_path))
        body = b'{"v":99,"op":"hello"}'
        sock.sendall(len(body).to_bytes(4, "big") + body)
        size = int.from_bytes(sock.recv(4), "big")
        answer = sock.recv(size)
    assert b'"ok":false' in answer
    assert b"protocol version" in answer


def test_reload_refuses_another_environment(start_agent: StartAgent) -> None:
    """A reload whose configuration names another environment is refused; the old one stays."""
    agent = start_agent()
    value = _plant(agent.store)
    original = agent.server.secrets

    def other() -> Secrets:
        return Secrets("memory://", app="arrwdb", environment="staging")

    agent.server._build = other
    assert agent.server.reload() is False
    assert agent.server.secrets is original
    with Secrets(agent.url, app="arrwdb", environment="production") as worker:
        assert worker.get("db") == value


def test_reload_swaps_the_client(start_agent: StartAgent) -> None:
    """A reload builds a new client (new cache) and serves from it."""
    agent = start_agent()
    _plant(agent.store)
    original = agent.server.secrets
    assert agent.server.reload() is True
    assert agent.server.secrets is not original


def test_stale_socket_replaced_live_one_refused(start_agent: StartAgent, sock_dir: Path) -> None:
    """A socket nobody listens on is replaced; a live agent's socket is not taken over."""
    agent = start_agent()
    from sekret.agent import AgentConfig, AgentServer

    twin = AgentServer(AgentConfig(agent.server.config.socket_path), lambda: agent.server.secrets)
    with pytest.raises(ConfigurationError, match="already listening"):
        twin.bind()
    dead = sock_dir / "dead.sock"
    s = socket.socket(socket.AF_UNIX)
    s.bind(str(dead))
    s.close()
    AgentServer._clear_stale(dead)
    assert not dead.exists()


def test_stop_removes_socket_and_flushes(start_agent: StartAgent) -> None:
    """Stopping drains, flushes the per-caller hit counts to audit and removes the socket."""
    agent = start_agent()
    _plant(agent.store)
    with Secrets(agent.url, app="arrwdb", environment="production", cache=False) as worker:
        worker.get("db")
        worker.get("db")
    agent.stop()
    assert agent.server.wait_stopped(5)
    assert not agent.server.config.socket_path.exists()
    assert "secret.read.cached" in agent.sink.actions()


def test_hello_names_the_root(start_agent: StartAgent) -> None:
    """The hello op answers with the environment root and the protocol version."""
    agent = start_agent()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(str(agent.server.config.socket_path))
        wire.send_frame(sock, {"v": wire.VERSION, "op": "hello"})
        answer = wire.recv_frame(sock)
    assert answer is not None
    assert (answer["root"], answer["v"], answer["writes"]) == ("arrwdb/production", 1, False)


def test_metrics_endpoint_serves_agent_and_client_series(start_agent: StartAgent) -> None:
    """--metrics serves sekret_agent_* and the agent client's sekret_* series, no value."""
    import urllib.request

    from sekret.agent.metrics import serve_metrics

    agent = start_agent()
    value = _plant(agent.store)
    with Secrets(agent.url, app="arrwdb", environment="production", cache=False) as worker:
        worker.get("db")
        worker.get("db")
    http = serve_metrics(agent.server.render_metrics, "127.0.0.1", 0)
    try:
        port = http.server_address[1]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as response:
            text = response.read().decode()
    finally:
        http.shutdown()
    assert 'sekret_agent_requests_total{op="read",outcome="ok"} 2' in text
    assert 'sekret_agent_request_seconds_count{op="read"} 2' in text
    assert 'sekret_agent_request_seconds_bucket{op="read",le="+Inf"} 2' in text
    assert 'sekret_cache_misses_total{backend="memory"} 1' in text
    assert 'sekret_cache_hits_total{backend="memory"} 1' in text
    assert "sekret_audit_records_total" in text
    assert value not in text
