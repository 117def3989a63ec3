"""The Starlette application factory: GraphQL, the map page and static files."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from db.engine import create_engine
from schema import build_schema
from schema.context import Context
from schema.errors import code_for_unlabelled
from web.settings import CHECKOUT, Settings

STATIC = Path(__file__).resolve().parent / "static"
MAPLIBRE = CHECKOUT / "node_modules" / "maplibre-gl" / "dist"


class RedGridGraphQL(GraphQL):
    """Strawberry's ASGI view with RedGrid's per-request context."""

    def __init__(self, settings: Settings, **kwargs: Any) -> None:
        super().__init__(build_schema(), **kwargs)
        self.settings = settings
        self.engine: Any = None

    async def get_context(self, request: Request | WebSocket,  # type: ignore[override]
                          response: Response | WebSocket) -> Context:
        return Context(engine=self.engine, request=request, response=response)

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
    graphql = RedGridGraphQL(settings, graphql_ide="graphiql")

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        graphql.engine = create_engine(settings.database_url, pool_size=settings.pool_size)
        app.state.engine = graphql.engine
        try:
            yield
        finally:
            await graphql.engine.dispose()

    async def index(request: Request) -> Response:
        return FileResponse(STATIC / "index.html")

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/", index),
        Route("/healthz", health),
        Route("/graphql", graphql, methods=["GET", "POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC, check_dir=False), name="static"),
        Mount("/vendor/maplibre-gl", app=StaticFiles(directory=MAPLIBRE, check_dir=False),
              name="maplibre"),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
