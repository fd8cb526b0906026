"""Suite-wide rules.

* The leak check (tests/leakcheck.py) scans every test's output for planted
  sentinel values.
* Hypothesis runs without per-example deadlines (the ``sekret`` profile).
* Every test starts with no ``SEKRET_*`` variable set (``_no_sekret_variables``),
  so a developer's shell or CI settings cannot change what a test sees.
* ``need_service``: a test that cannot find a server it needs skips on a
  laptop but fails under CI (``CI=true``): nothing real may silently not run.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

# Server fixtures live one module per service under tests/servers/.
pytest_plugins = [
    "leakcheck",
    "servers.openbao",
    "servers.moto",
    "servers.postgres",
    "servers.azure_fake",
    "servers.gcp_fake",
]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

# Property tests check behaviour, never speed: no per-example deadline, so a busy
# 2-core machine cannot turn a slow example into a failure.
settings.register_profile("sekret", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("sekret")


def need_service(what: str, why: str) -> None:
    """Skip locally, fail in CI: the service ``what`` is missing because ``why``."""
    message = f"{what} is not available: {why}"
    if IN_CI:
        pytest.fail(message + " (CI must run every service test)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(autouse=True)
def _no_sekret_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Clear every ``SEKRET_*`` variable for the test (the one suite-wide copy)."""
    for name in list(os.environ):
        if name.startswith("SEKRET_"):
            monkeypatch.delenv(name)
