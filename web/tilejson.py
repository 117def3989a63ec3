"""TileJSON 3.0.0 documents of the vector tile layers, built from the layer catalogue."""

from __future__ import annotations

from typing import Any

from db.queries.layers import LAYERS, Layer
from db.queries.tiles import DETAIL_ZOOM
from geo.datum import from_wgs84
from geo.types import Crs

# Clients overzoom past this: a z16 tile at 4096 units already resolves ~15 cm.
MAXZOOM = 16
WORLD = (-180.0, -85.0511, 180.0, 85.0511)
_NUMBERS = {"households", "population", "count"}
_BOOLEANS = {"precise"}


def _type(name: str) -> str:
    return "Number" if name in _NUMBERS else "Boolean" if name in _BOOLEANS else "String"


def fields(layer: Layer) -> dict[str, str]:
    out = {name: _type(name) for name, _ in layer.properties}
    if layer.is_tickets:
        out = {"count": f"Number (below z{DETAIL_ZOOM}: tickets per grid cell)", **out}
    return out


def _url(base: str, path: str, query: str) -> str:
    return base.rstrip("/") + path + (f"?{query}" if query else "")


def _bounds(bounds: tuple[float, float, float, float] | None,
            crs: Crs) -> tuple[float, float, float, float]:
    if bounds is None:
        return WORLD
    west, south = from_wgs84(bounds[0], bounds[1], crs)
    east, north = from_wgs84(bounds[2], bounds[3], crs)
    return (round(west, 6), round(south, 6), round(east, 6), round(north, 6))


def tilejson_document(layer: Layer, base: str, query: str,
                      bounds: tuple[float, float, float, float] | None,
                      crs: Crs) -> dict[str, Any]:
    """TileJSON of one layer; `query` (crs, ticket filters) is kept on the tile URL."""
    west, south, east, north = _bounds(bounds, crs)
    description = f"{layer.title} ({layer.title_zh}) of RedGrid, datum {crs.value}"
    if layer.is_tickets:
        description += (f"; below z{DETAIL_ZOOM} one point per grid cell with its `count`, "
                        "from there points: exact within the caller's scope, counts per "
                        "100 m square elsewhere")
    return {
        "tilejson": "3.0.0",
        "name": layer.name,
        "description": description,
        "scheme": "xyz",
        "tiles": [_url(base, f"/tiles/{layer.name}/{{z}}/{{x}}/{{y}}.mvt", query)],
        "minzoom": layer.min_zoom,
        "maxzoom": MAXZOOM,
        "bounds": [west, south, east, north],
        "center": [round((west + east) / 2, 6), round((south + north) / 2, 6),
                   max(layer.min_zoom, 13)],
        "vector_layers": [{
            "id": layer.name,
            "description": description,
            "minzoom": layer.min_zoom,
            "maxzoom": MAXZOOM,
            "fields": fields(layer),
        }],
    }


def index_document(base: str, query: str) -> dict[str, Any]:
    """Every layer with its TileJSON and tile URLs."""
    return {"layers": [{
        "name": layer.name, "title": layer.title, "title_zh": layer.title_zh,
        "geometry_type": "Point" if layer.is_tickets else layer.geometry_type,
        "minzoom": layer.min_zoom,
        "tilejson": _url(base, f"/tiles/{layer.name}.json", query),
        "tiles": _url(base, f"/tiles/{layer.name}/{{z}}/{{x}}/{{y}}.mvt", query),
    } for layer in LAYERS.values()]}
