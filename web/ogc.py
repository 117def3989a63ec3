"""OGC API - Features (Part 1: Core, GeoJSON, OAS30), read-only, at /ogc.

Every layer of the map catalogue is a collection. Feature collections are built by PostGIS
(`db/queries/features.py`); this module only adds the envelope, links and HTTP semantics.
Tickets 工单 are drawn per caller, as the catalogue rules, and so is patrol coverage 巡查覆盖
(the week holding `week`, this week when left out; 403 for whom `patrolCoverage` is not):
their responses are private.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from db.queries.layers import LAYERS, Layer
from resolvers import layers
from resolvers.disclosure import MIN_COUNT, SQUARE_M
from resolvers.errors import DomainError
from web import params
from web.identity import actor_of
from web.memo import Memo
from web.ogc_http import (
    CRS84,
    GEOJSON,
    JSON,
    MAX_OFFSET,
    OPENAPI,
    NotAcceptable,
    after_param,
    bbox_param,
    check_params,
    error_response,
    limit_param,
    media_type,
    not_acceptable,
    offset_param,
    respond,
)
from web.ogc_openapi import CONFORMANCE, openapi

Handler = Callable[[Request], Awaitable[Response]]
_F = frozenset({"f"})
_ITEM = frozenset({"f", "week"})
_ITEMS = frozenset({"f", "limit", "offset", "after", "bbox", "bbox-crs", "week"})


def _base(request: Request) -> str:
    """The URL of /ogc as the caller reached it."""
    return f"{request.url.scheme}://{request.url.netloc}{request.scope.get('root_path', '')}"


def _link(href: str, rel: str, media: str, title: str | None = None) -> dict[str, str]:
    link = {"href": href, "rel": rel, "type": media}
    if title:
        link["title"] = title
    return link


def _json(data: Any) -> bytes:
    return orjson.dumps(data)


def _layer(request: Request) -> Layer:
    return layers.layer_of(request.path_params["collection_id"], field="collectionId")


def endpoint(offered: tuple[str, ...], params: frozenset[str]) -> Callable[[Any], Handler]:
    """Wraps a handler taking (request, media type) with parameter checks, content
    negotiation and OGC exception bodies for expected failures."""

    def wrap(handler: Callable[[Request, str], Awaitable[Response]]) -> Handler:
        async def run(request: Request) -> Response:
            try:
                check_params(request, params)
                media = media_type(request, offered)
                return await handler(request, media)
            except NotAcceptable:
                return not_acceptable(offered)
            except DomainError as exc:
                return error_response(exc)

        return run

    return wrap


@endpoint((JSON,), _F)
async def landing(request: Request, media: str) -> Response:
    base = _base(request)
    body = {
        "title": "RedGrid - Linshu County grid map (临沭县红网)",
        "description": "Zones, streets, communities, compounds, grid cells, facilities and "
                       "tickets of the synthetic demo county, as OGC API Features.",
        "links": [
            _link(f"{base}/", "self", JSON, "This document"),
            _link(f"{base}/api", "service-desc", OPENAPI, "The API definition (OpenAPI 3.0)"),
            _link(f"{base}/conformance", "conformance", JSON, "Conformance classes"),
            _link(f"{base}/collections", "data", JSON, "The layers"),
        ],
    }
    return respond(request, _json(body), media, private=False)


@endpoint((JSON,), _F)
async def conformance(request: Request, media: str) -> Response:
    return respond(request, _json({"conformsTo": list(CONFORMANCE)}), media, private=False)


@endpoint((OPENAPI, JSON), _F)
async def api(request: Request, media: str) -> Response:
    return respond(request, _json(openapi(_base(request))), media, private=False)


def _collection(base: str, layer: Layer,
                extent: tuple[float, float, float, float] | None) -> dict[str, Any]:
    href = f"{base}/collections/{layer.name}"
    spatial: dict[str, Any] = {"crs": CRS84}
    if extent is not None:
        spatial["bbox"] = [list(extent)]
    return {
        "id": layer.name,
        "title": layer.title_zh,
        "description": f"{layer.title_zh} ({layer.title}), {layer.geometry_type} features"
                       + ("; outside the caller's scope, tickets are only counted per "
                          f"{SQUARE_M} m square (squares under {MIN_COUNT} left out), with no "
                          "code or working fields"
                          if layer.is_tickets else "")
                       + ("; the grid cells of the caller's scope with the patrols of the week "
                          "holding `week` (YYYY-MM-DD, this week when left out), for community, "
                          "zone, street and county staff and planners" if layer.weekly else ""),
        "itemType": "feature",
        "crs": [CRS84],
        "extent": {"spatial": spatial},
        "links": [
            _link(href, "self", JSON, layer.title_zh),
            _link(f"{href}/items", "items", GEOJSON, f"{layer.title_zh}要素"),
        ],
    }


# How long the places' data version (resolvers/layers.py) is trusted before it is read again,
# and how long extents are kept even when it has not changed.
VERSION_CHECK_S = 10.0
EXTENTS_KEPT_S = 3600.0


def create_memos() -> dict[str, Memo[Any]]:
    """The OGC API's memos, by their name on the app's state (made in the lifespan): the
    places' data version, and the layers' extents by that version."""
    return {"ogc_places_version": Memo(VERSION_CHECK_S, 1),
            "ogc_extents": Memo(EXTENTS_KEPT_S, 2)}


async def _extents(request: Request) -> dict[str, layers.Extent | None]:
    """The layers' extents, computed once per change of the places (an import, a seed): kept
    by the places' data version, which is read at most every VERSION_CHECK_S. Tickets are
    given the county's extent. Concurrent misses share one computation."""
    state = request.app.state
    db = state.db
    version = await state.ogc_places_version.get((), lambda: layers.places_version(db))
    found: dict[str, layers.Extent | None] = await state.ogc_extents.get(
        version, lambda: layers.extents(db))
    return found


@endpoint((JSON,), _F)
async def collections(request: Request, media: str) -> Response:
    base = _base(request)
    extents = await _extents(request)
    body = {
        "links": [_link(f"{base}/collections", "self", JSON, "The layers")],
        "collections": [_collection(base, layer, extents[name])
                        for name, layer in LAYERS.items()],
    }
    return respond(request, _json(body), media, private=False)


@endpoint((JSON,), _F)
async def collection(request: Request, media: str) -> Response:
    layer = _layer(request)
    extents = await _extents(request)
    body = _collection(_base(request), layer, extents[layer.name])
    return respond(request, _json(body), media, private=layer.per_caller)


@endpoint((GEOJSON, JSON), _ITEMS)
async def items(request: Request, media: str) -> Response:
    layer = _layer(request)
    limit, offset, bbox = limit_param(request), offset_param(request), bbox_param(request)
    after = after_param(request, numeric=layer.is_tickets)
    page = await layers.feature_page(request.app.state.db, actor_of(request), layer,
                                     bbox=bbox, limit=limit, offset=offset, after=after,
                                     week=params.day(request, "week"))
    here = request.url.remove_query_params("f")
    links = [_link(str(here), "self", media, "This page"),
             _link(f"{_base(request)}/collections/{layer.name}", "collection", JSON)]
    if offset + page.returned < page.matched and page.last_key is not None:
        # Keyset: the next page starts after this page's last key; `offset` only numbers it.
        links.append(_link(str(here.include_query_params(offset=offset + page.returned,
                                                         limit=limit, after=page.last_key)),
                           "next", media, "Next page"))
    if 0 < offset <= MAX_OFFSET + limit:
        back = here.remove_query_params("after")
        links.append(_link(str(back.include_query_params(offset=max(offset - limit, 0),
                                                         limit=limit)),
                           "prev", media, "Previous page"))
    head = {"type": "FeatureCollection", "numberMatched": page.matched,
            "numberReturned": page.returned, "links": links}
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    # The envelope is spliced around the array PostGIS built, which is never parsed here.
    head_text = _json(head)
    body = (head_text[:-1] + b',"timeStamp":"' + stamp.encode() + b'","features":'
            + page.features.encode() + b"}")
    return respond(request, body, media, private=layer.per_caller,
                   etag_parts=(head_text, page.features.encode()))


@endpoint((GEOJSON, JSON), _ITEM)
async def item(request: Request, media: str) -> Response:
    layer = _layer(request)
    feature_id = request.path_params["feature_id"]
    text = await layers.feature(request.app.state.db, actor_of(request), layer, feature_id,
                                week=params.day(request, "week"))
    if text is None:
        return error_response(layers.not_found(layer, feature_id))
    base = _base(request)
    links = [_link(f"{base}/collections/{layer.name}/items/{feature_id}", "self", media),
             _link(f"{base}/collections/{layer.name}", "collection", JSON)]
    body = text.encode()[:-1] + b',"links":' + _json(links) + b"}"
    return respond(request, body, media, private=layer.per_caller)


routes = [
    Route("/", landing),
    Route("/conformance", conformance),
    Route("/api", api),
    Route("/collections", collections),
    Route("/collections/{collection_id}", collection),
    Route("/collections/{collection_id}/items", items),
    Route("/collections/{collection_id}/items/{feature_id}", item),
]
