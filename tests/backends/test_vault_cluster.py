"""The vault backend against a three-node OpenBao Raft cluster whose leader is SIGKILLed.

While 8 threads read through ``sekret.Secrets`` (one client with the cache on,
one without) and one thread writes, the leader is killed. Cached reads must
never fail; uncached reads and writes must resume once a new leader is
elected (the gap is measured and printed); no acknowledged write may be lost.
Finally every node is killed: the cache still serves its (stale) value.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from sekret import BackendUnavailable, CachePolicy, SecretNotFound, Secrets, SekretError
from sekret.backends.vault import VaultBackend
from sekret.testing import sentinel_value
from servers.openbao import RaftCluster, start_raft_cluster

READERS = 8
RECOVERY_DEADLINE = 40.0  # seconds after the kill; the test fails if either path is still down


@pytest.fixture(scope="module")
def cluster() -> Iterator[RaftCluster]:
    """Three `bao server` processes (raft storage, retry_join), initialised and unsealed."""
    from conftest import need_service

    try:
        started = start_raft_cluster(3)
    except RuntimeError as exc:
        need_service("OpenBao Raft cluster", str(exc))
        raise
    try:
        yield started
    finally:
        started.stop()


@dataclass
class Timeline:
    """What each kind of call did, and when (monotonic seconds)."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    ok: dict[str, list[float]] = field(default_factory=dict)
    failed: dict[str, list[tuple[float, str]]] = field(default_factory=dict)

    def record(self, kind: str, success: bool, error: BaseException | None = None) -> None:
        now = time.monotonic()
        with self.lock:
            if success:
                self.ok.setdefault(kind, []).append(now)
            else:
                self.failed.setdefault(kind, []).append((now, type(error).__name__))

    def recovered(self, kind: str, after: float) -> float | None:
        """The first success after the last failure following ``after`` (None: not yet)."""
        with self.lock:
            fails = [t for t, _ in self.failed.get(kind, []) if t >= after]
            last_fail = max(fails, default=after)
            oks = [t for t in self.ok.get(kind, []) if t > last_fail]
        return min(oks) if oks else None

    def gap(self, kind: str, around: float) -> float:
        """The longest stretch without a success, among stretches that contain ``around``."""
        with self.lock:
            oks = sorted(self.ok.get(kind, []))
        before = max((t for t in oks if t <= around), default=around)
        after = min((t for t in oks if t > around), default=float("inf"))
        return after - before


@pytest.mark.slow
def test_leader_sigkill_under_load(cluster: RaftCluster, record_property: object) -> None:
    """Leader killed: cached reads never fail, others resume, no acknowledged write is lost."""
    backend = VaultBackend(
        addresses=cluster.addresses, token=cluster.root_token, admin=True, timeout=2.0
    )
    policy = CachePolicy(ttl=0.5, max_stale=300.0, jitter=0.0, retry_base=0.1, retry_max=0.5)
    cached = Secrets(backend, app="ha", environment="prod", cache=policy)
    direct = Secrets(backend, app="ha", environment="prod", cache=False)
    try:
        _kill_leader_under_load(cluster, cached, direct, record_property)
    finally:
        cached.close()
        backend.close()


def _kill_leader_under_load(
    cluster: RaftCluster, cached: Secrets, direct: Secrets, record_property: object
) -> None:
    value = sentinel_value()
    direct.put("db-password", value)
    cached.get("db-password")  # warm the cache

    timeline = Timeline()
    stop = threading.Event()
    acknowledged: list[tuple[str, str]] = []
    wrong: list[str] = []

    def reader() -> None:
        while not stop.is_set():
            for kind, client in (("cached", cached), ("uncached", direct)):
                try:
                    got = client.get("db-password")
                except SekretError as exc:
                    timeline.record(kind, False, exc)
                else:
                    timeline.record(kind, True)
                    if got != value:
                        wrong.append(kind)
            time.sleep(0.05)

    def writer() -> None:
        i = 0
        while not stop.is_set():
            i += 1
            name, text = f"writes/w{i:05d}", f"value-{i}"
            try:
                direct.put(name, text)
            except SekretError as exc:
                timeline.record("write", False, exc)
            else:
                timeline.record("write", True)
                acknowledged.append((name, text))
            time.sleep(0.03)

    threads = [threading.Thread(target=reader) for _ in range(READERS)]
    threads.append(threading.Thread(target=writer))
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)  # steady state first
        leader = cluster.wait_leader()
        killed_at = time.monotonic()
        leader.kill()
        deadline = killed_at + RECOVERY_DEADLINE
        while time.monotonic() < deadline:
            reads_back = timeline.recovered("uncached", killed_at)
            writes_back = timeline.recovered("write", killed_at)
            if reads_back and writes_back and time.monotonic() > max(reads_back, writes_back) + 1:
                break
            time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=30)

    read_gap = timeline.gap("uncached", killed_at)
    write_gap = timeline.gap("write", killed_at)
    cached_failures = timeline.failed.get("cached", [])

    def counts(kind: str) -> str:
        return f"{len(timeline.ok.get(kind, []))} ok / {len(timeline.failed.get(kind, []))} failed"

    report = (
        f"raft leader SIGKILL: longest gap without a successful uncached read {read_gap:.2f} s,"
        f" without a write {write_gap:.2f} s; cached reads {counts('cached')}, uncached reads"
        f" {counts('uncached')}, writes {counts('write')}"
    )
    print(report)
    record_property("vault_failover", report)  # type: ignore[operator]

    assert not cached_failures, f"cached reads failed: {cached_failures[:5]}"
    assert not wrong
    assert timeline.recovered("uncached", killed_at) is not None, report
    assert timeline.recovered("write", killed_at) is not None, report
    lost = []
    for name, text in acknowledged:
        try:
            if direct.get(name) != text:
                lost.append(name)
        except SecretNotFound:
            lost.append(name)
    assert not lost, f"acknowledged writes lost: {lost[:5]}"

    # Total outage: every node down. The cache keeps serving (stale-if-error) while
    # uncached reads say BackendUnavailable.
    for node in cluster.nodes:
        node.kill()
    outage_end = time.monotonic() + 2.0  # four cache TTLs: every entry has expired
    while time.monotonic() < outage_end:
        assert cached.get("db-password") == value
        time.sleep(0.1)
    with pytest.raises(BackendUnavailable):
        direct.get("db-password")
