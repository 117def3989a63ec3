"""`GET /heatmap.geojson`: the heat map 民情气象图 as one GeoJSON FeatureCollection.

Query parameters mirror the GraphQL field: bbox=w,s,e,n (WGS-84, or `bboxCrs`), from, to
(ISO 8601), resolution, crs, categoryCode, itemCode, status (comma-separated). Counts depend
on the caller, so the response may be cached only privately, and per Authorization. The
server keeps each answer for a minute per parameters and kind of caller (which counts they
see exactly), as it does for the heat-map tiles, and computes concurrent misses once. At most
REDGRID_HEATMAP_CONCURRENCY heat maps are computed at once per process (`Slots`); a miss
beyond that waits up to REDGRID_HEATMAP_QUEUE_S for a slot, then gets 503 UNAVAILABLE with
Retry-After, so that a burst of distinct misses cannot crowd out the server's other requests.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response

from db.queries import tiles as tile_queries
from geo.types import BBox, Crs
from resolvers import heatmap as resolver
from resolvers.disclosure import disclosure
from resolvers.errors import DomainError, ErrorCode
from resolvers.inputs import bbox_wgs84
from web import params, tiles
from web.errors import domain_error_response, error_response
from web.identity import actor_of
from web.memo import Memo
from web.settings import Settings
from web.tilejson import HEATMAP_PARAMS, heatmap_tilejson_document

HEADERS = {"Cache-Control": "private, max-age=60", "Vary": "Authorization"}
MEDIA_TYPE = "application/geo+json"
T = TypeVar("T")


class Busy(Exception):
    """Every heat-map slot stayed taken for as long as a miss may wait."""


class Slots:
    """At most `count` heat maps computed at once in this process; a computation waits up to
    `wait_s` for a slot, else `Busy`."""

    def __init__(self, count: int, wait_s: float) -> None:
        self.wait_s = wait_s
        self._free = asyncio.Semaphore(max(1, count))

    async def run(self, compute: Callable[[], Awaitable[T]]) -> T:
        try:
            await asyncio.wait_for(self._free.acquire(), self.wait_s)
        except TimeoutError:
            raise Busy from None
        try:
            return await compute()
        finally:
            self._free.release()


def _busy() -> Response:
    return error_response(ErrorCode.UNAVAILABLE,
                          "Too many heat maps are being computed; try again shortly.",
                          retryable=True, headers={"Retry-After": "1"})


def _bbox(request: Request) -> BBox:
    numbers = params.box(request, required=True)
    assert numbers is not None
    return bbox_wgs84(*numbers, params.datum(request, "bboxCrs"), field="bbox")


def _resolution(request: Request) -> str:
    """The heat map's cells for the caller (`resolver.resolution_for`): the one asked for, or
    the caller's default; refused before any work where it does not exist or the caller may
    not have it."""
    asked = params.text(request, "resolution")
    return resolver.resolution_for(disclosure(actor_of(request)),
                                   asked.upper() if asked else None)


def _args(request: Request, bbox: BBox | None = None,
          crs: Crs | None = None) -> resolver.HeatmapArgs:
    resolution = _resolution(request)
    bbox = bbox or _bbox(request)
    start, end = params.period(request, required=True)
    assert start is not None and end is not None
    return resolver.HeatmapArgs(
        bbox=bbox, start=start, end=end,
        category_code=params.text(request, "categoryCode"),
        item_code=params.text(request, "itemCode"),
        statuses=params.statuses(request),
        resolution=resolution,
        crs=crs or params.datum(request),
        zone_code=params.text(request, "zoneCode"),
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
            (args, disclosure(actor).counts_key()), lambda: _slots(request).run(compute))
    except DomainError as exc:
        return domain_error_response(exc)
    except Busy:
        return _busy()
    return Response(body, media_type=MEDIA_TYPE, headers=HEADERS)


# A map view asks for several tiles of the same county-wide heat map at once, and many people
# look at the same month: keep each answer for the tiles' max-age, per parameters and kind of
# caller, and compute concurrent misses once.
_CACHE_S = 60.0
_CACHE_ENTRIES = 64


MEMOS = ("heatmap_geojson", "heatmap_tiles")


def create_state(settings: Settings) -> dict[str, Memo[Any] | Slots]:
    """The heat map's memos and computing slots, by their name on the app's state (made in
    the lifespan)."""
    state: dict[str, Memo[Any] | Slots] = {
        name: Memo(_CACHE_S, _CACHE_ENTRIES) for name in MEMOS}
    state["heatmap_slots"] = Slots(settings.heatmap_concurrency, settings.heatmap_queue_s)
    return state


def _memo(request: Request, name: str) -> Memo[Any]:
    memo: Memo[Any] = getattr(request.app.state, name)
    return memo


def _slots(request: Request) -> Slots:
    slots: Slots = request.app.state.heatmap_slots
    return slots


async def _county_heatmap(request: Request, args: resolver.HeatmapArgs) -> resolver.Heatmap:
    actor = actor_of(request)

    async def compute() -> resolver.Heatmap:
        return await resolver.heatmap(request.app.state.db, actor, args)

    found: resolver.Heatmap = await _memo(request, "heatmap_tiles").get(
        (args, disclosure(actor).counts_key()), lambda: _slots(request).run(compute))
    return found


async def _county_bounds(request: Request) -> tuple[float, float, float, float] | None:
    """The study area is the streets' extent, fixed while the server runs (places change
    only by reloading the data): read once, not before every tile."""
    bounds = getattr(request.app.state, "county_bounds", None)
    if bounds is None:
        async with request.app.state.db.connection() as conn:
            bounds = request.app.state.county_bounds = await tile_queries.county_bounds(conn)
    return bounds


async def heatmap_tilejson(request: Request) -> Response:
    """`/tiles/heatmap.json`: TileJSON of the heat map's tiles, listed in /tiles.json too;
    a resolution the caller may not have is refused here as on the tiles."""
    try:
        crs = params.datum(request)
        _resolution(request)
    except DomainError as exc:
        return domain_error_response(exc)
    q = request.query_params
    query = urlencode([(k, v) for k in HEATMAP_PARAMS for v in q.getlist(k)])
    doc = heatmap_tilejson_document(str(request.base_url), query, await _county_bounds(request),
                                    crs)
    return tiles.cached(request, orjson.dumps(doc), "application/json", tiles.PUBLIC_CACHE)


async def heatmap_tile(request: Request) -> Response:
    """`/tiles/heatmap/{z}/{x}/{y}.mvt`: the heat map's cells as a vector tile.

    Gi* compares each cell with the whole study area, so the cells are computed over the
    county (not the tile, which would give a cell a different class in each tile it
    touches) and the tile draws those it meets. Same parameters as /heatmap.geojson, less
    bbox; `crs` cuts the tile on a GCJ-02/BD-09 basemap's grid."""
    try:
        key = tiles.parse_key(request)
        bounds = await _county_bounds(request)
        if bounds is None:
            return tiles.cached(request, b"", tiles.MVT, HEADERS)
        args = _args(request, BBox(*bounds), crs=Crs.WGS84)
        h = await _county_heatmap(request, args)
    except DomainError as exc:
        return domain_error_response(exc)
    except Busy:
        return _busy()
    cells = tile_queries.CellValues(
        ids=[c.id for c in h.cells],
        geometries=[orjson.dumps(c.geometry).decode() for c in h.cells],
        counts=[c.count for c in h.cells], withheld=[c.withheld for c in h.cells],
        hotspots=[c.hotspot.value if c.hotspot else None for c in h.cells],
        z_scores=[c.z_score for c in h.cells])
    async with request.app.state.tile_db.connection() as conn:
        body = await tile_queries.render(conn, tile_queries.cells_source("heatmap", cells), key)
    return tiles.cached(request, body, tiles.MVT, HEADERS)
