"""Vault entries in shapes sekret never writes, and logs at DEBUG: only SekretErrors, no values.

The fuzzers write raw data and metadata with hvac (as another tool would) and
then drive every read path; anything but a ``SekretError`` is a bug. The
number of server cases is ``SEKRET_VAULT_FUZZ`` (default 300; 1500 before a release).
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import os
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sekret import Secrets, SecretValue
from sekret.backends.vault import VaultBackend
from sekret.backends.vault._shape import Record, decode
from sekret.backends.vault._state import Companion, Main, View
from sekret.exceptions import SekretError
from sekret.testing import sentinel_value
from servers.openbao import BaoServer

FUZZ_CASES = int(os.environ.get("SEKRET_VAULT_FUZZ", "300"))

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
)
_json = st.recursive(
    _scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)
_markers = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            '{"f":"b64"}',
            '{"f":"jsonv"}',
            '{"f":"jsonm"}',
            '{"f":"zz"}',
            '{"m":5}',
            '{"t":1}',
            "[]",
            "{",
            '{"s":"p1"}',
            "2026-01-01T00:00:00Z",
            "2999-01-01T00:00:00Z",
            "not-a-time",
        ]
    ),
    _json.map(lambda v: json.dumps(v)),
)
_custom = st.dictionaries(
    st.one_of(
        st.sampled_from(["sekret", "sekret.v.1", "sekret.v.2", "sekret.purge_at", "owner"]),
        st.text(alphabet="abcdefgh.", min_size=1, max_size=10),
    ),
    _markers,
    max_size=5,
)
_data = st.one_of(
    st.dictionaries(st.text(min_size=1, max_size=8), _json, max_size=4),
    st.fixed_dictionaries({"value": _json}),
    st.fixed_dictionaries({"value": st.text(max_size=30)}),
)
_companion = st.one_of(
    st.none(),
    st.dictionaries(st.text(min_size=1, max_size=8), _json, max_size=4),
    st.fixed_dictionaries(
        {
            "sekret": st.just(2),
            "labels": st.one_of(_json, st.dictionaries(st.text(max_size=8), st.text(max_size=4))),
            "staged": st.one_of(
                _json,
                st.dictionaries(
                    st.sampled_from(["p1", "p2", "1"]),
                    st.fixed_dictionaries({"data": _json, "rec": _json, "created": _json}),
                ),
            ),
            "records": _json,
            "next": _json,
            "aliases": _json,
            "purge_at": st.one_of(st.none(), _markers),
        }
    ),
)


def _drive(b: VaultBackend, name: str) -> None:
    """Every read path, plus a write; only SekretErrors may come out."""
    calls = (
        lambda: b.read(name),
        lambda: b.read(name, stage="previous"),
        lambda: b.read(name, stage="pending"),
        lambda: b.read(name, version="1"),
        lambda: b.read(name, version="p1"),
        lambda: b.versions(name),
        lambda: b.list(name.rsplit("/", 1)[0] + "/", include_deleted=True),
        lambda: b.write(name, SecretValue.of("x"), stages=["pending"]),
        lambda: b.move_stage(name, "current", "1"),
    )
    for call in calls:
        with contextlib.suppress(SekretError):
            call()


_counter = itertools.count()


@pytest.mark.service
@settings(
    max_examples=FUZZ_CASES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
)
@given(
    versions=st.lists(_data, min_size=0, max_size=2),
    custom=_custom,
    companion=_companion,
)
def test_foreign_shapes_raise_only_sekret_errors(
    openbao: BaoServer,
    versions: list[dict[str, Any]],
    custom: dict[str, str],
    companion: dict[str, Any] | None,
) -> None:
    """Raw hvac writes of odd data, custom metadata and companion entries: only SekretErrors."""
    import hvac.exceptions

    kv = _raw(openbao)
    name = f"fuzz/{uuid.uuid4().hex[:8]}/k{next(_counter)}"
    steps = [lambda d=d: kv.create_or_update_secret(path=name, secret=d) for d in versions]
    if custom:
        steps.append(lambda: kv.update_metadata(path=name, custom_metadata=custom))
    if companion is not None:
        steps.append(lambda: kv.create_or_update_secret(path=f".sekret/{name}", secret=companion))
    for step in steps:
        with contextlib.suppress(hvac.exceptions.InvalidRequest):  # the server refused it
            step()
    _drive(_fuzz_backend(openbao), name)


_cache: dict[str, Any] = {}


def _raw(server: BaoServer) -> Any:
    if "kv" not in _cache:
        _cache["kv"] = server.client().secrets.kv.v2
    return _cache["kv"]


def _fuzz_backend(server: BaoServer) -> VaultBackend:
    if "b" not in _cache:
        _cache["b"] = VaultBackend(server.address, token=server.root_token, admin=True)
    backend: VaultBackend = _cache["b"]
    return backend


@settings(max_examples=int(os.environ.get("SEKRET_VAULT_PARSER_FUZZ", "500")), deadline=None)
@given(
    meta=st.one_of(_json, st.fixed_dictionaries({"versions": _json, "custom_metadata": _json})),
    comp=_companion,
    data=_json,
    marker=_markers,
)
def test_state_and_shape_parsers_raise_only_sekret_errors(
    meta: Any, comp: Any, data: Any, marker: str
) -> None:
    """The metadata, companion, record and data parsers take any JSON: SekretError or a result."""
    try:
        main = Main.of(meta)
        view = View(main, Companion.of(comp, 1, "x") if comp is not None else Companion(), "x")
        for v in [*view.live, *view.staged]:
            view.stages_of(v)
            if v in view.live:
                view.record(v)
    except SekretError:
        pass
    for fmt in (None, "b64", "jsonv", "jsonm"):
        with contextlib.suppress(SekretError):
            decode(data, fmt, "value", "x")
    with contextlib.suppress(SekretError):
        Record.load(marker, "x")


@pytest.mark.service
def test_debug_logging_never_holds_a_value(
    openbao: BaoServer, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    """Root, hvac and urllib3 loggers at DEBUG through put/pending/promote/get: no record has it."""
    value, pending = sentinel_value(), sentinel_value()
    caplog.set_level(logging.DEBUG)  # root; caplog restores every level it sets
    for logger in ("hvac", "urllib3", "requests", "sekret"):
        caplog.set_level(logging.DEBUG, logger=logger)
    b = VaultBackend(openbao.address, token=openbao.root_token, admin=True)
    with Secrets(b, app="log" + uuid.uuid4().hex[:6], environment="production", cache=False) as s:
        s.put("k", value)
        s.put("doc", {"password": value})
        s.put("k", pending, stages=["pending"])
        assert s.get("k") == value
        s.promote("k")
        assert s.get("k") == pending
        s.rollback("k")
        assert s.get_json("doc") == {"password": value}
    assert caplog.records  # the DEBUG loggers did record the requests
    for record in caplog.records:
        text = record.getMessage() + repr(record.args) + repr(record.__dict__)
        assert value not in text
        assert pending not in text
    out = capsys.readouterr()
    assert value not in out.out + out.err
