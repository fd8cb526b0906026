"""The suite's own leak check (tests/conftest.py) catches planted values."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]


@pytest.mark.reveals  # the inner run's output, shown here, holds the planted values
def test_leak_check_fails_a_test_that_prints_a_sentinel(pytester: pytest.Pytester) -> None:
    """A passing test that prints or logs a sentinel value is turned into a failure."""
    pytester.makepyfile(
        """
        import logging
        import pytest
        from sekret.testing import sentinel_value

        def test_prints():
            print("value:", sentinel_value())

        def test_logs():
            logging.getLogger("x").warning("value %s", sentinel_value())

        def test_clean():
            print("nothing to see")

        @pytest.mark.reveals
        def test_reveals_on_purpose():
            print(sentinel_value())
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider", "-p", "leakcheck")
    result.assert_outcomes(passed=2, failed=2)
    result.stdout.fnmatch_lines(["*LEAK CHECK*"])
