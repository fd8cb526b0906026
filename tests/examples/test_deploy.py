"""examples/deploy (docs/deploy.md): the Docker entrypoint, Kubernetes manifests, schedules, CI.

No container runtime runs here, so the Dockerfile's ENTRYPOINT + CMD run as a
process, exactly as written (paths mapped into a temporary folder).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli.clirunner import Cli
from sekret import Secrets
from sekret.backends import open_backend
from sekret.backends.chain import ChainBackend
from sekret.backends.file import FileBackend
from sekret.backends.local import init_store
from sekret.testing import sentinel_value

DEPLOY = Path(__file__).resolve().parents[2] / "examples" / "deploy"
SEKRET = [sys.executable, "-c", "import sys; from sekret.cli import main; sys.exit(main())"]
WAIT = 30.0  # upper bound for a child process on a loaded machine (never asserted on)


def _dockerfile() -> dict[str, Any]:
    """ENTRYPOINT, CMD (JSON form) and ENV of the example Dockerfile."""
    out: dict[str, Any] = {"ENV": {}}
    for line in (DEPLOY / "Dockerfile").read_text().splitlines():
        word, _, rest = line.partition(" ")
        if word in ("ENTRYPOINT", "CMD"):
            out[word] = json.loads(rest)
        elif word == "ENV":
            key, _, value = rest.partition("=")
            out["ENV"][key] = value
    return out


@pytest.fixture
def store(tmp_path: Path) -> tuple[str, str]:
    """A local store with the example's secrets; returns its URL and the password."""
    path = tmp_path / "store" / "secrets.db"
    init_store(path)
    url = f"local://{path}"
    password = sentinel_value("pw")
    with Secrets(url, app="arrwdb", environment="production") as secrets:
        secrets.put("db-credentials", {"username": "app", "password": password})
        secrets.put("cohere-api-key", sentinel_value("key"))
    return url, password


def _container(tmp_path: Path, store_url: str, **extra: str) -> subprocess.Popen[bytes]:
    image = _dockerfile()
    app = tmp_path / "app"
    app.mkdir()
    for name in ("app.env.tpl", "app.py"):
        shutil.copy(DEPLOY / name, app / name)
    argv = [a.replace("/app/", f"{app}/") for a in [*image["ENTRYPOINT"], *image["CMD"]]]
    assert argv[0] == "sekret"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEKRET_")}
    env.update(image["ENV"], SEKRET_BACKEND=store_url, SEKRET_ENV="production", **extra)
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    return subprocess.Popen(
        [*SEKRET, *argv[1:]], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )


def test_docker_entrypoint_resolves_masks_and_forwards_sigterm(
    tmp_path: Path, store: tuple[str, str]
) -> None:
    """The image's entrypoint gives the app its references, masks the output, and exits 0
    when SIGTERM (docker stop) reaches the app through sekret."""
    url, password = store
    proc = _container(tmp_path, url)
    assert proc.stdout is not None
    lines: list[bytes] = []
    deadline = time.monotonic() + WAIT
    while len(lines) < 2 and time.monotonic() < deadline:
        lines.append(proc.stdout.readline())
    proc.send_signal(signal.SIGTERM)
    rest, stderr = proc.communicate(timeout=WAIT)
    out = b"".join(lines) + rest
    assert proc.returncode == 0, stderr
    assert b"ready: user app, log level info" in out
    assert b"password loaded: ***" in out
    assert b"stopping on SIGTERM" in out
    assert password.encode() not in out + stderr


def test_docker_entrypoint_passes_the_exit_code(tmp_path: Path, store: tuple[str, str]) -> None:
    """The container exits with the app's own exit code."""
    url, _ = store
    proc = _container(tmp_path, url, APP_FAIL="3")
    proc.communicate(timeout=WAIT)
    assert proc.returncode == 3


def _k8s() -> dict[str, Any]:
    docs = list(yaml.safe_load_all((DEPLOY / "k8s" / "deployment.yaml").read_text()))
    assert len(docs) == 1
    spec: dict[str, Any] = docs[0]["spec"]["template"]["spec"]
    return spec


def test_init_container_renders_the_config(tmp_path: Path, store: tuple[str, str]) -> None:
    """The init container's `sekret inject` command renders config.tpl to a 0600 file."""
    url, password = store
    (command,) = [c["command"] for c in _k8s()["initContainers"]]
    templates, config = tmp_path / "templates", tmp_path / "config"
    templates.mkdir()
    config.mkdir(mode=0o700)
    config.chmod(0o777)  # what an emptyDir looks like: inject writes into a 0700 subfolder
    shutil.copy(DEPLOY / "k8s" / "config.tpl", templates / "config.tpl")
    argv = [
        a.replace("/templates/", f"{templates}/").replace("/config/", f"{config}/") for a in command
    ]
    assert argv[:2] == ["sekret", "inject"]
    result = Cli(url).run(["--backend", url, "--app", "arrwdb", "--env", "production", *argv[1:]])
    assert result.exit_code == 0, result.stderr
    rendered = (config / "app" / "config.yaml").read_text()
    assert f'password: "{password}"' in rendered
    assert stat.S_IMODE((config / "app" / "config.yaml").stat().st_mode) == 0o600
    assert password not in result.output


def test_sidecar_and_app_use_real_options() -> None:
    """The sidecar watches with --on-change; the app's backend is file:// first, then Vault."""
    spec = _k8s()
    containers = {c["name"]: c for c in spec["containers"]}
    sidecar = containers["config-refresher"]["command"]
    assert sidecar[:2] == ["sekret", "inject"]
    assert {"--watch", "--interval", "--on-change"} <= set(sidecar)
    from sekret.cli.inject import inject

    known = {opt for p in inject.params for opt in getattr(p, "opts", [])}
    assert {a for a in sidecar if a.startswith("-")} <= known
    env = {e["name"]: e.get("value") for e in containers["api"]["env"]}
    backend = open_backend(env["SEKRET_BACKEND"])
    assert isinstance(backend, ChainBackend)
    first = backend.members[0]
    assert isinstance(first, FileBackend)
    assert first.group_read
    assert str(first.root) == "/mnt/secrets"
    assert spec["volumes"][2]["secret"]["defaultMode"] == 0o440


def test_schedules_run_rotate_due(tmp_path: Path) -> None:
    """The CronJob and the systemd unit run `sekret rotate --due`; it rotates what is due."""
    cron = yaml.safe_load((DEPLOY / "k8s" / "rotate-cronjob.yaml").read_text())
    job = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"]
    assert job[:3] == ["sekret", "rotate", "--due"]
    unit = (DEPLOY / "systemd" / "sekret-rotate.service").read_text()
    assert "sekret rotate --due" in unit
    assert "OnCalendar=hourly" in (DEPLOY / "systemd" / "sekret-rotate.timer").read_text()
    store = tmp_path / "store" / "secrets.db"
    init_store(store)
    (tmp_path / "sekret.toml").write_text(
        'app = "arrwdb"\ndefault_environment = "production"\n'
        f'[environments.production]\nbackend = "local://{store}"\n'
        '[secrets.cohere-api-key]\nkind = "generic"\nrotator = "random"\nrotation_days = 90\n'
    )
    with Secrets(f"local://{store}", app="arrwdb", environment="production") as secrets:
        secrets.put("cohere-api-key", sentinel_value())
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEKRET_")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    run = [*SEKRET, *job[1:], "--as-of", "2099-01-01", "--yes"]
    done = subprocess.run(run, cwd=tmp_path, env=env, capture_output=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["outcome"] == "rotated"


def test_github_workflow_runs_doctor_json(tmp_path: Path) -> None:
    """The workflow's doctor step writes JSON an artifact can keep."""
    flow = yaml.safe_load((DEPLOY / "github" / "sekret.yml").read_text())
    runs = [s.get("run", "") for s in flow["jobs"]["doctor"]["steps"]]
    assert "sekret doctor --json > sekret-doctor.json" in runs
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEKRET_")}
    env["PYTHONPATH"] = os.pathsep.join(sys.path)
    (tmp_path / "sekret.toml").write_text(
        'app = "arrwdb"\n[environments.ci]\nbackend = "memory://"\n'
    )
    done = subprocess.run(
        [*SEKRET, "doctor", "--json"],
        cwd=tmp_path,
        env={**env, "SEKRET_ENV": "ci"},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode in (0, 1), done.stderr
    assert "checks" in json.loads(done.stdout)
