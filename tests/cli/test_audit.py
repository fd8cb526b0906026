"""``sekret audit verify`` and ``sekret audit show``."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from sekret._sealing import encode_key
from sekret.audit.chain import load_key, load_key_state, write_key_file
from sekret.audit.jsonfile import FileSink
from sekret.audit.sinks import StdoutSink
from sekret.cli._app import build_group
from sekret.cli.audit import parse_since, register


def run(*args: str) -> Result:
    group = build_group()
    register(group)
    return CliRunner().invoke(group, list(args), catch_exceptions=False)


def event(i: int, **fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "time": f"2026-11-2{i % 10}T10:00:00.000000Z",
        "action": "secret.read",
        "outcome": "success",
        "secret": f"arrwdb/production/s{i}",
        "version": str(i),
        "error": None,
    }
    return {**base, **fields}


@pytest.fixture
def key(tmp_path: Path) -> Path:
    path = tmp_path / "audit.key"
    write_key_file(path)
    return path


@pytest.fixture
def log(tmp_path: Path, key: Path) -> Path:
    path = tmp_path / "audit.log"
    sink = FileSink(path, key=key, max_bytes=1500, fsync="never")
    for i in range(8):
        sink.emit([event(i)])
    sink.emit(
        [
            event(
                8,
                action="secret.write",
                outcome="failure",
                error={"code": "access_denied", "class": "AccessDenied"},
            )
        ]
    )
    sink.close()
    return path


def all_files(tmp_path: Path) -> list[str]:
    return sorted(str(p) for p in tmp_path.glob("audit.log*"))


def test_verify_passes_rotated_untouched_log(tmp_path: Path, log: Path, key: Path) -> None:
    """verify over the rotated files and anchor prints ok and exits 0."""
    result = run("audit", "verify", *all_files(tmp_path), "--key-file", str(key))
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: 9 records")
    assert "anchor matches" in result.output


def test_verify_names_the_first_bad_record(tmp_path: Path, log: Path, key: Path) -> None:
    """An edited record fails with exit 1 and one line naming file:line and seq."""
    lines = log.read_bytes().splitlines(keepends=True)
    lines[-1] = lines[-1].replace(b"access_denied", b"access_denieD")
    log.write_bytes(b"".join(lines))
    result = run("audit", "verify", *all_files(tmp_path), "--key-file", str(key))
    assert result.exit_code == 1
    assert f"{log}:{len(lines)}: seq 8: HMAC mismatch" in result.stderr


def test_show_table_and_filters(tmp_path: Path, log: Path) -> None:
    """show prints a table in chain order, filtered by secret, action and outcome."""
    result = run("audit", "show", *all_files(tmp_path))
    assert result.exit_code == 0
    rows = result.output.splitlines()
    assert rows[0].split() == ["TIME", "ACTION", "OUTCOME", "SECRET", "VERSION", "DETAIL"]
    assert len(rows) == 10
    assert "arrwdb/production/s0" in rows[1]
    only = run("audit", "show", *all_files(tmp_path), "--secret", "s3").output.splitlines()
    assert len(only) == 2
    assert "s3" in only[1]
    failed = run("audit", "show", str(log), "--outcome", "failure").output
    assert "access_denied" in failed
    assert "secret.write" in failed


def test_show_json_since_and_action_glob(tmp_path: Path, log: Path) -> None:
    """--json prints one object per line; --since and --action glob narrow it."""
    result = run(
        "audit",
        "show",
        *all_files(tmp_path),
        "--json",
        "--action",
        "secret.*",
        "--since",
        "2026-11-25T00:00:00Z",
    )
    events = [json.loads(line) for line in result.output.splitlines()]
    assert [e["secret"] for e in events] == [f"arrwdb/production/s{i}" for i in (5, 6, 7, 8)]
    assert all("hmac" in e for e in events)


def test_since_accepts_durations_and_rejects_garbage() -> None:
    """--since takes 15m/2h/7d or ISO 8601; anything else is a usage error."""
    now = datetime(2026, 11, 28, 12, tzinfo=UTC)
    assert parse_since("2h", now=now) == datetime(2026, 11, 28, 10, tzinfo=UTC)
    assert parse_since("2026-11-28T10:00:00").tzinfo is UTC
    with pytest.raises(click.BadParameter):
        parse_since("yesterday")
    assert run("audit", "show", "x", "--since", "soon").exit_code == 2


def test_verify_fails_without_anchor_unless_allowed(tmp_path: Path, log: Path, key: Path) -> None:
    """A deleted anchor makes verify exit 1; --allow-missing-anchor makes it a warning."""
    Path(str(log) + ".anchor").unlink()
    files = all_files(tmp_path)
    failed = run("audit", "verify", *files, "--key-file", str(key))
    assert failed.exit_code == 1
    assert "no anchor file" in failed.output
    allowed = run("audit", "verify", *files, "--key-file", str(key), "--allow-missing-anchor")
    assert allowed.exit_code == 0, allowed.output
    assert "warning" in allowed.output


def test_verify_checks_external_anchors(tmp_path: Path, key: Path) -> None:
    """--anchors FILE passes for the shipped anchors and fails after a fresh start."""
    shipped = io.StringIO()
    path = tmp_path / "audit.log"
    sink = FileSink(path, key=key, fsync="never", anchor_sink=StdoutSink(shipped))
    sink.emit([event(1)])
    sink.close()
    anchors = tmp_path / "shipped.jsonl"
    anchors.write_text(shipped.getvalue())
    ok = run("audit", "verify", str(path), "--key-file", str(key), "--anchors", str(anchors))
    assert ok.exit_code == 0, ok.output
    assert "2 external anchor(s) match" in ok.output  # after the batch and at close
    path.unlink()
    Path(str(path) + ".anchor").unlink()
    fresh = FileSink(path, key=key, fsync="never")
    fresh.emit([event(2)])
    fresh.close()
    bad = run("audit", "verify", str(path), "--key-file", str(key), "--anchors", str(anchors))
    assert bad.exit_code == 1
    assert "started afresh" in bad.output


def test_init_key_writes_a_private_key_file_once(tmp_path: Path) -> None:
    """init-key makes a 0600 file in the key-file encoding, usable by verify; never overwrites."""
    path = tmp_path / "audit.key"
    writer = tmp_path / "writer.key"
    result = run("audit", "init-key", str(path), "--writer", str(writer))
    assert result.exit_code == 0, result.output
    assert path.stat().st_mode & 0o777 == 0o600
    assert writer.stat().st_mode & 0o777 == 0o600
    key = load_key(path)
    assert path.read_text() == encode_key(key) + "\n"
    assert load_key_state(writer).key == key
    again = run("audit", "init-key", str(path))
    assert again.exit_code != 0
    assert "already exists" in again.output
    assert load_key(path) == key


def test_show_secret_glob_matches_short_names(tmp_path: Path) -> None:
    """--secret 'cohere*' matches the short name of arrwdb/production/cohere-api-key."""
    path = tmp_path / "plain.log"
    sink = FileSink(path, fsync="never")
    sink.emit(
        [
            event(1, secret="arrwdb/production/cohere-api-key"),
            event(2, secret="arrwdb/production/db"),
            event(3, secret="cohere/production/db"),
        ]
    )
    sink.close()
    result = run("audit", "show", str(path), "--secret", "cohere*", "--json")
    names = [json.loads(line)["secret"] for line in result.output.splitlines()]
    assert names == ["arrwdb/production/cohere-api-key"]
    full = run("audit", "show", str(path), "--secret", "cohere/*", "--json")
    assert [json.loads(x)["secret"] for x in full.output.splitlines()] == ["cohere/production/db"]
