"""The name grammar and the Namespace (sekret._names)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sekret import InvalidSecretName, InvalidValue, Namespace, validate_name
from sekret._names import MAX_NAME_LENGTH
from sekret.testing import BAD_NAMES

SEGMENT_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"
segments = st.text(SEGMENT_CHARS, min_size=1, max_size=20).filter(lambda s: s not in (".", ".."))
names = st.lists(segments, min_size=1, max_size=6).map("/".join)


@given(names)
def test_grammar_accepts_every_well_formed_name(name: str) -> None:
    """Any '/'-joined run of allowed segments (not '.'/'..') is a valid name."""
    assert validate_name(name) == name


@given(st.text(max_size=60))
def test_grammar_either_accepts_or_raises_invalid_name(text: str) -> None:
    """Arbitrary text is accepted only when every segment is allowed; else InvalidSecretName."""
    parts = text.split("/")
    ok = all(p and p not in (".", "..") and set(p) <= set(SEGMENT_CHARS) for p in parts)
    if ok:
        assert validate_name(text) == text
    else:
        with pytest.raises(InvalidSecretName):
            validate_name(text)


@given(names, st.sampled_from([" ", "\n", "\x00", "é", ";", "\\", "*", "?", "%"]))
def test_any_forbidden_character_is_refused(name: str, bad: str) -> None:
    """A single forbidden character anywhere makes the name invalid."""
    with pytest.raises(InvalidSecretName):
        validate_name(name + bad)


@pytest.mark.parametrize("bad", BAD_NAMES)
def test_known_bad_names_are_refused(bad: str) -> None:
    """Empty, '..', control characters, spaces, over-long, leading/trailing '/' are refused."""
    with pytest.raises(InvalidSecretName):
        validate_name(bad)


def test_length_bound() -> None:
    """A name of exactly the maximum length passes; one more character fails."""
    longest = "a" * 127 + "/" + "a" * 126 + "/b"
    assert len(longest) == MAX_NAME_LENGTH
    validate_name(longest)
    with pytest.raises(InvalidSecretName):
        validate_name(longest + "c")


def test_non_string_is_refused() -> None:
    """A name that is not a str raises InvalidSecretName, not TypeError."""
    with pytest.raises(InvalidSecretName):
        validate_name(b"bytes-name")


def test_error_message_escapes_control_characters() -> None:
    """The error shows an escaped, bounded copy of the bad name."""
    with pytest.raises(InvalidSecretName) as info:
        validate_name("bad\nname" + "x" * 100)
    assert "\n" not in str(info.value)
    assert len(str(info.value)) < 200


def test_namespace_maps_short_to_full_names() -> None:
    """A short name becomes app/environment/name and back."""
    ns = Namespace("arrwdb", "production")
    assert ns.full("cohere-api-key") == "arrwdb/production/cohere-api-key"
    assert ns.short("arrwdb/production/tenants/acme") == "tenants/acme"
    assert Namespace("arrwdb", "production", prefix="org/team").root == "org/team/arrwdb/production"


@pytest.mark.parametrize("escape", ["../staging/cohere-api-key", "/arrwdb/staging/x", "a/../../b"])
def test_namespace_cannot_be_escaped(escape: str) -> None:
    """No short name reaches another environment's secrets."""
    with pytest.raises(InvalidSecretName):
        Namespace("arrwdb", "production").full(escape)


def test_full_name_of_other_environment_stays_inside() -> None:
    """A full staging name given to a production namespace stays under production/."""
    full = Namespace("arrwdb", "production").full("arrwdb/staging/key")
    assert full.startswith("arrwdb/production/")


@pytest.mark.parametrize(("app", "env"), [("", "prod"), ("a/b", "prod"), ("app", "pro d")])
def test_namespace_parts_are_single_valid_segments(app: str, env: str) -> None:
    """App and environment must each be one valid segment."""
    with pytest.raises(InvalidSecretName):
        Namespace(app, env)


def test_short_refuses_names_outside_namespace() -> None:
    """short() of a name from another environment raises."""
    with pytest.raises(InvalidSecretName):
        Namespace("arrwdb", "production").short("arrwdb/staging/key")


def test_name_errors_show_length_and_hash_never_the_text() -> None:
    """A value pasted where a name goes comes back as a length and a short hash only."""
    import hashlib

    pasted = "sk-live " + "A1b2" * 30
    for bad in (pasted, pasted[:20], "x/" + pasted[:30] + "/"):
        with pytest.raises(InvalidSecretName) as caught:
            validate_name(bad)
        digest = hashlib.sha256(bad.encode()).hexdigest()[:8]
        assert f"({len(bad)} characters, sha256 {digest})" in str(caught.value)
        assert "A1b2" not in str(caught.value)
        assert "sk-live" not in str(caught.value)


@pytest.mark.parametrize(
    ("environment", "production"),
    [("production", True), ("prod-eu", True), ("PRD", True), ("live", True), ("staging", False)],
)
def test_one_definition_of_production(environment: str, production: bool) -> None:
    """The doctor and the audit log's default policy agree on what production is."""
    from sekret._names import is_production
    from sekret.audit._log import default_policy
    from sekret.doctor import is_production as doctor_is_production

    assert is_production(environment) is production
    assert doctor_is_production(environment) is production
    assert (default_policy(environment) == "fail_closed") is production


def test_validate_stage_lives_beside_validate_name() -> None:
    """validate_stage is defined in sekret._names (and still importable from _values)."""
    from sekret import _names, _values

    assert _values.validate_stage is _names.validate_stage
    with pytest.raises(InvalidValue):
        _names.validate_stage("bad stage!")


# -- properties the mutation run (scripts/mutation.py, issue 21) showed unguarded --------
def test_segment_length_bound() -> None:
    """A segment of exactly 128 characters passes; 129 fails, alone or inside a name."""
    from sekret._names import MAX_SEGMENT_LENGTH

    assert MAX_SEGMENT_LENGTH == 128
    assert validate_name("a" * 128) == "a" * 128
    assert validate_name("app/" + "b" * 128 + "/c") == "app/" + "b" * 128 + "/c"
    for bad in ("a" * 129, "app/" + "b" * 129 + "/c"):
        with pytest.raises(InvalidSecretName):
            validate_name(bad)


def test_name_length_bound_is_256() -> None:
    """The whole-name limit is 256 characters: 256 passes, 257 fails, checked before segments."""
    assert MAX_NAME_LENGTH == 256
    name = "/".join(["a" * 127, "b" * 127]) + "/c"  # 257 characters of valid segments
    assert len(name) == 257
    with pytest.raises(InvalidSecretName):
        validate_name(name)
    assert validate_name(name[:-2]) == name[:-2]


@pytest.mark.parametrize("dots", [".", "..", "a/./b", "a/..", "../a"])
def test_dot_segments_are_refused_although_dots_are_allowed(dots: str) -> None:
    """'.' and '..' segments are refused even though '.' is an allowed character."""
    with pytest.raises(InvalidSecretName):
        validate_name(dots)
    assert validate_name("a/.../b..c/.d") == "a/.../b..c/.d"


@pytest.mark.parametrize("value", [None, 7, b"a", ["a"]])
def test_non_string_names_and_parts_are_invalid_names(value: object) -> None:
    """Non-str names, apps and environments raise InvalidSecretName, never TypeError."""
    with pytest.raises(InvalidSecretName):
        validate_name(value)
    with pytest.raises(InvalidSecretName):
        Namespace(value, "production")  # type: ignore[arg-type]
    with pytest.raises(InvalidSecretName):
        Namespace("arrwdb", value)  # type: ignore[arg-type]


def test_the_part_of_a_long_bad_name_past_40_characters_is_never_shown() -> None:
    """An error shows at most a 40-character prefix of a bad name (it may be a pasted value)."""
    name = "a" * 40 + "Q" + " tail"
    with pytest.raises(InvalidSecretName) as caught:
        validate_name(name)
    assert name[:41] not in str(caught.value)
    assert "tail" not in str(caught.value)


@pytest.mark.parametrize("prefix", ["", "/org", "org/../x", "org//team"])
def test_namespace_prefix_is_validated(prefix: str) -> None:
    """A prefix must be a valid name itself; an empty one is refused, not ignored."""
    with pytest.raises(InvalidSecretName):
        Namespace("arrwdb", "production", prefix=prefix)


def test_namespace_full_validates_the_short_name_and_the_whole() -> None:
    """full() refuses a bad short name, and a full name over 256 characters."""
    ns = Namespace("arrwdb", "production", prefix="org")
    assert ns.full("a/b") == "org/arrwdb/production/a/b"
    with pytest.raises(InvalidSecretName):
        ns.full("a b")
    long_short = "/".join(["x" * 120, "y" * 120])  # valid alone (241), too long under the root
    assert validate_name(long_short) == long_short
    with pytest.raises(InvalidSecretName):
        ns.full(long_short)


def test_namespace_membership_needs_a_whole_segment() -> None:
    """contains()/short() match the root only as a whole path segment, never a string prefix."""
    ns = Namespace("arrwdb", "prod")
    assert ns.contains("arrwdb/prod/key")
    assert not ns.contains("arrwdb/production/key")
    assert not ns.contains("arrwdb/prod")
    assert ns.short("arrwdb/prod/a/b") == "a/b"
    with pytest.raises(InvalidSecretName):
        ns.short("arrwdb/production/key")


def test_namespace_is_an_immutable_value() -> None:
    """Namespaces compare and hash by app, environment and prefix, and cannot be changed."""
    a = Namespace("arrwdb", "production", prefix="org")
    assert a == Namespace("arrwdb", "production", prefix="org")
    assert hash(a) == hash(Namespace("arrwdb", "production", prefix="org"))
    assert a != Namespace("arrwdb", "production")
    assert a != Namespace("arrwdb", "staging", prefix="org")
    assert a != Namespace("other", "production", prefix="org")
    assert a != "org/arrwdb/production"
    assert (a == "org/arrwdb/production") is False  # NotImplemented, then identity: False
    assert (a.app, a.environment, a.prefix) == ("arrwdb", "production", "org")
    assert len({a, Namespace("arrwdb", "production", prefix="org")}) == 1
    with pytest.raises(AttributeError):
        a.environment = "staging"  # type: ignore[misc]
    assert a.environment == "production"
    assert "arrwdb" in repr(a)
    assert "production" in repr(a)


def test_an_error_identifies_which_name_was_refused() -> None:
    """Two different bad names give two different errors (the user can tell which one)."""
    messages = set()
    for bad in ("first name", "second name"):
        with pytest.raises(InvalidSecretName) as caught:
            validate_name(bad)
        messages.add(str(caught.value))
    assert len(messages) == 2


def test_a_client_inside_sekret_run_cannot_open_another_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Under SEKRET_RUN_ENVIRONMENT=production, a Namespace for staging is AccessDenied;
    production itself and an unmarked process are allowed."""
    from sekret import AccessDenied
    from sekret._names import RUN_ENVIRONMENT_VARIABLE

    assert RUN_ENVIRONMENT_VARIABLE == "SEKRET_RUN_ENVIRONMENT"
    monkeypatch.setenv("SEKRET_RUN_ENVIRONMENT", "production")
    with pytest.raises(AccessDenied, match="started by `sekret run`"):
        Namespace("arrwdb", "staging")
    assert Namespace("arrwdb", "production").root == "arrwdb/production"
    monkeypatch.delenv("SEKRET_RUN_ENVIRONMENT")
    assert Namespace("arrwdb", "staging").root == "arrwdb/staging"


def test_stage_label_bounds() -> None:
    """A stage label is 1-64 of [A-Za-z0-9_.-]: 64 passes; 0, 65, other characters and
    non-strings are InvalidValue."""
    from sekret._names import validate_stage

    assert validate_stage("a" * 64) == "a" * 64
    assert validate_stage("x") == "x"
    assert validate_stage("rotating-1.a_B") == "rotating-1.a_B"
    for bad in ("", "a" * 65, "bad stage", "x/y", 7, None):
        with pytest.raises(InvalidValue):
            validate_stage(bad)


def test_describe_name_takes_any_text() -> None:
    """A lone surrogate (undecodable text pasted as a name) is described, not a crash."""
    from sekret._names import describe_name

    assert describe_name("\ud800x").startswith("(2 characters, sha256 ")
    with pytest.raises(InvalidSecretName, match="2 characters"):
        validate_name("\ud800x")
