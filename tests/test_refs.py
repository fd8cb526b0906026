"""References (sekret._refs): the grammar, resolution, and their use through Secrets."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sekret import AsyncSecrets, Namespace, Secrets
from sekret._refs import Reference, parse_reference
from sekret.exceptions import FieldNotFound, InvalidReference, InvalidSecretName
from sekret.testing import sentinel_value

TOKEN = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=1).map(
    lambda s: s[:40]
)
PATH = st.lists(TOKEN, min_size=1, max_size=4).map("/".join)
SELECTOR = st.one_of(
    st.just((None, None)),
    st.sampled_from(["current", "pending", "previous", "AWSCURRENT", "v1.2"]).map(
        lambda s: (None, s)
    ),
    st.integers(min_value=0, max_value=10**9).map(lambda n: (str(n), None)),
    TOKEN.map(lambda t: (t, None)),
)


@st.composite
def references(draw: st.DrawFn) -> Reference:
    rooted = draw(st.booleans())
    explicit = rooted or draw(st.booleans())
    version, stage = draw(SELECTOR)
    field = draw(st.one_of(st.none(), TOKEN))
    return Reference(
        draw(PATH), rooted=rooted, explicit=explicit, version=version, stage=stage, field=field
    )


@given(references())
def test_canonical_text_round_trips(ref: Reference) -> None:
    """Parsing a reference's canonical text gives back the same reference."""
    assert parse_reference(str(ref), require_scheme=False) == ref


@given(st.text(max_size=80))
def test_any_text_parses_or_raises_invalid_reference(text: str) -> None:
    """Arbitrary text either parses or raises InvalidReference, never another error."""
    try:
        ref = parse_reference(text)
    except InvalidReference:
        return
    assert text.startswith("sekret://")
    assert parse_reference(str(ref)) == ref


@given(PATH, TOKEN)
def test_field_before_selector_is_refused(path: str, field: str) -> None:
    """`#field@stage` is ambiguous and refused with a message giving the right order."""
    with pytest.raises(InvalidReference, match="before the field"):
        parse_reference(f"sekret://{path}#{field}@previous")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sekret://cohere-api-key", Reference("cohere-api-key")),
        ("sekret://db-credentials#password", Reference("db-credentials", field="password")),
        ("sekret://db-credentials@previous", Reference("db-credentials", stage="previous")),
        ("sekret://db@v3", Reference("db", version="3")),
        ("sekret://db@version:abc-123", Reference("db", version="abc-123")),
        ("sekret://db@stage:v3", Reference("db", stage="v3")),
        ("sekret://db@pending#user", Reference("db", stage="pending", field="user")),
        (
            "sekret:///arrwdb/staging/cohere-api-key",
            Reference("arrwdb/staging/cohere-api-key", rooted=True),
        ),
    ],
)
def test_documented_forms_parse(text: str, expected: Reference) -> None:
    """Each form shown in docs/references.md parses to the documented parts."""
    assert parse_reference(text) == expected


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("op://vault/item/field", "scheme 'op'"),
        ("cohere-api-key", "must start with sekret://"),
        ("sekret://", "empty"),
        ("sekret://db@", "unknown selector"),
        ("sekret://db@latest", "unknown selector"),
        ("sekret://db@v1@v2", "more than one '@'"),
        ("sekret://db#a#b", "more than one '#'"),
        ("sekret://db#", "field after '#'"),
        ("sekret://db#pass word", "field after '#'"),
        ("sekret://a//b", "empty segment"),
        ("sekret://../x", "'..' segment"),
        ("sekret://db?x=1", "outside"),
        ("sekret://" + "a" * 700, "limit"),
    ],
)
def test_malformed_references_are_named(text: str, match: str) -> None:
    """A malformed reference raises InvalidReference (an InvalidSecretName) saying what is wrong."""
    with pytest.raises(InvalidReference, match=match) as info:
        parse_reference(text)
    assert isinstance(info.value, InvalidSecretName)


NS = Namespace("arrwdb", "staging")


@pytest.mark.parametrize(
    ("text", "full"),
    [
        ("sekret://cohere-api-key", "arrwdb/staging/cohere-api-key"),
        ("sekret://tenants/acme/key", "arrwdb/staging/tenants/acme/key"),
        ("sekret://arrwdb/staging/cohere-api-key", "arrwdb/staging/cohere-api-key"),
        ("sekret:///arrwdb/staging/cohere-api-key", "arrwdb/staging/cohere-api-key"),
    ],
)
def test_resolution_in_the_namespace(text: str, full: str) -> None:
    """Short, app-first and rooted references resolve to the client's full path."""
    assert parse_reference(text).full_name(NS) == full


@pytest.mark.parametrize(
    "text",
    [
        "sekret://arrwdb/production/cohere-api-key",
        "sekret:///arrwdb/production/cohere-api-key",
        "sekret:///other/staging/cohere-api-key",
        "sekret://arrwdb/staging",
    ],
)
def test_other_environments_are_refused(text: str) -> None:
    """A reference outside the client's environment (or ambiguous) raises InvalidReference."""
    with pytest.raises(InvalidReference):
        parse_reference(text).full_name(NS)


def test_bare_app_first_name_stays_short() -> None:
    """Without the scheme a name is always short, as a plain get() name is."""
    ref = parse_reference("arrwdb/x/y#f", require_scheme=False)
    assert ref.full_name(NS) == "arrwdb/staging/arrwdb/x/y"


@pytest.fixture
def secrets() -> Secrets:
    return Secrets("memory://", app="arrwdb", environment="staging")


def test_get_accepts_references_and_fields(secrets: Secrets) -> None:
    """get() reads a reference, a #field, an @version and field= from the same secret."""
    old, new = sentinel_value("old"), sentinel_value("new")
    secrets.put("db", {"password": old, "port": 5432})
    secrets.put("db", {"password": new, "port": 5432})
    assert secrets.get("sekret://db#password") == new
    assert secrets.get("db#password") == new
    assert secrets.get("db", field="password") == new
    assert secrets.get("sekret://db@v1#password") == old
    assert secrets.get("sekret://arrwdb/staging/db#port") == "5432"
    assert secrets.get_json("sekret://db#port") == 5432
    assert secrets.get_json("db", field="password") == new
    assert secrets.get_bytes("db#password") == new.encode()
    assert secrets.get_secret("sekret://db@v1").version == "1"


def test_missing_field_names_the_field_not_the_value(secrets: Secrets) -> None:
    """A missing field, or a non-object value, raises FieldNotFound naming the field only."""
    value = sentinel_value()
    secrets.put("db", {"password": value})
    secrets.put("token", value)
    for call in (
        lambda: secrets.get("db", field="user"),
        lambda: secrets.get_json("sekret://db#user"),
        lambda: secrets.get("token#user"),
    ):
        with pytest.raises(FieldNotFound, match="'user'") as info:
            call()
        assert value not in str(info.value)


def test_conflicting_selectors_are_refused(secrets: Secrets) -> None:
    """A reference's @version plus a version= argument (or two fields) is refused."""
    secrets.put("db", {"a": "1", "b": "2"})
    with pytest.raises(InvalidReference):
        secrets.get("db@v1", stage="current")
    with pytest.raises(InvalidReference):
        secrets.get("db#a", field="b")
    with pytest.raises(InvalidReference, match="whole secret"):
        secrets.get_secret("db#a")


def test_get_refuses_other_environment(secrets: Secrets) -> None:
    """get() with a reference to another environment raises before reading anything."""
    with pytest.raises(InvalidReference, match="environment separation"):
        secrets.get("sekret://arrwdb/production/db")


def test_reference_reads_use_the_cache(secrets: Secrets) -> None:
    """A reference read goes through the same cache as a plain read (one backend read)."""
    secrets.put("db", {"password": sentinel_value()})
    calls: list[str] = []
    original = secrets.backend.read

    def counting(full: str, **kw: object) -> object:
        calls.append(full)
        return original(full, **kw)  # type: ignore[arg-type]

    secrets.backend.read = counting  # type: ignore[method-assign]
    secrets.get("db")
    secrets.get("sekret://db#password")
    secrets.get("db", field="password")
    assert len(calls) <= 1


def test_async_face_accepts_references(secrets: Secrets) -> None:
    """AsyncSecrets.get/get_json take the same references and field=."""
    value = sentinel_value()
    secrets.put("db", {"password": value, "port": 1})
    client = AsyncSecrets(secrets)

    async def run() -> tuple[str, object, str]:
        return (
            await client.get("sekret://db#password"),
            await client.get_json("db", field="port"),
            await client.get("db@current", field="password"),
        )

    assert asyncio.run(run()) == (value, 1, value)


def test_get_bytes_by_reference_keeps_binary(secrets: Secrets) -> None:
    """get_bytes with a reference (sync and async) returns binary values unchanged."""
    secrets.put("blob", b"\xff\x00one")
    secrets.put("blob", b"\xff\x00two")
    assert secrets.get_bytes("sekret://blob@v1") == b"\xff\x00one"
    assert secrets.get_bytes("blob@current") == b"\xff\x00two"
    assert asyncio.run(AsyncSecrets(secrets).get_bytes("sekret://blob@v1")) == b"\xff\x00one"
