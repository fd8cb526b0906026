"""Suite-wide rules.

* The leak check: every test's captured stdout, stderr, log records and
  failure text are scanned for planted sentinel values
  (``sekret.testing.sentinel_value``); a test whose output shows one fails.
  A test that reveals a value on purpose (``sekret get``) is marked
  ``reveals``.
* ``need_service``: a test that cannot find a server it needs skips on a
  laptop but fails under CI (``CI=true``): nothing real may silently not run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from sekret.testing import SENTINEL_PREFIX

# Server fixtures live one module per service under tests/servers/.
pytest_plugins = [
    "servers.openbao",
    "servers.moto",
    "servers.postgres",
    "servers.azure_fake",
    "servers.gcp_fake",
]

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def need_service(what: str, why: str) -> None:
    """Skip locally, fail in CI: the service ``what`` is missing because ``why``."""
    message = f"{what} is not available: {why}"
    if IN_CI:
        pytest.fail(message + " (CI must run every service test)", pytrace=False)
    pytest.skip(message)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "reveals: the test prints a secret value on purpose")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    if item.get_closest_marker("reveals") is not None:
        return
    captured = {
        "stdout": report.capstdout,
        "stderr": report.capstderr,
        "log": report.caplog,
    }
    if report.failed:
        captured["failure text"] = report.longreprtext
    leaked = [where for where, text in captured.items() if SENTINEL_PREFIX in text]
    if leaked and report.passed:
        report.outcome = "failed"
        report.longrepr = (
            f"LEAK CHECK: a planted secret value appeared in the test's {', '.join(leaked)}"
        )
