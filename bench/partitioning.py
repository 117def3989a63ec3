"""The province layout of docs/scaling.md at scale: tickets partitioned by county and month.

Creates database `redgrid_bench_province` in the embedded cluster (or DATABASE_URL's server),
the layout of docs/scaling/partitioned_tickets.sql with COUNTIES counties × 12 months, loads
`--tickets` tickets (default 10,000,000) spread over them, then times and explains:

- one county and one month: `count(*)` (partitions read, milliseconds);
- the 20 nearest open tickets of one county to a point (partitions and indexes read, ms).

Writes bench/results/partitioning.json and .md. By hand:

    REDGRID_ENV=development .venv/bin/python bench/partitioning.py [--tickets 10000000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from _context import machine
from _db import conninfo as configured_conninfo
from _db import server_conninfo

from db.queries.tickets import status_list
from db.vocabulary import OPEN_STATUSES, TICKET_STATUSES, TicketStatus
from web.settings import Settings

CHECKOUT = Path(__file__).resolve().parent.parent
DDL = CHECKOUT / "docs" / "scaling" / "partitioned_tickets.sql"
DATABASE = "redgrid_bench_province"
COUNTIES = ("371329", "371321", "371322", "371323", "371324", "371325", "371326", "371327",
            "371328", "371302")
MONTHS = 12
BATCH = 500_000
# The tickets' statuses in turn: the workflow's path, rejections aside.
LOADED_STATUSES = [s for s in TICKET_STATUSES if s != TicketStatus.REJECTED]
LOAD = """
INSERT INTO province_tickets (county_code, code, status, item_code, cell_code, created_at, geom,
                              geom_metric)
SELECT %(county)s::text, 'T' || %(county)s::text || '-' || g,
       (%(statuses)s::text[])[1 + g %% cardinality(%(statuses)s::text[])],
       'P' || lpad((1 + g %% 46)::text, 2, '0'),
       %(county)s::text || lpad((g %% 999)::text, 9, '0'),
       '2024-01-01'::timestamptz + (g %% 365) * interval '1 day' + (g %% 86400) * interval '1 s',
       p, ST_Transform(p, 4549)
FROM generate_series(%(start)s::bigint, %(stop)s::bigint) g,
     LATERAL (SELECT ST_SetSRID(ST_MakePoint(%(lon)s + (g %% 3000) * 3e-5,
                                             34.8 + (g / 3000 %% 3000) * 3e-5), 4326) AS p) x
"""
COUNT = ("SELECT count(*) FROM province_tickets WHERE county_code = %(c)s "
         "AND created_at >= '2024-03-01' AND created_at < '2024-04-01'")
NEAREST = """SELECT code FROM province_tickets
WHERE county_code = %(c)s AND status IN """ + status_list(OPEN_STATUSES) + """
ORDER BY geom_metric <-> ST_Transform(ST_SetSRID(ST_MakePoint(%(lon)s, 34.83), 4326), 4549)
LIMIT 20"""


def walk(node: dict[str, Any], key: str) -> set[str]:
    found = {node[key]} if key in node else set()
    for child in node.get("Plans", []):
        found |= walk(child, key)
    return found


def timed(conn: psycopg.Connection[Any], sql: str, params: dict[str, Any],
          runs: int = 50) -> dict[str, Any]:
    for _ in range(5):
        conn.execute(sql, params).fetchall()
    ms = []
    for _ in range(runs):
        t0 = time.perf_counter()
        conn.execute(sql, params).fetchall()
        ms.append((time.perf_counter() - t0) * 1000)
    row = conn.execute("EXPLAIN (FORMAT JSON) " + sql, params).fetchone()
    assert row is not None
    plan = row[0][0]["Plan"]
    return {"p50_ms": round(statistics.median(ms), 3), "min_ms": round(min(ms), 3),
            "partitions": len(walk(plan, "Relation Name")),
            "indexes": sorted(walk(plan, "Index Name"))[:3],
            "seq_scan": '"Seq Scan"' in json.dumps(plan)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tickets", type=int, default=10_000_000)
    ap.add_argument("--out", type=Path, default=CHECKOUT / "bench" / "results")
    args = ap.parse_args()
    settings = Settings.from_env({**__import__("os").environ, "REDGRID_DATABASE": DATABASE})
    with psycopg.connect(server_conninfo(settings), autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DATABASE}"')
    conninfo = configured_conninfo(settings)
    per_county = args.tickets // len(COUNTIES)
    started = time.monotonic()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(DDL.read_text(encoding="utf-8"))
        for i, county in enumerate(COUNTIES):
            conn.execute("SELECT create_county_partitions(%s, '2024-01-01', %s)",
                         (county, MONTHS))
            for start in range(1, per_county + 1, BATCH):
                stop = min(per_county, start + BATCH - 1)
                conn.execute(LOAD, {"county": county, "start": start, "stop": stop,
                                    "lon": 118.5 + i * 0.2, "statuses": LOADED_STATUSES})
                done = i * per_county + stop
                print(f"\rloaded {done:,} of {per_county * len(COUNTIES):,} tickets "
                      f"({time.monotonic() - started:.0f} s)", end="", file=sys.stderr)
        print(file=sys.stderr)
        conn.execute("VACUUM ANALYZE province_tickets")
        load_s = time.monotonic() - started
        total = conn.execute("SELECT count(*) FROM province_tickets").fetchone()
        size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))"
                            ).fetchone()
        res: dict[str, Any] = {
            "benchmark": "province partitioning", "date": datetime.now(UTC).isoformat(
                timespec="seconds"), "machine": machine(),
            "tickets": total[0] if total else 0, "counties": len(COUNTIES), "months": MONTHS,
            "partitions": len(COUNTIES) * MONTHS, "load_s": round(load_s, 1),
            "database_size": size[0] if size else None,
            "one_county_one_month_count": timed(conn, COUNT, {"c": COUNTIES[0]}, runs=10),
            "nearest_20_open_in_a_county": timed(conn, NEAREST, {"c": COUNTIES[0],
                                                                 "lon": 118.53}),
        }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "partitioning.json").write_text(json.dumps(res, indent=2, default=str) + "\n",
                                                encoding="utf-8")
    c, n = res["one_county_one_month_count"], res["nearest_20_open_in_a_county"]
    table = (f"Province layout, {res['date']}: {res['tickets']:,} tickets in {res['partitions']} "
             f"partitions ({res['counties']} counties × {MONTHS} months), loaded in "
             f"{res['load_s']:,} s, {res['database_size']}.\n\n"
             "| query | partitions read | p50 ms | sequential scan |\n|---|---:|---:|---|\n"
             f"| count of one county's month | {c['partitions']} | {c['p50_ms']} | "
             f"{'yes' if c['seq_scan'] else 'no'} |\n"
             f"| 20 nearest open tickets of a county | {n['partitions']} | {n['p50_ms']} | "
             f"{'yes' if n['seq_scan'] else 'no'} |\n")
    (args.out / "partitioning.md").write_text(table, encoding="utf-8")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
