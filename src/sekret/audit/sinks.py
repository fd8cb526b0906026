"""Audit sinks: where processed events go.

A sink is any object with ``emit(events)`` and ``close()`` (the ``Sink``
protocol). ``emit`` either records the whole batch or raises; the audit log
decides what a failure means (fail closed or fail open). Built-ins:

* ``CaptureSink``  in memory, for tests and tools;
* ``StdoutSink``   one JSON object per line on stdout (containers, twelve-factor);
* ``LoggingSink``  Python ``logging`` (logger ``sekret.audit``);
* ``SyslogSink``   RFC 5424 over UDP or a unix datagram socket;
* ``FileSink``     JSON lines, size rotation, fsync policy, hash chain (``sekret.audit.jsonfile``);
* ``WebhookSink``  HTTP batches with retry (``sekret.audit.webhook``).

Third-party sinks register under the entry-point group ``sekret.audit_sinks``;
``open_sink(name, **options)`` builds one by name. A sink must never write a
credential it was configured with (webhook headers, syslog address secrets).
"""

from __future__ import annotations

import json
import logging
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import IO, Any, Final, Protocol, runtime_checkable

from sekret._plugins import Registry
from sekret.audit.events import AuditEvent
from sekret.exceptions import AuditError, ConfigurationError

__all__ = [
    "GROUP",
    "CaptureSink",
    "LoggingSink",
    "Sink",
    "StdoutSink",
    "SyslogSink",
    "open_sink",
]

GROUP: Final = "sekret.audit_sinks"


@runtime_checkable
class Sink(Protocol):
    """Records batches of events. ``emit`` raises if it could not record the batch."""

    def emit(self, events: Sequence[AuditEvent]) -> None: ...

    def close(self) -> None: ...


_ENCODER: Final = json.JSONEncoder(separators=(",", ":"), default=str, ensure_ascii=False)


def to_json(event: AuditEvent) -> str:
    """One event as compact JSON (non-JSON values such as datetimes become strings)."""
    return _ENCODER.encode(event)


class CaptureSink:
    """Keeps every event in ``events`` (a list); for tests and tools.

    >>> sink = CaptureSink()
    >>> sink.emit([{"action": "secret.read"}]); [e["action"] for e in sink.events]
    ['secret.read']
    """

    def __init__(self) -> None:
        self.events: list[AuditEvent] = []
        self._lock = threading.Lock()
        self.closed = False

    def emit(self, events: Sequence[AuditEvent]) -> None:
        with self._lock:
            self.events.extend(dict(e) for e in events)

    def actions(self) -> list[str]:
        """The actions recorded so far, in order."""
        with self._lock:
            return [str(e.get("action")) for e in self.events]

    def clear(self) -> None:
        with self._lock:
            self.events.clear()

    def close(self) -> None:
        self.closed = True

    def __repr__(self) -> str:
        return f"<CaptureSink {len(self.events)} events>"


class StdoutSink:
    """One JSON object per line on ``stream`` (stdout by default), flushed per batch."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self._stream = stream

    def emit(self, events: Sequence[AuditEvent]) -> None:
        stream = self._stream or sys.stdout
        stream.write("".join(to_json(e) + "\n" for e in events))
        stream.flush()

    def close(self) -> None:
        """Nothing to release (the stream is not ours)."""


class LoggingSink:
    """Each event as a JSON message on a ``logging`` logger; the dict is in ``record.audit``.

    Successes log at ``level`` (INFO), failures at ``failure_level`` (WARNING).
    """

    def __init__(
        self,
        logger: str | logging.Logger = "sekret.audit",
        *,
        level: int = logging.INFO,
        failure_level: int = logging.WARNING,
    ) -> None:
        self.logger = logging.getLogger(logger) if isinstance(logger, str) else logger
        self.level = level
        self.failure_level = failure_level

    def emit(self, events: Sequence[AuditEvent]) -> None:
        for event in events:
            level = self.failure_level if event.get("outcome") == "failure" else self.level
            self.logger.log(level, "%s", to_json(event), extra={"audit": dict(event)})

    def close(self) -> None:
        """Nothing to release."""


# -- syslog (RFC 5424) -----------------------------------------------------------
SD_ID: Final = "sekret@32473"  # 32473: the enterprise number RFC 5612 reserves for examples
FACILITY_AUTHPRIV: Final = 10
SEVERITY_INFO: Final = 6
SEVERITY_WARNING: Final = 4
_SD_FIELDS: Final = ("outcome", "secret", "version", "stage", "backend")


def _sd_escape(value: object) -> str:
    text = str(value)
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def _printable(text: str, limit: int) -> str:
    cleaned = "".join(c if 33 <= ord(c) <= 126 else "_" for c in text)
    return cleaned[:limit] or "-"


def format_rfc5424(
    event: AuditEvent, *, facility: int, hostname: str, app_name: str, procid: str
) -> bytes:
    """``<PRI>1 TIMESTAMP HOST APP PROCID MSGID [sekret@32473 ...] BOM{json}``."""
    severity = SEVERITY_WARNING if event.get("outcome") == "failure" else SEVERITY_INFO
    stamp = str(event.get("time") or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    params = " ".join(
        f'{k}="{_sd_escape(event[k])}"' for k in _SD_FIELDS if event.get(k) is not None
    )
    sd = f"[{SD_ID} {params}]" if params else "-"
    header = (
        f"<{facility * 8 + severity}>1 {stamp} {_printable(hostname, 255)} "
        f"{_printable(app_name, 48)} {_printable(procid, 128)} "
        f"{_printable(str(event.get('action', '-')), 32)} {sd} "
    )
    return header.encode("utf-8") + b"\xef\xbb\xbf" + to_json(event).encode("utf-8")


class SyslogSink:
    """RFC 5424 messages to a syslog daemon: ``("host", port)`` over UDP, or a unix socket path.

    Structured data ``[sekret@32473 outcome=... secret=...]`` carries the fields a
    SIEM indexes; the message body is the full event as JSON.
    """

    def __init__(
        self,
        address: tuple[str, int] | str = "/dev/log",
        *,
        facility: int = FACILITY_AUTHPRIV,
        app_name: str = "sekret",
        hostname: str | None = None,
    ) -> None:
        self.address = address
        self.facility = facility
        self.app_name = app_name
        import socket  # lazy: only the syslog sink needs it

        self.hostname = hostname or socket.gethostname()
        family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
        try:
            self._sock = socket.socket(family, socket.SOCK_DGRAM)
        except OSError as exc:
            raise ConfigurationError(f"cannot open a syslog socket: {exc.strerror}") from exc
        self._lock = threading.Lock()

    def emit(self, events: Sequence[AuditEvent]) -> None:
        import os

        procid = str(os.getpid())
        with self._lock:
            for event in events:
                message = format_rfc5424(
                    event,
                    facility=self.facility,
                    hostname=self.hostname,
                    app_name=self.app_name,
                    procid=procid,
                )
                try:
                    self._sock.sendto(message, self.address)
                except OSError as exc:
                    raise AuditError(
                        f"syslog {self.address!r} did not take the event: {exc.strerror}"
                    ) from exc

    def close(self) -> None:
        self._sock.close()

    def __repr__(self) -> str:
        return f"<SyslogSink {self.address!r}>"


# -- plugins -----------------------------------------------------------------------
_BUILTIN: Final = {
    "capture": "sekret.audit.sinks:CaptureSink",
    "stdout": "sekret.audit.sinks:StdoutSink",
    "logging": "sekret.audit.sinks:LoggingSink",
    "syslog": "sekret.audit.sinks:SyslogSink",
    "file": "sekret.audit.jsonfile:FileSink",
    "webhook": "sekret.audit.webhook:WebhookSink",
}


SINKS: Final = Registry(GROUP, _BUILTIN, what="audit sink")
"""The sink registry (the one plugin registry: entry points scanned once per process)."""


def available_sinks() -> list[str]:
    """Names usable with ``open_sink``: built-ins plus ``sekret.audit_sinks`` plugins."""
    return SINKS.names()


def open_sink(name: str, **options: Any) -> Sink:
    """Build the sink registered as ``name``: ``open_sink("file", path="audit.log")``."""
    factory, _ = SINKS.load(name)
    if not callable(factory):
        raise ConfigurationError(f"audit sink {name!r} is not a sink factory")
    sink = factory(**options)
    if not isinstance(sink, Sink):
        raise ConfigurationError(f"audit sink {name!r} lacks emit()/close()")
    return sink
