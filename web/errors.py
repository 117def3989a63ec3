"""One error envelope for every HTTP route outside GraphQL (tiles, heat map, sign-in, exports,
health, metrics): the body a GraphQL error has,

    {"errors": [{"message": "...", "extensions": {"code": "BAD_USER_INPUT", "field": "to"}}]}

with the stable codes of `resolvers/errors.ErrorCode`, so a client reads every failure the
same way. OGC API Features keeps the exception body its standard asks for (`ogc_http.py`) with
the same codes.
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


def error_body(code: ErrorCode, message: str, field: str | None = None) -> bytes:
    return orjson.dumps(envelope(code, message, field))


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
                    await error_response(
                        ErrorCode.UNAVAILABLE, "The server is shutting down; try again shortly.",
                        retryable=True, headers={"Retry-After": "1"})(scope, receive, send)
            raise
