"""No value reaches a log record at DEBUG, from sekret or any SDK, on every backend.

Each test turns the root logger and the SDK loggers to DEBUG, captures every
record (formatted, with arguments), runs writes and reads of a sentinel value
through a backend, and asserts the sentinel is in no record. Records of the
in-process test servers (moto's werkzeug, the fakes) are the service side,
not the client, and are left out.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from sekret import SecretValue
from sekret.backends.aws import AwsBackend
from sekret.backends.azure import AzureBackend
from sekret.backends.base import Backend
from sekret.backends.env import EnvBackend
from sekret.backends.gcp import GcpBackend
from sekret.backends.local import LocalBackend, init_store
from sekret.testing import sentinel_value
from servers.azure_fake import FakeKeyVault, fake_client
from servers.gcp_fake import GcpFake
from servers.moto import MOTO_REGION

_SERVER_SIDE = ("werkzeug", "moto", "servers", "http.server")
_SDK_LOGGERS = ("botocore", "boto3", "urllib3", "azure", "google", "grpc", "sekret")


class _Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        if record.name.startswith(_SERVER_SIDE):
            return
        text = record.getMessage()
        if record.exc_info:
            text += logging.Formatter().formatException(record.exc_info)
        self.lines.append(f"{record.name}: {text}")


@pytest.fixture
def records() -> Iterator[_Keep]:
    """Every log record at DEBUG (root and SDK loggers), restored afterwards."""
    keep = _Keep()
    root = logging.getLogger()
    saved = {n: logging.getLogger(n).level for n in _SDK_LOGGERS}
    saved_root = root.level
    root.addHandler(keep)
    root.setLevel(logging.DEBUG)
    for n in _SDK_LOGGERS:
        logging.getLogger(n).setLevel(logging.DEBUG)
    try:
        yield keep
    finally:
        root.removeHandler(keep)
        root.setLevel(saved_root)
        for n, level in saved.items():
            logging.getLogger(n).setLevel(level)


def _exercise(backend: Backend, name: str, value: str) -> None:
    backend.write(name, SecretValue.of(value))
    backend.write(name, SecretValue.of({"password": value}))
    assert backend.read(name).value.json() == {"password": value}
    assert backend.read_many([name])[name].value.json() == {"password": value}  # type: ignore[union-attr]


def _assert_clean(keep: _Keep, value: str) -> None:
    leaked = [line[:80] for line in keep.lines if value in line]
    assert not leaked


def test_aws_debug_logs_hold_no_value(moto_server: str, records: _Keep) -> None:
    """PutSecretValue/GetSecretValue/BatchGetSecretValue bodies never reach a record."""
    value = sentinel_value("aws")
    with AwsBackend(MOTO_REGION, endpoint_url=moto_server) as backend:
        _exercise(backend, f"logs/t{uuid.uuid4().hex[:12]}/key", value)
    _assert_clean(records, value)


def test_users_own_boto3_calls_still_log(moto_server: str, records: _Keep) -> None:
    """The guard is for sekret's calls only: a user's own client logs its body as configured."""
    value = f"user-own-{uuid.uuid4().hex}"  # not a sentinel: this one is meant to be logged
    with AwsBackend(MOTO_REGION, endpoint_url=moto_server) as backend:
        backend.write(f"logs/t{uuid.uuid4().hex[:12]}/key", SecretValue.of("x"))
        mine = boto3.client("secretsmanager", region_name=MOTO_REGION, endpoint_url=moto_server)
        mine.create_secret(Name=f"logs/own{uuid.uuid4().hex[:8]}", SecretString=value)
        mine.close()
    assert any(value in line for line in records.lines if line.startswith("botocore."))


def test_azure_debug_logs_hold_no_value(azure_fake: FakeKeyVault, records: _Keep) -> None:
    """Even a client built with logging_enable=True logs no value for sekret's calls."""
    value = sentinel_value("azure")
    client = fake_client(azure_fake, logging_enable=True)
    with AzureBackend(azure_fake.url, client=client, polling_interval=0) as backend:
        _exercise(backend, f"logs/t{uuid.uuid4().hex[:12]}/key", value)
    _assert_clean(records, value)


def test_gcp_debug_logs_hold_no_value(gcp_fake: GcpFake, records: _Keep) -> None:
    """Google's gRPC and REST clients log no value at DEBUG."""
    value = sentinel_value("gcp")
    for client in (gcp_fake.grpc_client(), gcp_fake.rest_client()):
        with GcpBackend("sekret-test", client=client) as backend:
            _exercise(backend, f"logs/t{uuid.uuid4().hex[:12]}/key", value)
    _assert_clean(records, value)


def test_env_and_local_debug_logs_hold_no_value(tmp_path: Path, records: _Keep) -> None:
    """The env and local backends log no value at DEBUG."""
    value = sentinel_value("here")
    environ = {"KEY": value}
    with EnvBackend(environ=environ) as env:
        env.declare("app/dev/key")
        assert env.read("app/dev/key").value.text() == value
    init_store(tmp_path / "s.db")
    with LocalBackend(tmp_path / "s.db") as local:
        _exercise(local, "app/dev/key", value)
    _assert_clean(records, value)
