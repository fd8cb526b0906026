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

from sekret._plugins import Registry
from sekret.backends.base import ABSENT, Backend, Capability
from sekret.exceptions import ConfigurationError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Final

__all__ = [
    "ABSENT",
    "BACKENDS",
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
    "chain": "sekret.backends.chain:ChainBackend",
    "vault": "sekret.backends.vault:VaultBackend",
    "aws": "sekret.backends.aws:AwsBackend",
    "azure": "sekret.backends.azure:AzureBackend",
    "gcp": "sekret.backends.gcp:GcpBackend",
}
"""The built-in schemes and the classes they name (as in the entry points)."""


BACKENDS: Final = Registry(GROUP, BUILTIN, what="backend", extra_for=lambda scheme: scheme)
"""The backend registry (the one plugin registry, see ``sekret._plugins``)."""


def available_backends() -> list[str]:
    """Every registered scheme name, built-in or plugin, sorted."""
    return BACKENDS.names()


def scheme_of(url: str) -> str:
    if "://" not in url:
        raise ConfigurationError(
            f"backend URL {url.split('?')[0][:60]!r} has no scheme; e.g. local:///path/secrets.db"
        )
    return url.split("://", 1)[0].split("+", 1)[0].lower()


def backend_class(scheme: str) -> type[Backend]:
    """The class registered for ``scheme``; raises ConfigurationError if none is."""
    cls, target = BACKENDS.load(scheme)
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise ConfigurationError(f"entry point {scheme!r} is not a sekret Backend: {target}")
    return cls


def open_backend(url: str, **options: Any) -> Backend:
    """Build the backend a URL names (``local:///p``, ``memory://``, ``aws://us-east-1``...)."""
    return backend_class(scheme_of(url)).from_url(url, **options)
