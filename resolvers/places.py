"""Reading places: lists with filters, locating a point, nearest facilities, who may see a
building's head."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from db.database import Database
from db.queries import places as queries
from db.queries.joined import Joined
from geo.types import BBox, LonLat
from resolvers import policy
from resolvers.actor import Actor
from resolvers.errors import DomainError, ErrorCode
from resolvers.inputs import limit
from resolvers.policy import Operation, Target

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


def sees_building_head(actor: Actor, code: str, cell_code: str, compound_code: str) -> bool:
    """Whether the caller reads a building's head 楼栋长: field workers and staff whose scope
    covers the building (by its cell or compound, as their role reads scopes)."""
    return policy.may(actor, Operation.READ_BUILDING_HEADS, Target(
        f"building {code}", cell_code=cell_code, compound_code=compound_code))


async def locate(db: Database, point: LonLat, *, field: str = "point") -> Any:
    """The cell, compound, community, zone and street of a point; OUTSIDE_COVERAGE when none."""
    async with db.connection() as conn:
        return await locate_on(conn, point, field=field)


# What a located point leads to, by relation name: the rows its loaders would give.
LOCATION_RELATIONS = {
    "cell": queries.related_place("cell", "grid_cells", "cell_code"),
    "building": queries.related_place("building", "buildings", "building_code"),
    "compound": queries.related_place("compound", "compounds", "compound_code"),
    "community": queries.related_place("community", "communities", "community_code"),
    "zone": queries.related_place("zone", "zones", "zone_code"),
    "street": queries.related_place("street", "streets", "street_code"),
}


async def locate_with(db: Database, point: LonLat, related: Sequence[str], *,
                      facilities: tuple[str | None, int] | None = None,
                      field: str = "point") -> Joined:
    """`locate` with the named `LOCATION_RELATIONS` in the same statement, and with
    `facilities` = (kind, first) the nearest facilities too (relation "facilities")."""
    relations = [LOCATION_RELATIONS[name] for name in related]
    if facilities is not None:
        kind, first = facilities
        relations.append(queries.nearest_facilities_relation(
            "facilities", kind=kind, limit=limit(first, cap=MAX_FACILITIES)))
    async with db.connection(generic_plans=True) as conn:
        found = await queries.locate_joined(conn, point.lon, point.lat, relations)
    if found is None:
        raise outside_coverage(point, field)
    return found


def outside_coverage(point: LonLat, field: str) -> DomainError:
    return DomainError(
        ErrorCode.OUTSIDE_COVERAGE,
        f"({point.lon:.6f}, {point.lat:.6f}) lies outside the grid cells of the covered "
        "urban area of Linshu County",
        field,
    )


async def locate_on(conn: Any, point: LonLat, *, field: str = "point") -> Any:
    """`locate` on a connection the caller holds (inside its transaction)."""
    found = await queries.locate(conn, point.lon, point.lat)
    if found is None:
        raise outside_coverage(point, field)
    return found


async def nearest_facilities(db: Database, point: LonLat, *, kind: str | None,
                             first: int) -> list[Any]:
    async with db.connection() as conn:
        return await queries.nearest_facilities(conn, point.lon, point.lat, kind=kind,
                                                limit=limit(first, cap=MAX_FACILITIES))
