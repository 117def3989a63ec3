"""Geometry output: GeoJSON from PostGIS or from a point, converted to the requested datum."""

from __future__ import annotations

import json
from typing import Any

from strawberry.types import Info

from geo.datum import from_wgs84, transform_geojson
from geo.types import Crs


async def place_geometry(info: Info, table: str, code: str, crs: Crs | None) -> dict[str, Any]:
    text = await info.context.loaders.geometry(table).load(code)
    geometry: dict[str, Any] = json.loads(text)
    return transform_geojson(geometry, crs) if crs not in (None, Crs.WGS84) else geometry


def point_geometry(lon: float, lat: float, crs: Crs | None) -> dict[str, Any]:
    x, y = from_wgs84(lon, lat, crs) if crs not in (None, Crs.WGS84) else (lon, lat)
    return {"type": "Point", "coordinates": [x, y]}
