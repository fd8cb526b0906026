"""``sekret policy BACKEND``: generic over each backend's own policy generator."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest

import sekret.backends
from cli.clirunner import Cli
from sekret.backends.base import Backend


class FakeBackend(Backend):
    scheme: ClassVar[str] = "fake"
    calls: ClassVar[list[tuple[str, str, dict[str, Any]]]] = []

    @classmethod
    def policy(cls, root: str, *, access: str = "read", **options: Any) -> str:
        cls.calls.append((root, access, options))
        return f"policy for {root} ({access})\n"


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeBackend]:
    FakeBackend.calls = []
    asked: list[str] = []

    def backend_class(scheme: str) -> type[Backend]:
        asked.append(scheme)
        return FakeBackend

    monkeypatch.setattr(sekret.backends, "backend_class", backend_class)
    FakeBackend.asked = asked  # type: ignore[attr-defined]
    return FakeBackend


def test_policy_passes_root_access_and_options(fake: type[FakeBackend]) -> None:
    """policy calls the backend's policy with APP/ENV, --access and --option pairs."""
    result = Cli("unused://").run(
        [
            "policy",
            "vault",
            "--app",
            "arrwdb",
            "--env",
            "production",
            "--access",
            "rotate",
            "--option",
            "mount=secret",
            "--option",
            "path=a=b",
        ]
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "policy for arrwdb/production (rotate)\n"
    assert fake.calls == [("arrwdb/production", "rotate", {"mount": "secret", "path": "a=b"})]
    assert fake.asked == ["vault"]  # type: ignore[attr-defined]


def test_policy_takes_app_and_env_from_global_options(fake: type[FakeBackend]) -> None:
    """--app/--env fall back to the global options (URL options: test_open_backend/vault)."""
    result = Cli("unused://").run(
        ["--app", "arrwdb", "--env", "staging", "policy", "vault+https://vault:8200/secret"]
    )
    assert result.exit_code == 0, result.stderr
    assert fake.calls == [("arrwdb/staging", "read", {})]
    assert fake.asked == ["vault"]  # type: ignore[attr-defined]


def test_policy_needs_an_explicit_environment(fake: type[FakeBackend]) -> None:
    """policy never falls back to the default environment: no --env is exit 2."""
    result = Cli("unused://").run(["policy", "vault", "--app", "arrwdb"])
    assert result.exit_code == 2
    assert "--env" in result.stderr
    assert fake.calls == []


def test_policy_bad_option_is_a_usage_error(fake: type[FakeBackend]) -> None:
    """An --option without '=' is exit 2."""
    result = Cli("unused://").run(
        ["policy", "vault", "--app", "a", "--env", "e", "--option", "novalue"]
    )
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1


def test_policy_of_a_backend_without_a_generator_exits_1() -> None:
    """A backend with no policy generator says so (UnsupportedOperation, exit 1)."""
    result = Cli("unused://").run(["policy", "memory", "--app", "a", "--env", "e"])
    assert result.exit_code == 1
    assert result.stderr == "sekret: error: backend 'memory' has no policy generator\n"


def test_policy_of_an_unknown_backend_exits_8() -> None:
    """An unregistered scheme is a configuration error naming the known ones."""
    result = Cli("unused://").run(["policy", "nosuch", "--app", "a", "--env", "e"])
    assert result.exit_code == 8
    assert "known:" in result.stderr


def test_policy_without_backend_uses_the_manifest_backend_of_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`sekret policy --env production` in a project prints the policy for the backend the
    manifest names there: a Vault URL's mount, an AWS region and account."""
    (tmp_path / "sekret.toml").write_text(
        'app = "arrwdb"\n'
        '[environments.production]\nbackend = "vault+https://v:8200/team/kv"\n'
        '[environments.staging]\nbackend = "aws://eu-west-1?account=123456789012"\n'
    )
    monkeypatch.chdir(tmp_path)
    vault = Cli("unused://").run(["policy", "--env", "production"])
    assert vault.exit_code == 0, vault.stderr
    assert 'path "team/kv/data/arrwdb/production/*"' in vault.stdout
    aws = Cli("unused://").run(["policy", "--env", "staging"])
    assert aws.exit_code == 0, aws.stderr
    assert "arn:aws:secretsmanager:eu-west-1:123456789012:secret:arrwdb/staging/" in aws.stdout


def test_policy_without_backend_or_manifest_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No BACKEND and no manifest naming one: exit 2 saying what to give."""
    monkeypatch.chdir(tmp_path)
    result = Cli("unused://").run(["policy", "--env", "production", "--app", "arrwdb"])
    assert result.exit_code == 2
    assert "policy needs a backend" in result.stderr


def test_vault_policy_covers_the_manifests_dynamic_secrets(tmp_path: Any) -> None:
    """With a manifest, the vault policy adds read/renew/revoke for its dynamic secrets' roles."""
    manifest = tmp_path / "sekret.toml"
    manifest.write_text(
        'app = "arrwdb"\n[environments.production]\n'
        'backend = "vault+https://vault:8200/secret"\n'
        '[secrets.db-credentials]\nkind = "dynamic"\nrole = "{app}-{environment}"\n'
        "max_ttl = 3600\n"
    )
    result = Cli("unused://").run(
        ["--manifest", str(manifest), "--env", "production", "policy", "vault"]
    )
    assert result.exit_code == 0, result.stderr
    assert 'path "database/creds/arrwdb-production" {' in result.stdout
    assert '"lease_id" = ["database/creds/arrwdb-production/*"]' in result.stdout
    assert 'path "secret/data/arrwdb/production/*" {' in result.stdout
