"""A tiny stand-in for "the system that uses the secret", kept in a JSON file.

``FileServiceRotator.set`` makes the service accept the pending key,
``revert`` withdraws it, and ``works(value)`` says whether the service would
accept a client presenting ``value``. Single-key semantics like a database
password: once a new key is set, the service accepts the old one only until
finish (old keys stay accepted, so a crash between set and finish never locks
clients out). It lives in a file so a killed child process and the test see
the same state.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from sekret import Secret
from sekret.rotation import RandomRotator


class FileServiceRotator(RandomRotator):
    name: ClassVar[str] = "file-service"

    def __init__(self, path: str | Path, *, fail_test: bool = False) -> None:
        super().__init__(length=32)
        self.path = Path(path)
        self.fail_test = fail_test

    def _load(self) -> list[str]:
        return json.loads(self.path.read_text()) if self.path.exists() else []

    def _save(self, keys: list[str]) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(keys))
        tmp.replace(self.path)

    def accept(self, value: str) -> None:
        keys = self._load()
        if value not in keys:
            self._save([*keys, value])

    def works(self, value: str) -> bool:
        return value in self._load()

    def set(self, pending: Secret, current: Secret | None) -> None:
        self.accept(pending.value.text())

    def test(self, pending: Secret) -> None:
        if self.fail_test or not self.works(pending.value.text()):
            raise ConnectionError("the service refused the new key")

    def revert(self, pending: Secret, current: Secret | None) -> None:
        self._save([k for k in self._load() if k != pending.value.text()])
