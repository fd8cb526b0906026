"""Run every benchmark and assemble docs/benchmarks.md.

    .venv/bin/python benchmarks/run_all.py            # run all, then assemble
    .venv/bin/python benchmarks/run_all.py --assemble # only assemble existing sections

Each ``bench_<topic>.py`` measures sekret side by side with its peers in one
run and writes its section to ``docs/benchmarks/<topic>.md``; this script
puts the sections together, in a fixed order, under a header that records
the machine. The peers come from the ``bench`` dependency group:
``pip install --group bench``.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ROOT / "docs" / "benchmarks"
ORDER = ["local", "cache", "vault", "aws", "audit", "redaction", "agent", "lease", "cli"]


def run_all() -> int:
    failed = 0
    for topic in ORDER:
        script = ROOT / "benchmarks" / f"bench_{topic}.py"
        if not script.exists():
            continue
        print(f"== {script.name}", flush=True)
        if subprocess.run([sys.executable, str(script)], cwd=ROOT, check=False).returncode:
            failed += 1
            print(f"!! {script.name} failed", flush=True)
    return failed


def assemble() -> Path:
    parts = [
        "# Benchmarks\n",
        "Measured by `benchmarks/run_all.py`; every section compares sekret with its",
        "peers in the same run on the same machine. Latencies are wall-clock on a",
        "shared 2-core machine: compare rows within a table, not across tables.\n",
        f"- machine: {platform.machine()}, {os.cpu_count()} cores, {platform.system()}",
        f"- Python {platform.python_version()}",
        f"- assembled {datetime.now(UTC):%Y-%m-%d %H:%M} UTC\n",
    ]
    known = [SECTIONS / f"{t}.md" for t in ORDER]
    extra = sorted(p for p in SECTIONS.glob("*.md") if p not in known)
    for path in [*known, *extra]:
        if path.exists():
            text = path.read_text().strip()
            # demote the section's headings one level under this page's title
            lines = ["#" + line if line.startswith("#") else line for line in text.splitlines()]
            parts.append("\n".join(lines) + "\n")
    out = ROOT / "docs" / "benchmarks.md"
    out.write_text("\n".join(parts))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--assemble", action="store_true", help="only assemble the sections")
    args = parser.parse_args()
    failed = 0 if args.assemble else run_all()
    print(f"wrote {assemble().relative_to(ROOT)}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
