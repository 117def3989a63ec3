"""Turns caller coordinates in any supported datum into validated WGS-84 values."""

from __future__ import annotations

import math
from datetime import datetime

from db.vocabulary import SHANGHAI
from geo.datum import bbox_to_wgs84, to_wgs84
from geo.types import BBox, Crs, GeoInputError, LonLat
from resolvers.errors import DomainError, ErrorCode, bad_input


def _domain(exc: GeoInputError, prefix: str) -> DomainError:
    field = f"{prefix}.{exc.field}" if exc.field else prefix
    return DomainError(ErrorCode(exc.code), exc.message, field)


def point_wgs84(lon: float, lat: float, crs: Crs, *, field: str = "point") -> LonLat:
    """A validated WGS-84 point from coordinates in `crs`."""
    try:
        given = LonLat(lon, lat)
        wlon, wlat = to_wgs84(given.lon, given.lat, crs)
        return LonLat(wlon, wlat)
    except GeoInputError as exc:
        raise _domain(exc, field) from None


def bbox_wgs84(west: float, south: float, east: float, north: float, crs: Crs,
               *, field: str = "bbox") -> BBox:
    """A validated WGS-84 box from a box in `crs` (the envelope of its converted outline)."""
    try:
        return bbox_to_wgs84(BBox(west, south, east, north), crs)
    except GeoInputError as exc:
        raise _domain(exc, field) from None


def limit(first: int, *, cap: int, field: str = "first") -> int:
    """`first` capped at `cap`; below 1 is an error."""
    if first < 1:
        raise bad_input(f"`{field}` must be at least 1, got {first}", field)
    return min(first, cap)


def radius(radius_m: float, *, maximum: float = 50_000.0, field: str = "radiusM") -> float:
    if not math.isfinite(radius_m) or radius_m <= 0 or radius_m > maximum:
        raise bad_input(f"`{field}` must be a number of metres in (0, {maximum:,.0f}], "
                        f"got {radius_m}", field)
    return radius_m


# The years a period may lie in: comparisons reach a few years back, and Python's dates end
# at years 1 and 9999.
PERIOD_YEARS = (1900, 9998)


def period_year(year: int, field: str) -> None:
    """BAD_USER_INPUT unless a period's bound lies in PERIOD_YEARS."""
    if not PERIOD_YEARS[0] <= year <= PERIOD_YEARS[1]:
        raise bad_input(f"`{field}` must lie in the years {PERIOD_YEARS[0]}–{PERIOD_YEARS[1]}",
                        field)


def local_time(t: datetime) -> datetime:
    """A time as given, or, without an offset, read as Asia/Shanghai time."""
    return t if t.tzinfo is not None else t.replace(tzinfo=SHANGHAI)
