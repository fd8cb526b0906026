"""sekret.ops.importing: plans, mappings, versions, overwrite rules and audit."""

from __future__ import annotations

from pathlib import Path

import pytest

from sekret import Secrets
from sekret._values import SecretValue
from sekret.audit import AuditLog, CaptureSink
from sekret.backends.memory import MemoryBackend
from sekret.exceptions import InvalidSecretName, InvalidValue, SecretNotFound
from sekret.ops.importing import (
    BackendSource,
    DotenvSource,
    EnvironmentSource,
    Importer,
    parse_mapping,
    read_mapping_file,
)
from sekret.testing import sentinel_value


def _target(backend: MemoryBackend | None = None, **options: object) -> Secrets:
    return Secrets(
        backend or MemoryBackend(), app="arrwdb", environment="staging", cache=False, **options
    )


def _state(client: Secrets) -> list[tuple[str, list[tuple[str, frozenset[str]]]]]:
    return [
        (i.name, [(v.version, v.stages) for v in client.versions(i.name)]) for i in client.list()
    ]


@pytest.fixture
def dotenv(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    values = {"COHERE_KEY": sentinel_value(), "DB_PASSWORD": sentinel_value()}
    path = tmp_path / ".env"
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()) + "REF=sekret://other\n")
    return path, values


def test_dotenv_with_a_mapping_imports_only_mapped_keys(
    dotenv: tuple[Path, dict[str, str]],
) -> None:
    """A mapping renames and selects: only COHERE_KEY is written, as cohere-api-key."""
    path, values = dotenv
    target = _target()
    importer = Importer(DotenvSource(path), target, {"COHERE_KEY": "cohere-api-key"})
    plan = importer.plan()
    assert [a.as_dict() for a in plan] == [
        {"source": "COHERE_KEY", "target": "cohere-api-key", "action": "create", "versions": 1}
    ]
    assert _state(target) == []  # planning wrote nothing
    importer.apply()
    assert target.get("cohere-api-key") == values["COHERE_KEY"]
    assert [i.name for i in target.list()] == ["cohere-api-key"]


def test_dotenv_without_a_mapping_uses_manifest_then_derived_names(
    dotenv: tuple[Path, dict[str, str]],
) -> None:
    """Unmapped: the manifest secret whose env is the variable, else lower-dash; refs skipped."""
    path, values = dotenv
    source = DotenvSource(path, env_names={"DB_PASSWORD": "database-password"})
    target = _target()
    Importer(source, target).apply()
    assert sorted(i.name for i in target.list()) == ["cohere-key", "database-password"]
    assert target.get("database-password") == values["DB_PASSWORD"]


def test_existing_targets_are_kept_unless_overwrite(dotenv: tuple[Path, dict[str, str]]) -> None:
    """An existing target is skipped; --overwrite adds one version and keeps the old ones."""
    path, values = dotenv
    target = _target()
    old = sentinel_value()
    target.put("cohere-api-key", old)
    mapping = {"COHERE_KEY": "cohere-api-key"}
    kept = Importer(DotenvSource(path), target, mapping).apply()
    assert [a.action for a in kept] == ["exists"]
    assert target.get("cohere-api-key") == old
    replaced = Importer(DotenvSource(path), target, mapping, overwrite=True).apply()
    assert [(a.action, a.versions) for a in replaced] == [("overwrite", 1)]
    assert target.get("cohere-api-key") == values["COHERE_KEY"]
    assert target.get("cohere-api-key", stage="previous") == old
    again = Importer(DotenvSource(path), target, mapping, overwrite=True).apply()
    assert [a.action for a in again] == ["unchanged"]
    assert len(target.versions("cohere-api-key")) == 2


def test_backend_source_keeps_versions_oldest_first_and_leaves_pending() -> None:
    """Every live version is copied oldest first; the source's current ends current."""
    legacy = MemoryBackend()
    v1, v2, v3 = sentinel_value("1-"), sentinel_value("2-"), sentinel_value("pending-")
    legacy.write("legacy/prod/COHERE_KEY", SecretValue.of(v1))
    legacy.write("legacy/prod/COHERE_KEY", SecretValue.of(v2))
    legacy.write("legacy/prod/COHERE_KEY", SecretValue.of(v3), stages=("pending",))
    legacy.write("legacy/other/X", SecretValue.of(sentinel_value()))
    target = _target()
    source = BackendSource(legacy, "legacy/prod")
    plan = Importer(source, target, {"legacy/prod/COHERE_KEY": "cohere-api-key"}).apply()
    assert [(a.source, a.action, a.versions) for a in plan] == [
        ("legacy/prod/COHERE_KEY", "create", 2)
    ]
    assert target.get("cohere-api-key") == v2
    assert target.get("cohere-api-key", stage="previous") == v1
    assert [i.name for i in target.list()] == ["cohere-api-key"]


def test_mapping_keys_may_be_relative_to_the_prefix() -> None:
    """--map COHERE_KEY=... matches legacy/prod/COHERE_KEY when the prefix is legacy/prod."""
    legacy = MemoryBackend()
    legacy.write("legacy/prod/COHERE_KEY", SecretValue.of(sentinel_value()))
    plan = Importer(BackendSource(legacy, "legacy/prod/"), _target(), {"COHERE_KEY": "k"}).plan()
    assert [a.source for a in plan] == ["legacy/prod/COHERE_KEY"]


def test_a_mapped_key_the_source_lacks_fails_before_any_write(
    dotenv: tuple[Path, dict[str, str]],
) -> None:
    """A mapping naming an absent key raises SecretNotFound and nothing is written."""
    path, _ = dotenv
    target = _target()
    importer = Importer(DotenvSource(path), target, {"COHERE_KEY": "a", "NOPE": "b"})
    with pytest.raises(SecretNotFound, match="'NOPE'"):
        importer.apply()
    assert _state(target) == []


def test_bad_targets_fail_before_any_write(dotenv: tuple[Path, dict[str, str]]) -> None:
    """An invalid target name or two sources on one target are refused, nothing written."""
    path, _ = dotenv
    target = _target()
    with pytest.raises(InvalidSecretName):
        Importer(DotenvSource(path), target, {"COHERE_KEY": "../x"}).apply()
    with pytest.raises(InvalidValue, match="both map to target 'same'"):
        Importer(DotenvSource(path), target, {"COHERE_KEY": "same", "DB_PASSWORD": "same"}).apply()
    assert _state(target) == []


def test_environment_source_and_text_field() -> None:
    """Another environment is a source; --field takes one text field of JSON values."""
    backend = MemoryBackend()
    prod = Secrets(backend, app="arrwdb", environment="production", cache=False)
    password = sentinel_value()
    prod.put("database", {"username": "app", "password": password})
    target = _target(backend)
    Importer(
        EnvironmentSource(prod), target, {"database": "db-password"}, text_field="password"
    ).apply()
    assert target.get("db-password") == password
    with pytest.raises(InvalidValue, match="no text field 'nope'"):
        Importer(EnvironmentSource(prod), target, {"database": "x"}, text_field="nope").plan()


def test_each_import_is_audited_without_values(dotenv: tuple[Path, dict[str, str]]) -> None:
    """Each target gets its write events and one secret.import event naming the source key."""
    path, values = dotenv
    sink = CaptureSink()
    audit = AuditLog([sink], background=False, flush_interval=None)
    target = _target(audit=audit)
    Importer(DotenvSource(path), target, {"COHERE_KEY": "cohere-api-key"}).apply()
    audit.close()
    imports = [e for e in sink.events if e["action"] == "secret.import"]
    assert len(imports) == 1
    assert imports[0]["secret"] == "arrwdb/staging/cohere-api-key"
    assert imports[0]["source_key"] == "COHERE_KEY"
    assert any(e["action"] == "secret.write" for e in sink.events)
    assert values["COHERE_KEY"] not in repr(sink.events)


def test_mapping_parsers_name_the_bad_line(tmp_path: Path) -> None:
    """Mapping pairs and files reject malformed and repeated entries with file:line."""
    assert parse_mapping(["a/B=c", " x = y "]) == {"a/B": "c", "x": "y"}
    with pytest.raises(InvalidValue, match="expected SOURCE=TARGET"):
        parse_mapping(["nodelimiter"])
    path = tmp_path / "map.txt"
    path.write_text("# legacy names\nA=a\n\nB = b\nA=c\n")
    with pytest.raises(InvalidValue, match=r"map.txt:5: source 'A' is mapped twice"):
        read_mapping_file(path)
    path.write_text("A=a\nB = b\n")
    assert read_mapping_file(path) == {"A": "a", "B": "b"}


def test_backend_source_reads_an_aws_prefix_written_by_boto3(moto_server: str) -> None:
    """Secrets another tool put in AWS (two versions) import with both, current last."""
    import secrets as _random

    import boto3

    root = "legacy" + _random.token_hex(4) + "/prod"
    first, second = sentinel_value("v1-"), sentinel_value("v2-")
    client = boto3.client("secretsmanager", region_name="us-east-1", endpoint_url=moto_server)
    client.create_secret(Name=f"{root}/COHERE_KEY", SecretString=first)
    client.put_secret_value(SecretId=f"{root}/COHERE_KEY", SecretString=second)
    source = BackendSource(f"aws://us-east-1?endpoint_url={moto_server}", root)
    target = _target()
    try:
        plan = Importer(source, target, {"COHERE_KEY": "cohere-api-key"}).apply()
    finally:
        source.close()
    assert [(a.source, a.action, a.versions) for a in plan] == [(f"{root}/COHERE_KEY", "create", 2)]
    assert target.get("cohere-api-key") == second
    assert target.get("cohere-api-key", stage="previous") == first
