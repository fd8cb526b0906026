"""The Azure Key Vault backend: the real SDK against the local HTTPS fake."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from sekret import Secrets, SecretValue, VersionDisabled
from sekret._values import CURRENT, PENDING, PREVIOUS
from sekret.backends import open_backend
from sekret.backends._namemap import AZURE
from sekret.backends.azure import AzureBackend
from sekret.exceptions import (
    AccessDenied,
    AuthenticationFailed,
    BackendUnavailable,
    ConfigurationError,
    Conflict,
    IntegrityError,
    InvalidSecretName,
    InvalidValue,
    SecretNotFound,
    Throttled,
    UnsupportedOperation,
    VersionNotFound,
)
from sekret.rotation import RandomRotator, RotationEngine, Step
from sekret.testing import BackendContract, sentinel_value
from servers.azure_fake import FakeKeyVault, fake_client


def make_backend(fake: FakeKeyVault, **options: Any) -> AzureBackend:
    return AzureBackend(fake.url, client=fake_client(fake, **options), polling_interval=0)


@pytest.fixture
def backend(azure_fake: FakeKeyVault) -> Iterator[AzureBackend]:
    with make_backend(azure_fake) as b:
        yield b


class TestAzureContract(BackendContract):
    @pytest.fixture
    def backend(self, azure_fake: FakeKeyVault) -> Iterator[AzureBackend]:
        with make_backend(azure_fake) as b:
            yield b


def test_first_request_meets_the_bearer_challenge(fresh_azure_fake: FakeKeyVault) -> None:
    """The SDK's first request has no token, gets 401 + challenge, then retries with one."""
    with make_backend(fresh_azure_fake) as b:
        b.write("app/dev/key", SecretValue.of("v"))
    first, second = fresh_azure_fake.requests[:2]
    assert first[2] is False
    assert second[2] is True


def test_wrong_token_is_authentication_failed(azure_fake: FakeKeyVault) -> None:
    """A token the vault rejects (401 twice) raises AuthenticationFailed."""
    client = fake_client(azure_fake, token="not-the-token")
    with AzureBackend(azure_fake.url, client=client) as b, pytest.raises(AuthenticationFailed):
        b.read("app/dev/anything")


def test_injected_403_is_access_denied(backend: AzureBackend, azure_fake: FakeKeyVault) -> None:
    """A 403 from the vault raises AccessDenied naming the secret."""
    azure_fake.inject(403)
    with pytest.raises(AccessDenied) as info:
        backend.read("app/dev/key")
    assert "app/dev/key" in str(info.value)
    assert not isinstance(info.value, AuthenticationFailed)


def test_429_after_retries_is_throttled(backend: AzureBackend, azure_fake: FakeKeyVault) -> None:
    """429 on every attempt (first try + 2 retries) raises Throttled."""
    azure_fake.inject(429, times=3)
    with pytest.raises(Throttled):
        backend.read("app/dev/key")


def test_429_once_is_retried(backend: AzureBackend, azure_fake: FakeKeyVault) -> None:
    """A single 429 is retried by the SDK and the write goes through."""
    azure_fake.inject(429, times=1, method="PUT")
    backend.write("app/dev/retried", SecretValue.of("v"))
    assert backend.read("app/dev/retried").value.text() == "v"


def test_server_error_is_unavailable(backend: AzureBackend, azure_fake: FakeKeyVault) -> None:
    """500 on every attempt raises BackendUnavailable."""
    azure_fake.inject(500, times=3)
    with pytest.raises(BackendUnavailable):
        backend.read("app/dev/key")


def test_connection_refused_is_unavailable(azure_fake: FakeKeyVault) -> None:
    """Nothing listening on the port raises BackendUnavailable."""
    client = _unreachable_client(azure_fake)
    with AzureBackend("https://127.0.0.1:1", client=client) as b, pytest.raises(BackendUnavailable):
        b.read("app/dev/key")


def _unreachable_client(fake: FakeKeyVault) -> Any:
    from azure.keyvault.secrets import SecretClient

    from servers.azure_fake import StaticTokenCredential

    return SecretClient(
        "https://127.0.0.1:1",
        StaticTokenCredential(fake.token),
        verify_challenge_resource=False,
        connection_verify=str(fake.cert),
        retry_total=0,
    )


def test_disabled_version_is_its_own_error(backend: AzureBackend, azure_fake: FakeKeyVault) -> None:
    """Reading a disabled version raises VersionDisabled (a VersionNotFound)."""
    v1 = backend.write("app/dev/dis", SecretValue.of("one")).version
    backend.write("app/dev/dis", SecretValue.of("two"))
    azure_fake.disable(AZURE.encode("app/dev/dis"), v1)
    with pytest.raises(VersionDisabled) as info:
        backend.read("app/dev/dis", version=v1)
    assert v1 in str(info.value)
    assert backend.read("app/dev/dis").value.text() == "two"


# -- working alongside other tools: the raw SDK client and sekret take turns ----------


def _native(fake: FakeKeyVault) -> Any:
    """The raw SDK client another tool (portal, az, Terraform) would use."""
    return fake_client(fake)


def test_native_write_becomes_current(backend: AzureBackend, azure_fake: FakeKeyVault) -> None:
    """A version set by another tool is current for sekret; versions and rollback still work."""
    name = "interop/dev/native-write"
    v1 = backend.write(name, SecretValue.of("from-sekret")).version
    azure_fake.now += timedelta(seconds=2)
    raw = _native(azure_fake).set_secret(AZURE.encode(name), "from-terraform")
    got = backend.read(name)
    assert got.value.text() == "from-terraform"
    assert got.version == raw.properties.version
    infos = backend.versions(name)
    assert [i.version for i in infos] == [v1, raw.properties.version]
    assert PREVIOUS in infos[0].stages
    assert CURRENT in infos[1].stages
    backend.move_stage(name, CURRENT, v1, expected_version=raw.properties.version)  # rollback
    assert backend.read(name).value.text() == "from-sekret"
    assert _native(azure_fake).get_secret(AZURE.encode(name)).value == "from-sekret"
    assert backend.read(name, stage=PREVIOUS).version == raw.properties.version


def test_pending_is_invisible_to_native_readers(
    backend: AzureBackend, azure_fake: FakeKeyVault
) -> None:
    """A pending write leaves the native latest version alone; promotion makes it latest."""
    name = "interop/dev/pending"
    v1 = backend.write(name, SecretValue.of("live")).version
    pending = backend.write(name, SecretValue.of("not-yet-validated"), stages=[PENDING]).version
    native = _native(azure_fake)
    assert native.get_secret(AZURE.encode(name)).value == "live"
    assert backend.read(name, stage=PENDING).value.text() == "not-yet-validated"
    companion = AZURE.companion(AZURE.encode(name))
    assert companion in {p.name for p in native.list_properties_of_secrets()}
    assert name in {i.name for i in backend.list("interop/dev/").items}  # companion hidden
    assert all(AZURE.encode(i.name) != companion for i in backend.list("interop/").items)
    backend.move_stage(name, CURRENT, pending, expected_version=v1)
    backend.move_stage(name, PENDING, None)
    assert native.get_secret(AZURE.encode(name)).value == "not-yet-validated"
    assert backend.read(name).value.text() == "not-yet-validated"
    assert backend.read(name, stage=PREVIOUS).version == v1
    backend.move_stage(name, CURRENT, v1)  # rollback: the old value is the new latest
    assert native.get_secret(AZURE.encode(name)).value == "live"


def test_promotion_is_idempotent_for_a_resumed_rotation(backend: AzureBackend) -> None:
    """Promoting the same pending version twice writes one new version, not two."""
    name = "interop/dev/resume"
    v1 = backend.write(name, SecretValue.of("one")).version
    pending = backend.write(name, SecretValue.of("two"), stages=[PENDING]).version
    backend.move_stage(name, CURRENT, pending, expected_version=v1)
    current = backend.read(name).version
    backend.move_stage(name, CURRENT, pending, expected_version=current)
    assert backend.read(name).version == current
    assert len([i for i in backend.versions(name) if not i.version.startswith("p")]) == 2


def test_native_tag_rewrite_never_changes_the_value(
    backend: AzureBackend, azure_fake: FakeKeyVault
) -> None:
    """Another tool replacing every tag of every version leaves current and previous intact."""
    name = "interop/dev/tags"
    backend.write(name, SecretValue.of("one"))
    backend.write(name, SecretValue.of("two"))
    native = _native(azure_fake)
    for props in native.list_properties_of_secret_versions(AZURE.encode(name)):
        native.update_secret_properties(AZURE.encode(name), props.version, tags={"owner": "x"})
    assert backend.read(name).value.text() == "two"
    assert backend.read(name, stage=PREVIOUS).value.text() == "one"


def test_disabled_latest_raises_never_serves_an_older_value(
    backend: AzureBackend, azure_fake: FakeKeyVault
) -> None:
    """If the latest version is disabled (native readers fail too), sekret raises."""
    name = "interop/dev/disabled"
    backend.write(name, SecretValue.of("one"))
    v2 = backend.write(name, SecretValue.of("two")).version
    azure_fake.disable(AZURE.encode(name), v2)
    with pytest.raises(VersionDisabled):
        backend.read(name)
    v3 = backend.write(name, SecretValue.of("three")).version  # a new value recovers
    assert backend.read(name).version == v3


def test_revoke_previous_disables_it(backend: AzureBackend, azure_fake: FakeKeyVault) -> None:
    """Removing previous (revoke) disables that version; no older version takes its place."""
    name = "interop/dev/revoke"
    backend.write(name, SecretValue.of("zero"))
    v1 = backend.write(name, SecretValue.of("one")).version
    backend.write(name, SecretValue.of("two"))
    backend.move_stage(name, PREVIOUS, None, expected_version=v1)
    with pytest.raises(VersionNotFound):
        backend.read(name, stage=PREVIOUS)
    assert backend.read(name).value.text() == "two"


def test_pending_survives_a_native_write(backend: AzureBackend, azure_fake: FakeKeyVault) -> None:
    """A native write during a rotation changes current, not pending."""
    name = "interop/dev/rotating"
    backend.write(name, SecretValue.of("one"))
    pending = backend.write(name, SecretValue.of("next"), stages=[PENDING]).version
    _native(azure_fake).set_secret(AZURE.encode(name), "hotfix")
    assert backend.read(name).value.text() == "hotfix"
    assert backend.read(name, stage=PENDING).version == pending


def test_bytes_are_stored_base64_with_content_type(
    backend: AzureBackend, azure_fake: FakeKeyVault
) -> None:
    """Binary values are stored as base64 text marked by their content type."""
    backend.write("app/dev/bin", SecretValue.of(b"\x00\xff"))
    raw = fake_client(azure_fake).get_secret(AZURE.encode("app/dev/bin"))
    assert raw.value == "AP8="
    assert raw.properties.content_type == "application/octet-stream; encoding=base64"


def test_json_is_recovered_from_content_type(backend: AzureBackend) -> None:
    """A JSON value reads back as JSON."""
    backend.write("app/dev/doc", SecretValue.of({"a": 1}))
    assert backend.read("app/dev/doc").value.json() == {"a": 1}


def test_binary_limit_applies_to_the_base64_form(backend: AzureBackend) -> None:
    """Bytes whose base64 form exceeds 25 KB are refused before any request."""
    with pytest.raises(InvalidValue):
        backend.write("app/dev/big", SecretValue.of(b"x" * 20_000))


def test_cas_is_not_declared_and_refused(backend: AzureBackend) -> None:
    """write(expected_version=...) raises UnsupportedOperation: Key Vault cannot CAS."""
    with pytest.raises(UnsupportedOperation):
        backend.write("app/dev/cas", SecretValue.of("v"), expected_version="")


def test_name_too_long_for_azure_is_refused_before_any_request(
    backend: AzureBackend, azure_fake: FakeKeyVault
) -> None:
    """A valid sekret name whose Azure form exceeds 127 characters is InvalidSecretName."""
    before = len(azure_fake.requests)
    with pytest.raises(InvalidSecretName):
        backend.read("a/" * 60 + "b")
    assert len(azure_fake.requests) == before


def test_names_that_differ_only_in_case_stay_apart(backend: AzureBackend) -> None:
    """Key Vault is case-insensitive; the mapping keeps App/x and app/x distinct."""
    backend.write("Case/dev/x", SecretValue.of("upper"))
    backend.write("case/dev/x", SecretValue.of("lower"))
    assert backend.read("Case/dev/x").value.text() == "upper"
    assert backend.read("case/dev/x").value.text() == "lower"


def test_write_conflict_on_deleted_name_is_secret_deleted(backend: AzureBackend) -> None:
    """Deleting then reading reports when the secret will be purged."""
    backend.write("app/dev/gone", SecretValue.of("v"))
    when = backend.delete("app/dev/gone")
    with pytest.raises(SecretNotFound) as info:
        backend.read("app/dev/gone")
    assert getattr(info.value, "recoverable_until", None) == when
    backend.destroy("app/dev/gone")


def test_token_retry_with_same_value_returns_same_version(backend: AzureBackend) -> None:
    """A retried write with the same token and value is a no-op; another value conflicts."""
    value = sentinel_value()
    first = backend.write("app/dev/tok", SecretValue.of(value), token="t1")
    assert backend.write("app/dev/tok", SecretValue.of(value), token="t1").version == first.version
    with pytest.raises(Conflict) as info:
        backend.write("app/dev/tok", SecretValue.of("other"), token="t1")
    assert value not in str(info.value)


def test_from_url_and_describe() -> None:
    """azure://<vault>.vault.azure.net builds a backend that describes itself by URL."""
    b = open_backend("azure://my-vault.vault.azure.net", credential=object())
    assert b.describe() == "azure://my-vault.vault.azure.net"
    with pytest.raises(ConfigurationError):
        AzureBackend.from_url("azure://")


def test_policy_read_is_secrets_user_role_assignment() -> None:
    """The read policy assigns Key Vault Secrets User; rotate assigns Secrets Officer."""
    text = AzureBackend.policy("arrwdb/production", access="read", vault="v1")
    assert '--role "Key Vault Secrets User"' in text
    assert "/vaults/v1" in text
    rotate = AzureBackend.policy("arrwdb/prod", access="rotate", names=["arrwdb/prod/k"])
    assert "Key Vault Secrets Officer" in rotate
    assert f"/secrets/{AZURE.encode('arrwdb/prod/k')}" in rotate


def test_values_never_reach_the_wire_log(
    backend: AzureBackend, caplog: pytest.LogCaptureFixture
) -> None:
    """With SDK logging at DEBUG, a written and read value appears in no log record."""
    caplog.set_level("DEBUG")
    value = sentinel_value()
    backend.write("app/dev/logged", SecretValue.of(value))
    backend.read("app/dev/logged")
    assert value not in json.dumps([r.getMessage() for r in caplog.records])


def test_listing_follows_next_link(
    backend: AzureBackend, azure_fake: FakeKeyVault, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With 2 items per service page, listings and versions follow nextLink to the end."""
    monkeypatch.setattr(azure_fake, "page_size", 2)
    names = {f"pages/a/s{i}" for i in range(5)}
    for n in names:
        backend.write(n, SecretValue.of("v"))
    ids = [backend.write("pages/a/s0", SecretValue.of(f"v{i}")).version for i in range(4)]
    assert {i.name for i in backend.list("pages/a/").items} == names
    assert [v.version for v in backend.versions("pages/a/s0")][1:] == ids
    assert sum(1 for r in azure_fake.requests if r[1] == "/secrets") >= 3


def test_missing_sdk_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without azure-keyvault-secrets, building the backend says: pip install "sekret[azure]"."""
    import sys

    from sekret.exceptions import BackendNotInstalled

    monkeypatch.setitem(sys.modules, "azure.keyvault.secrets", None)
    with pytest.raises(BackendNotInstalled, match=r"sekret\[azure\]"):
        AzureBackend("https://v.vault.azure.net")


def test_untrusted_certificate_is_a_configuration_error(azure_fake: FakeKeyVault) -> None:
    """A vault whose TLS certificate is not trusted: one sentence saying what to fix."""
    from azure.keyvault.secrets import SecretClient

    from servers.azure_fake import StaticTokenCredential

    client = SecretClient(
        azure_fake.url,
        StaticTokenCredential(azure_fake.token),
        verify_challenge_resource=False,
        retry_total=0,
    )
    with (
        AzureBackend(azure_fake.url, client=client) as b,
        pytest.raises(ConfigurationError) as info,
    ):
        b.read("app/dev/tls")
    assert "TLS certificate" in str(info.value)
    assert "\n" not in str(info.value)
    assert "<urllib3" not in str(info.value)
    assert "Error(" not in str(info.value)  # no repr of the SDK's exception


def test_challenge_resource_mismatch_is_a_configuration_error(
    fresh_azure_fake: FakeKeyVault,
) -> None:
    """The SDK's raw ValueError (challenge resource vs host) becomes ConfigurationError."""
    from azure.keyvault.secrets import SecretClient

    from servers.azure_fake import StaticTokenCredential

    client = SecretClient(
        fresh_azure_fake.url,
        StaticTokenCredential(fresh_azure_fake.token),
        connection_verify=str(fresh_azure_fake.cert),
        retry_total=0,
    )
    with (
        AzureBackend(fresh_azure_fake.url, client=client) as b,
        pytest.raises(ConfigurationError) as info,
    ):
        b.read("app/dev/challenge")
    assert "verify_challenge_resource" in str(info.value)


@pytest.mark.parametrize("crash_after", list(Step))
def test_rotation_resumes_and_native_readers_agree(
    backend: AzureBackend, azure_fake: FakeKeyVault, crash_after: Step
) -> None:
    """A rotation that dies after any step is finished by a rerun; the raw SDK reads current."""
    secrets = Secrets(backend, app="interop", environment=f"rot{crash_after.value}")
    secrets.put("key", "first-value")
    old = secrets.get("key")

    def die(name: str, step: Step, version: str) -> None:
        if step == crash_after:
            raise RuntimeError("crash")

    with pytest.raises(RuntimeError):
        RotationEngine(secrets, on_step=die).rotate("key", RandomRotator())
    secrets.invalidate("key")
    native = _native(azure_fake).get_secret(AZURE.encode(secrets.namespace.full("key")))
    assert native.value == secrets.get("key")
    RotationEngine(secrets).rotate("key", RandomRotator())
    secrets.invalidate("key")
    new = secrets.get("key")
    assert new != old
    native = _native(azure_fake).get_secret(AZURE.encode(secrets.namespace.full("key")))
    assert native.value == new
    with pytest.raises(VersionNotFound):
        secrets.get("key", stage=PENDING)


def test_facade_promote_rollback_revoke_agree_with_native_readers(
    backend: AzureBackend, azure_fake: FakeKeyVault
) -> None:
    """put/promote/rollback/revoke_previous through Secrets: the raw SDK reads current each time."""
    secrets = Secrets(backend, app="interop", environment="facade")
    code = AZURE.encode(secrets.namespace.full("db"))
    secrets.put("db", {"password": "one"})
    secrets.put("db", {"password": "two"}, stages=[PENDING])
    assert json.loads(_native(azure_fake).get_secret(code).value) == {"password": "one"}
    secrets.promote("db")
    assert json.loads(_native(azure_fake).get_secret(code).value) == {"password": "two"}
    assert secrets.get_json("db") == {"password": "two"}
    secrets.rollback("db")
    secrets.invalidate("db")
    assert json.loads(_native(azure_fake).get_secret(code).value) == {"password": "one"}
    assert secrets.get_json("db") == {"password": "one"}
    secrets.revoke_previous("db")
    with pytest.raises(VersionNotFound):
        secrets.get("db", stage=PREVIOUS)


def test_rewritten_companion_tags_raise_never_guess_pending(
    backend: AzureBackend, azure_fake: FakeKeyVault
) -> None:
    """If another tool wipes the companion's tags, pending raises IntegrityError; current works."""
    name = "interop/dev/companion-tags"
    backend.write(name, SecretValue.of("live"))
    pending = backend.write(name, SecretValue.of("next"), stages=[PENDING]).version
    companion = AZURE.companion(AZURE.encode(name))
    _native(azure_fake).update_secret_properties(companion, pending[1:], tags={"owner": "x"})
    with pytest.raises(IntegrityError):
        backend.read(name, stage=PENDING)
    with pytest.raises(IntegrityError):
        backend.write(name, SecretValue.of("again"), stages=[PENDING])
    assert backend.read(name).value.text() == "live"
    assert all(PENDING not in i.stages for i in backend.versions(name))


def test_key_vault_expiry_is_reported_as_expires(
    backend: AzureBackend, azure_fake: FakeKeyVault
) -> None:
    """A version another tool set with an expiry carries it as metadata 'expires' (UTC)."""
    from datetime import UTC, datetime

    from sekret._expiry import expires_at

    name = "interop/dev/expiring"
    when = datetime(2027, 1, 1, tzinfo=UTC)
    _native(azure_fake).set_secret(AZURE.encode(name), sentinel_value(), expires_on=when)
    got = backend.read(name)
    assert got.metadata["expires"] == "2027-01-01T00:00:00+00:00"
    assert expires_at(got.metadata) == when
    assert expires_at(backend.versions(name)[-1].metadata) == when
    plain = backend.write("interop/dev/not-expiring", SecretValue.of(sentinel_value()))
    assert "expires" not in plain.metadata
