"""Mutation testing for the modules that keep secrets safe (issue 21).

For one module, generate small mutants one at a time (a comparison flipped,
a ``raise`` removed, a constant changed, ``and``/``or`` swapped, a statement
dropped, a return value replaced by ``None``, a ``not`` removed), write each
over the module in a temporary COPY of ``src/`` (the working tree is never
touched), run that module's own tests (``SCOPE`` below) with
``pytest -x -q -p no:cacheprovider`` in a subprocess with a timeout, and
record killed / survived / timeout. Mutants listed in
``scripts/mutation-equivalent.toml`` (module, line, mutation, reason) are run
but left out of the score.

    python scripts/mutation.py sekret/_names.py
    python scripts/mutation.py sekret/audit/chain.py --jobs 2 --lines 100-200
    python scripts/mutation.py --all
    python scripts/mutation.py sekret/_files.py --list   # the mutants, no run

Standard library only. Not part of the default CI run: it takes minutes per
module. Results: docs/mutation.md.
"""

from __future__ import annotations

import argparse
import ast
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENT_FILE = ROOT / "scripts" / "mutation-equivalent.toml"

# module (relative to src/) -> the tests that are its own. Fast, most
# specific files first: with -x the first failure ends the run.
SCOPE: dict[str, list[str]] = {
    "sekret/_names.py": ["tests/test_names.py", "tests/backends/test_namemap.py"],
    "sekret/_sealing.py": ["tests/test_sealing.py", "tests/backends/test_local.py"],
    "sekret/backends/base.py": [
        "tests/backends/test_base.py",
        "tests/backends/test_memory.py",
        "tests/backends/test_chain.py",
    ],
    "sekret/audit/chain.py": ["tests/audit/test_chain.py", "tests/cli/test_audit.py"],
    "sekret/cache/__init__.py": [
        "tests/cache/test_cache.py",
        "tests/test_secrets.py",  # Secrets.get reads the cache's entries (hot_path) itself
        "tests/cache/test_stateful.py",
    ],
    "sekret/cache/_flight.py": [
        "tests/cache/test_flight.py",
        "tests/cache/test_cache.py",
        "tests/cache/test_stateful.py",
    ],
    "sekret/cache/_breaker.py": [
        "tests/cache/test_breaker.py",
        "tests/cache/test_cache.py",
        "tests/cache/test_stateful.py",
    ],
    "sekret/cache/_records.py": [
        "tests/cache/test_records.py",
        "tests/cache/test_cache.py",
        "tests/test_secrets.py",
    ],
    "sekret/rotation/engine.py": ["tests/rotation/test_engine.py"],
    # the facades' hit path (Secrets.get / AsyncSecrets.get read the cache's entries)
    "sekret/_secrets.py": [
        "tests/test_secrets.py",
        "tests/test_refs.py",
        "tests/test_expiry.py",
        "tests/audit/test_strict_mode.py",
        "tests/cache/test_cache.py",
    ],
    # the new security code of the other open issues
    "sekret/_files.py": ["tests/test_files.py"],
    # sekret run's child environment, signals and masked output
    "sekret/cli/_child.py": ["tests/cli/test_child.py", "tests/cli/test_run.py"],
    # native-first stages; the interop tests (one OpenBao, 7 s) stand in for
    # tests/backends/test_vault.py, too slow to run once per mutant on 2 cores
    "sekret/backends/vault/_state.py": [
        "tests/backends/test_vault_state.py",
        "tests/backends/test_vault_interop.py",
    ],
}

# Binary operators and their mutants: the negation, plus the boundary shift
# for orderings (< becomes <=): the classic off-by-one.
_COMPARE: dict[type[ast.cmpop], list[type[ast.cmpop]]] = {
    ast.Eq: [ast.NotEq],
    ast.NotEq: [ast.Eq],
    ast.Lt: [ast.GtE, ast.LtE],
    ast.LtE: [ast.Gt, ast.Lt],
    ast.Gt: [ast.LtE, ast.GtE],
    ast.GtE: [ast.Lt, ast.Gt],
    ast.In: [ast.NotIn],
    ast.NotIn: [ast.In],
    ast.Is: [ast.IsNot],
    ast.IsNot: [ast.Is],
}
_SYMBOL = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.In: "in",
    ast.NotIn: "not in",
    ast.Is: "is",
    ast.IsNot: "is not",
}
# Statements whose removal is a mutant ("statement dropped").
_DROPPABLE = (ast.Expr, ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)
_LABEL_ARGUMENTS = frozenset({"what", "source", "where"})  # keyword arguments naming things
_SHORT_STRING = 40  # longer string constants are messages: wording is not behaviour


@dataclass(frozen=True)
class Mutant:
    """One mutation: where (``index`` in ``ast.walk`` order) and what."""

    index: int
    line: int
    col: int
    kind: str  # a short stable label, e.g. "`<` -> `<=`", "drop raise"


@dataclass
class Result:
    mutant: Mutant
    outcome: str  # killed, survived, timeout
    equivalent: str | None = None  # the reason, when listed
    seconds: float = 0.0


@dataclass
class Report:
    module: str
    results: list[Result] = field(default_factory=list)

    def count(self, outcome: str, *, equivalent: bool = False) -> int:
        return sum(
            1
            for r in self.results
            if r.outcome == outcome and (r.equivalent is not None) == equivalent
        )

    @property
    def equivalent(self) -> int:
        return sum(1 for r in self.results if r.equivalent is not None)

    @property
    def score(self) -> float:
        scored = [r for r in self.results if r.equivalent is None]
        if not scored:
            return 100.0
        return 100.0 * sum(r.outcome != "survived" for r in scored) / len(scored)


# --------------------------------------------------------------- generation


def _unmutated_block(node: ast.Assign | ast.If) -> bool:
    """``__all__``, ``__slots__`` (memory, not behaviour) and ``if TYPE_CHECKING:``."""
    if isinstance(node, ast.If):
        return "TYPE_CHECKING" in ast.unparse(node.test)
    return any(isinstance(t, ast.Name) and t.id in ("__all__", "__slots__") for t in node.targets)


def _skipped_nodes(tree: ast.Module) -> set[int]:
    """ids of nodes never mutated: docstrings, annotations, ``__all__``, TYPE_CHECKING."""
    skip: set[int] = set()

    def mark(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(n) for n in ast.walk(node))

    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (
            isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            and body
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Constant)
            and isinstance(body[0].value.value, str)
        ):
            mark(body[0])
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            mark(node)  # an attribute docstring or a bare `...`
        if isinstance(node, ast.arg):
            mark(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            mark(node.returns)
        elif isinstance(node, ast.AnnAssign):
            mark(node.annotation)
        elif isinstance(node, ast.Assign | ast.If) and _unmutated_block(node):
            mark(node)
        elif isinstance(node, ast.JoinedStr):
            mark(node)  # f-strings are messages
        elif isinstance(node, ast.arguments):
            for default in [*node.defaults, *node.kw_defaults]:
                if isinstance(default, ast.Constant) and isinstance(default.value, str):
                    mark(default)  # a default label such as what="file"
        elif isinstance(node, ast.keyword) and node.arg in _LABEL_ARGUMENTS:
            mark(node.value)  # what="audit key file": words for a message
        elif isinstance(node, ast.Raise) and node.exc is not None:
            mark(node.exc)  # the exception's message and class are not mutated
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name | ast.Attribute):
            name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr
            if name in ("TypeVar", "cast", "overload", "getLogger"):
                mark(node)
    return skip


def _mutations(node: ast.AST, parent: ast.AST | None) -> Iterator[tuple[str, object]]:
    """(label, how) for each mutation of ``node``; ``how`` is applied by ``_apply``."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            for new in _COMPARE.get(type(op), []):
                yield f"`{_SYMBOL[type(op)]}` -> `{_SYMBOL[new]}`", ("compare", i, new)
    elif isinstance(node, ast.BoolOp):
        new_op = ast.Or if isinstance(node.op, ast.And) else ast.And
        old = "and" if isinstance(node.op, ast.And) else "or"
        yield f"`{old}` -> `{'or' if old == 'and' else 'and'}`", ("boolop", new_op)
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "remove `not`", ("replace", "operand")
    elif isinstance(node, ast.Raise):
        yield "drop raise", ("pass",)
    elif isinstance(node, ast.Return) and node.value is not None:
        if not (isinstance(node.value, ast.Constant) and node.value.value is None):
            yield "return None", ("return_none",)
    elif isinstance(node, _DROPPABLE) and not (isinstance(node, ast.AnnAssign) and not node.value):
        # Not a docstring, not the only statement of a body (pass keeps it valid).
        yield "drop statement", ("pass",)
    elif isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, bool):
            yield f"`{value}` -> `{not value}`", ("const", not value)
        elif isinstance(value, int):
            yield f"`{value}` -> `{value + 1}`", ("const", value + 1)
            if value not in (0, 1):
                yield f"`{value}` -> `{value - 1}`", ("const", value - 1)
            elif value == 1:
                yield "`1` -> `0`", ("const", 0)
        elif isinstance(value, float):
            new = value * 2 if value else 1.0  # 0.0 * 2 would be no change at all
            yield f"`{value}` -> `{new}`", ("const", new)
        elif isinstance(value, str) and 0 < len(value) <= _SHORT_STRING and not _words(value):
            yield f"string {value!r} changed", ("const", "XX" + value + "XX")
        elif isinstance(value, str) and value == "":
            yield "string '' changed", ("const", "XX")
        elif isinstance(value, bytes) and len(value) <= _SHORT_STRING:
            yield f"bytes {value!r} changed", ("const", b"XX" + value)


def _words(text: str) -> bool:
    """Text for people (``"anchor lacks its epoch"``): a change is wording, not behaviour."""
    return " " in text.strip() and len(text) > 3


def _walk(tree: ast.Module) -> Iterator[tuple[int, ast.AST, ast.AST | None]]:
    """Every node with its index (stable for one source) and its parent."""
    parents: dict[int, ast.AST] = {}
    for node in ast.walk(tree):
        for child in ast.iter_child_nodes(node):
            parents[id(child)] = node
    for index, node in enumerate(ast.walk(tree)):
        yield index, node, parents.get(id(node))


def generate(source: str) -> list[Mutant]:
    """All mutants of ``source``, in source order."""
    tree = ast.parse(source)
    skip = _skipped_nodes(tree)
    found: list[Mutant] = []
    for index, node, parent in _walk(tree):
        if id(node) in skip or isinstance(node, ast.Module):
            continue
        for label, _how in _mutations(node, parent):
            line, col = getattr(node, "lineno", 0), getattr(node, "col_offset", 0)
            found.append(Mutant(index, line, col, label))
    found.sort(key=lambda m: (m.line, m.index, m.kind))
    return found


def _replace(parent: ast.AST, old: ast.AST, new: ast.AST) -> None:
    for name, value in ast.iter_fields(parent):
        if value is old:
            setattr(parent, name, new)
            return
        if isinstance(value, list):
            for i, item in enumerate(value):
                if item is old:
                    value[i] = new
                    return
    raise LookupError("node not found in its parent")


def mutate(source: str, mutant: Mutant) -> str:
    """``source`` with ``mutant`` applied."""
    tree = ast.parse(source)
    for index, node, parent in _walk(tree):
        if index != mutant.index:
            continue
        for label, how in _mutations(node, parent):
            if label != mutant.kind:
                continue
            assert parent is not None
            assert isinstance(how, tuple)
            action = how[0]
            if action == "compare":
                assert isinstance(node, ast.Compare)
                node.ops[how[1]] = how[2]()
            elif action == "boolop":
                assert isinstance(node, ast.BoolOp)
                node.op = how[1]()
            elif action == "replace":
                _replace(parent, node, getattr(node, how[1]))
            elif action == "pass":
                _replace(parent, node, ast.copy_location(ast.Pass(), node))
            elif action == "return_none":
                assert isinstance(node, ast.Return)
                node.value = ast.Constant(None)
            elif action == "const":
                assert isinstance(node, ast.Constant)
                node.value = how[1]
            return ast.unparse(ast.fix_missing_locations(tree)) + "\n"
    raise LookupError(f"mutant {mutant} does not apply to this source")


# ------------------------------------------------------------------ running


Equivalents = dict[tuple[str, int, str], list[tuple[int | None, str]]]


def load_equivalent(path: Path = EQUIVALENT_FILE) -> Equivalents:
    """(module, line, mutation) -> [(column or None for any, reason)] from the checked-in list."""
    found: Equivalents = {}
    if path.exists():
        for e in tomllib.loads(path.read_text(encoding="utf-8"))["mutant"]:
            key = (e["module"], int(e["line"]), e["mutation"])
            found.setdefault(key, []).append((e.get("col"), e["reason"]))
    return found


def equivalent_reason(equivalent: Equivalents, module: str, mutant: Mutant) -> str | None:
    """Why ``mutant`` is listed as equivalent, or None."""
    for col, reason in equivalent.get((module, mutant.line, mutant.kind), []):
        if col is None or col == mutant.col:
            return reason
    return None


# Loading every installed pytest plugin costs more CPU than a module's tests
# often do; these two are all the scoped tests need (retried with all of them
# if the unmutated baseline fails without the others).
_FAST_PLUGINS = ["-p", "pytest_timeout", "-p", "hypothesis.extra.pytestplugin"]


def _run_tests(
    tree: Path, tests: list[str], timeout: float, *, fast: bool = True
) -> tuple[str, float]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(tree / "src")
    env.pop("PYTEST_ADDOPTS", None)
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    if fast:
        env["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
        command += _FAST_PLUGINS
    command += tests
    start = time.monotonic()
    process = subprocess.Popen(
        command,
        cwd=tree,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # its own process group (killed whole on timeout), not its own session:
        # a new session would orphan the group, and the kernel discards SIGTSTP
        # sent to an orphaned group (tests/cli/test_run.py's stop/resume test)
        process_group=0,
    )
    try:
        code = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        return "timeout", time.monotonic() - start
    return ("survived" if code == 0 else "killed"), time.monotonic() - start


def _copy_tree(into: Path) -> Path:
    """A private checkout: src/, tests/ and pyproject.toml copied, the rest linked.

    The tests are copied too, so editing them during a run cannot change its results.
    """
    into.mkdir(parents=True)
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info", ".hypothesis")
    for name in ("src", "tests"):
        shutil.copytree(ROOT / name, into / name, ignore=skip)
    shutil.copy2(ROOT / "pyproject.toml", into / "pyproject.toml")
    for entry in ROOT.iterdir():
        if not (into / entry.name).exists() and not entry.name.startswith("."):
            (into / entry.name).symlink_to(entry)
    return into


def run_module(
    module: str,
    *,
    jobs: int = 1,
    timeout: float | None = None,
    lines: list[tuple[int, int]] | None = None,
    echo: bool = True,
) -> Report:
    """Run every mutant of ``module`` (path relative to src/) against its scoped tests."""
    if not (ROOT / "src" / module).exists():
        raise SystemExit(f"{module} is not in this tree (yet)")
    tests = [t for t in SCOPE[module] if (ROOT / t).exists()]
    if not tests:
        raise SystemExit(f"no test file of {module} exists: {SCOPE[module]}")
    source = (ROOT / "src" / module).read_text(encoding="utf-8")
    mutants = generate(source)
    if lines:
        mutants = [m for m in mutants if any(lo <= m.line <= hi for lo, hi in lines)]
    equivalent = load_equivalent()
    report = Report(module)
    with tempfile.TemporaryDirectory(prefix="sekret-mutation-") as temp:
        trees = [_copy_tree(Path(temp) / f"w{i}") for i in range(max(1, jobs))]
        fast = True
        outcome, baseline = _run_tests(trees[0], tests, timeout=3600)
        if outcome != "survived":
            fast = False
            outcome, baseline = _run_tests(trees[0], tests, timeout=3600, fast=False)
        if outcome != "survived":
            raise SystemExit(f"the tests of {module} fail before any mutation: {tests}")
        limit = timeout or max(60.0, baseline * 5 + 20)  # a busy machine slows survivors
        if echo:
            print(f"{module}: {len(mutants)} mutants, tests {' '.join(tests)}")
            print(f"  baseline {baseline:.1f}s, per-mutant timeout {limit:.0f}s", flush=True)
        free = list(trees)

        def one(mutant: Mutant) -> Result:
            tree = free.pop()
            try:
                target = tree / "src" / module
                target.write_text(mutate(source, mutant), encoding="utf-8")
                cache = target.parent / "__pycache__"
                for stale in cache.glob(target.stem + ".*") if cache.exists() else []:
                    stale.unlink()
                outcome, seconds = _run_tests(tree, tests, limit, fast=fast)
                target.write_text(source, encoding="utf-8")
            finally:
                free.append(tree)
            reason = equivalent_reason(equivalent, module, mutant)
            result = Result(mutant, outcome, reason, seconds)
            if echo:
                mark = "equivalent" if reason else outcome
                where = f"{mutant.line:4d}:{mutant.col:<3d}"
                print(f"  {where} {mutant.kind:40s} {mark} ({seconds:.1f}s)", flush=True)
            return result

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            report.results = list(pool.map(one, mutants))
    return report


def summary(reports: list[Report]) -> str:
    rows = [
        "| module | mutants | killed | timeout | survived | equivalent | score |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in reports:
        rows.append(
            f"| `{r.module}` | {len(r.results)} | {r.count('killed')} | {r.count('timeout')}"
            f" | {r.count('survived')} | {r.equivalent} | {r.score:.0f}% |"
        )
    out = "\n".join(rows)
    for r in reports:
        survivors = [x for x in r.results if x.outcome == "survived" and x.equivalent is None]
        if survivors:
            out += f"\n\nsurvivors in {r.module}:"
            for x in survivors:
                out += f"\n  line {x.mutant.line}:{x.mutant.col}: {x.mutant.kind}"
    return out


def from_log(path: Path) -> list[Report]:
    """Reports rebuilt from the printed output of a run (also of a run stopped midway)."""
    equivalent = load_equivalent()
    reports: list[Report] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        head = re.match(r"(\S+\.py): \d+ mutants", line)
        if head:
            reports.append(Report(head.group(1)))
            continue
        row = re.match(r"\s+(\d+):(\d+)\s+(.+?)\s+(killed|survived|timeout|equivalent) \(", line)
        if row and reports:
            module = reports[-1].module
            number, col, kind, outcome = int(row[1]), int(row[2]), row[3], row[4]
            mutant = Mutant(-1, number, col, kind)
            reason = equivalent_reason(equivalent, module, mutant)
            if outcome == "equivalent":
                outcome = "survived"  # the log does not say; equivalents are unscored anyway
            reports[-1].results.append(Result(mutant, outcome, reason))
    return reports


def _lines(text: str) -> list[tuple[int, int]]:
    """``100-200`` or ``72,85,100-120``: the line ranges to mutate."""
    ranges = []
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        ranges.append((int(first), int(last or first)))
    return ranges


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help="e.g. sekret/_names.py (relative to src/)")
    parser.add_argument("--all", action="store_true", help="every module of the scope table")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1)")
    parser.add_argument("--timeout", type=float, help="seconds per mutant (5x baseline + 20)")
    parser.add_argument("--lines", type=_lines, help="only these lines: 100-200 or 72,85,100-120")
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    parser.add_argument("--from-log", type=Path, help="summarize the saved output of a run")
    args = parser.parse_args(argv)
    if args.from_log:
        print(summary(from_log(args.from_log)))
        return 0
    # A stopped run still removes its temporary trees (SystemExit unwinds the with blocks).
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    modules = (
        [m for m in SCOPE if (ROOT / "src" / m).exists()]
        if args.all
        else [m.removeprefix("src/") for m in args.modules]
    )
    if not modules:
        parser.error("name a module (e.g. sekret/_names.py) or --all")
    for module in modules:
        if module not in SCOPE:
            parser.error(f"{module} is not in the scope table: {', '.join(SCOPE)}")
    if args.list:
        for module in modules:
            source = (ROOT / "src" / module).read_text(encoding="utf-8")
            for m in generate(source):
                if args.lines and not any(lo <= m.line <= hi for lo, hi in args.lines):
                    continue
                print(f"{module}:{m.line}:{m.col}: {m.kind}")
        return 0
    reports = [
        run_module(m, jobs=args.jobs, timeout=args.timeout, lines=args.lines) for m in modules
    ]
    print()
    print(summary(reports))
    return 0 if all(r.count("survived") == 0 for r in reports) else 1


if __name__ == "__main__":
    sys.exit(main())
