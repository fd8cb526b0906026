"""The pump of ``sekret run --mask``: one thread, both pipes, one ``SharedMasker``.

The interleavings are fed directly (``_Pump.take``) or through pipes filled
before the pump reads them, so no test depends on scheduling.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sekret import SecretValue
from sekret.cli._child import _Pump, run_child
from sekret.integrations.redaction import Redactor, SharedMasker
from sekret.testing import sentinel_value


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def value() -> bytes:
    return sentinel_value("split").encode()


@pytest.fixture
def pipes() -> Iterator[list[tuple[io.BufferedReader, int]]]:
    """Two pipes (stdout, stderr): (read end, write fd); whatever is left open is closed."""
    made = []
    for _ in range(2):
        r, w = os.pipe()
        made.append((os.fdopen(r, "rb"), w))
    yield made
    for reader, w in made:
        reader.close()
        with contextlib.suppress(OSError):  # the test closed it already
            os.close(w)


def _pump(
    value: bytes, sources: tuple[io.BufferedReader, ...] = (), clock: Clock | None = None
) -> tuple[_Pump, io.BytesIO, io.BytesIO]:
    out, err = io.BytesIO(), io.BytesIO()
    pump = _Pump(
        sources or (io.BufferedReader(io.BytesIO()), io.BufferedReader(io.BytesIO())),
        (out, err),
        SharedMasker(Redactor([value.decode()])),
        10.0,
        clock or Clock(),
    )
    return pump, out, err


def test_pump_masks_a_value_whose_first_stream_ends_in_the_round_its_rest_arrives(
    value: bytes,
) -> None:
    """Half a value on stdout, then stdout's end and the rest on stderr in one round: masked."""
    pump, out, err = _pump(value)
    pump.take({0: b"half " + value[:10]})
    pump.take({0: b"", 1: value[10:] + b" end\n"})  # the child wrote stderr, then exited
    assert pump.open == {1}
    pump.take({1: b""})
    assert (out.getvalue(), err.getvalue()) == (b"half ***", b" end\n")


def test_pump_run_masks_the_split_value_when_stdout_is_at_its_end_before_stderr_is_read(
    value: bytes, pipes: list[tuple[io.BufferedReader, int]]
) -> None:
    """Through real pipes: stdout already ended and stderr holds the rest when select runs."""
    (stdout, out_w), (stderr, err_w) = pipes
    pump, out, err = _pump(value, (stdout, stderr))
    pump.take({0: b"half " + value[:10]})  # the round that read stdout's first write
    os.close(out_w)
    os.write(err_w, value[10:] + b" end\n")
    os.close(err_w)
    pump.run()  # both pipes ready in its first round: stdout at its end, stderr with data
    assert (out.getvalue(), err.getvalue()) == (b"half ***", b" end\n")


def test_pump_masks_a_value_begun_on_stderr_when_both_chunks_come_in_one_round(
    value: bytes,
) -> None:
    """Rest on stdout and start on stderr read in one round (stdout first): still masked."""
    pump, out, err = _pump(value)
    pump.take({0: value[10:] + b" out\n", 1: b"err " + value[:10]})
    pump.take({0: b"", 1: b""})
    assert (out.getvalue(), err.getvalue()) == (b" out\n", b"err ***")


def test_pump_flushes_an_ended_streams_tail_at_the_mask_timeout(value: bytes) -> None:
    """A tail kept after its stream ended is emitted at --mask-timeout (from when it was held)."""
    clock = Clock()
    pump, out, err = _pump(value, clock=clock)
    pump.take({0: b"half " + value[:10]})
    clock.now = 4.0
    pump.take({0: b""})
    assert pump.expire() == 6.0
    assert out.getvalue() == b"half "
    clock.now = 10.0
    assert pump.expire() is None
    assert out.getvalue() == b"half " + value[:10]  # a part only: the value never came whole
    pump.take({1: value[10:] + b"\n"})
    pump.take({1: b""})
    assert err.getvalue() == value[10:] + b"\n"


def test_run_child_masks_a_value_split_over_a_closed_stdout_and_stderr(value: bytes) -> None:
    """A child that closes stdout after half a value and writes the rest to stderr: masked."""
    script = (
        "import os, sys, time\n"
        "v = os.environ['SPLIT']\n"
        "sys.stdout.write('half ' + v[:10]); sys.stdout.flush(); os.close(1)\n"
        "time.sleep(0.05)\n"
        "sys.stderr.write(v[10:] + ' end\\n'); sys.stderr.flush()\n"
    )
    out, err = io.BytesIO(), io.BytesIO()
    code = run_child(
        [sys.executable, "-c", script],
        {**os.environ, "SPLIT": value.decode()},
        redactor=Redactor([SecretValue.of(value.decode())]),
        mask_timeout=10,
        sinks=(out, err),
    )
    assert code == 0
    assert (out.getvalue(), err.getvalue()) == (b"half ***", b" end\n")


def test_with_grpc_loaded_the_child_starts_through_the_exec_shim(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """gRPC's fork handlers can abort a fork()ed child: with grpc loaded, no preexec_fn is
    used; a shim sets the parent-death signal and execs the command (exit codes pass)."""
    import types

    from sekret.cli import _child

    if _child._death_signal_preexec() is None:
        pytest.skip("no parent-death signal on this platform")
    monkeypatch.setitem(sys.modules, "grpc", types.ModuleType("grpc"))
    command, preexec = _child._launch([sys.executable, "-c", "raise SystemExit(7)"])
    assert preexec is None
    assert command[:4] == [sys.executable, "-I", "-S", "-c"]
    assert subprocess.run(command, check=False).returncode == 7
    missing, _ = _child._launch(["sekret-no-such-command-here"])
    done = subprocess.run(missing, capture_output=True, check=False)
    assert done.returncode == 127
    assert b"cannot run 'sekret-no-such-command-here'" in done.stderr
    code = _child.run_child([sys.executable, "-c", "pass"], dict(os.environ))
    assert code == 0


def test_the_exec_shim_child_dies_with_its_parent(tmp_path: Path) -> None:
    """A child started through the shim gets SIGKILL when the process that started it dies."""
    from sekret.cli import _child

    if _child._death_signal_preexec() is None:
        pytest.skip("no parent-death signal on this platform")
    pidfile = tmp_path / "pid"
    child_script = tmp_path / "child.py"
    child_script.write_text(
        f"import os, time\nopen({str(pidfile)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n"
    )
    parent = (
        "import subprocess, sys, time\n"
        "from sekret.cli import _child\n"
        "sys.modules['grpc'] = type(sys)('grpc')\n"
        f"cmd, pre = _child._launch([sys.executable, {str(child_script)!r}])\n"
        "assert pre is None\n"
        "subprocess.Popen(cmd)\n"
        "time.sleep(60)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", parent], env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    )
    try:
        for _ in range(500):
            if pidfile.exists() and pidfile.read_text():
                break
            time.sleep(0.02)
        child = int(pidfile.read_text())
    finally:
        proc.kill()
        proc.wait()
    for _ in range(500):
        try:
            os.kill(child, 0)
        except ProcessLookupError:
            break
        time.sleep(0.02)
    else:
        os.kill(child, 9)
        pytest.fail("the shim-started child outlived its parent")


_TRAP = """
import pathlib, signal, sys
signal.signal(int(sys.argv[2]), lambda n, f: sys.exit(40 + n))
pathlib.Path(sys.argv[1]).write_text("ready")
while True:
    signal.pause()
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2"])
def test_run_child_forwards_each_signal_to_the_child(tmp_path: Path, name: str) -> None:
    """Each forwarded signal sekret receives reaches the child, whose exit code comes back."""
    import signal
    import threading

    signum = int(getattr(signal, name))
    ready = tmp_path / "ready"

    def send_when_ready() -> None:
        for _ in range(3000):
            if ready.exists():
                os.kill(os.getpid(), signum)
                return
            threading.Event().wait(0.01)

    sender = threading.Thread(target=send_when_ready, daemon=True)
    sender.start()
    code = run_child([sys.executable, "-c", _TRAP, str(ready), str(signum)], dict(os.environ))
    sender.join()
    assert code == 40 + signum


def test_clean_child_environment_keeps_exactly_the_allow_list_allow_and_keep() -> None:
    """clean keeps PATH, HOME, LANG, TERM, TZ, USER, allow and keep; the declared ones win."""
    from sekret._names import RUN_ENVIRONMENT_VARIABLE
    from sekret.cli._child import child_environment

    allow_list = ["PATH", "HOME", "LANG", "TERM", "TZ", "USER"]
    parent = {name: "p" for name in [*allow_list, "EXTRA", "KEEPME", "OTHER", "VAULT_TOKEN"]}
    env = child_environment(
        parent,
        {"DECLARED": "d", "OTHER": "declared"},
        consumed=(),
        environment="staging",
        keep=("KEEPME",),
        clean=True,
        allow=("EXTRA",),
    )
    expected = {name: "p" for name in [*allow_list, "EXTRA", "KEEPME"]}
    expected |= {"DECLARED": "d", "OTHER": "declared", RUN_ENVIRONMENT_VARIABLE: "staging"}
    assert env == expected


def test_child_environment_drops_consumed_and_credential_variables_unless_kept() -> None:
    """Without clean, consumed and credential variables go unless kept by name."""
    from sekret._names import RUN_ENVIRONMENT_VARIABLE
    from sekret.cli._child import child_environment

    parent = {"A": "1", "USED": "2", "SEKRET_MASTER_KEY": "3", "KEPT_USED": "4"}
    env = child_environment(
        parent, {}, consumed=("USED", "KEPT_USED"), environment="prod", keep=("KEPT_USED",)
    )
    assert env == {"A": "1", "KEPT_USED": "4", RUN_ENVIRONMENT_VARIABLE: "prod"}


def test_term_int_and_quit_are_the_signals_after_which_watch_never_restarts() -> None:
    """The stopping set is exactly SIGTERM, SIGINT and SIGQUIT (not HUP or USR1/2)."""
    import signal

    from sekret.cli._child import _STOPPING

    assert {signal.SIGTERM, signal.SIGINT, signal.SIGQUIT} == _STOPPING


_EARLY = """
import os, signal, sys
from sekret.cli import _child

class Early(_child._Child):
    def __init__(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGUSR2)  # arrives while the child is being started
        super().__init__(*args, **kwargs)

_child._Child = Early
trap = sys.argv[1]
sys.exit(_child.run_child([sys.executable, "-c", trap, sys.argv[2], sys.argv[3]], dict(os.environ)))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_signal_arriving_while_the_child_starts_is_forwarded_to_it(tmp_path: Path) -> None:
    """A forwarded signal received before the child exists is not lost: the child gets it."""
    import signal
    import subprocess

    signum = int(signal.SIGUSR2)
    done = subprocess.run(
        [sys.executable, "-c", _EARLY, _TRAP, str(tmp_path / "ready"), str(signum)],
        capture_output=True,
        timeout=60,
        check=False,
    )
    # sekret survives (the default action would have killed it, leaving the child running)
    # and reports the child's end by that signal: trapped (40+N) or killed (128+N)
    assert done.returncode in (40 + signum, 128 + signum), done.stderr.decode()[-500:]


def test_pump_emits_a_held_tail_once_every_stream_has_ended(value: bytes) -> None:
    """A tail held as a possible start of a value is written when the last stream ends."""
    pump, out, err = _pump(value)
    pump.take({0: b"x " + value[:10]})
    assert out.getvalue() == b"x "  # the rest may still come
    pump.take({0: b"", 1: b""})
    assert out.getvalue() == b"x " + value[:10]
    assert err.getvalue() == b""
    assert pump.held_since == {}  # nothing is left waiting for a timeout


def test_pump_flushes_every_piece_it_writes(value: bytes) -> None:
    """Each piece written to a sink is flushed at once: nothing waits in sekret's buffers."""

    class Sink(io.BytesIO):
        def __init__(self) -> None:
            super().__init__()
            self.flushed_at: list[int] = []

        def flush(self) -> None:
            self.flushed_at.append(len(self.getvalue()))

    out, err = Sink(), Sink()
    pump = _Pump(
        (io.BufferedReader(io.BytesIO()), io.BufferedReader(io.BytesIO())),
        (out, err),
        SharedMasker(Redactor([value.decode()])),
        10.0,
        Clock(),
    )
    pump.take({0: b"one\n", 1: b"two\n"})
    assert out.flushed_at == [4]
    assert err.flushed_at == [4]
    assert pump.daemon  # the pump never keeps sekret alive on its own


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl death signal")
def test_the_death_signal_is_set_only_from_the_main_thread() -> None:
    """The parent-death signal follows the creating thread: off the main thread, none is set."""
    import threading

    from sekret.cli._child import _death_signal_preexec

    assert _death_signal_preexec() is not None
    seen: list[object] = []
    worker = threading.Thread(target=lambda: seen.append(_death_signal_preexec()))
    worker.start()
    worker.join()
    assert seen == [None]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl death signal")
def test_a_child_whose_parent_died_before_the_death_signal_is_killed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """If sekret is gone by the time the child sets its death signal, the child kills itself."""
    import signal

    from sekret.cli._child import _death_signal_preexec

    with monkeypatch.context() as patched:
        patched.setattr(os, "getpid", lambda: 1)  # the parent the preexec expects: not ours
        preexec = _death_signal_preexec()
    assert preexec is not None
    child = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], preexec_fn=preexec
    )
    assert child.wait(60) == -signal.SIGKILL


def test_pump_times_a_held_tail_from_its_last_new_data(value: bytes) -> None:
    """A held tail that grows restarts its --mask-timeout; a completed one stops waiting."""
    clock = Clock()
    pump, out, _ = _pump(value, clock=clock)
    pump.take({0: b"a " + value[:5]})
    clock.now = 5.0
    pump.take({0: value[5:10]})  # still only the start of the value: held, timed from now
    assert pump.expire() == 10.0
    clock.now = 14.5
    assert pump.expire() == 0.5  # not yet due: the time left, however little
    assert out.getvalue() == b"a "
    pump.take({0: value[10:] + b"\n"})  # the value completes: masked, nothing held
    assert pump.held_since == {}
    assert pump.expire() is None
    assert out.getvalue() == b"a ***\n"


def test_pump_run_closes_both_pipes_when_it_ends(
    value: bytes, pipes: list[tuple[io.BufferedReader, int]]
) -> None:
    """When the child's output ends, the pump closes its ends of both pipes (no fd leaks)."""
    (stdout, out_w), (stderr, err_w) = pipes
    pump, out, _ = _pump(value, (stdout, stderr))
    os.write(out_w, b"bye\n")
    os.close(out_w)
    os.close(err_w)
    pump.run()
    assert out.getvalue() == b"bye\n"
    assert stdout.closed
    assert stderr.closed


_SLEEPER = """
import os, signal, sys, time
if len(sys.argv) > 2:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
with open(sys.argv[1], "a") as f:
    f.write(f"{os.getpid()} {os.environ.get('GEN', '1')}\\n")
if os.environ.get("GEN") == "2":
    sys.exit(7)
time.sleep(60)
"""


def _pids(path: Path) -> list[int]:
    return [int(line.split()[0]) for line in path.read_text().splitlines()]


def _gone(pid: int) -> bool:
    for _ in range(500):
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.01)
    os.kill(pid, 9)
    return False


def _started(path: Path, count: int) -> None:
    for _ in range(3000):
        if path.exists() and len(path.read_text().splitlines()) >= count:
            return
        time.sleep(0.01)
    raise AssertionError("the child did not start")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")
def test_a_child_that_ignores_sigterm_is_killed_after_the_grace(tmp_path: Path) -> None:
    """stop(grace): SIGTERM first, SIGKILL when the child outlives the grace; it is reaped."""
    import signal

    from sekret.cli._child import _Child

    pids = tmp_path / "pids"
    child = _Child(
        [sys.executable, "-c", _SLEEPER, str(pids), "ignore-term"],
        dict(os.environ),
        None,
        1.0,
        (io.BytesIO(), io.BytesIO()),
    )
    _started(pids, 1)
    child.stop(0.2)
    assert child.proc.returncode == -signal.SIGKILL


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")
def test_a_watched_restart_stops_the_old_child_first(tmp_path: Path) -> None:
    """When watch returns a new environment, the running child is stopped, then a new one runs."""
    pids = tmp_path / "pids"
    calls: list[int] = []

    def watch() -> dict[str, str] | None:
        calls.append(1)
        _started(pids, 1)
        return {**os.environ, "GEN": "2"} if len(calls) == 1 else None

    code = run_child(
        [sys.executable, "-c", _SLEEPER, str(pids)], dict(os.environ), watch=watch, interval=0.01
    )
    assert code == 7  # the second child's own exit
    first, second = _pids(pids)
    assert first != second
    assert _gone(first)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_stop_signal_during_a_watched_run_ends_it_without_a_restart(tmp_path: Path) -> None:
    """SIGTERM to sekret, then a changed environment: the child is stopped and not started again."""
    import signal

    pids = tmp_path / "pids"
    calls: list[int] = []

    def watch() -> dict[str, str] | None:
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("watched again after SIGTERM")
        _started(pids, 1)
        os.kill(os.getpid(), signal.SIGTERM)  # handled (forwarded) before watch returns
        return {**os.environ, "GEN": "2"}

    code = run_child(
        [sys.executable, "-c", _SLEEPER, str(pids)], dict(os.environ), watch=watch, interval=0.01
    )
    assert code == 128 + signal.SIGTERM
    assert len(_pids(pids)) == 1


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")
def test_an_error_in_the_watch_does_not_orphan_the_child(tmp_path: Path) -> None:
    """If the watch raises, run_child stops the child before the error propagates."""
    pids = tmp_path / "pids"

    def watch() -> dict[str, str] | None:
        _started(pids, 1)
        raise RuntimeError("the watch broke")

    with pytest.raises(RuntimeError, match="the watch broke"):
        run_child(
            [sys.executable, "-c", _SLEEPER, str(pids)],
            dict(os.environ),
            watch=watch,
            interval=0.01,
            grace=5.0,
        )
    assert _gone(_pids(pids)[0])


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX processes")
def test_stop_asks_with_sigterm_first(tmp_path: Path) -> None:
    """stop(grace): a child that ends on SIGTERM ends its own way, not by SIGKILL."""
    from sekret.cli._child import _Child

    ready = tmp_path / "ready"
    child = _Child(
        [sys.executable, "-c", _TRAP, str(ready), "15"],
        dict(os.environ),
        None,
        1.0,
        (io.BytesIO(), io.BytesIO()),
    )
    _started_file(ready)
    child.stop(30.0)
    assert child.proc.returncode == 40 + 15


def _started_file(path: Path) -> None:
    for _ in range(3000):
        if path.exists():
            return
        time.sleep(0.01)
    raise AssertionError("the child did not start")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_run_child_puts_the_signal_handlers_back() -> None:
    """After the child ends, sekret's signal handlers are the ones it had before."""
    import signal

    before = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGTSTP, signal.SIGCONT)}
    assert run_child([sys.executable, "-c", "pass"], dict(os.environ)) == 0
    assert {s: signal.getsignal(s) for s in before} == before
