"""The AWS Lambda rotation handler (sekret.integrations.aws_lambda), against moto."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import pytest

from sekret import Secrets
from sekret._values import CURRENT, PENDING, PREVIOUS, Secret
from sekret.backends.aws import AwsBackend
from sekret.exceptions import RotationError
from sekret.integrations.aws_lambda import RotationHandler
from sekret.rotation.engine import Rotator
from sekret.testing import sentinel_value
from servers.moto import MOTO_REGION

pytestmark = pytest.mark.service

ORDER = ("createSecret", "setSecret", "testSecret", "finishSecret")


class Recording(Rotator):
    """Generates sentinel values; records set/test/revert; fails its test when told to."""

    name = "recording"

    def __init__(self, fail_test: bool = False) -> None:
        self.generated: list[str] = []
        self.calls: list[str] = []
        self.fail_test = fail_test

    def generate(self, current: Secret | None) -> object:
        value = sentinel_value("rotated")
        self.generated.append(value)
        return value

    def set(self, pending: Secret, current: Secret | None) -> None:
        self.calls.append("set")

    def test(self, pending: Secret) -> None:
        self.calls.append("test")
        if self.fail_test:
            raise ValueError("the new value does not work")

    def revert(self, pending: Secret, current: Secret | None) -> None:
        self.calls.append("revert")


@pytest.fixture(scope="module")
def backend(moto_server: str) -> Iterator[AwsBackend]:
    with AwsBackend(MOTO_REGION, endpoint_url=moto_server) as b:
        yield b


@pytest.fixture
def raw(moto_server: str) -> Iterator[Any]:
    client = boto3.client("secretsmanager", region_name=MOTO_REGION, endpoint_url=moto_server)
    yield client
    client.close()


@pytest.fixture
def secrets(backend: AwsBackend) -> Secrets:
    """A client in a fresh environment, holding a first value of `db-password`."""
    client = Secrets(backend, app="lambdatest", environment=f"t{uuid.uuid4().hex[:12]}")
    client.put("db-password", sentinel_value("first"))
    return client


def _event(secrets: Secrets, raw: Any, step: str, token: str) -> Mapping[str, str]:
    arn = raw.describe_secret(SecretId=secrets.full_name("db-password"))["ARN"]
    return {"SecretId": arn, "ClientRequestToken": token, "Step": step}


def test_four_steps_in_order_rotate_the_secret(secrets: Secrets, raw: Any) -> None:
    """create/set/test/finish make version TOKEN current, the old one previous, no pending."""
    old = secrets.get_secret("db-password")
    rotator, events = Recording(), []
    handler = RotationHandler(secrets, rotator, on_event=events.append)
    token = str(uuid.uuid4())
    for step in ORDER:
        handler(_event(secrets, raw, step, token))
    assert rotator.calls == ["set", "set", "test"]
    now = secrets.get_secret("db-password")
    assert (now.version, now.value.text()) == (token, rotator.generated[0])
    stages = {v.version: v.stages for v in secrets.versions("db-password")}
    assert stages[token] == {CURRENT}
    assert stages[old.version] == {PREVIOUS}
    native = raw.get_secret_value(SecretId=secrets.full_name("db-password"))
    assert native["VersionId"] == token
    assert [e["action"] for e in events] == [
        "secret.rotate.create",
        "secret.rotate.set",
        "secret.rotate.test",
        "secret.rotate.finish",
    ]
    assert all(rotator.generated[0] not in str(e) for e in events)


def test_every_step_repeated_is_idempotent(secrets: Secrets, raw: Any) -> None:
    """Each step invoked twice (AWS retries) makes one version and generates once."""
    rotator = Recording()
    handler = RotationHandler(secrets, rotator)
    token = str(uuid.uuid4())
    for step in ORDER:
        handler(_event(secrets, raw, step, token))
        handler(_event(secrets, raw, step, token))
    for step in ORDER:  # the whole rotation again, after it finished: nothing changes
        handler(_event(secrets, raw, step, token))
    assert len(rotator.generated) == 1
    assert len(secrets.versions("db-password")) == 2
    assert secrets.get("db-password") == rotator.generated[0]
    assert PENDING not in {s for v in secrets.versions("db-password") for s in v.stages}


@pytest.mark.parametrize("step", ["setSecret", "testSecret", "finishSecret"])
def test_steps_before_create_are_refused(secrets: Secrets, raw: Any, step: str) -> None:
    """set/test/finish for a token that was never created fail and change nothing."""
    before = secrets.get_secret("db-password").version
    rotator = Recording()
    with pytest.raises(RotationError, match="not pending"):
        RotationHandler(secrets, rotator)(_event(secrets, raw, step, str(uuid.uuid4())))
    assert rotator.calls == []
    assert secrets.get_secret("db-password").version == before


def test_finish_out_of_order_after_create(secrets: Secrets, raw: Any) -> None:
    """finish straight after create (set/test skipped by the invoker) still completes safely."""
    rotator = Recording()
    handler = RotationHandler(secrets, rotator)
    token = str(uuid.uuid4())
    handler(_event(secrets, raw, "createSecret", token))
    handler(_event(secrets, raw, "finishSecret", token))
    handler(_event(secrets, raw, "testSecret", token))  # late: a no-op, the token is current
    assert secrets.get_secret("db-password").version == token
    assert rotator.calls == []


def test_failed_test_reverts_and_keeps_current(secrets: Secrets, raw: Any) -> None:
    """A failing testSecret reverts set, raises RotationError, and current does not move."""
    before = secrets.get_secret("db-password")
    rotator = Recording(fail_test=True)
    handler = RotationHandler(secrets, rotator)
    token = str(uuid.uuid4())
    handler(_event(secrets, raw, "createSecret", token))
    handler(_event(secrets, raw, "setSecret", token))
    with pytest.raises(RotationError, match="reverted") as info:
        handler(_event(secrets, raw, "testSecret", token))
    assert rotator.calls[-1] == "revert"
    assert rotator.generated[0] not in str(info.value)
    assert secrets.get_secret("db-password").version == before.version
    rotator.fail_test = False  # AWS retries testSecret: set is applied again, then tested
    handler(_event(secrets, raw, "testSecret", token))
    handler(_event(secrets, raw, "finishSecret", token))
    assert secrets.get_secret("db-password").version == token


def test_a_new_token_replaces_an_abandoned_pending(secrets: Secrets, raw: Any) -> None:
    """A rotation that never finished is superseded by the next one's token."""
    rotator = Recording()
    handler = RotationHandler(secrets, rotator)
    abandoned, token = str(uuid.uuid4()), str(uuid.uuid4())
    handler(_event(secrets, raw, "createSecret", abandoned))
    for step in ORDER:
        handler(_event(secrets, raw, step, token))
    assert secrets.get_secret("db-password").version == token
    with pytest.raises(RotationError):
        handler(_event(secrets, raw, "finishSecret", abandoned))
    assert secrets.get_secret("db-password").version == token


def test_secret_outside_the_namespace_is_refused(
    secrets: Secrets, raw: Any, backend: AwsBackend
) -> None:
    """The handler rotates only secrets of its own app and environment."""
    other = Secrets(backend, app="lambdatest", environment=f"t{uuid.uuid4().hex[:12]}")
    with pytest.raises(RotationError, match="environment separation"):
        RotationHandler(other, Recording())(_event(secrets, raw, "createSecret", str(uuid.uuid4())))


def test_bad_events_are_refused(secrets: Secrets) -> None:
    """An unknown step or a missing token is a RotationError before any call."""
    handler = RotationHandler(secrets, Recording())
    with pytest.raises(RotationError, match="unknown rotation step"):
        handler({"Step": "deleteSecret", "SecretId": "x", "ClientRequestToken": "t"})
    with pytest.raises(RotationError, match="ClientRequestToken"):
        handler({"Step": "createSecret", "SecretId": "x"})
