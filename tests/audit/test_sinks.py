"""Built-in sinks (stdout, logging, syslog), the plugin lookup, and the processors."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import socket
import ssl
import threading
from pathlib import Path

import pytest

from sekret.audit import CaptureSink, open_sink
from sekret.audit.jsonfile import FileSink
from sekret.audit.processors import AddFields, AddHost, FilterAction, FilterOutcome
from sekret.audit.sinks import LoggingSink, Sink, StdoutSink, SyslogSink, available_sinks
from sekret.exceptions import ConfigurationError
from servers.azure_fake import make_certificate

EVENT = {
    "time": "2026-11-28T16:00:00.000000Z",
    "action": "secret.read",
    "outcome": "failure",
    "secret": 'arrwdb/production/db"x]',
    "version": None,
    "error": {"code": "access_denied", "class": "AccessDenied"},
}


def test_stdout_sink_writes_json_lines() -> None:
    """StdoutSink writes one compact JSON object per event."""
    stream = io.StringIO()
    StdoutSink(stream).emit([EVENT, EVENT])
    lines = stream.getvalue().splitlines()
    assert [json.loads(line) for line in lines] == [EVENT, EVENT]


def test_logging_sink_levels_and_record_payload(caplog: pytest.LogCaptureFixture) -> None:
    """Failures log at WARNING, successes at INFO; the dict rides on record.audit."""
    with caplog.at_level(logging.INFO, logger="sekret.audit"):
        LoggingSink().emit([EVENT, {**EVENT, "outcome": "success"}])
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.INFO]
    assert caplog.records[0].audit["action"] == "secret.read"  # type: ignore[attr-defined]


def test_syslog_sink_sends_rfc5424_over_udp() -> None:
    """SyslogSink sends one RFC 5424 datagram per event with escaped structured data."""
    server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    server.bind(("127.0.0.1", 0))
    server.settimeout(10)
    sink = SyslogSink(server.getsockname(), hostname="web-1", app_name="arrwdb")
    try:
        sink.emit([EVENT])
        message = server.recv(65536)
    finally:
        sink.close()
        server.close()
    header, _, body = message.partition(b"\xef\xbb\xbf")
    text = header.decode()
    # facility authpriv (10) * 8 + warning (4) = 84
    assert re.match(r"<84>1 2026-11-28T16:00:00\.000000Z web-1 arrwdb \d+ secret\.read \[", text)
    assert 'secret="arrwdb/production/db\\"x\\]"' in text
    assert 'outcome="failure"' in text
    assert json.loads(body) == EVENT


def test_open_sink_builds_builtins_and_refuses_unknown(tmp_path: Path) -> None:
    """open_sink resolves built-in names; an unknown name lists the known ones."""
    assert isinstance(open_sink("capture"), CaptureSink)
    sink = open_sink("file", path=tmp_path / "a.log")
    assert isinstance(sink, FileSink)
    assert isinstance(sink, Sink)
    sink.close()
    assert {"file", "stdout", "logging", "syslog", "webhook", "capture"} <= set(available_sinks())
    with pytest.raises(ConfigurationError, match="known: capture"):
        open_sink("nope")


def test_add_host_fills_the_actor() -> None:
    """AddHost adds host, pid and user without overwriting what is there."""
    event = AddHost(host="h1", user="svc")({"actor": {"app": "a", "host": "given"}})
    assert event["actor"]["host"] == "given"
    assert event["actor"]["user"] == "svc"
    assert isinstance(event["actor"]["pid"], int)


def test_filters_and_fields() -> None:
    """FilterAction globs, FilterOutcome and AddFields do what they say."""
    assert FilterAction("secret.write")({"action": "secret.read"}) is None
    assert FilterAction("secret.read*")({"action": "secret.read.cached"}) is not None
    assert FilterOutcome("failure")({"outcome": "success"}) is None
    assert FilterOutcome("failure")({"outcome": "failure"}) is not None
    assert AddFields(region="eu")({})["region"] == "eu"


def read_frames(conn: socket.socket, count: int) -> list[bytes]:
    """Read ``count`` RFC 6587 octet-counted frames from a stream."""
    data, frames = b"", []
    while len(frames) < count:
        chunk = conn.recv(65536)
        if not chunk:
            return frames  # the client closed this connection
        data += chunk
        while b" " in data:
            length, _, rest = data.partition(b" ")
            if len(rest) < int(length):
                break
            frames.append(rest[: int(length)])
            data = rest[int(length) :]
    return frames


class StreamServer:
    """A one-connection TCP (or TLS) syslog receiver on 127.0.0.1."""

    def __init__(self, count: int, context: ssl.SSLContext | None = None) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(10)
        self.port = self.listener.getsockname()[1]
        self.frames: list[bytes] = []
        self.connections = 0
        self._context = context
        self._count = count
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while len(self.frames) < self._count:
            try:
                conn, _ = self.listener.accept()
                self.connections += 1
                conn.settimeout(10)
                if self._context is not None:
                    conn = self._context.wrap_socket(conn, server_side=True)
                with conn:
                    self.frames += read_frames(conn, self._count - len(self.frames))
            except OSError:  # a refused handshake, or the listener closed by the test
                return

    def join(self) -> list[bytes]:
        self.thread.join(10)
        self.listener.close()
        return self.frames


def test_syslog_sink_tcp_uses_octet_counting() -> None:
    """Over TCP each message is framed as 'LEN SP MSG' (RFC 6587), one connection for all."""
    server = StreamServer(3)
    sink = SyslogSink(("127.0.0.1", server.port), transport="tcp", hostname="web-1")
    sink.emit([EVENT, EVENT])
    sink.emit([{**EVENT, "outcome": "success"}])
    sink.close()
    frames = server.join()
    assert server.connections == 1
    assert [json.loads(f.partition(b"\xef\xbb\xbf")[2])["outcome"] for f in frames] == [
        "failure",
        "failure",
        "success",
    ]
    assert frames[0].startswith(b"<84>1 ")


def test_syslog_sink_tls_checks_the_server_certificate(tmp_path: Path) -> None:
    """Over TLS (RFC 5425) frames arrive intact; a server no trusted CA vouches for is refused."""
    cert_file, key_file = make_certificate(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    server = StreamServer(1, context)
    sink = SyslogSink(("127.0.0.1", server.port), transport="tls", ca_file=str(cert_file))
    sink.emit([EVENT])
    sink.close()
    (frame,) = server.join()
    assert json.loads(frame.partition(b"\xef\xbb\xbf")[2]) == EVENT
    other = StreamServer(1, context)
    with pytest.raises(ConfigurationError, match="cannot be reached"):
        SyslogSink(("127.0.0.1", other.port), transport="tls")  # system CAs: not trusted
    other.listener.close()


def test_syslog_sink_is_checked_when_built(tmp_path: Path) -> None:
    """A missing unix socket or a refused TCP port is a ConfigurationError at build time."""
    with pytest.raises(ConfigurationError, match="stdout sink"):
        SyslogSink(str(tmp_path / "no-dev-log"))
    closed = socket.create_server(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()
    with pytest.raises(ConfigurationError, match="cannot be reached"):
        SyslogSink(("127.0.0.1", port), transport="tcp")


def test_syslog_sink_unix_datagram(tmp_path: Path) -> None:
    """A unix datagram socket that exists receives one message per event."""
    path = str(tmp_path / "log.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(path)
    server.settimeout(10)
    sink = SyslogSink(path)
    sink.emit([EVENT])
    sink.close()
    assert json.loads(server.recv(65536).partition(b"\xef\xbb\xbf")[2]) == EVENT
    server.close()


def test_syslog_stream_reconnects_once(tmp_path: Path) -> None:
    """A relay that dropped the connection is reconnected on the next batch."""
    server = StreamServer(2)
    sink = SyslogSink(("127.0.0.1", server.port), transport="tcp")
    sink.emit([EVENT])
    assert sink._sock is not None
    sink._sock.close()  # as if the relay had restarted
    sink._sock = None
    sink.emit([EVENT])
    sink.close()
    assert len(server.join()) == 2
    assert server.connections == 2


def test_syslog_unix_socket_reconnects_after_a_daemon_restart(tmp_path: Path) -> None:
    """When the syslog daemon re-creates its socket, the next event reaches the new one."""
    path = str(tmp_path / "log.sock")
    first = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    first.bind(path)
    sink = SyslogSink(path)
    sink.emit([EVENT])
    first.close()
    os.unlink(path)
    second = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    second.bind(path)
    second.settimeout(10)
    sink.emit([EVENT])
    sink.close()
    assert json.loads(second.recv(65536).partition(b"\xef\xbb\xbf")[2]) == EVENT
    second.close()
