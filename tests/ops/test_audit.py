"""sekret.ops._audit: the one extra event an operator action records."""

from __future__ import annotations

from sekret import Secrets
from sekret.audit import AuditLog, CaptureSink
from sekret.backends.memory import MemoryBackend
from sekret.ops._audit import record


def test_record_goes_through_the_clients_audit_log() -> None:
    """With an audit log the event is recorded as the client, with its fields; else False."""
    sink = CaptureSink()
    audit = AuditLog([sink], background=False, flush_interval=None)
    audited = Secrets(MemoryBackend(), app="a", environment="p", audit=audit)
    assert record(audited, "secret.import", "a/p/k", source_key="K", versions=2)
    audit.close()
    (event,) = [e for e in sink.events if e["action"] == "secret.import"]
    assert (event["secret"], event["source_key"], event["versions"]) == ("a/p/k", "K", 2)
    assert event["outcome"] == "success"
    plain = Secrets(MemoryBackend(), app="a", environment="p")
    assert not record(plain, "secret.import", "a/p/k")
