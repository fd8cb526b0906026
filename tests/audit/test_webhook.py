"""The webhook sink against a local HTTP server: batching, retry after 500s, no loss."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sekret.audit.webhook import WebhookSink, retry_after
from sekret.exceptions import AuditError, ConfigurationError


class Collector:
    """A local collector: answers ``fail_first`` requests with ``status``, then 200."""

    def __init__(self) -> None:
        self.batches: list[list[dict[str, object]]] = []
        self.bodies: list[bytes] = []
        self.headers: list[dict[str, str]] = []
        self.fail_first = 0
        self.status = 500
        self.requests = 0
        self.connections = 0
        self.retry_after: str | None = None
        self.lock = threading.Lock()
        collector = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive

            def setup(self) -> None:
                super().setup()
                with collector.lock:
                    collector.connections += 1

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with collector.lock:
                    collector.requests += 1
                    failing = collector.requests <= collector.fail_first
                    if not failing:
                        collector.bodies.append(body)
                        collector.headers.append(dict(self.headers))
                        if self.headers["Content-Type"] == "application/json":
                            collector.batches.append(json.loads(body))
                self.send_response(collector.status if failing else 200)
                if failing and collector.retry_after is not None:
                    self.send_header("Retry-After", collector.retry_after)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                """Quiet."""

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/ingest"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def received(self) -> list[dict[str, object]]:
        return [e for batch in self.batches for e in batch]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def collector() -> Iterator[Collector]:
    c = Collector()
    yield c
    c.stop()


def sink_for(collector: Collector, **options: object) -> WebhookSink:
    defaults: dict[str, object] = {
        "batch_size": 100,
        "flush_interval": 0.05,
        "backoff": 0.01,
        "max_backoff": 0.05,
        "close_timeout": 20.0,
    }
    return WebhookSink(collector.url, **{**defaults, **options})  # type: ignore[arg-type]


def events(n: int) -> list[dict[str, object]]:
    return [{"action": "secret.read", "seq": i} for i in range(n)]


def test_batches_of_batch_size(collector: Collector) -> None:
    """250 events go out as batches of at most 100, each event exactly once, in order."""
    sink = sink_for(collector, headers={"Authorization": "Splunk test-token"})
    sink.emit(events(250))
    sink.close()
    assert all(len(b) <= 100 for b in collector.batches)
    assert [e["seq"] for e in collector.received()] == list(range(250))
    assert collector.headers[0]["Authorization"] == "Splunk test-token"
    assert sink.delivered == 250
    assert sink.dropped == 0
    assert "test-token" not in repr(sink)


def test_retries_after_500s_without_loss_or_duplicates(collector: Collector) -> None:
    """The first three posts get 500; the sink backs off, retries and delivers all once."""
    collector.fail_first = 3
    sink = sink_for(collector, batch_size=10)
    sink.emit(events(35))
    assert sink.flush(timeout=20)
    sink.close()
    assert [e["seq"] for e in collector.received()] == list(range(35))
    assert sink.retries >= 3


def test_no_loss_on_shutdown(collector: Collector) -> None:
    """Events emitted just before close are delivered by close, through failures."""
    collector.fail_first = 2
    collector.status = 503
    sink = sink_for(collector, flush_interval=30.0)
    sink.emit(events(7))
    sink.close()
    assert [e["seq"] for e in collector.received()] == list(range(7))


def test_rejected_batch_is_dropped_and_counted(collector: Collector) -> None:
    """A 400 is not retried forever: the batch is dropped, counted and logged."""
    collector.fail_first = 1
    collector.status = 400
    sink = sink_for(collector, batch_size=5)
    sink.emit(events(5))
    sink.emit(events(5))
    sink.close()
    assert sink.dropped == 5
    assert len(collector.received()) == 5


def test_full_buffer_raises_so_fail_closed_can_refuse() -> None:
    """When the collector is unreachable and the buffer is full, emit raises AuditError."""
    sink = WebhookSink(
        "http://127.0.0.1:9/",
        max_buffer=3,
        post=lambda *a: 500,
        flush_interval=30.0,
        backoff=30.0,
        close_timeout=0.0,
    )
    sink.emit(events(3))
    with pytest.raises(AuditError, match="buffer is full"):
        sink.emit(events(1))
    sink.close()
    assert sink.dropped == 3


def test_ndjson_format(collector: Collector) -> None:
    """format='ndjson' posts one JSON object per line."""
    sink = sink_for(collector, format="ndjson")
    sink.emit(events(3))
    sink.close()
    lines = b"".join(collector.bodies).decode().splitlines()
    assert [json.loads(line)["seq"] for line in lines] == [0, 1, 2]


def test_bad_url_is_refused() -> None:
    """Only http(s) URLs with a host are accepted."""
    with pytest.raises(ConfigurationError, match="http"):
        WebhookSink("ftp://collector/")


@pytest.mark.parametrize("client", ["urllib3", "stdlib"])
def test_one_connection_for_many_batches(collector: Collector, client: str) -> None:
    """Five batches travel over one kept-alive connection (urllib3 or http.client)."""
    sink = WebhookSink(collector.url, batch_size=2, flush_interval=0.01, client=client)  # type: ignore[arg-type]
    for i in range(5):
        sink.emit(
            [{"action": "secret.read", "n": 2 * i}, {"action": "secret.read", "n": 2 * i + 1}]
        )
        assert sink.flush(10)
    sink.close()
    assert len(collector.received()) == 10
    assert collector.connections == 1


@pytest.mark.parametrize("client", ["urllib3", "stdlib"])
def test_retry_after_on_429_is_honoured(collector: Collector, client: str) -> None:
    """A 429 with Retry-After: 1 makes the sink wait 1 s (not its 1 ms backoff), then deliver."""
    collector.fail_first, collector.status, collector.retry_after = 1, 429, "1"
    sink = WebhookSink(
        collector.url,
        batch_size=1,
        flush_interval=0.01,
        backoff=0.001,
        client=client,  # type: ignore[arg-type]
    )
    sink.emit([{"action": "secret.read"}])
    assert sink.flush(10)
    sink.close()
    assert sink.retries == 1
    assert sink.last_delay == 1.0
    assert len(collector.received()) == 1


def test_retry_after_forms_and_the_cap() -> None:
    """Retry-After as seconds or an HTTP date is parsed; garbage is ignored; the wait is capped."""
    assert retry_after("7") == 7.0
    assert retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30.0
    assert retry_after("soon") is None
    assert retry_after(None) is None
    sink = WebhookSink("http://127.0.0.1:9/x", backoff=0.5, max_retry_after=60.0)
    assert sink.delay(1, None, 1.0) == 0.5
    assert sink.delay(1, 7.0, 1.0) == 7.0
    assert sink.delay(1, 0.1, 1.0) == 0.5
    sink.close()
    capped = WebhookSink(
        "http://127.0.0.1:9/x", max_retry_after=60.0, post=lambda *a: (503, "9999")
    )
    assert capped._send([{"action": "secret.read"}]) == ("retry", 60.0)
    capped.close()
