"""The native-first stage rule of the Vault backend, no server needed (vault._state)."""

from __future__ import annotations

from typing import Any

from sekret.backends.vault._state import Companion, Main, View

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


# -- parse_time, Main, Companion: what is read back from the server ----------------------
def test_parse_time_keeps_microseconds_of_vaults_nanosecond_times() -> None:
    """RFC 3339 with nanoseconds and Z or an offset becomes an aware datetime (microseconds)."""
    from datetime import UTC, datetime, timedelta, timezone

    from sekret.backends.vault._state import parse_time

    assert parse_time(T1) == datetime(2026, 1, 1, 0, 0, 1, 123456, tzinfo=UTC)
    assert parse_time("2026-01-01T00:00:01Z") == datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert parse_time("2026-01-01T00:00:01.5+02:00") == datetime(
        2026, 1, 1, 0, 0, 1, 500000, tzinfo=timezone(timedelta(hours=2))
    )
    assert parse_time("2026-01-01T00:00:01.1234567-01:30") == datetime(
        2026, 1, 1, 0, 0, 1, 123456, tzinfo=timezone(-timedelta(hours=1, minutes=30))
    )


def test_parse_time_reads_anything_else_as_no_time() -> None:
    """Not a string, empty, another shape, or an impossible date: None, never an error."""
    from sekret.backends.vault._state import parse_time

    for odd in (
        None,
        0,
        "",
        "yesterday",
        "2026-01-01",
        "2026-01-01T00:00:01",
        "2026-13-01T00:00:01Z",
    ):
        assert parse_time(odd) is None


def test_main_reads_kv_metadata_and_tolerates_odd_shapes() -> None:
    """Main.of takes digits-keyed versions, ints (or digit strings), string custom metadata."""
    from sekret.backends.vault._state import MANAGED

    main = Main.of(
        {
            "current_version": "3",
            "current_metadata_version": 7,
            "custom_metadata": {"a": "b", "n": 1, MANAGED: "2"},
            "versions": {"1": {"created_time": T1}, "2": {}, "x": {}, "3": "odd"},
            "created_time": T1,
            "updated_time": "2026-01-02T00:00:00Z",
        }
    )
    assert (main.current_version, main.meta_cas) == (3, 7)
    assert dict(main.custom) == {"a": "b", MANAGED: "2"}
    assert set(main.versions) == {"1", "2"}
    assert main.created is not None
    assert main.created.microsecond == 123456
    assert main.updated is not None
    assert main.updated.day == 2
    assert main.managed
    assert main.latest == "3"
    assert main.created_of("1") == T1
    assert main.created_of("2") is None
    assert main.created_of("9") is None
    for odd in (None, [], {"current_version": -4, "versions": []}, {"current_version": "x"}):
        empty = Main.of(odd)
        assert (empty.current_version, empty.meta_cas, dict(empty.versions)) == (0, 0, {})
        assert empty.latest is None
        assert not empty.managed


def test_main_live_versions_leave_out_destroyed_and_deleted_in_number_order() -> None:
    """live lists versions neither destroyed nor deleted, oldest first by number (10 after 9)."""
    main = Main.of(
        {
            "current_version": 10,
            "versions": {
                "10": {},
                "9": {},
                "2": {"destroyed": True},
                "3": {"deletion_time": T1},
                "4": {"deletion_time": ""},
            },
        }
    )
    assert main.live == ["4", "9", "10"]
    assert main.is_live("9")
    assert not main.is_live("2")
    assert not main.is_live("3")
    assert not main.is_live("11")


def test_companion_round_trips_through_dump() -> None:
    """A companion read back from its own dump is the same; it exists once it has a KV version."""
    comp = Companion(
        cas=4,
        labels={"blue": "2"},
        staged={"p1": {"v": 1}},
        records={"2": {"id": "p1"}},
        next_id=2,
        purge_at=T1,
        aliases={"p1": "2"},
        floor=1,
    )
    again = Companion.of(comp.dump(), 4, "kv/app")
    assert again == comp
    assert again.exists
    assert Companion(cas=1).exists
    assert not Companion().exists
    assert Companion.of({"sekret": 2}, 1, "kv/app") == Companion(cas=1)


def test_a_companion_in_another_format_or_malformed_is_an_integrity_error() -> None:
    """Another format version or any wrongly typed field is IntegrityError naming where."""
    import pytest

    from sekret.exceptions import IntegrityError

    good = Companion(cas=1).dump()
    bad_docs: list[object] = [
        None,
        {**good, "sekret": 1},
        {**good, "labels": ["a"]},
        {**good, "labels": {"a": 1}},
        {**good, "labels": {1: "a"}},
        {**good, "staged": ["p1"]},
        {**good, "staged": {"p1": "x"}},
        {**good, "records": ["2"]},
        {**good, "records": {"2": "x"}},
        {**good, "purge_at": 5},
        {**good, "next": "2"},
        {**good, "aliases": ["p1"]},
        {**good, "aliases": {"p1": 2}},
        {**good, "aliases": {1: "2"}},
        {**good, "floor": "1"},
        {**good, "floor": True},
    ]
    for doc in bad_docs:
        with pytest.raises(IntegrityError, match="kv/app"):
            Companion.of(doc, 1, "kv/app")


def test_the_marker_keys_are_the_stored_format() -> None:
    """The custom_metadata keys are a stored format: data written before must still be found."""
    from sekret.backends.vault._state import MANAGED, PURGE_KEY, VKEY

    assert (MANAGED, VKEY, PURGE_KEY) == ("sekret", "sekret.v.", "sekret.purge_at")


def test_main_is_read_only() -> None:
    """The metadata read back is a snapshot: Main cannot be changed in place."""
    import dataclasses

    import pytest

    main = Main.of({"current_version": 2})
    with pytest.raises(dataclasses.FrozenInstanceError):
        main.current_version = 3  # type: ignore[misc]
    assert main.current_version == 2
