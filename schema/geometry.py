"""Geometry output: GeoJSON from PostGIS or from a point, converted to the requested datum."""

from __future__ import annotations

import json
from typing import Any

from strawberry.types import Info

from geo.datum import from_wgs84, transform_geojson
from geo.types import Crs
from schema.scalars import GeoJSON


async def place_geometry(info: Info, table: str, code: str, crs: Crs | None) -> GeoJSON:
    text = await info.context.loaders.geometry(table).load(code)
    geometry: dict[str, Any] = json.loads(text)
    if crs is None or crs is Crs.WGS84:
        return GeoJSON(geometry)
    return GeoJSON(transform_geojson(geometry, crs))


def point_geometry(lon: float, lat: float, crs: Crs | None) -> GeoJSON:
    x, y = (lon, lat) if crs is None or crs is Crs.WGS84 else from_wgs84(lon, lat, crs)
    return GeoJSON({"type": "Point", "coordinates": [x, y]})
