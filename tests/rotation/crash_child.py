"""Run one rotation and die by SIGKILL right after a chosen step.

Used by test_crash.py as ``python crash_child.py`` with a JSON spec in the
``SEKRET_CRASH_SPEC`` environment variable: the backend to open, the secret,
the file-backed target service, and the step after which to die.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rotation.target import FileServiceRotator
from sekret import Secrets
from sekret.backends.base import Backend
from sekret.rotation import RotationEngine, Step


def open_backend(kind: str, args: dict[str, Any]) -> Backend:
    if kind == "local":
        from sekret.backends.local import LocalBackend

        return LocalBackend(args["path"])
    if kind == "vault":
        from sekret.backends.vault import VaultBackend

        return VaultBackend(args["address"], token=args["token"], admin=True)
    if kind == "aws":
        from sekret.backends.aws import AwsBackend

        return AwsBackend(args["region"], endpoint_url=args["endpoint_url"])
    raise SystemExit(f"unknown backend kind {kind}")


def main() -> None:
    spec = json.loads(os.environ["SEKRET_CRASH_SPEC"])
    secrets = Secrets(
        open_backend(spec["kind"], spec["args"]),
        app=spec["app"],
        environment="production",
        cache=False,
    )
    crash_after = Step(spec["crash_after"])

    def die(name: str, step: Step, version: str) -> None:
        if step == crash_after:
            os.kill(os.getpid(), signal.SIGKILL)

    RotationEngine(secrets, on_step=die).rotate(spec["name"], FileServiceRotator(spec["service"]))
    raise SystemExit("the rotation finished without reaching the crash point")


if __name__ == "__main__":
    main()
