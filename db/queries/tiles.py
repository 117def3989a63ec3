"""Mapbox Vector Tiles built in PostGIS: one statement per tile, the bytes straight from ST_AsMVT.

A tile draws one `TileSource`: any SELECT yielding property columns and `geom` (EPSG:4326) that
keeps only the rows whose stored, GiST-indexed geometry meets `ENVELOPE`, the tile's box in
WGS-84 computed once in Python (so a GCJ-02/BD-09 tile grid still filters on the WGS-84 index).
Catalogue layers become sources through `layer_source`; rows that are already counts per place
(tickets per grid cell 网格 here, the heat map's cells later) become one through `count_source`.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from psycopg import AsyncConnection, sql

from db.database import GENERIC_PLANS
from db.queries.disclosure import SQUARE_M
from db.queries.layers import PUBLIC_VIEW, Layer, TicketView
from db.queries.patrols import PatrolWeek
from geo.datum import bbox_to_wgs84
from geo.types import BBox, Crs

EXTENT = 4096
BUFFER = 64
MAX_ZOOM = 22
# Below this zoom tickets are drawn as counts per grid cell, never as points. At 1,000,000
# tickets a z14 tile over the centre held 105,000 of them (8.4 MB and 1.3 s for the county
# office); a z15 tile 0.75 MB in 0.24 s.
DETAIL_ZOOM = 15
ENVELOPE = "ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)"
# Session settings of the connections that render tiles. A tile statement planned for its own
# envelope took 7–27 ms to plan and ran no faster than the generic plan (measured over the
# 1,000,000-ticket database, z12–z16); left to choose, PostgreSQL switched between the two per
# connection, so the same tile took 9 ms on one connection and 16 ms on the next.
TILE_SESSION = GENERIC_PLANS

_R = 6378137.0
_HALF = math.pi * _R
_MAX_LAT = math.degrees(math.atan(math.sinh(math.pi)))


@dataclass(frozen=True)
class TileSource:
    """The rows of one MVT layer.

    `sql` selects `properties` and `geom` (EPSG:4326) and must filter with `... && ENVELOPE`
    on an indexed column. `margin_m`: how far a drawn geometry may lie from the indexed one
    (generalised tickets move up to half a square's diagonal). `buffer`: 0 for counts, so that
    each count is drawn in exactly one tile.
    """

    name: str
    sql: str
    properties: tuple[str, ...]
    params: dict[str, Any] = field(default_factory=dict)
    buffer: int = BUFFER
    margin_m: float = 0.0


@dataclass(frozen=True)
class TicketFilters:
    """Optional ticket filters of a tile request; `created_to` is exclusive."""

    statuses: tuple[str, ...] | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None

    def clause(self, alias: str) -> tuple[str, dict[str, Any]]:
        """` AND ...` conditions on `alias` (empty without filters) and their parameters."""
        params: dict[str, Any] = {}
        if self.statuses is not None:
            params["statuses"] = list(self.statuses)
        if self.created_from is not None:
            params["created_from"] = self.created_from
        if self.created_to is not None:
            params["created_to"] = self.created_to
        return _filter_sql(alias, tuple(params)), params


_FILTERS = {
    "statuses": sql.SQL(" AND {}.status = ANY(%(statuses)s)"),
    "created_from": sql.SQL(" AND {}.created_at >= %(created_from)s"),
    "created_to": sql.SQL(" AND {}.created_at < %(created_to)s"),
}


@functools.lru_cache(maxsize=32)
def _filter_sql(alias: str, filtering: tuple[str, ...]) -> str:
    """The conditions on `alias` of the filters given, composed once per shape."""
    return sql.Composed([_FILTERS[f].format(sql.Identifier(alias)) for f in filtering]).as_string()


NO_FILTERS = TicketFilters()


@dataclass(frozen=True)
class TileKey:
    """Tile z/x/y on the grid of `crs` (Web Mercator over that datum's lon/lat)."""

    z: int
    x: int
    y: int
    crs: Crs = Crs.WGS84

    def mercator_bounds(self) -> tuple[float, float, float, float]:
        """(xmin, ymin, xmax, ymax) in EPSG:3857 metres, as ST_TileEnvelope has them."""
        size = 2 * _HALF / 2**self.z
        return (-_HALF + self.x * size, _HALF - (self.y + 1) * size,
                -_HALF + (self.x + 1) * size, _HALF - self.y * size)

    def lonlat_bounds(self, buffer: int = 0) -> BBox:
        """The tile's lon/lat box in its own datum, grown by `buffer` tile units."""
        xmin, ymin, xmax, ymax = self.mercator_bounds()
        pad = (xmax - xmin) * buffer / EXTENT
        return BBox(_lon(xmin - pad), _lat(ymin - pad), _lon(xmax + pad), _lat(ymax + pad))

    def wgs84_box(self, buffer: int = BUFFER, margin_m: float = 0.0) -> BBox:
        """The WGS-84 box an index filter uses: the (converted) tile, buffer and margin; also
        the bbox to hand a source that takes one (the heat map's `cell_counts_sql`)."""
        box = bbox_to_wgs84(self.lonlat_bounds(buffer), self.crs)
        dlat = margin_m / 110_574.0
        widest = min(max(abs(box.south), abs(box.north)) + dlat, 89.0)
        dlon = margin_m / (111_320.0 * math.cos(math.radians(widest)))
        return BBox(max(box.west - dlon, -180.0), max(box.south - dlat, -90.0),
                    min(box.east + dlon, 180.0), min(box.north + dlat, 90.0))

    def envelope(self, buffer: int, margin_m: float) -> dict[str, float]:
        """`ENVELOPE`'s parameters."""
        box = self.wgs84_box(buffer, margin_m)
        return {"west": box.west, "south": box.south, "east": box.east, "north": box.north}


def _lon(x: float) -> float:
    return max(-180.0, min(180.0, math.degrees(x / _R)))


def _lat(y: float) -> float:
    return max(-_MAX_LAT, min(_MAX_LAT, math.degrees(math.atan(math.sinh(y / _R)))))


def layer_source(layer: Layer, view: TicketView = PUBLIC_VIEW,
                 filters: TicketFilters = NO_FILTERS,
                 week: PatrolWeek | None = None) -> TileSource:
    """A catalogue layer as a tile source: its properties, geometry and, for tickets 工单,
    the disclosure rule: records where the caller's view lets them through, counts per
    100 m square (at its centre) elsewhere. A square draws the same for one ticket or a
    thousand, so a busy square stays one feature (a z15 tile over the busiest square
    kilometre held ~30,000 tickets at 1,000,000). A weekly layer draws its `week`."""
    if not layer.is_tickets:
        # No ORDER BY: tiles are not paged, and ordering by the key would tempt the planner
        # into walking the key's index instead of the GiST one.
        from_sql, params = layer.from_clause(week=week, cells=f"g.geom && {ENVELOPE}")
        statement = (f"SELECT {layer.select_list()}, {layer.geom} AS geom {from_sql} "
                     f"WHERE f.geom && {ENVELOPE}")
        return TileSource(layer.name, statement, tuple(name for name, _ in layer.properties), params)
    extra, params = filters.clause("t")
    from_sql, params = layer.from_clause(view, f"t.geom && {ENVELOPE}{extra}", params)
    statement = f"SELECT {layer.select_list()}, {layer.geom} AS geom {from_sql}"
    return TileSource(layer.name, statement, tuple(name for name, _ in layer.properties), params,
                      margin_m=SQUARE_M)


def count_source(name: str, rows_sql: str, params: dict[str, Any] | None = None,
                 properties: tuple[str, ...] = ("id", "count"), *,
                 buffer: int = 0) -> TileSource:
    """Rows of counts per place (`id`, `count`, `geom` in EPSG:4326) as a source.

    `rows_sql` filters its indexed geometry with `&& ENVELOPE`, or with its own bbox
    parameters taken from `TileKey.wgs84_box`. Buffer 0 (for points) draws a place's count
    in one tile only, so counts sum over tiles; polygons want `BUFFER`."""
    return TileSource(name, rows_sql, properties, dict(params or {}), buffer=buffer)


@dataclass(frozen=True)
class CellValues:
    """Cells computed outside SQL (the heat map's), column by column, to draw as a tile."""

    ids: list[str]
    geometries: list[str]  # GeoJSON text, EPSG:4326
    counts: list[int | None]
    withheld: list[bool]
    hotspots: list[str | None]
    z_scores: list[float | None]


def cells_source(name: str, cells: CellValues) -> TileSource:
    """Cells with their values as a source; a few hundred rows, so no index filter needed."""
    statement = ("SELECT c.id, c.count, c.withheld, c.hotspot, c.z_score, "
           "ST_SetSRID(ST_GeomFromGeoJSON(c.geometry), 4326) AS geom "
           "FROM unnest(%(ids)s::text[], %(geometries)s::text[], %(counts)s::int[], "
           "%(withheld)s::bool[], %(hotspots)s::text[], %(z_scores)s::float8[]) "
           "AS c(id, geometry, count, withheld, hotspot, z_score)")
    params = {"ids": cells.ids, "geometries": cells.geometries, "counts": cells.counts,
              "withheld": cells.withheld, "hotspots": cells.hotspots, "z_scores": cells.z_scores}
    return TileSource(name, statement, ("id", "count", "withheld", "hotspot", "z_score"), params)


_CELL_COUNTS = """
SELECT t.cell_code AS code, count(*)::int AS n FROM tickets t WHERE TRUE{extra}
GROUP BY t.cell_code
"""


async def cell_ticket_counts(conn: AsyncConnection[Any],
                             filters: TicketFilters = NO_FILTERS) -> dict[str, int]:
    """Tickets 工单 per grid cell 网格 over the whole county, true counts (the caller of the
    tile applies the disclosure rule); cells without tickets are left out."""
    extra, params = filters.clause("t")
    rows = await (await conn.execute(_CELL_COUNTS.format(extra=extra), params)).fetchall()
    return {r.code: r.n for r in rows}


def ticket_cell_counts(codes: list[str], counts: list[int | None]) -> TileSource:
    """Tickets aggregated per grid cell, drawn at the cell's point on surface: `counts[i]`
    for cell `codes[i]`, as the caller may see them; None (withheld) is left out, so a
    withheld cell looks like an empty one."""
    statement = ("SELECT c.code AS cell_code, n.count, ST_PointOnSurface(c.geom) AS geom "
           "FROM grid_cells c JOIN unnest(%(codes)s::text[], %(counts)s::int[]) AS n(code, count) "
           f"ON n.code = c.code WHERE c.geom && {ENVELOPE} AND n.count IS NOT NULL")
    return count_source("tickets", statement, {"codes": codes, "counts": counts},
                        ("cell_code", "count"))


def _drawn(geom: str, crs: Crs) -> str:
    # The basemap's grid: shift to its datum, then treat the shifted lon/lat as Web Mercator's.
    shifted = geom if crs is Crs.WGS84 else f"redgrid_to_datum({geom}, %(crs)s)"
    return f"ST_Transform({shifted}, 3857)"


def tile_sql(source: TileSource, crs: Crs = Crs.WGS84) -> str:
    """The one statement that turns a source's rows into a tile's bytes."""
    columns = "".join(f'src."{p}", ' for p in source.properties)
    # The same rows always make the same bytes, so ETags hold between requests: order the
    # features (not the scan, which must stay free to use the GiST index).
    order = ", ".join(["mvt.geom", *(f'mvt."{p}"' for p in source.properties[:1])])
    return (
        "WITH b AS MATERIALIZED (SELECT ST_TileEnvelope(%(z)s, %(x)s, %(y)s) AS tile) "
        f"SELECT ST_AsMVT(mvt, %(mvt_layer)s, {EXTENT}, 'geom' ORDER BY {order}) FROM ("
        f"SELECT {columns}ST_AsMVTGeom({_drawn('src.geom', crs)}, b.tile, {EXTENT}, "
        f"{source.buffer}, true) AS geom FROM ({source.sql}) src CROSS JOIN b"
        ") mvt WHERE mvt.geom IS NOT NULL")


def tile_query(source: TileSource, key: TileKey) -> tuple[str, dict[str, Any]]:
    """SQL and parameters of one tile."""
    params: dict[str, Any] = {**source.params, "z": key.z, "x": key.x, "y": key.y,
                              "mvt_layer": source.name,
                              **key.envelope(source.buffer, source.margin_m)}
    if key.crs is not Crs.WGS84:
        params["crs"] = key.crs.value
    return tile_sql(source, key.crs), params


async def render(conn: AsyncConnection[Any], source: TileSource, key: TileKey) -> bytes:
    """The tile's bytes; empty when nothing is drawn there."""
    statement, params = tile_query(source, key)
    cur = await conn.execute(statement, params)
    row = await cur.fetchone()
    return bytes(row[0]) if row is not None and row[0] is not None else b""


async def county_bounds(conn: AsyncConnection[Any]) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) of all streets in WGS-84; None on an empty database."""
    cur = await conn.execute(
        "SELECT ST_XMin(e) AS w, ST_YMin(e) AS s, ST_XMax(e) AS e, ST_YMax(e) AS n "
        "FROM (SELECT ST_Extent(geom) AS e FROM streets) x")
    row = await cur.fetchone()
    if row is None or row[0] is None:
        return None
    return (float(row[0]), float(row[1]), float(row[2]), float(row[3]))
