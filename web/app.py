"""The Starlette application factory: GraphQL, the map page and static files."""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from db.database import Database
from db.queries.tiles import TILE_SESSION
from db.urls import psycopg_conninfo
from resolvers.actor import PUBLIC, Actor
from schema import build_schema
from schema.context import Context
from schema.errors import code_for_unlabelled
from schema.limits import Limits
from web.auth import TokenVerifier
from web.guard import Guard
from web.heatmap import heatmap_geojson, heatmap_tile
from web.identity import PRIVATE, Identity, actor_of
from web.live import Broadcaster, WebSocketContext, websocket_actor
from web.ogc import routes as ogc_routes
from web.scheduler import JobScheduler
from web.settings import CHECKOUT, Settings
from web.signin import routes as signin_routes
from web.tiles import ROUTES as tile_routes
from web.webhooks import WebhookWorker, verify_url
from web.websocket import BoundedWebSocketAdapter, GuardedTransportWS, SocketGate

STATIC = Path(__file__).resolve().parent / "static"
MAPLIBRE = CHECKOUT / "node_modules" / "maplibre-gl" / "dist"


class RedGridGraphQL(GraphQL):
    """Strawberry's ASGI view with RedGrid's per-request context.

    Websockets speak graphql-transport-ws only: its handler checks every operation as HTTP
    checks every request (see web/websocket.py).
    """

    websocket_adapter_class = BoundedWebSocketAdapter
    graphql_transport_ws_handler_class = GuardedTransportWS

    def __init__(self, settings: Settings, tokens: TokenVerifier, **kwargs: Any) -> None:
        limits = Limits(max_depth=settings.max_query_depth,
                        max_aliases=settings.max_query_aliases,
                        max_tokens=settings.max_query_tokens, max_cost=settings.max_query_cost)
        super().__init__(build_schema(settings.production, limits),
                         subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,), **kwargs)
        self.settings = settings
        self.tokens = tokens
        self.db: Database | None = None
        self.socket_gate = SocketGate(rate_per_s=settings.rate_limit_per_s,
                                      burst=settings.rate_limit_burst,
                                      max_message_bytes=settings.max_body_bytes)

    async def get_context(self, request: Request | WebSocket,  # type: ignore[override]
                          response: Response | WebSocket) -> Context:
        assert self.db is not None, "the app is used outside its lifespan"
        if isinstance(request, WebSocket):  # the actor comes with `connection_init`
            return WebSocketContext(db=self.db, actor=PUBLIC, request=request, response=response)
        return Context(db=self.db, actor=actor_of(request), request=request, response=response)

    async def on_ws_connect(self, context: Context,  # type: ignore[override]
                            ) -> UnsetType | dict[str, object] | None:
        # A bad token closes the socket with 4403 (Strawberry's ConnectionRejectionError).
        def verify(header: str) -> Actor:
            actor = self.tokens.actor(header)
            context.expires_at = self.tokens.expires_at(header)
            return actor

        context.actor = websocket_actor(context, verify)
        return UNSET

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data)

    def parse_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    def create_response(self, response_data: Any,  # type: ignore[override]
                        sub_response: Response) -> Response:
        # What a caller sees depends on who asks: never from a shared cache.
        response = super().create_response(response_data, sub_response)
        response.headers.update(PRIVATE)
        return response

    async def process_result(self, request: Request,  # type: ignore[override]
                             result: ExecutionResult) -> GraphQLHTTPResponse:
        # Errors raised before execution (e.g. a syntax error) skip the schema extensions.
        response = await super().process_result(request, result)
        errors: list[dict[str, Any]] = response.get("errors") or []  # type: ignore[assignment]
        for error in errors:
            extensions = error.setdefault("extensions", {})
            extensions.setdefault("code", code_for_unlabelled(error.get("message", "")))
        return response


def create_app(settings: Settings) -> Starlette:
    tokens = TokenVerifier(settings.jwt_secret, jwks_url=settings.jwks_url,
                           issuer=settings.jwt_issuer or None,
                           audience=settings.jwt_audience or None)
    graphql = RedGridGraphQL(settings, tokens,
                             graphql_ide=None if settings.production else "graphiql")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(psycopg_conninfo(settings.database_url), max_size=settings.pool_size,
                      statement_timeout_ms=settings.statement_timeout_ms)
        await db.open()
        graphql.db = app.state.db = db
        app.state.tile_db = tile_db = Database(
            psycopg_conninfo(settings.database_url), min_size=1, max_size=settings.pool_size,
            statement_timeout_ms=settings.statement_timeout_ms, session=TILE_SESSION)
        await tile_db.open()
        app.state.live = live = Broadcaster(psycopg_conninfo(settings.database_url))
        await live.start()
        webhooks = WebhookWorker(db, settings.webhook_interval_s,
                                 allow_private=settings.webhook_allow_private)
        app.state.webhook_verifier = functools.partial(
            verify_url, allow_private=settings.webhook_allow_private)
        if settings.webhook_interval_s > 0:
            webhooks.start()
        jobs = JobScheduler(db, settings.job_interval_s)
        jobs.start()
        try:
            yield
        finally:
            await jobs.stop()
            await webhooks.stop()
            await live.stop()
            await tile_db.close()
            await db.close()

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    # The busiest first: Starlette tries the routes in order.
    routes = [
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Route("/tiles/heatmap/{z}/{x}/{y}.mvt", heatmap_tile),  # before the catalogue's tiles
        *tile_routes,
        Route("/", index),
        Route("/healthz", health),
        Route("/heatmap.geojson", heatmap_geojson),
        WebSocketRoute("/graphql", graphql),
        Mount("/ogc", routes=ogc_routes),
        *signin_routes(settings),
        Mount("/static", app=StaticFiles(directory=STATIC, check_dir=False), name="static"),
        Mount("/vendor/maplibre-gl", app=StaticFiles(directory=MAPLIBRE, check_dir=False),
              name="maplibre"),
    ]
    guard = Middleware(Guard, path="/graphql", rate_per_s=settings.rate_limit_per_s,
                       burst=settings.rate_limit_burst, max_body_bytes=settings.max_body_bytes)
    identity = Middleware(Identity, tokens=tokens)
    return Starlette(routes=routes, middleware=[guard, identity], lifespan=lifespan)
