"""GraphQL input types and their conversion to validated WGS-84 values."""

from __future__ import annotations

from dataclasses import fields

import strawberry

from geo.types import BBox, Crs, LonLat
from resolvers.inputs import bbox_wgs84, point_wgs84
from resolvers.tickets import TicketConditions, TicketFilterArgs
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
class TicketFilter(TicketConditions):
    zone_code: str | None = strawberry.field(default=None,
                                             description="Tickets in a zone 片区's communities.")
    status: list[TicketStatus] | None = None

    def args(self) -> TicketFilterArgs:
        conditions = {f.name: getattr(self, f.name) for f in fields(TicketConditions)}
        return TicketFilterArgs(statuses=enum_values(self.status), **conditions)


@strawberry.input
class CreateTicketInput:
    point: PointInput
    item_code: str
    description: str
    channel: Channel
    reporter_name: str | None = None
    reporter_phone: str | None = None
