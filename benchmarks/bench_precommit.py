"""The pre-commit hook on a 1,000-file repository: `sekret precommit FILE...` end to end.

Run: ``.venv/bin/python benchmarks/bench_precommit.py`` (prints a markdown
section and writes docs/benchmarks/precommit.md). A git repository of 1,000
source files (~2 KiB each) with a manifest and a local store of 5 secrets;
the hook is run as pre-commit runs it (a new process, every file passed as
an argument), and ``git grep -F`` for the same 5 values is the peer.
"""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sekret._values import SecretValue
from sekret.backends.local import LocalBackend, init_store

OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks" / "precommit.md"
FILES = 1000
ROUNDS = 3
SEKRET = [sys.executable, "-c", "import sys; from sekret.cli import main; sys.exit(main())"]


def _repo(root: Path) -> tuple[list[str], list[str]]:
    store = root / ".sekret" / "dev.db"
    init_store(store)
    values = [os.urandom(16).hex() for _ in range(5)]
    with LocalBackend(store) as backend:
        for i, value in enumerate(values):
            backend.write(f"bench/development/s{i}", SecretValue.of(value))
    secrets = "".join(f'[secrets.s{i}]\nkind = "api_key"\n' for i in range(5))
    (root / "sekret.toml").write_text(
        'app = "bench"\ndefault_environment = "development"\n'
        f'[environments.development]\nbackend = "local://{store}"\n' + secrets
    )
    (root / ".gitignore").write_text(".sekret/\n")
    line = "def handler(event):  # an ordinary line of source code, nothing secret\n"
    names = []
    for i in range(FILES):
        name = f"src/pkg{i % 20}/mod{i}.py"
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(line * 28)
        names.append(name)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    for args in (["init", "-q"], ["add", "-A"]):
        subprocess.run(["git", "-C", str(root), *args], check=True, env=env)
    return names, values


def _time(argv: list[str], cwd: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SEKRET_", "GIT_"))}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode not in (0, 1):
        raise SystemExit(f"{argv[0]} failed: {done.stderr.decode()[-300:]}")
    return elapsed


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        names, values = _repo(root)
        hook = [_time([*SEKRET, "precommit", *names], root) for _ in range(ROUNDS)]
        grep_argv = ["git", "grep", "-q", "-F", *(a for v in values for a in ("-e", v))]
        peer = [_time(grep_argv, root) for _ in range(ROUNDS)]
        version = [_time([*SEKRET, "--version"], root) for _ in range(ROUNDS)]
    text = (
        "## pre-commit hook (`sekret precommit`) on a 1,000-file repository\n\n"
        f"{FILES} staged files of ~2 KiB, 5 secrets in a local store; median of {ROUNDS}"
        f" runs, each a new process (as pre-commit runs it). {platform.python_version()},"
        f" {platform.machine()}, shared 2-core machine.\n\n"
        "| what | median |\n|---|---|\n"
        f"| `sekret precommit` (1,000 files) | {statistics.median(hook) * 1000:.0f} ms |\n"
        f"| `sekret --version` (process start-up alone) | "
        f"{statistics.median(version) * 1000:.0f} ms |\n"
        f"| peer: `git grep -F` for the 5 values | {statistics.median(peer) * 1000:.0f} ms |\n"
    )
    print(text)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)


if __name__ == "__main__":
    main()
