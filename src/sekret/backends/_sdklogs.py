"""Keep values out of SDK log records, for sekret's own calls only.

botocore logs whole request and response bodies at DEBUG (``botocore.endpoint``
"Making request ... with params", ``botocore.parsers`` "Response body",
``botocore.auth`` the canonical request); with ``logging.basicConfig(level=DEBUG)``
a ``PutSecretValue`` or ``GetSecretValue`` puts the value in the log. The
Azure and Google SDKs log bodies too when their own logging switches are on
(``logging_enable=True``, gRPC/HTTP tracing).

``SdkLogGuard(prefixes)`` adds one ``logging.Filter`` to every logger whose
name starts with one of ``prefixes`` (a filter on a logger only sees the
records that logger emits, so each one needs it), and ``with guard.quiet():``
marks the current context as "inside a sekret call". The filter drops a
record only while that mark is set: the user's own calls through the same
SDK on other contexts (and in this context outside ``quiet()``) log exactly
as configured; no level, handler or propagation setting is changed.

A backend calls ``install()`` right after it builds its client (botocore has
imported its logging modules by then); loggers an SDK creates later (modules
imported lazily during a request) are picked up by the next ``quiet()``,
which rescans whenever the logger registry has grown.

This module must never import an SDK, and never log.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["SdkLogGuard"]

_INSIDE: contextvars.ContextVar[bool] = contextvars.ContextVar("sekret_sdk_call", default=False)


class _DropInsideSekret(logging.Filter):
    """Drops every record emitted while the current context is inside a sekret SDK call."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _INSIDE.get()


_FILTER = _DropInsideSekret("sekret")


class SdkLogGuard:
    """Silences the SDK loggers under ``prefixes`` during ``quiet()`` blocks only."""

    __slots__ = ("_lock", "_prefixes", "_seen")

    def __init__(self, *prefixes: str) -> None:
        self._prefixes = tuple(prefixes)
        self._lock = threading.Lock()
        self._seen = -1

    def install(self) -> None:
        """Add the filter to every matching logger that exists now (idempotent)."""
        registry = logging.Logger.manager.loggerDict
        with self._lock:
            if len(registry) == self._seen:
                return
            for name in list(registry):
                if any(name == p or name.startswith(p + ".") for p in self._prefixes):
                    logger = logging.getLogger(name)
                    if _FILTER not in logger.filters:
                        logger.addFilter(_FILTER)
            for name in self._prefixes:  # the roots too, even before the SDK creates them
                root = logging.getLogger(name)
                if _FILTER not in root.filters:
                    root.addFilter(_FILTER)
            self._seen = len(registry)

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """A block whose SDK log records are dropped (nested blocks are fine)."""
        if len(logging.Logger.manager.loggerDict) != self._seen:
            self.install()
        token = _INSIDE.set(True)
        try:
            yield
        finally:
            _INSIDE.reset(token)
