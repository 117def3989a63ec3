"""Geometry output: GeoJSON from PostGIS or from a point, converted to the requested datum."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from strawberry.types import Info

from geo.datum import from_wgs84, transform_geojson
from geo.types import Crs
from schema.scalars import GeoJSON


class RawJSON(Mapping[str, Any]):
    """A JSON object as text built by PostGIS, passed to the response as it is.

    The HTTP and websocket encoders (web/app.py) write `text` into the response without
    parsing it; only Python code that looks inside (tests, a datum conversion) parses it, once.
    """

    __slots__ = ("_parsed", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._parsed: dict[str, Any] | None = None

    def _value(self) -> dict[str, Any]:
        if self._parsed is None:
            self._parsed = json.loads(self.text)
        return self._parsed

    def __getitem__(self, key: str) -> Any:
        return self._value()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._value())

    def __len__(self) -> int:
        return len(self._value())

    def __repr__(self) -> str:
        return f"RawJSON({self.text!r})"


def known_outline(place: Any) -> RawJSON:
    """The WGS84 outline a place came with; LookupError when it came without."""
    if place.outline is None:
        raise LookupError("no outline came with this place")
    return RawJSON(place.outline)


async def place_geometry(info: Info, table: str, code: str, crs: Crs | None,
                         outline: str | None = None) -> GeoJSON:
    """A place's outline in `crs`: its GeoJSON text `outline` when it came with the place,
    otherwise loaded (batched per request)."""
    text = outline if outline is not None else await info.context.loaders.geometry(table).load(code)
    if crs is None or crs is Crs.WGS84:
        return GeoJSON(RawJSON(text))
    return GeoJSON(transform_geojson(json.loads(text), crs))


def point_geometry(lon: float, lat: float, crs: Crs | None) -> GeoJSON:
    x, y = (lon, lat) if crs is None or crs is Crs.WGS84 else from_wgs84(lon, lat, crs)
    return GeoJSON({"type": "Point", "coordinates": [x, y]})
