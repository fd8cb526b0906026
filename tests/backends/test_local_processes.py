"""The embedded store under several processes: crashes and concurrent writers."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from sekret import SecretValue
from sekret.backends.local import LocalBackend, init_store
from sekret.testing import sentinel_value

pytestmark = pytest.mark.slow

# A child that writes forever and acknowledges each write (name, version,
# index) on stdout only after write() has returned.
WRITER = """
import sys
from sekret import SecretValue
from sekret.backends.local import LocalBackend

db, key, prefix = sys.argv[1:4]
backend = LocalBackend(db, key_file=key)
i = 0
while True:
    name = f"crash/s{i % 7}"
    version = backend.write(name, SecretValue.of(f"{prefix}-{i}")).version
    sys.stdout.write(f"{name} {version} {i}\\n")
    sys.stdout.flush()
    i += 1
"""

# A child that increments a shared counter with compare-and-set, writes its
# own secret, and reads both back; any error is a traceback and a non-zero exit.
WORKER = """
import json, sys
from sekret import Conflict, SecretValue
from sekret.backends.local import LocalBackend

db, key, worker, rounds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
backend = LocalBackend(db, key_file=key)
done = conflicts = 0
while done < rounds:
    current = backend.read("shared/counter")
    try:
        backend.write(
            "shared/counter",
            SecretValue.of(str(int(current.value.text()) + 1)),
            expected_version=current.version,
        )
    except Conflict:
        conflicts += 1
        continue
    done += 1
    backend.write(f"own/{worker}", SecretValue.of(str(done)))
    assert backend.read(f"own/{worker}").value.text() == str(done)
backend.close()
print(json.dumps({"worker": worker, "conflicts": conflicts}))
"""


def _child_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEKRET_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


@pytest.fixture
def store(tmp_path: Path) -> tuple[Path, Path]:
    """A fresh store and its key file."""
    db = tmp_path / "shared.db"
    key = init_store(db)
    assert key is not None
    return db, key


def test_sigkill_mid_write_loses_no_acknowledged_write(store: tuple[Path, Path]) -> None:
    """A writer killed with SIGKILL leaves a sound store holding every acknowledged write."""
    db, key = store
    prefix = sentinel_value()
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(db), str(key), prefix],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_child_env(),
    )
    assert child.stdout is not None
    acks: list[str] = []
    stop_after = random.randint(60, 140)
    try:
        while len(acks) < stop_after:
            line = child.stdout.readline()
            assert line, f"writer died early: {child.stderr.read() if child.stderr else ''}"
            acks.append(line)
        os.kill(child.pid, signal.SIGKILL)
        acks += child.stdout.readlines()  # acknowledged before the kill landed
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
        child.stdout.close()
        if child.stderr is not None:
            child.stderr.close()
    assert child.returncode == -signal.SIGKILL

    with sqlite3.connect(db) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    raw.close()
    with LocalBackend(db, key_file=key) as backend:
        latest: dict[str, int] = {}
        for line in acks:
            if not line.endswith("\n"):
                continue  # a line cut by the kill was never fully acknowledged
            name, version, index = line.split()
            secret = backend.read(name, version=version)
            assert secret.value.text() == f"{prefix}-{index}"
            latest[name] = max(latest.get(name, 0), int(version))
        for name, version in latest.items():
            assert int(backend.read(name).version) >= version
        backend.write("crash/after", SecretValue.of("writable"))  # and it takes writes


def test_four_processes_at_once_lose_no_update(store: tuple[Path, Path]) -> None:
    """Four processes doing CAS increments and private writes lose nothing and never leak locks."""
    db, key = store
    rounds = 40
    with LocalBackend(db, key_file=key) as backend:
        backend.write("shared/counter", SecretValue.of("0"))
    children = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(db), str(key), f"w{i}", str(rounds)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_child_env(),
        )
        for i in range(4)
    ]
    results = []
    for child in children:
        try:
            out, err = child.communicate(timeout=240)
        finally:
            if child.poll() is None:
                child.kill()
                child.communicate()
        assert "database is locked" not in err
        assert child.returncode == 0, err[-2000:]
        results.append(json.loads(out))
    assert len(results) == 4

    with LocalBackend(db, key_file=key) as backend:
        assert backend.read("shared/counter").value.text() == str(4 * rounds)
        assert len(backend.versions("shared/counter")) == 4 * rounds + 1
        for i in range(4):
            assert backend.read(f"own/w{i}").value.text() == str(rounds)
            assert len(backend.versions(f"own/w{i}")) == rounds


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_backend_survives_fork(store: tuple[Path, Path]) -> None:
    """A backend opened before os.fork reads and writes in the child on its own connection."""
    db, key = store
    with LocalBackend(db, key_file=key) as backend:
        backend.write("fork/parent", SecretValue.of("p"))
        pid = os.fork()
        if pid == 0:  # the child: report through the exit code only
            code = 1
            try:
                ok = backend.read("fork/parent").value.text() == "p"
                backend.write("fork/child", SecretValue.of("c"))
                code = 0 if ok else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert backend.read("fork/child").value.text() == "c"
        assert backend.read("fork/parent").value.text() == "p"
