"""Benchmark of nearbyTickets: the SQL floor (psycopg), the full HTTP path, the plan, server RSS.

Run by `make bench` (scripts/bench.sh), which seeds database `redgrid_bench` first. By hand:

    REDGRID_DATABASE=redgrid_bench .venv/bin/python bench/nearby_tickets.py [--queries 2000]

Every configuration uses the same N query points (uniform over the demo area, fixed seed) after
a warm-up on other points. The primary HTTP rows are measured with wrk (bench/_wrk.py), which
cycles through the N points' request bodies for a fixed time; the httpx rows post the same
bodies once each and check every answer against the SQL floor's. Writes
bench/results/nearby_tickets.json and .md and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _db
import _wrk
import httpx
import psycopg
from _context import result_head
from _report import markdown, targets
from _server import (
    OtherCpu,
    bench_target,
    process_cpu_s,
    run_with_server_log,
    start_server,
)
from psycopg.rows import namedtuple_row

from db.queries.tickets import nearest_sql, status_list
from db.vocabulary import OPEN_STATUSES
from geo.projection import METRIC_SCALE_TOLERANCE, to_metric
from resolvers.actor import Role
from web.auth import mint
from web.settings import Settings

CHECKOUT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "redgrid_bench"
OPEN = list(OPEN_STATUSES)
INDEX = "ix_tickets_geom_metric_open"
RADIUS_M = 1000.0
FIRST = 20
K = FIRST + max(8, FIRST // 2)  # what db.queries.tickets.nearest_tickets asks for first
REACH = RADIUS_M * 1.001 + 1
LON = (118.613, 118.701)
LAT = (34.886, 34.950)
CENTRE = (118.657, 34.918)
CONCURRENCIES = (1, 16)
WRK_THREADS = {1: 1, 16: 2}  # wrk threads per concurrency (2 cores)
REQUEST_TIMEOUT_S = 30.0

GRAPHQL = """query NearbyTickets($point: PointInput!) {
  nearbyTickets(point: $point, radiusM: 1000, status: [""" + ", ".join(OPEN) + """],
                first: 20) {
    distanceM
    ticket { code status geometry }
  }
}"""


@dataclass(frozen=True)
class Point:
    lon: float
    lat: float
    x: float
    y: float

    def params(self) -> dict[str, Any]:
        return {"lon": self.lon, "lat": self.lat, "x": self.x, "y": self.y,
                "reach": REACH, "k": K}

    def body(self) -> bytes:
        """The POST /graphql body for this point (compact JSON: one line), sent by wrk and
        httpx alike."""
        return json.dumps({"query": GRAPHQL,
                           "variables": {"point": {"lon": self.lon, "lat": self.lat}}},
                          separators=(",", ":")).encode()


def make_points(n: int, seed: int) -> list[Point]:
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        lon, lat = rng.uniform(*LON), rng.uniform(*LAT)
        x, y = to_metric(lon, lat)
        out.append(Point(lon, lat, x, y))
    return out


def api_sql() -> str:
    """The nearbyTickets SQL exactly as the API hands it to psycopg (pyformat placeholders)."""
    sql = nearest_sql(OPEN)
    if "%(" not in sql:  # SQLAlchemy text() with :name placeholders (the earlier layout)
        from sqlalchemy import text
        from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg

        sql = str(text(sql).compile(dialect=PGDialect_psycopg()))
    return sql


def param_order(sql: str) -> list[str]:
    """Names in the order psycopg numbers them ($1, $2, ...): first appearance."""
    return list(dict.fromkeys(re.findall(r"%\((\w+)\)s", sql)))


def summarise(latencies_s: Sequence[float], wall_s: float) -> dict[str, Any]:
    ms = sorted(v * 1000 for v in latencies_s)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {
        "queries": len(ms), "p50_ms": round(q[49], 3), "p90_ms": round(q[89], 3),
        "p99_ms": round(q[98], 3), "mean_ms": round(statistics.fmean(ms), 3),
        "min_ms": round(ms[0], 3), "max_ms": round(ms[-1], 3), "wall_s": round(wall_s, 3),
        "throughput_rps": round(len(ms) / wall_s, 1),
    }



class CpuMeter:
    """CPU milliseconds per operation spent by this process and, optionally, another one."""

    def __init__(self, server_pid: int | None = None) -> None:
        self.server_pid = server_pid
        self.client0 = time.process_time()
        self.server0 = process_cpu_s(server_pid) if server_pid else None

    def per_op(self, n: int) -> dict[str, float | None]:
        client = (time.process_time() - self.client0) * 1000 / n
        server = None
        if self.server_pid and self.server0 is not None:
            now = process_cpu_s(self.server_pid)
            server = None if now is None else round((now - self.server0) * 1000 / n, 3)
        return {"client_cpu_ms_per_req": round(client, 3), "server_cpu_ms_per_req": server}


async def run_workers(n: int, concurrency: int, one: Callable[[int, int], Awaitable[None]],
                      *, split: bool = False) -> tuple[list[float], float]:
    """Runs one(worker, i) for i in range(n) over `concurrency` workers; per-call latencies.

    Workers take the next index as they become free; with `split`, worker w takes exactly
    w, w + concurrency, ... (the warm-up, so that every connection gets its share)."""
    lat = [0.0] * n
    shared = iter(range(n))

    async def worker(w: int) -> None:
        for i in range(w, n, concurrency) if split else shared:
            t0 = time.perf_counter()
            await one(w, i)
            lat[i] = time.perf_counter() - t0

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return lat, time.perf_counter() - t0


# --------------------------------------------------------------------------- the SQL floor

def expected_hits(rows: Sequence[Any]) -> tuple[list[str], bool]:
    """What the resolver keeps of the k rows (codes), and whether it would query again."""
    hits = sorted((r for r in rows if r.distance_m <= RADIUS_M),
                  key=lambda r: (r.distance_m, r.code))[:FIRST]
    again = False
    if len(rows) >= K:
        floor = rows[-1].dp * (1 - METRIC_SCALE_TOLERANCE)
        proven = len(hits) == FIRST and hits[-1].distance_m < floor
        again = not proven and floor <= RADIUS_M
    return [r.code for r in hits], again


async def floor_run(conninfo: str, sql: str, points: list[Point], warmup: list[Point],
                    concurrency: int) -> dict[str, Any]:
    """The API's SQL straight through psycopg 3, one connection per worker, set up like the
    API's pool (autocommit, prepared from the 2nd run, named-tuple rows)."""
    conns: list[psycopg.AsyncConnection[Any]] = [await psycopg.AsyncConnection.connect(
        conninfo, prepare_threshold=1, autocommit=True, row_factory=namedtuple_row,
        options="-c statement_timeout=30000")
        for _ in range(concurrency)]
    results: list[list[Any]] = [[] for _ in points]
    try:
        async def one(w: int, i: int, pts: list[Point] = points, keep: bool = True) -> None:
            cur = await conns[w].execute(sql, pts[i].params())
            rows = await cur.fetchall()
            if keep:
                results[i] = rows

        async def warm(w: int, i: int) -> None:
            await one(w, i, warmup, False)

        await run_workers(len(warmup), concurrency, warm, split=True)
        meter, other = CpuMeter(), OtherCpu(conninfo)
        lat, wall = await run_workers(len(points), concurrency, one)
        cpu = meter.per_op(len(points))
        cpu["other_cpu_pct"] = other.pct_of_one_core()
        plans = []
        for conn in conns:
            cur = await conn.execute(
                "SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                "WHERE statement LIKE '%geom_metric <->%' "
                "AND statement NOT LIKE '%pg_prepared_statements%'", prepare=False)
            plans.extend(await cur.fetchall())
    finally:
        for conn in conns:
            await conn.close()
    out = summarise(lat, wall)
    out["concurrency"] = concurrency
    out["connections"] = concurrency
    out.update(cpu)
    out["prepared_statement_plans"] = {"generic": sum(p.generic_plans for p in plans),
                                       "custom": sum(p.custom_plans for p in plans)}
    out["_rows"] = results
    return out


# --------------------------------------------------------------------------- EXPLAIN

def explain(conninfo: str, sql: str, point: Point, repeats: int = 5) -> dict[str, Any]:
    """EXPLAIN (ANALYZE, BUFFERS) at one point: as a one-off statement (custom plan, the API's
    first call on a connection) and as the API's prepared statement after 10 runs (where
    PostgreSQL may have switched to a generic plan)."""
    params = point.params()
    out: dict[str, Any] = {"point": {"lon": point.lon, "lat": point.lat}, "params": params}
    with psycopg.connect(conninfo, autocommit=True, prepare_threshold=0) as conn:
        out["plan_cache_mode"] = _db.one(conn.execute("SHOW plan_cache_mode"))[0]
        runs = []
        for _ in range(repeats):
            rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params,
                                prepare=False).fetchall()
            runs.append("\n".join(r[0] for r in rows))
        out["one_off"] = _plan_summary(runs)

        for _ in range(10):
            conn.execute(sql, params).fetchall()
        name, types = _db.one(conn.execute(
            "SELECT name, parameter_types::text[] FROM pg_prepared_statements "
            "WHERE statement LIKE '%geom_metric <->%' "
            "AND statement NOT LIKE '%pg_prepared_statements%'", prepare=False))
        args = ", ".join(repr(params[k]) for k in param_order(sql))
        runs = []
        for _ in range(repeats):
            rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE {name}({args})",
                                prepare=False).fetchall()
            runs.append("\n".join(r[0] for r in rows))
        gp, cp = _db.one(conn.execute("SELECT generic_plans, custom_plans "
                                      "FROM pg_prepared_statements WHERE name = %s", (name,),
                                      prepare=False))
        out["prepared"] = _plan_summary(runs)
        out["prepared"].update({"parameter_types": types, "generic_plans": gp,
                                "custom_plans": cp, "generic_plan_used": "$3" in runs[-1]})
    return out


def _plan_summary(runs: list[str]) -> dict[str, Any]:
    def ms(plan: str, label: str) -> float:
        line = next(x for x in plan.splitlines() if x.strip().startswith(label))
        return float(line.split(":")[1].split()[0])

    execution = [ms(p, "Execution Time") for p in runs]
    planning = [ms(p, "Planning Time") for p in runs if "Planning Time" in p]
    return {
        "execution_ms_runs": execution,
        "execution_ms_median": round(statistics.median(execution), 3),
        "planning_ms_median": round(statistics.median(planning), 3) if planning else None,
        "uses_index": INDEX in runs[-1],
        # The fast plan: ordered (KNN) scan of the index, stopping after k rows.
        "knn_index_scan": f"Index Scan using {INDEX}" in runs[-1] and "Order By:" in runs[-1],
        "plan": runs[-1],
    }


# --------------------------------------------------------------------------- the HTTP path


async def http_run(base: str, conninfo: str, points: list[Point], warmup: list[Point],
                   concurrency: int, server_pid: int | None = None, *,
                   healthz: bool = False, token: str | None = None) -> dict[str, Any]:
    """POST /graphql with one keep-alive httpx AsyncClient (one connection) per worker: each
    point once, the same body bytes as wrk's, and every response kept for the check.

    With `healthz`, GET /healthz instead: the cost of the HTTP stack alone (client included)."""
    clients = [httpx.AsyncClient(
        base_url=base, http1=True, http2=False, trust_env=False, timeout=REQUEST_TIMEOUT_S,
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1))
        for _ in range(concurrency)]
    bodies: list[bytes] = [b""] * len(points)
    try:
        async def post(w: int, p: Point) -> bytes:
            if healthz:
                r = await clients[w].get("/healthz")
            else:
                headers = {"content-type": "application/json"}
                if token:
                    headers["authorization"] = f"Bearer {token}"
                r = await clients[w].post("/graphql", content=p.body(), headers=headers)
            if r.status_code != 200:
                raise RuntimeError(f"HTTP {r.status_code}: {r.text[:500]}")
            return r.content

        async def warm(w: int, i: int) -> None:
            await post(w, warmup[i])

        async def one(w: int, i: int) -> None:
            bodies[i] = await post(w, points[i])

        await run_workers(len(warmup), concurrency, warm, split=True)
        meter, other = CpuMeter(server_pid), OtherCpu(conninfo, server_pid)
        lat, wall = await run_workers(len(points), concurrency, one)
        cpu = meter.per_op(len(points))
        cpu["other_cpu_pct"] = other.pct_of_one_core()
    finally:
        for c in clients:
            await c.aclose()
    out = {"client": "httpx", **summarise(lat, wall)}
    out.update(cpu)
    out["concurrency"] = concurrency
    out["connections"] = concurrency
    out["_bodies"] = bodies
    return out


def wrk_run(base: str, conninfo: str, path: str, concurrency: int, bodies: Path | None,
            warm_bodies: Path | None, args: argparse.Namespace,
            server_pid: int, token: str | None = None) -> dict[str, Any]:
    """A warm-up wrk run (on the warm-up points), then the timed one (on the N points)."""
    threads = WRK_THREADS[concurrency]
    if args.wrk_warmup > 0:
        warm = _wrk.run(base + path, threads=threads, connections=concurrency,
                        duration_s=args.wrk_warmup, bodies=warm_bodies, server_pid=server_pid,
                        token=token)
        if not _wrk.clean(warm["check"]):
            raise RuntimeError(f"wrk warm-up run failed its checks: {warm['check']}\n"
                               f"{warm['wrk']['output']}")
    other = OtherCpu(conninfo, server_pid)
    out = _wrk.run(base + path, threads=threads, connections=concurrency,
                   duration_s=args.wrk_duration, bodies=bodies, server_pid=server_pid,
                   token=token)
    out["other_cpu_pct"] = other.pct_of_one_core()
    out["warmup_s"] = args.wrk_warmup
    if bodies is not None:
        out["points_cycled"] = args.queries
        out["passes_over_points"] = round(out["queries"] / args.queries, 2)
    return out


def check_bodies(bodies: list[bytes], expected: list[list[str] | None]) -> dict[str, Any]:
    """Errors, and answers that differ from the floor's rows (None: the API asks again there,
    with a larger k, so the floor's first answer is not comparable)."""
    errors = mismatches = hits = 0
    first_error = None
    for body, want in zip(bodies, expected, strict=True):
        doc = json.loads(body)
        if doc.get("errors"):
            errors += 1
            first_error = first_error or doc["errors"][0]
            continue
        got = [h["ticket"]["code"] for h in doc["data"]["nearbyTickets"]]
        hits += len(got)
        mismatches += want is not None and got != want
    return {"responses_with_errors": errors, "first_error": first_error,
            "results_differing_from_floor": mismatches,
            "mean_hits": round(hits / max(1, len(bodies) - errors), 2)}


# --------------------------------------------------------------------------- context

def dataset(conninfo: str) -> dict[str, Any]:
    with psycopg.connect(conninfo) as conn:
        total, open_ = _db.one(conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status IN "
            f"{status_list(OPEN)}) FROM tickets"))
        size = _db.one(conn.execute("SELECT pg_size_pretty(pg_total_relation_size('tickets')), "
                                    f"pg_size_pretty(pg_relation_size('{INDEX}'))"))
        name = _db.one(conn.execute("SELECT current_database()"))[0]
    return {"database": name, "tickets": total, "open_tickets": open_,
            "tickets_total_size": size[0], "open_index_size": size[1]}


# --------------------------------------------------------------------------- main

async def measure(args: argparse.Namespace, conninfo: str, env: dict[str, str],
                  res: dict[str, Any], tmp: Path) -> None:
    sql = api_sql()
    points = make_points(args.queries, args.seed)
    warmup = make_points(args.warmup, args.seed + 1)

    print(f"EXPLAIN (ANALYZE, BUFFERS) at the county seat centre {CENTRE}", file=sys.stderr)
    res["explain"] = explain(conninfo, sql, make_points_at(*CENTRE))

    runs = res["runs"]
    expected: list[list[str] | None] = []
    for conc in CONCURRENCIES:
        print(f"SQL floor, concurrency {conc}", file=sys.stderr)
        r = await floor_run(conninfo, sql, points, warmup, conc)
        rows = r.pop("_rows")
        if conc == 1:
            kept = [expected_hits(x) for x in rows]
            expected = [None if again else codes for codes, again in kept]
            res["floor_rows"] = {
                "mean_rows": round(statistics.fmean(len(x) for x in rows), 2),
                "points_with_k_rows": sum(len(x) >= K for x in rows),
                "mean_hits": round(statistics.fmean(len(c) for c, _ in kept), 2),
                "points_where_api_queries_again": sum(again for _, again in kept),
            }
        runs.append({"kind": "floor", **r})

    bodies = _wrk.write_bodies(tmp / "bodies.txt", (p.body() for p in points))
    warm_bodies = _wrk.write_bodies(tmp / "warmup-bodies.txt", (p.body() for p in warmup))

    # Tickets are visible only within a caller's scope: the county office sees them all, so
    # the API runs the same SQL as the floor (no scope condition), token check included.
    token = mint(Settings.from_env(env).jwt_secret, subject="bench", role=Role.COUNTY_OFFICE, scopes=[])
    res["caller"] = "COUNTY_OFFICE bearer token (HS256 verified on every request)"
    server, sampler = start_server(env, tmp, res)
    pid = server.proc.pid
    try:
        server.wait_ready()
        sampler.mark("ready")
        # The primary HTTP rows: wrk, a few microseconds of client CPU per request.
        print(f"wrk GET /healthz, concurrency 1 ({args.wrk_warmup:g} + {args.wrk_duration:g} s)",
              file=sys.stderr)
        r = wrk_run(server.base, conninfo, "/healthz", 1, None, None, args, pid)
        runs.append({"kind": "healthz_wrk", **r})
        for conc in CONCURRENCIES:
            print(f"wrk POST /graphql, concurrency {conc} "
                  f"({args.wrk_warmup:g} + {args.wrk_duration:g} s)", file=sys.stderr)
            r = wrk_run(server.base, conninfo, "/graphql", conc, bodies, warm_bodies, args, pid,
                        token)
            sampler.mark(f"after_wrk_c{conc}")
            runs.append({"kind": "http_wrk", **r})
        # References through a Python client (httpx), which also check every answer.
        print("httpx GET /healthz, concurrency 1 (reference)", file=sys.stderr)
        r = await http_run(server.base, conninfo, points, warmup, 1, pid, healthz=True)
        r.pop("_bodies")
        runs.append({"kind": "healthz_httpx", **r})
        for conc in CONCURRENCIES:
            print(f"httpx POST /graphql, concurrency {conc} (reference, checked)",
                  file=sys.stderr)
            r = await http_run(server.base, conninfo, points, warmup, conc, pid, token=token)
            r["check"] = check_bodies(r.pop("_bodies"), expected)
            sampler.mark(f"after_httpx_c{conc}")
            runs.append({"kind": "http_httpx", **r})
    finally:
        res["server_rss"] = sampler.stop()
        res["server"]["exit_code"] = server.stop()


def make_points_at(lon: float, lat: float) -> Point:
    x, y = to_metric(lon, lat)
    return Point(lon, lat, x, y)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=2000, help="query points per configuration")
    ap.add_argument("--warmup", type=int, default=200, help="warm-up queries per configuration")
    ap.add_argument("--seed", type=int, default=20240601, help="random seed of the points")
    ap.add_argument("--out", type=Path, default=CHECKOUT / "bench" / "results")
    ap.add_argument("--seed-results", type=Path, default=CHECKOUT / "bench/results/seed.json",
                    help="the seed's time and memory, written by scripts/bench.sh")
    ap.add_argument("--wrk-duration", type=float, default=10.0,
                    help="seconds of each timed wrk run")
    ap.add_argument("--wrk-warmup", type=float, default=2.0,
                    help="seconds of the wrk warm-up run before each timed one (0: none)")
    args = ap.parse_args()
    if not 1 <= args.queries <= 100_000 or not 0 <= args.warmup <= 10_000:
        ap.error("--queries must be 1..100000 and --warmup 0..10000")
    if not 1 <= args.wrk_duration <= 600 or not 0 <= args.wrk_warmup <= 600:
        ap.error("--wrk-duration must be 1..600 s and --wrk-warmup 0..600 s")
    if args.warmup == 0 and args.wrk_warmup > 0:
        ap.error("--wrk-warmup needs warm-up points (--warmup > 0)")

    env, settings, conninfo = bench_target(BENCH_DATABASE)

    res: dict[str, Any] = {
        **result_head("nearbyTickets", conninfo, dataset(conninfo), expect_tickets=1_000_000),
        "configuration": {
            "queries": args.queries, "warmup": args.warmup, "seed": args.seed,
            "area": {"lon": LON, "lat": LAT}, "radius_m": RADIUS_M, "first": FIRST, "k": K,
            "statuses": OPEN, "concurrency": list(CONCURRENCIES), "index": INDEX,
            "wrk_duration_s": args.wrk_duration, "wrk_warmup_s": args.wrk_warmup,
            "wrk_threads": {str(c): t for c, t in WRK_THREADS.items()},
            "wrk_script": "bench/wrk_cycle.lua", "graphql": GRAPHQL,
            "sql": api_sql(), "server_pool_size": settings.pool_size,
        },
        "runs": [],
    }
    if args.seed_results.exists():
        res["seed"] = json.loads(args.seed_results.read_text(encoding="utf-8"))

    args.out.mkdir(parents=True, exist_ok=True)
    run_with_server_log("redgrid-bench-", res, lambda tmp: asyncio.run(
        measure(args, conninfo, env, res, tmp)))
    targets(res)

    table = markdown(res)
    (args.out / "nearby_tickets.json").write_text(
        json.dumps(res, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (args.out / "nearby_tickets.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
