"""Patrol visits 巡查记录: writing one, and patrol coverage per grid cell per week."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from db.queries.ticket_scope import in_scopes

# Tickets a patrol or a supervisor found before anyone complained (未诉先办).
PROACTIVE_CHANNELS = ("GRID_PATROL", "SUPERVISOR")

VISIT_COLUMNS = """v.id, v.at, v.cell_code, v.compound_code, v.building_code, v.findings,
  ST_X(v.geom) AS lon, ST_Y(v.geom) AS lat,
  (SELECT code FROM tickets WHERE id = v.ticket_id) AS ticket_code, v.request_hash"""


@dataclass(frozen=True)
class NewVisit:
    at: datetime
    worker: str
    cell_code: str
    compound_code: str | None
    building_code: str | None
    lon: float
    lat: float
    findings: str | None
    ticket_id: int | None
    key: str | None
    request_hash: str | None


async def visit_by_key(conn: AsyncConnection[Any], worker: str, key: str) -> Any | None:
    return await (await conn.execute(
        f"SELECT {VISIT_COLUMNS} FROM patrol_visits v "
        "WHERE v.worker = %(w)s AND v.idempotency_key = %(k)s", {"w": worker, "k": key})).fetchone()


async def building_at(conn: AsyncConnection[Any], lon: float, lat: float) -> Any | None:
    """The building whose outline holds the point (the lowest code on a shared edge)."""
    return await (await conn.execute(
        "SELECT code, cell_code, compound_code FROM buildings "
        "WHERE ST_Intersects(geom, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)) "
        "ORDER BY code LIMIT 1", {"lon": lon, "lat": lat})).fetchone()


async def building(conn: AsyncConnection[Any], code: str) -> Any | None:
    return await (await conn.execute(
        "SELECT code, cell_code, compound_code FROM buildings WHERE code = %(c)s",
        {"c": code})).fetchone()


async def insert_visit(conn: AsyncConnection[Any], visit: NewVisit) -> Any | None:
    """Writes the visit; None when the worker's key was taken meanwhile (a concurrent retry)."""
    row = await (await conn.execute(
        "INSERT INTO patrol_visits (at, worker, cell_code, compound_code, building_code, geom, "
        "findings, ticket_id, idempotency_key, request_hash) VALUES (%(at)s, %(worker)s, "
        "%(cell_code)s, %(compound_code)s, %(building_code)s, "
        "ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326), %(findings)s, %(ticket_id)s, "
        "%(key)s, %(request_hash)s) ON CONFLICT (worker, idempotency_key) DO NOTHING "
        "RETURNING id", visit.__dict__)).fetchone()
    if row is None:
        return None
    return await (await conn.execute(
        f"SELECT {VISIT_COLUMNS} FROM patrol_visits v WHERE v.id = %(id)s",
        {"id": row.id})).fetchone()


@dataclass(frozen=True)
class PatrolWeek:
    """One week of patrols as a caller sees it: [start, end), the scope codes of the cells
    shown (None: every cell), and whether the week's ticket counts are shown (else NULL)."""

    start: datetime
    end: datetime
    # No defaults: every caller says which cells and whether ticket counts are shown.
    scopes: tuple[str, ...] | None
    tickets: bool

    def params(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "proactive": list(PROACTIVE_CHANNELS),
                "scopes": None if self.scopes is None else list(self.scopes),
                "tickets": self.tickets}


def coverage_sql(cells: str) -> str:
    """Per grid cell chosen by `cells` (a condition on `grid_cells g`): visits, buildings
    visited of all, visits with findings, and tickets filed proactively or by residents in
    [%(start)s, %(end)s) (NULL unless %(tickets)s)."""
    return f"""
WITH cells AS (SELECT g.code FROM grid_cells g WHERE {cells}),
visits AS (
  SELECT cell_code, count(*) AS visits, count(DISTINCT building_code) AS buildings_visited,
         count(findings) AS with_findings
  FROM patrol_visits
  WHERE cell_code IN (SELECT code FROM cells) AND at >= %(start)s AND at < %(end)s
  GROUP BY cell_code),
homes AS (
  SELECT cell_code, count(*) AS buildings FROM buildings
  WHERE cell_code IN (SELECT code FROM cells) GROUP BY cell_code),
filed AS (
  SELECT cell_code,
         count(*) FILTER (WHERE channel = ANY(%(proactive)s)) AS proactive,
         count(*) FILTER (WHERE channel <> ALL(%(proactive)s)) AS reported
  FROM tickets
  WHERE cell_code IN (SELECT code FROM cells) AND created_at >= %(start)s
    AND created_at < %(end)s
  GROUP BY cell_code)
SELECT c.code AS cell_code, coalesce(v.visits, 0)::int AS visits,
       coalesce(v.buildings_visited, 0)::int AS buildings_visited,
       coalesce(h.buildings, 0)::int AS buildings,
       coalesce(v.with_findings, 0)::int AS with_findings,
       CASE WHEN %(tickets)s THEN coalesce(f.proactive, 0)::int END AS proactive,
       CASE WHEN %(tickets)s THEN coalesce(f.reported, 0)::int END AS reported
FROM cells c
LEFT JOIN visits v ON v.cell_code = c.code
LEFT JOIN homes h ON h.cell_code = c.code
LEFT JOIN filed f ON f.cell_code = c.code
"""


_COVERAGE = coverage_sql("g.community_code = %(community)s") + "ORDER BY c.code"


async def coverage(conn: AsyncConnection[Any], community_code: str,
                   week: PatrolWeek) -> list[Any]:
    """One row per grid cell of the community: visits, buildings visited of all, visits with
    findings, and tickets filed proactively or by residents, in the week."""
    return await (await conn.execute(_COVERAGE, {
        "community": community_code, **week.params()})).fetchall()


_BY_COMMUNITY = f"""
SELECT c.code AS community_code, c.name, count(*)::int AS cells,
       count(*) FILTER (WHERE p.visits > 0)::int AS cells_visited, sum(p.visits)::int AS visits,
       sum(p.with_findings)::int AS with_findings, sum(p.proactive)::int AS proactive,
       sum(p.reported)::int AS reported
FROM ({coverage_sql(in_scopes("g.code") + " AND (%(zone)s::text IS NULL OR g.community_code IN "
                    "(SELECT code FROM communities WHERE zone_code = %(zone)s))")}) p
JOIN grid_cells g ON g.code = p.cell_code
JOIN communities c ON c.code = g.community_code
GROUP BY c.code, c.name
ORDER BY c.code
"""


async def coverage_by_community(conn: AsyncConnection[Any], week: PatrolWeek,
                                zone_code: str | None) -> list[Any]:
    """The week's coverage summed per community (of the zone, when given) over the cells inside
    the week's scope codes: cells, cells visited, visits, visits with findings and tickets."""
    return await (await conn.execute(_BY_COMMUNITY, {**week.params(), "zone": zone_code})
                  ).fetchall()


async def zone_exists(conn: AsyncConnection[Any], code: str) -> bool:
    row = await (await conn.execute("SELECT 1 FROM zones WHERE code = %(c)s",
                                    {"c": code})).fetchone()
    return row is not None


async def community_exists(conn: AsyncConnection[Any], code: str) -> bool:
    row = await (await conn.execute("SELECT 1 FROM communities WHERE code = %(c)s",
                                    {"c": code})).fetchone()
    return row is not None
