"""One plugin registry for backends, audit sinks and rotators.

A ``Registry`` maps a name to an object named ``"module:attr"``: built-ins
from a table (resolved without touching package metadata, which costs ~50 ms
per process), plugins from an entry-point group, scanned at most once per
process. A plugin cannot shadow a built-in. Every failure is a ``SekretError``
with one shape: an unknown name is a ``ConfigurationError`` listing the known
ones; a module that cannot be imported is ``BackendNotInstalled`` naming the
extra to install when one is known.

This module imports nothing heavy; ``importlib.metadata`` loads only when a
name is not built in (or when every name is listed).
"""

from __future__ import annotations

import importlib

from sekret.exceptions import BackendNotInstalled, ConfigurationError

TYPE_CHECKING = False  # annotations only: keeps typing off the import path of sekret
if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from typing import Any

__all__ = ["Registry"]


class Registry:
    """Names -> objects, from a built-in table and an entry-point group."""

    def __init__(
        self,
        group: str,
        builtin: Mapping[str, str],
        *,
        what: str,
        extra_for: Callable[[str], str | None] | None = None,
    ) -> None:
        self.group = group
        self.builtin = builtin
        self.what = what
        self.extra_for = extra_for
        self._scanned: dict[str, Any] | None = None

    def entry_points(self) -> dict[str, Any]:
        """The group's entry points by name (scanned once per process)."""
        if self._scanned is None:
            from importlib.metadata import entry_points  # lazy: ~50 ms, plugins only

            self._scanned = {ep.name: ep for ep in entry_points(group=self.group)}
        return self._scanned

    def names(self) -> list[str]:
        """Every registered name, built-in or plugin, sorted."""
        return sorted({*self.builtin, *self.entry_points()})

    def load(self, name: str) -> tuple[object, str]:
        """The object registered as ``name`` and its ``module:attr`` target."""
        target = self.builtin.get(name)
        try:
            if target is not None:
                module, _, attr = target.partition(":")
                return getattr(importlib.import_module(module), attr), target
            ep = self.entry_points().get(name)
            if ep is None:
                known = ", ".join(self.names())
                raise ConfigurationError(f"no {self.what} registered as {name!r}; known: {known}")
            return ep.load(), str(ep.value)
        except BackendNotInstalled:
            raise  # already names its extra (require_extra)
        except ImportError as exc:
            extra = self.extra_for(name) if self.extra_for is not None else None
            install = f': pip install "sekret[{extra}]"' if extra else ""
            raise BackendNotInstalled(
                f"{self.what} {name!r} could not be imported ({exc.name or exc}){install}"
            ) from exc

    def __repr__(self) -> str:
        return f"<Registry {self.group}: {len(self.builtin)} built-in>"
