"""HTTP plumbing of OGC API Features: query parameters, media types, errors, caching."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

from starlette.requests import Request
from starlette.responses import Response

from geo.types import BBox, GeoInputError
from resolvers.errors import DomainError, ErrorCode, bad_input
from web import params
from web.caching import none_match
from web.errors import PRIVATE, ogc_response

GEOJSON = "application/geo+json"
JSON = "application/json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
PUBLIC_CACHE = {"Cache-Control": "public, max-age=300", "Vary": "Accept"}
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Deeper pages come by following `next` links, which continue after a key (keyset paging)
# rather than skipping rows: an offset costs the rows it skips.
MAX_OFFSET = 10_000


class NotAcceptable(Exception):
    """The caller accepts none of the media types a resource comes in."""


def error_response(exc: DomainError, *, status: int | None = None) -> Response:
    """An OGC exception body (`code`, `description`, as the standard asks) with RedGrid's stable
    code and the status every other route gives it."""
    return ogc_response(exc.code, exc.message, exc.field, status=status)


def not_acceptable(offered: Iterable[str]) -> Response:
    return ogc_response(ErrorCode.NOT_ACCEPTABLE,
                        f"this resource comes as {', '.join(offered)} (or use f=json)")


def check_params(request: Request, allowed: frozenset[str]) -> None:
    """400 for parameters the API does not define (OGC API Features, /req/core/query-param-unknown)."""
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise bad_input(f"unknown query parameter(s): {', '.join(unknown)}; "
                        f"this resource takes {', '.join(sorted(allowed)) or 'none'}",
                        unknown[0])


def media_type(request: Request, offered: tuple[str, ...]) -> str:
    """The first of `offered` that `f` or the Accept header asks for."""
    f = request.query_params.get("f")
    if f is not None:
        if f not in ("json", "geojson"):
            raise bad_input(f"f must be json, got {f!r}", "f")
        return offered[0]
    accept = request.headers.get("accept", "").strip()
    if not accept:
        return offered[0]
    wanted: list[tuple[float, int, str]] = []
    for i, part in enumerate(accept.split(",")):
        kind, *options = (p.strip() for p in part.split(";"))
        q = 1.0
        for option in options:
            name, _, value = option.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if q > 0:
            wanted.append((-q, i, kind.lower()))
    for _, _, kind in sorted(wanted):
        if kind in ("*/*", "application/*"):
            return offered[0]
        for media in offered:
            if media.split(";")[0] == kind:
                return media
    raise NotAcceptable


def limit_param(request: Request) -> int:
    """`limit`: 1 or more; above the maximum it is the maximum, as OGC API Features permits."""
    return params.integer(request, "limit", default=DEFAULT_LIMIT, low=1, cap=MAX_LIMIT)


def offset_param(request: Request) -> int:
    """`offset`: 0 to MAX_OFFSET; beyond it OFFSET_TOO_LARGE points to the `next` links."""
    value = params.integer(request, "offset", default=0, low=0)
    if value > MAX_OFFSET and "after" not in request.query_params:
        raise DomainError(ErrorCode.OFFSET_TOO_LARGE,
                          f"offset may be at most {MAX_OFFSET:,}; follow the `next` links, "
                          "which continue after a key, to page further", "offset")
    return value


def after_param(request: Request, numeric: bool) -> int | str | None:
    """`after`: the sort key a `next` link continues after (an integer where `numeric`)."""
    raw = request.query_params.get("after")
    if raw is None or not numeric:
        return raw
    try:
        return int(raw)
    except ValueError:
        raise bad_input(f"after must be a key from a `next` link, got {raw!r}",
                        "after") from None


def bbox_param(request: Request) -> BBox | None:
    """`bbox=west,south,east,north` in CRS84; `bbox-crs` may only name CRS84."""
    crs = request.query_params.get("bbox-crs")
    if crs is not None and crs != CRS84:
        raise bad_input(f"bbox-crs must be {CRS84}", "bbox-crs")
    numbers = params.box(request)
    if numbers is None:
        return None
    try:
        return BBox(*numbers)
    except GeoInputError as exc:
        raise DomainError(ErrorCode(exc.code), exc.message,
                          f"bbox.{exc.field}" if exc.field else "bbox") from None


def etag_of(*parts: bytes) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part)
        digest.update(b"\0")
    return f'W/"{digest.hexdigest()[:32]}"'


def respond(request: Request, body: bytes, media: str, *, private: bool,
            etag_parts: tuple[bytes, ...] | None = None) -> Response:
    """The body with the cache headers its audience allows: a public body gets an ETag
    (over `etag_parts`, which leave out what changes on every request) and a 304 for a
    matching If-None-Match; a private one is never stored."""
    if private:
        return Response(body, media_type=media, headers=dict(PRIVATE))
    etag = etag_of(*(etag_parts or (body,)))
    headers: Mapping[str, str] = {**PUBLIC_CACHE, "ETag": etag}
    if none_match(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=dict(headers))
    return Response(body, media_type=media, headers=dict(headers))
