"""Built-in sinks (stdout, logging, syslog), the plugin lookup, and the processors."""

from __future__ import annotations

import io
import json
import logging
import re
import socket
from pathlib import Path

import pytest

from sekret.audit import CaptureSink, open_sink
from sekret.audit.jsonfile import FileSink
from sekret.audit.processors import AddFields, AddHost, FilterAction, FilterOutcome
from sekret.audit.sinks import LoggingSink, Sink, StdoutSink, SyslogSink, available_sinks
from sekret.exceptions import ConfigurationError

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
