"""Audit sinks: where processed events go.

A sink is any object with ``emit(events)`` and ``close()`` (the ``Sink``
protocol). ``emit`` either records the whole batch or raises; the audit log
decides what a failure means (fail closed or fail open). Built-ins:

* ``CaptureSink``  in memory, for tests and tools;
* ``StdoutSink``   one JSON object per line on stdout (containers, twelve-factor);
* ``LoggingSink``  Python ``logging`` (logger ``sekret.audit``);
* ``SyslogSink``   RFC 5424 over UDP, TCP (RFC 6587), TLS (RFC 5425) or a unix socket;
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
from typing import IO, Any, Final, Literal, Protocol, runtime_checkable

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


Transport = Literal["udp", "tcp", "tls", "unix"]
DEFAULT_PORTS: Final = {"udp": 514, "tcp": 514, "tls": 6514}


class SyslogSink:
    """RFC 5424 messages to a syslog daemon or relay.

    ``address`` is ``("host", port)`` or a unix socket path (``/dev/log``).
    ``transport``: ``"unix"`` (datagram; the default for a path), ``"udp"`` (the
    default for a host), ``"tcp"`` (RFC 6587 octet counting) or ``"tls"``
    (RFC 5425: octet counting over TLS, the server certificate checked
    against ``ca_file`` or the system store; ``cert_file``/``key_file`` for
    mutual TLS). The destination is checked when the sink is built: a missing
    ``/dev/log`` (most containers) or a refused connection is a clear
    ``ConfigurationError`` then, not a failure at every audited read. A broken
    stream connection is reopened once per batch.

    Structured data ``[sekret@32473 outcome=... secret=...]`` carries the fields a
    SIEM indexes; the message body is the full event as JSON.
    """

    def __init__(
        self,
        address: tuple[str, int] | str = "/dev/log",
        *,
        transport: Transport | None = None,
        facility: int = FACILITY_AUTHPRIV,
        app_name: str = "sekret",
        hostname: str | None = None,
        timeout: float = 5.0,
        ca_file: str | None = None,
        cert_file: str | None = None,
        key_file: str | None = None,
        server_hostname: str | None = None,
    ) -> None:
        import socket  # lazy: only the syslog sink needs it

        self.transport: Transport = transport or ("unix" if isinstance(address, str) else "udp")
        if self.transport not in ("udp", "tcp", "tls", "unix"):
            raise ConfigurationError(
                f"syslog transport must be udp, tcp, tls or unix, not {self.transport!r}"
            )
        if (self.transport == "unix") != isinstance(address, str):
            raise ConfigurationError(
                "a syslog unix transport takes a socket path; udp/tcp/tls take (host, port)"
            )
        self.address = address
        self.facility = facility
        self.app_name = app_name
        self.timeout = timeout
        self.hostname = hostname or socket.gethostname()
        self._tls = (ca_file, cert_file, key_file, server_hostname)
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None
        self._connect()

    def _where(self) -> str:
        if isinstance(self.address, str):
            return self.address
        return f"{self.transport}://{self.address[0]}:{self.address[1]}"

    def _connect(self) -> None:
        """Open (and for unix, tcp and tls: connect) the socket; ConfigurationError if not."""
        import socket

        try:
            if isinstance(self.address, str):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                try:
                    sock.connect(self.address)
                except OSError:
                    sock.close()
                    raise
            elif self.transport == "udp":
                host, port = self.address
                family, kind, proto, _, where = socket.getaddrinfo(
                    host, port, type=socket.SOCK_DGRAM
                )[0]
                sock = socket.socket(family, kind, proto)
                sock.connect(where)
            else:
                sock = socket.create_connection(self.address, timeout=self.timeout)
                if self.transport == "tls":
                    sock = self._wrap(sock)
        except OSError as exc:
            raise ConfigurationError(self._unreachable(exc)) from exc
        self._sock = sock

    def _unreachable(self, exc: OSError) -> str:
        reason = exc.strerror or type(exc).__name__
        if isinstance(self.address, str):
            return (
                f"syslog socket {self.address} cannot be used ({reason}); containers "
                "usually run no syslog daemon: use the stdout sink with a log shipper, "
                "or syslog+tcp://host:port"
            )
        return f"syslog {self._where()} cannot be reached ({reason})"

    def _wrap(self, sock: Any) -> Any:
        import ssl

        ca_file, cert_file, key_file, server_hostname = self._tls
        context = ssl.create_default_context(cafile=ca_file)
        if cert_file:
            context.load_cert_chain(cert_file, key_file)
        assert not isinstance(self.address, str)  # tls always has (host, port)
        try:
            return context.wrap_socket(sock, server_hostname=server_hostname or self.address[0])
        except OSError:
            sock.close()
            raise

    def _frame(self, message: bytes) -> bytes:
        if self.transport in ("tcp", "tls"):
            return str(len(message)).encode("ascii") + b" " + message  # RFC 6587 / 5425
        return message

    def emit(self, events: Sequence[AuditEvent]) -> None:
        import os

        procid = str(os.getpid())
        messages = [
            self._frame(
                format_rfc5424(
                    event,
                    facility=self.facility,
                    hostname=self.hostname,
                    app_name=self.app_name,
                    procid=procid,
                )
            )
            for event in events
        ]
        with self._lock:
            if self.transport in ("tcp", "tls"):
                self._send(b"".join(messages))
                return
            for message in messages:
                self._send(message)

    def _send(self, data: bytes) -> None:
        """Send a datagram or stream bytes; a broken unix/tcp/tls socket is reopened once."""
        reopen = self.transport != "udp"
        for attempt in (1, 2):
            try:
                if self._sock is None:
                    self._connect()
                assert self._sock is not None
                self._sock.sendall(data)
                return
            except (OSError, ConfigurationError) as exc:
                if reopen and self._sock is not None:
                    self._sock.close()
                    self._sock = None
                if attempt == 2 or not reopen:
                    reason = getattr(exc, "strerror", None) or type(exc).__name__
                    raise AuditError(
                        f"syslog {self._where()} did not take the event(s): {reason}"
                    ) from exc

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def __repr__(self) -> str:
        return f"<SyslogSink {self._where()}>"


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
