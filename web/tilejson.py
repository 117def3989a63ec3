"""TileJSON 3.0.0 documents of the vector tile layers, built from the layer catalogue."""

from __future__ import annotations

from typing import Any

from db.queries.disclosure import MIN_COUNT
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
    description = f"{layer.title} ({layer.title_zh}) of RedGrid, datum {crs.value}"
    if layer.is_tickets:
        description += (f"; below z{DETAIL_ZOOM} one point per grid cell with its `count`, "
                        "from there points: exact within the caller's scope, counts per "
                        "100 m square elsewhere")
    return _document(layer.name, description, layer.min_zoom, fields(layer), base, query,
                     bounds, crs)


# The heat map 民情气象图 is not a catalogue layer (its cells are computed per request, over
# the whole county), but it is a tile layer like the others.
HEATMAP = "heatmap"
HEATMAP_TITLE, HEATMAP_TITLE_ZH = "Heat map", "民情气象图"
HEATMAP_PARAMS = ("crs", "from", "to", "resolution", "categoryCode", "itemCode", "status")
HEATMAP_FIELDS = {
    "id": "String (grid cell code, or H3 index in hex)",
    "count": "Number (absent where withheld)",
    "withheld": f"Boolean (a count under {MIN_COUNT} the caller may not see)",
    "hotspot": "String (Gi* class over the whole county: HOT_99 … COLD_99, NOT_SIGNIFICANT)",
    "z_score": "Number (Gi*)",
}


def heatmap_tilejson_document(base: str, query: str,
                              bounds: tuple[float, float, float, float] | None,
                              crs: Crs) -> dict[str, Any]:
    """TileJSON of the heat map's tiles; `query` (from, to, resolution, filters) is kept on
    the tile URL, where `from` and `to` are required."""
    description = (f"{HEATMAP_TITLE} ({HEATMAP_TITLE_ZH}) of RedGrid, datum {crs.value}: tickets "
                   "per grid cell or H3 hexagon for the period `from`–`to` (required on the "
                   "tile URL), with Getis-Ord Gi* hot and cold spots computed over the county; "
                   "grid cells and H3_9 hexagons for the county office and planners only "
                   "(grid cells their default), H3_8 hexagons only for everyone else")
    return _document(HEATMAP, description, 0, HEATMAP_FIELDS, base, query, bounds, crs)


def _document(name: str, description: str, minzoom: int, layer_fields: dict[str, str],
              base: str, query: str, bounds: tuple[float, float, float, float] | None,
              crs: Crs) -> dict[str, Any]:
    west, south, east, north = _bounds(bounds, crs)
    return {
        "tilejson": "3.0.0",
        "name": name,
        "description": description,
        "scheme": "xyz",
        "tiles": [_url(base, f"/tiles/{name}/{{z}}/{{x}}/{{y}}.mvt", query)],
        "minzoom": minzoom,
        "maxzoom": MAXZOOM,
        "bounds": [west, south, east, north],
        "center": [round((west + east) / 2, 6), round((south + north) / 2, 6),
                   max(minzoom, 13)],
        "vector_layers": [{
            "id": name,
            "description": description,
            "minzoom": minzoom,
            "maxzoom": MAXZOOM,
            "fields": layer_fields,
        }],
    }


def index_document(base: str, query: str) -> dict[str, Any]:
    """Every layer with its zooms, TileJSON and tile URLs, the heat map last."""
    entries = [(layer.name, layer.title, layer.title_zh,
                "Point" if layer.is_tickets else layer.geometry_type, layer.min_zoom)
               for layer in LAYERS.values()]
    entries.append((HEATMAP, HEATMAP_TITLE, HEATMAP_TITLE_ZH, "Polygon", 0))
    return {"layers": [{
        "name": name, "title": title, "title_zh": title_zh, "geometry_type": geometry_type,
        "minzoom": minzoom, "maxzoom": MAXZOOM,
        "tilejson": _url(base, f"/tiles/{name}.json", query),
        "tiles": _url(base, f"/tiles/{name}/{{z}}/{{x}}/{{y}}.mvt", query),
    } for name, title, title_zh, geometry_type, minzoom in entries]}
