"""The backend registry (sekret.backends): schemes, entry points and plugins."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points

import pytest

from sekret import BackendNotInstalled, ConfigurationError
from sekret.backends import BUILTIN, available_backends, backend_class, scheme_of
from sekret.backends.memory import MemoryBackend


def test_builtin_table_mirrors_the_entry_points() -> None:
    """Every built-in scheme is also declared in the sekret.backends entry-point group."""
    declared = {ep.name: ep.value for ep in entry_points(group="sekret.backends")}
    assert {k: declared.get(k) for k in BUILTIN} == BUILTIN
    assert set(BUILTIN) <= set(available_backends())


def test_scheme_of_urls() -> None:
    """The scheme is the part before '://', without a '+transport' suffix, lower-cased."""
    assert scheme_of("vault+https://vault:8200/secret") == "vault"
    assert scheme_of("LOCAL:///x.db") == "local"
    with pytest.raises(ConfigurationError):
        scheme_of("/var/lib/secrets.db")


def test_resolving_a_builtin_reads_no_package_metadata() -> None:
    """Opening a built-in backend does not import importlib.metadata (a ~50 ms scan)."""
    code = (
        "import sys; from sekret import Secrets; Secrets('memory://', app='a', environment='e');"
        "print('importlib.metadata' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_unknown_scheme_lists_the_known_ones() -> None:
    """An unknown scheme is a ConfigurationError naming the registered schemes."""
    with pytest.raises(ConfigurationError, match="memory"):
        backend_class("nosuch")


def test_plugin_from_entry_points(monkeypatch: pytest.MonkeyPatch) -> None:
    """A scheme that is not built in loads from its entry point; a broken one names the extra."""
    import sekret.backends as registry

    class _EP:
        def __init__(self, value: str, error: bool = False) -> None:
            self.value = value
            self.error = error

        def load(self) -> object:
            if self.error:
                raise ImportError("no module named 'vendor_sdk'", name="vendor_sdk")
            return MemoryBackend

    monkeypatch.setattr(
        registry.BACKENDS,
        "entry_points",
        lambda: {"acme": _EP("acme:Backend"), "broken": _EP("x", True)},
    )
    assert backend_class("acme") is MemoryBackend
    with pytest.raises(BackendNotInstalled, match=r"sekret\[broken\]"):
        backend_class("broken")
