"""One error envelope for every HTTP route outside GraphQL (tiles, heat map, sign-in, exports,
health, metrics, the map's files): the body a GraphQL error has,

    {"errors": [{"message": "...", "extensions": {"code": "BAD_USER_INPUT", "field": "to"}}]}

with the stable codes of `resolvers/errors.ErrorCode`, so a client reads every failure the
same way: a path nothing serves (404), a method a route does not take (405), a refused token
(401), a body too large (413) or a rate limit (429) included.

Two standards keep the error body they require, with the same stable codes, for every error on
their paths (those raised before any route runs too; `error_at` picks the body by path):

- OGC API Features under `/ogc`: the exception body `{"code", "description"}` (`ogc_body`).
- Open311 GeoReport v2 under `/open311`: a list `[{"code": <HTTP status>, "description"}]`
  in JSON or, for a path ending `.xml`, XML (`open311_response`), with the stable code as
  `redgrid_code` and the parameter at fault as `field`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from resolvers.errors import DomainError, ErrorCode
from web.open311_format import render

# An answer for one caller: no shared cache keeps it.
PRIVATE = {"Cache-Control": "private, no-store", "Vary": "Authorization"}
# The HTTP status of each code; every other code is the caller's input: 400.
STATUS: Mapping[ErrorCode, int] = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.METHOD_NOT_ALLOWED: 405,
    ErrorCode.NOT_ACCEPTABLE: 406,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.MEDIA_STORE_UNAVAILABLE: 503,
    ErrorCode.TIMEOUT: 503,
}


def status_of(code: ErrorCode) -> int:
    return STATUS.get(code, 400)


def envelope(code: ErrorCode, message: str, field: str | None = None, *,
             retryable: bool = False) -> dict[str, Any]:
    """`retryable`: the same request may succeed later (the database was away)."""
    extensions: dict[str, Any] = {"code": code.value}
    if field:
        extensions["field"] = field
    if retryable:
        extensions["retryable"] = True
    return {"errors": [{"message": message, "extensions": extensions}]}


def error_response(code: ErrorCode, message: str, field: str | None = None, *,
                   status: int | None = None, retryable: bool = False,
                   headers: Mapping[str, str] | None = None) -> Response:
    """The envelope with its status (by code unless given); never cached unless `headers` say."""
    return Response(orjson.dumps(envelope(code, message, field, retryable=retryable)),
                    status_code=status or status_of(code), media_type="application/json",
                    headers={**PRIVATE, **(headers or {})})


def domain_error_response(exc: DomainError, *, status: int | None = None,
                          headers: Mapping[str, str] | None = None) -> Response:
    return error_response(exc.code, exc.message, exc.field, status=status, headers=headers)


def ogc_body(code: ErrorCode, message: str, field: str | None = None) -> dict[str, str]:
    """OGC API Features' exception body (`code`, `description`) with RedGrid's stable code."""
    body = {"code": code.value, "description": message}
    if field:
        body["field"] = field
    return body


def ogc_response(code: ErrorCode, message: str, field: str | None = None, *,
                 status: int | None = None, headers: Mapping[str, str] | None = None) -> Response:
    return Response(orjson.dumps(ogc_body(code, message, field)),
                    status_code=status or status_of(code), media_type="application/json",
                    headers={"Cache-Control": "no-store", **(headers or {})})


def open311_response(fmt: str, code: ErrorCode, message: str, field: str | None = None, *,
                     status: int | None = None,
                     headers: Mapping[str, str] | None = None) -> Response:
    """Open311's error list in `fmt` (json or xml); its `code` is the HTTP status."""
    status = status or status_of(code)
    item = {"code": status, "description": message, "redgrid_code": code.value, "field": field}
    return render(fmt, "errors", [item], status, {**PRIVATE, **(headers or {})})


def _under(path: str, prefix: str) -> bool:
    return path == prefix or path.startswith(prefix + "/")


def error_at(path: str, code: ErrorCode, message: str, field: str | None = None, *,
             status: int | None = None, retryable: bool = False,
             headers: Mapping[str, str] | None = None) -> Response:
    """The error answer for a request to `path`, in the body its standard asks for (see the
    module's docstring); for checks that run before any route (sign-in, limits, the router)."""
    if _under(path, "/ogc"):
        return ogc_response(code, message, field, status=status,
                            headers={**PRIVATE, **(headers or {})})
    if _under(path, "/open311"):
        return open311_response("xml" if path.endswith(".xml") else "json", code, message,
                                field, status=status, headers=headers)
    return error_response(code, message, field, status=status, retryable=retryable,
                          headers=headers)


class CutOff:
    """A request still running when a shutdown's grace period ends is cancelled by the server,
    which would answer a plain-text 500; it gets a retryable UNAVAILABLE (503, JSON) instead,
    when nothing of its answer has been sent yet."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched)
        except asyncio.CancelledError:
            if not started:
                with contextlib.suppress(Exception):
                    await error_at(
                        scope["path"], ErrorCode.UNAVAILABLE,
                        "The server is shutting down; try again shortly.",
                        retryable=True, headers={"Retry-After": "1"})(scope, receive, send)
            raise
