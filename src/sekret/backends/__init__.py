"""Backend registry: URL scheme -> backend class, through entry points.

Built-in backends register under the entry-point group ``sekret.backends``
exactly as third-party plugins do (see ``pyproject.toml``), so there is one
path. A URL's scheme picks the backend: ``vault+https://...`` uses the
``vault`` entry; the rest of the URL is the backend's to parse.

Nothing here imports a backend module until it is asked for.
"""

from __future__ import annotations

import functools
from typing import Any

from sekret.backends.base import ABSENT, Backend, Capability
from sekret.exceptions import BackendNotInstalled, ConfigurationError

__all__ = ["ABSENT", "Backend", "Capability", "available_backends", "backend_class", "open_backend"]

GROUP = "sekret.backends"


@functools.cache
def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points  # lazy: costs milliseconds at import

    return {ep.name: ep for ep in entry_points(group=GROUP)}


def available_backends() -> list[str]:
    """The registered scheme names, sorted."""
    return sorted(_entry_points())


def scheme_of(url: str) -> str:
    if "://" not in url:
        raise ConfigurationError(
            f"backend URL {url.split('?')[0][:60]!r} has no scheme; e.g. local:///path/secrets.db"
        )
    return url.split("://", 1)[0].split("+", 1)[0].lower()


def backend_class(scheme: str) -> type[Backend]:
    """The class registered for ``scheme``; raises ConfigurationError if none is."""
    ep = _entry_points().get(scheme)
    if ep is None:
        known = ", ".join(available_backends()) or "none (is sekret installed?)"
        raise ConfigurationError(f"no backend registered for scheme {scheme!r}; known: {known}")
    try:
        cls = ep.load()
    except BackendNotInstalled:
        raise
    except ImportError as exc:
        raise BackendNotInstalled(
            f"backend {scheme!r} could not be imported ({exc.name or exc}):"
            f' pip install "sekret[{scheme}]"'
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise ConfigurationError(f"entry point {scheme!r} is not a sekret Backend: {ep.value}")
    return cls


def open_backend(url: str, **options: Any) -> Backend:
    """Build the backend a URL names (``local:///p``, ``memory://``, ``aws://us-east-1``...)."""
    return backend_class(scheme_of(url)).from_url(url, **options)
