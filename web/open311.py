"""Open311 GeoReport v2 at `/open311/v2`: the specification's paths in `.json` and `.xml`.

A thin layer over `resolvers/open311.py`: parse the query string or the form body, answer in
the format the path names. Errors use the specification's shape, a list of
`{"code": <HTTP status>, "description": ...}`, with RedGrid's stable code (`redgrid_code`)
and the parameter at fault (`field`) beside them.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from starlette.datastructures import MultiDict
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from resolvers import open311
from resolvers.errors import DomainError, ErrorCode, bad_input
from web.errors import PRIVATE, open311_response
from web.open311_format import FORMATS, render
from web.params import parse_box, parse_integer, parse_moment, parse_names

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
CHANGESET = "2026-11-30T00:00:00+08:00"
STATUS = {ErrorCode.UNAUTHENTICATED: 403, ErrorCode.FORBIDDEN: 403, ErrorCode.NOT_FOUND: 404,
          ErrorCode.IDEMPOTENCY_CONFLICT: 409, ErrorCode.CONFLICT: 409,
          ErrorCode.RATE_LIMITED: 429}
_ATTRIBUTE = re.compile(r"^attribute\[([^\]]{1,64})\]$")
FORM = "application/x-www-form-urlencoded"
# The largest form accepted: a 2,000-character description and every other field fit in far
# less. Read in chunks and refused past it, before anything is parsed.
MAX_FORM_BYTES = 64 * 1024


def error(fmt: str, exc: DomainError) -> Response:
    return open311_response(fmt, exc.code, exc.message, exc.field,
                            status=STATUS.get(exc.code, 400))


class FormTooLarge(Exception):
    """The body is longer than MAX_FORM_BYTES."""


async def _bounded_body(request: Request) -> bytes:
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_FORM_BYTES:
        raise FormTooLarge
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_FORM_BYTES:
            raise FormTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


Handler = Callable[[Request, str], Awaitable[Response]]


def route(path: str, handler: Handler, methods: list[str]) -> Route:
    """A route at `path` + `.json` / `.xml` whose expected failures answer in the spec's format."""

    async def endpoint(request: Request) -> Response:
        fmt = request.path_params.pop("format")
        if fmt not in FORMATS:
            return error("json", DomainError(ErrorCode.NOT_FOUND,
                                             f"formats are .json and .xml, not .{fmt}"))
        try:
            return await handler(request, fmt)
        except DomainError as exc:
            return error(fmt, exc)
        except FormTooLarge:
            return open311_response(fmt, ErrorCode.PAYLOAD_TOO_LARGE,
                                    f"the form exceeds {MAX_FORM_BYTES:,} bytes")

    return Route(path + ".{format}", endpoint, methods=methods)


def _db(request: Request) -> Any:
    return request.app.state.db


async def discovery(request: Request, fmt: str) -> Response:
    base = str(request.base_url).rstrip("/") + "/open311/v2"
    return render(fmt, "discovery", {
        "changeset": CHANGESET,
        "contact": "临沭县城市基层治理办公室 (Linshu county office); register a client with "
                   "`redgrid open311 key`",
        "key_service": "api_key from the county office (`redgrid open311 key`)",
        "endpoints": [{"specification": SPECIFICATION, "url": base, "changeset": CHANGESET,
                       "type": "production", "formats": list(FORMATS.values())}],
    })


async def services(request: Request, fmt: str) -> Response:
    return render(fmt, "services", await open311.services(_db(request)))


async def service_definition(request: Request, fmt: str) -> Response:
    code = request.path_params["code"]
    return render(fmt, "service_definition", await open311.service_definition(_db(request), code))


def _params(request: Request, body: bytes = b"") -> MultiDict:
    pairs = list(request.query_params.multi_items())
    if body:
        try:
            pairs += parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise bad_input(f"the body must be {FORM} in UTF-8") from None
    for name, value in pairs:
        if "\x00" in value:  # PostgreSQL text holds no NUL
            raise bad_input(f"`{name}` holds a NUL character", name)
    return MultiDict(pairs)


def _moment(params: MultiDict, name: str, *, end: bool = False) -> datetime | None:
    """A W3C datetime (or a whole day, YYYY-MM-DD) as every HTTP route reads one (web/params)."""
    raw = (params.get(name) or "").strip()
    return parse_moment(name, raw, end=end) if raw else None


def _page(params: MultiDict, name: str, default: int) -> int:
    raw = (params.get(name) or "").strip()
    return parse_integer(name, raw, low=1) if raw else default


def _names(params: MultiDict, name: str) -> list[str] | None:
    return parse_names(params.get(name) or "")


def _bbox(params: MultiDict) -> tuple[float, float, float, float] | None:
    raw = (params.get("bbox") or "").strip()
    return parse_box("bbox", raw) if raw else None


async def post_request(request: Request, fmt: str) -> Response:
    kind = request.headers.get("content-type", FORM).split(";")[0].strip().lower()
    if kind != FORM:
        raise bad_input(f"send the request as {FORM}, not {kind}")
    params = _params(request, await _bounded_body(request))
    client = await open311.authenticate(_db(request), params.get("api_key"))
    attributes = {m.group(1): v for k, v in params.multi_items() if (m := _ATTRIBUTE.match(k))}
    fields = {name: params.get(name) for name in (
        "service_code", "lat", "long", "description", "address_string", "address_id",
        "media_url", "device_id", "account_id", "email", "first_name", "last_name", "phone",
        "token")}
    code = await open311.submit(_db(request), client, open311.NewRequest(
        **fields, attributes=attributes))
    return render(fmt, "service_requests", [{
        "service_request_id": code, "token": fields["token"], "service_notice": None,
        "account_id": fields["account_id"]}], 201, PRIVATE)


async def get_requests(request: Request, fmt: str) -> Response:
    params = _params(request)
    client = await open311.authenticate(_db(request), params.get("api_key"))
    f = open311.RequestFilter(
        codes=_names(params, "service_request_id"), service_code=params.get("service_code"),
        start=_moment(params, "start_date"), end=_moment(params, "end_date", end=True),
        status=_names(params, "status"), bbox=_bbox(params), page=_page(params, "page", 1),
        page_size=_page(params, "page_size", open311.DEFAULT_PAGE_SIZE))
    found = await open311.find_requests(_db(request), client, f)
    return render(fmt, "service_requests", found, headers=PRIVATE)


async def get_request(request: Request, fmt: str) -> Response:
    params = _params(request)
    client = await open311.authenticate(_db(request), params.get("api_key"))
    found = await open311.find_request(_db(request), client, request.path_params["id"])
    return render(fmt, "service_requests", [found], headers=PRIVATE)


async def requests(request: Request, fmt: str) -> Response:
    if request.method == "POST":
        return await post_request(request, fmt)
    return await get_requests(request, fmt)


routes = [
    route("/discovery", discovery, ["GET"]),
    route("/services", services, ["GET"]),
    route("/services/{code}", service_definition, ["GET"]),
    route("/requests", requests, ["GET", "POST"]),
    route("/requests/{id}", get_request, ["GET"]),
]
