"""The RedGrid GraphQL schema (Strawberry)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import strawberry
from graphql import GraphQLError
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from schema import fast
from schema.errors import ErrorCodes
from schema.limits import Limits, limit_extensions
from schema.notices import Notices
from schema.nul import RefuseNul
from schema.request_ids import OperationIds
from schema.roots import Mutation, Query, Subscription
from schema.scalars import SCALAR_MAP

SDL_PATH = Path(__file__).resolve().parent.parent / "schema.graphql"


class RedGridSchema(strawberry.Schema):
    """Strawberry's schema without its default error logging: `ErrorCodes` logs what is
    unexpected, and expected errors are answers, not incidents."""

    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        return None


def build_schema(production: bool = False, limits: Limits | None = None,
                 extensions: Sequence[Callable[[], SchemaExtension]] = (),
                 fast_path: bool = True) -> strawberry.Schema:
    """The schema, with `limits` enforced; no introspection in production.

    Args:
        limits: the bounds on one document; the server passes its settings' (web/app.py).
            None, for the SDL and tests of the types, bounds nothing.
        extensions: factories of further extensions (the server's metrics), run last.
        fast_path: False leaves every field to Strawberry and graphql-core (the reference the
            fast path is tested against).
    """
    schema = RedGridSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        extensions=[
            OperationIds,
            ErrorCodes,
            lambda: ParserCache(maxsize=256),
            lambda: ValidationCache(maxsize=256),
            *limit_extensions(limits, production=production),  # after the caches: see limits
            RefuseNul,
            Notices,
            *extensions,
        ],
        execution_context_class=fast.FastExecutionContext if fast_path else None,
    )
    return fast.install(schema) if fast_path else schema
