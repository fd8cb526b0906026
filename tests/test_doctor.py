"""The security checklist: each check passes on a clean project and flags a crafted fault."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from conftest import need_service
from sekret._values import SecretValue
from sekret.backends.local import LocalBackend, init_store
from sekret.backup import create_backup_key
from sekret.doctor import CHECKS, CheckResult, run_checks
from sekret.exceptions import ConfigurationError
from sekret.testing import SENTINEL_PREFIX, sentinel_value


@pytest.fixture(autouse=True)
def _needs_git() -> None:
    if shutil.which("git") is None:
        need_service("git", "the git command is not installed")


LATER = datetime(2099, 1, 1, tzinfo=UTC)
GITIGNORE = ".sekret/\n.env\n*.key\n"


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


def _manifest(store: Path, *, production: str | None = None, extra: str = "") -> str:
    prod = (
        production
        if production is not None
        else (
            "[environments.production]\n"
            'backend = "vault+https://vault.example:8200/secret"\n'
            "read_only = true\n"
            'audit = ["jsonl:///var/log/arrwdb/audit.jsonl"]\n'
        )
    )
    return (
        'app = "arrwdb"\n'
        'default_environment = "development"\n'
        "[environments.development]\n"
        f'backend = "local://{store}"\n' + prod + '[secrets.api-key]\nkind = "api_key"\n'
        '[secrets.db]\nkind = "db_credentials"\n'
        '[secrets.notes]\nkind = "generic"\n' + extra
    )


class Project:
    """A temporary git project with a manifest, a local store and seeded secrets."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = root / ".sekret" / "dev.db"
        self.key = Path(f"{self.store}.key")
        init_store(self.store)
        self.values = {"api-key": sentinel_value("api"), "notes": sentinel_value("notes")}
        self.db_password = sentinel_value("pw")
        backend = LocalBackend(self.store)
        try:
            for name, value in self.values.items():
                backend.write(f"arrwdb/development/{name}", SecretValue.of(value))
            backend.write(
                "arrwdb/development/db",
                SecretValue.of({"user": "app", "password": self.db_password}),
            )
        finally:
            backend.close()
        self.write("sekret.toml", _manifest(self.store))
        self.write(".gitignore", GITIGNORE)
        self.write("src/app.py", "import sekret\n\nKEY = secrets.get('api-key')\n")
        _git(root, "init", "-q")
        _git(root, "config", "user.name", "Doctor Test")
        _git(root, "config", "user.email", "doctor@example.invalid")
        _git(root, "add", "-A")
        _git(root, "commit", "-q", "-m", "start")

    def write(self, relative: str, text: str) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def run(self, *only: str, **options: object) -> dict[str, CheckResult]:
        options.setdefault("environ", {})
        results = run_checks(
            self.root / "sekret.toml", root=self.root, only=only or None, **options
        )  # type: ignore[arg-type]
        for result in results:
            assert SENTINEL_PREFIX not in json.dumps(result.as_dict())
        return {r.id: r for r in results}


@pytest.fixture
def project(tmp_path: Path) -> Project:
    return Project(tmp_path / "proj")


def test_clean_project_passes_every_check(project: Project) -> None:
    """A careful project passes each check (none fails or warns)."""
    results = project.run()
    assert list(results) == [check_id for check_id, _ in CHECKS]
    expected = dict.fromkeys(results, "pass") | {"environment-reuse": "skip"}  # development
    assert {r.id: r.status for r in results.values()} == expected


def test_broken_manifest_fails_and_skips_the_rest(project: Project) -> None:
    """A manifest error names file, key path and reason; checks needing it are skipped."""
    project.write("sekret.toml", 'app = "arrwdb"\n[environments.development]\nbackend = 3\n')
    results = project.run()
    failed = results["manifest"]
    assert failed.status == "fail"
    assert "sekret.toml:3: environments.development.backend: must be a string" in failed.detail
    assert results["secrets-exist"].status == "skip"


def test_file_permissions(project: Project) -> None:
    """A key file readable by others fails the permission check."""
    assert project.run("file-permissions")["file-permissions"].status == "pass"
    project.key.chmod(0o644)
    result = project.run("file-permissions")["file-permissions"]
    assert result.status == "fail"
    assert any(str(project.key) in f and "0644" in f for f in result.findings)


def test_store_in_a_folder_others_can_write_fails(project: Project) -> None:
    """A store and key in a folder writable by others (no sticky bit) fail the check."""
    project.store.parent.chmod(0o777)
    try:
        result = project.run("file-permissions")["file-permissions"]
    finally:
        project.store.parent.chmod(0o700)
    assert result.status == "fail"
    assert any("writable by group or others" in f for f in result.findings)


def test_key_file_of_another_account_fails(project: Project) -> None:
    """A key file owned by another account (uid 65534) fails the check."""
    if os.geteuid() != 0:
        pytest.skip("simulating a second account needs root (CI runs as root)")
    os.chown(project.key, 65534, 65534)
    result = project.run("file-permissions")["file-permissions"]
    assert result.status == "fail"
    assert any("uid 65534" in f for f in result.findings)


def test_key_files_ignored(project: Project) -> None:
    """A key file git would commit fails; a committable store alone warns."""
    project.write(".gitignore", ".env\n*.key\n")
    warned = project.run("key-files-ignored")["key-files-ignored"]
    assert warned.status == "warn"
    assert str(project.store) in warned.findings
    project.write(".gitignore", ".env\n")
    failed = project.run("key-files-ignored")["key-files-ignored"]
    assert failed.status == "fail"
    assert str(project.key) in failed.findings


def test_committed_key_advice_names_the_reencrypting_rotation(project: Project) -> None:
    """After a key git would commit, the advice is rotate-master-key --reencrypt."""
    _git(project.root, "add", "-f", str(project.key))
    result = project.run("key-files-ignored")["key-files-ignored"]
    assert result.status == "fail"
    assert "sekret rotate-master-key --reencrypt" in result.fix


def test_stray_key_file_in_the_tree(project: Project) -> None:
    """Any committable *.key holding a key (e.g. a backup key) fails."""
    project.write(".gitignore", ".sekret/\n.env\n")
    stray = create_backup_key(project.root / "ops" / "backup.key")
    result = project.run("key-files-ignored")["key-files-ignored"]
    assert result.status == "fail"
    assert str(stray) in result.findings


def test_dotenv_committed(project: Project) -> None:
    """A .env file git would commit fails; an ignored one or a .env.example does not."""
    project.write(".env", "API_KEY=placeholder\n")
    project.write(".env.example", "API_KEY=\n")
    assert project.run("dotenv-committed")["dotenv-committed"].status == "pass"
    project.write("deploy/prod.env", "X=1\n")
    result = project.run("dotenv-committed")["dotenv-committed"]
    assert result.status == "fail"
    assert result.findings == ("deploy/prod.env",)


def test_value_in_a_tracked_file(project: Project) -> None:
    """A current value in a tracked file is reported as file:line and secret name only."""
    project.write("src/settings.py", f"# config\n\nKEY = '{project.values['api-key']}'\n")
    project.write("docs/db.md", f"password: {project.db_password}\n")
    _git(project.root, "add", "-A")
    result = project.run("values-in-source")["values-in-source"]
    assert result.status == "fail"
    assert set(result.findings) == {
        "src/settings.py:3 (secret api-key)",
        "docs/db.md:1 (secret db)",
    }


def test_production_settings(project: Project) -> None:
    """Production on local://, writable and without audit sinks warns on each point."""
    project.write(
        "sekret.toml",
        _manifest(
            project.store, production='[environments.production]\nbackend = "local:///srv/p.db"\n'
        ),
    )
    results = project.run("production-backend", "production-read-only", "production-audit")
    assert {r.status for r in results.values()} == {"warn"}
    assert results["production-backend"].findings == ("production: local://",)
    accepted = project.run(
        "production-backend", accept={"production-backend": "single host, encrypted disk"}
    )["production-backend"]
    assert accepted.status == "skip"
    assert "single host, encrypted disk" in accepted.detail


def test_no_production_environment_skips(project: Project) -> None:
    """Without a production environment the production checks are skipped."""
    project.write("sekret.toml", _manifest(project.store, production=""))
    results = project.run("production-backend", "production-read-only", "production-audit")
    assert {r.status for r in results.values()} == {"skip"}


def test_rotation_schedules(project: Project) -> None:
    """A credential rotating less often than its kind's interval warns."""
    text = _manifest(project.store).replace(
        '[secrets.api-key]\nkind = "api_key"\n',
        '[secrets.api-key]\nkind = "api_key"\nrotation_days = 400\n',
    )
    project.write("sekret.toml", text)
    result = project.run("rotation-schedules")["rotation-schedules"]
    assert result.status == "warn"
    assert result.findings == ("api-key: every 400 days (api_key: at most 90)",)


def test_rotation_overdue(project: Project) -> None:
    """Schedules past due fail; a pending version left behind warns."""
    now: Callable[[], datetime] = lambda: LATER  # noqa: E731
    overdue = project.run("rotation-overdue", now=now)["rotation-overdue"]
    assert overdue.status == "fail"
    assert {f.split(":")[0] for f in overdue.findings} == {"api-key", "db"}
    backend = LocalBackend(project.store)
    try:
        backend.write(
            "arrwdb/development/api-key", SecretValue.of(sentinel_value()), stages=["pending"]
        )
    finally:
        backend.close()
    pending = project.run("rotation-overdue")["rotation-overdue"]
    assert pending.status == "warn"


def test_declared_secret_missing(project: Project) -> None:
    """A declared secret absent from the backend fails secrets-exist."""
    project.write("sekret.toml", _manifest(project.store, extra="[secrets.webhook]\n"))
    result = project.run("secrets-exist")["secrets-exist"]
    assert result.status == "fail"
    assert result.findings == ("webhook: missing",)


def test_unreachable_backend_fails(project: Project) -> None:
    """A backend that cannot be opened fails secrets-exist with the reason."""
    project.key.unlink()
    result = project.run("secrets-exist")["secrets-exist"]
    assert result.status == "fail"
    assert "key file" in result.detail


def test_cache_settings(project: Project) -> None:
    """A ttl over an hour fails; a max_stale over a day warns."""
    base = _manifest(project.store)
    dev = f'backend = "local://{project.store}"\n'
    project.write("sekret.toml", base.replace(dev, dev + "max_stale = 200000\n"))
    assert project.run("cache-settings")["cache-settings"].status == "warn"
    project.write("sekret.toml", base.replace(dev, dev + "cache_ttl = 7200\n"))
    result = project.run("cache-settings")["cache-settings"]
    assert result.status == "fail"
    assert result.findings == ("development: cache_ttl 7200s > 3600s",)


def test_master_key_in_environment(project: Project) -> None:
    """SEKRET_MASTER_KEY in the environment warns outside development only."""
    environ = {"SEKRET_MASTER_KEY": sentinel_value()}
    dev = project.run("master-key-env", environ=environ)["master-key-env"]
    assert dev.status == "pass"
    prod = project.run("master-key-env", environ=environ, environment="production")
    assert prod["master-key-env"].status == "warn"


def test_unknown_accept_id_is_refused(project: Project) -> None:
    """--accept with an unknown check id is a configuration error."""
    with pytest.raises(ConfigurationError, match="unknown check"):
        project.run(accept={"no-such-check": "because"})


def test_without_git_the_git_checks_skip(tmp_path: Path) -> None:
    """Outside a git work tree the git checks are skipped, not guessed."""
    root = tmp_path / "plain"
    store = root / "dev.db"
    root.mkdir()
    init_store(store)
    (root / "sekret.toml").write_text(_manifest(store))
    results = {r.id: r for r in run_checks(root / "sekret.toml", root=root, environ={})}
    for check_id in ("key-files-ignored", "dotenv-committed", "values-in-source"):
        assert results[check_id].status == "skip"


def _put(store: Path, name: str, value: object, **metadata: str) -> None:
    backend = LocalBackend(store)
    try:
        backend.write(name, SecretValue.of(value), metadata=metadata or None)
    finally:
        backend.close()


def test_environment_reuse_fails_when_production_shares_a_value(project: Project) -> None:
    """Run for production, a production value also stored in development fails, value-free."""
    store = f"local://{project.store}"
    _put(project.store, "arrwdb/production/api-key", project.values["api-key"])
    _put(project.store, "arrwdb/production/db", {"password": sentinel_value()})
    result = project.run("environment-reuse", environment="production", backend=store)[
        "environment-reuse"
    ]
    assert result.status == "fail"
    assert result.findings == ("production:api-key holds the same value as development:api-key",)
    _put(project.store, "arrwdb/production/api-key", sentinel_value())
    again = project.run("environment-reuse", environment="production", backend=store)
    assert again["environment-reuse"].status == "pass"
    assert again["environment-reuse"].detail == "production shares no value with development"


def test_environment_reuse_warns_when_another_environment_is_unreadable(
    project: Project, tmp_path: Path
) -> None:
    """An environment the doctor cannot open is named in a warning, not silently passed."""
    prod_store = tmp_path / "prod.db"
    init_store(prod_store)
    _put(prod_store, "arrwdb/production/api-key", sentinel_value())
    project.write(
        "sekret.toml",
        _manifest(
            project.store,
            production=f'[environments.production]\nbackend = "local://{prod_store}"\n'
            f'[environments.staging]\nbackend = "local://{tmp_path}/absent/s.db"\n',
        ),
    )
    result = project.run("environment-reuse", environment="production")["environment-reuse"]
    assert result.status == "warn"
    assert len(result.findings) == 1
    assert result.findings[0].startswith("staging: not compared (")


def test_environment_reuse_skips_outside_production(project: Project) -> None:
    """For a development run the check is skipped and says how to run it."""
    result = project.run("environment-reuse")["environment-reuse"]
    assert result.status == "skip"
    assert "--env production" in result.detail


def test_expiry_warns_within_30_days_and_fails_once_expired(project: Project) -> None:
    """The expiry check follows the injected clock: pass, warn inside 30 days, fail after."""
    _put(
        project.store,
        "arrwdb/development/api-key",
        sentinel_value(),
        expires_at="2027-01-01T00:00:00Z",
    )

    def at(day: str) -> CheckResult:
        when = datetime.fromisoformat(day).replace(tzinfo=UTC)
        return project.run("expiry", now=lambda: when)["expiry"]

    assert at("2026-11-01").status == "pass"
    soon = at("2026-12-15")
    assert soon.status == "warn"
    assert soon.findings == ("api-key: expires 2027-01-01 (in 17d)",)
    late = at("2027-01-01")
    assert late.status == "fail"
    assert late.findings == ("api-key: expired 2027-01-01",)


def test_expiry_in_a_strict_environment_fails(project: Project) -> None:
    """With strict_expiry the read is refused; the expiry check still names the secret."""
    _put(
        project.store,
        "arrwdb/development/api-key",
        sentinel_value(),
        expires_at="2020-01-01T00:00:00Z",
    )
    text = (project.root / "sekret.toml").read_text()
    project.write(
        "sekret.toml",
        text.replace(
            "[environments.development]\n", "[environments.development]\nstrict_expiry = true\n"
        ),
    )
    result = project.run("expiry")["expiry"]
    assert result.status == "fail"
    assert result.findings == ("api-key: expired (strict_expiry refuses it)",)


def test_dynamic_secret_without_max_ttl_fails(project: Project) -> None:
    """A kind = "dynamic" secret without a bounded max_ttl fails dynamic-ttls, naming it."""
    extra = '[secrets.db-lease]\nkind = "dynamic"\nrole = "r"\n'
    project.write("sekret.toml", _manifest(project.store, extra=extra))
    result = project.run("dynamic-ttls")["dynamic-ttls"]
    assert result.status == "fail"
    assert result.findings == ("db-lease: no max_ttl",)
    extra += "max_ttl = 172800\n"
    project.write("sekret.toml", _manifest(project.store, extra=extra))
    result = project.run("dynamic-ttls")["dynamic-ttls"]
    assert result.findings == ("db-lease: max_ttl 172800 s",)


def test_dynamic_secret_with_bounded_ttl_passes_and_is_not_read(project: Project) -> None:
    """A bounded dynamic secret passes; secrets-exist does not look for it in the store."""
    extra = '[secrets.db-lease]\nkind = "dynamic"\nttl = 600\nmax_ttl = 3600\n'
    project.write("sekret.toml", _manifest(project.store, extra=extra))
    results = project.run("dynamic-ttls", "secrets-exist")
    assert results["dynamic-ttls"].status == "pass"
    assert "could be" in results["dynamic-ttls"].detail  # the static db password: advice
    assert results["secrets-exist"].status == "pass"
