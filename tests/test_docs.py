"""Every shell and Python block in README.md and docs/**/*.md runs (the docs cannot drift).

How a page is run
    Blocks run top to bottom, as a reader would: one fresh temporary folder
    per page (the current folder of every block), one Python namespace per
    page (a later block may use a name an earlier one defined), one shell
    state per block. ``HOME`` is the folder; ``SEKRET_APP=arrwdb``,
    ``SEKRET_ENV=development`` and ``SEKRET_BACKEND=local://<folder>/.sekret/secrets.db``
    (the CLI's default store) are set; the example variables ``COHERE_API_KEY``,
    ``NEW_KEY`` and ``DB_PASSWORD`` hold generated values; the ``sekret`` and
    ``python`` commands on ``PATH`` run this checkout. A page that runs
    ``sekret init`` starts with an empty folder (it creates the store itself);
    every other page finds the store initialized, with ``cohere-api-key``,
    ``database`` (JSON) and ``tls-key`` (bytes) seeded for ``arrwdb`` in
    ``development`` and ``production``.

Which blocks run
    Fences tagged ``python``/``py`` run with ``exec``; ``sh``/``bash``/``shell``
    run in ``bash -e``; a ``console`` block runs its ``$ `` lines. Anything else
    (``text``, ``toml``, ``json``, ``hcl``, no tag) is not run. A block that
    cannot run here (it needs a server, a cloud account, the network, or is a
    fragment) is preceded by the marker ``<!-- not-run: reason -->`` on the
    line before the fence (blank lines between are allowed); the reason is
    required.

A shell block that installs packages (``pip install``) must carry a marker:
the suite never reaches a package index.

The harness never prints a value: a failure shows the block's location and
the command's exit code and stderr (the seeded values are leak-check sentinels).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import types
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sekret import Secrets
from sekret.backends.local import init_store
from sekret.testing import sentinel_value

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").rglob("*.md")])
PYTHON = frozenset({"python", "py", "python3"})
SHELL = frozenset({"sh", "bash", "shell", "console"})
FENCE = re.compile(r"^(?P<indent>\s*)(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)")
NOT_RUN = re.compile(r"<!--\s*not-run:\s*(?P<reason>\S.*?)\s*-->")
TIMEOUT = 120
EXAMPLE_VARIABLES = ("COHERE_API_KEY", "NEW_KEY", "DB_PASSWORD")


@dataclass(frozen=True)
class Block:
    """One fenced block of a page."""

    page: Path
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    skip_reason: str | None

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT).as_posix()}:{self.line}"


def _marker_before(lines: list[str], index: int) -> str | None:
    """The not-run reason on the nearest non-blank line above ``lines[index]``."""
    for above in range(index - 1, -1, -1):
        text = lines[above].strip()
        if not text:
            continue
        found = NOT_RUN.search(text)
        return found.group("reason") if found else None
    return None


def parse_blocks(page: Path) -> list[Block]:
    """Every fenced block of ``page`` (runnable or not), in order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        fence, indent = opening.group("fence"), len(opening.group("indent"))
        body: list[str] = []
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            body.append(lines[j][indent:] if lines[j][:indent].isspace() else lines[j])
            j += 1
        lang = opening.group("lang").lower()
        blocks.append(Block(page, i + 1, lang, "\n".join(body) + "\n", _marker_before(lines, i)))
        i = j + 1
    return blocks


def _runnable() -> list[Block]:
    return [b for page in PAGES for b in parse_blocks(page) if b.lang in PYTHON | SHELL]


def _seed(folder: Path) -> None:
    store = folder / ".sekret" / "secrets.db"
    init_store(store)
    for env in ("development", "production"):
        with Secrets(f"local://{store}", app="arrwdb", environment=env, cache=False) as s:
            s.put("cohere-api-key", sentinel_value())
            for json_name in ("database", "db-credentials"):
                s.put(json_name, {"username": "arrwdb", "password": sentinel_value()})
            s.put("tls-key", sentinel_value().encode())


def _shim(folder: Path) -> Path:
    """A ``bin/`` folder whose ``sekret`` and ``python`` run this checkout."""
    bin_dir = folder / ".docs-bin"
    bin_dir.mkdir()
    src = ROOT / "src"
    (bin_dir / "sekret").write_text(
        f'#!/bin/sh\nPYTHONPATH="{src}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{sys.executable}"'
        ' -c "import sys; from sekret.cli import main; sys.exit(main())" "$@"\n'
    )
    for name in ("python", "python3"):
        (bin_dir / name).write_text(
            f'#!/bin/sh\nPYTHONPATH="{src}${{PYTHONPATH:+:$PYTHONPATH}}"'
            f' exec "{sys.executable}" "$@"\n'
        )
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    return bin_dir


@dataclass
class Page:
    """The state one page's blocks share."""

    folder: Path
    environ: dict[str, str]
    namespace: dict[str, Any]


_PAGES: dict[Path, Page] = {}


@pytest.fixture
def page_state(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Page:
    block: Block = request.param
    state = _PAGES.get(block.page)
    if state is None:
        folder = tmp_path_factory.mktemp("docs")
        if not any(
            "sekret init" in b.code and b.skip_reason is None for b in parse_blocks(block.page)
        ):
            _seed(folder)
        bin_dir = _shim(folder)
        environ = {k: v for k, v in os.environ.items() if not k.startswith("SEKRET_")}
        environ.update(
            {
                "HOME": str(folder),
                "PATH": f"{bin_dir}{os.pathsep}{environ.get('PATH', '')}",
                "SEKRET_APP": "arrwdb",
                "SEKRET_ENV": "development",
                "SEKRET_BACKEND": f"local://{folder / '.sekret' / 'secrets.db'}",
                "COHERE_API_KEY": sentinel_value(),
                "NEW_KEY": sentinel_value(),
                "DB_PASSWORD": sentinel_value(),
            }
        )
        # A real module, so pydantic and dataclasses can resolve the page's annotations.
        module = types.ModuleType(f"sekret_docs_{len(_PAGES)}")
        sys.modules[module.__name__] = module
        state = _PAGES[block.page] = Page(folder, environ, module.__dict__)
    return state


def _shell_code(block: Block) -> str:
    if block.lang != "console":
        return block.code
    return "\n".join(line[2:] for line in block.code.splitlines() if line.startswith("$ ")) + "\n"


def _run_python(block: Block, state: Page, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(state.folder)
    for key, value in state.environ.items():
        if key.startswith("SEKRET_") or key in EXAMPLE_VARIABLES or key == "HOME":
            monkeypatch.setenv(key, value)
    code = compile(textwrap.dedent(block.code), block.id, "exec")
    exec(code, state.namespace)  # noqa: S102  # the documentation's own code, on purpose


def _run_shell(block: Block, state: Page) -> None:
    if re.search(r"\bpip3?\s+install\b", block.code):
        pytest.fail(f"{block.id}: installs packages; mark it <!-- not-run: reason -->")
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", _shell_code(block)],
        cwd=state.folder,
        env=state.environ,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        pytest.fail(
            f"{block.id}: the shell block exited {done.returncode}\n{done.stderr[-2000:]}",
            pytrace=False,
        )


@pytest.mark.parametrize(
    "page_state", [pytest.param(b, id=b.id) for b in _runnable()], indirect=True
)
def test_doc_block_runs(
    page_state: Page, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each Python and shell block of the docs runs without error (or says why it cannot)."""
    block: Block = request.node.callspec.params["page_state"]
    if block.skip_reason is not None:
        pytest.skip(f"not run: {block.skip_reason}")
    if block.lang in PYTHON:
        _run_python(block, page_state, monkeypatch)
    else:
        _run_shell(block, page_state)


def test_parser_finds_blocks_and_markers(tmp_path: Path) -> None:
    """The parser sees every fence, its language, its line and a not-run marker above it."""
    page = tmp_path / "p.md"
    page.write_text(
        "# t\n\n```python\nx = 1\n```\n\n<!-- not-run: needs Vault -->\n\n```sh\nbao status\n```\n"
        "```text\nplain\n```\n"
    )
    blocks = parse_blocks(page)
    assert [(b.lang, b.line, b.skip_reason) for b in blocks] == [
        ("python", 3, None),
        ("sh", 9, "needs Vault"),
        ("text", 12, None),
    ]
    assert blocks[0].code == "x = 1\n"


def test_every_page_is_collected() -> None:
    """README.md and every page under docs/ are scanned (a new page cannot be missed)."""
    names = {p.relative_to(ROOT).as_posix() for p in PAGES}
    assert "README.md" in names
    assert "docs/getting-started.md" in names
    assert json.dumps(sorted(names))  # stable, printable ids
