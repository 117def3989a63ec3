"""Each websocket operation's own request id (the contextvar is `resolvers.request_ids`)."""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from resolvers.request_ids import serving_request


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
