"""NUL characters refused before anything runs.

PostgreSQL's text types cannot hold U+0000, so a string argument or variable with one would
fail deep inside a resolver as an unexpected error (or halfway through a mutation). Every
document and every variable is checked once, after validation, and refused with
`BAD_USER_INPUT` and nothing written.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError, StringValueNode, Visitor, visit
from strawberry.extensions import SchemaExtension

NUL = "\x00"
MESSAGE = "Text may not contain the NUL character (U+0000)."


def holds_nul(value: Any) -> bool:
    """Whether a variable value (JSON: strings, lists, objects) holds a NUL anywhere."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, dict):
        return any(holds_nul(k) or holds_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(holds_nul(v) for v in value)
    return False


class _Strings(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: StringValueNode | None = None

    def enter_string_value(self, node: StringValueNode, *_: Any) -> Any:
        if NUL in node.value:
            self.found = node
            return self.BREAK
        return None


def nul_in_document(query: str, document: Any) -> StringValueNode | None:
    """The first string literal of the document holding a NUL, if any. A literal can only get
    one from the escape `\\u0000` (or a raw NUL), so most documents are passed on a text check."""
    if "\\u0000" not in query and NUL not in query:
        return None
    strings = _Strings()
    visit(document, strings)
    return strings.found


class RefuseNul(SchemaExtension):
    """Refuses operations with a NUL in a string literal or in a variable's value."""

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.pre_execution_errors == [] and context.graphql_document is not None:
            node = nul_in_document(context.query or "", context.graphql_document)
            variable = next((name for name, value in (context.variables or {}).items()
                             if holds_nul(value)), None)
            if node is not None or variable is not None:
                context.pre_execution_errors = [GraphQLError(
                    MESSAGE, nodes=[node] if node is not None else None,
                    extensions={"code": "BAD_USER_INPUT",
                                **({"field": variable} if variable else {})})]
        yield
