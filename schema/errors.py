"""Error reporting: expected errors keep their codes, unexpected ones are masked and logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from resolvers.errors import DomainError

log = logging.getLogger("redgrid.errors")


def code_for_unlabelled(message: str) -> str:
    """A stable code for errors that graphql-core raises itself (parsing, validation, input
    coercion)."""
    if message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if message.startswith("Variable '$") or "cannot represent" in message:
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"


class ErrorCodes(SchemaExtension):
    """Gives every error a stable `extensions.code`; masks anything unexpected."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        errors = getattr(result, "errors", None)
        if not errors:
            return
        request_id = getattr(self.execution_context.context, "request_id", "-")
        result.errors = [self._process(e, request_id) for e in errors]  # type: ignore[union-attr]

    @staticmethod
    def _process(error: GraphQLError, request_id: str) -> GraphQLError:
        original = error.original_error
        if isinstance(original, DomainError):
            return error
        if original is None or isinstance(original, GraphQLError):
            if not (error.extensions or {}).get("code"):
                error.extensions = {**(error.extensions or {}),
                                    "code": code_for_unlabelled(error.message)}
            return error
        log.error("unexpected error in request %s", request_id,
                  exc_info=(type(original), original, original.__traceback__))
        return GraphQLError(
            "Unexpected error.", nodes=error.nodes, source=error.source,
            positions=error.positions, path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        )
