"""Backend registry: URL scheme -> backend class.

Backends register under the entry-point group ``sekret.backends``; sekret's
own are declared there too (``pyproject.toml``), so plugins and built-ins
are listed and documented the same way. A URL's scheme picks the backend:
``vault+https://...`` uses the ``vault`` entry; the rest of the URL is the
backend's to parse.

Resolving a built-in scheme uses ``BUILTIN`` below instead of scanning the
installed packages' metadata: ``importlib.metadata`` alone costs ~50 ms,
paid by every service at start-up. ``BUILTIN`` mirrors the entry points
(a test keeps the two equal), and a plugin cannot shadow a built-in scheme.

Nothing here imports a backend module until it is asked for.
"""

from __future__ import annotations

import functools
import importlib

from sekret.backends.base import ABSENT, Backend, Capability
from sekret.exceptions import BackendNotInstalled, ConfigurationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = [
    "ABSENT",
    "BUILTIN",
    "Backend",
    "Capability",
    "available_backends",
    "backend_class",
    "open_backend",
]

GROUP = "sekret.backends"

BUILTIN = {
    "memory": "sekret.backends.memory:MemoryBackend",
    "local": "sekret.backends.local:LocalBackend",
    "env": "sekret.backends.env:EnvBackend",
    "file": "sekret.backends.file:FileBackend",
    "chain": "sekret.backends.chain:ChainBackend",
    "vault": "sekret.backends.vault:VaultBackend",
    "aws": "sekret.backends.aws:AwsBackend",
    "azure": "sekret.backends.azure:AzureBackend",
    "gcp": "sekret.backends.gcp:GcpBackend",
    "agent": "sekret.backends.agent:AgentBackend",
}
"""The built-in schemes and the classes they name (as in the entry points)."""


@functools.cache
def _entry_points() -> dict[str, Any]:
    from importlib.metadata import entry_points  # lazy: ~50 ms, only for plugins

    return {ep.name: ep for ep in entry_points(group=GROUP)}


def available_backends() -> list[str]:
    """Every registered scheme name, built-in or plugin, sorted."""
    return sorted({*BUILTIN, *_entry_points()})


def scheme_of(url: str) -> str:
    if "://" not in url:
        raise ConfigurationError(
            f"backend URL {url.split('?')[0][:60]!r} has no scheme; e.g. local:///path/secrets.db"
        )
    return url.split("://", 1)[0].split("+", 1)[0].lower()


def _load(scheme: str) -> tuple[object, str]:
    target = BUILTIN.get(scheme)
    if target is not None:
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr), target
    ep = _entry_points().get(scheme)
    if ep is None:
        known = ", ".join(available_backends())
        raise ConfigurationError(f"no backend registered for scheme {scheme!r}; known: {known}")
    return ep.load(), str(ep.value)


def backend_class(scheme: str) -> type[Backend]:
    """The class registered for ``scheme``; raises ConfigurationError if none is."""
    try:
        cls, target = _load(scheme)
    except BackendNotInstalled:
        raise
    except ImportError as exc:
        raise BackendNotInstalled(
            f"backend {scheme!r} could not be imported ({exc.name or exc}):"
            f' pip install "sekret[{scheme}]"'
        ) from exc
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise ConfigurationError(f"entry point {scheme!r} is not a sekret Backend: {target}")
    return cls


def open_backend(url: str, **options: Any) -> Backend:
    """Build the backend a URL names (``local:///p``, ``memory://``, ``aws://us-east-1``...)."""
    return backend_class(scheme_of(url)).from_url(url, **options)
