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
from sekret.exceptions import ConfigurationError, SekretError

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
    "policy_document",
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
    """Build the backend a URL names (``local:///p``, ``memory://``, ``aws://us-east-1``...).

    Whatever the URL, the caller gets a backend or a ``SekretError``: a URL the
    standard library cannot split (``[`` in the host: "Invalid IPv6 URL", a
    port out of range) is a ``ConfigurationError`` naming the scheme and the
    reason, never the URL itself (it may carry userinfo).
    """
    scheme = scheme_of(url)
    cls = backend_class(scheme)
    try:
        return cls.from_url(url, **options)
    except SekretError:
        raise
    except (ValueError, TypeError, UnicodeError, LookupError) as exc:
        raise _malformed(scheme, exc) from exc


def policy_document(backend: str, root: str, *, access: str = "read", **options: Any) -> str:
    """The least-privilege policy of ``backend`` (a scheme or a backend URL) for ``root``.

    With a URL, everything it says that a policy can use (AWS region and
    ``?account=``, the Azure vault, the Google project, ...) is passed to the
    backend's ``policy`` through its ``policy_options(url)`` classmethod, when
    it has one; explicit ``options`` win over the URL's.
    """
    if "://" not in backend:
        return backend_class(backend.lower()).policy(root, access=access, **options)
    scheme = scheme_of(backend)
    cls = backend_class(scheme)
    from_url = getattr(cls, "policy_options", None)
    try:
        found = dict(from_url(backend)) if from_url is not None else {}
    except SekretError:
        raise
    except (ValueError, TypeError, UnicodeError, LookupError) as exc:
        raise _malformed(scheme, exc) from exc
    return cls.policy(root, access=access, **{**found, **options})


def _malformed(scheme: str, exc: Exception) -> ConfigurationError:
    """The error for a URL a library could not parse; the URL itself is never shown."""
    reason = str(exc) if str(exc) in _PLAIN else type(exc).__name__
    return ConfigurationError(
        f"backend URL for scheme {scheme!r} is malformed ({reason});"
        f" expected e.g. {_EXAMPLES.get(scheme, scheme + '://...')}"
    )


# Library messages shown as they are (short, no URL text in them).
_PLAIN = frozenset({"Invalid IPv6 URL", "Port out of range 0-65535"})
_EXAMPLES = {
    "aws": "aws://eu-west-1",
    "azure": "azure://my-vault.vault.azure.net",
    "gcp": "gcp://my-project",
    "vault": "vault+https://vault.example:8200/secret",
    "local": "local:///var/lib/app/secrets.db",
    "env": "env://",
}
