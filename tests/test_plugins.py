"""The one plugin registry behind backends, audit sinks and rotators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import sekret
from sekret import BackendNotInstalled, ConfigurationError
from sekret._plugins import Registry


class _EP:
    def __init__(self, value: str, error: bool = False) -> None:
        self.value = value
        self.error = error

    def load(self) -> object:
        if self.error:
            raise ImportError("no module named 'vendor_sdk'", name="vendor_sdk")
        return dict


def test_builtin_resolves_without_scanning(monkeypatch: pytest.MonkeyPatch) -> None:
    """A built-in name loads from the table; entry points are never scanned for it."""
    registry = Registry("sekret.test", {"ordered": "collections:OrderedDict"}, what="thing")

    def boom() -> dict[str, Any]:
        raise AssertionError("scanned")

    monkeypatch.setattr(registry, "entry_points", boom)
    obj, target = registry.load("ordered")
    assert target == "collections:OrderedDict"
    assert obj.__name__ == "OrderedDict"  # type: ignore[attr-defined]


def test_entry_points_are_scanned_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plugins come from the group, scanned once per registry however often names load."""
    import importlib.metadata

    calls: list[str] = []

    def fake(*, group: str) -> list[Any]:
        calls.append(group)
        ep = _EP("acme:thing")
        ep.name = "acme"  # type: ignore[attr-defined]
        return [ep]

    monkeypatch.setattr(importlib.metadata, "entry_points", fake)
    registry = Registry("sekret.test", {}, what="thing")
    for _ in range(3):
        assert registry.load("acme")[0] is dict
    assert registry.names() == ["acme"]
    assert calls == ["sekret.test"]


def test_unknown_and_broken_names_are_sekret_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unknown: ConfigurationError listing names. Import failure: BackendNotInstalled + extra."""
    registry = Registry("sekret.test", {}, what="rotator", extra_for=lambda n: f"x-{n}")
    monkeypatch.setattr(registry, "entry_points", lambda: {"broken": _EP("x", True)})
    with pytest.raises(ConfigurationError, match="no rotator registered as 'nope'; known: broken"):
        registry.load("nope")
    with pytest.raises(BackendNotInstalled, match=r"vendor_sdk.*sekret\[x-broken\]"):
        registry.load("broken")


def test_backends_sinks_and_rotators_share_the_registry() -> None:
    """The three plugin kinds are instances of the one Registry class."""
    from sekret.audit.sinks import SINKS
    from sekret.backends import BACKENDS
    from sekret.rotation.rotators import ROTATORS

    assert all(isinstance(r, Registry) for r in (BACKENDS, SINKS, ROTATORS))


def _modules_with(text: str) -> list[str]:
    root = Path(sekret.__file__).parent
    return sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if text in path.read_text(encoding="utf-8")
    )


def test_only_the_registry_scans_entry_points_or_builds_import_errors() -> None:
    """Entry points are scanned and BackendNotInstalled built in _plugins and require_extra only."""
    assert _modules_with("entry_points(group=") == ["_plugins.py"]
    assert _modules_with("raise BackendNotInstalled(") == ["_plugins.py", "backends/base.py"]


def test_sekret_imports_optional_modules_through_require_extra() -> None:
    """No sekret module calls the old ``require`` alias; every optional import names its extra."""
    assert _modules_with(" require(") == []
    assert _modules_with("import require\n") == []
