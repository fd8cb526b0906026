"""What `sekret --version` and `sekret get` load: the start-up cost, guarded without a clock.

Each test runs the command in a fresh interpreter (as the console script does:
``sekret.cli.main``) and inspects ``sys.modules`` at exit. If the group loads
its command modules eagerly again, or a command path picks up a module it does
not need, these fail; benchmarks/bench_cli.py measures what that costs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import sekret
from sekret import Secrets, SecretValue
from sekret.backends.local import init_store
from sekret.cli import COMMAND_MODULES
from sekret.testing import sentinel_value

RUN = (
    "import json, sys\n"
    "from sekret.cli import main\n"
    "code = main(sys.argv[1:])\n"
    "sys.stdout.flush()\n"
    "sys.stderr.write('\\n' + json.dumps({'code': code, 'modules': sorted(sys.modules)}))\n"
)

# Never needed to print the version or to read one secret from the local store.
NEVER = (
    "importlib.metadata",  # a scan of every installed distribution (~30 ms)
    "difflib",  # only a miss looks for close names
    "traceback",  # only SEKRET_DEBUG=1 on a bug
    "dataclasses",  # context, manifest and store records are plain records
    "sekret.cache",  # the CLI runs without a cache
    "hmac",  # with _hashlib: OpenSSL's hashes (~4 ms); random bytes come from os.urandom
    "_hashlib",
    "secrets",
    "sekret.audit",  # no audit sink is configured here
    "sekret.leases",
    "sekret.backends.vault",
    "hvac",
    "boto3",
)
# Not needed to print the version either: no facade, no manifest, no store.
NOT_FOR_VERSION = (
    "sekret._secrets",
    "sekret.manifest",
    "sekret.backends.local",
    "sekret.cli._output",
    "tomllib",
    "sqlite3",
    "cryptography",
)


def run(args: list[str], cwd: Path) -> tuple[int, str, set[str]]:
    """Run ``sekret ARGS`` in a fresh interpreter in ``cwd``: exit code, stdout, modules."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEKRET_")}
    out = subprocess.run(
        [sys.executable, "-c", RUN, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    report = json.loads(out.stderr.rsplit("\n", 1)[-1])
    return report["code"], out.stdout, set(report["modules"])


def make_project(folder: Path, value: str) -> None:
    """A local store holding ``x`` and the sekret.toml that names it."""
    store = folder / "store.db"
    init_store(store)
    (folder / "sekret.toml").write_text(
        'app = "startup"\ndefault_environment = "development"\n\n'
        f'[environments.development]\nbackend = "local://{store}"\n\n'
        '[secrets.x]\nkind = "generic"\n'
    )
    with Secrets(f"local://{store}", app="startup", environment="development", cache=False) as c:
        c.put("x", SecretValue.of(value))


def test_version_loads_no_command_module_facade_or_metadata(tmp_path: Path) -> None:
    """sekret --version loads click and the group only: no command, facade, store or metadata."""
    code, out, modules = run(["--version"], tmp_path)
    assert code == 0
    assert out.strip() == f"sekret, version {sekret.__version__}"
    assert "click" in modules  # it still goes through the CLI framework
    loaded = sorted(modules.intersection((*COMMAND_MODULES, *NEVER, *NOT_FOR_VERSION)))
    assert loaded == []


def test_get_loads_the_store_only_and_no_click(tmp_path: Path) -> None:
    """sekret get NAME on a local store (manifest found) loads no click and no command module."""
    value = sentinel_value("startup")
    make_project(tmp_path, value)
    code, out, modules = run(["get", "x"], tmp_path)
    assert code == 0
    printed = out.rstrip("\n") == value  # compared, never shown in a failure
    assert printed
    assert {"sekret.cli._fast", "sekret.backends.local", "sekret.manifest"} <= modules
    assert "click" not in modules
    assert sorted(modules.intersection((*COMMAND_MODULES, *NEVER))) == []


def test_get_with_an_option_goes_through_click(tmp_path: Path) -> None:
    """Any other form of get (an option, a reference) is the click command, module and all."""
    value = sentinel_value("startup")
    make_project(tmp_path, value)
    code, out, modules = run(["get", "--no-newline", "x"], tmp_path)
    assert code == 0
    assert out == value
    assert {"click", "sekret.cli.secrets"} <= modules


def test_version_is_the_installed_distribution_version() -> None:
    """--version prints sekret.__version__, which must equal the installed metadata's version."""
    assert sekret.__version__ == version("sekret")
