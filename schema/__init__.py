"""The RedGrid GraphQL schema (Strawberry)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import strawberry
from graphql import GraphQLError, GraphQLObjectType
from strawberry.extensions import ParserCache, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from geo.types import Crs
from schema.errors import ErrorCodes
from schema.geometry import point_geometry
from schema.mutation import Mutation
from schema.query import Query
from schema.scalars import SCALAR_MAP

SDL_PATH = Path(__file__).resolve().parent.parent / "schema.graphql"


class RedGridSchema(strawberry.Schema):
    """Strawberry's schema without its default error logging: `ErrorCodes` logs what is
    unexpected, and expected errors are answers, not incidents."""

    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        return None


def _point_geometry(root: Any, info: Any, crs: Any = Crs.WGS84) -> Any:
    return point_geometry(root.lon, root.lat, None if crs is None else Crs(crs))


def _install_fast_resolvers(schema: strawberry.Schema) -> strawberry.Schema:
    """Resolves point geometry in graphql-core directly.

    A list of 200 tickets asks for 200 `geometry(crs)` values; Strawberry's per-call argument
    conversion made that the largest cost of `nearbyTickets` (measured 0.9 ms of 3.7 ms for
    20 hits). The plain function gives the same answer for the same arguments.
    """
    for type_name in ("Ticket", "Facility"):
        object_type = schema._schema.type_map[type_name]
        assert isinstance(object_type, GraphQLObjectType)
        object_type.fields["geometry"].resolve = _point_geometry
    return schema


def build_schema() -> strawberry.Schema:
    return _install_fast_resolvers(RedGridSchema(
        query=Query,
        mutation=Mutation,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        extensions=[
            ErrorCodes,
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
        ],
    ))
