"""Queries over places: streets, zones, communities, compounds, grid cells, facilities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Select, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from db.models import Community, Compound, Facility, GridCell, Street, Unit, Zone
from geo.types import SRID_WGS84, BBox

PLACE_TABLES: dict[str, Any] = {
    "streets": Street, "zones": Zone, "communities": Community,
    "compounds": Compound, "grid_cells": GridCell, "facilities": Facility,
}


def _columns(model: Any) -> list[Any]:
    return [c for c in model.__table__.columns if c.name != "geom"]


def _envelope(bbox: BBox) -> Any:
    return func.ST_MakeEnvelope(bbox.west, bbox.south, bbox.east, bbox.north, SRID_WGS84)


def _select(model: Any, bbox: BBox | None, **equal: Any) -> Select[Any]:
    stmt = select(*_columns(model))
    if model is Facility:
        stmt = stmt.add_columns(func.ST_X(model.geom).label("lon"),
                                func.ST_Y(model.geom).label("lat"))
    for name, value in equal.items():
        if value is not None:
            stmt = stmt.where(getattr(model, name) == value)
    if bbox is not None:
        stmt = stmt.where(func.ST_Intersects(model.geom, _envelope(bbox)))
    return stmt.order_by(model.code)


async def list_places(conn: AsyncConnection, table: str, *, bbox: BBox | None = None,
                      **equal: Any) -> Sequence[Row[Any]]:
    """Rows of a place table (without geometry), filtered by equal columns and a bbox."""
    return (await conn.execute(_select(PLACE_TABLES[table], bbox, **equal))).all()


async def places_by_key(conn: AsyncConnection, table: str, column: str,
                        keys: Sequence[str]) -> Sequence[Row[Any]]:
    """Rows of a place table whose `column` is one of `keys`."""
    model = PLACE_TABLES[table]
    stmt = _select(model, None).where(getattr(model, column).in_(keys))
    return (await conn.execute(stmt)).all()


async def geometries(conn: AsyncConnection, table: str,
                     codes: Sequence[str]) -> dict[str, str]:
    """GeoJSON text of each place's geometry, built in PostGIS."""
    model = PLACE_TABLES[table]
    stmt = select(model.code, func.ST_AsGeoJSON(model.geom, 7).label("gj")).where(
        model.code.in_(codes))
    return {r.code: r.gj for r in (await conn.execute(stmt)).all()}


async def units_by_code(conn: AsyncConnection, codes: Sequence[str]) -> Sequence[Row[Any]]:
    stmt = select(Unit.code, Unit.name, Unit.kind).where(Unit.code.in_(codes))
    return list((await conn.execute(stmt)).all())  # type: ignore[arg-type]


_LOCATE = text("""
WITH p AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g),
cell AS (
    SELECT c.code, c.community_code FROM grid_cells c, p
    WHERE ST_Intersects(c.geom, p.g) ORDER BY c.code LIMIT 1
)
SELECT cell.code AS cell_code, cell.community_code, m.zone_code, m.street_code,
       (SELECT k.code FROM compounds k, p WHERE ST_Intersects(k.geom, p.g)
        ORDER BY k.code LIMIT 1) AS compound_code
FROM cell JOIN communities m ON m.code = cell.community_code
""")


async def locate(conn: AsyncConnection, lon: float, lat: float) -> Row[Any] | None:
    """The cell, compound, community, zone and street containing a point (lowest code on
    shared edges); None outside the covered area."""
    return (await conn.execute(_LOCATE, {"lon": lon, "lat": lat})).first()


async def nearest_facilities(conn: AsyncConnection, lon: float, lat: float, *,
                             kind: str | None, limit: int) -> Sequence[Row[Any]]:
    """Facilities nearest a point with geodesic metres (a small table: exact sort)."""
    point = func.ST_SetSRID(func.ST_MakePoint(lon, lat), SRID_WGS84)
    distance = func.ST_Distance(func.geography(Facility.geom), func.geography(point))
    stmt = _select(Facility, None, kind=kind).add_columns(distance.label("distance_m"))
    stmt = stmt.order_by(None).order_by(distance, Facility.code).limit(limit)
    return (await conn.execute(stmt)).all()
