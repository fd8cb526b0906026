"""The HTTP webhook sink: batches events to a collector (Splunk HEC, Datadog, a SIEM).

``emit`` only appends to a bounded buffer (it raises ``AuditError`` when the
buffer is full, which is what fail-closed acts on); a daemon thread posts
batches of up to ``batch_size`` events every ``flush_interval`` seconds or as
soon as a batch is full. A batch leaves the buffer only after a 2xx answer:
5xx, 408, 429 and connection errors are retried with exponential backoff and
jitter, so nothing is lost while the collector is down. ``close`` keeps
delivering for up to ``close_timeout`` seconds and reports what it could not.
A 4xx other than 408/429 means the collector rejects the batch: it is dropped,
logged and counted in ``dropped`` (retrying would block every later event).

The body is a JSON array (``format="json"``) or one JSON object per line
(``"ndjson"``). Headers (e.g. an ``Authorization`` token) are sent, never
logged, and not part of ``repr``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Literal
from urllib.parse import urlsplit

from sekret.audit.events import AuditEvent
from sekret.audit.sinks import to_json
from sekret.exceptions import AuditError, ConfigurationError

__all__ = ["WebhookSink"]

log = logging.getLogger("sekret.audit")

Post = Callable[[str, bytes, Mapping[str, str], float], int]
RETRY_STATUS = frozenset({408, 429})


def urllib_post(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> int:
    """POST with the standard library; returns the HTTP status (raises OSError when unreachable)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")  # noqa: S310  # scheme checked in WebhookSink
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


class WebhookSink:
    """Post events in batches to ``url`` with retry and backoff; see the module docstring."""

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        batch_size: int = 100,
        flush_interval: float = 1.0,
        timeout: float = 10.0,
        max_buffer: int = 100_000,
        backoff: float = 0.5,
        max_backoff: float = 30.0,
        close_timeout: float = 30.0,
        format: Literal["json", "ndjson"] = "json",  # the natural option name
        post: Post | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError("webhook sink URL must be http:// or https:// with a host")
        if format not in ("json", "ndjson"):
            raise ConfigurationError(f"webhook format must be json or ndjson, not {format!r}")
        self.url = url
        self._where = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}"
        self._headers = {
            "Content-Type": "application/json" if format == "json" else "application/x-ndjson",
            **(headers or {}),
        }
        self.batch_size = batch_size
        self.flush_interval = flush_interval
        self.timeout = timeout
        self.max_buffer = max_buffer
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.close_timeout = close_timeout
        self.format = format
        self._post = post or urllib_post
        self._buffer: deque[AuditEvent] = deque()
        self._cond = threading.Condition()
        self._closing = False
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.dropped = 0
        self.retries = 0

    # -- sink protocol -----------------------------------------------------------
    def emit(self, events: Sequence[AuditEvent]) -> None:
        with self._cond:
            if self._closing:
                raise AuditError(f"webhook sink {self._where} is closed")
            if len(self._buffer) + len(events) > self.max_buffer:
                raise AuditError(
                    f"webhook sink {self._where} buffer is full ({self.max_buffer} events "
                    "undelivered); the collector is not accepting them"
                )
            self._buffer.extend(dict(e) for e in events)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="sekret-audit-webhook", daemon=True
                )
                self._thread.start()
            if len(self._buffer) >= self.batch_size:
                self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every buffered event is delivered; False if ``timeout`` ran out."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            self._cond.notify_all()
            while self._buffer:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left if left is not None else 0.1)
        return True

    def close(self) -> None:
        with self._cond:
            if self._closing:
                return
            self._closing = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(self.close_timeout)
        with self._cond:
            left = len(self._buffer)
        if left:
            self.dropped += left
            log.error(
                "audit webhook %s: %d event(s) undelivered after %.0fs at close",
                self._where,
                left,
                self.close_timeout,
            )

    # -- delivery ------------------------------------------------------------------
    def _body(self, batch: Sequence[AuditEvent]) -> bytes:
        if self.format == "ndjson":
            return "".join(to_json(e) + "\n" for e in batch).encode("utf-8")
        return ("[" + ",".join(to_json(e) for e in batch) + "]").encode("utf-8")

    def _send(self, batch: Sequence[AuditEvent]) -> str:
        """'ok', 'retry' or 'reject'."""
        try:
            status = self._post(self.url, self._body(batch), self._headers, self.timeout)
        except OSError as exc:
            log.warning(
                "audit webhook %s unreachable (%s); will retry", self._where, type(exc).__name__
            )
            return "retry"
        if 200 <= status < 300:
            return "ok"
        if status >= 500 or status in RETRY_STATUS:
            log.warning("audit webhook %s answered %d; will retry", self._where, status)
            return "retry"
        log.error(
            "audit webhook %s rejected a batch of %d (HTTP %d); dropped",
            self._where,
            len(batch),
            status,
        )
        return "reject"

    def _run(self) -> None:
        failures = 0
        deadline: float | None = None
        while True:
            with self._cond:
                if not self._closing and len(self._buffer) < self.batch_size:
                    self._cond.wait(self.flush_interval)
                if not self._buffer:
                    if self._closing:
                        return
                    continue
                batch = [self._buffer[i] for i in range(min(self.batch_size, len(self._buffer)))]
                if self._closing and deadline is None:
                    deadline = time.monotonic() + self.close_timeout
            outcome = self._send(batch)
            with self._cond:
                if outcome != "retry":
                    for _ in batch:
                        self._buffer.popleft()
                    if outcome == "ok":
                        self.delivered += len(batch)
                    else:
                        self.dropped += len(batch)
                    failures = 0
                    self._cond.notify_all()
                    continue
                self.retries += 1
                failures += 1
                if deadline is not None and time.monotonic() >= deadline:
                    return
                delay = min(self.max_backoff, self.backoff * 2 ** (failures - 1))
                self._cond.wait(delay * (0.5 + random.random() / 2))  # noqa: S311  # jitter

    def __repr__(self) -> str:
        return f"<WebhookSink {self._where} buffered={len(self._buffer)}>"
