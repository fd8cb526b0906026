"""Backend URLs: any text gives a backend or a SekretError, and policies use the URL.

The fuzz tests run ``open_backend`` and the CLI on generated URLs with name
resolution switched off (a constructor that tried the network would fail
loudly), Google's default credentials pointed at a missing file, and no
``local://`` URL (it would create stores).
"""

from __future__ import annotations

import contextlib
import json
import socket
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from sekret.backends import open_backend, policy_document
from sekret.backends.aws import AwsBackend
from sekret.cli import build_cli
from sekret.exceptions import ConfigurationError, InvalidValue, SekretError

_SCHEMES = ["aws", "azure", "gcp", "vault+https", "vault+http", "env", "memory", "chain", "nope"]
_URL_CHARS = st.sampled_from(
    [*"abcxyzABZ019-_.:@[]%/?&=#+~ ,", "eu-west-1", "vault.azure.net", "%5B", "\x00", "é"]
)
_REST = st.lists(_URL_CHARS, max_size=24).map("".join)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """No name resolution, no cloud credentials from this machine."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise OSError("name resolution is off in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "missing.json"))
    monkeypatch.setenv("HOME", str(tmp_path))
    for var in ("VAULT_TOKEN", "BAO_TOKEN", "VAULT_ADDR", "SEKRET_BACKEND"):
        monkeypatch.delenv(var, raising=False)


def _close(backend: Any) -> None:
    with contextlib.suppress(SekretError):
        backend.close()


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scheme=st.sampled_from(_SCHEMES), rest=_REST)
def test_any_url_gives_a_backend_or_a_sekret_error(offline: None, scheme: str, rest: str) -> None:
    """open_backend on fuzzed URLs raises nothing but SekretError subclasses."""
    url = f"{scheme}://{rest}"
    assume("local" not in url.lower())
    try:
        backend = open_backend(url)
    except SekretError:
        return
    _close(backend)


@pytest.mark.parametrize(
    "url",
    ["aws://[eu-west-1", "azure://[v].vault.azure.net", "gcp://[p", "env://[x", "memory://]["],
)
def test_bracket_in_host_is_a_configuration_error(offline: None, url: str) -> None:
    """A '[' in the host (urlsplit's 'Invalid IPv6 URL') is a ConfigurationError naming it."""
    with pytest.raises(ConfigurationError) as info:
        open_backend(url)
    assert "malformed" in str(info.value)
    assert url.split("://")[1] not in str(info.value)  # the URL is not echoed
    assert not isinstance(info.value.__cause__, SekretError)


@pytest.mark.parametrize(
    "url", ["aws://Bad_Region", "aws://-x", "aws://123", "aws://eu-west-1:443", "aws://eu/x"]
)
def test_bad_aws_region_is_a_configuration_error(offline: None, url: str) -> None:
    """A region botocore would refuse (InvalidRegionError) is caught before the SDK sees it."""
    with pytest.raises(ConfigurationError):
        open_backend(url)


def test_bad_aws_timeouts_are_configuration_errors(offline: None) -> None:
    """NaN, zero or negative timeouts in the URL are refused by name."""
    for raw in ("nan", "0", "-1", "inf"):
        with pytest.raises(ConfigurationError) as info:
            open_backend(f"aws://eu-west-1?connect_timeout={raw}")
        assert "connect_timeout" in str(info.value)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(scheme=st.sampled_from(_SCHEMES), rest=_REST)
def test_cli_never_exits_70_on_a_url(offline: None, scheme: str, rest: str) -> None:
    """`sekret policy URL` on fuzzed URLs exits with a documented code, never 70."""
    url = f"{scheme}://{rest}"
    assume("local" not in url.lower())
    result = CliRunner().invoke(build_cli(), ["policy", url, "--app", "a", "--env", "dev"])
    assert result.exit_code != 70
    assert "Traceback" not in result.output


@pytest.mark.parametrize("url", ["aws://[x", "aws://Bad_Region", "gcp://[p", "azure://[v"])
def test_cli_backend_flag_with_a_bad_url_exits_8(offline: None, url: str) -> None:
    """`sekret --backend URL get` with a malformed URL is a configuration error (exit 8)."""
    result = CliRunner(env={"SEKRET_BACKEND": None}).invoke(
        build_cli(), ["--backend", url, "--app", "a", "--env", "dev", "get", "k"]
    )
    assert result.exit_code == 8, result.output
    assert "Traceback" not in result.output


# -- policies from the URL ---------------------------------------------------------


def _resources(document: str) -> list[str]:
    return [s["Resource"] for s in json.loads(document)["Statement"]]


def test_aws_policy_uses_region_and_account_from_the_url() -> None:
    """aws://eu-west-1?account=... gives ARNs with that region and account."""
    doc = policy_document("aws://eu-west-1?account=123456789012", "arrwdb/production")
    assert _resources(doc)[0] == (
        "arn:aws:secretsmanager:eu-west-1:123456789012:secret:arrwdb/production/*"
    )


def test_aws_policy_takes_account_and_partition_from_role_arn() -> None:
    """Without ?account=, the role ARN's account and partition are used."""
    url = "aws://cn-north-1?role_arn=arn:aws-cn:iam::210987654321:role/app"
    doc = policy_document(url, "arrwdb/production")
    assert _resources(doc)[0].startswith("arn:aws-cn:secretsmanager:cn-north-1:210987654321:")


def test_aws_policy_options_win_over_the_url() -> None:
    """An explicit --option beats what the URL says."""
    doc = policy_document("aws://eu-west-1", "arrwdb/production", region="us-east-2")
    assert ":us-east-2:" in _resources(doc)[0]


def test_aws_url_accepts_policy_only_options(offline: None) -> None:
    """account= and partition= are valid in a runtime URL too (the client ignores them)."""
    backend = open_backend("aws://eu-west-1?account=123456789012&partition=aws")
    assert isinstance(backend, AwsBackend)
    backend.close()


def test_azure_policy_uses_the_vault_from_the_url() -> None:
    """azure://kv-prod.vault.azure.net scopes the role assignment to vault kv-prod."""
    doc = policy_document("azure://kv-prod.vault.azure.net", "arrwdb/production")
    assert '/providers/Microsoft.KeyVault/vaults/kv-prod"' in doc
    assert "<vault-name>" not in doc


def test_gcp_policy_uses_the_project_from_the_url() -> None:
    """gcp://my-proj-1 names the project in the bindings and the apply command."""
    doc = json.loads(policy_document("gcp://my-proj-1", "arrwdb/production", access="rotate"))
    assert doc["project"] == "my-proj-1"
    assert "my-proj-1" in doc["apply"]
    assert doc["customRoles"][0]["name"] == "projects/my-proj-1/roles/sekretStageMover"


def test_gcp_read_policy_covers_the_read_path() -> None:
    """The read policy grants payload access and the metadata reads stages need."""
    doc = json.loads(policy_document("gcp://my-proj-1", "arrwdb/production"))
    roles = {b["role"] for b in doc["bindings"]}
    assert roles == {"roles/secretmanager.secretAccessor", "roles/secretmanager.viewer"}


def test_policy_for_a_bare_scheme_still_works() -> None:
    """`sekret policy aws` (no URL) keeps the wildcards."""
    assert ":*:*:secret:" in _resources(policy_document("aws", "arrwdb/production"))[0]


def test_policy_url_with_bad_option_is_refused() -> None:
    """An unknown URL option is a ConfigurationError, not ignored."""
    with pytest.raises(ConfigurationError):
        policy_document("aws://eu-west-1?acount=1", "arrwdb/production")
    with pytest.raises(InvalidValue):
        policy_document("aws://eu-west-1?account=12", "arrwdb/production")


def test_cli_policy_uses_the_url() -> None:
    """`sekret policy aws://eu-west-1?account=...` prints ARNs with region and account."""
    result = CliRunner().invoke(
        build_cli(),
        ["policy", "aws://eu-west-1?account=123456789012", "--app", "a", "--env", "prod"],
    )
    assert result.exit_code == 0, result.output
    assert "arn:aws:secretsmanager:eu-west-1:123456789012:secret:a/prod/*" in result.output
