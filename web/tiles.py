"""Vector tiles of the map layers: `/tiles/{layer}/{z}/{x}/{y}.mvt`, TileJSON beside them.

Every layer of the catalogue (`db/queries/layers.py`) is served. Tickets 工单 below zoom 15 are
counts per grid cell 网格 for everyone, from a county-wide count kept for a minute; from 15 on
they are records where the caller's scope covers them and counts per 100 m square elsewhere.
Both follow the disclosure rule (`resolvers/disclosure.py`): counts under MIN_COUNT withheld
outside the caller's scope, `from`/`to` whole months for callers who do not see every ticket,
and for callers without exact counts everywhere no `from`/`to` and no `status` (every ticket,
as layers and OGC count).
Patrol coverage 巡查覆盖 is drawn for the week holding `week` (a date; this week when left
out) over the grid cells the caller's scope covers, for whom `patrolCoverage` is; anyone
else gets 403 FORBIDDEN. A tile below a layer's `min_zoom`, or with nothing in it, is a 200
with an empty body (a valid, empty MVT). `crs=GCJ02` or `BD09` cuts the tiles on that
basemap's grid.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from db.queries import tiles as queries
from db.queries.layers import Layer
from db.queries.patrols import PatrolWeek
from db.queries.tiles import DETAIL_ZOOM, MAX_ZOOM, TicketFilters, TileKey, TileSource
from geo.types import Crs
from resolvers.actor import Actor
from resolvers.disclosure import Disclosure, disclosure
from resolvers.errors import DomainError, ErrorCode, bad_input
from resolvers.layers import layer_of, ticket_view, week_view
from web import params
from web.caching import none_match
from web.errors import domain_error_response
from web.identity import actor_of
from web.memo import Memo
from web.tilecache import TileCache
from web.tilejson import index_document, tilejson_document

MVT = "application/vnd.mapbox-vector-tile"
# Low-zoom ticket tiles draw county-wide counts per grid cell, counted at most once a minute
# per set of filters.
CELL_COUNTS_S = 60.0
PUBLIC_CACHE = {"Cache-Control": "public, max-age=300"}
CALLER_CACHE = {"Cache-Control": "private, max-age=60", "Vary": "Authorization"}


def parse_layer(name: str) -> Layer:
    return layer_of(name, field="layer")


def parse_crs(request: Request) -> Crs:
    return params.datum(request)


def parse_key(request: Request) -> TileKey:
    p = request.path_params
    z = params.parse_integer("z", p["z"], low=0, high=MAX_ZOOM)
    return TileKey(z, params.parse_integer("x", p["x"], low=0, high=2**z - 1),
                   params.parse_integer("y", p["y"], low=0, high=2**z - 1), parse_crs(request))


def parse_filters(request: Request, layer: Layer) -> TicketFilters:
    given = [name for name in ("status", "from", "to") if name in request.query_params]
    if not given:
        return queries.NO_FILTERS
    if not layer.is_tickets:
        raise bad_input(f"{given[0]} filters tickets only, not {layer.name}", given[0])
    start, stop = params.period(request)
    return TicketFilters(params.statuses(request), start, stop)


def parse_week(request: Request, layer: Layer, actor: Actor) -> PatrolWeek | None:
    """The week a patrol coverage tile draws, as the caller may see it (FORBIDDEN for roles
    that may not read coverage); `week` on another layer is bad input."""
    return week_view(actor, layer, params.day(request, "week"), "week")


def source_of(layer: Layer, z: int, rule: Disclosure, filters: TicketFilters,
              counted: dict[str, int] | None = None,
              week: PatrolWeek | None = None) -> TileSource:
    """What a tile of `layer` draws for a caller; `counted` holds the true tickets per grid
    cell that low-zoom ticket tiles draw from, `week` the patrols a weekly layer draws."""
    if not layer.is_tickets:
        return queries.layer_source(layer, week=week)
    if z < DETAIL_ZOOM:
        codes = sorted(counted or {})
        return queries.ticket_cell_counts(codes, [rule.count((counted or {})[c], c)
                                                  for c in codes])
    return queries.layer_source(layer, ticket_view(rule.actor), filters)


async def source_for(request: Request, layer: Layer, z: int, rule: Disclosure,
                     filters: TicketFilters, week: PatrolWeek | None = None) -> TileSource:
    counted = None
    if layer.is_tickets and z < DETAIL_ZOOM:
        counted = await cell_counts(request, filters)
    return source_of(layer, z, rule, filters, counted, week)


async def cell_counts(request: Request, filters: TicketFilters) -> dict[str, int]:
    """True tickets per grid cell under `filters`, kept for a minute and computed once for
    concurrent misses."""
    state = request.app.state
    memo: Memo[dict[str, int]] = state.ticket_cell_counts

    async def count() -> dict[str, int]:
        async with state.tile_db.connection() as conn:
            return await queries.cell_ticket_counts(conn, filters)

    return await memo.get(filters, count)


def etag_of(body: bytes) -> str:
    return '"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def cached(request: Request, body: bytes, media_type: str, headers: dict[str, str],
           etag: str | None = None) -> Response:
    """The body with its ETag, or a 304 when the caller already holds it."""
    etag = etag or etag_of(body)
    headers = {**headers, "ETag": etag}
    if none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    return Response(body, media_type=media_type, headers=headers)


def allowed_filters(request: Request, layer: Layer, rule: Disclosure) -> TicketFilters:
    """The ticket filters of the request, as the disclosure rule lets the caller filter."""
    filters = parse_filters(request, layer)
    rule.check_period(filters.created_from, filters.created_to)
    rule.check_every_ticket(filters.created_from, filters.created_to)
    rule.check_filters(status=filters.statuses)
    return filters


async def tile(request: Request) -> Response:
    rule = disclosure(actor_of(request))
    try:
        layer = parse_layer(request.path_params["layer"])
        key = parse_key(request)
        filters = allowed_filters(request, layer, rule)
        week = parse_week(request, layer, rule.actor)
    except DomainError as exc:
        return domain_error_response(exc)
    body, etag = b"", None
    if key.z >= layer.min_zoom:

        async def render() -> tuple[bytes, str]:
            source = await source_for(request, layer, key.z, rule, filters, week)
            async with request.app.state.tile_db.connection() as conn:
                drawn = await queries.render(conn, source, key)
            return drawn, etag_of(drawn)

        if layer.per_caller:
            body, _ = await render()
        else:
            tiles: TileCache = request.app.state.tile_cache
            body, etag = await tiles.get((layer.name, key), render)
    return cached(request, body, MVT, CALLER_CACHE if layer.per_caller else PUBLIC_CACHE, etag)


async def _bounds(request: Request) -> tuple[float, float, float, float] | None:
    async with request.app.state.db.connection() as conn:
        return await queries.county_bounds(conn)


def _passed_on(request: Request) -> str:
    """The query parameters a tile URL needs (crs, ticket filters and the patrols' week), in a
    fixed order."""
    q = request.query_params
    kept = [(k, v) for k in ("crs", "status", "from", "to", "week") for v in q.getlist(k)]
    return urlencode(kept)


async def layer_tilejson(request: Request) -> Response:
    try:
        layer = parse_layer(request.path_params["layer"])
        crs = parse_crs(request)
        allowed_filters(request, layer, disclosure(actor_of(request)))
        day = params.day(request, "week")
        if not layer.weekly:  # refuses `week`; patrol coverage's TileJSON is public metadata
            week_view(actor_of(request), layer, day, "week")
    except DomainError as exc:
        return domain_error_response(exc)
    doc = tilejson_document(layer, str(request.base_url), _passed_on(request),
                            await _bounds(request), crs)
    return cached(request, orjson.dumps(doc), "application/json", PUBLIC_CACHE)


async def tiles_index(request: Request) -> Response:
    try:
        parse_crs(request)
    except DomainError as exc:
        return domain_error_response(exc)
    doc = index_document(str(request.base_url), _passed_on(request))
    return cached(request, orjson.dumps(doc), "application/json", PUBLIC_CACHE)


async def not_found(request: Request) -> Response:
    return domain_error_response(DomainError(
        ErrorCode.NOT_FOUND, "tiles are at /tiles/{layer}/{z}/{x}/{y}.mvt and TileJSON at "
        "/tiles/{layer}.json"))


ROUTES: list[Any] = [
    Route("/tiles.json", tiles_index),
    Route("/tiles/{layer}.json", layer_tilejson),
    Route("/tiles/{layer}/{z}/{x}/{y}.mvt", tile),
    Route("/tiles/{rest:path}", not_found),
]
