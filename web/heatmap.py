"""`GET /heatmap.geojson`: the heat map 民情气象图 as one GeoJSON FeatureCollection.

Query parameters mirror the GraphQL field: bbox=w,s,e,n (WGS-84, or `bboxCrs`), from, to
(ISO 8601), resolution, crs, categoryCode, itemCode, status (comma-separated). Counts depend
on the caller, so the response may be cached only privately, and per Authorization. The
server keeps each answer for a minute per parameters and kind of caller (which counts they
see exactly), as it does for the heat-map tiles, and computes concurrent misses once.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from db.queries import tiles as tile_queries
from geo.types import BBox, Crs
from resolvers import heatmap as resolver
from resolvers.disclosure import disclosure
from resolvers.errors import DomainError, bad_input
from resolvers.inputs import bbox_wgs84
from web import tiles
from web.identity import PRIVATE, actor_of
from web.memo import Memo

HEADERS = {"Cache-Control": "private, max-age=60", "Vary": "Authorization"}
MEDIA_TYPE = "application/geo+json"


def _required(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if value is None or not value.strip():
        raise bad_input(f"query parameter `{name}` is required", name)
    return value.strip()


def _crs(request: Request, name: str) -> Crs:
    text = request.query_params.get(name, "WGS84").strip().upper()
    try:
        return Crs(text)
    except ValueError:
        raise bad_input(f"`{name}` must be one of WGS84, GCJ02, BD09", name) from None


def _time(request: Request, name: str) -> datetime:
    text = _required(request, name)
    try:
        # A `+` in a URL query means a space; put the offset sign back.
        return datetime.fromisoformat(text.replace(" ", "+"))
    except ValueError:
        raise bad_input(f"`{name}` must be an ISO 8601 date-time, got {text!r}", name) from None


def _bbox(request: Request) -> BBox:
    parts = _required(request, "bbox").split(",")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        numbers = []
    if len(numbers) != 4 or not all(math.isfinite(x) for x in numbers):
        raise bad_input("`bbox` must be four numbers west,south,east,north", "bbox")
    west, south, east, north = numbers
    return bbox_wgs84(west, south, east, north, _crs(request, "bboxCrs"), field="bbox")


def _args(request: Request, bbox: BBox | None = None,
          crs: Crs | None = None) -> resolver.HeatmapArgs:
    bbox = bbox or _bbox(request)
    status = request.query_params.get("status")
    return resolver.HeatmapArgs(
        bbox=bbox, start=_time(request, "from"), end=_time(request, "to"),
        category_code=request.query_params.get("categoryCode") or None,
        item_code=request.query_params.get("itemCode") or None,
        statuses=tuple(s.strip().upper() for s in status.split(",")) if status else None,
        resolution=request.query_params.get("resolution", "GRID_CELL").strip().upper(),
        crs=crs or _crs(request, "crs"),
    )


def _feature(c: resolver.HeatCell) -> dict[str, Any]:
    return {
        "type": "Feature", "id": c.id, "geometry": c.geometry,
        "properties": {
            "id": c.id, "count": c.count, "withheld": c.withheld,
            "changeFromPrevious": c.change_from_previous,
            "changeFromLastYear": c.change_from_last_year, "zScore": c.z_score,
            "pValue": c.p_value, "hotspot": c.hotspot.value if c.hotspot else None,
        },
    }


def _collection(h: resolver.Heatmap) -> bytes:
    p = h.periods
    return orjson.dumps({
        "type": "FeatureCollection",
        "resolution": h.resolution, "exact": h.exact,
        "from": p.start.isoformat(), "to": p.end.isoformat(),
        "previousFrom": p.previous_start.isoformat(),
        "lastYearFrom": p.last_year_start.isoformat(), "lastYearTo": p.last_year_end.isoformat(),
        "features": [_feature(c) for c in h.cells],
    })


async def heatmap_geojson(request: Request) -> Response:
    try:
        args = _args(request)
        actor = actor_of(request)

        async def compute() -> bytes:
            return _collection(await resolver.heatmap(request.app.state.db, actor, args))

        body = await _memo(request, "heatmap_geojson").get(
            (args, disclosure(actor).counts_key()), compute)
    except DomainError as exc:
        body = {"code": exc.code.value, "message": exc.message, "field": exc.field}
        return Response(orjson.dumps(body), status_code=400, media_type="application/json",
                        headers=PRIVATE)
    return Response(body, media_type=MEDIA_TYPE, headers=HEADERS)


# A map view asks for several tiles of the same county-wide heat map at once, and many people
# look at the same month: keep each answer for the tiles' max-age, per parameters and kind of
# caller, and compute concurrent misses once.
_CACHE_S = 60.0
_CACHE_ENTRIES = 64


def _memo(request: Request, name: str) -> Memo[Any]:
    state = request.app.state
    memo: Memo[Any] | None = getattr(state, name, None)
    if memo is None:
        memo = Memo(_CACHE_S, _CACHE_ENTRIES)
        setattr(state, name, memo)
    return memo


async def _county_heatmap(request: Request, args: resolver.HeatmapArgs) -> resolver.Heatmap:
    actor = actor_of(request)

    async def compute() -> resolver.Heatmap:
        return await resolver.heatmap(request.app.state.db, actor, args)

    found: resolver.Heatmap = await _memo(request, "heatmap_tiles").get(
        (args, disclosure(actor).counts_key()), compute)
    return found


async def heatmap_tile(request: Request) -> Response:
    """`/tiles/heatmap/{z}/{x}/{y}.mvt`: the heat map's cells as a vector tile.

    Gi* compares each cell with the whole study area, so the cells are computed over the
    county (not the tile, which would give a cell a different class in each tile it
    touches) and the tile draws those it meets. Same parameters as /heatmap.geojson, less
    bbox; `crs` cuts the tile on a GCJ-02/BD-09 basemap's grid."""
    db = request.app.state.db
    try:
        key = tiles.parse_key(request)
        # The study area is the streets' extent, fixed while the server runs (places change
        # only by reloading the data): read it once, not before every tile.
        bounds = getattr(request.app.state, "county_bounds", None)
        if bounds is None:
            async with db.connection() as conn:
                bounds = request.app.state.county_bounds = await tile_queries.county_bounds(conn)
        if bounds is None:
            return tiles.cached(request, b"", tiles.MVT, HEADERS)
        args = _args(request, BBox(*bounds), crs=Crs.WGS84)
        h = await _county_heatmap(request, args)
    except DomainError as exc:
        return tiles.error_response(exc)
    cells = tile_queries.CellValues(
        ids=[c.id for c in h.cells],
        geometries=[orjson.dumps(c.geometry).decode() for c in h.cells],
        counts=[c.count for c in h.cells], withheld=[c.withheld for c in h.cells],
        hotspots=[c.hotspot.value if c.hotspot else None for c in h.cells],
        z_scores=[c.z_score for c in h.cells])
    async with request.app.state.tile_db.connection() as conn:
        body = await tile_queries.render(conn, tile_queries.cells_source("heatmap", cells), key)
    return tiles.cached(request, body, tiles.MVT, HEADERS)
