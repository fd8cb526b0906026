"""examples/quickstart.py runs end to end on the embedded store and prints no value."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sekret import Secrets

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEKRET_")}
    return subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_quickstart_runs_in_a_temporary_directory(tmp_path: Path) -> None:
    """Without arguments the example runs in a temp dir, exits 0 and cleans up."""
    result = _run(cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "(the temporary store was removed)" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_quickstart_shows_versions_stages_and_rollback_without_values(tmp_path: Path) -> None:
    """The example's story is in its output, and none of the stored values is."""
    result = _run(str(tmp_path / "demo"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for line in (
        "2. stored arrwdb/development/cohere-api-key (version 1)",
        "3. read back cohere-api-key: 40 chars, matches: True",
        "read back database: keys ['host', 'password', 'port', 'user'], matches: True",
        "4. staged a new cohere-api-key as version 2 (pending); current is still the first: True",
        "5. promoted: cohere-api-key: 40 chars, version 2",
        "6. rolled back: version 1 is current again, matches the first key: True",
        "8. a production client cannot see development's cohere-api-key (not found)",
    ):
        assert line in out, line
    assert "version 2: pending" in out
    assert out.index("version 1: previous") < out.index("6. rolled back")
    db = tmp_path / "demo" / "secrets.db"
    with Secrets(f"local://{db}", app="arrwdb", environment="development") as client:
        values = [client.get("cohere-api-key"), client.get("cohere-api-key", version="2")]
        values.append(client.get_json("database")["password"])
    assert len(set(values)) == 3
    for value in values:
        assert value not in out


def test_quickstart_refuses_to_overwrite_a_store(tmp_path: Path) -> None:
    """A second run on the same directory stops with one error line, exit 1."""
    assert _run(str(tmp_path), cwd=tmp_path).returncode == 0
    again = _run(str(tmp_path), cwd=tmp_path)
    assert again.returncode == 1
    assert again.stderr.startswith("quickstart: error: ")
    assert "Traceback" not in again.stderr
