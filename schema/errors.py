"""Error reporting: expected errors keep their codes, unexpected ones are masked and logged."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import psycopg
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from resolvers.errors import UNREACHABLE, DomainError
from resolvers.request_ids import NO_REQUEST, current_request_id
from schema.limits import code_for_message

log = logging.getLogger("redgrid.errors")


def code_for_unlabelled(message: str) -> str:
    """A stable code for errors that graphql-core raises itself (parsing, validation, input
    coercion) or for the limits they enforce."""
    if limit := code_for_message(message):
        return limit
    if message.startswith("Syntax Error"):
        return "GRAPHQL_PARSE_FAILED"
    if message.startswith("Variable '$") or "cannot represent" in message:
        return "BAD_USER_INPUT"
    return "GRAPHQL_VALIDATION_FAILED"


class ErrorCodes(SchemaExtension):
    """Gives every error a stable `extensions.code`; masks anything unexpected.

    Over HTTP the operation's result is processed when it ends; over a websocket each result
    is processed as it is streamed (`on_stream_result`), before it reaches the client.
    """

    def __init__(self) -> None:
        self._streamed = False

    def on_operation(self) -> Iterator[None]:
        self._streamed = False
        yield
        if not self._streamed:
            self._process_result(self.execution_context.result)

    def on_stream_result(self, result: object) -> Iterator[None]:
        self._streamed = True
        self._process_result(result)
        yield

    def _process_result(self, result: object) -> None:
        errors = getattr(result, "errors", None)
        if not errors:
            return
        request_id = current_request_id()  # a websocket operation's own id
        if request_id == NO_REQUEST:
            request_id = getattr(self.execution_context.context, "request_id", NO_REQUEST)
        result.errors = [self._process(e, request_id) for e in errors]  # type: ignore[attr-defined]

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
        if isinstance(original, psycopg.errors.QueryCanceled):  # the statement timeout
            log.warning("statement timeout in request %s", request_id)
            return GraphQLError(
                "The query took too long.", nodes=error.nodes, source=error.source,
                positions=error.positions, path=error.path,
                extensions={"code": "TIMEOUT", "requestId": request_id},
            )
        if isinstance(original, UNREACHABLE):  # the database is away: a fault, not a bug
            log.warning("database unavailable in request %s: %s", request_id,
                        type(original).__name__)
            return GraphQLError(
                "The database is unavailable; try again shortly.", nodes=error.nodes,
                source=error.source, positions=error.positions, path=error.path,
                extensions={"code": "UNAVAILABLE", "retryable": True, "requestId": request_id},
            )
        log.error("unexpected error in request %s", request_id,
                  exc_info=(type(original), original, original.__traceback__))
        return GraphQLError(
            "Unexpected error.", nodes=error.nodes, source=error.source,
            positions=error.positions, path=error.path,
            extensions={"code": "INTERNAL_SERVER_ERROR", "requestId": request_id},
        )
