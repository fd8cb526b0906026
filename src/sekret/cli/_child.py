"""The child process of ``sekret run``: its environment, its signals, its masked output.

* ``child_environment``: what the child inherits. Never the credentials
  sekret used to open the backend (``Backend.consumed_env()``, e.g.
  ``VAULT_TOKEN``, ``AWS_SECRET_ACCESS_KEY``) nor sekret's own key material
  (``SEKRET_MASTER_KEY``...; ``backends.base.is_credential_env``), unless kept
  by name (``--keep-env``). ``clean`` starts from nothing but an allow-list.
  ``SEKRET_RUN_ENVIRONMENT`` marks the child: a sekret client built inside it
  refuses to open any other environment (``sekret._names``).
* ``run_child``: starts the command, forwards signals (TERM, INT, HUP, QUIT,
  USR1, USR2; TSTP stops the child and then sekret, CONT resumes both), and on
  Linux sets a parent-death signal so a SIGKILLed sekret never leaves the
  child running (checked against the race where sekret died before the
  child's ``prctl``). sekret itself turns non-dumpable first
  (``hide_own_environment``), so the child cannot read the credentials
  still in sekret's environment through ``/proc/<ppid>/environ``.
* ``--mask``: one thread reads both pipes and feeds one ``SharedMasker``, so
  a value split across writes, or across stdout and stderr, is still masked.

This module must never print, log or store a value outside the child's
environment mapping.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from types import FrameType
from typing import IO, Any, Final

from sekret._names import RUN_ENVIRONMENT_VARIABLE
from sekret.backends.base import is_credential_env
from sekret.integrations.redaction import Redactor, SharedMasker

__all__ = ["CLEAN_ENV_ALLOW", "FORWARDED", "child_environment", "run_child"]

FORWARDED: Final = ("SIGTERM", "SIGINT", "SIGHUP", "SIGQUIT", "SIGUSR1", "SIGUSR2")
CLEAN_ENV_ALLOW: Final = ("PATH", "HOME", "LANG", "TERM", "TZ", "USER")
_PR_SET_PDEATHSIG: Final = 1
_PR_SET_DUMPABLE: Final = 4
_DEATH_SIGNAL: Final = int(getattr(signal, "SIGKILL", 9))  # used on Linux only
_STOPPING: Final = frozenset(
    int(getattr(signal, name)) for name in ("SIGTERM", "SIGINT", "SIGQUIT") if hasattr(signal, name)
)  # after one of these, --watch never starts the child again


def child_environment(
    parent: Mapping[str, str],
    variables: Mapping[str, str],
    *,
    consumed: Collection[str],
    environment: str,
    keep: Collection[str] = (),
    clean: bool = False,
    allow: Collection[str] = (),
) -> dict[str, str]:
    """The child's environment: ``parent`` less every credential, plus ``variables``.

    ``consumed``: the variables the backend read credentials from. ``keep``:
    names kept on purpose. ``clean``: only ``CLEAN_ENV_ALLOW``, ``allow`` and
    ``keep`` survive from ``parent``. The declared ``variables`` always win.
    """
    if clean:
        allowed = {*CLEAN_ENV_ALLOW, *allow, *keep}
        env = {k: v for k, v in parent.items() if k in allowed}
    else:
        kept = set(keep)
        env = {
            k: v
            for k, v in parent.items()
            if k in kept or not (k in consumed or is_credential_env(k))
        }
    env.update(variables)
    env[RUN_ENVIRONMENT_VARIABLE] = environment
    return env


def _prctl() -> Callable[..., int] | None:
    """libc's ``prctl`` on Linux (None elsewhere, or where libc does not have it)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes  # lazy: only `sekret run` needs it

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    prctl.restype = ctypes.c_int
    found: Callable[..., int] = prctl
    return found


def hide_own_environment() -> bool:
    """Make this process non-dumpable (Linux ``PR_SET_DUMPABLE`` 0) before a child starts.

    sekret's own environment may hold the credentials it removed from the
    child's (``SEKRET_MASTER_KEY``, ``VAULT_TOKEN``...); a child of the same
    user could otherwise read them from ``/proc/<sekret>/environ`` (or attach a
    debugger). A non-dumpable process's ``/proc`` files belong to root and it
    cannot be ptraced by its user's other processes; its children are
    dumpable again after ``exec``. Returns whether it took effect.
    """
    prctl = _prctl()
    return prctl is not None and prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) == 0


_SHIM = """\
import ctypes, os, sys
parent, signum, argv = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
try:
    ctypes.CDLL(None).prctl(1, signum, 0, 0, 0)
except (OSError, AttributeError):
    pass
if os.getppid() != parent:
    os.kill(os.getpid(), signum)
try:
    os.execvp(argv[0], argv)
except OSError as exc:
    sys.stderr.write(f"sekret run: cannot run {argv[0]!r}: {exc.strerror}\\n")
    os._exit(127 if isinstance(exc, FileNotFoundError) else 126)
"""
"""Sets the parent-death signal in a fresh interpreter, then execs the command (see
``_launch``); ``-I -S`` so nothing from the environment runs before the exec."""


def _launch(argv: Sequence[str]) -> tuple[list[str], Callable[[], None] | None]:
    """The argv and ``preexec_fn`` that start the child with a parent-death signal.

    A ``preexec_fn`` makes subprocess fork() (not vfork), which runs the
    libraries' fork handlers; gRPC's (the Google backend) can abort the child
    then. With gRPC loaded, a tiny exec shim sets the signal instead.
    """
    preexec = _death_signal_preexec()
    if preexec is not None and "grpc" in sys.modules:
        shim = [sys.executable, "-I", "-S", "-c", _SHIM, str(os.getpid()), str(_DEATH_SIGNAL)]
        return [*shim, *argv], None
    return list(argv), preexec


def _death_signal_preexec() -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGKILL the child when sekret dies (None elsewhere)."""
    if not sys.platform.startswith("linux") or threading.current_thread() is not (
        threading.main_thread()  # the death signal follows the creating *thread*
    ):
        return None
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, _DEATH_SIGNAL, 0, 0, 0)
        if os.getppid() != parent:  # sekret died before prctl: the signal will never come
            os.kill(os.getpid(), _DEATH_SIGNAL)

    return preexec


class _Pump(threading.Thread):
    """Copies the child's stdout and stderr to two sinks through one ``SharedMasker``.

    Each ``select`` round reads every ready pipe, then ``take`` handles the
    chunks: all the data first (``SharedMasker.feed_round``), then the ends. A
    tail held on a stream that ended stays held while another stream is open,
    since that stream may still finish the value (a child writing half a value
    to stdout, the rest to stderr, then exiting: both pipes are ready in one
    round, stdout with its end); ``--mask-timeout`` still bounds the hold.
    """

    def __init__(
        self,
        sources: Sequence[IO[bytes]],
        sinks: Sequence[IO[bytes]],
        masker: SharedMasker,
        timeout: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(daemon=True)
        self.sources, self.sinks, self.masker, self.timeout = sources, sinks, masker, timeout
        self.clock = clock
        self.open = set(range(len(sources)))  # the streams not ended yet
        self.held_since: dict[int, float] = {}  # stream -> when its held tail started waiting

    def _emit(self, pieces: list[tuple[int, bytes]]) -> None:
        for index, data in pieces:
            sink = self.sinks[index]
            sink.write(data)
            sink.flush()

    def expire(self) -> float | None:
        """Flush the tails held ``timeout`` seconds; the seconds until the next one is due."""
        now = self.clock()
        for index in [i for i, t in self.held_since.items() if now - t >= self.timeout]:
            self._emit(self.masker.flush(index))
            del self.held_since[index]
        return min(
            (max(0.0, t + self.timeout - now) for t in self.held_since.values()), default=None
        )

    def take(self, chunks: Mapping[int, bytes]) -> None:
        """Handle the chunks one round read, by stream (``b""``: the stream ended)."""
        self._emit(self.masker.feed_round([(i, data) for i, data in chunks.items() if data]))
        self.open.difference_update(i for i, data in chunks.items() if not data)
        if not self.open:
            self._emit(self.masker.flush())
            self.held_since.clear()
            return
        now = self.clock()
        for i in range(len(self.sources)):
            if not self.masker.pending(i):
                self.held_since.pop(i, None)
            elif chunks.get(i) or i not in self.held_since:  # a new tail: its timeout starts now
                self.held_since[i] = now

    def run(self) -> None:
        streams = {source.fileno(): i for i, source in enumerate(self.sources)}
        try:
            while self.open:
                wait = self.expire()
                fds = [fd for fd, i in streams.items() if i in self.open]
                ready, _, _ = select.select(fds, [], [], wait)
                self.take({streams[fd]: os.read(fd, 65536) for fd in ready})
        except (OSError, ValueError):
            pass  # the output went away (closed pipe); the child's exit code still counts
        finally:
            for source in self.sources:
                source.close()


class _Child:
    def __init__(
        self,
        argv: Sequence[str],
        env: Mapping[str, str],
        redactor: Redactor | None,
        mask_timeout: float,
        sinks: tuple[IO[bytes], IO[bytes]],
    ) -> None:
        piped = subprocess.PIPE if redactor is not None else None
        command, preexec = _launch(argv)
        self.proc = subprocess.Popen(
            command,
            env=dict(env),
            stdout=piped,
            stderr=piped,
            preexec_fn=preexec,
        )
        self.pump: _Pump | None = None
        if redactor is not None and self.proc.stdout is not None and self.proc.stderr is not None:
            self.pump = _Pump(
                (self.proc.stdout, self.proc.stderr), sinks, SharedMasker(redactor), mask_timeout
            )
            self.pump.start()

    def wait(self, timeout: float | None) -> int | None:
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        if self.pump is not None:
            self.pump.join()
        return code

    def stop(self, grace: float) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            if self.wait(grace) is None:
                self.proc.kill()
        self.wait(None)

    def signal(self, signum: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signum)


def _exit_status(code: int) -> int:
    return code if code >= 0 else 128 - code


def run_child(
    argv: Sequence[str],
    env: Mapping[str, str],
    *,
    redactor: Redactor | None = None,
    mask_timeout: float = 1.0,
    watch: Callable[[], Mapping[str, str] | None] | None = None,
    interval: float = 30.0,
    grace: float = 10.0,
    sinks: tuple[IO[bytes], IO[bytes]] | None = None,
) -> int:
    """Run ``argv`` with ``env``; return its exit code (128+N when killed by signal N).

    ``redactor``: mask the child's output. ``watch``: called every ``interval``
    seconds; a returned environment restarts the child with it.
    """
    outputs = sinks or (sys.stdout.buffer, sys.stderr.buffer)
    hide_own_environment()
    lock = threading.RLock()  # the handler runs on the main thread, maybe inside the lock
    stopping = threading.Event()  # SIGTERM/SIGINT/SIGQUIT received: never restart after it
    # The handlers are installed before the child starts, so no signal finds sekret with
    # the default action (stopped or killed alone, the child left running); one that
    # arrives while the child is being started waits in `pending` and is handled then.
    child: _Child | None = None
    pending: list[int] = []

    def handle(signum: int, target: _Child) -> None:
        if signum == signal.SIGTSTP:
            with lock:
                target.signal(signal.SIGTSTP)
            os.kill(os.getpid(), signal.SIGSTOP)  # stop sekret too, as a shell job would
            return
        if signum in _STOPPING:
            stopping.set()
        with lock:
            target.signal(signum)

    def on_signal(signum: int, frame: FrameType | None) -> None:
        with lock:
            target = child
            if target is None:
                pending.append(signum)
                return
        handle(signum, target)

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for name in (*FORWARDED, "SIGTSTP", "SIGCONT"):
            sig = getattr(signal, name, None)
            if sig is not None:
                previous[sig] = signal.signal(sig, on_signal)
    try:
        started = _Child(argv, env, redactor, mask_timeout, outputs)
        with lock:
            child = started
            early, pending[:] = pending[:], []
        for signum in early:
            handle(signum, started)
        while True:
            code = started.wait(interval if watch is not None else None)
            if code is not None:
                return _exit_status(code)
            new_env = watch() if watch is not None and not stopping.is_set() else None
            if new_env is not None:
                started.stop(grace)
                if stopping.is_set():  # told to stop while restarting: do not start again
                    return _exit_status(started.proc.returncode)
                with lock:
                    child = started = _Child(argv, new_env, redactor, mask_timeout, outputs)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if child is not None and child.proc.poll() is None:  # an exception: do not orphan it
            child.stop(grace)
