"""The heat map 民情气象图 query: thin types over `resolvers/heatmap.py`."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Annotated

import strawberry
from strawberry.types import Info

from geo.hotspots import HotspotClass
from geo.types import Crs
from resolvers import heatmap as resolver
from resolvers.disclosure import MIN_COUNT
from schema.inputs import BBoxInput
from schema.scalars import GeoJSON, TicketStatus, enum_values

From = Annotated[datetime, strawberry.argument(name="from",
                                               description="Start of the period (included).")]
To = Annotated[datetime, strawberry.argument(description="End of the period (excluded); at "
                                                        "most 3 years after `from`. Callers "
                                                        "who do not see every ticket give "
                                                        "whole months (PERIOD_TOO_FINE); "
                                                        "callers without exact counts "
                                                        "everywhere exactly one month "
                                                        "(PERIOD_NOT_ONE_MONTH) and no "
                                                        "category, item or status filter "
                                                        "(FILTER_NOT_ALLOWED).")]

strawberry.enum(HotspotClass, description="Gi* hot/cold spot at 99/95/90% confidence, "
                "or neither.")


@strawberry.enum(description="Cells of the heat map: grid cells 网格 or H3 hexagons.")
class HeatmapResolution(enum.Enum):
    GRID_CELL = "GRID_CELL"
    H3_8 = "H3_8"
    H3_9 = "H3_9"


@strawberry.type(description="One cell of the heat map.")
class HeatmapCell:
    id: str = strawberry.field(description="Grid cell code, or the H3 index in hex.")
    geometry: GeoJSON = strawberry.field(description="The cell's polygon in the requested datum.")
    count: int | None = strawberry.field(
        description=f"Tickets in the period; null when withheld (under {MIN_COUNT}, for callers "
                    "without exact counts for the cell: the public, residents, staff outside "
                    "their scope).")
    withheld: bool
    change_from_previous: int | None = strawberry.field(
        description="count minus the count of the equally long period just before.")
    change_from_last_year: int | None = strawberry.field(
        description="count minus the count of the same period a year earlier.")
    z_score: float | None = strawberry.field(
        description="Getis-Ord Gi* z-score. For callers without ticket scope: rounded to 0.1, "
                    f"and null where the cell and its neighbours hold fewer than {MIN_COUNT} "
                    "tickets.")
    p_value: float | None = strawberry.field(description="Two-sided p-value of the z-score.")
    hotspot: HotspotClass | None = strawberry.field(
        description="Hot/cold class from the z-score; null where the z-score is.")

    @classmethod
    def of(cls, c: resolver.HeatCell) -> HeatmapCell:
        return cls(id=c.id, geometry=GeoJSON(c.geometry), count=c.count, withheld=c.withheld,
                   change_from_previous=c.change_from_previous,
                   change_from_last_year=c.change_from_last_year, z_score=c.z_score,
                   p_value=c.p_value, hotspot=c.hotspot)


@strawberry.type(description="Tickets per cell with changes and Gi* hot/cold spots.")
class Heatmap:
    resolution: HeatmapResolution = strawberry.field(
        description="The cells answered: those asked for, or the caller's default.")
    from_: datetime = strawberry.field(name="from")
    to: datetime
    previous_from: datetime
    last_year_from: datetime
    last_year_to: datetime
    exact: bool = strawberry.field(description="Whether every count is exact; false where "
                                               f"counts under {MIN_COUNT} may be withheld (cells outside "
                                               "the caller's scope).")
    cells: list[HeatmapCell] = strawberry.field(
        description="One per grid cell of the county (429 in the demo) or per H3 hexagon over "
                    "it: at most 5,000 (a finer resolution is BAD_USER_INPUT).")

    @classmethod
    def of(cls, h: resolver.Heatmap) -> Heatmap:
        p = h.periods
        return cls(resolution=HeatmapResolution(h.resolution), from_=p.start, to=p.end,
                   previous_from=p.previous_start, last_year_from=p.last_year_start,
                   last_year_to=p.last_year_end, exact=h.exact,
                   cells=[HeatmapCell.of(c) for c in h.cells])


@strawberry.type
class HeatmapQuery:
    @strawberry.field(description="The public-sentiment heat map 民情气象图 over a box.")
    async def heatmap(self, info: Info, bbox: BBoxInput, from_: From, to: To,
                      category_code: str | None = None, item_code: str | None = None,
                      status: list[TicketStatus] | None = None,
                      resolution: Annotated[HeatmapResolution | None, strawberry.argument(
                          description="Grid cells 网格 or H3 hexagons. Null or not given: "
                                      "GRID_CELL for callers with exact counts everywhere (the "
                                      "county office, planners), H3_8 for everyone else. "
                                      "GRID_CELL and H3_9 are for those callers only "
                                      "(FILTER_NOT_ALLOWED, field `resolution`): ticket tiles "
                                      "count every ticket per grid cell, and an H3_8 hexagon "
                                      "holds seven H3_9 ones, so a month's count per grid cell "
                                      "beside them, or a hexagon's month beside its children's, "
                                      "would single out a report.")] = None,
                      crs: Crs | None = Crs.WGS84,
                      zone_code: Annotated[str | None, strawberry.argument(
                          description="Only the cells (or hexagons) whose inner point lies "
                                      "in this zone 片区; Gi* stays county-wide.")] = None,
                      ) -> Heatmap:
        statuses = enum_values(status)
        args = resolver.HeatmapArgs(
            bbox=bbox.wgs84(), start=from_, end=to, category_code=category_code,
            item_code=item_code, statuses=tuple(statuses) if statuses is not None else None,
            resolution=resolution.value if resolution else None, crs=crs or Crs.WGS84,
            zone_code=zone_code)
        return Heatmap.of(await resolver.heatmap(info.context.db, info.context.actor, args))
