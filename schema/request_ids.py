"""The id of the request being served, for logs and masked errors.

A contextvar: the web layer sets it for each HTTP request and websocket connection, and
`OperationIds` gives each operation on a websocket its own, so whatever logs while serving
it names it without passing it around; `-` outside any request (background jobs, start-up).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from strawberry.extensions import SchemaExtension

NO_REQUEST = "-"
_request_id: ContextVar[str] = ContextVar("redgrid_request_id", default=NO_REQUEST)


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


def current_request_id() -> str:
    """The id of the request or websocket operation being served, or `-` outside one."""
    return _request_id.get()


def request_id_or_new() -> str:
    """The current request id, or a fresh one where none is set (e.g. a schema run directly)."""
    current = _request_id.get()
    return new_request_id() if current == NO_REQUEST else current


@contextmanager
def serving_request(request_id: str) -> Iterator[None]:
    """Makes `request_id` the current id for the block."""
    token = _request_id.set(request_id)
    try:
        yield
    finally:
        _request_id.reset(token)


class OperationIds(SchemaExtension):
    """Makes a websocket operation's own request id (`<connection id>.<n>`, given by
    `Context.for_operation`) the current one while it runs, so the lines of one subscription
    can be told from another's on the same socket. Listed first, so every other extension
    sees it."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        request = getattr(context, "request", None)
        if getattr(request, "scope", {}).get("type") != "websocket":
            yield
            return
        with serving_request(context.request_id):
            yield
