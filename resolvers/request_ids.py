"""The id of the request being served, for logs and masked errors.

A contextvar: the web layer sets it for each HTTP request and websocket connection, and
`schema.request_ids.OperationIds` gives each operation on a websocket its own, so whatever
logs while serving it names it without passing it around; `-` outside any request
(background jobs, start-up). Standard library only: the server's supervising process
configures logging with it and loads nothing else of the app.
"""

from __future__ import annotations

import os
from contextvars import ContextVar, Token

NO_REQUEST = "-"
_request_id: ContextVar[str] = ContextVar("redgrid_request_id", default=NO_REQUEST)


def new_request_id() -> str:
    """16 hex digits, 64 random bits (as many as the first half of a uuid4, for less)."""
    return os.urandom(8).hex()


def current_request_id() -> str:
    """The id of the request or websocket operation being served, or `-` outside one."""
    return _request_id.get()


def request_id_or_new() -> str:
    """The current request id, or a fresh one where none is set (e.g. a schema run directly)."""
    current = _request_id.get()
    return new_request_id() if current == NO_REQUEST else current


class serving_request:  # noqa: N801 - used as the context manager it is
    """Makes `request_id` the current id for the block (a class: a generator-based context
    manager cost every request 2 µs)."""

    __slots__ = ("_token", "request_id")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self._token: Token[str] | None = None

    def __enter__(self) -> None:
        self._token = _request_id.set(self.request_id)

    def __exit__(self, *exc: object) -> None:
        assert self._token is not None
        _request_id.reset(self._token)
