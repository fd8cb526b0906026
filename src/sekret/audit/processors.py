"""Processors: small callables ``event -> event | None`` run before the sinks.

A processor may add or change fields; returning ``None`` drops the event.
Configurable processors are small classes that do their setup once in
``__init__`` (structlog style). Processors must never add a secret value.
"""

from __future__ import annotations

import fnmatch
import os
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeAlias

from sekret.audit.events import AuditEvent

__all__ = ["AddFields", "AddHost", "FilterAction", "FilterOutcome", "Processor"]

Processor: TypeAlias = Callable[[AuditEvent], AuditEvent | None]


def _os_user() -> str | None:
    import getpass  # lazy: keeps `import sekret` light

    try:
        return getpass.getuser()
    except (OSError, KeyError, ImportError):  # no passwd entry / no LOGNAME in a container
        return None


class AddHost:
    """Add ``host``, ``pid`` and OS ``user`` to the event's actor (the default processor)."""

    __slots__ = ("host", "user")

    def __init__(self, *, host: str | None = None, user: str | None = None) -> None:
        import socket  # lazy: keeps `import sekret` light

        self.host = host or socket.gethostname()
        self.user = user if user is not None else _os_user()

    def __call__(self, event: AuditEvent) -> AuditEvent:
        actor = event.setdefault("actor", {})
        actor.setdefault("host", self.host)
        actor.setdefault("pid", os.getpid())
        actor.setdefault("user", self.user)
        return event

    def __repr__(self) -> str:
        return f"AddHost(host={self.host!r})"


class AddFields:
    """Add fixed fields (e.g. ``region``, ``service``) to every event."""

    __slots__ = ("fields",)

    def __init__(self, **fields: Any) -> None:
        self.fields = fields

    def __call__(self, event: AuditEvent) -> AuditEvent:
        for key, value in self.fields.items():
            event.setdefault(key, value)
        return event


def _patterns(patterns: Iterable[str] | str | None) -> re.Pattern[str] | None:
    if patterns is None:
        return None
    if isinstance(patterns, str):
        patterns = [patterns]
    return re.compile("|".join(fnmatch.translate(p) for p in patterns))


class FilterAction:
    """Keep events whose action matches ``include`` and not ``exclude`` (glob patterns).

    >>> FilterAction(exclude="secret.read.cached")({"action": "secret.read.cached"}) is None
    True
    """

    __slots__ = ("exclude", "include")

    def __init__(
        self,
        include: Iterable[str] | str | None = None,
        *,
        exclude: Iterable[str] | str | None = None,
    ) -> None:
        self.include = _patterns(include)
        self.exclude = _patterns(exclude)

    def __call__(self, event: AuditEvent) -> AuditEvent | None:
        action = str(event.get("action", ""))
        if self.include is not None and not self.include.match(action):
            return None
        if self.exclude is not None and self.exclude.match(action):
            return None
        return event


class FilterOutcome:
    """Keep only events with one of ``outcomes`` (e.g. ``"failure"`` for an alert sink)."""

    __slots__ = ("outcomes",)

    def __init__(self, *outcomes: str) -> None:
        self.outcomes = frozenset(outcomes)

    def __call__(self, event: AuditEvent) -> AuditEvent | None:
        return event if event.get("outcome") in self.outcomes else None
