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
from collections.abc import AsyncGenerator, Callable
from json import JSONDecodeError
from typing import Any, Protocol, cast

from graphql import GraphQLError
from starlette.websockets import WebSocketDisconnect, WebSocketState
from strawberry.asgi import ASGIWebSocketAdapter
from strawberry.http.exceptions import NonJsonMessageReceived, NonTextMessageReceived
from strawberry.schema import BaseSchema
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import SubscribeMessage

from resolvers.actor import Role
from resolvers.errors import DomainError, ErrorCode
from schema.context import Context
from schema.subscriptions import token_expired
from web.guard import TokenBuckets

TOO_LARGE = 4413  # graphql-transport-ws closes with 44xx codes that mirror HTTP's


class SocketGate:
    """The per-operation checks of websocket operations, with the HTTP limits' settings.

    Args:
        rate_per_s: operations per second per caller; 0 turns rate limiting off.
        max_message_bytes: the largest message accepted; 0 turns the limit off.
    """

    def __init__(self, *, rate_per_s: float, burst: int, max_message_bytes: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_message_bytes = max_message_bytes
        self.buckets = TokenBuckets(rate_per_s, burst, clock=clock) if rate_per_s > 0 else None

    def refusal(self, context: Context) -> DomainError | None:
        """Why the connection's next operation must not run, or None."""
        if context.expires_at is not None and context.expires_at <= time.time():
            return token_expired()
        if self.buckets is not None:
            wait = self.buckets.take(caller_key(context))
            if wait > 0:
                return DomainError(ErrorCode.RATE_LIMITED, "Too many requests: try again in "
                                   f"{max(1, math.ceil(wait))} s.")
        return None


def caller_key(context: Context) -> str:
    """Whose bucket an operation draws on: the verified caller, else the client address (the
    public shares one bucket per address, as on HTTP)."""
    actor = context.actor
    if actor.role is not Role.PUBLIC:
        return f"actor:{actor.role.value}:{actor.subject}"
    client = getattr(context.request, "client", None)
    return "ip:" + (client.host if client else "unknown")


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
    the body limit before it is parsed."""

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
