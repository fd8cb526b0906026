"""scripts/mutation.py's checked-in equivalents name mutants of the current source."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def mutation() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutation_script", ROOT / "scripts/mutation.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_every_equivalent_names_a_mutant_of_the_current_source(mutation: ModuleType) -> None:
    """Each listed equivalent (module, line, mutation[, col]) is a mutant the script makes today.

    An entry names a line of the current source: when code moves, its entries must move
    with it, or they would excuse a different mutant (or none) from the score.
    """
    entries = tomllib.loads((ROOT / "scripts/mutation-equivalent.toml").read_text())["mutant"]
    assert entries
    made: dict[str, set[tuple[int, int, str]]] = {}
    stale = []
    for entry in entries:
        module = entry["module"]
        assert module in mutation.SCOPE, f"{module} has no test scope"
        assert entry["reason"].strip(), f"{module}:{entry['line']} gives no reason"
        if module not in made:
            source = (ROOT / "src" / module).read_text()
            made[module] = {(m.line, m.col, m.kind) for m in mutation.generate(source)}
        found = {
            col
            for line, col, kind in made[module]
            if line == entry["line"] and kind == entry["mutation"]
        }
        if not found or ("col" in entry and entry["col"] not in found):
            stale.append(f"{module}:{entry['line']} {entry['mutation']}")
    assert stale == []
