"""The answer of `locate`: the places containing a point, and what is nearest to it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import strawberry
from strawberry.types import Info
from strawberry.types.nodes import SelectedField

from geo.types import LonLat
from resolvers import places
from schema.notices import cap_text
from schema.scalars import FacilityKind
from schema.types import (
    Building,
    Community,
    Compound,
    Facility,
    FacilityHit,
    GridCell,
    Street,
    Zone,
)


@strawberry.type
class Location:
    point: strawberry.Private[LonLat]
    found: strawberry.Private[Any]
    # Nearest facilities loaded with the point, by (kind, first) as `nearestFacilities` asks.
    facilities: strawberry.Private[dict[tuple[str | None, int], list[Any]]] = dataclasses.field(
        default_factory=dict)

    @strawberry.field
    async def grid_cell(self, info: Info) -> GridCell | None:
        return GridCell.of(await info.context.loaders.cell.load(self.found.cell_code))

    @strawberry.field(description="The building 楼栋 the point lies in, if any (with its head "
                                  "for field workers and staff).")
    async def building(self, info: Info) -> Building | None:
        code = self.found.building_code
        return Building.of(await info.context.loaders.building.load(code)) if code else None

    @strawberry.field
    async def compound(self, info: Info) -> Compound | None:
        code = self.found.compound_code
        return Compound.of(await info.context.loaders.compound.load(code)) if code else None

    @strawberry.field
    async def community(self, info: Info) -> Community | None:
        return Community.of(await info.context.loaders.community.load(self.found.community_code))

    @strawberry.field
    async def zone(self, info: Info) -> Zone | None:
        return Zone.of(await info.context.loaders.zone.load(self.found.zone_code))

    @strawberry.field
    async def street(self, info: Info) -> Street | None:
        return Street.of(await info.context.loaders.street.load(self.found.street_code))

    @strawberry.field(description="The nearest facilities (of `kind`), nearest first. "
                      + cap_text(places.MAX_FACILITIES))
    async def nearest_facilities(self, info: Info, kind: FacilityKind | None = None,
                                 first: int | None = 1) -> list[FacilityHit]:
        key = (kind.value if kind else None, 1 if first is None else first)
        rows = self.facilities.get(key)
        if rows is None:
            rows = await places.nearest_facilities(info.context.db, self.point, kind=key[0],
                                                   first=key[1])
        return [FacilityHit(distance_m=r.distance_m, facility=Facility.of(r)) for r in rows]


# The fields of a Location that `locate` loads ahead (schema/lookahead.py): the relation of
# resolvers.places.LOCATION_RELATIONS each reads (its loader bears the relation's name).
LOCATION_FIELDS = {"gridCell": "cell", "building": "building", "compound": "compound",
                   "community": "community", "zone": "zone", "street": "street"}



def facilities_ahead(fields: Mapping[str, list[SelectedField]]) -> tuple[str | None, int] | None:
    """The (kind, first) of the one `nearestFacilities` selected, when its arguments are valid:
    anything else (several, a bad `first`) is left to the field, which reports it."""
    asked = fields.get("nearestFacilities", [])
    if len(asked) != 1:
        return None
    args = asked[0].arguments  # variables' values, or a literal's text
    kind, first = args.get("kind"), args.get("first", 1)
    if isinstance(kind, FacilityKind):
        kind = kind.value
    if kind is not None and kind not in FacilityKind.__members__:
        return None
    if first is None:
        first = 1
    if isinstance(first, str):  # a literal in the document: its digits
        first = int(first) if first.isdigit() else 0
    if not isinstance(first, int) or isinstance(first, bool) or first < 1:
        return None
    return kind, first
