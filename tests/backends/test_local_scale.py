"""The local store at scale: listing is one seek per page, bulk writes are batched."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from sekret import Conflict, InvalidSecretName, Secrets, SecretValue, VersionInfo
from sekret.audit import AuditLog
from sekret.audit.sinks import CaptureSink
from sekret.backends.base import ABSENT, Capability, WriteRequest
from sekret.backends.local import LocalBackend, init_store
from sekret.backends.memory import MemoryBackend
from sekret.testing import sentinel_value

KEY_ENV = ("SEKRET_MASTER_KEY", "SEKRET_KEY_FILE", "SEKRET_PASSPHRASE")


@pytest.fixture(autouse=True)
def _no_key_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Key variables from the developer's shell must not change what these tests see."""
    for var in KEY_ENV:
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LocalBackend]:
    """An open backend on a fresh store."""
    db = tmp_path / "scale.db"
    init_store(db)
    with LocalBackend(db) as b:
        yield b


def _seed_names(db: Path, count: int, prefix: str = "app/env/") -> None:
    """Insert ``count`` bare secret rows (enough for listing) straight into the file."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO secrets (name, uid, counter, created, updated) VALUES (?, ?, 0, 0, 0)",
            ((f"{prefix}s{i:06d}", b"u" * 16) for i in range(count)),
        )
        conn.execute("COMMIT")
    finally:
        conn.close()


def _steps(backend: LocalBackend, token: str | None, page_size: int) -> int:
    """SQLite virtual-machine steps one list page costs (a deterministic cost measure)."""
    counter = [0]

    def tick() -> int:
        counter[0] += 1
        return 0

    conn = backend._conn()
    conn.set_progress_handler(tick, 1)
    try:
        backend.list("app/env/", page_size=page_size, page_token=token)
    finally:
        conn.set_progress_handler(None, 1)
    return counter[0]


def test_late_page_costs_what_the_first_page_costs(backend: LocalBackend) -> None:
    """Page 900 of 1,000 takes about the SQLite steps of page 1 (one seek, no re-scan)."""
    _seed_names(backend.path, 10_000)
    _seed_names(backend.path, 50, prefix="app/other/")
    first = _steps(backend, None, 10)
    late = _steps(backend, "app/env/s008999", 10)
    assert late <= first * 1.5 + 50
    page = backend.list("app/env/", page_size=10, page_token="app/env/s008999")
    assert page.items[0].name == "app/env/s009000"
    assert page.next_token == "app/env/s009009"


def test_token_before_the_prefix_starts_at_the_prefix(backend: LocalBackend) -> None:
    """A page token sorting before the prefix lists from the prefix's first name."""
    _seed_names(backend.path, 5)
    page = backend.list("app/env/", page_size=2, page_token="a")
    assert [i.name for i in page.items] == ["app/env/s000000", "app/env/s000001"]


def test_paging_visits_every_name_once(backend: LocalBackend) -> None:
    """Following next_token lists every name under the prefix exactly once, in order."""
    _seed_names(backend.path, 257)
    _seed_names(backend.path, 3, prefix="app/envx/")
    seen: list[str] = []
    token = None
    while True:
        page = backend.list("app/env/", page_size=50, page_token=token)
        seen += [i.name for i in page.items]
        token = page.next_token
        if token is None:
            break
    assert seen == [f"app/env/s{i:06d}" for i in range(257)]


def _statements(backend: LocalBackend, fn: Callable[[], object]) -> list[str]:
    """The SQL statements ``fn`` runs on this thread's connection."""
    seen: list[str] = []
    conn = backend._conn()
    conn.set_trace_callback(seen.append)
    try:
        fn()
    finally:
        conn.set_trace_callback(None)
    return seen


def test_put_many_stores_every_value_in_few_transactions(backend: LocalBackend) -> None:
    """put_many of 2,500 new secrets commits 3 transactions, not 2,500, and stores each."""
    values = {f"app/env/k{i:05d}": sentinel_value(str(i)) for i in range(2_500)}
    writes = [WriteRequest(n, SecretValue.of(v)) for n, v in values.items()]
    results: list[object] = []
    sql = _statements(backend, lambda: results.extend(backend.put_many(writes)))
    assert sum(1 for s in sql if s.startswith("COMMIT")) == 3
    assert all(isinstance(r, VersionInfo) and r.version == "1" for r in results)
    assert backend.read("app/env/k01234").value.text() == values["app/env/k01234"]


def test_put_many_of_new_secrets_runs_no_statement_per_secret(backend: LocalBackend) -> None:
    """New secrets in one batch are probed by one query, and each row is one insert."""
    writes = [WriteRequest(f"app/env/n{i:04d}", SecretValue.of("v")) for i in range(500)]
    sql = _statements(backend, lambda: backend.put_many(writes))
    assert sum(1 for s in sql if s.startswith("SELECT")) <= 3
    assert sum(1 for s in sql if s.startswith("INSERT")) == 3 * 500  # secret, version, stage
    assert not any(s.startswith("UPDATE") for s in sql)
    assert [v.version for v in backend.versions("app/env/n0499")] == ["1"]


def test_put_many_mixed_batch_ends_as_the_same_writes_one_by_one(tmp_path: Path) -> None:
    """Repeated names, compare-and-set on absent names, deleted and existing secrets:
    put_many leaves every stage, version and value (and result) as writes in order do."""

    def batch() -> list[WriteRequest]:
        return [
            WriteRequest("app/env/a", SecretValue.of("a1"), metadata={"k": "v"}),
            WriteRequest("app/env/c", SecretValue.of("c1"), expected_version="1"),
            WriteRequest("app/env/b", SecretValue.of("b1"), stages=("current", "pending")),
            WriteRequest("app/env/a", SecretValue.of("a2"), stages=("pending",)),
            WriteRequest("app/env/c", SecretValue.of("c2"), expected_version=ABSENT),
            WriteRequest("app/env/c", SecretValue.of("c3"), expected_version="1"),
            WriteRequest("app/env/old", SecretValue.of("o2")),
            WriteRequest("app/env/gone", SecretValue.of("g2")),
            WriteRequest("app/env/d", SecretValue.of("d1"), stages=()),
        ]

    def state(b: LocalBackend) -> list[object]:
        out: list[object] = []
        for name in ("a", "b", "c", "d", "old"):
            for info in b.versions(f"app/env/{name}"):
                value = b.read(f"app/env/{name}", version=info.version).value.text()
                out.append((name, info.version, sorted(info.stages), dict(info.metadata), value))
        return out

    ends = []
    for how in ("many", "one"):
        init_store(tmp_path / f"{how}.db")
        with LocalBackend(tmp_path / f"{how}.db") as b:
            b.write("app/env/old", SecretValue.of("o1"))
            b.write("app/env/gone", SecretValue.of("g1"))
            b.delete("app/env/gone")
            if how == "many":
                results = b.put_many(batch())
            else:
                results = []
                for w in batch():
                    try:
                        results.append(
                            b.write(
                                w.name,
                                w.value,
                                stages=w.stages,
                                expected_version=w.expected_version,
                                metadata=w.metadata,
                            )
                        )
                    except Exception as exc:  # compared by type below
                        results.append(exc)
            shown = [type(r).__name__ if isinstance(r, Exception) else r.version for r in results]
            ends.append((shown, state(b)))
    assert ends[0] == ends[1]
    assert ends[0][0][1] != "1"  # compare-and-set on an absent secret failed in both


def test_put_many_new_secret_needs_no_probe_for_an_earlier_token(backend: LocalBackend) -> None:
    """A new secret with a token is written without looking the token up."""
    writes = [WriteRequest("app/env/new", SecretValue.of("v"), token="t1")]
    sql = _statements(backend, lambda: backend.put_many(writes))
    assert not any("token = " in s for s in sql)


def test_put_many_returns_each_failure_in_place(backend: LocalBackend) -> None:
    """A failing write is returned in place and rolled back alone; the others are stored."""
    backend.write("app/env/exists", SecretValue.of("old"))
    writes = [
        WriteRequest("app/env/a", SecretValue.of("1")),
        WriteRequest("app/env/exists", SecretValue.of("new"), expected_version=ABSENT),
        WriteRequest("bad name!", SecretValue.of("x")),
        WriteRequest("app/env/b", SecretValue.of("2")),
    ]
    results = backend.put_many(writes)
    assert isinstance(results[0], VersionInfo)
    assert isinstance(results[1], Conflict)
    assert isinstance(results[2], InvalidSecretName)
    assert isinstance(results[3], VersionInfo)
    assert backend.read("app/env/exists").value.text() == "old"
    assert backend.read("app/env/b").value.text() == "2"


def test_put_many_repeated_token_is_idempotent(backend: LocalBackend) -> None:
    """Rerunning a batch with the same tokens returns the same versions, adds none."""
    writes = [
        WriteRequest(f"app/env/t{i}", SecretValue.of(str(i)), token=f"tok{i}") for i in range(5)
    ]
    first = backend.put_many(writes)
    again = backend.put_many(writes)
    assert [r.version for r in again if isinstance(r, VersionInfo)] == [
        r.version for r in first if isinstance(r, VersionInfo)
    ]
    assert len(backend.versions("app/env/t0")) == 1


def test_default_put_many_loops_over_write() -> None:
    """A backend without BATCH_WRITE gets put_many from the base class, write by write."""
    memory = MemoryBackend()
    assert Capability.BATCH_WRITE not in memory.capabilities
    results = memory.put_many([WriteRequest("a/b/c", SecretValue.of("v"))])
    assert isinstance(results[0], VersionInfo)
    assert memory.read("a/b/c").value.text() == "v"


def test_facade_put_many_audits_each_write(tmp_path: Path) -> None:
    """Secrets.put_many stores each value under the namespace and audits each write."""
    db = tmp_path / "facade.db"
    init_store(db)
    sink = CaptureSink()
    audit = AuditLog([sink], background=False, flush_interval=None)
    with Secrets(f"local://{db}", app="app", environment="env", audit=audit) as client:
        out = client.put_many({"one": sentinel_value("1"), "bad name!": "x", "two": "2"})
        assert isinstance(out["bad name!"], InvalidSecretName)
        assert client.get("two") == "2"
    writes = [e for e in sink.events if e["action"] == "secret.write"]
    assert sorted(e["secret"] for e in writes) == ["app/env/one", "app/env/two"]


def test_put_many_checks_stage_tuples_every_time(backend: LocalBackend) -> None:
    """Remembered stage lists never let a bad label, or an unhashable one, through."""
    from sekret.exceptions import InvalidValue

    good = WriteRequest("app/env/s1", SecretValue.of("v"), stages=("current", "pending"))
    bad = WriteRequest("app/env/s2", SecretValue.of("v"), stages=("current", "bad label"))
    odd = WriteRequest("app/env/s3", SecretValue.of("v"), stages=("current", ["x"]))  # type: ignore[arg-type]
    for _ in range(2):
        results = backend.put_many([good, bad, odd])
        assert isinstance(results[1], InvalidValue)
        assert isinstance(results[2], InvalidValue)
    assert sorted(backend.versions("app/env/s1")[-1].stages) == ["current", "pending"]
