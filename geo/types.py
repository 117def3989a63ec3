"""Shared geometry types, SRIDs and the user-facing input error."""

from __future__ import annotations

import enum
import math
import numbers
from dataclasses import dataclass

SRID_WGS84 = 4326
# CGCS2000 / 3-degree Gauss-Kruger CM 120E: Linshu (~118.6E) sits 1.2-1.5 degrees off the
# central meridian, which keeps the projection scale error near 2e-4.
SRID_METRIC = 4549


# str mixin (not StrEnum) is the agreed interface: members compare equal to their names.
class Crs(str, enum.Enum):  # noqa: UP042
    """Coordinate reference systems a client may use for lon/lat input and output."""

    WGS84 = "WGS84"
    GCJ02 = "GCJ02"
    BD09 = "BD09"


class GeoInputError(ValueError):
    """Invalid geographic input supplied by a client."""

    def __init__(self, message: str, field: str | None = None, code: str = "BAD_USER_INPUT"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


def _checked(field: str, value: object, low: float, high: float) -> float:
    kind = type(value)
    # float and int first: the ABC check below costs a map request 1 µs a coordinate.
    # bool is a Real subclass, but True as a longitude is always a caller bug.
    if kind is not float and kind is not int and (
            not isinstance(value, numbers.Real) or isinstance(value, bool)):
        raise GeoInputError(f"{field} must be a number, got {value!r}", field=field)
    number = float(value)  # type: ignore[arg-type]
    # Comparisons with NaN are always False, so finiteness is checked explicitly.
    if not math.isfinite(number) or not low <= number <= high:
        raise GeoInputError(
            f"{field} must be a finite number in [{low:g}, {high:g}], got {value!r}",
            field=field,
        )
    return number


def _set_checked(obj: object, field: str, low: float, high: float) -> None:
    # Normalise ints and numpy scalars to float so equal boxes compare and hash equal.
    object.__setattr__(obj, field, _checked(field, getattr(obj, field), low, high))


@dataclass(frozen=True, slots=True)
class LonLat:
    """A validated WGS-84 (or datum-shifted) longitude/latitude pair in degrees."""

    lon: float
    lat: float

    def __post_init__(self) -> None:
        _set_checked(self, "lon", -180.0, 180.0)
        _set_checked(self, "lat", -90.0, 90.0)


@dataclass(frozen=True, slots=True)
class BBox:
    """A validated lon/lat bounding box that does not cross the antimeridian."""

    west: float
    south: float
    east: float
    north: float

    def __post_init__(self) -> None:
        _set_checked(self, "west", -180.0, 180.0)
        _set_checked(self, "south", -90.0, 90.0)
        _set_checked(self, "east", -180.0, 180.0)
        _set_checked(self, "north", -90.0, 90.0)
        if self.west > self.east:
            raise GeoInputError(
                f"west must not exceed east, got west={self.west!r} east={self.east!r}",
                field="west",
            )
        if self.south > self.north:
            raise GeoInputError(
                f"south must not exceed north, got south={self.south!r} north={self.north!r}",
                field="south",
            )

    def as_tuple(self) -> tuple[float, float, float, float]:
        """Return (west, south, east, north)."""
        return (self.west, self.south, self.east, self.north)
