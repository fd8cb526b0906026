"""The rotation engine: AWS's four steps, on every backend that has stages.

1. **create**: the rotator generates a new value; it is stored as ``pending``.
2. **set**: the rotator applies it to the system that uses it (``ALTER ROLE``...).
3. **test**: the rotator proves the new value works.
4. **finish**: ``pending`` becomes ``current``; the old ``current`` becomes ``previous``.

Crash safety. Each step is idempotent and the state lives in the backend,
not in this process: a rerun finds the ``pending`` version and resumes from
*set*. A crash after *finish* moved ``current`` but before ``pending`` was
cleared is finished by the rerun. ``current`` only ever moves, with
compare-and-set, to a version whose *test* passed in that run; a failed test
reverts *set* and drops ``pending``.

Concurrency. The *create* step claims the rotation with
``move_stage(pending, expected_version=ABSENT)``: of two fresh rotations of
one secret, exactly one places ``pending``, the other gets ``Conflict``. The
new version is first written under a private label ``rotating-<id>`` (a
version must carry a label on some services), which the winner removes and
a later run sweeps up if a crash left it behind.

The engine never logs or raises with a value in the message.
"""

from __future__ import annotations

import contextlib
import enum
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from sekret._values import CURRENT, PENDING, Secret, SecretValue
from sekret.backends.base import ABSENT, Capability
from sekret.exceptions import (
    Conflict,
    RotationError,
    SecretNotFound,
    SekretError,
    UnsupportedOperation,
    VersionNotFound,
)

if TYPE_CHECKING:
    from sekret._secrets import Secrets

__all__ = [
    "LOCK_PREFIX",
    "RotationEngine",
    "RotationResult",
    "Rotator",
    "Step",
    "check_same_shape",
    "shape_of",
]

log = logging.getLogger("sekret.rotation")

LOCK_PREFIX = "rotating-"


def shape_of(value: SecretValue) -> str:
    """``text``, ``bytes``, ``json array`` or ``json object with keys a, b`` (no values)."""
    if value.kind != "json":
        return value.kind
    data = value.json()
    if isinstance(data, dict):
        return "json object with keys " + ", ".join(sorted(map(str, data))) if data else "{}"
    return "json array"


def check_same_shape(full: str, current: SecretValue, new: SecretValue, rotator: str) -> None:
    """A rotator's value keeps the secret's kind: JSON stays JSON with the same keys.

    Raises ``RotationError`` before anything is written; the message names the
    two shapes (kinds and key names only, never a value).
    """
    before, after = shape_of(current), shape_of(new)
    if before != after:
        raise RotationError(
            f"rotation of {full!r}: rotator {rotator!r} would replace a {before} value with"
            f" a {after} value; nothing was written. Pick a rotator for this kind of secret"
            " (for a JSON field, e.g. the random rotator with field=password)",
            name=full,
        )


class Step(enum.StrEnum):
    CREATE = "create"
    SET = "set"
    TEST = "test"
    FINISH = "finish"


class Rotator:
    """What a rotator provides. Override ``generate``; the rest default to no-ops.

    Every method must be idempotent: the engine may call ``set`` and ``test``
    again for the same pending value after a crash.
    """

    name: ClassVar[str] = "base"
    #: kinds of secret this rotator suits (for docs and manifest checks); never a
    #: kind whose values are issued elsewhere (a vendor's API key cannot be generated)
    kinds: ClassVar[tuple[str, ...]] = ()
    #: False: this rotator may change the value's shape (text -> JSON, other keys)
    keeps_shape: ClassVar[bool] = True

    def generate(self, current: Secret | None) -> object:
        """A new value (str, bytes, dict or list) derived from nothing or from ``current``."""
        raise UnsupportedOperation(f"rotator {self.name!r} cannot generate values")

    def set(self, pending: Secret, current: Secret | None) -> None:
        """Apply ``pending`` to the system that uses the secret."""

    def test(self, pending: Secret) -> None:
        """Prove ``pending`` works; raise any exception if it does not."""

    def revert(self, pending: Secret, current: Secret | None) -> None:
        """Undo ``set`` after a failed test, so ``current`` works again."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


@dataclass(frozen=True, slots=True)
class RotationResult:
    """What a rotation run did (no values)."""

    name: str
    outcome: str  # "rotated" | "resumed" | "rolled_back"
    version: str | None
    previous_version: str | None
    steps: tuple[Step, ...] = ()


@dataclass
class _Run:
    full: str
    current: Secret
    pending: Secret
    resumed: bool
    steps: list[Step] = field(default_factory=list)


StepHook = Callable[[str, Step, str], None]
EventHook = Callable[[Mapping[str, Any]], None]


class RotationEngine:
    """Runs rotations for one ``Secrets`` client (which must be allowed to write).

    ``on_step(name, step, version)`` is called after each completed step (tests
    use it to inject crashes); ``on_event`` receives one dict per step for the
    audit trail (names, versions, outcome; never values).
    """

    _locks_guard = threading.Lock()
    _locks: ClassVar[dict[str, threading.Lock]] = {}

    def __init__(
        self,
        secrets: Secrets,
        *,
        on_step: StepHook | None = None,
        on_event: EventHook | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.secrets = secrets
        self.on_step = on_step
        self.on_event = on_event
        self.clock = clock

    # -- public --------------------------------------------------------------
    def rotate(self, name: str, rotator: Rotator) -> RotationResult:
        """Run (or resume) the four steps for ``name``; see the module docstring."""
        full = self._prepare(name)
        with self._claim(full):
            run = self._create(full, rotator)
            self._set_and_test(run, rotator)
            return self._finish(run)

    def rollback(self, name: str, rotator: Rotator) -> RotationResult:
        """Abandon a pending rotation: revert ``set`` and drop ``pending``."""
        full = self._prepare(name)
        with self._claim(full):
            backend = self.secrets.backend
            current = backend.read(full, stage=CURRENT)
            try:
                pending = backend.read(full, stage=PENDING)
            except VersionNotFound:
                return RotationResult(name, "rolled_back", current.version, None)
            rotator.revert(pending, current)
            self._drop_pending(full, pending.version)
            self._event(full, "rollback", pending.version)
            return RotationResult(name, "rolled_back", current.version, None)

    # -- steps ---------------------------------------------------------------
    def _prepare(self, name: str) -> str:
        s = self.secrets
        full = s.namespace.full(name)
        s._writable("rotate")
        if Capability.STAGES not in s.backend.capabilities:
            raise UnsupportedOperation(
                f"backend {s.backend.describe()} has no stages; rotation needs them",
                name=full,
                backend=s.backend.describe(),
            )
        return full

    def _create(self, full: str, rotator: Rotator) -> _Run:
        backend = self.secrets.backend
        infos = backend.versions(full)
        current_info = next((i for i in infos if CURRENT in i.stages), None)
        if current_info is None:
            raise SecretNotFound(
                f"secret {full!r} has no current version to rotate; put a first value",
                name=full,
                backend=backend.describe(),
            )
        pending_info = next((i for i in infos if PENDING in i.stages), None)
        # Sweep labels a crashed create step left behind.
        for info in infos:
            for stage in info.stages:
                if stage.startswith(LOCK_PREFIX):
                    self._quiet_remove(full, stage, info.version)
        current = backend.read(full, version=current_info.version)
        if pending_info is not None:
            pending = backend.read(full, version=pending_info.version)
            log.info("rotation of %s: resuming pending version %s", full, pending.version)
            return _Run(full, current, pending, resumed=True)

        rotation_id = uuid.uuid4().hex
        lock = LOCK_PREFIX + rotation_id[:12]
        value = SecretValue.of(rotator.generate(current), max_bytes=backend.max_value_bytes)
        if rotator.keeps_shape:
            check_same_shape(full, current.value, value, rotator.name)
        info = backend.write(
            full,
            value,
            stages=[lock],
            token=rotation_id,
            metadata={"rotation_id": rotation_id, "rotator": rotator.name},
        )
        try:
            backend.move_stage(full, PENDING, info.version, expected_version=ABSENT)
        except Conflict:
            self._quiet_remove(full, lock, info.version)
            self._event(full, "create", info.version, Conflict("claimed by another run"))
            raise Conflict(
                f"secret {full!r} is already being rotated by another run",
                name=full,
                backend=backend.describe(),
            ) from None
        self._quiet_remove(full, lock, info.version)
        pending = Secret(full, info.version, value, frozenset({PENDING}), info.created)
        self._done(full, Step.CREATE, info.version)
        run = _Run(full, current, pending, resumed=False)
        run.steps.append(Step.CREATE)
        return run

    def _set_and_test(self, run: _Run, rotator: Rotator) -> None:
        full, pending, current = run.full, run.pending, run.current
        if pending.version == current.version:
            return  # a crash hit between the two moves of finish: only cleanup is left
        try:
            rotator.set(pending, current)
        except Exception as exc:
            self._event(full, "set", pending.version, exc)
            raise RotationError(
                f"rotation of {full!r}: set failed ({type(exc).__name__}); pending version"
                f" {pending.version} kept, rerun to retry or roll back",
                name=full,
                version=pending.version,
            ) from exc
        self._done(full, Step.SET, pending.version)
        run.steps.append(Step.SET)
        try:
            rotator.test(pending)
        except Exception as exc:
            self._event(full, "test", pending.version, exc)
            rotator.revert(pending, current)
            self._drop_pending(full, pending.version)
            raise RotationError(
                f"rotation of {full!r}: test of version {pending.version} failed"
                f" ({type(exc).__name__}); rolled back, current is still {current.version}",
                name=full,
                version=pending.version,
            ) from exc
        self._done(full, Step.TEST, pending.version)
        run.steps.append(Step.TEST)

    def _finish(self, run: _Run) -> RotationResult:
        backend = self.secrets.backend
        full, pending, current = run.full, run.pending, run.current
        if pending.version != current.version:
            try:
                backend.move_stage(full, CURRENT, pending.version, expected_version=current.version)
            except Conflict:
                now_current = backend.read(full, stage=CURRENT).version
                if now_current != pending.version:
                    raise
        self._drop_pending(full, pending.version)
        self.secrets._invalidate(full)
        self._done(full, Step.FINISH, pending.version)
        run.steps.append(Step.FINISH)
        short = self.secrets.namespace.short(full)
        outcome = "resumed" if run.resumed else "rotated"
        previous = current.version if current.version != pending.version else None
        # Native-first backends (Vault, Azure, Google) promote by writing the pending
        # value as a new latest version: report the id that holds current now.
        try:
            final = backend.read(full, stage=CURRENT).version
        except SekretError:
            final = pending.version
        return RotationResult(short, outcome, final, previous, tuple(run.steps))

    # -- helpers ---------------------------------------------------------------
    def _drop_pending(self, full: str, version: str) -> None:
        # Conflict/VersionNotFound: already dropped by an earlier (crashed) run.
        with contextlib.suppress(Conflict, VersionNotFound):
            self.secrets.backend.move_stage(full, PENDING, None, expected_version=version)
        self.secrets._invalidate(full)

    def _quiet_remove(self, full: str, stage: str, version: str) -> None:
        try:
            self.secrets.backend.move_stage(full, stage, None, expected_version=version)
        except SekretError as exc:
            log.warning("rotation of %s: could not remove label %s (%s)", full, stage, exc.code)

    def _done(self, full: str, step: Step, version: str) -> None:
        self._event(full, step.value, version)
        if self.on_step is not None:
            self.on_step(full, step, version)

    def _event(
        self, full: str, step: str, version: str | None, error: BaseException | None = None
    ) -> None:
        """One event per step: to the log, to ``on_event``, and to the audit trail."""
        outcome = "failure" if error is not None else "success"
        log.info("rotation of %s: %s %s (version %s)", full, step, outcome, version)
        action = f"secret.rotate.{step}"
        if self.on_event is not None:
            event: dict[str, Any] = {
                "action": action,
                "outcome": outcome,
                "secret": full,
                "version": version,
                "time": self.clock().isoformat(),
            }
            if error is not None:
                event["error"] = type(error).__name__
            self.on_event(event)
        if self.secrets.audit is not None:
            from sekret.audit import AuditedBackend  # lazy: only clients with an audit log

            backend = self.secrets.backend
            if isinstance(backend, AuditedBackend):
                backend.record(action, full, error=error, version=version)

    @classmethod
    @contextlib.contextmanager
    def _claim(cls, full: str) -> Iterator[None]:
        """In-process half of the rotation lock (the backend's pending CAS is the other)."""
        with cls._locks_guard:
            lock = cls._locks.setdefault(full, threading.Lock())
        if not lock.acquire(blocking=False):
            raise Conflict(f"secret {full!r} is already being rotated in this process", name=full)
        try:
            yield
        finally:
            lock.release()
