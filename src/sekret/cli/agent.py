"""``sekret agent``: serve this environment's secrets to the processes of this host.

Configuration: the manifest's environment (backend URL, cache policy, audit
sinks) unless ``--backend`` is given, as every other command resolves it;
flags choose the socket, who may connect and whether writes are served.
SIGTERM/SIGINT drain and stop; SIGHUP reloads the configuration (the
environment cannot change). Nothing here prints a value.
"""

from __future__ import annotations

import grp
import logging
import pwd
import signal
import sys
import threading
from pathlib import Path
from typing import Any

import click

from sekret.cli._app import CliState, pass_state
from sekret.exceptions import ConfigurationError

__all__ = ["register"]

DEFAULT_SOCKET = "/run/sekret/agent.sock"


def client_arguments(state: CliState, manifest: str | None) -> dict[str, Any]:
    """``build_client`` keywords, resolved like every command's (flags, ``SEKRET_*``,
    the manifest found upward); ``--manifest`` names the file."""
    state.override(manifest=manifest)
    state.reload()  # called again on SIGHUP: read the manifest anew
    return state.context.client_arguments(**state.backend_options)


def _gid(value: str) -> int:
    if value.isdigit():
        return int(value)
    try:
        return grp.getgrnam(value).gr_gid
    except KeyError:
        raise ConfigurationError(f"no such group {value!r}") from None


def _uid(value: str) -> int:
    if value.isdigit():
        return int(value)
    try:
        return pwd.getpwnam(value).pw_uid
    except KeyError:
        raise ConfigurationError(f"no such user {value!r}") from None


def _host_port(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise ConfigurationError(f"--metrics takes HOST:PORT (e.g. 127.0.0.1:9464), not {value!r}")
    return host.strip("[]"), int(port)


def register(group: click.Group) -> None:
    """Add ``agent`` to ``group``."""

    @group.command("agent")
    @click.option(
        "--socket",
        "socket_path",
        default=DEFAULT_SOCKET,
        show_default=True,
        envvar="SEKRET_AGENT_SOCKET",
        help="Unix socket to serve on (created 0600).",
    )
    @click.option("--manifest", type=click.Path(dir_okay=False), help="Manifest file.")
    @click.option("--group", "group_name", help="Make the socket 0660 for this group.")
    @click.option("--uid", "uids", multiple=True, help="Also serve this uid/user (repeatable).")
    @click.option("--gid", "gids", multiple=True, help="Also serve this gid/group (repeatable).")
    @click.option("--allow-writes", is_flag=True, help="Serve put/delete/stage moves too.")
    @click.option("--metrics", "metrics_addr", metavar="HOST:PORT", help="Prometheus endpoint.")
    @click.option("--drain-timeout", default=10.0, show_default=True, help="Seconds to drain.")
    @pass_state
    def agent(
        state: CliState,
        socket_path: str,
        manifest: str | None,
        group_name: str | None,
        uids: tuple[str, ...],
        gids: tuple[str, ...],
        allow_writes: bool,
        metrics_addr: str | None,
        drain_timeout: float,
    ) -> None:
        """Serve this environment's secrets to this host's processes over a Unix socket.

        Workers read through it with the backend URL agent://SOCKET; one login,
        one cache and one audit trail for every worker on the host.
        """
        from sekret.agent import AgentConfig, AgentServer, build_client
        from sekret.agent.metrics import serve_metrics

        metrics_at = _host_port(metrics_addr) if metrics_addr else None  # checked first
        logging.basicConfig(level=logging.INFO, format="sekret-agent: %(levelname)s %(message)s")
        config = AgentConfig(
            Path(socket_path),
            group=_gid(group_name) if group_name else None,
            allowed_uids=frozenset(_uid(u) for u in uids),
            allowed_gids=frozenset(_gid(g) for g in gids),
            allow_writes=allow_writes,
            drain_timeout=drain_timeout,
        )
        server = AgentServer(config, lambda: build_client(**client_arguments(state, manifest)))
        server.bind()
        http = None
        if metrics_at is not None:
            http = serve_metrics(server.render_metrics, *metrics_at)

        def on_term(signum: int, frame: object) -> None:
            server.stop()

        def on_hup(signum: int, frame: object) -> None:
            threading.Thread(target=server.reload, daemon=True).start()

        signal.signal(signal.SIGTERM, on_term)
        signal.signal(signal.SIGINT, on_term)
        signal.signal(signal.SIGHUP, on_hup)
        sys.stderr.write(f"sekret-agent: serving {server.root} on {socket_path}\n")
        sys.stderr.flush()
        try:
            server.serve_forever()
        finally:
            if http is not None:
                http.shutdown()
