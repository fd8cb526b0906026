"""Crash injection: the rotating process is SIGKILLed after each of the four steps,
on the embedded store, OpenBao and AWS (moto); a rerun finishes the rotation, and
at every crash point the current value still works against the target system."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest

from rotation.target import FileServiceRotator
from sekret import PENDING, Secrets, VersionNotFound
from sekret.backends.base import Backend
from sekret.rotation import RotationEngine, Step
from sekret.testing import sentinel_value
from servers.moto import MOTO_REGION

pytestmark = [pytest.mark.slow, pytest.mark.service]

CHILD = Path(__file__).with_name("crash_child.py")


@pytest.fixture(params=["local", "vault", "aws"])
def backend_spec(request: pytest.FixtureRequest, tmp_path: Path) -> tuple[str, dict[str, Any]]:
    kind = request.param
    if kind == "local":
        from sekret.backends.local import init_store

        path = tmp_path / "secrets.db"
        init_store(path)
        return kind, {"path": str(path)}
    if kind == "vault":
        server = request.getfixturevalue("openbao")
        return kind, {"address": server.address, "token": server.root_token}
    endpoint = request.getfixturevalue("moto_server")
    return kind, {"region": MOTO_REGION, "endpoint_url": endpoint}


def _open(kind: str, args: dict[str, Any]) -> Backend:
    sys.path.insert(0, str(CHILD.parent))
    from crash_child import open_backend

    return open_backend(kind, args)


@pytest.mark.parametrize("crash_after", list(Step))
def test_killed_after_step_then_rerun_finishes(
    backend_spec: tuple[str, dict[str, Any]], crash_after: Step, tmp_path: Path
) -> None:
    """SIGKILL after a step leaves current working; rerunning completes the rotation."""
    kind, args = backend_spec
    app = "crash" + uuid.uuid4().hex[:8]
    secrets = Secrets(_open(kind, args), app=app, environment="production", cache=False)
    service = FileServiceRotator(tmp_path / "service.json")
    old = sentinel_value()
    secrets.put("api-key", old)
    service.accept(old)

    spec = {
        "kind": kind,
        "args": args,
        "app": app,
        "name": "api-key",
        "service": str(service.path),
        "crash_after": crash_after.value,
    }
    child = subprocess.run(
        [sys.executable, str(CHILD)],
        env={**os.environ, "SEKRET_CRASH_SPEC": json.dumps(spec)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]

    current = secrets.get("api-key")
    assert service.works(current), f"current stopped working after a crash at {crash_after}"
    if crash_after == Step.FINISH:
        assert current != old
    else:
        assert current == old
        result = RotationEngine(secrets).rotate("api-key", service)
        assert result.outcome == "resumed"
    new = secrets.get("api-key")
    assert new != old
    assert service.works(new)
    with pytest.raises(VersionNotFound):
        secrets.get("api-key", stage=PENDING)
    labels = set().union(*(v.stages for v in secrets.versions("api-key")))
    assert labels == {"current", "previous"}
    secrets.backend.close()
