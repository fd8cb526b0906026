"""docs/security.md cannot drift: every test it names exists, every attacker names a test.

The threat model promises things "proven by" tests named as
``tests/path.py::test_name``. These checks parse the page, so a renamed or
deleted test, an attacker section without a test, or a module the page names
that no longer exists fails the suite.
"""

from __future__ import annotations

import ast
import importlib
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "security.md"
REFERENCE = re.compile(r"\b(?P<path>tests/[\w/]+\.py)::(?P<test>(?:\w+::)?test_\w+)")
MODULE = re.compile(r"`(?P<dotted>sekret(?:\.\w+)+)`")
ATTACKER = "Attacker:"
EVERYWHERE = "Everywhere:"
REQUIRED_ATTACKERS = (
    "another local account",
    "compromised child process",
    "copy of the store, the backups or the logs",
    "the app's credentials",
    "an operator mistake",
    "a tool beside sekret",
)
PARTS = ("**Promise.**", "**How.**", "**Limits.**", "**Tests.**")


def sections(text: str) -> dict[str, str]:
    """The page's ``## `` sections: heading text to body."""
    found: dict[str, str] = {}
    heading: str | None = None
    body: list[str] = []
    for line in text.splitlines():
        if line.startswith("## "):
            if heading is not None:
                found[heading] = "\n".join(body)
            heading, body = line[3:].strip(), []
        elif heading is not None:
            body.append(line)
    if heading is not None:
        found[heading] = "\n".join(body)
    return found


@cache
def _tests_in(path: Path) -> frozenset[str]:
    """``test_x`` and ``Class::test_x`` for every test function defined in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(f"{node.name}::{item.name}")
    return frozenset(n for n in names if n.rsplit("::", 1)[-1].startswith("test_"))


def missing_references(text: str, root: Path = ROOT) -> list[str]:
    """Every ``tests/...py::test_name`` of ``text`` whose file or function does not exist."""
    missing: list[str] = []
    for found in REFERENCE.finditer(text):
        path = root / found.group("path")
        if not path.is_file() or found.group("test") not in _tests_in(path):
            missing.append(found.group(0))
    return missing


def _resolves(dotted: str) -> bool:
    """True when ``dotted`` is an importable module, or an attribute path inside one."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attribute in parts[cut:]:
            if not hasattr(obj, attribute):
                return False
            obj = getattr(obj, attribute)
        return True
    return False


def test_every_named_test_exists() -> None:
    """Each tests/...py::test_name on the page is a test function defined in that file."""
    text = PAGE.read_text(encoding="utf-8")
    assert REFERENCE.search(text), "the page names no test at all"
    assert missing_references(text) == []


def test_every_attacker_is_covered_and_names_a_test() -> None:
    """The six attackers each have a section with promise, how, limits and at least one test."""
    found = sections(PAGE.read_text(encoding="utf-8"))
    attackers = {h: b for h, b in found.items() if h.startswith(ATTACKER)}
    for required in REQUIRED_ATTACKERS:
        matching = [h for h in attackers if required in h]
        assert len(matching) == 1, f"no single attacker section for {required!r}"
    checked = {h: b for h, b in found.items() if h.startswith((ATTACKER, EVERYWHERE))}
    for heading, body in checked.items():
        assert REFERENCE.search(body), f"section {heading!r} names no test"
        for part in PARTS:
            assert part in body, f"section {heading!r} lacks {part}"


def test_every_named_module_exists() -> None:
    """Each `sekret.x.y` the page names as the enforcing module imports (or is an attribute)."""
    text = PAGE.read_text(encoding="utf-8")
    names = sorted({m.group("dotted") for m in MODULE.finditer(text)})
    assert names, "the page names no module"
    assert [n for n in names if not _resolves(n)] == []


def test_checker_reports_a_renamed_test(tmp_path: Path) -> None:
    """A reference to a test that is not defined (or a file that is missing) is reported."""
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(
        'def test_here():\n    """x."""\n\n# def test_commented_out(): ...\n'
        "class TestGroup:\n    def test_inside(self):\n        pass\n"
    )
    text = (
        "`tests/test_x.py::test_here` `tests/test_x.py::test_gone` "
        "`tests/test_x.py::test_commented_out` `tests/test_x.py::TestGroup::test_inside` "
        "`tests/test_nofile.py::test_here`"
    )
    assert missing_references(text, tmp_path) == [
        "tests/test_x.py::test_gone",
        "tests/test_x.py::test_commented_out",
        "tests/test_nofile.py::test_here",
    ]


def test_section_without_a_test_is_found() -> None:
    """The section parser sees where a section ends, so a test named elsewhere does not count."""
    page = "# t\n\n## Attacker: a\n\nno test here\n\n## Attacker: b\n\n`tests/t.py::test_b`\n"
    found = sections(page)
    assert REFERENCE.search(found["Attacker: a"]) is None
    assert REFERENCE.search(found["Attacker: b"]) is not None


def test_page_is_linked_from_readme_and_checklist() -> None:
    """README.md's documentation list and the security checklist link to the threat model."""
    assert "(docs/security.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
    checklist = (ROOT / "docs" / "security-checklist.md").read_text(encoding="utf-8")
    assert "(security.md)" in checklist
