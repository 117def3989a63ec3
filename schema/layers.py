"""`layer`: a whole map layer as one GeoJSON FeatureCollection built by PostGIS."""

from __future__ import annotations

import enum
from datetime import date

import orjson
import strawberry
from strawberry.types import Info

from geo.types import Crs
from resolvers import layers
from resolvers.disclosure import MIN_COUNT, SQUARE_M
from schema.inputs import BBoxInput, bbox_or_none
from schema.scalars import GeoJSON


@strawberry.enum(description="The layers of the map catalogue.")
class LayerName(enum.Enum):
    STREETS = "streets"
    ZONES = "zones"
    COMMUNITIES = "communities"
    COMPOUNDS = "compounds"
    GRID_CELLS = "grid_cells"
    BUILDINGS = "buildings"
    FACILITIES = "facilities"
    WATERS = "waters"
    ROADS = "roads"
    TICKETS = "tickets"
    PATROL_COVERAGE = "patrol_coverage"


@strawberry.type
class LayerQuery:
    @strawberry.field(description="Every feature of a layer intersecting bbox, as a GeoJSON "
                                  "FeatureCollection in crs. Tickets outside the caller's "
                                  f"scope are only counted per {SQUARE_M} m square (at its "
                                  f"centre; squares under {MIN_COUNT} left out unless the "
                                  "caller sees exact counts); without bbox every ticket is counted so, and a "
                                  "box reaching over 10,000 records is refused. "
                                  "PATROL_COVERAGE 巡查覆盖: every grid cell the caller's "
                                  "scope covers, with the patrols of the Monday-to-Sunday "
                                  "week holding weekOf (this week when null), as "
                                  "patrolCoverage counts them; for whom patrolCoverage is.")
    async def layer(self, info: Info, name: LayerName, bbox: BBoxInput | None = None,
                    crs: Crs | None = Crs.WGS84, week_of: date | None = None) -> GeoJSON | None:
        text = await layers.layer_geojson(info.context.db, info.context.actor, name.value,
                                          bbox=bbox_or_none(bbox), crs=crs or Crs.WGS84,
                                          week=week_of)
        # A Fragment goes into the response as the text PostGIS made, never parsed here.
        return GeoJSON(orjson.Fragment(text))
