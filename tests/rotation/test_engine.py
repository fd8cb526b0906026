"""The four-step rotation engine on the in-memory backend (sekret.rotation.engine)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rotation.target import FileServiceRotator
from sekret import (
    CURRENT,
    PENDING,
    PREVIOUS,
    AccessDenied,
    BackendUnavailable,
    Capability,
    Conflict,
    RotationError,
    Secret,
    SecretNotFound,
    Secrets,
    SecretValue,
    UnsupportedOperation,
    VersionNotFound,
)
from sekret.backends.memory import MemoryBackend
from sekret.rotation import RandomRotator, RotationEngine, Step
from sekret.testing import sentinel_value


class Crash(BaseException):
    """Stands in for the process dying right after a step."""


@pytest.fixture
def secrets() -> Secrets:
    return Secrets(MemoryBackend(), app="arrwdb", environment="production")


@pytest.fixture
def service(tmp_path: Path) -> FileServiceRotator:
    return FileServiceRotator(tmp_path / "service.json")


def _start(secrets: Secrets, service: FileServiceRotator) -> str:
    value = sentinel_value()
    secrets.put("api-key", value)
    service.accept(value)
    return value


def test_rotation_runs_four_steps(secrets: Secrets, service: FileServiceRotator) -> None:
    """A rotation creates, sets, tests and finishes: new current, old previous, no pending."""
    old = _start(secrets, service)
    events: list[dict[str, object]] = []
    result = RotationEngine(secrets, on_event=lambda e: events.append(dict(e))).rotate(
        "api-key", service
    )
    assert result.outcome == "rotated"
    assert result.steps == (Step.CREATE, Step.SET, Step.TEST, Step.FINISH)
    new = secrets.get("api-key")
    assert new != old
    assert service.works(new)
    assert secrets.get("api-key", stage=PREVIOUS) == old
    with pytest.raises(VersionNotFound):
        secrets.get("api-key", stage=PENDING)
    assert [e["action"] for e in events] == [
        "secret.rotate.create",
        "secret.rotate.set",
        "secret.rotate.test",
        "secret.rotate.finish",
    ]
    assert all(old not in str(e) and new not in str(e) for e in events)


def test_no_rotation_labels_left_behind(secrets: Secrets, service: FileServiceRotator) -> None:
    """After a rotation only current and previous labels remain."""
    _start(secrets, service)
    RotationEngine(secrets).rotate("api-key", service)
    labels = set().union(*(v.stages for v in secrets.versions("api-key")))
    assert labels == {CURRENT, PREVIOUS}


@pytest.mark.parametrize("crash_after", list(Step))
def test_crash_after_each_step_then_rerun_finishes(
    secrets: Secrets, service: FileServiceRotator, crash_after: Step
) -> None:
    """A run that dies after any step leaves current working; a rerun completes it."""
    old = _start(secrets, service)

    def die(name: str, step: Step, version: str) -> None:
        if step == crash_after:
            raise Crash

    with pytest.raises(Crash):
        RotationEngine(secrets, on_step=die).rotate("api-key", service)
    secrets.invalidate("api-key")
    assert service.works(secrets.get("api-key"))
    if crash_after != Step.FINISH:  # after finish there is nothing left to do
        assert RotationEngine(secrets).rotate("api-key", service).outcome == "resumed"
    new = secrets.get("api-key")
    assert new != old
    assert service.works(new)
    assert len(secrets.versions("api-key")) == 2
    with pytest.raises(VersionNotFound):
        secrets.get("api-key", stage=PENDING)


def test_failed_test_rolls_back(secrets: Secrets, tmp_path: Path) -> None:
    """When test fails, current stays, pending is dropped and set is reverted."""
    service = FileServiceRotator(tmp_path / "s.json", fail_test=True)
    old = _start(secrets, service)
    with pytest.raises(RotationError) as info:
        RotationEngine(secrets).rotate("api-key", service)
    assert "rolled back" in str(info.value)
    assert secrets.get("api-key") == old
    with pytest.raises(VersionNotFound):
        secrets.get("api-key", stage=PENDING)
    pending = [v for v in secrets.versions("api-key") if v.version != "1"]
    assert len(pending) == 1  # else the all() below would hold vacuously
    assert all(not service.works(secrets.get("api-key", version=v.version)) for v in pending)


def test_rollback_on_request(secrets: Secrets, service: FileServiceRotator) -> None:
    """rollback() after a crash drops pending and withdraws it from the service."""
    old = _start(secrets, service)

    def die(name: str, step: Step, version: str) -> None:
        if step == Step.SET:
            raise Crash

    with pytest.raises(Crash):
        RotationEngine(secrets, on_step=die).rotate("api-key", service)
    pending = secrets.get("api-key", stage=PENDING)
    RotationEngine(secrets).rollback("api-key", service)
    assert not service.works(pending)
    assert secrets.get("api-key") == old
    with pytest.raises(VersionNotFound):
        secrets.get("api-key", stage=PENDING)


def test_concurrent_rotation_in_another_process_conflicts(secrets: Secrets) -> None:
    """If another run placed pending between our checks, the pending CAS gives Conflict."""
    secrets.put("api-key", "v1")
    backend = secrets.backend
    original_write = backend.write

    def racing_write(*args: object, **kwargs: object) -> object:
        info = original_write(*args, **kwargs)  # type: ignore[arg-type]
        # another process wins the claim right after our write
        other = original_write("arrwdb/production/api-key", SecretValue.of("x"), stages=[PENDING])
        assert other.version
        return info

    backend.write = racing_write  # type: ignore[method-assign]
    with pytest.raises(Conflict):
        RotationEngine(secrets).rotate("api-key", RandomRotator())
    backend.write = original_write  # type: ignore[method-assign]
    labels = set().union(*(v.stages for v in secrets.versions("api-key")))
    assert not [label for label in labels if label.startswith("rotating-")]


def test_two_rotations_at_once_one_conflicts(secrets: Secrets) -> None:
    """Two threads rotating one secret: one proceeds, the other gets Conflict."""
    secrets.put("api-key", "v1")
    gate = threading.Event()
    release = threading.Event()

    class Slow(RandomRotator):
        def set(self, pending: object, current: object) -> None:
            gate.set()
            release.wait(10)

    errors: list[BaseException] = []

    def first() -> None:
        RotationEngine(secrets).rotate("api-key", Slow())

    t = threading.Thread(target=first)
    t.start()
    gate.wait(10)
    try:
        RotationEngine(secrets).rotate("api-key", RandomRotator())
    except Conflict as exc:
        errors.append(exc)
    release.set()
    t.join(10)
    assert len(errors) == 1
    assert len(secrets.versions("api-key")) == 2


def test_rotate_needs_an_existing_secret(secrets: Secrets) -> None:
    """Rotating a secret with no current value says so."""
    with pytest.raises(SecretNotFound):
        RotationEngine(secrets).rotate("nothing", RandomRotator())


def test_read_only_client_cannot_rotate() -> None:
    """A read-only client's rotation is refused before anything is written."""
    ro = Secrets(MemoryBackend(), app="a", environment="e", read_only=True)
    with pytest.raises(AccessDenied, match="rotate refused"):
        RotationEngine(ro).rotate("k", RandomRotator())


def test_backend_without_stages_is_unsupported() -> None:
    """Rotation on a backend that declares no stages raises UnsupportedOperation."""
    backend = MemoryBackend()
    backend.capabilities = backend.capabilities & ~Capability.STAGES
    with pytest.raises(UnsupportedOperation):
        RotationEngine(Secrets(backend, app="a", environment="e")).rotate("k", RandomRotator())


def test_random_rotator_options() -> None:
    """The random rotator honours length, alphabet and prefix, and refuses weak settings."""
    value = RandomRotator(length=20, alphabet="hex", prefix="sk_").generate(None)
    assert isinstance(value, str)
    assert value.startswith("sk_")
    assert len(value) == 23
    assert set(value[3:]) <= set("0123456789abcdef")
    with pytest.raises(ValueError, match="length"):
        RandomRotator(length=8)
    with pytest.raises(ValueError, match="alphabet"):
        RandomRotator(alphabet="ab")


def test_crash_between_the_two_moves_of_finish(
    secrets: Secrets, service: FileServiceRotator
) -> None:
    """A run that died after moving current but before clearing pending is cleaned up."""
    _start(secrets, service)
    backend = secrets.backend
    original = backend.move_stage

    def dies_on_clear(name: str, stage: str, version: str | None, **kw: object) -> None:
        if stage == PENDING and version is None:
            raise Crash
        original(name, stage, version, **kw)  # type: ignore[arg-type]

    backend.move_stage = dies_on_clear  # type: ignore[method-assign]
    with pytest.raises(Crash):
        RotationEngine(secrets).rotate("api-key", service)
    backend.move_stage = original  # type: ignore[method-assign]
    secrets.invalidate("api-key")
    current = secrets.get_secret("api-key")
    assert PENDING in current.stages
    result = RotationEngine(secrets).rotate("api-key", service)
    assert result.outcome == "resumed"
    assert secrets.get_secret("api-key").version == current.version
    with pytest.raises(VersionNotFound):
        secrets.get("api-key", stage=PENDING)


def test_rotation_steps_are_audited(service: FileServiceRotator) -> None:
    """With an audit log, each step is an event next to the backend operations, no values."""
    from sekret.audit import AuditLog, CaptureSink

    sink = CaptureSink()
    audit = AuditLog([sink], background=False, flush_interval=None)
    secrets = Secrets(MemoryBackend(), app="arrwdb", environment="production", audit=audit)
    old = _start(secrets, service)
    with pytest.raises(RotationError):
        RotationEngine(secrets).rotate("api-key", FileServiceRotator(service.path, fail_test=True))
    RotationEngine(secrets).rotate("api-key", service)
    new = secrets.get("api-key")
    audit.close()
    steps = [
        (e["action"], e["outcome"])
        for e in sink.events
        if str(e["action"]).startswith("secret.rotate.")
    ]
    assert steps == [
        ("secret.rotate.create", "success"),
        ("secret.rotate.set", "success"),
        ("secret.rotate.test", "failure"),
        ("secret.rotate.create", "success"),
        ("secret.rotate.set", "success"),
        ("secret.rotate.test", "success"),
        ("secret.rotate.finish", "success"),
    ]
    assert all(e["secret"] == "arrwdb/production/api-key" for e in sink.events if e["secret"])
    assert "secret.stage.move" in sink.actions()
    dumped = repr(sink.events)
    assert old not in dumped
    assert new not in dumped


def test_builtin_rotators_mirror_the_entry_points() -> None:
    """Every built-in rotator is declared in sekret.rotators and resolves by name."""
    from importlib.metadata import entry_points

    from sekret.rotation.rotators import BUILTIN, rotator_class

    declared = {ep.name: ep.value for ep in entry_points(group="sekret.rotators")}
    assert {k: declared.get(k) for k in BUILTIN} == BUILTIN
    assert all(rotator_class(name).name == name for name in BUILTIN)


# -- the finish, revert and event paths (issue 21: mutation testing) ---------------------
class _Recorder(RandomRotator):
    """A rotator that records the calls it gets and fails where told."""

    def __init__(self, *, fail: str = "") -> None:
        super().__init__()
        self.fail = fail
        self.calls: list[tuple[str, str, str | None]] = []

    def set(self, pending: Secret, current: Secret | None) -> None:
        self.calls.append(("set", pending.version, current.version if current else None))
        if self.fail == "set":
            raise ConnectionError("simulated")

    def test(self, pending: Secret) -> None:
        self.calls.append(("test", pending.version, None))
        if self.fail == "test":
            raise ConnectionError("simulated")

    def revert(self, pending: Secret, current: Secret | None) -> None:
        self.calls.append(("revert", pending.version, current.version if current else None))


def _at(secrets: Secrets, stage: str = CURRENT) -> str:
    """The version holding ``stage`` of the test secret."""
    return secrets.backend.read("arrwdb/production/api-key", stage=stage).version


FIXED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_events_carry_outcome_version_time_and_the_error_class(secrets: Secrets) -> None:
    """Each step's event names secret, version, outcome, the injected time; a failure its class."""
    secrets.put("api-key", "v1")
    events: list[dict[str, object]] = []
    engine = RotationEngine(secrets, on_event=lambda e: events.append(dict(e)), clock=lambda: FIXED)
    with pytest.raises(RotationError):
        engine.rotate("api-key", _Recorder(fail="test"))
    assert [(e["action"], e["outcome"]) for e in events] == [
        ("secret.rotate.create", "success"),
        ("secret.rotate.set", "success"),
        ("secret.rotate.test", "failure"),
    ]
    assert {e["secret"] for e in events} == {"arrwdb/production/api-key"}
    assert {e["version"] for e in events} == {"2"}
    assert {e["time"] for e in events} == {FIXED.isoformat()}
    assert events[-1]["error"] == "ConnectionError"
    assert "error" not in events[0]


def test_failed_set_keeps_pending_and_a_rerun_resumes(secrets: Secrets) -> None:
    """A failed set raises and keeps pending (no revert); the rerun resumes from set."""
    secrets.put("api-key", "v1")
    failing = _Recorder(fail="set")
    with pytest.raises(RotationError) as info:
        RotationEngine(secrets).rotate("api-key", failing)
    assert info.value.version == "2"
    assert failing.calls == [("set", "2", "1")]
    assert _at(secrets, PENDING) == "2"
    assert _at(secrets) == "1"
    again = _Recorder()
    result = RotationEngine(secrets).rotate("api-key", again)
    assert (result.name, result.outcome, result.version, result.previous_version) == (
        "api-key",
        "resumed",
        "2",
        "1",
    )
    assert result.steps == (Step.SET, Step.TEST, Step.FINISH)
    assert again.calls == [("set", "2", "1"), ("test", "2", None)]
    assert _at(secrets) == "2"
    assert _at(secrets, PREVIOUS) == "1"


def test_failed_test_reverts_with_pending_and_current(secrets: Secrets) -> None:
    """A failed test reverts set with (pending, current) and drops pending; current stays."""
    secrets.put("api-key", "v1")
    rotator = _Recorder(fail="test")
    with pytest.raises(RotationError):
        RotationEngine(secrets).rotate("api-key", rotator)
    assert rotator.calls == [("set", "2", "1"), ("test", "2", None), ("revert", "2", "1")]
    assert _at(secrets) == "1"
    with pytest.raises(VersionNotFound):
        secrets.get("api-key", stage=PENDING)


def test_rollback_without_pending_does_nothing(secrets: Secrets) -> None:
    """rollback with no pending version reverts nothing and reports the current version."""
    secrets.put("api-key", "v1")
    rotator = _Recorder()
    events: list[dict[str, object]] = []
    result = RotationEngine(secrets, on_event=lambda e: events.append(dict(e))).rollback(
        "api-key", rotator
    )
    assert (result.outcome, result.version, result.previous_version) == ("rolled_back", "1", None)
    assert rotator.calls == []
    assert events == []


def test_rollback_reverts_drops_pending_and_records_it(secrets: Secrets) -> None:
    """rollback of a pending rotation reverts it with current, drops pending, emits an event."""
    secrets.put("api-key", "v1")
    with pytest.raises(RotationError):
        RotationEngine(secrets).rotate("api-key", _Recorder(fail="set"))
    rotator = _Recorder()
    events: list[dict[str, object]] = []
    result = RotationEngine(secrets, on_event=lambda e: events.append(dict(e))).rollback(
        "api-key", rotator
    )
    assert (result.outcome, result.version) == ("rolled_back", "1")
    assert rotator.calls == [("revert", "2", "1")]
    assert [(e["action"], e["version"]) for e in events] == [("secret.rotate.rollback", "2")]
    with pytest.raises(VersionNotFound):
        secrets.get("api-key", stage=PENDING)
    assert RotationEngine(secrets).rotate("api-key", _Recorder()).outcome == "rotated"


class _RacingBackend(MemoryBackend):
    """Another run moves current just before ours: to our pending, or elsewhere."""

    def __init__(self, winner: str) -> None:
        super().__init__()
        self.winner = winner

    def move_stage(
        self, name: str, stage: str, version: str | None, *, expected_version: str | None = None
    ) -> None:
        if stage == CURRENT and expected_version is not None and self.winner:
            target = version if self.winner == "ours" else expected_version
            super().move_stage(name, CURRENT, target)
            self.winner = ""
            raise Conflict("current moved meanwhile", name=name)
        super().move_stage(name, stage, version, expected_version=expected_version)


def test_finish_accepts_a_race_won_by_the_same_version() -> None:
    """If current already moved to our pending version, finish completes instead of failing."""
    secrets = Secrets(_RacingBackend("ours"), app="arrwdb", environment="production")
    secrets.put("api-key", "v1")
    result = RotationEngine(secrets).rotate("api-key", _Recorder())
    assert (result.outcome, result.version) == ("rotated", "2")
    assert _at(secrets) == "2"
    with pytest.raises(VersionNotFound):
        secrets.get("api-key", stage=PENDING)


def test_finish_refuses_a_race_won_by_another_version() -> None:
    """If current moved anywhere but our pending version, finish raises Conflict."""
    secrets = Secrets(_RacingBackend("theirs"), app="arrwdb", environment="production")
    secrets.put("api-key", "v1")
    with pytest.raises(Conflict):
        RotationEngine(secrets).rotate("api-key", _Recorder())
    assert _at(secrets) == "1"


def test_a_label_that_cannot_be_removed_is_a_warning(
    secrets: Secrets, caplog: pytest.LogCaptureFixture
) -> None:
    """Failing to remove the private rotating- label logs a warning; the rotation completes."""
    secrets.put("api-key", "v1")
    backend = secrets.backend
    real = backend.move_stage

    def stubborn(name: str, stage: str, version: str | None, **kw: object) -> None:
        if stage.startswith("rotating-") and version is None:
            raise Conflict("label is stuck", name=name)
        real(name, stage, version, **kw)  # type: ignore[arg-type]

    backend.move_stage = stubborn  # type: ignore[method-assign]
    with caplog.at_level("WARNING", logger="sekret.rotation"):
        result = RotationEngine(secrets).rotate("api-key", _Recorder())
    assert result.outcome == "rotated"
    assert any("could not remove label rotating-" in r.getMessage() for r in caplog.records)


FULL = "arrwdb/production/api-key"


def test_a_stale_rotating_label_is_swept_by_the_next_run(secrets: Secrets) -> None:
    """A rotating- label left by a crashed create step is removed by the next rotation."""
    secrets.put("api-key", "v1")
    secrets.backend.write(FULL, SecretValue.of("x"), stages=["rotating-0123456789ab"])
    RotationEngine(secrets).rotate("api-key", _Recorder())
    labels = set().union(*(v.stages for v in secrets.versions("api-key")))
    assert labels == {CURRENT, PREVIOUS}


def test_a_version_without_current_is_refused(secrets: Secrets) -> None:
    """A secret whose versions carry no current label is refused with SecretNotFound."""
    secrets.backend.write(FULL, SecretValue.of("x"), stages=[])
    with pytest.raises(SecretNotFound, match="no current version"):
        RotationEngine(secrets).rotate("api-key", _Recorder())


def test_rotate_refreshes_the_cached_current_value(secrets: Secrets) -> None:
    """After a rotation the client's cache returns the new current value, not the old one."""
    secrets.put("api-key", "v1")
    assert secrets.get("api-key") == "v1"
    RotationEngine(secrets).rotate("api-key", _Recorder())
    assert secrets.get("api-key") == secrets.backend.read(FULL, stage=CURRENT).value.text()


def test_rollback_forgets_the_cached_pending_value(secrets: Secrets) -> None:
    """After rollback a cached pending value is gone: reading pending raises VersionNotFound."""
    secrets.put("api-key", "v1")
    with pytest.raises(RotationError):
        RotationEngine(secrets).rotate("api-key", _Recorder(fail="set"))
    assert secrets.get("api-key", stage=PENDING)
    RotationEngine(secrets).rollback("api-key", _Recorder())
    with pytest.raises(VersionNotFound):
        secrets.get("api-key", stage=PENDING)


def test_a_failed_test_forgets_the_cached_pending_value(secrets: Secrets) -> None:
    """A failed test drops pending and the cache: reading pending raises VersionNotFound."""
    secrets.put("api-key", "v1")
    with pytest.raises(RotationError):
        RotationEngine(secrets).rotate("api-key", _Recorder(fail="set"))
    assert secrets.get("api-key", stage=PENDING)
    with pytest.raises(RotationError):
        RotationEngine(secrets).rotate("api-key", _Recorder(fail="test"))
    with pytest.raises(VersionNotFound):
        secrets.get("api-key", stage=PENDING)


def test_the_new_version_records_its_rotation_id_and_rotator(secrets: Secrets) -> None:
    """The version a rotation writes carries metadata rotation_id (32 hex) and rotator name."""
    secrets.put("api-key", "v1")
    RotationEngine(secrets).rotate("api-key", _Recorder())
    info = next(v for v in secrets.backend.versions(FULL) if v.version == "2")
    assert set(info.metadata) >= {"rotation_id", "rotator"}
    assert info.metadata["rotator"] == RandomRotator.name
    assert len(info.metadata["rotation_id"]) == 32
    assert set(info.metadata["rotation_id"]) <= set("0123456789abcdef")


def test_base_rotator_defaults() -> None:
    """The base Rotator is named base, suits no kinds, keeps shape and cannot generate."""
    from sekret.rotation.engine import Rotator

    assert (Rotator.name, Rotator.kinds, Rotator.keeps_shape) == ("base", (), True)
    assert repr(Rotator()) == "<Rotator base>"
    with pytest.raises(UnsupportedOperation, match="base"):
        Rotator().generate(None)


def test_a_lost_claim_is_a_failed_create_event(secrets: Secrets) -> None:
    """When another run holds pending, create reports a failure event with the Conflict class."""
    secrets.put("api-key", "v1")
    backend = secrets.backend
    original_write = backend.write

    def racing_write(*args: object, **kwargs: object) -> object:
        info = original_write(*args, **kwargs)  # type: ignore[arg-type]
        original_write(FULL, SecretValue.of("x"), stages=[PENDING])
        return info

    backend.write = racing_write  # type: ignore[method-assign]
    events: list[dict[str, object]] = []
    with pytest.raises(Conflict):
        RotationEngine(secrets, on_event=lambda e: events.append(dict(e))).rotate(
            "api-key", _Recorder()
        )
    assert [(e["action"], e["outcome"], e.get("error")) for e in events] == [
        ("secret.rotate.create", "failure", "Conflict")
    ]


def test_a_failed_set_is_a_failed_set_event(secrets: Secrets) -> None:
    """A set that raises reports a set failure event naming the exception class."""
    secrets.put("api-key", "v1")
    events: list[dict[str, object]] = []
    with pytest.raises(RotationError):
        RotationEngine(secrets, on_event=lambda e: events.append(dict(e))).rotate(
            "api-key", _Recorder(fail="set")
        )
    assert [(e["action"], e["outcome"], e.get("error")) for e in events] == [
        ("secret.rotate.create", "success", None),
        ("secret.rotate.set", "failure", "ConnectionError"),
    ]


def test_shape_of_names_kinds_and_keys_only() -> None:
    """shape_of gives the kind, or for JSON the sorted key names / empty object / array."""
    from sekret.rotation.engine import shape_of

    assert shape_of(SecretValue.of("s3cr3t")) == "text"
    assert shape_of(SecretValue.of(b"\x00\x01")) == "bytes"
    assert shape_of(SecretValue.of({"b": "1", "a": "2"})) == "json object with keys a, b"
    assert shape_of(SecretValue.of({})) == "{}"
    assert shape_of(SecretValue.of(["x"])) == "json array"


class _Reshaping(RandomRotator):
    """A rotator that turns a text secret into a JSON object."""

    def generate(self, current: Secret | None) -> object:
        return {"password": "x"}


def test_a_rotator_that_changes_the_shape_is_refused_before_writing(secrets: Secrets) -> None:
    """A rotator that keeps_shape but returns another shape raises; nothing is written."""
    secrets.put("api-key", "v1")
    with pytest.raises(RotationError, match="text value with a json object"):
        RotationEngine(secrets).rotate("api-key", _Reshaping())
    assert [v.version for v in secrets.versions("api-key")] == ["1"]


def test_rotation_result_is_frozen() -> None:
    """RotationResult is immutable and slotted."""
    import dataclasses

    from sekret.rotation.engine import RotationResult

    result = RotationResult("k", "rotated", "2", "1")
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.version = "3"  # type: ignore[misc]
    assert not hasattr(result, "__dict__")


class _CurrentUnreadable(MemoryBackend):
    """A backend whose read by stage current fails (reads by version still work)."""

    def read(self, name: str, *, version: str | None = None, stage: str | None = None) -> Secret:
        if stage == CURRENT:
            raise BackendUnavailable("simulated", name=name)
        return super().read(name, version=version, stage=stage)


def test_finish_reports_the_pending_version_when_current_cannot_be_read() -> None:
    """If reading current after finish fails, the result names the promoted pending version."""
    secrets = Secrets(_CurrentUnreadable(), app="arrwdb", environment="production", cache=False)
    secrets.put("api-key", "v1")
    result = RotationEngine(secrets).rotate("api-key", _Recorder())
    assert (result.outcome, result.version, result.previous_version) == ("rotated", "2", "1")


def test_steps_and_resumption_are_logged(
    secrets: Secrets, caplog: pytest.LogCaptureFixture
) -> None:
    """Each step logs its outcome and version; a resumed run logs the pending version."""
    secrets.put("api-key", "v1")
    with pytest.raises(RotationError):
        RotationEngine(secrets).rotate("api-key", _Recorder(fail="set"))
    with caplog.at_level("INFO", logger="sekret.rotation"):
        RotationEngine(secrets).rotate("api-key", _Recorder())
    messages = [r.getMessage() for r in caplog.records]
    assert f"rotation of {FULL}: resuming pending version 2" in messages
    assert f"rotation of {FULL}: finish success (version 2)" in messages
