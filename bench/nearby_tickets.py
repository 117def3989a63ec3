"""Benchmark of nearbyTickets: the SQL floor (psycopg), the full HTTP path, the plan, server RSS.

Run by `make bench` (scripts/bench.sh), which seeds database `redgrid_bench` first. By hand:

    REDGRID_DATABASE=redgrid_bench .venv/bin/python bench/nearby_tickets.py [--queries 2000]

Every configuration runs the same N query points (uniform over the demo area, fixed seed) after
a warm-up on other points. Writes bench/results/nearby_tickets.json and .md and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import httpx
import psycopg
from _db import conninfo as configured_conninfo
from psycopg.rows import namedtuple_row

from db.queries.tickets import nearest_sql
from geo.projection import METRIC_SCALE_TOLERANCE, to_metric
from web.settings import Settings

CHECKOUT = Path(__file__).resolve().parent.parent
BENCH_DATABASE = "redgrid_bench"
OPEN = ["SUBMITTED", "DISPATCHED", "IN_PROGRESS"]
INDEX = "ix_tickets_geom_metric_open"
RADIUS_M = 1000.0
FIRST = 20
K = FIRST + max(8, FIRST // 2)  # what db.queries.tickets.nearest_tickets asks for first
REACH = RADIUS_M * 1.001 + 1
LON = (118.613, 118.701)
LAT = (34.886, 34.950)
CENTRE = (118.657, 34.918)
CONCURRENCIES = (1, 16)
REQUEST_TIMEOUT_S = 30.0

# Targets (see bench/README.md).
HTTP_RATIO_MAX = 3.0
HTTP_OVERHEAD_MAX_MS = 1.5
SQL_MAX_MS = 0.5
RSS_MAX_MB = 400.0

GRAPHQL = """query NearbyTickets($point: PointInput!) {
  nearbyTickets(point: $point, radiusM: 1000, status: [SUBMITTED, DISPATCHED, IN_PROGRESS],
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


def process_cpu_s(pid: int) -> float | None:
    """User + system CPU seconds of a process, from /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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
    conns = [await psycopg.AsyncConnection.connect(
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
        meter = CpuMeter()
        lat, wall = await run_workers(len(points), concurrency, one)
        cpu = meter.per_op(len(points))
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
        out["plan_cache_mode"] = conn.execute("SHOW plan_cache_mode").fetchone()[0]
        runs = []
        for _ in range(repeats):
            rows = conn.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params,
                                prepare=False).fetchall()
            runs.append("\n".join(r[0] for r in rows))
        out["one_off"] = _plan_summary(runs)

        for _ in range(10):
            conn.execute(sql, params).fetchall()
        name, types = conn.execute(
            "SELECT name, parameter_types::text[] FROM pg_prepared_statements "
            "WHERE statement LIKE '%geom_metric <->%' "
            "AND statement NOT LIKE '%pg_prepared_statements%'", prepare=False).fetchone()
        args = ", ".join(repr(params[k]) for k in param_order(sql))
        runs = []
        for _ in range(repeats):
            rows = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS) EXECUTE {name}({args})",
                                prepare=False).fetchall()
            runs.append("\n".join(r[0] for r in rows))
        gp, cp = conn.execute("SELECT generic_plans, custom_plans FROM pg_prepared_statements "
                              "WHERE name = %s", (name,), prepare=False).fetchone()
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

class RssSampler:
    """VmRSS of one process, read from /proc every `interval` seconds in a thread."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self.pid, self.interval = pid, interval
        self.samples: list[tuple[float, int]] = []
        self.marks: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._t0 = time.monotonic()

    def read_kb(self) -> int | None:
        try:
            with open(f"/proc/{self.pid}/status", encoding="ascii") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except (FileNotFoundError, ProcessLookupError):
            return None
        return None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            kb = self.read_kb()
            if kb is None:
                return
            self.samples.append((time.monotonic() - self._t0, kb))

    def start(self) -> None:
        self._thread.start()

    def mark(self, label: str) -> None:
        kb = self.read_kb()
        if kb is not None:
            self.marks[label] = kb

    def stop(self) -> dict[str, Any]:
        final = self.read_kb()
        self._stop.set()
        self._thread.join(timeout=5)
        if final is not None:
            self.samples.append((time.monotonic() - self._t0, final))
        kbs = [kb for _, kb in self.samples]
        return {
            "interval_s": self.interval, "samples": len(kbs),
            "max_mb": round(max(kbs) / 1024, 1) if kbs else None,
            "final_mb": round(kbs[-1] / 1024, 1) if kbs else None,
            "marks_mb": {k: round(v / 1024, 1) for k, v in self.marks.items()},
        }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """`redgrid serve` on a free loopback port, stopped by PID whatever happens."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = open(log_path, "w", encoding="utf-8")  # noqa: SIM115 - closed in stop()
        exe = Path(sys.executable).parent / "redgrid"
        self.proc = subprocess.Popen(
            [str(exe), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=CHECKOUT, env=env, stdout=self.log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True)

    def wait_ready(self, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        with httpx.Client(base_url=self.base, trust_env=False, timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"redgrid serve exited with {self.proc.returncode}; "
                                       f"see {self.log.name}")
                try:
                    if client.get("/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"redgrid serve not ready after {timeout_s} s; see {self.log.name}")

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()
        return self.proc.returncode


async def http_run(base: str, points: list[Point], warmup: list[Point], concurrency: int,
                   server_pid: int | None = None, *, healthz: bool = False) -> dict[str, Any]:
    """POST /graphql with one keep-alive httpx AsyncClient (one connection) per worker.

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
                r = await clients[w].post("/graphql", json={
                    "query": GRAPHQL, "variables": {"point": {"lon": p.lon, "lat": p.lat}}})
            if r.status_code != 200:
                raise RuntimeError(f"HTTP {r.status_code}: {r.text[:500]}")
            return r.content

        async def warm(w: int, i: int) -> None:
            await post(w, warmup[i])

        async def one(w: int, i: int) -> None:
            bodies[i] = await post(w, points[i])

        await run_workers(len(warmup), concurrency, warm, split=True)
        meter = CpuMeter(server_pid)
        lat, wall = await run_workers(len(points), concurrency, one)
        cpu = meter.per_op(len(points))
    finally:
        for c in clients:
            await c.aclose()
    out = summarise(lat, wall)
    out.update(cpu)
    out["concurrency"] = concurrency
    out["connections"] = concurrency
    out["_bodies"] = bodies
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

def machine() -> dict[str, Any]:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = next(int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines()
                      if x.startswith("MemTotal:"))
    except (OSError, StopIteration):
        mem_kb = 0
    return {"cpu": cpu, "cores": os.cpu_count(), "ram_gb": round(mem_kb / 1024 / 1024, 1),
            "kernel": platform.release(), "loadavg_start": os.getloadavg()}


def versions(conninfo: str) -> dict[str, Any]:
    out: dict[str, Any] = {"python": platform.python_version()}
    with psycopg.connect(conninfo) as conn:
        out["postgresql"] = conn.execute("SHOW server_version").fetchone()[0]
        out["postgis"] = conn.execute("SELECT postgis_lib_version()").fetchone()[0]
        out["geos"] = conn.execute("SELECT postgis_geos_version()").fetchone()[0]
    for dist in ("strawberry-graphql", "graphql-core", "starlette", "uvicorn", "h11", "uvloop",
                 "httptools", "orjson", "sqlalchemy", "psycopg", "psycopg-binary", "psycopg-pool",
                 "httpx"):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[dist] = None
    return out


def dataset(conninfo: str) -> dict[str, Any]:
    with psycopg.connect(conninfo) as conn:
        total, open_ = conn.execute(
            "SELECT count(*), count(*) FILTER (WHERE status IN "
            "('SUBMITTED', 'DISPATCHED', 'IN_PROGRESS')) FROM tickets").fetchone()
        size = conn.execute("SELECT pg_size_pretty(pg_total_relation_size('tickets')), "
                            f"pg_size_pretty(pg_relation_size('{INDEX}'))").fetchone()
        name = conn.execute("SELECT current_database()").fetchone()[0]
    return {"database": name, "tickets": total, "open_tickets": open_,
            "tickets_total_size": size[0], "open_index_size": size[1]}


# --------------------------------------------------------------------------- report

def fmt(v: float | None, digits: int = 3) -> str:
    return "n/a" if v is None else f"{v:.{digits}f}"


def markdown(res: dict[str, Any]) -> str:
    m, v, d, c = res["machine"], res["versions"], res["dataset"], res["configuration"]
    lines = [
        f"nearbyTickets benchmark, {res['date']}: {d['tickets']:,} tickets "
        f"({d['open_tickets']:,} open), {c['queries']:,} random points per configuration "
        f"(seed {c['seed']}) after {c['warmup']} warm-up queries; radius {RADIUS_M:.0f} m, "
        f"first {FIRST}.",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gb']} GB RAM. Python {v['python']}, "
        f"PostgreSQL {v['postgresql']}, PostGIS {v['postgis']}.",
        "",
        "| configuration | concurrency | p50 ms | p99 ms | mean ms | req/s "
        "| client CPU ms/req | server CPU ms/req |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    labels = {
        "floor": "SQL floor (psycopg 3, prepared)",
        "http": "HTTP POST /graphql (full path)",
        "http_healthz": "HTTP GET /healthz (HTTP stack only, reference)",
    }
    for r in res["runs"]:
        lines.append(f"| {labels[r['kind']]} | {r['concurrency']} | {fmt(r['p50_ms'])} | "
                     f"{fmt(r['p99_ms'])} | {fmt(r['mean_ms'])} | {r['throughput_rps']:,.0f} | "
                     f"{fmt(r.get('client_cpu_ms_per_req'), 2)} | "
                     f"{fmt(r.get('server_cpu_ms_per_req'), 2)} |")
    lines += ["", "| target | measured | limit | result |", "| --- | ---: | ---: | --- |"]
    for t in res["targets"]:
        lines.append(f"| {t['name']} | {t['measured']} | {t['limit']} | "
                     f"{'PASS' if t['pass'] else 'FAIL'} |")
    lines += [
        "",
        f"HTTP p50 / floor p50 at concurrency 1: {res['ratios']['http_over_floor_p50_c1']:.2f}x; "
        f"at 16: {res['ratios']['http_over_floor_p50_c16']:.2f}x. "
        f"SQL execution at the centre point (EXPLAIN ANALYZE, median of 5): one-off "
        f"{res['explain']['one_off']['execution_ms_median']:.3f} ms, prepared "
        f"{res['explain']['prepared']['execution_ms_median']:.3f} ms. "
        f"Server RSS: max {fmt(res['server_rss']['max_mb'], 1)} MB, "
        f"final {fmt(res['server_rss']['final_mb'], 1)} MB.",
    ]
    seed = res.get("seed")
    if seed:
        lines.append(f"Seed of {seed['bulk']['tickets']:,} bulk tickets ({seed['date']}): "
                     f"{seed['bulk']['wall_s']:.0f} s, peak RSS {seed['bulk']['max_rss_mb']:.0f} MB"
                     f" (demo data: {seed['demo']['wall_s']:.1f} s).")
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- main

async def measure(args: argparse.Namespace, conninfo: str, env: dict[str, str],
                  res: dict[str, Any], log_path: Path) -> None:
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

    print("starting redgrid serve", file=sys.stderr)
    server = Server(env, log_path)
    res["server"] = {"pid": server.proc.pid, "base_url": server.base}
    sampler = RssSampler(server.proc.pid)
    try:
        sampler.start()
        server.wait_ready()
        sampler.mark("ready")
        print("HTTP GET /healthz, concurrency 1 (reference)", file=sys.stderr)
        r = await http_run(server.base, points, warmup, 1, server.proc.pid, healthz=True)
        r.pop("_bodies")
        runs.append({"kind": "http_healthz", **r})
        for conc in CONCURRENCIES:
            print(f"HTTP, concurrency {conc}", file=sys.stderr)
            r = await http_run(server.base, points, warmup, conc, server.proc.pid)
            r["check"] = check_bodies(r.pop("_bodies"), expected)
            sampler.mark(f"after_http_c{conc}")
            runs.append({"kind": "http", **r})
    finally:
        res["server_rss"] = sampler.stop()
        res["server"]["exit_code"] = server.stop()


def make_points_at(lon: float, lat: float) -> Point:
    x, y = to_metric(lon, lat)
    return Point(lon, lat, x, y)


def targets(res: dict[str, Any]) -> None:
    by = {(r["kind"], r["concurrency"]): r for r in res["runs"]}
    f1, h1 = by[("floor", 1)]["p50_ms"], by[("http", 1)]["p50_ms"]
    f16, h16 = by[("floor", 16)]["p50_ms"], by[("http", 16)]["p50_ms"]
    limit = max(HTTP_RATIO_MAX * f1, f1 + HTTP_OVERHEAD_MAX_MS)
    one, prep = res["explain"]["one_off"], res["explain"]["prepared"]
    rss = res["server_rss"]["max_mb"]
    errors = sum(r.get("check", {}).get("responses_with_errors", 0) for r in res["runs"])
    differ = sum(r.get("check", {}).get("results_differing_from_floor", 0) for r in res["runs"])
    res["ratios"] = {"http_over_floor_p50_c1": round(h1 / f1, 2),
                     "http_over_floor_p50_c16": round(h16 / f16, 2),
                     "http_minus_floor_p50_c1_ms": round(h1 - f1, 3)}

    def plan_name(p: dict[str, Any]) -> str:
        if p["knn_index_scan"]:
            return f"KNN Index Scan on {INDEX}"
        return "other (" + ("uses" if p["uses_index"] else "without") + f" {INDEX})"

    res["targets"] = [
        {"name": "HTTP p50, concurrency 1", "measured": f"{h1:.3f} ms",
         "limit": f"≤ max(3 × {f1:.3f}, {f1:.3f} + 1.5) = {limit:.3f} ms", "pass": h1 <= limit},
        {"name": "SQL execution, one-off statement (custom plan: a new connection's first runs)",
         "measured": f"{one['execution_ms_median']:.3f} ms", "limit": f"< {SQL_MAX_MS} ms",
         "pass": one["execution_ms_median"] < SQL_MAX_MS},
        {"name": "SQL execution, prepared after 10 runs (generic plan: the steady state)",
         "measured": f"{prep['execution_ms_median']:.3f} ms", "limit": f"< {SQL_MAX_MS} ms",
         "pass": prep["execution_ms_median"] < SQL_MAX_MS},
        {"name": "plan, one-off statement", "measured": plan_name(one),
         "limit": f"KNN Index Scan on {INDEX}", "pass": one["knn_index_scan"]},
        {"name": "plan, prepared statement", "measured": plan_name(prep),
         "limit": f"KNN Index Scan on {INDEX}", "pass": prep["knn_index_scan"]},
        {"name": "server RSS (max)", "measured": f"{rss:.1f} MB" if rss else "n/a",
         "limit": f"< {RSS_MAX_MB:.0f} MB", "pass": rss is not None and rss < RSS_MAX_MB},
        {"name": "GraphQL responses: errors / tickets differing from the SQL floor's",
         "measured": f"{errors} / {differ}", "limit": "0 / 0",
         "pass": errors == 0 and differ == 0},
    ]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=2000, help="query points per configuration")
    ap.add_argument("--warmup", type=int, default=200, help="warm-up queries per configuration")
    ap.add_argument("--seed", type=int, default=20240601, help="random seed of the points")
    ap.add_argument("--out", type=Path, default=CHECKOUT / "bench" / "results")
    ap.add_argument("--seed-results", type=Path, default=CHECKOUT / "bench/results/seed.json",
                    help="the seed's time and memory, written by scripts/bench.sh")
    args = ap.parse_args()
    if not 1 <= args.queries <= 100_000 or not 0 <= args.warmup <= 10_000:
        ap.error("--queries must be 1..100000 and --warmup 0..10000")

    env = dict(os.environ)
    if not env.get("DATABASE_URL") and not env.get("REDGRID_DATABASE"):
        env["REDGRID_DATABASE"] = BENCH_DATABASE
    settings = Settings.from_env(env)
    conninfo = configured_conninfo(settings)

    res: dict[str, Any] = {
        "benchmark": "nearbyTickets",
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(), "versions": versions(conninfo), "dataset": dataset(conninfo),
        "configuration": {
            "queries": args.queries, "warmup": args.warmup, "seed": args.seed,
            "area": {"lon": LON, "lat": LAT}, "radius_m": RADIUS_M, "first": FIRST, "k": K,
            "statuses": OPEN, "concurrency": list(CONCURRENCIES), "graphql": GRAPHQL,
            "sql": api_sql(), "server_pool_size": settings.pool_size,
        },
        "runs": [],
    }
    if args.seed_results.exists():
        res["seed"] = json.loads(args.seed_results.read_text(encoding="utf-8"))
    if res["dataset"]["tickets"] < 1_000_000:
        print(f"warning: only {res['dataset']['tickets']:,} tickets (run `make bench` to seed "
              "1,000,000)", file=sys.stderr)

    # SIGTERM/SIGHUP end the run through the finally blocks (the server is stopped by PID).
    def _terminate(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="redgrid-bench-") as tmp:
        log_path = Path(tmp) / "server.log"
        try:
            asyncio.run(measure(args, conninfo, env, res, log_path))
        finally:
            if log_path.exists():
                tail = log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-20:]
                res["server_log_tail"] = tail
    res["machine"]["loadavg_end"] = os.getloadavg()
    targets(res)

    table = markdown(res)
    (args.out / "nearby_tickets.json").write_text(
        json.dumps(res, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (args.out / "nearby_tickets.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
