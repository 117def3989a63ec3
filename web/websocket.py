"""The websocket side of /graphql: every operation on a socket is checked as an HTTP request is.

A graphql-transport-ws socket lives for hours and carries many operations, so the checks that
HTTP makes once per request are made here once per `subscribe` message: the token must not
have expired, the caller's rate-limit bucket must hold a token, and no message may exceed the
body limit. (The cost and depth limits are schema extensions and run for every operation on
either transport.) Each operation also runs on its own context, so that what is kept per
request — DataLoaders and the personal-data recorder — is not shared by every operation of a
connection: a reporter read twice on one socket is logged twice.
"""

from __future__ import annotations

import math
import time
from collections.abc import AsyncGenerator, Mapping
from json import JSONDecodeError
from typing import Any, Protocol, cast

from graphql import GraphQLError
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import (
    NonJsonMessageReceived,
    NonTextMessageReceived,
    WebSocketDisconnected,
)
from strawberry.schema import BaseSchema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage

from resolvers.errors import DomainError, ErrorCode
from schema.context import Context
from schema.subscriptions import token_expired
from web.guard import RateLimiter

TOO_LARGE = 4413  # graphql-transport-ws closes with 44xx codes that mirror HTTP's


class SocketGate:
    """The per-operation checks of websocket operations, with the HTTP limits: the token's
    expiry, the caller's GraphQL rate budget (the limiter HTTP requests draw on, so a socket
    is no way round it) and the message size (0 turns that limit off)."""

    def __init__(self, limiter: RateLimiter, *, max_message_bytes: int) -> None:
        self.limiter = limiter
        self.max_message_bytes = max_message_bytes

    def refusal(self, context: Context) -> DomainError | None:
        """Why the connection's next operation must not run, or None."""
        if context.expires_at is not None and context.expires_at <= time.time():
            return token_expired()
        wait = self.limiter.take(context.request.scope, context.actor)
        if wait > 0:
            return DomainError(ErrorCode.RATE_LIMITED, "Too many requests: try again in "
                               f"{max(1, math.ceil(wait))} s.")
        return None


class GatedView(Protocol):
    """The GraphQL view, holding the gate its sockets share (RedGridGraphQL)."""

    socket_gate: SocketGate


class OperationContexts:
    """The schema as a socket's operations reach it: each runs on a context of its own."""

    def __init__(self, schema: BaseSchema) -> None:
        self._schema = schema

    def __getattr__(self, name: str) -> Any:
        return getattr(self._schema, name)

    async def stream(self, query: str | None, *, context_value: Context,
                     **kwargs: Any) -> Any:
        return await self._schema.stream(query, context_value=context_value.for_operation(),
                                         **kwargs)


class GuardedTransportWS(BaseGraphQLTransportWSHandler[Any, None]):
    """Strawberry's graphql-transport-ws handler with RedGrid's per-operation checks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.schema = cast("BaseSchema", OperationContexts(self.schema))
        self.gate = cast(GatedView, self.view).socket_gate

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        # Unacknowledged sockets and reused ids are the protocol's to refuse (4401, 4409).
        if self.connection_acknowledged and message["id"] not in self.operations:
            refused = self.gate.refusal(self.context)
            if refused is not None:
                error = GraphQLError(refused.message, extensions=refused.extensions)
                await self.send_message({"id": message["id"], "type": "error",
                                         "payload": [error.formatted]})
                return
        await super().handle_subscribe(message)


class BoundedWebSocketAdapter(ASGIWebSocketAdapter):
    """Strawberry's ASGI websocket adapter, closing the socket (4413) on a message larger than
    the body limit before it is parsed, and sending JSON as text frames (graphql-transport-ws
    clients in browsers expect text: a binary frame arrives as a Blob they cannot parse)."""

    async def send_json(self, message: Mapping[str, object]) -> None:
        encoded = self.view.encode_json(message)
        try:
            await self.ws.send_text(encoded.decode() if isinstance(encoded, bytes) else encoded)
        except WebSocketDisconnect as exc:
            raise WebSocketDisconnected from exc

    async def iter_json(self, *, ignore_parsing_errors: bool = False
                        ) -> AsyncGenerator[object, None]:
        limit = cast(GatedView, self.view).socket_gate.max_message_bytes
        try:
            while self.ws.application_state != WebSocketState.DISCONNECTED:
                text = await self.ws.receive_text()
                if limit > 0 and len(text.encode()) > limit:
                    await self.close(TOO_LARGE, f"a message may hold at most {limit} bytes")
                    return
                try:
                    yield self.view.decode_json(text)
                except JSONDecodeError as exc:
                    if not ignore_parsing_errors:
                        raise NonJsonMessageReceived from exc
        except KeyError as exc:  # a binary frame: Starlette finds no "text"
            raise NonTextMessageReceived from exc
        except WebSocketDisconnect:
            pass
