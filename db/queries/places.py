"""Queries over places: streets, zones, communities, compounds, grid cells, facilities."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, LiteralString

from psycopg import AsyncConnection, sql

from db.queries.joined import Joined, Relation, fetch_joined
from db.statements import rows
from geo.types import BBox

# Columns of each place table, without geometry; facilities add their point's lon/lat.
PLACE_COLUMNS: dict[str, LiteralString] = {
    "streets": "code, name",
    "zones": "code, name, street_code, secretary_name",
    "communities": "code, name, zone_code, street_code, households, population",
    # A compound's centre is its demand point for coverage: ST_PointOnSurface of the outline.
    "compounds": "code, name, community_code, households, population, elderly, children, "
                 "ST_X(ST_PointOnSurface(geom)) AS center_lon, "
                 "ST_Y(ST_PointOnSurface(geom)) AS center_lat",
    "grid_cells": "code, community_code, households",
    # A building 楼栋 with its building head 楼栋长 (the party member who holds the post).
    "buildings": "code, compound_code, cell_code, floors, households, "
                 "(SELECT v.code FROM volunteers v WHERE v.building_code = buildings.code "
                 "AND v.role = 'BUILDING_HEAD' ORDER BY v.code LIMIT 1) AS head_code, "
                 "(SELECT v.name FROM volunteers v WHERE v.building_code = buildings.code "
                 "AND v.role = 'BUILDING_HEAD' ORDER BY v.code LIMIT 1) AS head_name",
    "facilities": "code, name, kind, subtype, community_code, compound_code, area_m2, "
                  "capacity, operator, status, ST_X(geom) AS lon, ST_Y(geom) AS lat",
}
# Columns a caller may filter on with equality, per table.
FILTERS: dict[str, frozenset[str]] = {
    "streets": frozenset(), "zones": frozenset({"street_code"}),
    "communities": frozenset({"zone_code", "street_code"}),
    "compounds": frozenset({"community_code"}), "grid_cells": frozenset({"community_code"}),
    "buildings": frozenset({"compound_code", "cell_code"}),
    "facilities": frozenset({"kind", "community_code"}),
}
_ENVELOPE = "ST_MakeEnvelope(%(west)s, %(south)s, %(east)s, %(north)s, 4326)"


# The GeoJSON of a place's geometry, 7 decimals (~1 cm).
_GEOJSON = sql.SQL("ST_AsGeoJSON(geom, 7)")


def _columns(table: str) -> sql.SQL:
    # A fixed column list of this module (expressions included), never a caller's text.
    return sql.SQL(PLACE_COLUMNS[table])


@functools.lru_cache(maxsize=128)
def _list_query(table: str, columns: tuple[str, ...], bbox: bool, geojson: bool) -> bytes:
    """The list statement of a table, its filter columns, box and outline flag, composed once
    (composing it cost 5 % of a request's CPU); the columns are checked by the caller."""
    where: list[sql.Composable] = [sql.SQL("TRUE")]
    for column in columns:
        where.append(sql.SQL("{} = {}").format(sql.Identifier(column), sql.Placeholder(column)))
    if bbox:
        where.append(sql.SQL(f"ST_Intersects(geom, {_ENVELOPE})"))
    selected: sql.Composable = _columns(table)
    if geojson:
        selected = sql.SQL("{}, {} AS geojson").format(selected, _GEOJSON)
    query = sql.SQL("SELECT {} FROM {} WHERE {} ORDER BY code").format(
        selected, sql.Identifier(table), sql.SQL(" AND ").join(where))
    return query.as_bytes(None)


async def list_places(conn: AsyncConnection[Any], table: str, *, bbox: BBox | None = None,
                      geojson: bool = False, **equal: Any) -> list[Any]:
    """Rows of a place table, filtered by equal columns and a bbox; with `geojson`, each with
    its geometry as GeoJSON text (as `geometries` writes it)."""
    if table not in PLACE_COLUMNS:
        raise ValueError(f"no place table {table}")
    params: dict[str, Any] = {}
    for column, value in equal.items():
        if column not in FILTERS[table]:
            raise ValueError(f"{table} cannot be filtered by {column}")
        if value is not None:
            params[column] = value
    if bbox is not None:
        params.update(west=bbox.west, south=bbox.south, east=bbox.east, north=bbox.north)
    query = _list_query(table, tuple(sorted(c for c in params if c in FILTERS[table])),
                        bbox is not None, geojson)
    return await rows(conn, query, params)


async def zone_staff(conn: AsyncConnection[Any], zone_codes: Sequence[str]) -> list[Any]:
    """The staff of zones 片区, secretary first."""
    return await rows(
        conn,
        "SELECT code, zone_code, name, post FROM zone_staff WHERE zone_code = ANY(%(z)s) "
        "ORDER BY zone_code, array_position(ARRAY['SECRETARY', 'DEPUTY_SECRETARY', "
        "'COORDINATOR', 'GRID_LEAD'], post::text), code", {"z": list(zone_codes)})


async def places_by_key(conn: AsyncConnection[Any], table: str, column: str,
                        keys: Sequence[str]) -> list[Any]:
    """Rows of a place table whose `column` is one of `keys`."""
    if column != "code" and column not in FILTERS[table]:
        raise ValueError(f"{table} cannot be looked up by {column}")
    return await rows(conn, _by_key_query(table, column), {"keys": list(keys)})


@functools.lru_cache(maxsize=64)
def _by_key_query(table: str, column: str) -> bytes:
    return sql.SQL("SELECT {} FROM {} WHERE {} = ANY(%(keys)s) ORDER BY code").format(
        _columns(table), sql.Identifier(table), sql.Identifier(column)).as_bytes(None)


async def geometries(conn: AsyncConnection[Any], table: str,
                     codes: Sequence[str]) -> dict[str, str]:
    """GeoJSON text of each place's geometry, built in PostGIS."""
    if table not in PLACE_COLUMNS:
        raise ValueError(f"no place table {table}")
    found = await rows(conn, _geometries_query(table), {"codes": list(codes)})
    return {r.code: r.gj for r in found}


@functools.lru_cache(maxsize=16)
def _geometries_query(table: str) -> bytes:
    return sql.SQL("SELECT code, {} AS gj FROM {} WHERE code = ANY(%(codes)s)").format(
        _GEOJSON, sql.Identifier(table)).as_bytes(None)


UNIT_COLUMNS = "code, name, kind"


async def units_by_code(conn: AsyncConnection[Any], codes: Sequence[str]) -> list[Any]:
    return await rows(conn, f"SELECT {UNIT_COLUMNS} FROM units WHERE code = ANY(%(codes)s)",
                      {"codes": list(codes)})


def related_place(name: str, table: str, via: str) -> Relation:
    """The place of `table` whose code is the base row's `via` column, with the columns
    `places_by_key` gives (so the row can stand in for the loader's)."""
    columns = sql.SQL(UNIT_COLUMNS) if table == "units" else _columns(table)
    select = sql.SQL("SELECT {} FROM {} WHERE code = base.{}").format(
        columns, sql.Identifier(table), sql.Identifier(via))
    return Relation(name, select.as_string(), key=via)


def nearest_facilities_relation(name: str, *, kind: str | None, limit: int) -> Relation:
    """`nearest_facilities` around the base row's point (`lon`, `lat` columns), as a list
    relation; `limit` is a checked count."""
    select = (_NEAREST_FACILITIES.replace("%(lon)s", "base.lon").replace("%(lat)s", "base.lat")
              .replace("%(kind)s", f"%({name}_kind)s").replace("%(limit)s", f"%({name}_limit)s"))
    return Relation(name, select, many=True, order=("distance_m", "code"),
                    params=((f"{name}_kind", kind), (f"{name}_limit", limit)))


_LOCATE = """
WITH p AS (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326) AS g),
cell AS (
    SELECT c.code, c.community_code FROM grid_cells c, p
    WHERE ST_Intersects(c.geom, p.g) ORDER BY c.code LIMIT 1
)
SELECT cell.code AS cell_code, cell.community_code, m.zone_code, m.street_code,
       (SELECT k.code FROM compounds k, p WHERE ST_Intersects(k.geom, p.g)
        ORDER BY k.code LIMIT 1) AS compound_code,
       (SELECT b.code FROM buildings b, p WHERE ST_Intersects(b.geom, p.g)
        ORDER BY b.code LIMIT 1) AS building_code
FROM cell JOIN communities m ON m.code = cell.community_code
"""


async def locate(conn: AsyncConnection[Any], lon: float, lat: float) -> Any | None:
    """The cell, compound, building, community, zone and street containing a point (lowest
    code on shared edges); None outside the covered area."""
    return await (await conn.execute(_LOCATE, {"lon": lon, "lat": lat})).fetchone()


async def locate_joined(conn: AsyncConnection[Any], lon: float, lat: float,
                        relations: Sequence[Relation]) -> Joined | None:
    """`locate` with related rows in the same statement (the base row has `lon` and `lat`)."""
    base = f"SELECT l.*, %(lon)s::float8 AS lon, %(lat)s::float8 AS lat FROM ({_LOCATE}) l"
    found = await fetch_joined(conn, base, {"lon": lon, "lat": lat}, relations)
    return found[0] if found else None


_NEAREST_FACILITIES = f"""
SELECT {PLACE_COLUMNS['facilities']},
       ST_Distance(geom::geography, ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography)
           AS distance_m
FROM facilities WHERE %(kind)s::text IS NULL OR kind = %(kind)s
ORDER BY distance_m, code LIMIT %(limit)s
"""


async def nearest_facilities(conn: AsyncConnection[Any], lon: float, lat: float, *,
                             kind: str | None, limit: int) -> list[Any]:
    """Facilities nearest a point with geodesic metres (a small table: an exact sort)."""
    cur = await conn.execute(_NEAREST_FACILITIES,
                             {"lon": lon, "lat": lat, "kind": kind, "limit": limit})
    return await cur.fetchall()


# Every code a caller's scope may name: streets, zones, communities, grid cells, compounds and
# units.
_SCOPE_CODES = ("SELECT code FROM streets UNION ALL SELECT code FROM zones "
                "UNION ALL SELECT code FROM communities UNION ALL SELECT code FROM grid_cells "
                "UNION ALL SELECT code FROM compounds UNION ALL SELECT code FROM units")


@dataclass(frozen=True)
class KnownScopes:
    """Codes a caller's scope may name, and each zone's communities (a zone officer's token
    names zones 片区, which do not prefix their communities' codes)."""

    codes: frozenset[str]
    zones: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def __contains__(self, code: object) -> bool:
        return code in self.codes

    def __iter__(self) -> Iterator[str]:
        return iter(self.codes)


_ZONE_COMMUNITIES = ("SELECT zone_code, array_agg(code ORDER BY code) AS communities "
                     "FROM communities WHERE %(zones)s::text[] IS NULL OR zone_code = ANY(%(zones)s) "
                     "GROUP BY zone_code")


async def zone_communities(conn: AsyncConnection[Any],
                           zones: Sequence[str] | None) -> dict[str, tuple[str, ...]]:
    """Each of `zones` (None: every zone) with its communities' codes."""
    rows = await (await conn.execute(
        _ZONE_COMMUNITIES, {"zones": list(zones) if zones is not None else None})).fetchall()
    return {row.zone_code: tuple(row.communities) for row in rows}


async def known_codes(conn: AsyncConnection[Any], codes: Sequence[str]) -> KnownScopes:
    """Which of `codes` name a street, zone, community, grid cell, compound or unit, with the
    communities of those that are zones."""
    sql = f"SELECT code FROM ({_SCOPE_CODES}) c WHERE code = ANY(%(codes)s)"
    rows = await (await conn.execute(sql, {"codes": list(codes)})).fetchall()
    return KnownScopes(frozenset(row.code for row in rows), await zone_communities(conn, codes))


async def scope_codes(conn: AsyncConnection[Any]) -> KnownScopes:
    """Every code a caller's scope may name (a few thousand), with each zone's communities."""
    rows = await (await conn.execute(_SCOPE_CODES)).fetchall()
    return KnownScopes(frozenset(row.code for row in rows), await zone_communities(conn, None))
