"""Reading places: lists with filters, locating a point, nearest facilities."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncEngine

from db.queries import places as queries
from geo.types import BBox, LonLat
from resolvers.errors import DomainError, ErrorCode
from resolvers.inputs import limit


async def list_places(engine: AsyncEngine, table: str, *, bbox: BBox | None = None,
                      **equal: Any) -> Sequence[Row[Any]]:
    async with engine.connect() as conn:
        return await queries.list_places(conn, table, bbox=bbox, **equal)


async def place(engine: AsyncEngine, table: str, code: str) -> Row[Any] | None:
    async with engine.connect() as conn:
        rows = await queries.places_by_key(conn, table, "code", [code])
    return rows[0] if rows else None


async def locate(engine: AsyncEngine, point: LonLat, *, field: str = "point") -> Row[Any]:
    """The cell, compound, community, zone and street of a point; OUTSIDE_COVERAGE when none."""
    async with engine.connect() as conn:
        found = await queries.locate(conn, point.lon, point.lat)
    if found is None:
        raise DomainError(
            ErrorCode.OUTSIDE_COVERAGE,
            f"({point.lon:.6f}, {point.lat:.6f}) lies outside the grid cells of the covered "
            "urban area of Linshu County",
            field,
        )
    return found


async def nearest_facilities(engine: AsyncEngine, point: LonLat, *, kind: str | None,
                             first: int) -> Sequence[Row[Any]]:
    async with engine.connect() as conn:
        return await queries.nearest_facilities(conn, point.lon, point.lat, kind=kind,
                                                limit=limit(first, cap=200))
