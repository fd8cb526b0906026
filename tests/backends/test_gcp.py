"""The Google Secret Manager backend: the real SDK against the local fake (gRPC and REST)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.api_core.retry import Retry, if_exception_type

from sekret import Secrets, SecretValue, VersionDisabled
from sekret._values import CURRENT, PENDING, PREVIOUS
from sekret.backends import open_backend
from sekret.backends._namemap import GOOGLE
from sekret.backends.gcp import GcpBackend
from sekret.exceptions import (
    AccessDenied,
    AuthenticationFailed,
    BackendUnavailable,
    ConfigurationError,
    Conflict,
    IntegrityError,
    InvalidSecretName,
    InvalidValue,
    SecretDeleted,
    SecretNotFound,
    Throttled,
    VersionNotFound,
)
from sekret.rotation import RandomRotator, RotationEngine, Step
from sekret.testing import BackendContract, sentinel_value
from servers.gcp_fake import GcpFake

PROJECT = "sekret-test"


def quick_retry() -> Any:
    """A retry that gives up quickly (the SDK default waits up to 60 s)."""
    from google.api_core.exceptions import ResourceExhausted, ServiceUnavailable, TooManyRequests

    return Retry(
        initial=0.001,
        maximum=0.002,
        multiplier=1.0,
        timeout=0.05,
        predicate=if_exception_type(ResourceExhausted, ServiceUnavailable, TooManyRequests),
    )


def grpc_backend(fake: GcpFake, **options: Any) -> GcpBackend:
    return GcpBackend(PROJECT, client=fake.grpc_client(), retry=quick_retry(), **options)


def rest_backend(fake: GcpFake, **options: Any) -> GcpBackend:
    return GcpBackend(PROJECT, client=fake.rest_client(), retry=quick_retry(), **options)


@pytest.fixture
def backend(gcp_fake: GcpFake) -> Iterator[GcpBackend]:
    with grpc_backend(gcp_fake) as b:
        yield b


@pytest.fixture
def rest(gcp_fake: GcpFake) -> Iterator[GcpBackend]:
    with rest_backend(gcp_fake) as b:
        yield b


class TestGcpContract(BackendContract):
    @pytest.fixture
    def backend(self, gcp_fake: GcpFake) -> Iterator[GcpBackend]:
        with grpc_backend(gcp_fake) as b:
            yield b


# -- REST smoke test -------------------------------------------------------------
def test_rest_round_trip_and_stages(rest: GcpBackend) -> None:
    """Over REST: write, read current by alias, pending, promote, versions."""
    v1 = rest.write("app/dev/rest", SecretValue.of({"a": 1})).version
    v2 = rest.write("app/dev/rest", SecretValue.of(b"\x00\x01"), stages=[PENDING]).version
    assert rest.read("app/dev/rest").value.json() == {"a": 1}
    assert rest.read("app/dev/rest", stage=PENDING).value.bytes() == b"\x00\x01"
    rest.move_stage("app/dev/rest", CURRENT, v2, expected_version=v1)
    rest.move_stage("app/dev/rest", PENDING, None)
    assert rest.read("app/dev/rest", stage=PREVIOUS).version == v1
    assert rest.read("app/dev/rest").value.bytes() == b"\x00\x01"
    assert [v.version for v in rest.versions("app/dev/rest")] == [v1, "2"]


def test_rest_errors_map_from_parent_classes(rest: GcpBackend, gcp_fake: GcpFake) -> None:
    """REST raises NotFound/Forbidden/Conflict/BadRequest parents; each maps like gRPC."""
    with pytest.raises(SecretNotFound):
        rest.read("app/dev/none")
    gcp_fake.model.inject(grpc.StatusCode.PERMISSION_DENIED)
    with pytest.raises(AccessDenied):
        rest.read("app/dev/none")
    gcp_fake.model.inject(grpc.StatusCode.UNAUTHENTICATED)
    with pytest.raises(AuthenticationFailed):
        rest.read("app/dev/none")
    v1 = rest.write("app/dev/rerr", SecretValue.of("one")).version
    rest.write("app/dev/rerr", SecretValue.of("two"))
    with pytest.raises(Conflict):
        rest.move_stage("app/dev/rerr", CURRENT, v1, expected_version=v1)
    gcp_fake.model.inject(grpc.StatusCode.RESOURCE_EXHAUSTED, times=1000)
    with pytest.raises(Throttled):
        rest.read("app/dev/rerr")


def test_rest_disabled_version(rest: GcpBackend, gcp_fake: GcpFake) -> None:
    """Over REST a disabled version (400 FAILED_PRECONDITION) raises VersionDisabled."""
    v1 = rest.write("app/dev/rdis", SecretValue.of("one")).version
    gcp_fake.grpc_client().disable_secret_version(
        name=f"projects/{PROJECT}/secrets/{GOOGLE.encode('app/dev/rdis')}/versions/{v1}"
    )
    with pytest.raises(VersionDisabled):
        rest.read("app/dev/rdis")


# -- gRPC error mapping ------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "error"),
    [
        (grpc.StatusCode.PERMISSION_DENIED, AccessDenied),
        (grpc.StatusCode.UNAUTHENTICATED, AuthenticationFailed),
        (grpc.StatusCode.NOT_FOUND, SecretNotFound),
        (grpc.StatusCode.ABORTED, Conflict),
        (grpc.StatusCode.INTERNAL, BackendUnavailable),
    ],
)
def test_grpc_errors_are_mapped(
    backend: GcpBackend, gcp_fake: GcpFake, code: grpc.StatusCode, error: type[Exception]
) -> None:
    """Each injected gRPC status raises its sekret error, chained from the SDK's."""
    gcp_fake.model.inject(code)
    with pytest.raises(error) as info:
        backend.read("app/dev/x")
    assert info.value.__cause__ is not None


def test_resource_exhausted_after_retries_is_throttled(
    backend: GcpBackend, gcp_fake: GcpFake
) -> None:
    """RESOURCE_EXHAUSTED on every retry of an access raises Throttled."""
    backend.write("app/dev/busy", SecretValue.of("v"))
    exhausted = grpc.StatusCode.RESOURCE_EXHAUSTED
    gcp_fake.model.inject(exhausted, times=1000, method="AccessSecretVersion")
    with pytest.raises(Throttled):
        backend.read("app/dev/busy")


def test_resource_exhausted_once_is_retried(backend: GcpBackend, gcp_fake: GcpFake) -> None:
    """One RESOURCE_EXHAUSTED on access is retried and the read succeeds."""
    backend.write("app/dev/once", SecretValue.of("v"))
    gcp_fake.model.inject(grpc.StatusCode.RESOURCE_EXHAUSTED, times=1, method="AccessSecretVersion")
    assert backend.read("app/dev/once").value.text() == "v"


def test_unreachable_is_unavailable() -> None:
    """A channel to a closed port raises BackendUnavailable."""
    from google.cloud.secretmanager_v1 import SecretManagerServiceClient
    from google.cloud.secretmanager_v1.services.secret_manager_service.transports import (
        SecretManagerServiceGrpcTransport,
    )

    channel = grpc.insecure_channel("127.0.0.1:1")
    transport = SecretManagerServiceGrpcTransport(channel=channel)
    client = SecretManagerServiceClient(transport=transport)
    backend = GcpBackend(PROJECT, client=client, retry=quick_retry(), timeout=2)
    with backend, pytest.raises(BackendUnavailable):
        backend.read("app/dev/x")


def test_disabled_version_is_its_own_error(backend: GcpBackend, gcp_fake: GcpFake) -> None:
    """Reading a disabled version raises VersionDisabled, a VersionNotFound."""
    v1 = backend.write("app/dev/dis", SecretValue.of("one")).version
    backend.write("app/dev/dis", SecretValue.of("two"))
    gcp_fake.grpc_client().disable_secret_version(
        name=f"projects/{PROJECT}/secrets/{GOOGLE.encode('app/dev/dis')}/versions/{v1}"
    )
    with pytest.raises(VersionDisabled) as info:
        backend.read("app/dev/dis", version=v1)
    assert isinstance(info.value, VersionNotFound)
    assert backend.read("app/dev/dis").value.text() == "two"


# -- semantics specific to Google ----------------------------------------------------
def test_latest_is_never_read_as_current(backend: GcpBackend) -> None:
    """A newer pending version does not change current; 'latest' is not a version id."""
    v1 = backend.write("app/dev/lat", SecretValue.of("live")).version
    backend.write("app/dev/lat", SecretValue.of("next"), stages=[PENDING])
    assert backend.read("app/dev/lat").version == v1
    with pytest.raises(VersionNotFound):
        backend.read("app/dev/lat", version="latest")


# -- working alongside other tools: the raw SDK client and sekret take turns ----------


def _raw(gcp_fake: GcpFake) -> Any:
    """The raw client gcloud, Terraform or another app would use."""
    return gcp_fake.grpc_client()


def _latest(gcp_fake: GcpFake, name: str) -> bytes:
    """What `gcloud secrets versions access latest` prints."""
    path = f"projects/{PROJECT}/secrets/{GOOGLE.encode(name)}/versions/latest"
    return bytes(_raw(gcp_fake).access_secret_version(name=path).payload.data)


def test_native_write_becomes_current(backend: GcpBackend, gcp_fake: GcpFake) -> None:
    """A version added by another tool is current for sekret; versions and rollback work."""
    name = "interop/dev/native"
    v1 = backend.write(name, SecretValue.of("from-sekret")).version
    path = f"projects/{PROJECT}/secrets/{GOOGLE.encode(name)}"
    added = _raw(gcp_fake).add_secret_version(parent=path, payload={"data": b"from-terraform"})
    v2 = added.name.rsplit("/", 1)[-1]
    assert backend.read(name).value.text() == "from-terraform"
    assert backend.read(name).version == v2
    assert [(i.version, CURRENT in i.stages) for i in backend.versions(name)] == [
        (v1, False),
        (v2, True),
    ]
    backend.move_stage(name, CURRENT, v1, expected_version=v2)  # rollback
    assert _latest(gcp_fake, name) == b"from-sekret"
    assert backend.read(name, stage=PREVIOUS).version == v2


def test_pending_is_invisible_to_native_readers(backend: GcpBackend, gcp_fake: GcpFake) -> None:
    """Pending never becomes versions/latest until promoted; rollback is seen by all."""
    name = "interop/dev/pending"
    v1 = backend.write(name, SecretValue.of("live")).version
    pending = backend.write(name, SecretValue.of("not-yet-validated"), stages=[PENDING]).version
    assert _latest(gcp_fake, name) == b"live"
    assert name in {i.name for i in backend.list("interop/dev/").items}
    assert all(not i.name.endswith("_p") for i in backend.list("interop/").items)
    backend.move_stage(name, CURRENT, pending, expected_version=v1)
    backend.move_stage(name, PENDING, None)
    assert _latest(gcp_fake, name) == b"not-yet-validated"
    assert backend.read(name, stage=PREVIOUS).version == v1
    backend.move_stage(name, CURRENT, v1)
    assert _latest(gcp_fake, name) == b"live"


def test_native_annotation_rewrite_never_changes_the_value(
    backend: GcpBackend, gcp_fake: GcpFake
) -> None:
    """Another tool replacing the secret's annotations leaves current and previous intact."""
    name = "interop/dev/annot"
    backend.write(name, SecretValue.of("one"))
    backend.write(name, SecretValue.of({"password": "two"}))
    path = f"projects/{PROJECT}/secrets/{GOOGLE.encode(name)}"
    _raw(gcp_fake).update_secret(
        secret={"name": path, "annotations": {"owner": "team-a"}},
        update_mask={"paths": ["annotations"]},
    )
    assert backend.read(name).value.bytes() == b'{"password":"two"}'
    assert backend.read(name, stage=PREVIOUS).value.text() == "one"


def test_disabled_latest_raises_never_serves_an_older_value(
    backend: GcpBackend, gcp_fake: GcpFake
) -> None:
    """If versions/latest is disabled (native readers fail too), sekret raises."""
    name = "interop/dev/disabled"
    backend.write(name, SecretValue.of("one"))
    v2 = backend.write(name, SecretValue.of("two")).version
    path = f"projects/{PROJECT}/secrets/{GOOGLE.encode(name)}"
    _raw(gcp_fake).disable_secret_version(name=f"{path}/versions/{v2}")
    with pytest.raises(VersionDisabled):
        backend.read(name)


def test_read_of_current_needs_only_versions_access(backend: GcpBackend, gcp_fake: GcpFake) -> None:
    """With GetSecret denied (secretAccessor only), reading current still works."""
    name = "interop/dev/accessor"
    backend.write(name, SecretValue.of("v"))
    gcp_fake.model.inject(grpc.StatusCode.PERMISSION_DENIED, method="GetSecret", times=5)
    assert backend.read(name).value.text() == "v"


def test_failed_label_update_removes_the_version_it_added(
    backend: GcpBackend, gcp_fake: GcpFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If recording the pending label fails, the companion version is destroyed, not orphaned."""
    name = "interop/dev/orphan"
    backend.write(name, SecretValue.of("live"))

    def refuse(*args: Any) -> None:
        raise AccessDenied("no secrets.update")

    monkeypatch.setattr(backend, "_update", refuse)
    with pytest.raises(AccessDenied):
        backend.write(name, SecretValue.of("next"), stages=[PENDING])
    monkeypatch.undo()
    companion = f"projects/{PROJECT}/secrets/{GOOGLE.companion(GOOGLE.encode(name))}"
    states = [int(v.state) for v in _raw(gcp_fake).list_secret_versions(parent=companion)]
    assert states == [3]  # DESTROYED
    with pytest.raises(VersionNotFound):
        backend.read(name, stage=PENDING)


def test_read_only_caller_gets_not_found_after_the_window(gcp_fake: GcpFake) -> None:
    """After the emulated recovery window a caller that cannot purge gets SecretNotFound."""
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    with grpc_backend(gcp_fake, clock=lambda: now[0]) as b:
        b.write("app/dev/ro-window", SecretValue.of("v"))
        b.delete("app/dev/ro-window", recovery_days=7)
        now[0] += timedelta(days=8)
        gcp_fake.model.inject(grpc.StatusCode.PERMISSION_DENIED, method="DeleteSecret", times=5)
        with pytest.raises(SecretNotFound) as info:
            b.read("app/dev/ro-window")
        assert not isinstance(info.value, AccessDenied)


def test_recovery_window_is_emulated_with_the_clock(gcp_fake: GcpFake) -> None:
    """Delete disables every version; after the window the secret is purged for real."""
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    with grpc_backend(gcp_fake, clock=lambda: now[0]) as b:
        b.write("app/dev/win", SecretValue.of("v"))
        until = b.delete("app/dev/win", recovery_days=7)
        assert until == now[0] + timedelta(days=7)
        with pytest.raises(SecretDeleted) as info:
            b.read("app/dev/win")
        assert info.value.recoverable_until == until
        versions = gcp_fake.grpc_client().list_secret_versions(
            parent=f"projects/{PROJECT}/secrets/{GOOGLE.encode('app/dev/win')}"
        )
        assert {int(v.state) for v in versions} == {2}  # DISABLED
        now[0] += timedelta(days=8)
        with pytest.raises(SecretNotFound) as gone:
            b.restore("app/dev/win")
        assert not isinstance(gone.value, SecretDeleted)


def test_content_type_and_token_survive_in_annotations(backend: GcpBackend) -> None:
    """JSON kind, metadata and the idempotency token are recovered per version."""
    value = sentinel_value()
    first = backend.write(
        "app/dev/ann", SecretValue.of({"p": value}), token="tok", metadata={"owner": "team"}
    )
    again = backend.write("app/dev/ann", SecretValue.of({"p": value}), token="tok")
    assert again.version == first.version
    secret = backend.read("app/dev/ann")
    assert secret.value.json() == {"p": value}
    assert secret.metadata == {"owner": "team"}
    with pytest.raises(Conflict) as info:
        backend.write("app/dev/ann", SecretValue.of("other"), token="tok")
    assert value not in str(info.value)


def test_name_too_long_is_refused_before_any_call(backend: GcpBackend, gcp_fake: GcpFake) -> None:
    """A valid name whose secret id would exceed 255 characters is InvalidSecretName, no call."""
    with pytest.raises(InvalidSecretName):
        backend.read("a/" * 100 + "b")
    assert gcp_fake.model.calls == []


def test_from_url_and_describe() -> None:
    """gcp://<project> builds the backend; a malformed project id is a ConfigurationError."""
    from google.auth.credentials import AnonymousCredentials

    b = open_backend("gcp://my-project-1", credentials=AnonymousCredentials())
    assert b.describe() == "gcp://my-project-1"
    b.close()
    with pytest.raises(ConfigurationError):
        GcpBackend.from_url("gcp://Bad_Project")


def test_policy_read_binds_accessor_with_prefix_condition() -> None:
    """The read policy binds secretAccessor with a condition on the app's secret prefix."""
    doc = json.loads(GcpBackend.policy("arrwdb/production", project_number="123"))
    binding, viewer = doc["bindings"]
    assert binding["role"] == "roles/secretmanager.secretAccessor"
    assert viewer["role"] == "roles/secretmanager.viewer"  # metadata only, for stages
    assert viewer["condition"] == binding["condition"]
    assert binding["condition"]["expression"] == (
        'resource.name.startsWith("projects/123/secrets/arrwdb__production__")'
    )
    rotate = json.loads(GcpBackend.policy("arrwdb/production", access="rotate"))
    roles = {b["role"] for b in rotate["bindings"]}
    assert "roles/secretmanager.secretVersionAdder" in roles
    assert "roles/secretmanager.secretVersionManager" in roles


def test_listing_follows_next_page_token(
    backend: GcpBackend, gcp_fake: GcpFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 2 secrets per service page, every secret under the prefix is still listed."""
    monkeypatch.setattr(gcp_fake.model, "page_size", 2)
    names = {f"pages/g/s{i}" for i in range(5)}
    for n in names:
        backend.write(n, SecretValue.of("v"))
    assert {i.name for i in backend.list("pages/g/").items} == names
    assert gcp_fake.model.calls.count("ListSecrets") >= 3


def test_annotations_of_destroyed_versions_are_pruned(
    backend: GcpBackend, gcp_fake: GcpFake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Near the 16 KiB annotation limit, destroyed versions' entries are dropped; else refused."""
    import sekret.backends.gcp as gcp

    monkeypatch.setattr(gcp, "ANNOTATION_BUDGET", 150)  # two version entries fit
    path = f"projects/{PROJECT}/secrets/{GOOGLE.encode('app/dev/many')}"
    v1 = backend.write("app/dev/many", SecretValue.of("1")).version
    v2 = backend.write("app/dev/many", SecretValue.of("2")).version
    gcp_fake.grpc_client().destroy_secret_version(name=f"{path}/versions/{v1}")
    v3 = backend.write("app/dev/many", SecretValue.of("3")).version
    annotations = gcp_fake.grpc_client().get_secret(name=path).annotations
    assert f"sekret-v{v1}" not in annotations
    assert {f"sekret-v{v2}", f"sekret-v{v3}"} <= set(annotations)
    with pytest.raises(InvalidValue):
        backend.write("app/dev/many", SecretValue.of("4"))  # refused before anything is added
    assert backend.read("app/dev/many").version == v3
    assert [v.version for v in backend.versions("app/dev/many")] == [v2, v3]


def test_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without google-cloud-secret-manager, building the backend says: pip install "sekret[gcp]"."""
    import sys

    from sekret.exceptions import BackendNotInstalled

    monkeypatch.setitem(sys.modules, "google.cloud.secretmanager_v1", None)
    with pytest.raises(BackendNotInstalled, match=r"sekret\[gcp\]"):
        GcpBackend("my-project-1")


@pytest.mark.parametrize("crash_after", list(Step))
def test_rotation_resumes_and_native_readers_agree(
    backend: GcpBackend, gcp_fake: GcpFake, crash_after: Step
) -> None:
    """A rotation that dies after any step is finished by a rerun; versions/latest is current."""
    secrets = Secrets(backend, app="interop", environment=f"rot{crash_after.value}")
    secrets.put("key", "first-value")
    old = secrets.get("key")

    def die(name: str, step: Step, version: str) -> None:
        if step == crash_after:
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        RotationEngine(secrets, on_step=die).rotate("key", RandomRotator())
    secrets.invalidate("key")
    full = secrets.namespace.full("key")
    assert _latest(gcp_fake, full).decode() == secrets.get("key")
    RotationEngine(secrets).rotate("key", RandomRotator())
    secrets.invalidate("key")
    new = secrets.get("key")
    assert new != old
    assert _latest(gcp_fake, full).decode() == new
    with pytest.raises(VersionNotFound):
        secrets.get("key", stage=PENDING)


def test_facade_promote_rollback_revoke_agree_with_native_readers(
    backend: GcpBackend, gcp_fake: GcpFake
) -> None:
    """put/promote/rollback/revoke_previous through Secrets: versions/latest is current."""
    secrets = Secrets(backend, app="interop", environment="facade")
    full = secrets.namespace.full("db")
    secrets.put("db", {"password": "one"})
    secrets.put("db", {"password": "two"}, stages=[PENDING])
    assert json.loads(_latest(gcp_fake, full)) == {"password": "one"}
    secrets.promote("db")
    assert json.loads(_latest(gcp_fake, full)) == {"password": "two"}
    assert secrets.get_json("db") == {"password": "two"}
    secrets.rollback("db")
    secrets.invalidate("db")
    assert json.loads(_latest(gcp_fake, full)) == {"password": "one"}
    assert secrets.get_json("db") == {"password": "one"}
    secrets.revoke_previous("db")
    with pytest.raises(VersionNotFound):
        secrets.get("db", stage=PREVIOUS)


def test_stage_names_google_aliases_refuse_work(backend: GcpBackend, gcp_fake: GcpFake) -> None:
    """Stages like 'v1.2' or 64 characters (invalid Google aliases) work: labels are not aliases."""
    name = "interop/dev/stage-names"
    v1 = backend.write(name, SecretValue.of("one")).version
    for stage in ("v1.2", "s" * 64):
        backend.move_stage(name, stage, v1)
        assert backend.read(name, stage=stage).version == v1
    path = f"projects/{PROJECT}/secrets/{GOOGLE.encode(name)}"
    assert dict(_raw(gcp_fake).get_secret(name=path).version_aliases) == {}


def test_rewritten_companion_annotations_raise_never_guess_pending(
    backend: GcpBackend, gcp_fake: GcpFake
) -> None:
    """If another tool wipes the companion's annotations, pending raises; current still works."""
    name = "interop/dev/companion-annot"
    backend.write(name, SecretValue.of("live"))
    backend.write(name, SecretValue.of("next"), stages=[PENDING])
    companion = f"projects/{PROJECT}/secrets/{GOOGLE.companion(GOOGLE.encode(name))}"
    _raw(gcp_fake).update_secret(
        secret={"name": companion, "annotations": {"owner": "x"}},
        update_mask={"paths": ["annotations"]},
    )
    with pytest.raises(IntegrityError):
        backend.read(name, stage=PENDING)
    with pytest.raises(IntegrityError):
        backend.write(name, SecretValue.of("again"), stages=[PENDING])
    assert backend.read(name).value.text() == "live"
