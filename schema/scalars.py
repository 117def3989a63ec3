"""Scalars and enums of the RedGrid API."""

from __future__ import annotations

import enum
from typing import Any, NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

from geo.types import Crs as GeoCrs
from resolvers import errors, vocabulary

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


# The ticket vocabulary's enums are db/vocabulary.py's own (through resolvers/vocabulary.py),
# exposed as they are.
Channel = vocabulary.Channel
TicketStatus = vocabulary.TicketStatus
Level = vocabulary.Level
for _enum in (Channel, TicketStatus, Level):
    strawberry.enum(_enum)

# The stable error codes are resolvers/errors.py's, over GraphQL and every other route alike.
ErrorCode = errors.ErrorCode
strawberry.enum(ErrorCode, description="A stable error code, the same on every route.")


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


def enum_values(values: list[Any] | None) -> list[str] | None:
    return None if values is None else [v.value for v in values]
