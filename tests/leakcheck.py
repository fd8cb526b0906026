"""The leak check, a pytest plugin used by the whole suite.

Every test's captured stdout, stderr, log records and failure text are
scanned for planted sentinel values (``sekret.testing.sentinel_value``); a
test whose output shows one fails, even if its assertions passed. A test that
reveals a value on purpose (``sekret get``) is marked ``reveals``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from sekret.testing import SENTINEL_PREFIX


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "reveals: the test prints a secret value on purpose")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report: pytest.TestReport = outcome.get_result()
    # Sections accumulate over setup and call; check once, on the call report.
    if report.when != "call" or item.get_closest_marker("reveals") is not None:
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
