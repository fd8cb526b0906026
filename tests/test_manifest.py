"""The manifest loader: schema, defaults, discovery, strict errors, fuzzing."""

from __future__ import annotations

import contextlib
import copy
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sekret import ManifestError, Secrets
from sekret.cache import CachePolicy
from sekret.manifest import (
    DEFAULT_ROTATION_DAYS,
    default_env_var,
    find_manifest,
    load_manifest,
    parse_manifest,
)

GOOD = """\
app = "arrwdb"
default_environment = "development"

[environments.development]
backend = "memory://manifest-dev"
cache_ttl = 60
max_stale = 600
audit = ["jsonl:///tmp/audit.jsonl", { sink = "stdout" }]

[environments.production]
backend = "vault+https://vault:8200/secret?auth=approle"
read_only = true

[secrets.cohere-api-key]
kind = "api_key"
description = "Embeddings"
owner = "search"
rotator = "cohere"

[secrets.db-credentials]
kind = "db_credentials"
env = "DATABASE_CREDENTIALS"

[secrets."tenants/acme/api-key"]
kind = "generic"
"""


def test_parses_the_full_schema() -> None:
    """Every documented key lands in the typed, immutable records."""
    m = parse_manifest(GOOD)
    assert m.app == "arrwdb"
    dev = m.environments["development"]
    assert (dev.backend, dev.cache_ttl, dev.max_stale) == ("memory://manifest-dev", 60.0, 600.0)
    assert dev.audit[0] == "jsonl:///tmp/audit.jsonl"
    assert dict(dev.audit[1]) == {"sink": "stdout"}
    assert m.environments["production"].read_only
    key = m.secrets["cohere-api-key"]
    assert (key.kind, key.rotation_days, key.env) == ("api_key", 90, "COHERE_API_KEY")
    assert (key.description, key.owner, key.rotator) == ("Embeddings", "search", "cohere")
    with pytest.raises(AttributeError):
        key.kind = "generic"  # type: ignore[misc]


def test_rotation_defaults_come_from_the_kind() -> None:
    """db_credentials rotate every 30 days, generic never, unless rotation_days says so."""
    m = parse_manifest(GOOD)
    assert m.secrets["db-credentials"].rotation_days == DEFAULT_ROTATION_DAYS["db_credentials"]
    assert m.secrets["tenants/acme/api-key"].rotation_days is None
    assert DEFAULT_ROTATION_DAYS["encryption_key"] == 365


def test_env_var_defaults_to_upper_snake_case() -> None:
    """Without env, the variable is the name in upper snake case."""
    assert default_env_var("cohere-api-key") == "COHERE_API_KEY"
    m = parse_manifest(GOOD)
    assert m.secrets["tenants/acme/api-key"].env == "TENANTS_ACME_API_KEY"
    assert m.env_mapping()["db-credentials"] == "DATABASE_CREDENTIALS"


def test_sekret_env_picks_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """SEKRET_ENV wins over default_environment; an explicit name wins over both."""
    m = parse_manifest(GOOD)
    assert m.environment().name == "development"
    monkeypatch.setenv("SEKRET_ENV", "production")
    assert m.environment().name == "production"
    assert m.environment("development").name == "development"


def test_unknown_environment_lists_the_known_ones() -> None:
    """Asking for an undeclared environment names the ones that exist."""
    with pytest.raises(ManifestError, match="development, production"):
        parse_manifest(GOOD).environment("staging")


def test_no_environment_chosen_is_an_error() -> None:
    """Without SEKRET_ENV or default_environment the manifest cannot pick one."""
    m = parse_manifest('app = "a"\n[environments.x]\nbackend = "memory://"\n')
    with pytest.raises(ManifestError, match="SEKRET_ENV"):
        m.environment()


def test_cache_policy_from_environment() -> None:
    """cache_ttl and max_stale become the CachePolicy; other fields keep their defaults."""
    policy = parse_manifest(GOOD).environments["development"].cache_policy()
    assert isinstance(policy, CachePolicy)
    assert (policy.ttl, policy.max_stale) == (60.0, 600.0)
    assert policy.negative_ttl == CachePolicy().negative_ttl


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        ('app = "a"\nbogus = 1\n[environments.d]\nbackend="memory://"', ":2: bogus", "unknown"),
        ('[environments.d]\nbackend = "memory://"\n', "app", "missing"),
        ('app = "a/b"\n[environments.d]\nbackend="memory://"', ":1: app", "segment"),
        ('app = "a"\n', "environments", "at least one"),
        ('app = "a"\n[environments.d]\ncache_ttl = 5\n', "environments.d.backend", "missing"),
        ('app = "a"\n[environments.d]\nbackend = "nourl"\n', ":3: environments.d.backend", "URL"),
        (
            'app = "a"\n[environments.d]\nbackend = "memory://"\ncache_ttl = "5m"\n',
            ":4: environments.d.cache_ttl",
            "number of seconds",
        ),
        (
            'app = "a"\n[environments.d]\nbackend = "memory://"\nttl = 5\n',
            ":4: environments.d.ttl",
            "unknown key",
        ),
        (
            'app = "a"\n[environments.d]\nbackend = "memory://"\n[secrets.k]\nkind = "password"\n',
            ":5: secrets.k.kind",
            "api_key",
        ),
        (
            'app = "a"\n[environments.d]\nbackend = "memory://"\n[secrets.k]\nrotation_days = 0\n',
            ":5: secrets.k.rotation_days",
            "days",
        ),
        (
            'app = "a"\n[environments.d]\nbackend = "memory://"\n[secrets.k]\nenv = "1X"\n',
            ":5: secrets.k.env",
            "variable name",
        ),
        (
            'app = "a"\n[environments.d]\nbackend = "memory://"\n[secrets.a-b]\n[secrets.a_b]\n',
            "secrets.a_b.env",
            "already used",
        ),
        (
            'app = "a"\n[environments.d]\nbackend = "memory://"\n[secrets."bad name"]\n',
            ':4: secrets."bad name"',
            "character",
        ),
        ('app = "a"\ndefault_environment = "p"\n[environments.d]\nbackend="m://"', "p", "not"),
        ('app = "a\n', "not valid TOML", "line 1"),
    ],
)
def test_bad_manifest_names_file_key_line_and_reason(text: str, where: str, reason: str) -> None:
    """Each broken manifest raises ManifestError with the file, key path (line) and reason."""
    with pytest.raises(ManifestError) as info:
        parse_manifest(text, path=Path("/p/sekret.toml"))
    message = str(info.value)
    assert message.startswith("/p/sekret.toml")
    assert where in message
    assert reason in message


def test_pyproject_tool_table(tmp_path: Path) -> None:
    """[tool.sekret] in pyproject.toml is a manifest; errors name the tool.sekret path."""
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n\n[tool.sekret]\napp = "a"\n'
        '[tool.sekret.environments.d]\nbackend = "memory://"\nextra = 1\n'
    )
    with pytest.raises(ManifestError, match=r"pyproject.toml:8: tool.sekret.environments.d.extra"):
        load_manifest(start=tmp_path)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.sekret]\napp = "a"\n[tool.sekret.environments.d]\nbackend = "memory://"\n'
    )
    assert load_manifest(start=tmp_path).app == "a"


def test_discovery_walks_upward(tmp_path: Path) -> None:
    """load_manifest finds sekret.toml in a parent folder; a plain pyproject is skipped."""
    (tmp_path / "sekret.toml").write_text(GOOD)
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    (tmp_path / "a" / "pyproject.toml").write_text('[project]\nname = "x"\n')
    assert find_manifest(deep) == tmp_path / "sekret.toml"
    assert load_manifest(start=deep).path == tmp_path / "sekret.toml"


def test_no_manifest_found(tmp_path: Path) -> None:
    """With nothing to find, the error says what was looked for and from where."""
    if find_manifest(tmp_path) is not None:
        pytest.skip("a manifest exists above the temporary folder")
    with pytest.raises(ManifestError, match=r"no sekret\.toml"):
        load_manifest(start=tmp_path)


def test_unreadable_and_binary_files(tmp_path: Path) -> None:
    """A missing path or a non-UTF-8 file is a ManifestError naming the file."""
    with pytest.raises(ManifestError, match="cannot read"):
        load_manifest(tmp_path / "nope.toml")
    bad = tmp_path / "sekret.toml"
    bad.write_bytes(b"app = '\xff'\n")
    with pytest.raises(ManifestError, match="UTF-8"):
        load_manifest(bad)


def test_secrets_from_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Secrets.from_manifest binds the app and environment and uses its backend."""
    path = tmp_path / "sekret.toml"
    path.write_text(GOOD)
    with Secrets.from_manifest(path) as secrets:
        assert secrets.namespace.root == "arrwdb/development"
        secrets.put("cohere-api-key", "v")
        assert secrets.get("cohere-api-key") == "v"
        secrets.destroy("cohere-api-key")


def test_from_env_finds_a_manifest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without SEKRET_BACKEND, Secrets.from_env uses the manifest found upward."""
    (tmp_path / "sekret.toml").write_text(GOOD)
    monkeypatch.chdir(tmp_path)
    with Secrets.from_env() as secrets:
        assert secrets.namespace.root == "arrwdb/development"


def test_production_is_read_only_from_manifest(tmp_path: Path) -> None:
    """read_only = true in an environment makes a read-only client."""
    text = GOOD.replace("vault+https://vault:8200/secret?auth=approle", "memory://")
    path = tmp_path / "sekret.toml"
    path.write_text(text)
    with Secrets.from_manifest(path, "production") as secrets:
        assert secrets.read_only


# -- fuzzing -----------------------------------------------------------------------
_KEYS = st.sampled_from(
    [
        "app",
        "default_environment",
        "environments",
        "secrets",
        "backend",
        "cache_ttl",
        "max_stale",
        "audit",
        "kind",
        "env",
        "rotation_days",
        "owner",
        "rotator",
        "d",
        "k",
        "read_only",
        "sink",
        "x y",
        "",
    ]
)
_SCALARS = st.one_of(
    st.text(max_size=12),
    st.integers(-5, 5000),
    st.floats(allow_nan=True),
    st.booleans(),
    st.sampled_from(["memory://", "api_key", "generic", "ENV_VAR", "a/b", ".."]),
)
_TREES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(_KEYS, inner, max_size=4)),
    max_leaves=20,
)


def _toml(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return repr(value).replace("inf", "inf").replace("nan", "nan")
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_toml(k)} = {_toml(v)}" for k, v in value.items()) + "}"
    return str(value)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(_KEYS, _TREES, max_size=5))
def test_fuzz_structured_documents_only_raise_manifest_error(doc: dict[str, object]) -> None:
    """Any TOML document built from schema-ish keys either loads or raises ManifestError."""
    text = "\n".join(f"{_toml(k)} = {_toml(v)}" for k, v in doc.items())
    with contextlib.suppress(ManifestError):
        parse_manifest(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=string.printable + "é[]=\"'.", max_size=200))
def test_fuzz_raw_text_only_raises_manifest_error(text: str) -> None:
    """Arbitrary TOML-ish text either loads or raises ManifestError, never anything else."""
    for in_pyproject in (False, True):
        with contextlib.suppress(ManifestError):
            parse_manifest(text, in_pyproject=in_pyproject)


def test_from_env_manifest_honours_read_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SEKRET_READ_ONLY=1 makes the manifest-built client read-only too."""
    (tmp_path / "sekret.toml").write_text(GOOD)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SEKRET_READ_ONLY", "1")
    with Secrets.from_env() as secrets:
        assert secrets.read_only


def test_explicit_backend_wins_over_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With SEKRET_BACKEND set, from_env ignores a manifest in the folder."""
    (tmp_path / "sekret.toml").write_text(GOOD)
    monkeypatch.chdir(tmp_path)
    env = {"SEKRET_BACKEND": "memory://", "SEKRET_APP": "other", "SEKRET_ENV": "x"}
    with Secrets.from_env(env) as secrets:
        assert secrets.namespace.root == "other/x"


def test_rotator_options_and_doctor_accept_are_loaded() -> None:
    """[secrets.x.rotator_options] and [doctor] accept are kept as read-only tables."""
    from sekret.manifest import parse_manifest

    manifest = parse_manifest(
        'app = "arrwdb"\n[environments.production]\nbackend = "memory://"\n'
        '[secrets.db]\nkind = "db_credentials"\nrotator = "postgres"\n'
        '[secrets.db.rotator_options]\nadmin_secret = "pg-admin"\nstrategy = "alternating"\n'
        '[doctor.accept]\nproduction-backend = "memory backend in this demo only"\n'
    )
    assert dict(manifest.secrets["db"].rotator_options) == {
        "admin_secret": "pg-admin",
        "strategy": "alternating",
    }
    assert manifest.doctor_accept["production-backend"].startswith("memory")


@pytest.mark.parametrize(
    ("snippet", "where"),
    [
        ('[secrets.db]\nrotator_options = "x"\n', "secrets.db.rotator_options"),
        ("[doctor]\nignore = {}\n", "doctor.ignore"),
        ("[doctor.accept]\nmanifest = 3\n", "doctor.accept.manifest"),
    ],
)
def test_bad_rotator_options_or_doctor_tables(snippet: str, where: str) -> None:
    """Wrongly typed rotator options or doctor tables name their key path."""
    from sekret.manifest import parse_manifest

    with pytest.raises(ManifestError) as info:
        parse_manifest('app = "a"\n[environments.e]\nbackend = "memory://"\n' + snippet)
    assert where in str(info.value)


def test_fields_map_variables_to_json_fields() -> None:
    """`fields = { VAR = "field" }` is parsed; a bad variable or field name is a ManifestError."""
    base = 'app = "a"\n[environments.x]\nbackend = "memory://"\n[secrets.db]\n'
    spec = parse_manifest(base + 'fields = { DB_PASSWORD = "password" }\n').secrets["db"]
    assert dict(spec.fields) == {"DB_PASSWORD": "password"}
    with pytest.raises(ManifestError, match=r"secrets\.db\.fields\.1X"):
        parse_manifest(base + 'fields = { 1X = "password" }\n')
    with pytest.raises(ManifestError, match="field name"):
        parse_manifest(base + 'fields = { X = "pass word" }\n')


def test_relative_local_paths_resolve_from_the_manifest_folder(tmp_path: Path) -> None:
    """A relative local:// path (also in a chain) is made absolute from the manifest's folder."""
    (tmp_path / "sekret.toml").write_text(
        'app = "a"\n[environments.d]\n'
        'backend = "chain://?backends=env://,local://.sekret/s.db?key_file=keys/k.key"\n'
        '[environments.e]\nbackend = "local://data/s.db"\n'
    )
    manifest = load_manifest(tmp_path / "sekret.toml")
    assert manifest.environments["e"].backend == f"local://{tmp_path}/data/s.db"
    chain = manifest.environments["d"].backend
    assert f"local://{tmp_path}/.sekret/s.db" in chain
    assert "env://" in chain


def test_relative_audit_paths_resolve_from_the_manifest_folder(tmp_path: Path) -> None:
    """Relative audit log, key, TLS and anchor paths are made absolute from the manifest folder."""
    (tmp_path / "sekret.toml").write_text(
        'app = "a"\n[environments.d]\nbackend = "memory://"\naudit = [\n'
        '  "stdout",\n'
        '  "file://logs/audit.jsonl?key=keys/audit.key&anchor_sink=file://logs/anchors.jsonl",\n'
        '  "jsonl:///var/log/a/audit.jsonl?key=/etc/a/audit.key",\n'
        '  "syslog+tls://relay:6514?ca_file=certs/ca.pem",\n'
        '  "https://collector.invalid/ingest",\n'
        '  { sink = "file", path = "logs/t.jsonl", key = "keys/t.key",'
        ' anchor_sink = { sink = "file", path = "logs/t-anchors.jsonl" } },\n'
        "]\n"
    )
    specs = load_manifest(tmp_path / "sekret.toml").environments["d"].audit
    assert specs[0] == "stdout"
    assert specs[1] == (
        f"file://{tmp_path}/logs/audit.jsonl?key={tmp_path}/keys/audit.key"
        f"&anchor_sink=file://{tmp_path}/logs/anchors.jsonl"
    )
    assert specs[2] == "jsonl:///var/log/a/audit.jsonl?key=/etc/a/audit.key"
    assert specs[3] == f"syslog+tls://relay:6514?ca_file={tmp_path}/certs/ca.pem"
    assert specs[4] == "https://collector.invalid/ingest"
    table = specs[5]
    assert not isinstance(table, str)
    assert table["path"] == f"{tmp_path}/logs/t.jsonl"
    assert table["key"] == f"{tmp_path}/keys/t.key"
    assert table["anchor_sink"]["path"] == f"{tmp_path}/logs/t-anchors.jsonl"


def test_manifest_audit_file_is_written_beside_the_manifest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A client built from a subfolder writes a relative audit log under the manifest's folder."""
    (tmp_path / "logs").mkdir(mode=0o700)
    (tmp_path / "sekret.toml").write_text(
        'app = "a"\n[environments.d]\nbackend = "memory://"\naudit = ["file://logs/audit.jsonl"]\n'
    )
    sub = tmp_path / "src" / "pkg"
    sub.mkdir(parents=True)
    monkeypatch.chdir(sub)
    manifest = load_manifest(tmp_path / "sekret.toml")
    with Secrets(**manifest.client_arguments("d")) as client:
        client.list()
    assert (tmp_path / "logs" / "audit.jsonl").is_file()
    assert not (sub / "logs").exists()


DYNAMIC = """\
app = "arrwdb"
[environments.production]
backend = "vault+https://vault:8200/secret"
[environments.staging]
backend = "vault+https://vault:8200/secret"
[secrets.db-credentials]
kind = "dynamic"
role = "{app}-{environment}-ro"
mount = "pg"
ttl = 60
max_ttl = 600
"""


def test_dynamic_secret_role_becomes_the_vault_lease_role() -> None:
    """kind = "dynamic": role (placeholders filled) and mount reach the vault backend options."""
    manifest = parse_manifest(DYNAMIC)
    spec = manifest.secrets["db-credentials"]
    assert (spec.kind, spec.ttl, spec.max_ttl, spec.rotation_days) == ("dynamic", 60, 600, None)
    options = manifest.backend_options("vault+https://vault:8200/secret", "staging")
    assert options == {"lease_roles": {"arrwdb/staging/db-credentials": "pg/arrwdb-staging-ro"}}


def test_dynamic_role_per_environment() -> None:
    """A role table names the role per environment; one without gets the default role name."""
    manifest = parse_manifest(DYNAMIC.replace('"{app}-{environment}-ro"', '{production = "p"}'))
    url = "vault+https://vault:8200/secret"
    assert manifest.backend_options(url, "production") == {
        "lease_roles": {"arrwdb/production/db-credentials": "pg/p"}
    }
    assert manifest.backend_options(url, "staging") == {
        "lease_roles": {"arrwdb/staging/db-credentials": "pg/arrwdb-staging-db-credentials"}
    }


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('role = "a b"', "engine role name"),
        ("ttl = 6000", "must not exceed max_ttl"),
        ("ttl = 0", "at least 1 second"),
        ('mount = "a//b"', "mount path"),
    ],
)
def test_bad_dynamic_keys_fail_with_the_key(line: str, reason: str) -> None:
    """A malformed role, mount or TTL of a dynamic secret is a ManifestError naming the key."""
    key = line.split(" ", 1)[0]
    text = (
        "\n".join(row for row in DYNAMIC.splitlines() if not row.startswith(f"{key} "))
        + f"\n{line}\n"
    )
    with pytest.raises(ManifestError, match=f"secrets.db-credentials.{key}: .*{reason}"):
        parse_manifest(text)


def test_dynamic_keys_only_on_dynamic_secrets() -> None:
    """role/mount/ttl on a non-dynamic secret is refused (a typo must not pass silently)."""
    with pytest.raises(ManifestError, match=r"secrets\.db-credentials\.role"):
        parse_manifest(DYNAMIC.replace('kind = "dynamic"', 'kind = "db_credentials"'))


def test_dynamic_secret_on_aws_names_an_iam_role() -> None:
    """On aws://, a dynamic secret's role is an IAM role ARN passed as the backend's lease role."""
    arn = "arn:aws:iam::123456789012:role/{app}-{environment}-s3"
    text = DYNAMIC.replace('"{app}-{environment}-ro"', f'"{arn}"').replace('mount = "pg"\n', "")
    manifest = parse_manifest(text)
    options = manifest.backend_options("aws://eu-west-1", "production")
    role = "arn:aws:iam::123456789012:role/arrwdb-production-s3"
    assert options == {"lease_roles": {"arrwdb/production/db-credentials": role}}


def test_records_copy_compare_and_refuse_changes() -> None:
    """Manifest, EnvironmentConfig and SecretSpec copy, compare and hash by their fields."""
    m = parse_manifest(GOOD)
    assert copy.copy(m) == m
    assert parse_manifest(GOOD).environments == m.environments
    spec = m.secrets["cohere-api-key"]
    assert copy.deepcopy(m.environments["production"]) == m.environments["production"]
    assert hash(m.environments["production"]) == hash(
        parse_manifest(GOOD).environments["production"]
    )
    assert "kind='api_key'" in repr(spec)
    assert spec.fields == {}
    assert spec.rotator_options == {}
    with pytest.raises(AttributeError):
        m.app = "other"  # type: ignore[misc]
