"""Heat-map counts: tickets 工单 per grid cell 网格 or H3 hexagon over three periods.

Every count is one range scan of `ix_tickets_created_cells` (created_at, then the cell keys,
item and status as included columns), so the bbox is applied as a list of cell keys rather
than a spatial test on the points: a cell counts all its tickets, also those just outside the
box.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection

from db.database import Database
from db.queries.tiles import county_bounds
from geo import hexagons
from geo.types import BBox

# Column of `tickets` holding each resolution's cell key.
KEY_COLUMN = {"GRID_CELL": "cell_code", "H3_8": "h3_8", "H3_9": "h3_9"}
H3_RES = {"H3_8": 8, "H3_9": 9}


@dataclass(frozen=True)
class Periods:
    """The period asked for and the two it is compared with, each [start, end)."""

    start: datetime
    end: datetime
    previous_start: datetime
    last_year_start: datetime
    last_year_end: datetime


@dataclass(frozen=True)
class TicketFilter:
    """Which tickets count; None means no restriction."""

    item_codes: tuple[str, ...] | None = None
    statuses: tuple[str, ...] | None = None

    def clause(self) -> tuple[str, dict[str, Any]]:
        parts, params = [], {}
        if self.item_codes is not None:
            parts.append("t.item_code = ANY(%(items)s)")
            params["items"] = list(self.item_codes)
        if self.statuses is not None:
            parts.append("t.status = ANY(%(statuses)s)")
            params["statuses"] = list(self.statuses)
        return " AND ".join(parts) or "TRUE", params


_CELLS = """
SELECT code AS id, ST_AsGeoJSON(geom, 7) AS geojson FROM grid_cells
WHERE geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)
  AND ST_Intersects(geom, ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326))
ORDER BY code
"""

# Edge or corner contact: ST_Intersects of two cells of a partition is exactly that.
_ADJACENCY = """
SELECT a.code AS a, b.code AS b FROM grid_cells a
JOIN grid_cells b ON a.code < b.code AND a.geom && b.geom AND ST_Intersects(a.geom, b.geom)
"""

# One range scan per period rather than an OR of ranges: each part is then an index-only scan
# of ix_tickets_created_cells (0 heap fetches on a vacuumed table), where the OR form turns
# into a bitmap heap scan or, for long periods, a sequential scan.
_PERIOD = """
SELECT {k} AS k, t.{key} AS id, count(*) AS n FROM tickets t
WHERE t.created_at >= %({lo})s AND t.created_at < %({hi})s AND t.{key} = ANY(%(ids)s)
  AND {where}
GROUP BY t.{key}
"""
_COUNTS = """
SELECT id, coalesce(sum(n) FILTER (WHERE k = 0), 0)::int AS n,
       coalesce(sum(n) FILTER (WHERE k = 1), 0)::int AS previous,
       coalesce(sum(n) FILTER (WHERE k = 2), 0)::int AS last_year
FROM ({parts}) p GROUP BY id
"""

_CODES = """
SELECT (SELECT array_agg(code) FROM demand_categories) AS categories,
       (SELECT array_agg(code ORDER BY code) FROM demand_items) AS items,
       (SELECT array_agg(code ORDER BY code) FROM demand_items
        WHERE category_code = %(category)s) AS in_category
"""

_adjacency_cache: weakref.WeakKeyDictionary[Database, dict[str, set[str]]] = (
    weakref.WeakKeyDictionary())


async def grid_cells_in(conn: AsyncConnection[Any], bbox: BBox) -> list[Any]:
    """Grid cells intersecting `bbox`: (id, geojson), by code."""
    w, s, e, n = bbox.as_tuple()
    return await (await conn.execute(_CELLS, {"w": w, "s": s, "e": e, "n": n})).fetchall()


async def grid_adjacency(db: Database) -> dict[str, set[str]]:
    """Each grid cell's neighbours by edge or corner; computed once per database handle
    (grid cells are reference data that no API call changes)."""
    cached = _adjacency_cache.get(db)
    if cached is None:
        async with db.connection() as conn:
            rows = await (await conn.execute(_ADJACENCY)).fetchall()
        cached = {}
        for r in rows:
            cached.setdefault(r.a, set()).add(r.b)
            cached.setdefault(r.b, set()).add(r.a)
        _adjacency_cache[db] = cached
    return cached


_study_area_cache: weakref.WeakKeyDictionary[Database, tuple[float, float, float, float]] = (
    weakref.WeakKeyDictionary())


async def study_area(db: Database) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) of the county's streets; read once per database handle
    (places change only when the data is reloaded). None on an empty database."""
    cached = _study_area_cache.get(db)
    if cached is None:
        async with db.connection() as conn:
            found = await county_bounds(conn)
        if found is None:
            return None
        cached = _study_area_cache[db] = found
    return cached


async def county_outline(conn: AsyncConnection[Any]) -> str | None:
    """The county's outline (the union of its streets) as GeoJSON; None on an empty database."""
    row = await (await conn.execute(
        "SELECT ST_AsGeoJSON(ST_Union(geom), 7) AS geojson FROM streets")).fetchone()
    return None if row is None else row.geojson


async def zone_outline(conn: AsyncConnection[Any], code: str) -> str | None:
    """A zone 片区's outline as GeoJSON; None when there is no such zone."""
    row = await (await conn.execute(
        "SELECT ST_AsGeoJSON(geom, 7) AS geojson FROM zones WHERE code = %(code)s",
        {"code": code})).fetchone()
    return None if row is None else row.geojson


async def period_counts(conn: AsyncConnection[Any], *, resolution: str, ids: Sequence[Any],
                        periods: Periods, tickets: TicketFilter) -> dict[Any, tuple[int, int, int]]:
    """(count, previous count, last year's count) per cell key; cells without tickets are
    left out."""
    where, params = tickets.clause()
    parts = [_PERIOD.format(k=k, key=KEY_COLUMN[resolution], lo=lo, hi=hi, where=where)
             for k, (lo, hi) in enumerate((("start", "end"), ("prev_start", "start"),
                                           ("ly_start", "ly_end")))]
    sql = _COUNTS.format(parts=" UNION ALL ".join(parts))
    rows = await (await conn.execute(sql, {
        **params, "ids": list(ids), "start": periods.start, "end": periods.end,
        "prev_start": periods.previous_start, "ly_start": periods.last_year_start,
        "ly_end": periods.last_year_end,
    })).fetchall()
    return {r.id: (r.n, r.previous, r.last_year) for r in rows}


async def demand_codes(conn: AsyncConnection[Any], category: str | None) -> Any:
    """Known category codes, item codes, and the items of `category`."""
    return await (await conn.execute(_CODES, {"category": category})).fetchone()


_TILE_GRID = """
SELECT c.code AS id, c.geom AS geom, coalesce(k.n, 0) AS count
FROM grid_cells c
LEFT JOIN (SELECT t.cell_code AS id, count(*) AS n FROM tickets t
           WHERE t.created_at >= %(start)s AND t.created_at < %(end)s AND {where}
           GROUP BY t.cell_code) k ON k.id = c.code
WHERE c.geom && ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326)
  AND ST_Intersects(c.geom, ST_MakeEnvelope(%(w)s, %(s)s, %(e)s, %(n)s, 4326))
"""

_TILE_H3 = """
SELECT lower(to_hex(c.id)) AS id, ST_SetSRID(ST_GeomFromWKB(c.wkb), 4326) AS geom,
       coalesce(k.n, 0) AS count
FROM unnest(%(ids)s::bigint[], %(wkb)s::bytea[]) AS c(id, wkb)
LEFT JOIN (SELECT t.{key} AS id, count(*) AS n FROM tickets t
           WHERE t.{key} = ANY(%(ids)s) AND t.created_at >= %(start)s
             AND t.created_at < %(end)s AND {where}
           GROUP BY t.{key}) k ON k.id = c.id
"""


def cell_counts_sql(*, resolution: str, bbox: BBox, start: datetime, end: datetime,
                    tickets: TicketFilter | None = None) -> tuple[str, dict[str, Any]]:
    """SQL and parameters yielding one row per cell overlapping `bbox`, empty cells too:
    `id` (grid cell code or H3 hex string), `geom` (EPSG:4326 polygon), `count` (true
    counts in [start, end): the caller withholds small ones as the resolver does).

    Raises ValueError for an unknown resolution; callers cap the H3 covering size first
    (see `hexagons.estimated_cover_size`).
    """
    where, params = (tickets or TicketFilter()).clause()
    w, s, e, n = bbox.as_tuple()
    params |= {"start": start, "end": end}
    if resolution == "GRID_CELL":
        return _TILE_GRID.format(where=where), params | {"w": w, "s": s, "e": e, "n": n}
    if resolution not in H3_RES:
        raise ValueError(f"unknown resolution {resolution!r}")
    cells = hexagons.cover(bbox, H3_RES[resolution])
    sql = _TILE_H3.format(key=KEY_COLUMN[resolution], where=where)
    return sql, params | {"ids": cells, "wkb": hexagons.outlines_wkb(cells)}
