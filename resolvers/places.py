"""Reading places: lists with filters, locating a point, nearest facilities."""

from __future__ import annotations

from typing import Any

from db.database import Database
from db.queries import places as queries
from geo.types import BBox, LonLat
from resolvers.errors import DomainError, ErrorCode
from resolvers.inputs import limit

# The most facilities one nearest-facility answer holds.
MAX_FACILITIES = 200


async def list_places(db: Database, table: str, *, bbox: BBox | None = None,
                      geojson: bool = False, **equal: Any) -> list[Any]:
    async with db.connection() as conn:
        return await queries.list_places(conn, table, bbox=bbox, geojson=geojson, **equal)


async def place(db: Database, table: str, code: str) -> Any | None:
    async with db.connection() as conn:
        rows = await queries.places_by_key(conn, table, "code", [code])
    return rows[0] if rows else None


async def locate(db: Database, point: LonLat, *, field: str = "point") -> Any:
    """The cell, compound, community, zone and street of a point; OUTSIDE_COVERAGE when none."""
    async with db.connection() as conn:
        found = await queries.locate(conn, point.lon, point.lat)
    if found is None:
        raise DomainError(
            ErrorCode.OUTSIDE_COVERAGE,
            f"({point.lon:.6f}, {point.lat:.6f}) lies outside the grid cells of the covered "
            "urban area of Linshu County",
            field,
        )
    return found


async def nearest_facilities(db: Database, point: LonLat, *, kind: str | None,
                             first: int) -> list[Any]:
    async with db.connection() as conn:
        return await queries.nearest_facilities(conn, point.lon, point.lat, kind=kind,
                                                limit=limit(first, cap=MAX_FACILITIES))
