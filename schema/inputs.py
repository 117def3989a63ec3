"""GraphQL input types and their conversion to validated WGS-84 values."""

from __future__ import annotations

from datetime import datetime

import strawberry

from geo.types import BBox, Crs, LonLat
from resolvers.inputs import bbox_wgs84, point_wgs84
from resolvers.tickets import TicketFilterArgs
from schema.scalars import Channel, TicketStatus, enum_values


@strawberry.input
class PointInput:
    lon: float
    lat: float
    crs: Crs | None = Crs.WGS84

    def wgs84(self, field: str = "point") -> LonLat:
        return point_wgs84(self.lon, self.lat, self.crs or Crs.WGS84, field=field)


@strawberry.input
class BBoxInput:
    west: float
    south: float
    east: float
    north: float
    crs: Crs | None = Crs.WGS84

    def wgs84(self, field: str = "bbox") -> BBox:
        return bbox_wgs84(self.west, self.south, self.east, self.north, self.crs or Crs.WGS84,
                          field=field)


def bbox_or_none(bbox: BBoxInput | None) -> BBox | None:
    return bbox.wgs84() if bbox is not None else None


@strawberry.input
class TicketFilter:
    status: list[TicketStatus] | None = None
    zone_code: str | None = strawberry.field(default=None,
                                             description="Tickets in a zone 片区's communities.")
    community_code: str | None = None
    cell_code: str | None = None
    item_code: str | None = None
    overdue: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None

    def args(self) -> TicketFilterArgs:
        return TicketFilterArgs(
            statuses=enum_values(self.status), zone_code=self.zone_code,
            community_code=self.community_code,
            cell_code=self.cell_code, item_code=self.item_code, overdue=self.overdue,
            created_from=self.created_from, created_to=self.created_to,
        )


@strawberry.input
class CreateTicketInput:
    point: PointInput
    item_code: str
    description: str
    channel: Channel
    reporter_name: str | None = None
    reporter_phone: str | None = None
