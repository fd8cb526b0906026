"""Every facade operation emits the right audit event, on success and on failure."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any

import pytest

from sekret import Secrets
from sekret.audit import AuditLog, CaptureSink
from sekret.audit._backend import AuditedBackend
from sekret.backends.base import Backend, Capability
from sekret.backends.memory import MemoryBackend
from sekret.exceptions import (
    AccessDenied,
    BackendUnavailable,
    SecretNotFound,
    SekretError,
)
from sekret.testing import SENTINEL_PREFIX, sentinel_value

ROOT = "arrwdb/production/"


@pytest.fixture
def secrets(audit: AuditLog) -> Iterator[Secrets]:
    with Secrets(
        MemoryBackend(), app="arrwdb", environment="production", audit=audit, cache=False
    ) as s:
        yield s


class RaisingBackend(Backend):
    """Every operation fails with ``error`` (a denied or unreachable service)."""

    scheme = "stub"
    capabilities = Capability.full()

    def __init__(self, error: type[SekretError]) -> None:
        self.error = error

    def describe(self) -> str:
        return "stub://service.example:8200"

    @property
    def identity(self) -> str | None:
        return "approle:web"

    def _fail(self, *args: Any, **kwargs: Any) -> Any:
        raise self.error("the service refused", backend=self.describe())

    read = versions = list = write = move_stage = delete = restore = destroy = _fail


def only(sink: CaptureSink, action: str) -> dict[str, Any]:
    found = [e for e in sink.events if e["action"] == action]
    assert len(found) == 1, sink.actions()
    return found[0]


def test_wrap_delegates_capabilities_limits_and_description() -> None:
    """The wrapper reports the inner backend's capabilities, size limit, URL and identity."""
    inner = RaisingBackend(AccessDenied)
    inner.max_value_bytes = 1234
    wrapped = AuditLog(background=False).wrap(inner, app="a", environment="dev")
    assert isinstance(wrapped, AuditedBackend)
    assert wrapped.capabilities == Capability.full()
    assert wrapped.max_value_bytes == 1234
    assert wrapped.describe() == "stub://service.example:8200"
    assert wrapped.identity == "approle:web"


def test_put_emits_write_event_with_schema(secrets: Secrets, sink: CaptureSink) -> None:
    """put -> one secret.write success with version, stages, backend, actor and duration."""
    secrets.put("cohere-api-key", sentinel_value())
    event = only(sink, "secret.write")
    assert event["outcome"] == "success"
    assert event["secret"] == ROOT + "cohere-api-key"
    assert event["version"] == "1"
    assert event["stages"] == ["current"]
    assert event["backend"] == "memory://"
    assert event["time"] == "2023-11-14T22:13:20.000000Z"
    assert event["error"] is None
    assert isinstance(event["duration_ms"], float)
    actor = event["actor"]
    assert (actor["app"], actor["environment"]) == ("arrwdb", "production")
    assert {"host", "pid", "user", "identity"} <= set(actor)


def test_get_emits_read_event(secrets: Secrets, sink: CaptureSink) -> None:
    """get -> secret.read with the version actually served."""
    secrets.put("db", sentinel_value())
    secrets.put("db", sentinel_value())
    sink.clear()
    secrets.get("db", stage="previous")
    event = only(sink, "secret.read")
    assert (event["secret"], event["version"], event["stage"]) == (ROOT + "db", "1", "previous")


def test_missing_secret_read_is_a_not_found_failure(secrets: Secrets, sink: CaptureSink) -> None:
    """A read of a missing secret emits a failure with the error code and class, no message."""
    with pytest.raises(SecretNotFound):
        secrets.get("nope")
    event = only(sink, "secret.read")
    assert event["outcome"] == "failure"
    assert event["error"] == {"code": "not_found", "class": "SecretNotFound"}


def test_get_many_emits_one_batch_event_per_name(secrets: Secrets, sink: CaptureSink) -> None:
    """get_many -> secret.read.batch per name, failures marked per name."""
    secrets.put("a", sentinel_value())
    sink.clear()
    secrets.get_many(["a", "missing"])
    events = {e["secret"]: e for e in sink.events if e["action"] == "secret.read.batch"}
    assert events[ROOT + "a"]["outcome"] == "success"
    assert events[ROOT + "a"]["batch"] == 2
    assert events[ROOT + "missing"]["error"]["code"] == "not_found"


def test_versions_list_and_stage_moves(secrets: Secrets, sink: CaptureSink) -> None:
    """versions, list, promote and rollback emit versions/list/stage.move events."""
    secrets.put("k", sentinel_value())
    secrets.put("k", sentinel_value(), stages=["pending"])
    list(secrets.list())
    secrets.promote("k")
    secrets.rollback("k")
    actions = sink.actions()
    assert "secret.versions" in actions
    listed = only(sink, "secret.list")
    assert (listed["prefix"], listed["count"]) == (ROOT, 1)
    moves = [e for e in sink.events if e["action"] == "secret.stage.move"]
    assert [(m["stage"], m["version"]) for m in moves] == [
        ("current", "2"),
        ("pending", None),
        ("current", "1"),
    ]
    assert moves[-1]["expected_version"] == "2"


def test_delete_restore_destroy(secrets: Secrets, sink: CaptureSink) -> None:
    """delete, restore and destroy each emit their own event."""
    secrets.put("gone", sentinel_value())
    secrets.delete("gone", recovery_days=7)
    secrets.restore("gone")
    secrets.destroy("gone")
    assert only(sink, "secret.delete")["recovery_days"] == 7
    assert only(sink, "secret.delete")["recoverable_until"]
    assert only(sink, "secret.restore")["outcome"] == "success"
    assert only(sink, "secret.destroy")["secret"] == ROOT + "gone"


@pytest.mark.parametrize(
    ("error", "code"), [(AccessDenied, "access_denied"), (BackendUnavailable, "unavailable")]
)
def test_every_operation_failure_is_recorded(
    audit: AuditLog, sink: CaptureSink, error: type[SekretError], code: str
) -> None:
    """Denied / unavailable: each facade operation emits a failure event with the code."""
    s = Secrets(
        RaisingBackend(error), app="arrwdb", environment="production", audit=audit, cache=False
    )
    calls = [
        lambda: s.get("x"),
        lambda: s.get_many(["x"]),
        lambda: s.put("x", sentinel_value()),
        lambda: s.versions("x"),
        lambda: list(s.list()),
        lambda: s.move_stage("x", "current", "1"),
        lambda: s.delete("x"),
        lambda: s.restore("x"),
        lambda: s.destroy("x"),
    ]
    for call in calls:
        with contextlib.suppress(SekretError):
            call()
    actions = {e["action"] for e in sink.events}
    assert actions == {
        "secret.read",
        "secret.read.batch",
        "secret.write",
        "secret.versions",
        "secret.list",
        "secret.stage.move",
        "secret.delete",
        "secret.restore",
        "secret.destroy",
    }
    for event in sink.events:
        assert event["outcome"] == "failure"
        assert event["error"]["code"] == code
        assert event["actor"]["identity"] == "approle:web"
        assert event["backend"] == "stub://service.example:8200"


def test_no_event_ever_contains_a_value_or_token(secrets: Secrets, sink: CaptureSink) -> None:
    """Sentinel values and tokens planted through every operation appear in no event."""
    secrets.put("s", sentinel_value(), token=sentinel_value("token"), metadata={"owner": "team"})
    secrets.put("j", {"password": sentinel_value()})
    secrets.put("b", sentinel_value().encode())
    secrets.put("s", sentinel_value(), stages=["pending"])
    secrets.get("s")
    secrets.get_json("j")
    secrets.get_bytes("b")
    secrets.get_many(["s", "j", "b"])
    secrets.versions("s")
    list(secrets.list())
    secrets.promote("s")
    secrets.rollback("s")
    secrets.refresh("s")
    assert secrets.exists("s")
    secrets.delete("b")
    secrets.restore("b")
    secrets.destroy("j")
    assert len(sink.events) > 15
    assert SENTINEL_PREFIX not in json.dumps(sink.events, default=str)


def test_async_facade_reads_are_audited(audit: AuditLog, sink: CaptureSink) -> None:
    """AsyncSecrets goes through the same wrapper: its reads and writes emit events."""
    import asyncio

    from sekret import AsyncSecrets

    async def scenario() -> None:
        async with AsyncSecrets(
            MemoryBackend(), app="arrwdb", environment="production", audit=audit, cache=False
        ) as s:
            await s.put("k", sentinel_value())
            await s.get("k")

    asyncio.run(scenario())
    assert sink.actions() == ["secret.write", "secret.read"]


def test_public_names_of_sekret_audit() -> None:
    """sekret.audit exports exactly its documented names, each resolvable."""
    import sekret.audit as audit_pkg

    assert sorted(audit_pkg.__all__) == [
        "AuditEvent",
        "AuditLog",
        "AuditedBackend",
        "BadRecord",
        "CaptureSink",
        "FileSink",
        "Policy",
        "Sink",
        "VerifyResult",
        "WebhookSink",
        "chain",
        "default_policy",
        "load_key",
        "open_sink",
        "processors",
        "sinks",
        "verify",
        "write_key_file",
    ]
    for name in audit_pkg.__all__:
        assert getattr(audit_pkg, name) is not None
