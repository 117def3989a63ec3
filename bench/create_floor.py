"""The SQL floor of the createTicket benchmark: what the API's createTicket does, as plain
SQL through psycopg 3, statement for statement."""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import psycopg
from _meter import Meter, per_ticket
from create_jobs import CHANNEL, FLOOR_SUBJECT, Job, request_hash
from psycopg.rows import namedtuple_row

from db.catalogue import DEADLINES
from db.queries import places as place_queries
from db.queries import ticket_writes as writes
from db.queries.tickets import TICKET_COLUMNS
from db.responsibility import route_unit, route_units
from db.vocabulary import SHANGHAI
from resolvers.policy import NEARBY_RADIUS_M, NEARBY_WINDOW

DUPLICATE_RADIUS_M = NEARBY_RADIUS_M
DUPLICATE_WINDOW = NEARBY_WINDOW

# SQL the API writes inline in its functions, copied verbatim:
# resolvers.tickets.ticket_by_code -> db.queries.tickets.tickets_by_code
TICKETS_BY_CODE = f"SELECT {TICKET_COLUMNS} FROM tickets WHERE code = ANY(%(codes)s)"
# resolvers.ticket_create.possible_duplicates (the row it starts from)
DUPLICATE_HEAD = ("SELECT item_code, ST_X(geom) AS lon, ST_Y(geom) AS lat, created_at FROM tickets "
                  "WHERE code = %(c)s")




async def floor_create(conn: psycopg.AsyncConnection[Any], job: Job) -> str:
    """One createTicket as plain SQL, statement for statement as the API runs it."""
    caller, key = FLOOR_SUBJECT, job.key("floor")
    earlier = await (await conn.execute(writes._BY_KEY, {"caller": caller, "key": key})).fetchone()
    if earlier is not None:
        raise RuntimeError(f"key {key} already used")
    place = await (await conn.execute(place_queries._LOCATE,
                                      {"lon": job.lon, "lat": job.lat})).fetchone()
    if place is None:
        raise RuntimeError(f"({job.lon}, {job.lat}) is outside the coverage")
    now = datetime.now(UTC)
    digest = request_hash(job)
    async with conn.transaction():
        await conn.execute("LOCK TABLE grid_cells IN SHARE MODE")
        item = await (await conn.execute(writes._ROUTING, {
            "code": job.item, "compound": place.compound_code,
            "day": now.astimezone(SHANGHAI).date()})).fetchone()
        if item is None:
            raise RuntimeError(f"no demand item {job.item!r}")
        where = {"community_code": place.community_code, "street_code": place.street_code,
                 "company_code": item.company_code, "county_units": item.county_units or {}}
        unit = route_unit(item.lead_unit_kind, **where)  # type: ignore[arg-type]
        cooperating = route_units(list(item.cooperating_unit_kinds), **where)
        ticket = writes.NewTicket(
            item_code=item.code, channel=CHANNEL, description=job.description,
            reporter_name=None, reporter_phone=None, lon=job.lon, lat=job.lat,
            cell_code=place.cell_code, compound_code=place.compound_code,
            community_code=place.community_code, zone_code=place.zone_code,
            street_code=place.street_code, unit_code=unit, now=now,
            due_at=now + DEADLINES[item.deadline_class], caller=caller, key=key,
            request_hash=digest, actor=caller, reporter_subject=caller,
            cooperating=tuple(cooperating))
        created = await (await conn.execute(writes._INSERT,
                                            writes.insert_params(ticket))).fetchone()
        if created is None:
            raise RuntimeError(f"key {key} already used (insert)")
    code = created.code
    back = await (await conn.execute(TICKETS_BY_CODE, {"codes": [code]})).fetchone()
    assert back is not None
    head = await (await conn.execute(DUPLICATE_HEAD, {"c": code})).fetchone()
    assert head is not None
    await (await conn.execute(writes._DUPLICATES, {
        "lon": head.lon, "lat": head.lat, "item": head.item_code,
        "since": head.created_at - DUPLICATE_WINDOW, "code": code,
        "reach": DUPLICATE_RADIUS_M * 1.001 + 1})).fetchall()
    return str(code)


async def run_jobs(conns: Sequence[psycopg.AsyncConnection[Any]], jobs: Sequence[Job],
                   *, split: bool = False) -> tuple[list[float], float]:
    """Files the jobs over the connections (one worker each, taking the next job when free;
    with `split`, worker w takes jobs w, w + n, ...); per-ticket latencies and the wall time."""
    lat = [0.0] * len(jobs)
    shared = iter(range(len(jobs)))
    n = len(conns)

    async def worker(w: int) -> None:
        for i in range(w, len(jobs), n) if split else shared:
            t0 = time.perf_counter()
            await floor_create(conns[w], jobs[i])
            lat[i] = time.perf_counter() - t0

    t0 = time.perf_counter()
    await asyncio.gather(*(worker(w) for w in range(n)))
    return lat, time.perf_counter() - t0


def summarise(latencies_s: Sequence[float], wall_s: float) -> dict[str, Any]:
    ms = sorted(v * 1000 for v in latencies_s)
    q = statistics.quantiles(ms, n=100, method="inclusive")
    return {"tickets": len(ms), "created": len(ms), "wall_s": round(wall_s, 3),
            "tickets_per_s": round(len(ms) / wall_s, 1), "p50_ms": round(q[49], 3),
            "p90_ms": round(q[89], 3), "p99_ms": round(q[98], 3),
            "mean_ms": round(statistics.fmean(ms), 3), "min_ms": round(ms[0], 3),
            "max_ms": round(ms[-1], 3)}


async def floor_run(conninfo: str, jobs: list[Job], warmup: list[Job],
                    concurrency: int) -> dict[str, Any]:
    """The floor at one concurrency: connections set up like the API's pool (autocommit,
    server-side prepared from a statement's 2nd run, named-tuple rows), warmed up first."""
    conns: list[psycopg.AsyncConnection[Any]] = [await psycopg.AsyncConnection.connect(
        conninfo, autocommit=True, prepare_threshold=1, row_factory=namedtuple_row)
        for _ in range(concurrency)]
    try:
        await run_jobs(conns, warmup, split=True)
        meter = Meter(conninfo)
        lat, wall = await run_jobs(conns, jobs)
        cpu = meter.stop()
        prepared = 0
        for conn in conns:
            cur = await conn.execute("SELECT count(*) AS n FROM pg_prepared_statements",
                                     prepare=False)
            row = await cur.fetchone()
            assert row is not None
            prepared += row.n
    finally:
        for conn in conns:
            await conn.close()
    out = {"kind": "floor", "client": "psycopg 3", "concurrency": concurrency,
           "connections": concurrency, **summarise(lat, wall)}
    out.update(per_ticket(cpu, len(jobs), wall, "psycopg"))
    out["prepared_statements_per_connection"] = round(prepared / concurrency, 1)
    return out


async def floor_all(conninfo: str, jobs: dict[str, list[Job]], res: dict[str, Any]) -> None:
    for conc, warm in ((1, "w1"), (16, "w16")):
        print(f"SQL floor, concurrency {conc}: {len(jobs[f'c{conc}']):,} tickets",
              file=sys.stderr)
        r = await floor_run(conninfo, jobs[f"c{conc}"], jobs[warm], conc)
        res["runs"].append(r)
        res["created"][f"floor-c{conc}"] = r["created"]
        res["created"][f"floor-{warm}"] = len(jobs[warm])
