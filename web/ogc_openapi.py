"""The OpenAPI 3.0 description of /ogc (the `service-desc` of the landing page)."""

from __future__ import annotations

from typing import Any

from db.queries.layers import LAYERS
from web.ogc_http import DEFAULT_LIMIT, GEOJSON, JSON, MAX_LIMIT, MAX_OFFSET

CONFORMANCE = (
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
)


def _param(name: str, where: str, schema: dict[str, Any], description: str, *,
           required: bool = False, explode: bool | None = None) -> dict[str, Any]:
    param: dict[str, Any] = {"name": name, "in": where, "required": required,
                             "description": description, "schema": schema}
    if explode is not None:
        param.update(style="form", explode=explode)
    return param


def _ok(media: str, description: str) -> dict[str, Any]:
    return {"description": description, "content": {media: {"schema": {"type": "object"}}}}


_ERRORS = {
    "400": _ok(JSON, "A bad parameter; the body carries a stable `code`."),
    "404": _ok(JSON, "No such collection or feature."),
    "406": _ok(JSON, "None of the accepted media types is offered."),
}
_F = _param("f", "query", {"type": "string", "enum": ["json"]},
            "Media type: json (or use the Accept header).")


def openapi(base: str) -> dict[str, Any]:
    """The document, with `base` (the URL of /ogc) as its server."""
    collection_id = _param("collectionId", "path",
                           {"type": "string", "enum": list(LAYERS)},
                           "A layer of the map catalogue.", required=True)
    week = _param("week", "query", {"type": "string", "format": "date"},
                  "patrol_coverage only: a day of the Monday-to-Sunday week (Beijing time) "
                  "drawn; this week when left out.", explode=False)
    items_params = [
        collection_id,
        _param("limit", "query", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT,
                                  "default": DEFAULT_LIMIT},
               f"Features per page; above {MAX_LIMIT} means {MAX_LIMIT}.", explode=False),
        _param("offset", "query", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET,
                                   "default": 0},
               "Features to skip, in the collection's stable order; with `after`, only the "
               "position of the page (for its `prev` link).", explode=False),
        _param("after", "query", {"type": "string"},
               "Continue after this sort key, as `next` links do (keyset paging).",
               explode=False),
        _param("bbox", "query", {"type": "array", "minItems": 4, "maxItems": 4,
                                 "items": {"type": "number"}},
               "west,south,east,north in CRS84: features intersecting the box.",
               explode=False),
        _param("bbox-crs", "query", {"type": "string", "enum": [
            "http://www.opengis.net/def/crs/OGC/1.3/CRS84"]}, "Only CRS84."),
        week,
        _F,
    ]

    def get(summary: str, op: str, params: list[dict[str, Any]], media: str) -> dict[str, Any]:
        return {"get": {"summary": summary, "operationId": op, "parameters": params,
                        "responses": {"200": _ok(media, summary), **_ERRORS}}}

    return {
        "openapi": "3.0.3",
        "info": {"title": "RedGrid OGC API - Features", "version": "1.0.0",
                 "description": "Read-only map layers of the Linshu County grid (临沭县红网)."},
        "servers": [{"url": base}],
        "paths": {
            "/": get("Landing page", "getLandingPage", [_F], JSON),
            "/conformance": get("Conformance classes", "getConformance", [_F], JSON),
            "/api": get("This document", "getApi", [_F], JSON),
            "/collections": get("The layers", "getCollections", [_F], JSON),
            "/collections/{collectionId}": get("One layer", "describeCollection",
                                               [collection_id, _F], JSON),
            "/collections/{collectionId}/items": get("Features of a layer", "getFeatures",
                                                     items_params, GEOJSON),
            "/collections/{collectionId}/items/{featureId}": get(
                "One feature", "getFeature",
                [collection_id, _param("featureId", "path", {"type": "string"},
                                       "The feature's code.", required=True), week, _F],
                GEOJSON),
        },
    }
