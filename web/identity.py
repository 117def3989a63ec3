"""Who is calling, for every HTTP route: the bearer token turned into an `Actor`.

A pure ASGI middleware puts the actor in the request state (`request.state.actor`); no token
means the public, and an expired or forged one is a 401 `UNAUTHENTICATED` before any route
runs. Websockets carry their token in `connection_init` instead (see `web/live.py`).
"""

from __future__ import annotations

import orjson
from starlette.datastructures import Headers
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from resolvers.actor import PUBLIC, Actor
from web.auth import AuthError, TokenVerifier

PRIVATE = {"Cache-Control": "private, no-store", "Vary": "Authorization"}


class Identity:
    """Resolves the caller of each HTTP request from its Authorization header."""

    def __init__(self, app: ASGIApp, tokens: TokenVerifier) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            try:
                actor = await self.tokens.authenticate(Headers(scope=scope).get("authorization"))
            except AuthError as exc:
                await unauthenticated(str(exc))(scope, receive, send)
                return
            scope.setdefault("state", {})["actor"] = actor
        await self.app(scope, receive, send)


def unauthenticated(message: str) -> Response:
    body = {"errors": [{"message": message, "extensions": {"code": "UNAUTHENTICATED"}}]}
    return Response(orjson.dumps(body), status_code=401, media_type="application/json",
                    headers={"WWW-Authenticate": "Bearer", **PRIVATE})


def actor_of(connection: HTTPConnection) -> Actor:
    """The caller of a request that passed through `Identity`."""
    actor: Actor = connection.scope.get("state", {}).get("actor", PUBLIC)
    return actor
