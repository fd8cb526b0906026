"""`sekret completion bash|zsh|fish` prints click's completion script."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from cli.clirunner import Cli


@pytest.mark.parametrize(
    ("shell", "marker"),
    [("bash", "complete -o"), ("zsh", "compdef"), ("fish", "complete --no-files")],
)
def test_completion_script_per_shell(shell: str, marker: str) -> None:
    """Each shell gets a script wired to _SEKRET_COMPLETE."""
    result = Cli("unused").run(["completion", shell])
    assert result.exit_code == 0, result.stderr
    assert "_SEKRET_COMPLETE" in result.stdout
    assert marker in result.stdout


def test_unknown_shell_is_a_usage_error() -> None:
    """An unsupported shell exits 2."""
    assert Cli("unused").run(["completion", "tcsh"]).exit_code == 2


def test_completion_completes_commands() -> None:
    """With the completion variable set, sekret answers with matching command names."""
    sekret = shutil.which("sekret", path=os.path.dirname(sys.executable))
    if sekret is None:
        pytest.skip("the sekret script is not installed next to this interpreter")
    env = {
        **os.environ,
        "_SEKRET_COMPLETE": "bash_complete",
        "COMP_WORDS": "sekret rot",
        "COMP_CWORD": "1",
    }
    out = subprocess.run([sekret], env=env, capture_output=True, text=True, check=False).stdout
    assert "plain,rotate" in out.splitlines()
