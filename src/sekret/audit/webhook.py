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

One connection is kept open between batches (HTTP keep-alive): through
urllib3 when it is installed, else ``http.client``; a connection the
collector closed is reopened once. On 429 and 503 a ``Retry-After`` header
(seconds or an HTTP date, capped at ``max_retry_after``) sets the wait before
the retry when it is longer than the backoff.

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
from typing import Any, Literal
from urllib.parse import urlsplit

from sekret.audit.events import AuditEvent
from sekret.audit.sinks import to_json
from sekret.exceptions import AuditError, ConfigurationError

__all__ = ["WebhookSink"]

log = logging.getLogger("sekret.audit")

Answer = int | tuple[int, str | None]
"""An HTTP status, or (status, the Retry-After header if any)."""
Post = Callable[[str, bytes, Mapping[str, str], float], Answer]
RETRY_STATUS = frozenset({408, 429})
RETRY_AFTER_STATUS = frozenset({429, 503})
Client = Literal["auto", "urllib3", "stdlib"]


def retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date)."""
    if value is None:
        return None
    text = value.strip()
    if text.isdigit():
        return float(text)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


class StdlibPost:
    """POST over one kept-alive ``http.client`` connection (reopened when it broke)."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._https = parts.scheme == "https"
        self._host = parts.hostname or ""
        self._port = parts.port
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._conn: Any = None
        self.connections = 0

    def _open(self, timeout: float) -> Any:
        import http.client

        if self._https:
            import ssl

            return http.client.HTTPSConnection(
                self._host, self._port, timeout=timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self._host, self._port, timeout=timeout)

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Answer:
        import http.client

        for attempt in (1, 2):
            fresh = self._conn is None
            if fresh:
                self._conn = self._open(timeout)
                self.connections += 1
            try:
                self._conn.request("POST", self._path, body=body, headers=dict(headers))
                response = self._conn.getresponse()
                response.read()
                if response.will_close:
                    self.close()
                return int(response.status), response.getheader("Retry-After")
            except (OSError, http.client.HTTPException) as exc:
                self.close()
                if fresh or attempt == 2:  # only a reused connection may have gone stale
                    if isinstance(exc, OSError):
                        raise
                    raise ConnectionError(type(exc).__name__) from exc
        raise ConnectionError("unreachable")  # pragma: no cover  # the loop returns or raises

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Urllib3Post:
    """POST through a one-connection urllib3 pool (keep-alive, certificate checks)."""

    def __init__(self, url: str) -> None:
        import urllib3

        self._pool = urllib3.connection_from_url(url, maxsize=1, block=False)
        parts = urlsplit(url)
        self._path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        self._errors: tuple[type[BaseException], ...] = (urllib3.exceptions.HTTPError,)

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Answer:
        try:
            response = self._pool.urlopen(
                "POST",
                self._path,
                body=body,
                headers=dict(headers),
                timeout=timeout,
                retries=1,  # reopen a connection the collector closed, once
                redirect=False,
            )
        except self._errors as exc:
            raise ConnectionError(type(exc).__name__) from exc
        return int(response.status), response.headers.get("Retry-After")

    @property
    def connections(self) -> int:
        return int(self._pool.num_connections)

    def close(self) -> None:
        self._pool.close()


def make_post(url: str, client: Client = "auto") -> StdlibPost | Urllib3Post:
    """The keep-alive poster: urllib3 when installed (or asked for), else http.client."""
    if client == "stdlib":
        return StdlibPost(url)
    try:
        return Urllib3Post(url)
    except ImportError:
        if client == "urllib3":
            raise ConfigurationError(
                "the webhook sink's urllib3 client needs urllib3: pip install urllib3"
            ) from None
        return StdlibPost(url)


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
        max_retry_after: float = 300.0,
        format: Literal["json", "ndjson"] = "json",  # the natural option name
        client: Client = "auto",
        post: Post | None = None,
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError("webhook sink URL must be http:// or https:// with a host")
        if client not in ("auto", "urllib3", "stdlib"):
            raise ConfigurationError(
                f"webhook client must be auto, urllib3 or stdlib, not {client!r}"
            )
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
        self.max_retry_after = max_retry_after
        self._poster = None if post is not None else make_post(url, client)
        self._post: Post = post or self._poster  # type: ignore[assignment]
        self.last_delay: float | None = None
        """The wait before the last retry (seconds): backoff, or Retry-After when longer."""
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
        if self._poster is not None and (thread is None or not thread.is_alive()):
            self._poster.close()
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

    def _send(self, batch: Sequence[AuditEvent]) -> tuple[str, float | None]:
        """('ok' | 'retry' | 'reject', seconds the collector asked us to wait)."""
        try:
            answer = self._post(self.url, self._body(batch), self._headers, self.timeout)
        except OSError as exc:
            log.warning(
                "audit webhook %s unreachable (%s); will retry", self._where, type(exc).__name__
            )
            return "retry", None
        status, header = answer if isinstance(answer, tuple) else (answer, None)
        if 200 <= status < 300:
            return "ok", None
        if status >= 500 or status in RETRY_STATUS:
            wait = retry_after(header) if status in RETRY_AFTER_STATUS else None
            log.warning("audit webhook %s answered %d; will retry", self._where, status)
            return "retry", None if wait is None else min(wait, self.max_retry_after)
        log.error(
            "audit webhook %s rejected a batch of %d (HTTP %d); dropped",
            self._where,
            len(batch),
            status,
        )
        return "reject", None

    def delay(self, failures: int, wait: float | None, jitter: float) -> float:
        """The wait before retry number ``failures``: backoff with jitter, or Retry-After."""
        base = min(self.max_backoff, self.backoff * 2.0 ** (failures - 1))
        backoff = float(base) * (0.5 + jitter / 2)
        return backoff if wait is None else max(backoff, wait)

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
            outcome, wait = self._send(batch)
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
                self.last_delay = self.delay(failures, wait, random.random())  # noqa: S311
                self._cond.wait(self.last_delay)

    def __repr__(self) -> str:
        return f"<WebhookSink {self._where} buffered={len(self._buffer)}>"
