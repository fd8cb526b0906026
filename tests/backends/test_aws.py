"""The AWS Secrets Manager backend: the shared contract against moto, plus what moto lacks.

moto (server mode, ``tests/servers/moto.py``) runs the contract and the
service-side behaviour. What moto does not simulate - access denied,
throttling, KMS failures, a batch call without permission - is driven
through botocore's ``Stubber`` or event hooks on a real client.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from sekret import SecretValue
from sekret.backends import open_backend
from sekret.backends.aws import BATCH_LIMIT, JSON_VERSION_PREFIX, AwsBackend
from sekret.backends.base import ABSENT, Capability
from sekret.exceptions import (
    AccessDenied,
    AuthenticationFailed,
    BackendNotInstalled,
    BackendUnavailable,
    ConfigurationError,
    Conflict,
    DecryptionError,
    InvalidSecretName,
    InvalidValue,
    SecretDeleted,
    SecretNotFound,
    SekretError,
    Throttled,
    VersionNotFound,
)
from sekret.testing import BackendContract, sentinel_value
from servers.moto import MOTO_REGION


def _client(endpoint_url: str | None = None, **config: Any) -> Any:
    from botocore.config import Config

    return boto3.client(
        "secretsmanager",
        region_name=MOTO_REGION,
        endpoint_url=endpoint_url,
        aws_access_key_id="testing-access-key",
        aws_secret_access_key="testing-not-a-secret",
        config=Config(**config) if config else None,
    )


@pytest.fixture
def name() -> str:
    """A fresh full name per test."""
    return f"awstest/t{uuid.uuid4().hex[:16]}/secret"


@pytest.fixture(scope="module")
def shared_backend(moto_server: str) -> Iterator[AwsBackend]:
    """One AwsBackend on the session's moto server (building a boto3 client is slow)."""
    with AwsBackend(MOTO_REGION, endpoint_url=moto_server) as b:
        yield b


@pytest.fixture
def backend(shared_backend: AwsBackend) -> AwsBackend:
    """The shared backend; every test works on its own fresh names."""
    return shared_backend


@pytest.fixture
def raw(moto_server: str) -> Iterator[Any]:
    """A plain boto3 client on the same moto server, to look behind the backend."""
    client = _client(moto_server)
    yield client
    client.close()


@pytest.mark.service
class TestAwsContract(BackendContract):
    @pytest.fixture
    def backend(self, shared_backend: AwsBackend) -> AwsBackend:
        """The module's backend on moto; contract names are fresh per test."""
        return shared_backend


# -- construction -------------------------------------------------------------
def test_import_does_not_load_boto3() -> None:
    """Importing the backend module leaves boto3 and botocore unimported."""
    code = (
        "import sys, sekret.backends.aws;"
        " print('boto3' in sys.modules or 'botocore' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without boto3 the constructor raises BackendNotInstalled naming sekret[aws]."""
    monkeypatch.setitem(sys.modules, "boto3", None)
    with pytest.raises(BackendNotInstalled, match=r"sekret\[aws\]"):
        AwsBackend("us-east-1")


def test_url_options_are_parsed(moto_server: str) -> None:
    """aws://REGION?endpoint_url=...&retry_mode=...&max_attempts=... builds a working backend."""
    url = f"aws://{MOTO_REGION}?endpoint_url={moto_server}&retry_mode=adaptive&max_attempts=2"
    backend = open_backend(url)
    assert isinstance(backend, AwsBackend)
    assert backend.describe() == f"aws://{MOTO_REGION}?endpoint_url={moto_server}"
    assert Capability.BATCH_READ in backend.capabilities
    assert Capability.CAS in backend.capabilities
    backend.close()
    backend.close()


@pytest.mark.parametrize(
    "url",
    [
        "aws://us-east-1?colour=blue",
        "aws://us-east-1?retry_mode=eager",
        "aws://us-east-1?max_attempts=many",
        "aws://AKIDEXAMPLE:not-a-real-key@us-east-1",
    ],
)
def test_bad_urls_are_configuration_errors(url: str) -> None:
    """Unknown options, bad values and credentials in the URL raise ConfigurationError."""
    with pytest.raises(ConfigurationError) as info:
        open_backend(url)
    assert "not-a-real-key" not in str(info.value)


def test_unknown_profile_is_a_configuration_error(moto_server: str) -> None:
    """A profile that is not configured raises ConfigurationError naming it."""
    with pytest.raises(ConfigurationError, match="no-such-profile"):
        AwsBackend(MOTO_REGION, profile="no-such-profile")


# -- kinds, stages and interop ----------------------------------------------------
def test_json_is_plain_json_for_other_aws_tools(backend: AwsBackend, raw: Any, name: str) -> None:
    """JSON is stored as a plain SecretString; the kind lives in the VersionId."""
    doc = {"username": "app", "password": sentinel_value()}
    info = backend.write(name, SecretValue.of(doc))
    assert info.version.startswith(JSON_VERSION_PREFIX)
    stored = raw.get_secret_value(SecretId=name)
    assert json.loads(stored["SecretString"]) == doc
    text = backend.write(name, SecretValue.of(json.dumps(doc)))
    assert backend.read(name, version=text.version).value.kind == "text"
    assert backend.read(name, version=info.version).value.kind == "json"


def test_stages_are_native_aws_labels(backend: AwsBackend, raw: Any, name: str) -> None:
    """pending is AWSPENDING to AWS, and custom labels pass through unchanged."""
    backend.write(name, SecretValue.of("live"))
    pending = backend.write(name, SecretValue.of("next"), stages=["pending"]).version
    assert raw.get_secret_value(SecretId=name, VersionStage="AWSPENDING")["VersionId"] == pending
    backend.move_stage(name, "canary", pending)
    assert backend.read(name, stage="canary").version == pending
    assert raw.get_secret_value(SecretId=name, VersionStage="canary")["VersionId"] == pending
    assert backend.read(name, stage="pending").stages == {"pending", "canary"}


def test_value_written_outside_sekret_reads_as_text(
    backend: AwsBackend, raw: Any, name: str
) -> None:
    """A SecretString created by another tool reads back as text, binary as bytes."""
    raw.create_secret(Name=name, SecretString='{"a": 1}')
    assert backend.read(name).value.kind == "text"
    raw.put_secret_value(SecretId=name, SecretBinary=b"\x00\x01")
    assert backend.read(name).value.bytes() == b"\x00\x01"


def test_metadata_becomes_tags_when_the_secret_is_created(backend: AwsBackend, name: str) -> None:
    """Metadata of the creating write becomes tags and description; later writes keep them."""
    backend.write(name, SecretValue.of("v"), metadata={"owner": "team-a", "description": "db"})
    backend.write(name, SecretValue.of("w"), metadata={"rotation_id": "r1"})
    (info,) = backend.list(name).items
    assert dict(info.metadata) == {"owner": "team-a", "description": "db"}


# -- idempotency and compare-and-set ------------------------------------------------
def test_token_is_deterministic_and_retry_safe(backend: AwsBackend, name: str) -> None:
    """A retried tokened write returns the same version; a second token adds one."""
    first = backend.write(name, SecretValue.of("one"), token="rotation-42-create")
    again = backend.write(name, SecretValue.of("one"), token="rotation-42-create")
    other = backend.write(name, SecretValue.of("two"), token="rotation-43-create")
    assert again.version == first.version
    assert other.version != first.version
    assert [v.version for v in backend.versions(name)] == [first.version, other.version]


def test_token_reused_for_another_kind_conflicts(backend: AwsBackend, name: str) -> None:
    """The same token with the same text as JSON is a different value: Conflict."""
    backend.write(name, SecretValue.of("x"))
    backend.write(name, SecretValue.of('{"a":1}'), token="t-1")
    with pytest.raises(Conflict):
        backend.write(name, SecretValue.of({"a": 1}), token="t-1")
    assert backend.read(name).value.kind == "text"


def test_token_reused_on_pending_version_conflicts(backend: AwsBackend, name: str) -> None:
    """A pending version cannot be overwritten by reusing its token (moto would allow it)."""
    backend.write(name, SecretValue.of("live"))
    pending = backend.write(name, SecretValue.of("next"), stages=["pending"], token="t-2")
    with pytest.raises(Conflict):
        backend.write(name, SecretValue.of("evil"), stages=["pending"], token="t-2")
    assert backend.read(name, stage="pending").value.text() == "next"
    assert backend.read(name, stage="pending").version == pending.version


def test_cas_loses_a_race_atomically(backend: AwsBackend, moto_server: str, name: str) -> None:
    """If current moves between the check and the move, the CAS write conflicts."""
    v1 = backend.write(name, SecretValue.of("one")).version
    rival = AwsBackend(MOTO_REGION, endpoint_url=moto_server)
    client = _client(moto_server)
    cas = AwsBackend(client=client)
    won: list[str] = []

    def sneak_in(params: dict[str, Any], **_: Any) -> None:
        if params.get("VersionStage") == "AWSCURRENT" and not won:
            won.append(rival.write(name, SecretValue.of("rival")).version)

    event = "before-parameter-build.secretsmanager.UpdateSecretVersionStage"
    client.meta.events.register(event, sneak_in)
    with pytest.raises(Conflict):
        cas.write(name, SecretValue.of("mine"), expected_version=v1)
    assert backend.read(name).version == won[0]
    assert backend.read(name).value.text() == "rival"
    rival.close()
    client.close()


def test_writes_after_stage_moves_keep_one_current(
    backend: AwsBackend, raw: Any, name: str
) -> None:
    """After a promotion, a plain write is the only current; batch reads agree."""
    backend.write(name, SecretValue.of("one"))
    v2 = backend.write(name, SecretValue.of("two"), stages=["pending"]).version
    backend.move_stage(name, "current", v2)
    backend.move_stage(name, "pending", None)
    v3 = backend.write(name, SecretValue.of("three")).version
    holders = raw.describe_secret(SecretId=name)["VersionIdsToStages"]
    assert [v for v, labels in holders.items() if "AWSCURRENT" in labels] == [v3]
    assert backend.read(name, stage="previous").version == v2
    got = backend.read_many([name])[name]
    assert not isinstance(got, SekretError)
    assert got.version == v3


def test_closed_backend_refuses_calls(moto_server: str) -> None:
    """After close() (idempotent) a call raises BackendUnavailable."""
    backend = AwsBackend(MOTO_REGION, endpoint_url=moto_server)
    backend.close()
    backend.close()
    with pytest.raises(BackendUnavailable, match="closed"):
        backend.read("a/b")


def test_cas_absent_on_existing_secret_conflicts(backend: AwsBackend, name: str) -> None:
    """expected_version=ABSENT on an existing secret is Conflict and changes nothing."""
    v1 = backend.write(name, SecretValue.of("one")).version
    with pytest.raises(Conflict):
        backend.write(name, SecretValue.of("two"), expected_version=ABSENT)
    assert backend.read(name).version == v1


def test_write_without_stages_adds_an_unlabeled_version(backend: AwsBackend, name: str) -> None:
    """stages=() stores a version that holds no stage and leaves current alone."""
    v1 = backend.write(name, SecretValue.of("one")).version
    v2 = backend.write(name, SecretValue.of("two"), stages=())
    assert v2.stages == frozenset()
    assert backend.read(name).version == v1
    assert backend.read(name, version=v2.version).value.text() == "two"


# -- batch reads ---------------------------------------------------------------------
def test_batch_mixes_present_missing_and_denied(moto_server: str, name: str) -> None:
    """read_many returns Secrets, SecretNotFound and AccessDenied per name, in 20-id calls."""
    client = _client(moto_server)
    backend = AwsBackend(client=client)
    base = name.rsplit("/", 1)[0]
    present = [f"{base}/p{i:02d}" for i in range(44)]
    for n in present:
        backend.write(n, SecretValue.of(n[-3:]))
    denied, missing = present[7], f"{base}/missing"
    calls: list[int] = []

    def count(params: dict[str, Any], **_: Any) -> None:
        calls.append(len(params["SecretIdList"]))

    def deny(parsed: dict[str, Any], **_: Any) -> None:
        values = parsed.get("SecretValues", [])
        if any(v["Name"] == denied for v in values):
            parsed["SecretValues"] = [v for v in values if v["Name"] != denied]
            parsed.setdefault("Errors", []).append(
                {"SecretId": denied, "ErrorCode": "AccessDeniedException", "Message": "no"}
            )

    client.meta.events.register("before-parameter-build.secretsmanager.BatchGetSecretValue", count)
    client.meta.events.register("after-call.secretsmanager.BatchGetSecretValue", deny)
    got = backend.read_many([*present, missing, "bad name", present[0]])
    assert calls == [BATCH_LIMIT, BATCH_LIMIT, 5]
    assert isinstance(got[denied], AccessDenied)
    assert isinstance(got[missing], SecretNotFound)
    assert isinstance(got["bad name"], InvalidSecretName)
    for n in present:
        if n != denied:
            item = got[n]
            assert not isinstance(item, SekretError)
            assert item.value.text() == n[-3:]
    client.close()


def test_batch_reports_deleted_secrets(backend: AwsBackend, name: str) -> None:
    """A secret pending deletion comes back from read_many as SecretDeleted."""
    backend.write(name, SecretValue.of("v"))
    backend.delete(name, recovery_days=7)
    assert isinstance(backend.read_many([name])[name], SecretDeleted)


def test_batch_without_permission_falls_back_to_single_reads() -> None:
    """If BatchGetSecretValue itself is denied, names are read one by one instead."""
    client = _client()
    backend = AwsBackend(client=client)
    with Stubber(client) as stub:
        stub.add_client_error("batch_get_secret_value", "AccessDeniedException", "no", 400)
        stub.add_response(
            "get_secret_value",
            {
                "Name": "a/b",
                "VersionId": "a" * 32,
                "SecretString": "v",
                "VersionStages": ["AWSCURRENT"],
            },
            {"SecretId": "a/b", "VersionStage": "AWSCURRENT"},
        )
        stub.add_client_error("get_secret_value", "AccessDeniedException", "no", 400)
        got = backend.read_many(["a/b", "a/c"])
        stub.add_client_error("get_secret_value", "ResourceNotFoundException", "no", 400)
        stub.add_client_error("describe_secret", "ResourceNotFoundException", "no", 400)
        later = backend.read_many(["a/d"])  # no second batch attempt
        stub.assert_no_pending_responses()
    item = got["a/b"]
    assert not isinstance(item, SekretError)
    assert item.value.text() == "v"
    assert isinstance(got["a/c"], AccessDenied)
    assert isinstance(later["a/d"], SecretNotFound)


# -- error mapping ---------------------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "status", "message", "expected"),
    [
        ("AccessDeniedException", 400, "User is not authorized", AccessDenied),
        ("ThrottlingException", 400, "Rate exceeded", Throttled),
        ("TooManyRequestsException", 429, "slow down", Throttled),
        ("DecryptionFailure", 400, "KMS says no", DecryptionError),
        ("UnrecognizedClientException", 400, "bad token", AuthenticationFailed),
        ("ExpiredTokenException", 400, "expired", AuthenticationFailed),
        ("InternalServiceError", 500, "oops", BackendUnavailable),
        ("InvalidRequestException", 400, "it was marked for deletion", SecretDeleted),
    ],
)
def test_service_errors_are_translated(
    code: str, status: int, message: str, expected: type[SekretError]
) -> None:
    """Each AWS error code maps to its sekret error, chained from the ClientError."""
    client = _client()
    backend = AwsBackend(client=client)
    planted = sentinel_value()
    with Stubber(client) as stub:
        stub.add_client_error("get_secret_value", code, f"{message} {planted}", status)
        if expected is SecretDeleted:
            deleted = {"Name": "a/b", "DeletedDate": datetime(2030, 1, 2)}
            stub.add_response("describe_secret", deleted)
        with pytest.raises(expected) as info:
            backend.read("a/b")
    assert type(info.value) is expected
    assert isinstance(info.value.__cause__, ClientError)
    assert planted not in str(info.value)
    assert "a/b" in str(info.value)
    if isinstance(info.value, SecretDeleted):
        assert info.value.recoverable_until == datetime(2030, 1, 2, tzinfo=UTC)


def test_throttling_is_raised_after_botocore_retries(
    moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Throttled is raised only once botocore has used up its attempts."""
    from botocore.retries import standard

    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)
    client = _client(moto_server, retries={"mode": "standard", "total_max_attempts": 2})
    sent: list[str] = []

    class Body:
        def stream(self) -> Iterator[bytes]:
            yield b'{"__type": "ThrottlingException", "message": "Rate exceeded"}'

    def throttle(request: Any, **_: Any) -> AWSResponse:
        sent.append(request.url)
        return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.1"}, Body())

    client.meta.events.register("before-send.secretsmanager.GetSecretValue", throttle)
    with pytest.raises(Throttled):
        AwsBackend(client=client).read("a/b")
    assert len(sent) == 2
    client.close()


def test_unreachable_endpoint_is_backend_unavailable() -> None:
    """A refused connection is BackendUnavailable, not a botocore error."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = _client(
        f"http://127.0.0.1:{port}", retries={"total_max_attempts": 1}, connect_timeout=2
    )
    with pytest.raises(BackendUnavailable) as info:
        AwsBackend(client=client).read("a/b")
    assert info.value.__cause__ is not None
    client.close()


def test_missing_credentials_are_authentication_failed(
    moto_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no credentials anywhere, a read raises AuthenticationFailed."""
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(key, raising=False)
    backend = AwsBackend(MOTO_REGION, endpoint_url=moto_server)
    with pytest.raises(AuthenticationFailed):
        backend.read("a/b")
    backend.close()


def test_denied_write_is_access_denied() -> None:
    """AccessDenied on DescribeSecret during a write stops the write with AccessDenied."""
    client = _client()
    with Stubber(client) as stub:
        stub.add_client_error("describe_secret", "AccessDeniedException", "no", 400)
        with pytest.raises(AccessDenied):
            AwsBackend(client=client).write("a/b", SecretValue.of("v"))
        stub.assert_no_pending_responses()


# -- bad inputs -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "bad", ["a+b/c", "team@corp/key", "x" * 513, "white space", "a/b/", "tab\tname", "ключ"]
)
def test_names_aws_or_the_grammar_reject_never_reach_aws(bad: str) -> None:
    """Names outside the grammar or the AWS charset raise InvalidSecretName, no call made."""
    client = _client()
    backend = AwsBackend(client=client)
    with Stubber(client) as stub:
        for call in (
            lambda: backend.read(bad),
            lambda: backend.write(bad, SecretValue.of("v")),
            lambda: backend.delete(bad, recovery_days=7),
            lambda: backend.destroy(bad),
        ):
            with pytest.raises(InvalidSecretName):
                call()
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("days", [0, 3, 6, 31, 365])
def test_recovery_window_outside_7_to_30_days_is_refused(
    backend: AwsBackend, name: str, days: int
) -> None:
    """delete(recovery_days=3) raises InvalidValue and leaves the secret readable."""
    backend.write(name, SecretValue.of("v"))
    with pytest.raises(InvalidValue, match="7-30"):
        backend.delete(name, recovery_days=days)
    assert backend.read(name).value.text() == "v"


def test_oversize_and_empty_values_are_refused(backend: AwsBackend, name: str) -> None:
    """Values over 64 KiB (also as multi-byte text) or empty raise InvalidValue; nothing stored."""
    assert backend.max_value_bytes == 65536
    multibyte = SecretValue(("é" * 32769).encode(), "text", max_bytes=1 << 20)
    for value in (multibyte, SecretValue(b"", "bytes")):
        with pytest.raises(InvalidValue):
            backend.write(name, value)
    with pytest.raises(SecretNotFound):
        backend.read(name)


def test_bad_metadata_is_refused(backend: AwsBackend, name: str) -> None:
    """Metadata that cannot be an AWS tag raises InvalidValue before anything is stored."""
    with pytest.raises(InvalidValue):
        backend.write(name, SecretValue.of("v"), metadata={"aws:reserved": "x"})
    with pytest.raises(SecretNotFound):
        backend.read(name)


# -- delete, restore, versions ------------------------------------------------------------
def test_deleted_secret_reports_when_it_can_be_restored(backend: AwsBackend, name: str) -> None:
    """SecretDeleted carries recoverable_until = the deletion date AWS returned."""
    backend.write(name, SecretValue.of("v"))
    until = backend.delete(name, recovery_days=10)
    assert timedelta(days=9) < until - datetime.now(UTC) <= timedelta(days=10)
    with pytest.raises(SecretDeleted) as info:
        backend.read(name)
    assert info.value.recoverable_until == until
    with pytest.raises(SecretDeleted):
        backend.versions(name)
    backend.restore(name)
    assert backend.read(name).value.text() == "v"


def test_destroy_of_missing_secret_is_not_found(backend: AwsBackend, name: str) -> None:
    """destroy() of a name that never existed raises SecretNotFound (AWS itself would not)."""
    with pytest.raises(SecretNotFound):
        backend.destroy(name)


def test_version_and_stage_must_agree(backend: AwsBackend, name: str) -> None:
    """read(version=v, stage=s) with s not on v raises VersionNotFound."""
    v1 = backend.write(name, SecretValue.of("one")).version
    backend.write(name, SecretValue.of("two"))
    assert backend.read(name, version=v1, stage="previous").value.text() == "one"
    with pytest.raises(VersionNotFound):
        backend.read(name, version=v1, stage="current")


def test_list_pages_use_the_service_token(backend: AwsBackend, name: str) -> None:
    """list() passes NextToken through and shows deleted secrets only when asked."""
    prefix = name.rsplit("/", 1)[0] + "/"
    for i in range(3):
        backend.write(f"{prefix}n{i}", SecretValue.of("v"))
    first = backend.list(prefix, page_size=2)
    assert len(first.items) == 2
    assert first.next_token is not None
    second = backend.list(prefix, page_size=2, page_token=first.next_token)
    assert {i.name for i in first.items + second.items} == {f"{prefix}n{i}" for i in range(3)}
    assert all(i.current_version for i in first.items)


# -- identity and policy ---------------------------------------------------------------------
def test_role_is_assumed_lazily_and_refreshed(moto_server: str, name: str) -> None:
    """With role_arn the backend assumes it at first use and again once it expires."""
    role = "arn:aws:iam::123456789012:role/sekret-reader"
    now = [datetime.now(UTC)]  # the fake STS issues credentials relative to the real time
    backend = AwsBackend(
        MOTO_REGION,
        endpoint_url=moto_server,
        sts_endpoint_url=moto_server,
        role_arn=role,
        clock=lambda: now[0],
    )
    assert backend.identity == role
    backend.write(name, SecretValue.of("v"))
    first = backend._sm()
    assert backend._sm() is first
    now[0] += timedelta(days=2)
    assert backend._sm() is not first
    assert backend.read(name).value.text() == "v"
    backend.close()


def test_read_policy_is_least_privilege() -> None:
    """The read policy grants GetSecretValue/DescribeSecret under root and KMS via the service."""
    key = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    doc = json.loads(
        AwsBackend.policy(
            "arrwdb/production", region="eu-west-1", account="123456789012", kms_key_arn=key
        )
    )
    main, batch, kms = doc["Statement"]
    assert main["Action"] == ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    assert main["Resource"] == (
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:arrwdb/production/*"
    )
    assert batch["Action"] == ["secretsmanager:BatchGetSecretValue"]
    assert kms["Action"] == ["kms:Decrypt"]
    assert kms["Resource"] == key
    via = kms["Condition"]["StringLike"]["kms:ViaService"]
    assert via == "secretsmanager.eu-west-1.amazonaws.com"
    assert not any("Put" in a for s in doc["Statement"] for a in s["Action"])


def test_rotate_policy_adds_write_actions() -> None:
    """The rotate policy adds PutSecretValue and UpdateSecretVersionStage, not delete."""
    doc = json.loads(AwsBackend.policy("arrwdb/production", access="rotate"))
    actions = doc["Statement"][0]["Action"]
    assert "secretsmanager:PutSecretValue" in actions
    assert "secretsmanager:UpdateSecretVersionStage" in actions
    assert "secretsmanager:DeleteSecret" not in actions
    resource = doc["Statement"][0]["Resource"]
    assert resource == "arn:aws:secretsmanager:*:*:secret:arrwdb/production/*"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"access": "write"},
        {"region": "mars-1"},
        {"account": "12345"},
        {"kms_key_arn": "my-key"},
        {"root": "../etc"},
        {"colour": "blue"},
    ],
)
def test_policy_rejects_bad_arguments(kwargs: dict[str, Any]) -> None:
    """Unknown access levels, regions, accounts, key ARNs and roots raise SekretError."""
    root = kwargs.pop("root", "arrwdb/production")
    with pytest.raises((InvalidValue, InvalidSecretName, ConfigurationError)):
        AwsBackend.policy(root, **kwargs)


def test_rotation_runs_on_native_stages(moto_server: str) -> None:
    """The rotation engine rotates through AWSPENDING into AWSCURRENT/AWSPREVIOUS."""
    from sekret import Secrets
    from sekret.rotation import RandomRotator, RotationEngine

    env = f"e{uuid.uuid4().hex[:8]}"
    url = f"aws://{MOTO_REGION}?endpoint_url={moto_server}"
    secrets = Secrets(url, app="awsrot", environment=env, cache=False)
    first = secrets.put("api-key", sentinel_value()).version
    result = RotationEngine(secrets).rotate("api-key", RandomRotator())
    assert result.previous_version == first
    raw = _client(moto_server)
    full = f"awsrot/{env}/api-key"
    holders = raw.describe_secret(SecretId=full)["VersionIdsToStages"]
    assert holders[result.version] == ["AWSCURRENT"]
    assert holders[first] == ["AWSPREVIOUS"]
    raw.close()


def test_unexpected_sdk_exception_is_backend_unavailable(moto_server: str) -> None:
    """An exception botocore does not wrap (a failing event handler) leaves as a SekretError."""

    def explode(**kwargs: Any) -> None:
        raise RuntimeError("handler bug")

    client = _client(moto_server)
    client.meta.events.register("before-call.secrets-manager.GetSecretValue", explode)
    with AwsBackend(MOTO_REGION, client=client) as b, pytest.raises(BackendUnavailable) as info:
        b.read("awstest/unexpected/key")
    assert "RuntimeError" in str(info.value)


# -- leases: STS AssumeRole session credentials ---------------------------------------------
LEASE_ROLE = "arn:aws:iam::123456789012:role/arrwdb-production-s3"


def test_lease_is_sts_session_credentials(moto_server: str) -> None:
    """A dynamic secret on aws:// is an AssumeRole session: not renewable, re-issued instead."""
    from sekret import Secrets

    backend = AwsBackend.from_url(
        f"aws://{MOTO_REGION}?endpoint_url={moto_server}&sts_endpoint_url={moto_server}"
        f"&role.s3-access={LEASE_ROLE}&lease_duration=900"
    )
    secrets = Secrets(backend, app="arrwdb", environment="production", cache=False)
    lease = secrets.lease("s3-access", start=False)
    doc = lease.json()
    assert set(doc) == {"access_key_id", "secret_access_key", "session_token", "expiration"}
    assert lease.lease_id == f"aws-sts/arrwdb-production-s3/{doc['access_key_id']}"
    assert not lease.renewable
    assert 0 < lease.ttl <= 900
    assert doc["secret_access_key"] not in repr(lease) + lease.lease_id
    assert lease.renew() is True  # not renewable: renew() means new credentials
    assert lease.json()["access_key_id"] != doc["access_key_id"]
    secrets.close()  # revoke is a no-op for STS: no error


def test_lease_without_a_role_is_unsupported(shared_backend: AwsBackend) -> None:
    """Without lease_roles the aws backend has no LEASES capability and says so."""
    from sekret.exceptions import UnsupportedOperation

    with pytest.raises(UnsupportedOperation, match="leases"):
        shared_backend.issue_lease("arrwdb/production/s3-access")


def test_lease_role_must_be_an_iam_role_arn() -> None:
    """A lease role that is not an IAM role ARN is a ConfigurationError before any request."""
    with pytest.raises(ConfigurationError, match="IAM role ARN"):
        AwsBackend(MOTO_REGION, lease_roles={"x": "not-an-arn"})


def test_policy_with_leases_adds_assume_role_on_those_roles_only() -> None:
    """policy(leases=ARN,...) adds one sts:AssumeRole statement on exactly those role ARNs."""
    other = "arn:aws:iam::123456789012:role/other"
    doc = json.loads(AwsBackend.policy("arrwdb/production", leases=f"{LEASE_ROLE},{other}"))
    assume = [s for s in doc["Statement"] if s["Action"] == "sts:AssumeRole"]
    assert assume == [
        {
            "Sid": "SekretLeases",
            "Effect": "Allow",
            "Action": "sts:AssumeRole",
            "Resource": [LEASE_ROLE, other],
        }
    ]
    with pytest.raises(ConfigurationError, match="IAM role ARN"):
        AwsBackend.policy("arrwdb/production", leases="arn:aws:s3:::bucket")
