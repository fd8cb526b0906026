"""Audit sinks built from manifest specs (sekret.audit.config)."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from sekret import ConfigurationError, Secrets
from sekret.audit.chain import verify, write_key_file
from sekret.audit.config import sink_from_spec
from sekret.audit.jsonfile import FileSink
from sekret.audit.sinks import StdoutSink, SyslogSink
from sekret.audit.webhook import WebhookSink
from sekret.backends.local import init_store
from sekret.testing import sentinel_value


def test_url_and_table_specs(tmp_path: Path) -> None:
    """Names, file/jsonl/syslog/https URLs and tables each build the right sink."""
    assert isinstance(sink_from_spec("stdout"), StdoutSink)
    file_sink = sink_from_spec(f"jsonl://{tmp_path}/a.jsonl?fsync=always")
    assert isinstance(file_sink, FileSink)
    assert file_sink.path == tmp_path / "a.jsonl"
    file_sink.close()
    table = sink_from_spec({"sink": "file", "path": str(tmp_path / "b.jsonl")})
    assert isinstance(table, FileSink)
    table.close()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        syslog = sink_from_spec(f"syslog://127.0.0.1:{port}?facility=auth")
        assert isinstance(syslog, SyslogSink)
        assert syslog.facility == 4
        syslog.close()
    hook = sink_from_spec("https://collector.invalid/ingest")
    assert isinstance(hook, WebhookSink)
    hook.close()


@pytest.mark.parametrize(
    "bad",
    [
        "https://user:pw@collector.invalid/x",
        "file://",
        {"path": "x"},
        "nosuch",
        "syslog:///x?facility=nope",
    ],
)
def test_bad_specs_are_configuration_errors(bad: object) -> None:
    """Credentials in a URL, a missing path or name, unknown sinks and facilities are refused."""
    with pytest.raises(ConfigurationError):
        sink_from_spec(bad)  # type: ignore[arg-type]


def test_manifest_audit_specs_reach_the_client(tmp_path: Path) -> None:
    """Secrets.from_manifest records accesses to the sinks the environment declares."""
    db = tmp_path / "secrets.db"
    init_store(db)
    log = tmp_path / "audit.jsonl"
    manifest = tmp_path / "sekret.toml"
    manifest.write_text(
        'app = "arrwdb"\n[environments.staging]\n'
        f'backend = "local://{db}"\naudit = ["jsonl://{log}"]\n'
    )
    value = sentinel_value()
    with Secrets.from_manifest(manifest, "staging") as secrets:
        assert secrets.audit is not None
        secrets.put("cohere-api-key", value)
        secrets.get("cohere-api-key")
    events = [json.loads(line) for line in log.read_text().splitlines()]
    actions = [e["action"] for e in events]
    assert "secret.write" in actions
    assert "secret.read" in actions
    assert value not in log.read_text()


def test_builtin_sinks_mirror_the_entry_points() -> None:
    """Every built-in audit sink is declared in the sekret.audit_sinks entry-point group."""
    from importlib.metadata import entry_points

    from sekret.audit.sinks import _BUILTIN

    declared = {ep.name: ep.value for ep in entry_points(group="sekret.audit_sinks")}
    assert {k: declared.get(k) for k in _BUILTIN} == dict(_BUILTIN)


def test_syslog_stream_urls_and_a_missing_socket(tmp_path: Path) -> None:
    """syslog+tcp:// builds a TCP sink; syslog:///missing fails when built, naming the fix."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    sink = sink_from_spec(f"syslog+tcp://127.0.0.1:{port}?facility=local0")
    assert isinstance(sink, SyslogSink)
    assert (sink.transport, sink.facility) == ("tcp", 16)
    sink.close()
    server.close()
    with pytest.raises(ConfigurationError, match="stdout sink"):
        sink_from_spec(f"syslog://{tmp_path}/dev-log")


def test_a_missing_syslog_socket_fails_when_the_client_is_built(tmp_path: Path) -> None:
    """A manifest naming a syslog socket that does not exist fails at from_manifest, clearly."""
    db = tmp_path / "secrets.db"
    init_store(db)
    manifest = tmp_path / "sekret.toml"
    manifest.write_text(
        'app = "arrwdb"\n[environments.staging]\n'
        f'backend = "local://{db}"\naudit = ["syslog://{tmp_path}/no-dev-log"]\n'
    )
    with pytest.raises(ConfigurationError, match="stdout sink with a log shipper"):
        Secrets.from_manifest(manifest, "staging")


def test_file_sink_table_ships_anchors_to_stdout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """{sink="file", key=..., anchor_sink="stdout"} prints each signed anchor for a shipper."""
    key = tmp_path / "audit.key"
    write_key_file(key)
    path = tmp_path / "audit.jsonl"
    sink = sink_from_spec(
        {"sink": "file", "path": str(path), "key": str(key), "anchor_sink": "stdout"}
    )
    assert isinstance(sink, FileSink)
    sink.emit([{"action": "secret.read", "outcome": "success"}])
    sink.close()
    shipped = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {a["action"] for a in shipped} == {"audit.anchor"}
    external = tmp_path / "anchors.jsonl"
    external.write_text("".join(json.dumps(a) + "\n" for a in shipped))
    assert verify([path], key, anchors=external).ok


def test_a_file_url_with_a_relative_path_keeps_every_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """file://logs/a.jsonl is the relative path logs/a.jsonl (like local://), not /a.jsonl."""
    (tmp_path / "logs").mkdir(mode=0o700)
    monkeypatch.chdir(tmp_path)
    sink = sink_from_spec("file://logs/a.jsonl")
    try:
        assert isinstance(sink, FileSink)
        assert sink.path == Path("logs/a.jsonl")
    finally:
        sink.close()
