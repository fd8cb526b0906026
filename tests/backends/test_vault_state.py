"""The native-first stage rule of the Vault backend, no server needed (vault._state)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from sekret.backends.vault._state import (
    MANAGED,
    PURGE_KEY,
    VKEY,
    Companion,
    Main,
    View,
    parse_time,
)
from sekret.exceptions import IntegrityError

T1 = "2026-01-01T00:00:01.123456789Z"


def _view(
    versions: dict[str, dict[str, Any]], current: int, comp: Companion | None = None, **doc: Any
) -> View:
    main = Main.of({"current_version": current, "versions": versions, **doc})
    return View(main, comp or Companion(), "kv/app")


def test_current_is_the_latest_live_version_and_previous_the_newest_live_below() -> None:
    """current is the latest KV version; previous skips destroyed and deleted versions."""
    view = _view({"1": {}, "2": {"destroyed": True}, "3": {"deletion_time": T1}, "4": {}}, 4)
    assert (view.current, view.previous) == ("4", "1")
    assert view.live == ["1", "4"]


def test_a_deleted_latest_version_leaves_no_current_and_no_previous() -> None:
    """When the latest KV version is deleted there is no current and no previous."""
    view = _view({"1": {}, "2": {"deletion_time": T1}}, 2)
    assert (view.current, view.previous) == (None, None)


def test_the_revoke_previous_floor_is_inclusive() -> None:
    """A version at the floor may still be previous; one below it may not."""
    versions: dict[str, dict[str, Any]] = {"1": {}, "2": {}, "3": {}, "4": {}}
    assert _view(versions, 4, Companion(floor=3)).previous == "3"
    assert _view(versions, 4, Companion(floor=4)).previous is None
    assert _view(versions, 4, Companion(floor=0)).previous == "3"


def test_a_staged_id_recorded_on_a_kv_version_is_promoted_with_its_labels() -> None:
    """A staged id whose record shows on a live KV version resolves to it; labels follow."""
    comp = Companion(
        staged={"p1": {}, "p10": {}, "p2": {}},
        records={"3": {"s": "p1"}},
        labels={"blue": "p1", "green": "p2", "gone": "p99"},
    )
    view = _view({"1": {}, "2": {}, "3": {}}, 3, comp)
    assert view.promoted == {"p1": "3"}
    assert view.staged == ["p2", "p10"]
    assert view.resolve("p1") == "3"
    assert view.resolve("p2") == "p2"
    assert view.resolve(None) is None
    assert view.labels == {"blue": "3", "green": "p2"}
    assert view.exists("p2")
    assert view.exists("3")
    assert not view.exists("p1")
    assert not view.exists("9")
    assert view.any


def test_aliases_count_only_for_unstaged_ids_of_live_versions() -> None:
    """An alias promotes an id only when it is no longer staged and its version is live."""
    comp = Companion(staged={"p3": {}}, aliases={"p1": "2", "p2": "9", "p3": "1"})
    view = _view({"1": {}, "2": {}}, 2, comp)
    assert view.promoted == {"p1": "2"}
    assert view.staged == ["p3"]


def test_a_mirrored_record_of_a_reused_version_number_does_not_apply() -> None:
    """A mirrored record applies only if its created time matches the KV version's."""
    comp = Companion(records={"1": {"t": "tok", "c": "then"}, "2": {"t": "tok2", "c": "now"}})
    view = _view({"1": {"created_time": "now"}, "2": {"created_time": "now"}}, 2, comp)
    assert view.record("1").token is None
    assert view.record("2").token == "tok2"
    assert view.record("5").token is None


def test_a_managed_secret_takes_its_records_from_custom_metadata() -> None:
    """With the sekret marker in custom_metadata, records come from there, not the mirror."""
    comp = Companion(records={"1": {"t": "mirror"}})
    custom = {"sekret": "1", "sekret.v.2": '{"t": "meta"}'}
    view = _view({"1": {}, "2": {}}, 2, comp, custom_metadata=custom)
    assert view.record("2").token == "meta"
    assert view.record("1").token is None


def test_no_versions_is_nothing() -> None:
    """A view of no main entry and an empty companion has no stages and nothing in it."""
    view = View(None, Companion(), "kv/app")
    assert (view.current, view.previous, view.staged, view.any) == (None, None, [], False)


def test_a_record_naming_an_id_that_is_not_staged_promotes_nothing() -> None:
    """A KV version whose record names an id no longer staged does not add a promotion."""
    comp = Companion(records={"2": {"s": "p7"}})
    assert _view({"1": {}, "2": {}}, 2, comp).promoted == {}


def test_the_keys_sekret_stores_in_vault_metadata_are_fixed() -> None:
    """The custom-metadata keys are a stored format: a new release must read the old ones."""
    assert (MANAGED, VKEY, PURGE_KEY) == ("sekret", "sekret.v.", "sekret.purge_at")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (T1, datetime(2026, 1, 1, 0, 0, 1, 123456, tzinfo=UTC)),  # nanoseconds cut to micro
        ("2026-01-01T00:00:01Z", datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)),
        (
            "2026-01-01T00:00:01.5+02:00",
            datetime(2026, 1, 1, 0, 0, 1, 500000, tzinfo=timezone(timedelta(hours=2))),
        ),
        (
            "2026-01-01T00:00:01-01:30",
            datetime(2026, 1, 1, 0, 0, 1, tzinfo=timezone(-timedelta(hours=1, minutes=30))),
        ),
    ],
)
def test_parse_time_reads_vault_times(text: str, expected: datetime) -> None:
    """Vault's RFC 3339 times (Z or an offset, up to nanoseconds) become aware datetimes."""
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        None,
        5,
        "",
        "yesterday",
        "2026-01-01T00:00:01",
        "2026-13-01T00:00:01Z",
        "2026-01-01T00:00:01Zx",
    ],
)
def test_parse_time_gives_none_for_anything_else(text: object) -> None:
    """A missing, non-string, zone-less, impossible or trailing-junk time is None, not an error."""
    assert parse_time(text) is None


def test_main_of_takes_the_metadata_fields_and_drops_what_is_not_in_shape() -> None:
    """Main.of keeps string custom metadata and numbered version dicts; reads counts and times."""
    main = Main.of(
        {
            "current_version": 3,
            "current_metadata_version": "5",
            "custom_metadata": {"sekret": "1", "n": 7, "owner": "ops"},
            "versions": {"1": {"created_time": T1}, "2": "junk", "x": {}, "3": {}},
            "created_time": T1,
            "updated_time": "2026-01-02T00:00:00Z",
        }
    )
    assert (main.current_version, main.meta_cas, main.latest) == (3, 5, "3")
    assert main.custom == {"sekret": "1", "owner": "ops"}
    assert main.managed
    assert set(main.versions) == {"1", "3"}
    assert main.created == parse_time(T1)
    assert main.updated == datetime(2026, 1, 2, tzinfo=UTC)
    assert main.created_of("1") == T1
    assert main.created_of("3") is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        main.current_version = 4  # type: ignore[misc]


@pytest.mark.parametrize("raw", [0, -3, "-3", "x", None, 2.5, [1]])
def test_counts_that_are_not_positive_integers_read_as_zero(raw: object) -> None:
    """A current version that is zero, negative, not a number or not an int/str reads as 0."""
    main = Main.of({"current_version": raw, "current_metadata_version": raw})
    assert (main.current_version, main.meta_cas, main.latest) == (0, 0, None)


def test_a_new_companion_starts_empty_with_ids_from_1_and_no_floor() -> None:
    """A companion that does not exist yet dumps sekret's format 2, next id 1, floor 0."""
    comp = Companion()
    assert not comp.exists
    assert comp.dump() == {
        "sekret": 2,
        "labels": {},
        "staged": {},
        "records": {},
        "next": 1,
        "purge_at": None,
        "aliases": {},
        "floor": 0,
    }
    assert Companion.of(comp.dump(), 1, "kv/app").exists  # KV version 1 is the first


@pytest.mark.parametrize("data", ["x", None, {"sekret": 1}, {"labels": {}}])
def test_a_companion_not_in_sekrets_format_is_an_integrity_error(data: object) -> None:
    """A companion entry that is not a dict of format 2 is refused, naming where it is."""
    with pytest.raises(IntegrityError, match=r"^kv/app: sekret's companion entry is not in"):
        Companion.of(data, 1, "kv/app")


def test_a_companion_round_trips_every_field() -> None:
    """Companion.of(dump()) gives back labels, staged, records, next id, purge, aliases, floor."""
    comp = Companion(
        cas=3,
        labels={"pending": "p2"},
        staged={"p2": {"v": 1}},
        records={"1": {"r": 1}},
        next_id=5,
        purge_at="2026-02-01T00:00:00Z",
        aliases={"p1": "2"},
        floor=2,
    )
    assert Companion.of(comp.dump(), 3, "kv/app") == comp


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        ("labels", {"pending": 2}),
        ("labels", ["pending"]),
        ("staged", {"p2": "x"}),
        ("staged", ["p2"]),
        ("records", {"1": "x"}),
        ("records", ["1"]),
        ("purge_at", 5),
        ("next", "5"),
        ("aliases", {"p1": 2}),
        ("aliases", ["p1"]),
        ("floor", "2"),
        ("floor", True),
    ],
)
def test_a_companion_with_a_malformed_field_is_an_integrity_error(field: str, bad: object) -> None:
    """Each field of the companion is checked for its shape; a bad one is IntegrityError."""
    data = {**Companion().dump(), field: bad}
    with pytest.raises(IntegrityError, match=r"^kv/app: sekret's companion entry is malformed$"):
        Companion.of(data, 1, "kv/app")


def test_a_companion_with_only_its_format_mark_has_the_defaults() -> None:
    """Missing fields of a format-2 companion read as empty, next id 1, no purge, floor 0."""
    comp = Companion.of({"sekret": 2}, 7, "kv/app")
    assert comp == Companion(cas=7)
    assert (comp.next_id, comp.floor, comp.purge_at) == (1, 0, None)
