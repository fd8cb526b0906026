"""Name mappings for Azure Key Vault and Google Secret Manager (property tests)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sekret._names import validate_name
from sekret.backends._namemap import AZURE, GOOGLE, NameMap
from sekret.exceptions import InvalidSecretName
from sekret.testing import BAD_NAMES

SEGMENT = st.text("abcXYZ019._-", min_size=1, max_size=12).filter(lambda s: s not in (".", ".."))
NAMES = st.lists(SEGMENT, min_size=1, max_size=6).map("/".join)
AZURE_ID = re.compile(r"[0-9A-Za-z-]{1,127}\Z")
GOOGLE_ID = re.compile(r"[A-Za-z0-9_-]{1,255}\Z")


def fits(mapping: NameMap, name: str) -> bool:
    try:
        mapping.encode(name)
    except InvalidSecretName:
        return False
    return True


@given(NAMES)
def test_azure_round_trip(name: str) -> None:
    """Every name that fits comes back unchanged, and its code is a legal Key Vault name."""
    if fits(AZURE, name):
        native = AZURE.encode(name)
        assert AZURE_ID.match(native)
        assert AZURE.decode(native) == name
        assert AZURE.decode(native.upper()) == name


@given(NAMES)
def test_google_round_trip(name: str) -> None:
    """Every name that fits comes back unchanged, and its code is a legal secret id."""
    if fits(GOOGLE, name):
        native = GOOGLE.encode(name)
        assert GOOGLE_ID.match(native)
        assert GOOGLE.decode(native) == name


@given(NAMES, NAMES)
def test_azure_is_injective_case_insensitively(a: str, b: str) -> None:
    """Two different names never map to Azure names that are equal ignoring case."""
    if a != b and fits(AZURE, a) and fits(AZURE, b):
        assert AZURE.encode(a).lower() != AZURE.encode(b).lower()


@given(NAMES, NAMES)
def test_google_is_injective(a: str, b: str) -> None:
    """Two different names never map to the same secret id."""
    if a != b and fits(GOOGLE, a) and fits(GOOGLE, b):
        assert GOOGLE.encode(a) != GOOGLE.encode(b)


@given(NAMES, NAMES)
def test_prefixes_are_kept(prefix: str, name: str) -> None:
    """encode(p) is a prefix of encode(n) exactly when p is a prefix of n."""
    for mapping in (AZURE, GOOGLE):
        if fits(mapping, name):
            coded = mapping.matches(mapping.encode(name), mapping.encode_prefix(prefix))
            assert coded == name.startswith(prefix)


def code_length(mapping: NameMap, name: str) -> int:
    """The code's length computed from the tables in the module docstring."""
    if mapping is AZURE:
        return sum(1 if c.islower() or c.isdigit() else 2 for c in name)
    return sum(2 if c in "/_." else 1 for c in name)


@given(st.text("aZ9/._-", min_size=1, max_size=300))
def test_refusal_is_exactly_what_cannot_fit(raw: str) -> None:
    """A name is refused iff it breaks the grammar or its code exceeds the service limit."""
    try:
        validate_name(raw)
        valid = True
    except InvalidSecretName:
        valid = False
    for mapping in (AZURE, GOOGLE):
        fits_limit = valid and code_length(mapping, raw) <= mapping.max_length
        assert fits(mapping, raw) == fits_limit


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_bad_names_are_refused(bad: str) -> None:
    """Names outside sekret's grammar are refused by both mappings."""
    for mapping in (AZURE, GOOGLE):
        with pytest.raises(InvalidSecretName):
            mapping.encode(bad)


def test_limits_are_refused_with_the_length() -> None:
    """A code longer than the service limit minus the companion suffix is refused, saying why."""
    with pytest.raises(InvalidSecretName, match="125"):
        AZURE.encode("a" * 126)
    assert AZURE.encode("a" * 125) == "a" * 125
    assert AZURE_ID.match(AZURE.companion("a" * 125))
    with pytest.raises(InvalidSecretName, match="253"):
        GOOGLE.encode("a/" * 84 + "ab")
    assert GOOGLE.encode("a/" * 84 + "a") == "a__" * 84 + "a"
    assert GOOGLE_ID.match(GOOGLE.companion("a__" * 84 + "a"))


@given(st.text(alphabet="abAB09-_./", min_size=1, max_size=40))
def test_companions_are_never_a_names_code(raw: str) -> None:
    """A companion id never decodes (listing hides it) and starts with its secret's code."""
    for mapping in (AZURE, GOOGLE):
        try:
            native = mapping.encode(raw)
        except InvalidSecretName:
            continue
        companion = mapping.companion(native)
        assert mapping.decode(companion) is None
        assert companion.startswith(native)


def test_readable_examples() -> None:
    """The codes stay readable for common names."""
    assert AZURE.encode("app/prod/cohere-api-key") == "app-0prod-0cohere--api--key"
    assert GOOGLE.encode("app/prod/cohere_api.key") == "app__prod__cohere_uapi_dkey"


def test_foreign_ids_are_not_ours() -> None:
    """Ids that are not codes of a valid name decode to None (they are skipped in listings)."""
    assert AZURE.decode("bad-") is None
    assert AZURE.decode("a-0-0b") is None  # empty segment
    assert GOOGLE.decode("x_q") is None
