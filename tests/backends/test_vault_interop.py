"""Native first on OpenBao: the real ``bao`` CLI and sekret take turns on the same secrets.

What ``bao kv get`` (and so Vault Agent, ESO) returns is always sekret's
``current``; what another tool writes becomes sekret's current; nothing
another tool does (pruning, a custom-metadata rewrite, a delete) makes sekret
serve a different value silently.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from sekret import Secrets
from sekret.backends.vault import VaultBackend
from sekret.exceptions import ConfigurationError, SecretNotFound, VersionNotFound
from sekret.rotation import RotationEngine
from sekret.rotation.rotators import RandomRotator
from sekret.testing import sentinel_value
from servers.openbao import BaoServer

pytestmark = pytest.mark.service


def admin(server: BaoServer, **options: Any) -> VaultBackend:
    return VaultBackend(server.address, token=server.root_token, admin=True, **options)


def client(server: BaoServer, app: str, env: str = "production") -> Secrets:
    return Secrets(admin(server), app=app, environment=env, cache=False)


def bao_get(server: BaoServer, path: str, field: str = "value") -> str:
    return server.bao("kv", "get", f"-field={field}", f"secret/{path}")


def bao_json(server: BaoServer, path: str) -> Any:
    return json.loads(server.bao("kv", "get", "-format=json", f"secret/{path}"))["data"]


@pytest.fixture
def app() -> str:
    return "interop" + uuid.uuid4().hex[:8]


def test_native_write_is_current_and_single_field_reads_as_text(
    openbao: BaoServer, app: str
) -> None:
    """`bao kv put k value=x` reads back as the text x, and as sekret's current version."""
    secrets = client(openbao, app)
    value = sentinel_value()
    openbao.bao("kv", "put", f"secret/{app}/production/token", f"value={value}")
    assert secrets.get("token") == value
    assert secrets.get_secret("token").version == "1"
    openbao.bao("kv", "put", f"secret/{app}/production/token", "value=second")
    assert secrets.get("token") == "second"
    infos = secrets.versions("token")
    assert [(i.version, sorted(i.stages)) for i in infos] == [
        ("1", ["previous"]),
        ("2", ["current"]),
    ]


def test_pending_is_invisible_to_bao_until_promoted_then_rollback_agrees(
    openbao: BaoServer, app: str
) -> None:
    """A pending put leaves `bao kv get` unchanged; promote and rollback show up there at once."""
    secrets = client(openbao, app)
    path = f"{app}/production/api-key"
    secrets.put("api-key", "live-one")
    secrets.put("api-key", "not-yet-validated", stages=["pending"])
    assert bao_get(openbao, path) == "live-one"
    assert secrets.get("api-key") == "live-one"
    secrets.promote("api-key")
    assert bao_get(openbao, path) == "not-yet-validated"
    assert secrets.get("api-key") == "not-yet-validated"
    secrets.rollback("api-key")
    assert bao_get(openbao, path) == "live-one"
    assert secrets.get("api-key") == "live-one"
    assert secrets.get("api-key", stage="previous") == "not-yet-validated"


def test_pending_writes_after_a_rollback_never_prune_current(openbao: BaoServer, app: str) -> None:
    """15 pending writes after a rollback, with max_versions=3: current is still readable."""
    secrets = client(openbao, app)
    path = f"{app}/production/k"
    secrets.put("k", "good")
    secrets.put("k", "bad")
    openbao.bao("kv", "metadata", "put", "-max-versions=3", f"secret/{path}")
    secrets.rollback("k")
    for i in range(15):
        secrets.put("k", f"candidate-{i}", stages=["pending"])
    assert secrets.get("k") == "good"
    assert bao_get(openbao, path) == "good"
    assert secrets.get("k", stage="pending") == "candidate-14"
    for i in range(5):  # and promotions beyond max_versions keep current and previous right
        secrets.put("k", f"next-{i}")
    assert secrets.get("k") == "next-4"
    assert secrets.get("k", stage="previous") == "next-3"


def test_custom_metadata_rewrite_never_changes_what_is_served(openbao: BaoServer, app: str) -> None:
    """A custom-metadata rewrite wipes sekret's markers; every value still reads right."""
    secrets = client(openbao, app)
    blob = bytes(range(256))
    secrets.put("blob", blob)
    secrets.put("list", ["a", 1])
    secrets.put("lone", {"value": "looks-like-text"})
    for name in ("blob", "list", "lone"):
        openbao.bao(
            "kv",
            "metadata",
            "put",
            "-custom-metadata=owner=team-a",
            f"secret/{app}/production/{name}",
        )
    assert secrets.get_secret("blob").value.bytes() == blob
    assert secrets.get_json("list") == ["a", 1]
    assert secrets.get_json("lone") == {"value": "looks-like-text"}
    secrets.put("blob", blob + b"!")  # the next write restores the markers from the mirror
    meta = bao_json(openbao, f"{app}/production/blob")["metadata"]["custom_metadata"]
    assert meta["owner"] == "team-a"
    assert "sekret.v.1" in meta
    assert secrets.get_secret("blob", version="1").value.bytes() == blob


def test_stage_labels_survive_a_custom_metadata_rewrite(openbao: BaoServer, app: str) -> None:
    """A rollback stays rolled back and pending stays pending after a metadata rewrite."""
    secrets = client(openbao, app)
    path = f"{app}/production/k"
    secrets.put("k", "good")
    secrets.put("k", "bad")
    secrets.rollback("k")
    secrets.put("k", "candidate", stages=["pending"])
    openbao.bao("kv", "metadata", "put", "-custom-metadata=owner=x", f"secret/{path}")
    assert secrets.get("k") == "good"
    assert bao_get(openbao, path) == "good"
    assert secrets.get("k", stage="pending") == "candidate"


def test_guide_multi_field_put_reads_as_a_json_map(openbao: BaoServer, app: str) -> None:
    """The guide's `kv put ... username= password= host= port=` is get_json's field map."""
    secrets = client(openbao, app)
    password = sentinel_value()
    openbao.bao(
        "kv",
        "put",
        f"secret/{app}/production/database",
        "username=arrwdb",
        f"password={password}",
        "host=db.internal",
        "port=5432",
    )
    assert secrets.get_json("database") == {
        "username": "arrwdb",
        "password": password,
        "host": "db.internal",
        "port": "5432",
    }


def test_sekret_json_put_is_native_fields(openbao: BaoServer, app: str) -> None:
    """A JSON object put by sekret is the KV data map: `bao kv get -field=password` works."""
    secrets = client(openbao, app)
    password = sentinel_value()
    secrets.put("database", {"username": "arrwdb", "password": password, "port": 5432})
    path = f"{app}/production/database"
    assert bao_get(openbao, path, "password") == password
    data = bao_json(openbao, path)["data"]
    assert data == {"username": "arrwdb", "password": password, "port": 5432}
    assert "sekret" not in data
    assert "content_type" not in data


def test_text_field_is_configurable_per_mount(openbao: BaoServer, app: str) -> None:
    """With ?field=api_key a text value is stored and read under that field."""
    backend = VaultBackend.from_url(
        f"vault+{openbao.address}/secret?admin=true&field=api_key", token=openbao.root_token
    )
    secrets = Secrets(backend, app=app, environment="production", cache=False)
    secrets.put("cohere", "k-123")
    assert bao_get(openbao, f"{app}/production/cohere", "api_key") == "k-123"
    assert secrets.get("cohere") == "k-123"


def test_text_field_is_configurable_per_secret(openbao: BaoServer, app: str) -> None:
    """?field.<name>=<field> sets one secret's text field; the others keep `value`."""
    backend = VaultBackend.from_url(
        f"vault+{openbao.address}/secret?admin=true&field.stripe=secret_key",
        token=openbao.root_token,
    )
    assert backend.field_of(f"{app}/production/stripe") == "secret_key"
    secrets = Secrets(backend, app=app, environment="production", cache=False)
    secrets.put("stripe", "sk-1")
    secrets.put("other", "o-1")
    assert bao_get(openbao, f"{app}/production/stripe", "secret_key") == "sk-1"
    assert bao_get(openbao, f"{app}/production/other") == "o-1"
    openbao.bao("kv", "put", f"secret/{app}/production/stripe", "secret_key=sk-2")
    assert secrets.get("stripe") == "sk-2"


def test_native_write_during_rotation_keeps_versions_ordered(openbao: BaoServer, app: str) -> None:
    """A bao write, then a sekret pending + promote: versions stay in order, bao sees current."""
    secrets = client(openbao, app)
    path = f"{app}/production/k"
    secrets.put("k", "one")
    secrets.put("k", "staged", stages=["pending"])
    openbao.bao("kv", "put", f"secret/{path}", "value=from-terraform")
    assert secrets.get("k") == "from-terraform"
    secrets.promote("k")
    assert bao_get(openbao, path) == "staged"
    infos = secrets.versions("k")
    assert [i.version for i in infos] == ["1", "2", "3"]
    assert "current" in infos[-1].stages
    assert "previous" in infos[-2].stages


def test_rotation_of_a_natively_written_secret(openbao: BaoServer, app: str) -> None:
    """Rotation works on a secret bao wrote; afterwards bao reads the rotated value."""
    secrets = client(openbao, app)
    path = f"{app}/production/key"
    openbao.bao("kv", "put", f"secret/{path}", "value=vendor-issued")
    result = RotationEngine(secrets).rotate("key", RandomRotator())
    assert result.outcome == "rotated"
    new = secrets.get("key")
    assert new != "vendor-issued"
    assert bao_get(openbao, path) == new
    labels = set().union(*(v.stages for v in secrets.versions("key")))
    assert labels == {"current", "previous"}


def test_native_delete_of_latest_raises_never_serves_an_older_value(
    openbao: BaoServer, app: str
) -> None:
    """`bao kv delete` of the latest version: sekret has no current and says so."""
    secrets = client(openbao, app)
    path = f"{app}/production/k"
    secrets.put("k", "old")
    secrets.put("k", "new")
    openbao.bao("kv", "delete", f"secret/{path}")
    with pytest.raises(VersionNotFound, match="deleted or destroyed outside sekret"):
        secrets.get("k")


def test_metadata_recreated_by_another_tool_ignores_stale_records(
    openbao: BaoServer, app: str
) -> None:
    """After `kv metadata delete` + `kv put`, the old mirror's markers are not applied."""
    secrets = client(openbao, app)
    path = f"{app}/production/k"
    secrets.put("k", b"\x00\x01binary")
    openbao.bao("kv", "metadata", "delete", f"secret/{path}")
    openbao.bao("kv", "put", f"secret/{path}", "value=plain")
    assert secrets.get("k") == "plain"


def test_soft_delete_hides_the_secret_from_bao_too(openbao: BaoServer, app: str) -> None:
    """A sekret delete KV-deletes the latest version; restore brings it back for bao too."""
    secrets = client(openbao, app)
    path = f"{app}/production/k"
    secrets.put("k", "v")
    secrets.delete("k", recovery_days=7)
    with pytest.raises(RuntimeError):
        bao_get(openbao, path)
    secrets.restore("k")
    assert bao_get(openbao, path) == "v"


def test_list_hides_the_companion_tree(openbao: BaoServer, app: str) -> None:
    """Listing from the mount root never shows sekret's .sekret/ companion entries."""
    b = admin(openbao)
    name = f"{app}/production/k"
    from sekret import SecretValue

    b.write(name, SecretValue.of("v"))
    b.write(name, SecretValue.of("w"), stages=["pending"])
    names = [i.name for i in b.list(f"{app}/").items]
    assert names == [name]
    everything = []
    token = None
    while True:
        page = b.list("", page_token=token, page_size=500)
        everything += [i.name for i in page.items]
        token = page.next_token
        if token is None:
            break
    assert not [n for n in everything if n.startswith(".sekret")]


def test_missing_mount_is_a_configuration_error(openbao: BaoServer) -> None:
    """A misspelled mount is a ConfigurationError naming it, not 'not found'."""
    b = VaultBackend(openbao.address, token=openbao.root_token, mount="secrte")
    with pytest.raises(ConfigurationError, match="no secrets engine is mounted at secrte/"):
        b.read("a/b")
    with pytest.raises(ConfigurationError):
        b.list("a/")


def test_kv_v1_mount_is_a_configuration_error(openbao: BaoServer) -> None:
    """A KV v1 mount is refused with the command that fixes it, before anything is written."""
    mount = "kv1" + uuid.uuid4().hex[:6]
    openbao.bao("secrets", "enable", f"-path={mount}", "-version=1", "kv")
    b = VaultBackend(openbao.address, token=openbao.root_token, mount=mount, admin=True)
    from sekret import SecretValue

    with pytest.raises(ConfigurationError, match=r"KV v1.*enable-versioning"):
        b.write("a/b", SecretValue.of("v"))
    with pytest.raises(RuntimeError):  # nothing was written there
        openbao.bao("read", f"{mount}/a/b")


def test_tls_to_a_plain_http_server_is_a_configuration_error(openbao: BaoServer) -> None:
    """https:// to a server that does not speak TLS: one sentence naming VAULT_CACERT."""
    https = openbao.address.replace("http://", "https://")
    b = VaultBackend(https, token=openbao.root_token)
    with pytest.raises(ConfigurationError, match="TLS") as info:
        b.read("a/b")
    assert "VAULT_CACERT" in str(info.value)
    assert "(" not in str(info.value).split(":", 1)[0]


def test_policy_uses_the_url_mount() -> None:
    """policy(url=...) takes the mount from the URL, as `sekret policy URL` needs."""
    hcl = VaultBackend.policy("arrwdb/production", url="vault+https://v:8200/team/kv?auth=approle")
    assert 'path "team/kv/data/arrwdb/production/*"' in hcl
    assert "secret/" not in hcl


def test_rotate_policy_never_grants_metadata_delete() -> None:
    """The rotate policy has no delete on metadata/ (that would destroy every version)."""
    hcl = VaultBackend.policy("arrwdb/production", access="rotate")
    blocks = hcl.split("path ")
    meta = [b for b in blocks if b.startswith('"secret/metadata/')]
    assert meta
    assert all('"delete"' not in b for b in meta)
    assert "destroy" not in hcl.split("\n", 1)[1]


def test_rotate_policy_token_rotates_but_cannot_destroy(openbao: BaoServer, app: str) -> None:
    """A token holding only the generated rotate policy can put/promote/rollback, not destroy."""
    root = openbao.client()
    root.sys.create_or_update_policy(
        f"rot-{app}", VaultBackend.policy(f"{app}/production", access="rotate")
    )
    token = root.auth.token.create(policies=[f"rot-{app}"], ttl="10m")["auth"]["client_token"]
    b = VaultBackend(openbao.address, token=token, admin=True)
    secrets = Secrets(b, app=app, environment="production", cache=False)
    secrets.put("k", "one")
    secrets.put("k", "two", stages=["pending"])
    secrets.promote("k")
    secrets.rollback("k")
    assert secrets.get("k") == "one"
    from sekret.exceptions import AccessDenied

    with pytest.raises(AccessDenied):
        b.destroy(f"{app}/production/k")
    assert secrets.get("k") == "one"
    with pytest.raises(SecretNotFound):
        secrets.get("missing")


def test_cli_policy_for_a_vault_url_uses_its_mount() -> None:
    """`sekret policy 'vault+https://v:8200/team/kv?...'` prints paths on team/kv, not secret/."""
    from cli.clirunner import Cli

    result = Cli("unused://").run(
        [
            "policy",
            "vault+https://v:8200/team/kv?auth=approle",
            "--app",
            "arrwdb",
            "--env",
            "production",
        ]
    )
    assert result.exit_code == 0, result.stderr
    assert 'path "team/kv/data/arrwdb/production/*"' in result.stdout
    assert "secret/" not in result.stdout


def test_companion_names_are_reserved(openbao: BaoServer) -> None:
    """A secret name under .sekret/ is refused: that tree is sekret's own."""
    from sekret import SecretValue
    from sekret.exceptions import InvalidSecretName

    b = admin(openbao)
    with pytest.raises(InvalidSecretName):
        b.write(".sekret/a/b", SecretValue.of("v"))
    with pytest.raises(InvalidSecretName):
        b.read(".sekret/a/b")


def test_native_write_racing_a_marked_write_gets_no_marker(openbao: BaoServer, app: str) -> None:
    """bao writes the version sekret was about to write: that version reads natively."""
    import requests

    name = f"{app}/production/blob"
    b = admin(openbao)
    from sekret import SecretValue

    b.write(name, SecretValue.of("first"))
    session = requests.Session()
    fired: list[bool] = []

    def hook(resp: requests.Response, *args: Any, **kwargs: Any) -> None:
        if not fired and resp.request.method == "POST" and "/metadata/" in resp.request.path_url:
            fired.append(True)  # markers are placed: now another tool writes first
            openbao.bao("kv", "put", f"secret/{name}", "value=from-bao")

    session.hooks["response"].append(hook)
    racer = admin(openbao, session=session)
    racer.write(name, SecretValue.of(b"\x00bytes"))
    assert b.read(name, version="2").value.text() == "from-bao"
    assert b.read(name).value.bytes() == b"\x00bytes"
