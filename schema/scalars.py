"""Scalars and enums of the RedGrid API."""

from __future__ import annotations

import enum
from typing import Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from geo.types import Crs as GeoCrs

GeoJSON = NewType("GeoJSON", object)
SCALAR_MAP: dict[object, ScalarDefinition] = {
    GeoJSON: strawberry.scalar(
        name="GeoJSON",
        description="An RFC 7946 GeoJSON object in lon/lat order, in the requested datum.",
        serialize=lambda value: value,
        parse_value=lambda value: value,
    ),
}

Crs = GeoCrs
strawberry.enum(GeoCrs, description="Datum of coordinates: WGS-84, GCJ-02 or BD-09.")


@strawberry.enum
class Channel(enum.Enum):
    HOTLINE_12345 = "HOTLINE_12345"
    RECEPTION_DAY = "RECEPTION_DAY"
    PLAZA_REPORT = "PLAZA_REPORT"
    DOOR_KNOCKING = "DOOR_KNOCKING"
    QR_CODE = "QR_CODE"
    SUPERVISOR = "SUPERVISOR"
    GRID_PATROL = "GRID_PATROL"
    ONLINE = "ONLINE"


@strawberry.enum
class FacilityKind(enum.Enum):
    STATION = "STATION"
    CLINIC = "CLINIC"
    CANTEEN = "CANTEEN"
    SERVICE_ROOM = "SERVICE_ROOM"


@strawberry.enum(description="A service room's 社服用房 use: idle rooms are candidate sites.")
class ServiceRoomStatus(enum.Enum):
    IDLE = "IDLE"
    IN_USE = "IN_USE"
    RENTED = "RENTED"


@strawberry.enum
class TicketStatus(enum.Enum):
    SUBMITTED = "SUBMITTED"
    DISPATCHED = "DISPATCHED"
    IN_PROGRESS = "IN_PROGRESS"
    RESOLVED = "RESOLVED"
    CLOSED = "CLOSED"
    REJECTED = "REJECTED"


@strawberry.enum
class Level(enum.Enum):
    COMMUNITY = "COMMUNITY"
    STREET = "STREET"
    COUNTY = "COUNTY"


def enum_values(values: list[Any] | None) -> list[str] | None:
    return None if values is None else [v.value for v in values]
