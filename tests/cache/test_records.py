"""The cache's records: ``CachePolicy`` defaults and range checks, ``HitStats``, ``CacheStats``."""

from __future__ import annotations

import copy
import pickle
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sekret.cache import CachePolicy, CacheStats, HitStats
from sekret.exceptions import ConfigurationError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cache.md"

# field -> (accepted at or next to the boundary, refused just past it)
BOUNDS: dict[str, tuple[list[Any], list[Any]]] = {
    "ttl": ([0, 0.5], [-0.5]),
    "max_stale": ([0, 0.5], [-0.5]),
    "negative_ttl": ([0, 0.5], [-0.5]),
    "max_size": ([1], [0]),
    "refresh_ratio": ([0.01, 0.5, 1], [0, -0.5, 1.01, 1.5]),
    "jitter": ([0, 0.5, 0.99], [1, 1.5, -0.5]),
    "retry_base": ([0, 0.5], [-0.5]),
    "refresh_workers": ([1], [0]),
    "prefetch_concurrency": ([1], [0]),
    "stale_wait": ([None, 0, 0.5], [-0.5]),
    "breaker_failures": ([0, 1], [-1]),
    "breaker_cooldown": ([0.01, 0.5], [0, -0.5]),
}


def _documented_defaults() -> dict[str, str]:
    """The defaults column of docs/cache.md's settings table, by field."""
    text = DOCS.read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `(\w+)` \| `([^`]+)`", text, re.M))
    retry = re.search(r"^\| `retry_base` / `retry_max` \| `([^`]+)` s / `([^`]+)` s", text, re.M)
    assert retry is not None
    rows["retry_base"], rows["retry_max"] = retry.groups()
    return rows


def test_defaults_are_the_documented_ones() -> None:
    """Every default of CachePolicy() is the value docs/cache.md's settings table states."""
    documented = _documented_defaults()
    policy = CachePolicy()
    assert set(documented) == set(CachePolicy.__slots__)
    assert documented.pop("per_secret_ttl") == "{}"
    assert policy.per_secret_ttl == {}
    for field, text in documented.items():
        value = getattr(policy, field)
        assert type(value)(text) == value, field
        assert isinstance(value, int) == ("." not in text), field  # 1024 stays an int


@pytest.mark.parametrize("field", sorted(BOUNDS))
def test_each_setting_is_checked_at_its_boundary(field: str) -> None:
    """A value at the edge of a setting's range is accepted; one just past it is refused by name."""
    accepted, refused = BOUNDS[field]
    for value in accepted:
        assert getattr(CachePolicy(**{field: value}), field) == value
    for value in refused:
        with pytest.raises(ConfigurationError) as info:
            CachePolicy(**{field: value})
        assert str(info.value) == f"CachePolicy.{field}={value!r} is out of range"


def test_retry_max_may_equal_retry_base_but_not_be_below_it() -> None:
    """retry_max >= retry_base: equal is fine, smaller is refused naming retry_max."""
    assert CachePolicy(retry_base=2, retry_max=2).retry_max == 2
    with pytest.raises(ConfigurationError, match=r"^CachePolicy\.retry_max=1\.5 is out of range$"):
        CachePolicy(retry_base=2, retry_max=1.5)


def test_per_secret_ttl_may_be_zero_but_not_negative() -> None:
    """A per-secret TTL of 0 or more is taken; a negative one is refused naming the secret."""
    policy = CachePolicy(per_secret_ttl={"a/b/c": 0, "a/b/d": 0.5})
    assert policy.ttl_for("a/b/c") == 0
    assert policy.ttl_for("a/b/d") == 0.5
    assert policy.ttl_for("a/b/e") == 300.0
    with pytest.raises(ConfigurationError, match=r"per_secret_ttl\['a/b/c'\]=-0\.5 < 0"):
        CachePolicy(per_secret_ttl={"a/b/c": -0.5})


def test_replace_is_a_checked_copy() -> None:
    """replace() keeps the other fields, checks the result and refuses an unknown setting."""
    policy = CachePolicy(ttl=10, per_secret_ttl={"a/b/c": 1})
    changed = policy.replace(max_stale=20)
    assert (changed.ttl, changed.max_stale, changed.per_secret_ttl) == (10, 20, {"a/b/c": 1})
    assert policy.max_stale == 3600.0  # the original is unchanged
    assert policy.replace() == policy
    with pytest.raises(ConfigurationError, match=r"^CachePolicy\.ttl=-1 is out of range$"):
        policy.replace(ttl=-1)
    with pytest.raises(ConfigurationError, match=r"^CachePolicy has no setting 'tll'$"):
        policy.replace(tll=5, ttl=5)


@pytest.mark.parametrize(
    "record",
    [
        CachePolicy(ttl=7, per_secret_ttl={"a/b/c": 1}),
        HitStats(2, 1.5, 3.5),
        CacheStats(1, 2, 3, 4),
    ],
)
def test_records_survive_pickle_and_copy(record: object) -> None:
    """Each record pickles and copies to an equal record of the same type."""
    pickled = pickle.loads(pickle.dumps(record))  # noqa: S301 - our own bytes
    for clone in (pickled, copy.copy(record), copy.deepcopy(record)):
        assert type(clone) is type(record)
        assert clone == record


def test_stats_records_keep_their_fields() -> None:
    """HitStats and CacheStats hold what they were given; the breaker fields default to healthy."""
    hits = HitStats(2, 1.5, 3.5)
    assert (hits.count, hits.first, hits.last) == (2, 1.5, 3.5)
    stats = CacheStats(1, 2, 3, 4)
    assert (stats.entries, stats.negative, stats.in_flight, stats.callers_waiting) == (1, 2, 3, 4)
    assert stats.breaker_open is False
    assert stats.backend_failures == 0
    assert CacheStats(0, 0, 0, 0, True, 5).backend_failures == 5


def test_importing_the_records_loads_no_typing() -> None:
    """`sekret.cache._records` imports nothing heavier than sekret._values: no typing."""
    code = "import sys, sekret.cache._records; print('typing' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
