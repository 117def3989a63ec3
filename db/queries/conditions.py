"""A WHERE clause of optional conditions, as list filters build them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, LiteralString

from psycopg import sql


class Conditions:
    """Conditions joined by AND (TRUE when there are none) and their named parameters."""

    def __init__(self, *first: sql.Composable) -> None:
        self.parts: list[sql.Composable] = list(first) or [sql.SQL("TRUE")]
        self.params: dict[str, Any] = {}

    def add(self, condition: LiteralString, name: str, value: Any) -> None:
        """Adds `condition` on its parameter `name` unless `value` is None (not asked for);
        a sequence of values goes as an array."""
        if value is None:
            return
        self.parts.append(sql.SQL(condition))
        is_array = isinstance(value, Sequence) and not isinstance(value, str)
        self.params[name] = list(value) if is_array else value

    def clause(self) -> sql.Composable:
        return sql.SQL(" AND ").join(self.parts)
