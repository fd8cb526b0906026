"""Audit sinks from configuration: the manifest's ``audit = [...]`` entries.

A spec is either a URL string or a table with a ``sink`` key and the sink's
options::

    audit = [
      "stdout",                                  # or "logging"
      "file:///var/log/arrwdb/audit.jsonl",      # also jsonl:///...; ?key=/path/audit.key
      "syslog://127.0.0.1:514",                  # RFC 5424 over UDP; syslog:///dev/log
      "syslog+tcp://relay:514",                  # TCP, RFC 6587 octet counting
      "syslog+tls://relay:6514?ca_file=/etc/ssl/relay.pem",  # TLS, RFC 5425
      "https://collector.example/ingest",        # the webhook sink
      "splunk://...",                            # a plugin sink: open_sink("splunk", url=...)
      { sink = "file", path = "/var/log/a.jsonl", fsync = "always" },
    ]

Query parameters of a URL become options (``?key=...&fsync=always``). Never
put a credential in a spec: a spec is configuration, committed with the code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from sekret.audit._log import AuditLog
from sekret.audit.sinks import DEFAULT_PORTS, Sink, open_sink
from sekret.exceptions import ConfigurationError

__all__ = ["audit_log_from_specs", "sink_from_spec"]

_FACILITIES = {"kern": 0, "user": 1, "daemon": 3, "auth": 4, "syslog": 5, "authpriv": 10}
_FACILITIES.update({f"local{i}": 16 + i for i in range(8)})


def _options(query: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        out[key] = int(value) if value.isdigit() else value
    return out


def _facility(options: dict[str, Any]) -> None:
    facility = options.get("facility")
    if isinstance(facility, str):
        if facility not in _FACILITIES:
            raise ConfigurationError(
                f"unknown syslog facility {facility!r}; use one of {', '.join(_FACILITIES)}"
            )
        options["facility"] = _FACILITIES[facility]


def sink_from_spec(spec: str | Mapping[str, Any]) -> Sink:
    """Build one sink from a manifest spec (see the module docstring)."""
    if not isinstance(spec, str):
        options = dict(spec)
        name = options.pop("sink", None)
        if not isinstance(name, str):
            raise ConfigurationError("an audit sink table needs a 'sink' name")
        if name == "syslog":
            _facility(options)
            if isinstance(options.get("address"), list):  # TOML has no tuples
                host, port = options["address"]
                options["address"] = (str(host), int(port))
        return open_sink(name, **options)
    if "://" not in spec:
        return open_sink(spec)
    parts = urlsplit(spec)
    options = _options(parts.query)
    scheme = parts.scheme.lower()
    if scheme in ("file", "jsonl"):
        path = parts.netloc + parts.path  # file://logs/a.jsonl is relative, as local:// is
        if not path:
            raise ConfigurationError(f"audit sink {spec[:80]!r} has no path")
        return open_sink("file", path=path, **options)
    if scheme in ("syslog", "syslog+udp", "syslog+tcp", "syslog+tls"):
        _facility(options)
        transport = scheme.partition("+")[2] or ("udp" if parts.netloc else "unix")
        port = parts.port or DEFAULT_PORTS.get(transport, 514)
        address: tuple[str, int] | str = (
            (parts.hostname or "127.0.0.1", port) if parts.netloc else parts.path
        )
        return open_sink("syslog", address=address, transport=transport, **options)
    if scheme in ("http", "https"):
        if parts.username or parts.password:
            raise ConfigurationError("an audit webhook URL must not carry credentials")
        return open_sink("webhook", url=spec.split("?", 1)[0] if options else spec, **options)
    return open_sink(scheme, url=spec, **options)  # a plugin sink named by its scheme


def audit_log_from_specs(specs: Iterable[str | Mapping[str, Any]], **options: Any) -> AuditLog:
    """An ``AuditLog`` writing to every sink the specs name."""
    return AuditLog([sink_from_spec(s) for s in specs], **options)
