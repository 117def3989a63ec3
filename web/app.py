"""The Starlette application factory: GraphQL, the map page and static files."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, cast

import orjson
from cross_web import HTTPException
from psycopg.errors import QueryCanceled
from starlette.applications import Starlette
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import ExceptionHandler, Receive, Scope, Send
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.http import GraphQLHTTPResponse
from strawberry.http.parse_content_type import parse_content_type
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType

from db.database import UNREACHABLE, Database
from db.queries.places import KnownScopes, scope_codes
from db.queries.tiles import TILE_SESSION
from db.replica import ReadRoute
from db.urls import psycopg_conninfo
from resolvers import photos
from resolvers.actor import PUBLIC, Actor
from resolvers.errors import ErrorCode
from resolvers.notifications import UrlVerifier
from resolvers.photos import MediaAccess
from resolvers.push import PushEndpoints
from schema import build_schema
from schema.context import Context
from schema.errors import code_for_unlabelled
from schema.geometry import RawJSON
from schema.limits import Limits
from schema.prepared import Declined, PreparedQueries
from web.auth import TokenVerifier, UnknownKey
from web.clients import request_header
from web.errors import PRIVATE, CutOff, error_at, error_response
from web.exports import export_routes
from web.field import routes as field_routes
from web.graphiql import PAGE as GRAPHIQL_PAGE
from web.graphiql import routes as graphiql_routes
from web.guard import Guard, RateLimiter
from web.health import ROUTES as health_routes
from web.heatmap import create_state, heatmap_geojson, heatmap_tile, heatmap_tilejson
from web.identity import Identity, actor_of
from web.live import Broadcaster, WebSocketContext, websocket_actor
from web.logs import RequestIds
from web.media import kept_secret, open_store
from web.media import routes as media_routes
from web.memo import Memo
from web.metrics import HttpMetrics, Metrics, OperationMetrics
from web.metrics import routes as metrics_routes
from web.ogc import create_memos as ogc_memos
from web.ogc import routes as ogc_routes
from web.open311 import routes as open311_routes
from web.reloading import Reloading
from web.replicas import REPLICA_FIELDS, ReplicaReads, open_replica
from web.scheduler import JobScheduler
from web.settings import CHECKOUT, Settings
from web.shared_buckets import SHARED_ENV
from web.signin import routes as signin_routes
from web.tilecache import TileCache
from web.tiles import CELL_COUNTS_S
from web.tiles import ROUTES as tile_routes
from web.webhooks import Refused, ThenPass, WebhookWorker, destination, verify_url
from web.websocket import BoundedWebSocketAdapter, GuardedTransportWS, SocketGate

log = logging.getLogger("redgrid.web")
STATIC = Path(__file__).resolve().parent / "static"
MAPLIBRE = CHECKOUT / "node_modules" / "maplibre-gl" / "dist"
# How long the codes a token's scope may name are trusted before they are read again.
SCOPE_CODES_TTL_S = 300.0
# PRIVATE as a response's raw headers.
_PRIVATE_RAW = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in PRIVATE.items()]
_PRIVATE_KEYS = frozenset(k for k, _ in _PRIVATE_RAW)
_JSON_PRIVATE_RAW = [(b"content-type", b"application/json"), *_PRIVATE_RAW]
# Headers a browser sends cross-site only after a CORS preflight: a multipart request must
# carry one (see RedGridGraphQL.parse_http_body).
PREFLIGHT_HEADERS = ("authorization", "x-apollo-operation-name", "apollo-require-preflight",
                     "graphql-preflight")


class RedGridGraphQL(GraphQL):
    """Strawberry's ASGI view with RedGrid's per-request context.

    Websockets speak graphql-transport-ws only: its handler checks every operation as HTTP
    checks every request (see web/websocket.py).
    """

    websocket_adapter_class = BoundedWebSocketAdapter
    graphql_transport_ws_handler_class = GuardedTransportWS

    def __init__(self, settings: Settings, tokens: TokenVerifier, limiter: RateLimiter,
                 metrics: Metrics, media: MediaAccess, **kwargs: Any) -> None:
        limits = Limits(max_depth=settings.max_query_depth,
                        max_aliases=settings.max_query_aliases,
                        max_tokens=settings.max_query_tokens, max_cost=settings.max_query_cost)
        self.reads: ReadRoute | None = None  # map reads on the replica, when there is one
        schema = build_schema(settings.production, limits, extensions=[
            lambda: OperationMetrics(metrics), lambda: ReplicaReads(lambda: self.reads)])
        # Query documents seen before skip the view's and the executor's per-request work.
        self.prepared = PreparedQueries(schema, limits, production=settings.production)
        self.metrics = metrics
        # Photos come as GraphQL multipart requests; parse_http_body keeps them CSRF-safe.
        super().__init__(schema, subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
                         multipart_uploads_enabled=True, **kwargs)
        self.media = media
        self.settings = settings
        self.tokens = tokens
        self.db: Database | None = None
        # Set in the app's lifespan; every request's context carries them.
        self.live: Broadcaster | None = None
        self.webhook_verifier: UrlVerifier | None = None
        self.push: PushEndpoints | None = None  # set when push is on
        # HTTP operations run at most as many at a time as the pool has connections; the others
        # wait their turn here. Waiting in the pool instead cost each of them a task and two
        # timers (at 64 concurrent requests on a pool of 20: 0.13 ms of CPU more a request).
        self.running = asyncio.Semaphore(settings.pool_size)
        # Sockets draw on the same per-caller GraphQL budget as HTTP requests.
        self.socket_gate = SocketGate(limiter, max_message_bytes=settings.max_body_bytes)

    async def get_context(self, request: Request | WebSocket,  # type: ignore[override]
                          response: Response | WebSocket) -> Context:
        assert self.db is not None, "the app is used outside its lifespan"
        if isinstance(request, WebSocket):  # the actor comes with `connection_init`
            return WebSocketContext(db=self.db, actor=PUBLIC, request=request, response=response,
                                    live=self.live, webhook_verifier=self.webhook_verifier,
                                    media=self.media, push=self.push)
        return Context(db=self.db, actor=actor_of(request), request=request, response=response,
                       live=self.live, webhook_verifier=self.webhook_verifier, media=self.media,
                       push=self.push)

    async def on_ws_connect(self, context: Context,  # type: ignore[override]
                            ) -> UnsetType | dict[str, object] | None:
        # A bad token closes the socket with 4403 (Strawberry's ConnectionRejectionError).
        unknown_key: list[UnknownKey] = []

        def verify(header: str) -> Actor:
            try:
                actor = self.tokens.actor(header)
            except UnknownKey as exc:
                unknown_key.append(exc)
                raise
            context.expires_at = self.tokens.expires_at(header)
            return actor

        await self.tokens.refresh()
        try:
            context.actor = websocket_actor(context, verify)
        except ConnectionRejectionError:
            # A key the provider added since the last fetch: fetch (rate-limited) and retry.
            if not unknown_key or not await self.tokens.reload_keys():
                raise
            context.actor = websocket_actor(context, verify)
        return UNSET

    async def render_graphql_ide(self, request: Request) -> Response:
        # GraphiQL from the project's npm packages (web/graphiql.py), never from a CDN.
        return FileResponse(GRAPHIQL_PAGE, headers={"Cache-Control": "no-cache"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        request = Request(scope=scope, receive=receive)
        try:
            async with self.running:
                response = await self.prepared_answer(request) or await self.run(request)
        except HTTPException as exc:  # a malformed request: a JSON error with a stable code
            response = http_error(exc.status_code, exc.reason)
        finally:
            await request.close()  # a multipart form's spooled files
        await response(scope, receive, send)

    async def prepared_answer(self, request: Request) -> Response | JsonAnswer | None:
        """The answer of a JSON POST of a query the lane has compiled (schema/prepared.py), or
        None for the full path. The body stays read on the request for the full path."""
        if request.method != "POST" or not self.prepared.enabled \
                or not json_body(request_header(request.scope, b"content-type")):
            return None
        try:
            payload = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return None
        if not isinstance(payload, dict):
            return None
        query, name, variables = (payload.get(k) for k in ("query", "operationName",
                                                           "variables"))
        if not isinstance(query, str) or not isinstance(name, str | None) \
                or not isinstance(variables, dict | None) \
                or payload.get("extensions") not in (None, {}):
            return None  # request extensions, and bodies the full path refuses, go to it
        prepared = self.prepared.prepare(query, name)
        if prepared is None:
            return None
        started = time.perf_counter()
        sub_response = await self.get_sub_response(request)
        context = await self.get_context(request, sub_response)
        if self.reads is not None and prepared.root_fields <= REPLICA_FIELDS:
            context.db = cast(Database, self.reads)
        try:
            answer = await self.prepared.answer(prepared, context, variables)
        except Declined:
            return None
        self.metrics.observe_operation(prepared.name, "query", "ok",
                                       time.perf_counter() - started)
        if sub_response.headers.raw or sub_response.background is not None \
                or sub_response.status_code:
            return self.create_response(answer, sub_response)
        return JsonAnswer(self.encode_json(answer))  # what create_response gives, made directly

    async def parse_http_body(self, request: Any) -> Any:
        # A multipart form is a "simple" request: a page on another site may post one with the
        # visitor's credentials and no CORS preflight. Requiring a header that only a
        # preflighted request can carry (the bearer token, or Apollo's / GraphQL's preflight
        # header) closes that door; strawberry leaves multipart off by default for this reason.
        if (request.content_type or "").lower().startswith("multipart/") and not any(
                request.headers.get(h) for h in PREFLIGHT_HEADERS):
            raise HTTPException(400, "A multipart request must carry an Authorization header "
                                     "or one of x-apollo-operation-name, apollo-require-"
                                     "preflight, graphql-preflight (CSRF protection).")
        try:
            return await super().parse_http_body(request)
        except AttributeError as exc:  # a JSON body that is no object (null, 3, "x")
            raise HTTPException(400, "The body must be a JSON object with a `query`.") from exc

    def encode_json(self, data: object) -> bytes:
        return orjson.dumps(data, default=raw_json)

    def parse_json(self, data: str | bytes) -> object:
        return orjson.loads(data)

    def create_response(self, response_data: Any,  # type: ignore[override]
                        sub_response: Response) -> Response:
        # What a caller sees depends on who asks: never from a shared cache.
        response = super().create_response(response_data, sub_response)
        raw = response.raw_headers
        if any(key in _PRIVATE_KEYS for key, _ in raw):  # a resolver set one of them
            response.headers.update(PRIVATE)
        else:  # as the update would append them, without its scans
            raw.extend(_PRIVATE_RAW)
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


class JsonAnswer:
    """A 200 JSON answer with the headers `RedGridGraphQL.create_response` gives one when no
    resolver set any (in the same order), sent without building a Response."""

    __slots__ = ("body",)

    def __init__(self, body: bytes) -> None:
        self.body = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-length", str(len(self.body)).encode()), *_JSON_PRIVATE_RAW]})
        await send({"type": "http.response.body", "body": self.body})


@functools.lru_cache(maxsize=64)
def json_body(content_type: str) -> bool:
    """Whether the full path reads a body of this content type as JSON (Strawberry's own test
    in parse_http_body), remembered per header value: a client sends one."""
    return "application/json" in parse_content_type(content_type)[0]


def raw_json(value: object) -> object:
    """GeoJSON built by PostGIS goes into the response as the text it came as (orjson)."""
    if isinstance(value, RawJSON):
        return orjson.Fragment(value.text)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# Stable codes of requests refused before GraphQL sees them, by HTTP status.
HTTP_CODES = {400: ErrorCode.BAD_REQUEST, 404: ErrorCode.NOT_FOUND,
              405: ErrorCode.METHOD_NOT_ALLOWED}


def http_error(status: int, message: str) -> Response:
    return error_response(HTTP_CODES.get(status, ErrorCode.BAD_REQUEST), message, status=status)


async def database_unavailable(request: Request, exc: Exception) -> Response:
    """A route other than /graphql (tiles, OGC API, heat map, exports) that met the database
    away or a lost connection: 503 with Retry-After and the code GraphQL uses, not a 500."""
    timed_out = isinstance(exc, QueryCanceled)
    code, message = ((ErrorCode.TIMEOUT, "The query took too long.") if timed_out else
                     (ErrorCode.UNAVAILABLE, "The database is unavailable; try again shortly."))
    log.warning("%s on %s: %s", code.value, request.url.path, type(exc).__name__)
    return error_at(request.url.path, code, message, retryable=True,
                    headers={"Retry-After": "1"})


async def refused_by_router(request: Request, exc: Exception) -> Response:
    """A path nothing serves (404) or a method its route does not take (405, with `Allow`),
    from the router, a mount or the static files: in the error body of the path, not
    Starlette's plain text."""
    assert isinstance(exc, StarletteHTTPException)
    status, path = exc.status_code, request.url.path
    if status == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"{request.method} is not allowed on {path}; use {allowed or 'another method'}"
    elif status == 404:
        message = f"nothing is served at {path}"
    else:
        message = exc.detail
    return error_at(path, HTTP_CODES.get(status, ErrorCode.BAD_REQUEST), message, status=status,
                    headers=exc.headers)


async def endpoint_refused(url: str, *, allow_private: bool) -> str | None:
    """Why a push endpoint may not be called from here (as a webhook URL), or None."""
    try:
        await destination(url, allow_private=allow_private)
    except Refused as exc:
        return str(exc)
    return None


def create_app(settings: Settings) -> Starlette:
    """The app for `settings`; ConfigError when its tokens could not be verified safely."""
    push = settings.check_serving()
    media = MediaAccess(open_store(settings),
                        (settings.media_secret or kept_secret(settings.data_dir)).encode(),
                        ttl_s=settings.media_url_ttl_s)
    tokens = TokenVerifier(settings.jwt_secret, jwks_url=settings.jwks_url,
                           issuer=settings.jwt_issuer or None,
                           audience=settings.jwt_audience or None)
    # Identity first, so the limiter counts verified callers (and forged tokens by address).
    shared = os.environ.get(SHARED_ENV)  # set by `serve` for its workers
    limiter = RateLimiter(settings.rate_limits, proxies=settings.trusted_proxies,
                          shared_dir=Path(shared) if shared else None)
    metrics = Metrics(settings.metrics_networks, settings.trusted_proxies)
    graphql = RedGridGraphQL(settings, tokens, limiter, metrics, media,
                             graphql_ide=None if settings.production else "graphiql")
    push_pass: Callable[[Database], ThenPass] | None = None
    if push is not None:
        # Delivery (pywebpush, with aiohttp and requests: about 9 MB) is loaded where push is
        # on, and at start: before the worker freezes what it made (web/serving.py).
        from web.push import worker_pass

        push_pass = functools.partial(worker_pass, sender=push,
                                      allow_private=settings.webhook_allow_private)
        graphql.push = PushEndpoints(https_only=settings.production, check_address=functools.partial(
            endpoint_refused, allow_private=settings.webhook_allow_private))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        db = Database(psycopg_conninfo(settings.database_url), max_size=settings.pool_size,
                      statement_timeout_ms=settings.statement_timeout_ms,
                      generic_plans_size=max(2, settings.pool_size // 2))
        await db.open()
        graphql.db = app.state.db = db
        app.state.media = media

        async def load_scope_codes() -> KnownScopes:
            async with db.connection() as conn:
                return await scope_codes(conn)

        codes = Reloading("the scope codes", load_scope_codes, ttl_s=SCOPE_CODES_TTL_S,
                          min_interval_s=30)
        await codes.reload()
        tokens.use_scope_codes(codes)
        app.state.tile_db = tile_db = Database(
            psycopg_conninfo(settings.database_url), min_size=1, max_size=settings.pool_size,
            statement_timeout_ms=settings.statement_timeout_ms, session=TILE_SESSION)
        await tile_db.open()
        replica = app.state.replica = await open_replica(settings, db, tile_db)
        if replica is not None:
            app.state.tile_db = replica.tiles
            graphql.reads = replica.reads
        metrics.watch(db, tile_db, replica)
        # The answers kept in memory, with single-flight on misses (web/memo.py).
        app.state.tile_cache = TileCache()
        app.state.ticket_cell_counts = Memo(CELL_COUNTS_S)
        for name, kept in {**create_state(settings), **ogc_memos()}.items():
            setattr(app.state, name, kept)
        graphql.live = live = Broadcaster(psycopg_conninfo(settings.database_url))
        await live.start()
        webhooks = app.state.webhooks = WebhookWorker(
            db, settings.webhook_interval_s, allow_private=settings.webhook_allow_private,
            then=None if push_pass is None else push_pass(db))
        graphql.webhook_verifier = functools.partial(
            verify_url, allow_private=settings.webhook_allow_private)
        if settings.webhook_interval_s > 0:
            webhooks.start()
        jobs = app.state.jobs = JobScheduler(db, settings.job_interval_s)
        jobs.start()
        try:
            yield
        finally:
            await jobs.stop()
            await webhooks.stop()
            await live.stop()
            if replica is not None:
                await replica.close()
            await tile_db.close()
            await db.close()

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    # The busiest first: Starlette tries the routes in order.
    routes = [
        Route("/graphql", graphql),  # other methods: a JSON 405 from the view
        Route("/tiles/heatmap/{z}/{x}/{y}.mvt", heatmap_tile),  # before the catalogue's tiles
        Route("/tiles/heatmap.json", heatmap_tilejson),
        *tile_routes,
        Route("/", index),
        *health_routes,
        *metrics_routes(metrics),
        Route("/heatmap.geojson", heatmap_geojson),
        WebSocketRoute("/graphql", graphql),
        Mount("/ogc", routes=ogc_routes),
        Mount("/exports", routes=export_routes),
        Mount("/open311/v2", routes=open311_routes),
        *media_routes,
        *signin_routes(settings),
        *field_routes(push.public_key if push else None),  # the grid worker's phone app
        Mount("/static", app=StaticFiles(directory=STATIC, check_dir=False), name="static"),
        Mount("/vendor/maplibre-gl", app=StaticFiles(directory=MAPLIBRE, check_dir=False),
              name="maplibre"),
        *([] if settings.production else graphiql_routes()),
    ]
    identity = Middleware(Identity, tokens=tokens, limiter=limiter)
    # A multipart request may carry a step's photos, each refused past its own limit.
    upload_bytes = photos.MAX_PHOTOS_PER_STEP * (photos.MAX_PHOTO_BYTES + 64 * 1024)
    guard = Middleware(Guard, limiter=limiter, max_body_bytes=settings.max_body_bytes,
                       max_upload_bytes=settings.max_body_bytes + upload_bytes)
    # A request cut off by the shutdown answered as UNAVAILABLE; then request ids, so even a
    # request refused by the guard has one.
    middleware = [Middleware(CutOff), Middleware(RequestIds),
                  Middleware(HttpMetrics, metrics=metrics), identity, guard]
    handlers: dict[Any, ExceptionHandler] = {
        StarletteHTTPException: refused_by_router,
        **{exc: database_unavailable for exc in UNREACHABLE}}
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan,
                     exception_handlers=handlers)
