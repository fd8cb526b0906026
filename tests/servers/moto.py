"""Test server fixture: moto in server mode, for the AWS Secrets Manager backend.

``moto_server`` starts one ``ThreadedMotoServer`` per test session on
127.0.0.1 and a free port, and yields its endpoint URL. For the whole
session the AWS environment is pinned to dummy credentials and a region,
and shared config/credential files and instance metadata are switched off,
so no test can reach a real account or a developer's profile. The server
and the environment are restored at the end.

moto keeps its state per process; tests use fresh names and never reset it.

One moto defect is corrected for the session: moving AWSCURRENT with
UpdateSecretVersionStage does not move moto's internal "default version"
pointer, so a later PutSecretValue labels the wrong version AWSPREVIOUS and
leaves AWSCURRENT on two versions, and BatchGetSecretValue returns the old
current. AWS has no such pointer; the patch makes moto follow the label.
"""

from __future__ import annotations

import inspect
import logging
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from conftest import need_service

__all__ = ["MOTO_REGION", "moto_server"]

MOTO_REGION = "us-east-1"
_START_TIMEOUT = 20.0

_DUMMY_ENV = {
    "AWS_ACCESS_KEY_ID": "testing-access-key",
    "AWS_SECRET_ACCESS_KEY": "testing-not-a-secret",
    "AWS_SESSION_TOKEN": "testing-session",
    "AWS_DEFAULT_REGION": MOTO_REGION,
    "AWS_REGION": MOTO_REGION,
    "AWS_CONFIG_FILE": "/nonexistent/sekret-tests/aws-config",
    "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/sekret-tests/aws-credentials",
    "AWS_EC2_METADATA_DISABLED": "true",
}
_CLEARED_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE")


def _start(server: Any) -> str | None:
    """Start ``server``; None if it did not come up in time (start() alone can hang)."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.start()
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)

    starter = threading.Thread(target=run, daemon=True)
    starter.start()
    starter.join(_START_TIMEOUT)
    if starter.is_alive() or failure:
        return None
    host, port = server.get_host_and_port()
    with socket.create_connection((host, port), timeout=5):
        pass
    return f"http://{host}:{port}"


def _follow_current_label(patch: pytest.MonkeyPatch) -> None:
    from moto.secretsmanager.models import SecretsManagerBackend

    original = SecretsManagerBackend.update_secret_version_stage
    signature = inspect.signature(original)

    def update_secret_version_stage(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        call = signature.bind(self, *args, **kwargs).arguments
        if call.get("version_stage") == "AWSCURRENT" and call.get("move_to_version_id"):
            self.secrets[call["secret_id"]].default_version_id = call["move_to_version_id"]
        return result

    patch.setattr(SecretsManagerBackend, "update_secret_version_stage", update_secret_version_stage)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The endpoint URL of a moto server on 127.0.0.1, with dummy AWS credentials set."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        need_service("moto", f"moto[server] is not installed ({exc.name})")
        raise  # unreachable: need_service skips or fails
    patch = pytest.MonkeyPatch()
    # werkzeug logs every request at INFO: noise in captured logs.
    werkzeug_log = logging.getLogger("werkzeug")
    werkzeug_level = werkzeug_log.level
    werkzeug_log.setLevel(logging.WARNING)
    for key in _CLEARED_ENV:
        patch.delenv(key, raising=False)
    for key, value in _DUMMY_ENV.items():
        patch.setenv(key, value)
    _follow_current_label(patch)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    try:
        try:
            endpoint = _start(server)
        except OSError as exc:
            endpoint = None
            reason = f"it did not accept connections ({type(exc).__name__})"
        else:
            reason = f"it did not start within {_START_TIMEOUT:.0f}s"
        if endpoint is None:
            need_service("moto server", reason)
        assert endpoint is not None
        yield endpoint
    finally:
        server.stop()
        patch.undo()
        werkzeug_log.setLevel(werkzeug_level)
