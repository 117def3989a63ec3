"""The answer of `locate`: the places containing a point, and what is nearest to it."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

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
        rows = await places.nearest_facilities(info.context.db, self.point,
                                               kind=kind.value if kind else None,
                                               first=1 if first is None else first)
        return [FacilityHit(distance_m=r.distance_m, facility=Facility.of(r)) for r in rows]
