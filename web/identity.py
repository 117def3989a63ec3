"""Who is calling, for every HTTP route: the bearer token turned into an `Actor`.

A pure ASGI middleware puts the actor in the request state (`request.state.actor`); no token
means the public, and an expired or forged one is a 401 `UNAUTHENTICATED` before any route
runs, charged to the client address's rate-limit bucket (a 429 once that is empty), so a
flood of forged tokens is limited like any other. Both answer in the error body of the path
(`web/errors.error_at`: OGC's under /ogc, Open311's under /open311). Websockets carry their
token in `connection_init` instead (see `web/live.py`).
"""

from __future__ import annotations

from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from resolvers.actor import PUBLIC, Actor
from resolvers.errors import ErrorCode
from web.auth import AuthError, TokenVerifier
from web.clients import request_header
from web.errors import error_at
from web.guard import RateLimiter, too_many_requests


class Identity:
    """Resolves the caller of each HTTP request from its Authorization header."""

    def __init__(self, app: ASGIApp, tokens: TokenVerifier, limiter: RateLimiter) -> None:
        self.app = app
        self.tokens = tokens
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                actor = await self.tokens.authenticate(request_header(scope, b"authorization"))
            except AuthError as exc:
                wait = self.limiter.take(scope, None)
                refusal = too_many_requests(scope["path"], wait) if wait > 0 else \
                    unauthenticated(scope["path"], str(exc))
                await refusal(scope, receive, send)
                return
            scope.setdefault("state", {})["actor"] = actor
        await self.app(scope, receive, send)


def unauthenticated(path: str, message: str) -> Response:
    """The 401 for a refused token, in the error body of `path` (web/errors.py)."""
    return error_at(path, ErrorCode.UNAUTHENTICATED, message,
                    headers={"WWW-Authenticate": "Bearer"})


def actor_of(connection: HTTPConnection) -> Actor:
    """The caller of a request that passed through `Identity`."""
    actor: Actor = connection.scope.get("state", {}).get("actor", PUBLIC)
    return actor
